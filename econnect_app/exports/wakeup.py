"""Waking this process's export worker when a delivery was queued, instead of waiting for its next
poll: ``wake_after_commit(session)`` marks the transaction, and once it commits every export loop of
this process (``listening``) is woken from whichever thread committed. A rollback forgets the mark.

Other backend workers (several, with Redis) find the delivery at their next poll, a few seconds
later; whichever claims it first delivers it (``econnect_app/claims.py``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

_INFO_KEY = "econnect.exports.wake"
_lock = threading.Lock()
_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


def wake_after_commit(session: Session) -> None:
    """Wake the export worker once this session's transaction has committed."""
    session.info[_INFO_KEY] = True


def wake() -> None:
    """Wake every export loop of this process now (thread-safe; harmless without one)."""
    with _lock:
        waiters = list(_waiters)
    for loop, wanted in waiters:
        try:
            loop.call_soon_threadsafe(wanted.set)
        except RuntimeError:  # that loop has closed: its export loop is gone
            continue


@contextmanager
def listening() -> Iterator[asyncio.Event]:
    """An event of the running loop that ``wake`` sets (an export loop waits on it)."""
    wanted = asyncio.Event()
    entry = (asyncio.get_running_loop(), wanted)
    with _lock:
        _waiters.add(entry)
    try:
        yield wanted
    finally:
        with _lock:
            _waiters.discard(entry)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    if session.info.pop(_INFO_KEY, False):
        wake()


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_INFO_KEY, None)


event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", _after_soft_rollback)
