"""Production mode refuses to start without a real secret key, SMTP and the public URL, and with
settings that would expose credentials (each refusal names the variable and the fix)."""

from __future__ import annotations

import pytest

from econnect_app.production import (
    MIN_SECRET_KEY_LENGTH,
    check_production,
    is_loopback_host,
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


# --- unsafe settings (issue 8, point 12) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mail.example.com", "must start with smtp:// or smtps://"),
        ("https://mail.example.com", "must start with smtp:// or smtps://"),
        ("smtp://mail.example.com:99999", "invalid port"),
        ("smtp://user:hunter2@mail.example.com:notaport", "invalid port"),
        ("smtp://mail.example.com?tls=1", "unknown option"),
        ("smtps://mail.example.com?starttls=1", "not both"),
        ("smtp://:hunter2@mail.example.com", "password but no user name"),
    ],
)
def test_an_smtp_url_that_cannot_be_read_is_refused_naming_the_fix(url: str, says: str) -> None:
    problems = production_problems({**READY, "ECONNECT_SMTP_URL": url})

    assert len(problems) == 1
    assert problems[0].startswith("ECONNECT_SMTP_URL")
    assert says in problems[0]
    assert "e.g. smtp://user:password@mail.example.com:587?starttls=1" in problems[0]
    assert "hunter2" not in problems[0]


@pytest.mark.parametrize(
    "url",
    ["smtp://mailer:hunter2@mail.example.com", "smtp://mailer:hunter2@mail.example.com:2525?starttls=0"],
)
def test_an_smtp_login_without_tls_to_another_machine_is_refused(url: str) -> None:
    problems = production_problems({**READY, "ECONNECT_SMTP_URL": url})

    assert problems == [
        "ECONNECT_SMTP_URL would send the mail server's user name and password to mail.example.com "
        "unencrypted: add ?starttls=1 (STARTTLS, port 587 unless given) or use smtps:// "
        "(TLS, port 465 unless given)."
    ]


@pytest.mark.parametrize(
    "url",
    [
        "smtp://mailer:hunter2@mail.example.com?starttls=1",
        "smtps://mailer:hunter2@mail.example.com",
        "smtp://mail.example.com:25",  # no login: nothing to expose
        "smtp://mailer:hunter2@127.0.0.1:2525",  # a relay on this machine
        "smtp://mailer:hunter2@localhost:1025",
        "smtp://mailer:hunter2@[::1]:1025",
    ],
)
def test_safe_smtp_urls_are_accepted(url: str) -> None:
    assert production_problems({**READY, "ECONNECT_SMTP_URL": url}) == []


@pytest.mark.parametrize(
    "url", ["http://econnect.example.com", "http://192.168.1.20:3000", "HTTP://10.0.0.1"]
)
def test_a_public_url_without_https_on_another_machine_is_refused(url: str) -> None:
    problems = production_problems({**READY, "ECONNECT_PUBLIC_URL": url})

    assert len(problems) == 1
    assert problems[0].startswith(f"ECONNECT_PUBLIC_URL={url!r} is not https")
    assert "set https://" in problems[0] and "http://localhost:3000" in problems[0]


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://[::1]:3000",
        "https://x.nl",
    ],
)
def test_http_on_this_machine_and_https_anywhere_are_accepted(url: str) -> None:
    assert production_problems({**READY, "ECONNECT_PUBLIC_URL": url}) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost.example.com", False),
        ("mail.localhost", False),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_an_api_rate_limit_that_cannot_be_read_is_refused() -> None:
    assert production_problems({**READY, "ECONNECT_API_RATE_LIMIT": "600/minute; 10000/day"}) == []

    problems = production_problems({**READY, "ECONNECT_API_RATE_LIMIT": "lots"})

    assert problems == [
        "ECONNECT_API_RATE_LIMIT='lots' is not a rate limit: set it to calls per key set and period, "
        "e.g. 300/minute (or several: 300/minute; 5000/hour), or leave it unset."
    ]


def test_the_refusal_lists_every_unsafe_setting() -> None:
    unsafe = {
        **READY,
        "ECONNECT_SMTP_URL": "smtp://u:p@mail.example.com",
        "ECONNECT_PUBLIC_URL": "http://e.nl",
    }

    with pytest.raises(SystemExit) as refused:
        check_production(unsafe, REFLEX_RUN)

    message = str(refused.value.code)
    assert "  - ECONNECT_SMTP_URL would send" in message
    assert "  - ECONNECT_PUBLIC_URL='http://e.nl' is not https" in message
