"""Alembic environment: `reflex db migrate` drives upgrades itself; this file serves the plain
`alembic` command and the migration tests (target metadata = all SQLModel tables)."""

from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import econnect_app.models  # noqa: F401  (registers the tables)
from alembic import context
from econnect_app.db import make_engine
from econnect_app.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = SQLModel.metadata


def _url() -> str:
    return config.attributes.get("db_url") or get_settings().db_url


def run_migrations_offline() -> None:
    """Emit SQL to stdout without a database connection."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def _foreign_keys_off_on_sqlite(connection: Connection) -> Iterator[None]:
    """SQLite: a batch migration recreates a table (copy, drop, rename), and with foreign keys
    enforced dropping the old table deletes the rows that reference it (ON DELETE CASCADE). So they
    are off while migrating, as SQLite's documentation prescribes for such changes (a PRAGMA outside
    any transaction), and checked afterwards. ``reflex db migrate``'s engine never turns them on."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    connection.commit()
    if broken:
        raise RuntimeError(f"The migration left rows whose foreign keys point nowhere: {broken[:5]}")


def run_migrations_online() -> None:
    """Run migrations against the configured database."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url(), pooled=False)
    with engine.connect() as connection, _foreign_keys_off_on_sqlite(connection):
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
