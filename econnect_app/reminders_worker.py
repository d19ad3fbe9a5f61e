"""Periodic backend work: automatic reminders to clients who have not answered a request.

``reminder_loop`` (a Reflex lifespan task) runs ``services.reminders.send_due_reminders`` every
``REMINDER_INTERVAL_SECONDS``. One worker at a time: on PostgreSQL a pass runs only while its
worker holds a session-level advisory lock (``pg_try_advisory_lock``, on a connection of its own,
released at the end of the pass); a worker that does not get it skips that pass. SQLite has a
single writer. Even without the lock a reminder cannot go out twice: each one is a conditional
UPDATE (see ``services/reminders.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from econnect_app.db import get_engine
from econnect_app.maintenance import run_every
from econnect_app.services.reminders import send_due_reminders

if TYPE_CHECKING:
    import reflex as rx


REMINDER_INTERVAL_SECONDS = 600
# The advisory lock of the reminder pass (any 64-bit number no other part of the app uses).
ADVISORY_LOCK_KEY = 7_310_020_601


@contextmanager
def _one_worker(engine: Engine) -> Iterator[bool]:
    """True while this worker may run the pass (always on SQLite; on PostgreSQL when it holds the
    advisory lock, which no other worker then holds)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        held = bool(
            connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
        )
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})


def send_reminders_once(engine: Engine, *, now: datetime | None = None) -> int:
    """One pass in its own session: send every due reminder; returns how many were sent (0 when
    another worker is running the pass)."""
    with _one_worker(engine) as mine:
        if not mine:
            return 0
        with Session(engine) as session:
            return send_due_reminders(session, now=now)


async def reminder_loop(
    app: rx.App | None = None,
    *,
    interval_seconds: float = REMINDER_INTERVAL_SECONDS,
    engine: Engine | None = None,
) -> None:
    """Send due reminders now and then every ``interval_seconds`` (a lifespan task; see
    ``maintenance.run_every``)."""
    engine = engine or get_engine()
    await run_every(
        interval_seconds,
        lambda: send_reminders_once(engine),
        what="sending automatic reminders",
        done="Sent %s automatic reminder(s)",
    )
