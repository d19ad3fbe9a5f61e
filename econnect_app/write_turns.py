"""Writers of one SQLite database in this process take turns, in order of arrival.

SQLite lets one transaction write at a time; another writer waits in SQLite's busy handler, which
sleeps with growing pauses (up to 100 ms) before it looks again. A CSV import commits a group of
rows and begins the next group within microseconds, so the outbox worker, waiting to claim or to
record what it sent, would seldom look at the right moment and would wait for the whole import
instead of one group. Writers that queue here (``turn``) are served first come, first served: the
outbox's short write goes right after the group in progress, then the import's next group.

Only for SQLite, and only between the writers of this process that ask for a turn; on PostgreSQL
(row locks, no single writer) ``turn`` does nothing. A turn is not re-entrant: code holding one
must not ask for another.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine


class _Turns:
    """A first-come, first-served lock (a ticket lock)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._given_up: set[int] = set()  # tickets whose holders stopped waiting

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            try:
                while ticket != self._serving:
                    self._changed.wait()
            except BaseException:  # interrupted while waiting: the turn is skipped, not held forever
                self._given_up.add(ticket)
                self._next_turn()
                raise
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._next_turn()

    def _next_turn(self) -> None:
        """Skip the turns given up and wake the waiting writers (holding ``_changed``)."""
        while self._serving in self._given_up:
            self._given_up.discard(self._serving)
            self._serving += 1
        self._changed.notify_all()


_turns: dict[str, _Turns] = {}
_turns_lock = threading.Lock()


@contextmanager
def turn(engine: Engine) -> Iterator[None]:
    """Wait for this process's turn to write to ``engine``'s SQLite database and hold it for the
    block (a transaction that writes); on other databases just run the block."""
    if engine.dialect.name != "sqlite":
        yield
        return
    key = engine.url.render_as_string(hide_password=True)
    with _turns_lock:
        turns = _turns.setdefault(key, _Turns())
    with turns.turn():
        yield
