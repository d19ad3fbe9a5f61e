"""The push channel for live updates: "something changed in environment E".

Services call ``publish_environment_change(environment_id)`` after they commit; listeners (the
Reflex side, ``econnect_app/state/live.py``) ``subscribe(callback)`` and refresh the open sessions
of that environment from the database. A message carries only an environment id, never data: each
listener re-reads what its own user may see.

This module imports nothing from Reflex. Delivery goes through a ``Broker``:

- ``InProcessBroker`` (now): callbacks run synchronously in the publisher's thread, each one
  guarded so a failing listener cannot break the publisher or the other listeners. Enough for one
  backend process (Reflex runs one worker when no Redis is configured).
- A Redis broker (issue 4, when ``settings.redis_url`` is set): ``publish`` sends the id on a Redis
  pub/sub channel; every backend worker subscribes to that channel and hands what it receives to
  its local ``InProcessBroker``, so each worker refreshes the sessions connected to it. It plugs in
  at ``_make_broker``; nothing else changes.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)

ChangeListener = Callable[[int], None]
Unsubscribe = Callable[[], None]


class Broker(Protocol):
    """Carries environment-change messages from publishers to subscribers."""

    def publish(self, environment_id: int) -> None:
        """Announce that data of ``environment_id`` changed (never raises)."""

    def subscribe(self, callback: ChangeListener) -> Unsubscribe:
        """Call ``callback(environment_id)`` for every change; returns the unsubscribe function."""


class InProcessBroker:
    """Delivers to the listeners of this process, in the publisher's thread; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, ChangeListener] = {}
        self._ids = itertools.count()

    def publish(self, environment_id: int) -> None:
        """Call every listener with ``environment_id``; a listener's error is logged, not raised."""
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(environment_id)
            except Exception:  # a broken listener must not break the use case that published
                logger.exception(
                    "Live-update listener %r failed for environment %s", listener, environment_id
                )

    def subscribe(self, callback: ChangeListener) -> Unsubscribe:
        """Add a listener; the returned function removes it (calling it twice is harmless)."""
        with self._lock:
            key = next(self._ids)
            self._listeners[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return unsubscribe

    @property
    def listener_count(self) -> int:
        """How many listeners are subscribed (for tests and diagnostics)."""
        with self._lock:
            return len(self._listeners)


_broker: Broker | None = None
_broker_lock = threading.Lock()


def _make_broker() -> Broker:
    """The broker for this process.

    Issue 4 seam: when ``get_settings().redis_url`` is set, return a ``RedisBroker`` here (publish:
    ``PUBLISH econnect:live <environment_id>``; a listener thread or asyncio task per process:
    ``SUBSCRIBE econnect:live`` and forward each id to a local ``InProcessBroker``).
    """
    return InProcessBroker()


def get_broker() -> Broker:
    """The process-wide broker (created on first use)."""
    global _broker
    if _broker is None:
        with _broker_lock:
            if _broker is None:
                _broker = _make_broker()
    return _broker


def set_broker(broker: Broker | None) -> None:
    """Replace the process-wide broker (tests; ``None`` makes the next use build a fresh one)."""
    global _broker
    with _broker_lock:
        _broker = broker


def publish_environment_change(environment_id: int | None) -> None:
    """Tell every open session of ``environment_id`` to refresh; call it after the commit.

    Never raises: a failed live update must not turn a committed use case into an error.
    """
    if environment_id is None:
        return
    try:
        get_broker().publish(int(environment_id))
    except Exception:
        logger.exception("Could not publish a live update for environment %s", environment_id)


def subscribe(callback: ChangeListener) -> Unsubscribe:
    """Call ``callback(environment_id)`` (from the publisher's thread) for every change."""
    return get_broker().subscribe(callback)
