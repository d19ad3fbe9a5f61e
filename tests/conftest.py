"""Shared fixtures: every test process gets its own data folder and database.

By default each test gets a fresh SQLite file. With ``ECONNECT_TEST_DB_URL`` set (a
``postgresql+psycopg://`` URL of a server, e.g. ``.../econnect``) the ``engine`` fixture uses
PostgreSQL instead: this pytest process creates its own database on that server (named
``econnect_pytest_<pid>_<random>``, through the ``postgres`` maintenance database), creates every
table there once, and empties it before each test (every row deleted, every id sequence restarted),
so tests stay independent and ids start at 1. The database is dropped when the session ends.
The database named in the URL itself is never touched.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

# Point the app at a throw-away data folder before anything imports the settings.
_DATA_DIR = Path(tempfile.mkdtemp(prefix="econnect-tests-"))
os.environ["ECONNECT_DATA_DIR"] = str(_DATA_DIR)
os.environ.setdefault("REFLEX_DB_URL", f"sqlite:///{_DATA_DIR / 'unused-default.db'}")
os.environ.pop("ECONNECT_SMTP_URL", None)

import pytest  # noqa: E402
from sqlalchemy import create_engine, make_url  # noqa: E402
from sqlalchemy.engine import URL, Engine  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

import econnect_app.models  # noqa: E402,F401
from econnect_app.db import make_engine  # noqa: E402

TEST_DB_URL_VARIABLE = "ECONNECT_TEST_DB_URL"
POSTGRES_DATABASE_PREFIX = "econnect_pytest_"
_POSTGRES_DATABASE_NAME = re.compile(rf"^{POSTGRES_DATABASE_PREFIX}(\d+)_[0-9a-f]+$")


def postgres_server_url() -> URL | None:
    """The PostgreSQL server the suites should use (``ECONNECT_TEST_DB_URL``), or None for SQLite."""
    raw = os.environ.get(TEST_DB_URL_VARIABLE, "").strip()
    if not raw:
        return None
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise pytest.UsageError(f"{TEST_DB_URL_VARIABLE} must be a postgresql+psycopg:// URL, not {raw!r}")
    return url


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _maintenance_engine(server_url: URL) -> Engine:
    """An AUTOCOMMIT engine on the server's ``postgres`` database (CREATE/DROP DATABASE)."""
    return create_engine(server_url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def _drop_databases_of_dead_runs(maintenance: Engine) -> None:
    """Drop test databases left behind by killed pytest processes (pid gone, nobody connected)."""
    with maintenance.connect() as connection:
        names = connection.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE datname LIKE %(prefix)s AND NOT EXISTS "
            "(SELECT 1 FROM pg_stat_activity WHERE pg_stat_activity.datname = pg_database.datname)",
            {"prefix": POSTGRES_DATABASE_PREFIX + "%"},
        ).scalars()
        for name in list(names):
            match = _POSTGRES_DATABASE_NAME.match(name)
            if match and not _process_is_alive(int(match.group(1))):
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_database(server_url: URL) -> Iterator[URL]:
    """A new, empty database on the server for the duration of the block (then dropped)."""
    name = f"{POSTGRES_DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    maintenance = _maintenance_engine(server_url)
    try:
        with maintenance.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server_url.set(database=name)
        finally:
            with maintenance.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        maintenance.dispose()


@pytest.fixture(scope="session")
def _postgres_test_database() -> Iterator[URL | None]:
    """This process's PostgreSQL database with every table (None when running on SQLite)."""
    server_url = postgres_server_url()
    if server_url is None:
        yield None
        return
    maintenance = _maintenance_engine(server_url)
    try:
        _drop_databases_of_dead_runs(maintenance)
    finally:
        maintenance.dispose()
    with postgres_database(server_url) as url:
        schema_engine = make_engine(url.render_as_string(hide_password=False), pooled=False)
        try:
            SQLModel.metadata.create_all(schema_engine)
        finally:
            schema_engine.dispose()
        yield url


def _empty_every_table(engine: Engine) -> None:
    """Delete every row and restart every id sequence: each test starts as on a new database.

    ``DELETE`` (children first) rather than ``TRUNCATE ... RESTART IDENTITY CASCADE``: on tables
    holding a handful of rows it takes about 3 ms against about 65 ms for TRUNCATE, which creates
    new files for every table and index; over the whole suite that is most of a minute. The result
    is the same: empty tables, ids from 1.
    """
    with engine.begin() as connection:
        # A connection leaked by an earlier test must not hold locks on the tables; end it.
        connection.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.exec_driver_sql(f'DELETE FROM "{table.name}"')
        connection.exec_driver_sql(
            "SELECT setval(sequence.oid, 1, false) FROM pg_class AS sequence "
            "JOIN pg_namespace AS namespace ON namespace.oid = sequence.relnamespace "
            "WHERE sequence.relkind = 'S' AND namespace.nspname = current_schema()"
        )


@pytest.fixture()
def engine(tmp_path: Path, _postgres_test_database: URL | None) -> Iterator[Engine]:
    """A fresh, empty database with every table created.

    SQLite: a new file per test. PostgreSQL (``ECONNECT_TEST_DB_URL``): the process's database,
    emptied before the test.
    """
    if _postgres_test_database is None:
        engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        SQLModel.metadata.create_all(engine)
    else:
        engine = make_engine(_postgres_test_database.render_as_string(hide_password=False))
        _empty_every_table(engine)
    yield engine
    engine.dispose()


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    """A session on the fresh database; tests commit as the app would."""
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture()
def new_postgres_database() -> Iterator[Callable[[], URL]]:
    """Make new, empty PostgreSQL databases (dropped after the test); skips without a server."""
    server_url = postgres_server_url()
    if server_url is None:
        pytest.skip(f"PostgreSQL only: set {TEST_DB_URL_VARIABLE} to run it")
    with ExitStack() as databases:
        yield lambda: databases.enter_context(postgres_database(server_url))


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database the suites run on."""
    server_url = postgres_server_url()
    if server_url is None:
        return "database: SQLite (a file per test)"
    return (
        f"database: PostgreSQL at {server_url.render_as_string(hide_password=True)} ({TEST_DB_URL_VARIABLE})"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser tests last, so the fast suites report first."""
    items.sort(key=lambda item: "/tests/e2e/" in str(item.path).replace("\\", "/"))


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Each test counts throttled actions (services/throttle.py) from zero, in memory."""
    from limits.storage import MemoryStorage

    from econnect_app.services import throttle

    throttle.use_storage(MemoryStorage())
    yield
    throttle.use_storage(None)
