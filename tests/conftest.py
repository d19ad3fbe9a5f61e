"""Shared fixtures: every test process gets its own data folder and SQLite database."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Point the app at a throw-away data folder before anything imports the settings.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="econnect-tests-"))
os.environ["ECONNECT_DATA_DIR"] = str(_DATA_DIR)
os.environ.setdefault("REFLEX_DB_URL", f"sqlite:///{_DATA_DIR / 'unused-default.db'}")
os.environ.pop("ECONNECT_SMTP_URL", None)

import pytest  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

import econnect_app.models  # noqa: E402,F401
from econnect_app.db import make_engine  # noqa: E402


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite database file with every table created."""
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    """A session on the fresh database; tests commit as the app would."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last, so the fast suites report first."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path).replace("\\", "/"))
