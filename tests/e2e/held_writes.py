"""Make the app's writes wait, so a test can look at the page while the server is still working.

``writes_held(engine, table)`` takes a lock on the app's database for the duration of the block:
the app's reads go on, but an insert or update of ``table`` waits until the block ends (SQLite: a
write lock on the whole database, which the app waits for up to its busy timeout of 10 s;
PostgreSQL: a table lock). Synchronisation by a condition, not by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine


@contextmanager
def writes_held(engine: Engine, table: str) -> Iterator[None]:
    """Hold back the app's writes to ``table`` (reads go on) until the block ends."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')
        yield
    finally:
        connection.rollback()
        connection.close()
