"""Production mode refuses to start without a real secret key, SMTP and the public URL."""

from __future__ import annotations

import pytest

from econnect_app.production import (
    MIN_SECRET_KEY_LENGTH,
    check_production,
    is_production,
    production_problems,
    public_origin,
    serves_app,
)

SECRET = "k" * MIN_SECRET_KEY_LENGTH
READY = {
    "REFLEX_ENV_MODE": "prod",
    "ECONNECT_SECRET_KEY": SECRET,
    "ECONNECT_SMTP_URL": "smtp://mail.example.com:587?starttls=1",
    "ECONNECT_PUBLIC_URL": "https://econnect.example.com",
}
REFLEX_RUN = ["/srv/econnect/.venv/bin/reflex", "run", "--env", "prod"]


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in READY.items() if key != name}


@pytest.mark.parametrize(
    ("mode", "expected"), [("prod", True), ("PROD", True), ("dev", False), ("preview", False)]
)
def test_production_mode_is_reflex_env_mode_prod(mode: str, expected: bool) -> None:
    assert is_production({"REFLEX_ENV_MODE": mode}) is expected
    assert is_production({}) is False


def test_complete_settings_have_no_problems() -> None:
    assert production_problems(READY) == []


@pytest.mark.parametrize(
    ("missing", "says"),
    [
        ("ECONNECT_SECRET_KEY", "generated development key"),
        ("ECONNECT_SMTP_URL", "no email would ever be sent"),
        ("ECONNECT_PUBLIC_URL", "address users open in their browser"),
    ],
)
def test_each_missing_variable_is_named_with_what_to_set(missing: str, says: str) -> None:
    problems = production_problems(without(missing))

    assert len(problems) == 1
    assert problems[0].startswith(f"{missing} is not set")
    assert says in problems[0]


def test_blank_values_count_as_unset() -> None:
    blank = {**READY, "ECONNECT_SECRET_KEY": "  ", "ECONNECT_SMTP_URL": "", "ECONNECT_PUBLIC_URL": " "}

    assert [problem.split(" ")[0] for problem in production_problems(blank)] == [
        "ECONNECT_SECRET_KEY",
        "ECONNECT_SMTP_URL",
        "ECONNECT_PUBLIC_URL",
    ]


def test_a_short_secret_key_is_refused() -> None:
    problems = production_problems({**READY, "ECONNECT_SECRET_KEY": "changeme"})

    assert problems == [
        f"ECONNECT_SECRET_KEY is too short (8 characters): use a random secret of at least "
        f"{MIN_SECRET_KEY_LENGTH} characters."
    ]


@pytest.mark.parametrize("url", ["econnect.example.com", "ftp://econnect.example.com", "https://"])
def test_a_public_url_that_is_not_http_is_refused(url: str) -> None:
    problems = production_problems({**READY, "ECONNECT_PUBLIC_URL": url})

    assert len(problems) == 1 and "is not an http(s) address" in problems[0]


def test_the_server_refuses_to_start_naming_every_missing_variable() -> None:
    with pytest.raises(SystemExit) as refused:
        check_production({"REFLEX_ENV_MODE": "prod"}, REFLEX_RUN)

    message = str(refused.value.code)
    assert message.startswith("eConnect refuses to start in production mode (REFLEX_ENV_MODE=prod):")
    for name in ("ECONNECT_SECRET_KEY", "ECONNECT_SMTP_URL", "ECONNECT_PUBLIC_URL"):
        assert f"  - {name} is not set" in message


def test_the_server_starts_with_complete_settings() -> None:
    check_production(READY, REFLEX_RUN)


def test_development_mode_needs_none_of_it() -> None:
    check_production({"REFLEX_ENV_MODE": "dev"}, ["reflex", "run"])
    check_production({}, ["reflex", "run"])


@pytest.mark.parametrize(
    "argv",
    [
        ["/srv/econnect/.venv/bin/reflex", "db", "migrate"],
        ["reflex", "export", "--frontend-only"],
        ["reflex", "--loglevel", "debug", "compile"],
        ["/usr/lib/python3/site-packages/reflex/__main__.py", "db", "migrate"],
    ],
)
def test_building_and_migrating_in_production_mode_are_not_refused(argv: list[str]) -> None:
    assert serves_app(argv) is False
    check_production({"REFLEX_ENV_MODE": "prod"}, argv)


@pytest.mark.parametrize(
    "argv",
    [
        REFLEX_RUN,
        ["/usr/lib/python3/site-packages/reflex/__main__.py", "run", "--env", "prod"],
        ["granian", "--interface", "asgi", "--factory", "econnect_app.econnect_app:app"],
        ["-c", "--multiprocessing-fork"],
        [],
    ],
)
def test_anything_else_counts_as_a_server(argv: list[str]) -> None:
    assert serves_app(argv) is True
    with pytest.raises(SystemExit):
        check_production({"REFLEX_ENV_MODE": "prod"}, argv)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://econnect.example.com", "https://econnect.example.com"),
        ("https://econnect.example.com/", "https://econnect.example.com"),
        ("https://EConnect.Example.com:443/app", "https://econnect.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("localhost:3000", None),
        ("https://example.com:notaport", None),
    ],
)
def test_public_origin_is_what_a_browser_sends(url: str, origin: str | None) -> None:
    assert public_origin(url) == origin
