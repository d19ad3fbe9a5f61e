"""Settings from the environment, and the Reflex config they produce in each mode."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from econnect_app.production import reflex_origin_options
from econnect_app.settings import DEFAULT_PUBLIC_URL, PROJECT_ROOT, get_settings, load_settings

PRODUCTION = {
    "REFLEX_ENV_MODE": "prod",
    "ECONNECT_SECRET_KEY": "s" * 48,
    "ECONNECT_SMTP_URL": "smtp://mail.example.com:587?starttls=1",
    "ECONNECT_PUBLIC_URL": "https://econnect.example.com/",
}
VARIABLES = (*PRODUCTION, "REFLEX_DB_URL", "REFLEX_REDIS_URL")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., None]]:
    """Set exactly the given variables (others of the app unset), data in a temporary folder."""

    def set_environment(**variables: str) -> None:
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("ECONNECT_DATA_DIR", str(tmp_path / "data"))
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    yield set_environment
    monkeypatch.undo()
    get_settings.cache_clear()  # loading rxconfig re-reads the settings: forget the test's


def load_rxconfig(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Execute rxconfig.py as Reflex does, as the command ``argv``."""
    monkeypatch.setattr(sys, "argv", argv)
    spec = importlib.util.spec_from_file_location("rxconfig_under_test", PROJECT_ROOT / "rxconfig.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_development_defaults(environment: Callable[..., None], tmp_path: Path) -> None:
    environment()

    settings = load_settings()

    assert settings.dev_mode is True
    assert settings.db_url == f"sqlite:///{tmp_path / 'data' / 'econnect.db'}"
    assert settings.redis_url is None and settings.smtp_url is None
    assert settings.public_url == DEFAULT_PUBLIC_URL
    assert settings.secret_key == (tmp_path / "data" / "secret_key").read_text().strip()


def test_production_settings_come_from_the_environment(environment: Callable[..., None]) -> None:
    environment(
        **PRODUCTION,
        REFLEX_DB_URL="postgresql+psycopg://econnect@db.internal:5432/econnect",
        REFLEX_REDIS_URL="redis://redis.internal:6379/0",
    )

    settings = load_settings()

    assert settings.dev_mode is False
    assert settings.db_url == "postgresql+psycopg://econnect@db.internal:5432/econnect"
    assert settings.redis_url == "redis://redis.internal:6379/0"
    assert settings.smtp_url == PRODUCTION["ECONNECT_SMTP_URL"]
    assert settings.public_url == "https://econnect.example.com"
    assert settings.secret_key == PRODUCTION["ECONNECT_SECRET_KEY"]


def test_development_allows_only_the_public_origin_too(environment: Callable[..., None]) -> None:
    environment(ECONNECT_PUBLIC_URL="https://econnect.example.com")

    assert reflex_origin_options(load_settings()) == {"cors_allowed_origins": ["https://econnect.example.com"]}


def test_development_on_this_machine_allows_its_other_names_on_the_same_port(
    environment: Callable[..., None],
) -> None:
    environment(ECONNECT_PUBLIC_URL="http://127.0.0.1:3000/")

    assert reflex_origin_options(load_settings()) == {
        "cors_allowed_origins": ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"]
    }


def test_production_allows_only_the_public_origin(environment: Callable[..., None]) -> None:
    environment(**PRODUCTION)

    assert reflex_origin_options(load_settings()) == {
        "cors_allowed_origins": ["https://econnect.example.com"],
        "api_url": "https://econnect.example.com",
        "deploy_url": "https://econnect.example.com",
    }


def test_rxconfig_in_production_restricts_cors_and_websocket_origins(
    environment: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment(**PRODUCTION, REFLEX_REDIS_URL="redis://127.0.0.1:63799/0")

    config = load_rxconfig(["reflex", "run", "--env", "prod"], monkeypatch).config

    assert list(config.cors_allowed_origins) == ["https://econnect.example.com"]
    assert config.api_url == "https://econnect.example.com"
    assert config.redis_url == "redis://127.0.0.1:63799/0"


def test_rxconfig_in_development_allows_only_the_frontend_origin(
    environment: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment()

    config = load_rxconfig(["reflex", "run"], monkeypatch).config

    assert list(config.cors_allowed_origins) == ["http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000"]


def test_rxconfig_refuses_a_production_server_without_its_settings(
    environment: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment(REFLEX_ENV_MODE="prod")

    with pytest.raises(SystemExit, match="ECONNECT_SECRET_KEY is not set"):
        load_rxconfig(["reflex", "run", "--env", "prod"], monkeypatch)


def test_rxconfig_lets_migrations_run_in_production_mode(
    environment: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment(
        REFLEX_ENV_MODE="prod", REFLEX_DB_URL="postgresql+psycopg://econnect@127.0.0.1:54329/econnect"
    )

    config = load_rxconfig(["reflex", "db", "migrate"], monkeypatch).config

    assert config.db_url == "postgresql+psycopg://econnect@127.0.0.1:54329/econnect"
