"""Which open browser tabs follow which environment's changes, with which states (the live tabs).

A page state that wants live updates calls ``watch(self, environment_id=...)`` from its on_load
handler, after validating the session; state/live.py refreshes the registered tabs when a change is
published. States shown on every signed-in page (the header's notifications bell) are registered
once with ``live_sessions.watch_everywhere(view)`` and are then refreshed in every watched tab.

This module imports none of the app's states, so ``AuthState`` can register tabs with it.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import reflex as rx
    from sqlmodel import Session

    from econnect_app.models import User

DISCONNECTED_GRACE_SECONDS = 15 * 60


class LiveView(Protocol):
    """A page state that can refresh itself from the database for a live update (in a worker
    thread, while the tab's state is locked)."""

    def _live_refresh(self, db: Session, user: User) -> None: ...


@dataclasses.dataclass
class _Watch:
    environment_id: int
    views: set[type] = dataclasses.field(default_factory=set)
    disconnected_since: float | None = None


class LiveSessions:
    """Which browser tabs (client tokens) watch which environment, with which states.

    Thread-safe. A tab watches one environment at a time: registering it for another environment
    (the user logged out and in as someone else) moves it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[str, _Watch] = {}
        self._by_environment: dict[int, set[str]] = {}
        self._everywhere: set[type] = set()

    def watch_everywhere(self, view: type) -> None:
        """Refresh ``view`` in every tab that watches an environment (it is on every signed-in page)."""
        with self._lock:
            self._everywhere.add(view)

    def watch(self, token: str, *, environment_id: int, view: type | None = None) -> None:
        """Register ``token`` for live refreshes in ``environment_id`` of ``view`` (if given) and of
        the states on every page."""
        with self._lock:
            entry = self._by_token.get(token)
            if entry is None or entry.environment_id != environment_id:
                self._forget_locked(token)
                entry = self._by_token[token] = _Watch(environment_id=environment_id)
                self._by_environment.setdefault(environment_id, set()).add(token)
            entry.views |= self._everywhere
            if view is not None:
                entry.views.add(view)
            entry.disconnected_since = None

    def forget(self, token: str) -> None:
        """Stop refreshing ``token`` (harmless when it is not registered)."""
        with self._lock:
            self._forget_locked(token)

    def _forget_locked(self, token: str) -> None:
        entry = self._by_token.pop(token, None)
        if entry is None:
            return
        tokens = self._by_environment.get(entry.environment_id)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._by_environment[entry.environment_id]

    def environments(self) -> list[int]:
        """The environments that have at least one registered tab."""
        with self._lock:
            return list(self._by_environment)

    def tokens_of(self, environment_id: int) -> list[str]:
        """The tabs watching ``environment_id``."""
        with self._lock:
            return list(self._by_environment.get(environment_id, ()))

    def views_of(self, token: str, *, environment_id: int) -> tuple[type, ...]:
        """The states ``token`` watches in ``environment_id`` (empty when it no longer does)."""
        with self._lock:
            entry = self._by_token.get(token)
            if entry is None or entry.environment_id != environment_id:
                return ()
            return tuple(entry.views)

    def environment_of(self, token: str) -> int | None:
        """The environment ``token`` watches, if any."""
        with self._lock:
            entry = self._by_token.get(token)
            return entry.environment_id if entry else None

    def all_tokens(self) -> list[str]:
        """Every registered tab."""
        with self._lock:
            return list(self._by_token)

    def mark_disconnected(self, token: str, *, now: float, grace: float = DISCONNECTED_GRACE_SECONDS) -> bool:
        """Note that ``token`` has no websocket; forget it once that lasted ``grace`` seconds.

        Returns whether the token was forgotten.
        """
        with self._lock:
            entry = self._by_token.get(token)
            if entry is None:
                return False
            if entry.disconnected_since is None:
                entry.disconnected_since = now
            if now - entry.disconnected_since >= grace:
                self._forget_locked(token)
                return True
            return False

    def mark_connected(self, token: str) -> None:
        """Note that ``token`` has a websocket again."""
        with self._lock:
            entry = self._by_token.get(token)
            if entry is not None:
                entry.disconnected_since = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_token)


live_sessions = LiveSessions()


def watch(state: rx.State, *, environment_id: int) -> None:
    """Refresh ``state`` (a LiveView) live in its browser tab for changes of ``environment_id``.

    Call it from the state's on_load handler after validating the session. The states on every
    page (the bell) are registered with it: after a reconnect to another worker only the page's
    on_load runs again, not the bell's on_mount.
    """
    token = state.router.session.client_token
    if token:
        live_sessions.watch(token, environment_id=environment_id, view=type(state))
