"""Helpers shared by the benchmarks: throw-away databases, the schema, timing and reporting."""

from __future__ import annotations

import json
import os
import platform
import secrets
import shutil
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import create_engine, make_url
from sqlalchemy.engine import Engine

from alembic import command

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
TEST_DB_URL_VARIABLE = "ECONNECT_TEST_DB_URL"
POSTGRES_DATABASE_PREFIX = "econnect_bench_"


def postgres_server_url(url: str | None) -> str:
    """The PostgreSQL server to use: ``--url``, else ``ECONNECT_TEST_DB_URL``."""
    raw = (url or os.environ.get(TEST_DB_URL_VARIABLE, "")).strip()
    if not raw:
        raise SystemExit(
            f"--db postgresql needs --url or {TEST_DB_URL_VARIABLE} (a postgresql+psycopg:// URL)"
        )
    if make_url(raw).get_backend_name() != "postgresql":
        raise SystemExit(f"not a PostgreSQL URL: {raw!r}")
    return raw


@contextmanager
def temporary_database(db: str, *, server_url: str | None = None, keep: bool = False) -> Iterator[str]:
    """The URL of a new, empty database, removed afterwards (unless ``keep``).

    SQLite: a file in a new temporary folder. PostgreSQL: a database named
    ``econnect_bench_<pid>_<random>`` created on the server through its ``postgres`` maintenance
    database; no other database on the server is touched.
    """
    if db == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="econnect-bench-"))
        try:
            yield f"sqlite:///{folder / 'bench.db'}"
        finally:
            if keep:
                print(f"kept {folder / 'bench.db'}")
            else:
                shutil.rmtree(folder, ignore_errors=True)
        return
    server = make_url(postgres_server_url(server_url))
    name = f"{POSTGRES_DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    maintenance = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            if keep:
                print(f"kept database {name}")
            else:
                with maintenance.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        maintenance.dispose()


def migrate_to_head(url: str) -> None:
    """Build the schema with the project's migrations, as production does."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["db_url"] = url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values``, interpolated; NaN when empty."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, round(fraction * 1000) - 1)]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with right-aligned columns after the first."""
    cells = [[str(header) for header in headers], *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[index]) for row in cells) for index in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if index == 0 else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([line(cells[0]), "  ".join("-" * width for width in widths), *map(line, cells[1:])])


def database_version(engine: Engine) -> str:
    """The database server's version, for the report."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return "SQLite " + connection.exec_driver_sql("SELECT sqlite_version()").scalar_one()
        return connection.exec_driver_sql("SELECT version()").scalar_one().split(" on ")[0]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def loading_engine(url: str) -> Engine:
    """An engine for bulk loading: SQLite gets a 1 GB page cache and no fsync (a throw-away file).

    Queries are measured on the app's own engine (``econnect_app.db.make_engine``), not this one.
    """
    from sqlalchemy import event

    from econnect_app.db import make_engine

    engine = make_engine(url, pooled=False)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _tune(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA cache_size=-1048576")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

    return engine
