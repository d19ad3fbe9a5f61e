"""Which open browser tabs follow which environment's changes, with which states (the live tabs).

A page state that wants live updates calls ``watch(self, environment_id=...)`` from its on_load
handler, after validating the session and before reading what it shows (a change committed during
the read is then pushed, not missed); state/live.py refreshes the registered tabs when a change is
published. States shown on every signed-in page (the header's notifications bell) are registered
once with ``live_sessions.watch_everywhere(view)`` and are then refreshed in every watched tab.

A live push re-reads, for every tab, what that tab's user may see. Tabs of one environment pushed
for the same change mostly read the same things (the environment's figures, the feed of one
permission view): ``shared_read(key, read)`` reads each key once per change of the environment and
hands the same answer to every tab of it (``SharedReads``); outside a push it simply reads.

This module imports none of the app's states, so ``AuthState`` can register tabs with it.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import reflex as rx
    from sqlmodel import Session

    from econnect_app.models import User

DISCONNECTED_GRACE_SECONDS = 15 * 60

T = TypeVar("T")


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

    Call it from the state's on_load handler after validating the session, before the read. The
    states on every page (the bell) are registered with it: after a reconnect to another worker
    only the page's on_load runs again, not the bell's on_mount.
    """
    token = state.router.session.client_token
    if token:
        live_sessions.watch(token, environment_id=environment_id, view=type(state))


# --- reads shared by the tabs of one environment during a push ------------------------------------


@dataclasses.dataclass
class _Read:
    """One shared read: done once its reader has finished (``failed`` when it raised)."""

    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    value: object = None
    failed: bool = False


class SharedReads:
    """Reads shared by the tabs of one environment refreshed for the same change (thread-safe).

    Every change published for an environment starts a new generation (``changed``, called by the
    pusher before it schedules that environment's tabs). A tab's refresh reads at the generation
    current when it starts: the first tab to ask for a key reads it, the others of that generation
    wait for and get the same answer. The answer was read after the change of that generation had
    been committed and published, so it is as fresh as each of those tabs needs. A newer change
    drops the answers of the older generation; a tab still refreshing for it reads by itself.

    Only what the key names may be shared: the caller (a service) puts into the key everything its
    answer depends on (the environment is implied; a user's permission view must be in the key).
    Answers are shared between threads: plain immutable values, never ORM objects.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generations: dict[int, int] = {}
        self._reads: dict[int, tuple[int, dict[Hashable, _Read]]] = {}

    def changed(self, environment_id: int) -> int:
        """A change of ``environment_id``: a new generation (returned); older answers are dropped."""
        with self._lock:
            generation = self._generations.get(environment_id, 0) + 1
            self._generations[environment_id] = generation
            self._reads.pop(environment_id, None)
            return generation

    def generation(self, environment_id: int) -> int:
        """The current generation of ``environment_id`` (0 before its first change)."""
        with self._lock:
            return self._generations.get(environment_id, 0)

    def forget(self, environment_id: int) -> None:
        """Drop what is kept for an environment no tab watches any more."""
        with self._lock:
            self._generations.pop(environment_id, None)
            self._reads.pop(environment_id, None)

    def read(self, environment_id: int, generation: int, key: Hashable, read: Callable[[], T]) -> T:
        """``read()``'s answer for ``key``, read once for ``generation`` of ``environment_id``."""
        with self._lock:
            if generation != self._generations.get(environment_id, 0):
                entry, mine = None, True  # an older change: read by itself, share nothing
            else:
                current = self._reads.get(environment_id)
                if current is None:
                    current = self._reads[environment_id] = (generation, {})
                entry = current[1].get(key)
                mine = entry is None
                if entry is None:
                    entry = current[1][key] = _Read()
        if entry is None:
            return read()
        if mine:
            try:
                entry.value = read()
            except BaseException:
                entry.failed = True
                with self._lock:  # let a later tab try again
                    current = self._reads.get(environment_id)
                    if current is not None and current[1].get(key) is entry:
                        del current[1][key]
                raise
            finally:
                entry.done.set()
            return entry.value  # type: ignore[return-value]
        entry.done.wait()
        if entry.failed:  # the tab that read it failed (its own error): read by ourselves
            return read()
        return entry.value  # type: ignore[return-value]

    def __len__(self) -> int:
        """How many environments have answers kept (tests)."""
        with self._lock:
            return len(self._reads)


shared_reads = SharedReads()

_push: contextvars.ContextVar[tuple[SharedReads, int, int] | None] = contextvars.ContextVar(
    "live_push", default=None
)


@contextlib.contextmanager
def pushing(environment_id: int, generation: int, reads: SharedReads | None = None) -> Iterator[None]:
    """Within: ``shared_read`` shares with the other tabs of ``environment_id`` refreshed for the
    same ``generation`` (state/live.py wraps a tab's live refresh in it)."""
    reset = _push.set((shared_reads if reads is None else reads, environment_id, generation))
    try:
        yield
    finally:
        _push.reset(reset)


def shared_read(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, shared with the other tabs of the environment during a live push (see
    ``SharedReads``); outside a push (a page's own load), read at once."""
    push = _push.get()
    if push is None:
        return read()
    reads, environment_id, generation = push
    return reads.read(environment_id, generation, key, read)
