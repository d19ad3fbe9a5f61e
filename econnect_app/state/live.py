"""Live updates on the Reflex side: a change published on ``econnect_app.live`` refreshes, from the
server, every open browser tab of that environment.

How it works (one backend worker; see "Several workers" below):

1. A page state that wants live updates calls ``live_tabs.watch(self, environment_id=...)`` from
   its on_load handler, after it has validated the session: the tab's client token is registered
   in ``live_tabs.live_sessions`` for that environment and that state class (with the states on
   every signed-in page, the notifications bell, which ``AuthState.require_login`` registers too).
2. ``live_updates_task`` (a lifespan task: ``app.register_lifespan_task(live_updates_task)``)
   subscribes to ``econnect_app.live``. Services publish after they commit, possibly from a worker
   thread; ``LivePusher.notify`` hands the environment id to the backend's event loop with
   ``call_soon_threadsafe``.
3. For each tab of that environment the pusher opens ``app.modify_state(token)`` (the tab's state,
   under its lock) and, in a worker thread (the event loop serves every other tab meanwhile),
   re-validates the tab's own login session WITHOUT touching it (a push is not the user's
   activity), checks the user still belongs to that environment, and calls each watched state's
   ``_live_refresh(db, user)``: the data is re-read with that user's own permissions. Leaving
   ``modify_state`` sends the delta to that browser over its websocket.
4. A tab whose login ended (logged out in another tab, password changed, session revoked or
   expired, user blocked: ``services/effects.py`` publishes the user's environment when a session
   is revoked) loses its pages at once: its page states are emptied and it is sent to the log-in
   page with a message saying why. A tab whose user is now in another environment is forgotten.
5. Bursts coalesce per tab: while a tab is being refreshed, further changes mark it for one more
   refresh, which starts ``COALESCE_SECONDS`` after the previous one ended (a tab not refreshed
   that recently is refreshed at once). At most ``MAX_CONCURRENT_REFRESHES`` tabs are refreshed at
   a time per worker (the others wait without holding their state or a thread). A tab
   disconnected for longer than ``live_tabs.DISCONNECTED_GRACE_SECONDS`` is forgotten by the
   periodic sweep (a reconnect re-runs the page's on_load, which registers it again).
6. The tabs of one environment refreshed for the same change share what they would all read alike
   (``live_tabs.shared_read``: the environment's time zone, the dashboard's figures, the feed of
   each permission view); what depends on the user (the login, the bell) is read per tab.

Several workers (REFLEX_REDIS_URL set): the registry stays per worker (a tab's events, hence its
on_load, run on the worker its websocket is connected to); ``econnect_app.live`` uses its Redis
broker, so every worker hears every change and refreshes the tabs whose websocket it holds. A tab
that reconnects to another worker (or to a restarted one) re-runs its page's on_load there, which
registers it again; the worker it left stops refreshing it (the socket is no longer its own) and
forgets it after the grace period. Whenever the worker's Redis subscription starts (the worker
has just started, or the subscription was lost and is back), every tab the worker has by then is
refreshed once, since changes may have been missed meanwhile (a tab reconnecting to a restarted
worker may register before its subscriber listens).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import reflex as rx
from reflex.state import StateUpdate
from reflex_base.event import Event
from sqlmodel import Session

from econnect_app import i18n, live, routes
from econnect_app.db import db_session
from econnect_app.formatting import in_time_zone
from econnect_app.models import User
from econnect_app.services import environments, sessions
from econnect_app.services.errors import DomainError
from econnect_app.state import live_tabs
from econnect_app.state.auth import FORGET_EVERY_PAGE, AuthState
from econnect_app.state.live_tabs import LiveSessions, LiveView, SharedReads, live_sessions, shared_reads
from econnect_app.state.off_loop import run_off_loop

logger = logging.getLogger(__name__)

COALESCE_SECONDS = 0.05  # a tab is refreshed at most once per this window (a burst gives few refreshes)
# Tabs refreshed at once per worker: fewer than the default thread pool's threads (6 on 2 cores),
# which the tabs' own handlers need too.
MAX_CONCURRENT_REFRESHES = 4
SWEEP_INTERVAL_SECONDS = 5 * 60


RefreshTab = Callable[[str, int, tuple[type, ...]], Awaitable[bool]]


class LivePusher:
    """Turns published environment changes into per-tab refreshes on one event loop.

    ``refresh(token, environment_id, views)`` does the work for one tab and returns False when the
    tab should be forgotten. At most one refresh per tab runs at a time; changes that arrive
    meanwhile give exactly one more.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        registry: LiveSessions,
        refresh: RefreshTab,
        coalesce_seconds: float = COALESCE_SECONDS,
        max_concurrent: int = MAX_CONCURRENT_REFRESHES,
        reads: SharedReads | None = None,
    ) -> None:
        self._loop = loop
        self._registry = registry
        self._refresh = refresh
        self._coalesce_seconds = coalesce_seconds
        self._reads = shared_reads if reads is None else reads
        self._gate = asyncio.Semaphore(max_concurrent)
        self._pending: dict[str, int] = {}  # token -> environment to refresh it for
        self._running: set[str] = set()
        self._refreshed_at: dict[str, float] = {}  # token -> when its last refresh ended (recent ones only)
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, environment_id: int) -> None:
        """A change in ``environment_id`` (callable from any thread; never raises)."""
        try:
            self._loop.call_soon_threadsafe(self._changed, environment_id)
        except RuntimeError:  # the loop is closed: the backend is shutting down
            logger.debug("Live update for environment %s dropped: event loop closed", environment_id)

    def notify_all(self) -> None:
        """Refresh every registered tab (changes may have been missed); callable from any thread."""
        try:
            self._loop.call_soon_threadsafe(self._all_changed)
        except RuntimeError:  # the loop is closed: the backend is shutting down
            logger.debug("Live resync dropped: event loop closed")

    def _all_changed(self) -> None:
        for environment_id in self._registry.environments():
            self._changed(environment_id)

    def _changed(self, environment_id: int) -> None:
        tokens = self._registry.tokens_of(environment_id)
        if not tokens:
            self._reads.forget(environment_id)
            return
        self._reads.changed(environment_id)  # the tabs refreshed from now on share their reads
        for token in tokens:
            self._pending[token] = environment_id
            if token not in self._running:
                self._running.add(token)
                task = self._loop.create_task(
                    self._drain(token), name=f"live-refresh|environment {environment_id}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _drain(self, token: str) -> None:
        try:
            while token in self._pending:
                await self._after_coalescing(token)
                async with self._gate:
                    if token not in self._pending:
                        continue
                    environment_id = self._pending.pop(token)
                    views = self._registry.views_of(token, environment_id=environment_id)
                    if not views:
                        continue
                    try:
                        keep = await self._refresh(token, environment_id, views)
                    except Exception:
                        logger.exception("Live refresh of a tab of environment %s failed", environment_id)
                        continue
                    finally:
                        self._refreshed(token)
                if not keep:
                    self._registry.forget(token)
        finally:
            self._running.discard(token)

    async def _after_coalescing(self, token: str) -> None:
        """Wait until ``COALESCE_SECONDS`` have passed since the tab's last refresh ended."""
        refreshed_at = self._refreshed_at.get(token)
        if refreshed_at is not None and self._coalesce_seconds:
            wait = refreshed_at + self._coalesce_seconds - self._loop.time()
            if wait > 0:
                await asyncio.sleep(wait)

    def _refreshed(self, token: str) -> None:
        """Note when the tab's refresh ended; forgotten again once the coalescing window is over."""
        if not self._coalesce_seconds:
            return
        ended = self._refreshed_at[token] = self._loop.time()

        def expire() -> None:
            if self._refreshed_at.get(token) == ended:
                del self._refreshed_at[token]

        self._loop.call_later(self._coalesce_seconds, expire)

    async def idle(self) -> None:
        """Wait until every change notified so far has been handled (tests)."""
        await asyncio.sleep(0)  # let changes handed over with call_soon_threadsafe start
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Cancel refreshes in flight."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _token_manager(app: rx.App) -> Any:
    namespace = app.event_namespace
    return getattr(namespace, "_token_manager", None) if namespace is not None else None


async def _is_connected(app: rx.App, token: str) -> bool:
    """Whether the tab's websocket is connected to THIS worker.

    With several workers, the worker holding a tab's socket refreshes it; a tab that moved to
    another worker is registered there (its on_load ran there) and must not be refreshed twice.
    """
    manager = _token_manager(app)
    if manager is None:
        return False
    records = getattr(manager, "token_to_socket", None)
    instance_id = getattr(manager, "instance_id", None)
    if isinstance(records, dict) and instance_id is not None:
        record = records.get(token)
        return record is not None and getattr(record, "instance_id", None) == instance_id
    return bool(await manager.is_token_connected(token))


@dataclasses.dataclass(frozen=True)
class _Refreshed:
    """What a tab's refresh found: keep the tab registered? and, when its login has ended, the
    message to show it on the log-in page."""

    keep: bool
    signed_out_message: str = ""


async def refresh_tab(app: rx.App, token: str, environment_id: int, views: tuple[type, ...]) -> bool:
    """Push fresh data into one tab's watched states; False when the tab should be forgotten.

    The tab's state stays locked (``modify_state``) while its data is re-read in a worker thread.
    A tab whose login has ended is emptied and sent to the log-in page with a message.
    """
    if not await _is_connected(app, token):
        # Do not create or touch the state of a tab that is gone; forget it after a grace period.
        return not live_sessions.mark_disconnected(token, now=time.monotonic())
    live_sessions.mark_connected(token)
    generation = shared_reads.generation(environment_id)  # reads shared with the tabs pushed alike
    async with app.modify_state(rx.BaseStateToken(ident=token, cls=views[0])) as root:
        auth = await root.get_state(AuthState)
        states = [await root.get_state(view) for view in views]
        refreshed = await run_off_loop(
            functools.partial(
                _refresh_states,
                auth.session_cookie,
                auth.language,
                environment_id,
                states,
                generation=generation,
            )
        )
        leave: list[Any] = []
        if refreshed.signed_out_message:
            leave = _to_log_in_page(auth, refreshed.signed_out_message)
            auth._end_login(FORGET_EVERY_PAGE)
            await auth._forget_page_states()
    if leave:  # after the emptied states have reached the browser
        await _send(app, token, *leave)
    return refreshed.keep


def _to_log_in_page(auth: AuthState, message: str) -> list[Any]:
    """The events that take a tab whose login ended to the log-in page, saying why."""
    shown = i18n.translate(auth.language, message)
    if message == sessions.SessionEnd.BLOCKED.value:
        return [rx.redirect(routes.LOGIN), rx.toast.error(shown)]
    return [auth._login_redirect(), rx.toast.info(shown)]


async def _send(app: rx.App, token: str, *events: Any) -> None:
    """Send events (a redirect, a toast) to one tab, as a handler's would be."""
    namespace = app.event_namespace
    if namespace is not None:
        await namespace.emit_update(StateUpdate(events=Event.from_event_type(list(events))), token)


def _refresh_states(
    session_cookie: str,
    language: str,
    environment_id: int,
    states: Sequence[LiveView],
    *,
    generation: int | None = None,
) -> _Refreshed:
    """Re-read the data of a tab's states with its own user (in a worker thread), dates and times
    in the time zone of the user's environment and texts in the tab's ``language``, as the page's
    own handlers show them. With ``generation`` (of the environment's changes, see
    ``live_tabs.SharedReads``), reads are shared with the other tabs refreshed for that change.

    The tab's login is re-validated WITHOUT touching it (a push is not the user's activity). Not
    kept: a tab already logged out, a tab whose login has ended (with the message saying why) and
    a tab whose user is now in another environment.
    """
    with db_session() as db:
        user = sessions.authenticate(db, token=session_cookie or None, touch=False)
        if user is None:
            ended = sessions.why_session_ended(db, token=session_cookie) if session_cookie else None
            return _Refreshed(keep=False, signed_out_message=ended.value if ended else "")
        if user.environment_id != environment_id:
            return _Refreshed(keep=False)
        with contextlib.ExitStack() as sharing:
            if generation is not None:
                sharing.enter_context(live_tabs.pushing(environment_id, generation))
            _refresh_views(db, user, language, states)
    return _Refreshed(keep=True)


def _refresh_views(db: Session, user: User, language: str, states: Sequence[LiveView]) -> None:
    """Each state's ``_live_refresh`` for ``user``, in the zone of the user's environment and the
    tab's language; a refused read (a DomainError) leaves that state as it was."""
    zone = live_tabs.shared_read(
        ("time-zone", user.environment_id),
        lambda: environments.time_zone_of(db, environment_id=user.environment_id),
    )
    with in_time_zone(zone), i18n.in_language(language):
        for state in states:
            try:
                state._live_refresh(db, user)
            except DomainError as error:
                db.rollback()
                logger.info("Live refresh of %s skipped: %s", type(state).__name__, error.message)


async def sweep_disconnected(app: rx.App, registry: LiveSessions | None = None) -> int:
    """Forget tabs that have had no websocket for longer than the grace period; returns how many."""
    registry = registry or live_sessions
    now = time.monotonic()
    forgotten = 0
    for token in registry.all_tokens():
        if await _is_connected(app, token):
            registry.mark_connected(token)
        elif registry.mark_disconnected(token, now=now):
            forgotten += 1
    return forgotten


async def live_updates_task(app: rx.App) -> None:
    """Lifespan task: push every published environment change into that environment's open tabs."""
    pusher = LivePusher(
        loop=asyncio.get_running_loop(),
        registry=live_sessions,
        refresh=functools.partial(refresh_tab, app),
    )
    # Resync first: once the subscriber is listening, the tabs registered meanwhile are refreshed.
    unsubscribe_resync = live.subscribe_resync(pusher.notify_all)
    unsubscribe = live.subscribe(pusher.notify)  # with Redis: starts this worker's subscriber
    try:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
            try:
                await sweep_disconnected(app)
            except Exception:
                logger.exception("Sweeping disconnected live tabs failed")
    finally:
        unsubscribe()
        unsubscribe_resync()
        await close_websockets(app)
        await asyncio.to_thread(live.shutdown)  # sends what is queued, stops the Redis threads
        await pusher.close()


async def close_websockets(app: rx.App, timeout: float = 1.0) -> int:
    """End this worker's websocket sessions when it stops; returns how many were open (never raises).

    Called from the lifespan shutdown (SIGTERM, restart). The sessions are closed at the
    engine.io level, so their Python tasks finish here, inside the worker's own event loop. Without
    it, Granian (2.8, multi-threaded runtime) dropped those tasks from its Rust threads when the
    worker exited and now and then panicked ("Cannot drop pointer into Python heap without the
    thread being attached", emmett-framework/granian#884), killing the worker before its other
    lifespan tasks (an email being sent) had finished: about 1 stop in 10 in the scale-out test,
    none in 90 with this. Granian no longer writes to connections once it is stopping, so browsers
    notice when the process exits; they reconnect by themselves (their state is in Redis).
    """
    engine = getattr(getattr(app, "sio", None), "eio", None)
    if engine is None:
        return 0
    count = len(getattr(engine, "sockets", {}))
    if not count:
        return 0
    try:
        await asyncio.wait_for(engine.disconnect(), timeout)
    except TimeoutError:  # the server no longer writes to its connections: they are closed anyway
        logger.debug("Closing %s websocket(s) of a stopping worker timed out", count)
    except Exception:  # a worker that is stopping must stop anyway
        logger.warning("Closing the websockets of a stopping worker failed", exc_info=True)
    return count
