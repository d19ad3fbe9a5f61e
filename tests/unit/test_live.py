"""Live updates: the pub/sub channel (econnect_app/live.py), the registry of live tabs
(econnect_app/state/live_tabs.py) and the Reflex-side pusher and per-tab refresh
(econnect_app/state/live.py), without a browser."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import reflex as rx
from sqlmodel import Session

from econnect_app import live, security
from econnect_app.components.email_confirmation_notice import EmailConfirmationState
from econnect_app.components.notifications import NotificationsState
from econnect_app.models import Environment, User, UserSession, UserStatus, utcnow
from econnect_app.pages.dashboard import DashboardState
from econnect_app.state import live as live_state
from econnect_app.state import live_tabs
from econnect_app.state.auth import AuthState
from econnect_app.state.live import LivePusher
from econnect_app.state.live_tabs import LiveSessions

# --- econnect_app/live.py --------------------------------------------------------------------------


@pytest.fixture()
def broker() -> Iterator[live.InProcessBroker]:
    """A fresh process-wide broker for the test."""
    fresh = live.InProcessBroker()
    live.set_broker(fresh)
    yield fresh
    live.set_broker(None)


def test_subscribers_receive_every_published_environment(broker: live.InProcessBroker) -> None:
    first: list[int] = []
    second: list[int] = []
    live.subscribe(first.append)
    live.subscribe(second.append)

    live.publish_environment_change(3)
    live.publish_environment_change(5)

    assert first == [3, 5]
    assert second == [3, 5]


def test_unsubscribe_stops_delivery_and_is_idempotent(broker: live.InProcessBroker) -> None:
    received: list[int] = []
    unsubscribe = live.subscribe(received.append)
    live.publish_environment_change(1)

    unsubscribe()
    unsubscribe()
    live.publish_environment_change(2)

    assert received == [1]
    assert broker.listener_count == 0


def test_the_same_callback_may_subscribe_twice(broker: live.InProcessBroker) -> None:
    received: list[int] = []
    live.subscribe(received.append)
    unsubscribe_second = live.subscribe(received.append)
    unsubscribe_second()

    live.publish_environment_change(4)

    assert received == [4]


def test_a_failing_listener_does_not_break_the_publisher_or_the_others(
    broker: live.InProcessBroker, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[int] = []

    def broken(environment_id: int) -> None:
        raise RuntimeError("listener bug")

    live.subscribe(broken)
    live.subscribe(received.append)

    live.publish_environment_change(7)  # does not raise

    assert received == [7]
    assert "listener bug" in caplog.text


def test_publishing_no_environment_does_nothing(broker: live.InProcessBroker) -> None:
    received: list[int] = []
    live.subscribe(received.append)

    live.publish_environment_change(None)

    assert received == []


def test_a_broken_broker_never_fails_the_publishing_use_case(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenBroker:
        def publish(self, environment_id: int) -> None:
            raise ConnectionError("broker down")

        def subscribe(self, callback: live.ChangeListener) -> live.Unsubscribe:
            return lambda: None

    live.set_broker(BrokenBroker())
    try:
        live.publish_environment_change(1)
    finally:
        live.set_broker(None)
    assert "broker down" in caplog.text


def test_publish_and_subscribe_from_many_threads_at_once(broker: live.InProcessBroker) -> None:
    counts: dict[int, int] = {}
    counts_lock = threading.Lock()

    def count(environment_id: int) -> None:
        with counts_lock:
            counts[environment_id] = counts.get(environment_id, 0) + 1

    live.subscribe(count)
    start = threading.Barrier(12)

    def publisher(environment_id: int) -> None:
        start.wait()
        for _ in range(200):
            live.publish_environment_change(environment_id)

    def churner() -> None:
        start.wait()
        for _ in range(200):
            live.subscribe(lambda environment_id: None)()  # subscribe and unsubscribe at once

    threads = [threading.Thread(target=publisher, args=(number,)) for number in range(8)]
    threads += [threading.Thread(target=churner) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counts == {number: 200 for number in range(8)}
    assert broker.listener_count == 1


def test_the_process_broker_is_created_once(broker: live.InProcessBroker) -> None:
    live.set_broker(None)
    assert live.get_broker() is live.get_broker()
    assert isinstance(live.get_broker(), live.InProcessBroker)


# --- the registry of open tabs ---------------------------------------------------------------------


class DashboardView:
    """Stands for a page state class registered for live refreshes."""


class BellView:
    """Another one."""


def test_tabs_are_registered_per_environment_with_their_views() -> None:
    registry = LiveSessions()
    registry.watch("tab-1", environment_id=1, view=DashboardView)
    registry.watch("tab-1", environment_id=1, view=BellView)
    registry.watch("tab-2", environment_id=1, view=BellView)
    registry.watch("tab-3", environment_id=2, view=DashboardView)

    assert sorted(registry.tokens_of(1)) == ["tab-1", "tab-2"]
    assert registry.tokens_of(2) == ["tab-3"]
    assert registry.tokens_of(9) == []
    assert set(registry.views_of("tab-1", environment_id=1)) == {DashboardView, BellView}
    assert registry.views_of("tab-1", environment_id=2) == ()


def test_a_tab_that_logs_in_to_another_environment_moves() -> None:
    registry = LiveSessions()
    registry.watch("tab", environment_id=1, view=DashboardView)

    registry.watch("tab", environment_id=2, view=BellView)

    assert registry.tokens_of(1) == []
    assert registry.tokens_of(2) == ["tab"]
    assert registry.views_of("tab", environment_id=2) == (BellView,)


def test_views_on_every_page_are_watched_in_every_tab() -> None:
    registry = LiveSessions()
    registry.watch("before", environment_id=1, view=DashboardView)
    registry.watch_everywhere(BellView)
    registry.watch("page", environment_id=1, view=DashboardView)
    registry.watch("frame-only", environment_id=2)  # AuthState.require_login registers just the frame

    assert set(registry.views_of("page", environment_id=1)) == {DashboardView, BellView}
    assert registry.views_of("frame-only", environment_id=2) == (BellView,)
    registry.watch("before", environment_id=1)  # the next on_load adds it
    assert set(registry.views_of("before", environment_id=1)) == {DashboardView, BellView}


def test_forget_and_the_disconnected_grace_period() -> None:
    registry = LiveSessions()
    registry.watch("gone", environment_id=1, view=DashboardView)
    registry.watch("back", environment_id=1, view=DashboardView)
    registry.watch("forgotten", environment_id=1, view=DashboardView)

    assert registry.mark_disconnected("gone", now=100.0, grace=60) is False
    assert registry.mark_disconnected("back", now=100.0, grace=60) is False
    registry.mark_connected("back")
    assert registry.mark_disconnected("back", now=170.0, grace=60) is False  # counts from 170 again
    assert registry.mark_disconnected("gone", now=170.0, grace=60) is True
    registry.forget("forgotten")
    registry.forget("never registered")

    assert registry.tokens_of(1) == ["back"]
    assert len(registry) == 1


# --- the pusher: thread hand-off, coalescing, isolation --------------------------------------------


class RecordingRefresh:
    """A fake per-tab refresh that records its calls and can be held open."""

    def __init__(self, *, keep: bool = True) -> None:
        self.calls: list[tuple[str, int, tuple[type, ...]]] = []
        self.keep = keep
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None
        self.fail_for: set[str] = set()

    async def __call__(self, token: str, environment_id: int, views: tuple[type, ...]) -> bool:
        self.calls.append((token, environment_id, views))
        self.started.set()
        if self.release is not None:
            await self.release.wait()
        if token in self.fail_for:
            raise RuntimeError(f"refresh of {token} failed")
        return self.keep


def _pusher(registry: LiveSessions, refresh: RecordingRefresh) -> LivePusher:
    return LivePusher(loop=asyncio.get_running_loop(), registry=registry, refresh=refresh, coalesce_seconds=0)


def test_a_change_published_from_a_worker_thread_refreshes_only_that_environments_tabs() -> None:
    registry = LiveSessions()
    registry.watch("firm-tab", environment_id=1, view=DashboardView)
    registry.watch("firm-tab-2", environment_id=1, view=BellView)
    registry.watch("other-tab", environment_id=2, view=DashboardView)

    async def scenario() -> RecordingRefresh:
        refresh = RecordingRefresh()
        pusher = _pusher(registry, refresh)
        broker = live.InProcessBroker()
        broker.subscribe(pusher.notify)
        await asyncio.to_thread(broker.publish, 1)
        await asyncio.wait_for(refresh.started.wait(), timeout=5)
        await pusher.idle()
        return refresh

    refresh = asyncio.run(scenario())

    assert sorted(refresh.calls) == [("firm-tab", 1, (DashboardView,)), ("firm-tab-2", 1, (BellView,))]


def test_a_burst_of_changes_gives_one_refresh_per_tab() -> None:
    registry = LiveSessions()
    registry.watch("tab", environment_id=1, view=DashboardView)

    async def scenario() -> RecordingRefresh:
        refresh = RecordingRefresh()
        pusher = _pusher(registry, refresh)
        for _ in range(50):  # all queued before the refresh task gets its first turn
            pusher.notify(1)
        await pusher.idle()
        return refresh

    assert len(asyncio.run(scenario()).calls) == 1


def test_a_burst_from_another_thread_runs_one_refresh_at_a_time_and_ends_with_the_latest() -> None:
    registry = LiveSessions()
    registry.watch("tab", environment_id=1, view=DashboardView)
    changes = 500
    published = 0  # written by the publishing thread before each notify
    running = 0
    most_at_once = 0
    seen_at_start: list[int] = []

    async def refresh(token: str, environment_id: int, views: tuple[type, ...]) -> bool:
        nonlocal running, most_at_once
        seen_at_start.append(published)
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0)
        running -= 1
        return True

    async def scenario() -> None:
        pusher = LivePusher(
            loop=asyncio.get_running_loop(), registry=registry, refresh=refresh, coalesce_seconds=0
        )

        def burst() -> None:
            nonlocal published
            for _ in range(changes):
                published += 1
                pusher.notify(1)

        await asyncio.to_thread(burst)
        await pusher.idle()

    asyncio.run(scenario())

    assert most_at_once == 1
    assert 1 <= len(seen_at_start) <= changes
    # The last refresh started after the last change was published: none is lost.
    assert seen_at_start[-1] == changes


def test_changes_during_a_refresh_give_exactly_one_more() -> None:
    registry = LiveSessions()
    registry.watch("tab", environment_id=1, view=DashboardView)

    async def scenario() -> RecordingRefresh:
        refresh = RecordingRefresh()
        refresh.release = asyncio.Event()
        pusher = _pusher(registry, refresh)
        pusher.notify(1)
        await asyncio.wait_for(refresh.started.wait(), timeout=5)  # the first refresh is running
        for _ in range(5):
            pusher.notify(1)
        await asyncio.sleep(0)
        refresh.release.set()
        await pusher.idle()
        return refresh

    assert len(asyncio.run(scenario()).calls) == 2


def test_a_tab_whose_refresh_says_so_is_forgotten() -> None:
    registry = LiveSessions()
    registry.watch("logged-out-tab", environment_id=1, view=DashboardView)

    async def scenario() -> None:
        pusher = _pusher(registry, RecordingRefresh(keep=False))
        pusher.notify(1)
        await pusher.idle()

    asyncio.run(scenario())

    assert registry.tokens_of(1) == []


def test_one_failing_tab_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    registry = LiveSessions()
    for token in ("a", "b", "c"):
        registry.watch(token, environment_id=1, view=DashboardView)

    async def scenario() -> RecordingRefresh:
        refresh = RecordingRefresh()
        refresh.fail_for = {"b"}
        pusher = _pusher(registry, refresh)
        pusher.notify(1)
        await pusher.idle()
        return refresh

    refresh = asyncio.run(scenario())

    assert sorted(token for token, _, _ in refresh.calls) == ["a", "b", "c"]
    assert "refresh of b failed" in caplog.text
    assert sorted(registry.tokens_of(1)) == ["a", "b", "c"]  # a failure is not a reason to forget


def test_notify_after_the_loop_closed_is_harmless() -> None:
    loop = asyncio.new_event_loop()
    pusher = LivePusher(loop=loop, registry=LiveSessions(), refresh=RecordingRefresh())
    loop.close()

    pusher.notify(1)  # does not raise


def test_no_more_than_the_allowed_number_of_tabs_refresh_at_once() -> None:
    registry = LiveSessions()
    for number in range(20):
        registry.watch(f"tab-{number}", environment_id=1, view=DashboardView)
    running = 0
    most_at_once = 0
    refreshed: list[str] = []

    async def refresh(token: str, environment_id: int, views: tuple[type, ...]) -> bool:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        await asyncio.sleep(0.001)
        running -= 1
        refreshed.append(token)
        return True

    async def scenario() -> None:
        pusher = LivePusher(
            loop=asyncio.get_running_loop(),
            registry=registry,
            refresh=refresh,
            coalesce_seconds=0,
            max_concurrent=3,
        )
        pusher.notify(1)
        await pusher.idle()

    asyncio.run(scenario())

    assert most_at_once == 3
    assert sorted(refreshed) == sorted(f"tab-{number}" for number in range(20))


def test_a_quiet_tab_is_refreshed_at_once_and_a_burst_right_after_waits_for_the_window() -> None:
    registry = LiveSessions()
    registry.watch("tab", environment_id=1, view=DashboardView)
    started: list[float] = []

    async def refresh(token: str, environment_id: int, views: tuple[type, ...]) -> bool:
        started.append(asyncio.get_running_loop().time())
        return True

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        pusher = LivePusher(loop=loop, registry=registry, refresh=refresh, coalesce_seconds=0.5)
        notified = loop.time()
        pusher.notify(1)
        await pusher.idle()
        for _ in range(10):  # a burst just after the first refresh: one more, after the window
            pusher.notify(1)
        await pusher.idle()
        return notified

    notified = asyncio.run(scenario())

    assert len(started) == 2
    assert started[0] - notified < 0.4  # not held back by the coalescing window
    assert started[1] - started[0] >= 0.49


def test_tabs_of_one_change_read_a_shared_key_once_across_threads() -> None:
    reads = live_tabs.SharedReads()
    generation = reads.changed(1)
    reading = threading.Event()
    release = threading.Event()
    calls: list[int] = []

    def slow_read() -> tuple[int, ...]:
        calls.append(1)
        reading.set()
        release.wait(5)
        return (1, 2, 3)

    def tab() -> tuple[int, ...]:
        with live_tabs.pushing(1, generation, reads):
            return live_tabs.shared_read(("figures", 1), slow_read)

    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(tab)
        assert reading.wait(5)
        others = [pool.submit(tab) for _ in range(4)]
        release.set()
        answers = [first.result(5), *(other.result(5) for other in others)]

    assert calls == [1]
    assert answers == [(1, 2, 3)] * 5


def test_a_newer_change_is_read_afresh_and_an_older_refresh_shares_nothing() -> None:
    reads = live_tabs.SharedReads()
    old = reads.changed(1)
    with live_tabs.pushing(1, old, reads):
        assert live_tabs.shared_read("key", lambda: "before") == "before"
        assert live_tabs.shared_read("key", lambda: "not read") == "before"
    new = reads.changed(1)
    with live_tabs.pushing(1, new, reads):
        assert live_tabs.shared_read("key", lambda: "after") == "after"
    with live_tabs.pushing(1, old, reads):  # a tab still refreshing for the older change
        assert live_tabs.shared_read("key", lambda: "its own") == "its own"
    with live_tabs.pushing(2, reads.changed(2), reads):  # another environment shares nothing
        assert live_tabs.shared_read("key", lambda: "other") == "other"
    assert live_tabs.shared_read("key", lambda: "outside a push") == "outside a push"


def test_a_failed_shared_read_is_read_again_by_the_next_tab() -> None:
    reads = live_tabs.SharedReads()
    generation = reads.changed(1)

    def broken() -> str:
        raise RuntimeError("database went away")

    with live_tabs.pushing(1, generation, reads):
        with pytest.raises(RuntimeError):
            live_tabs.shared_read("key", broken)
        assert live_tabs.shared_read("key", lambda: "fine") == "fine"


def test_a_change_of_an_environment_without_tabs_keeps_nothing() -> None:
    reads = live_tabs.SharedReads()

    async def scenario() -> None:
        pusher = LivePusher(
            loop=asyncio.get_running_loop(), registry=LiveSessions(), refresh=RecordingRefresh(), reads=reads
        )
        reads.changed(7)
        pusher.notify(7)
        await pusher.idle()

    asyncio.run(scenario())

    assert reads.generation(7) == 0


# --- refresh_tab: the session's own login, its own environment -------------------------------------


class FakeView:
    """Stands for a page state: records for whom it was refreshed."""

    def __init__(self) -> None:
        self.refreshed_for: list[int] = []
        self.refreshed_on_threads: set[int] = set()

    def _live_refresh(self, db: Session, user: User) -> None:
        self.refreshed_for.append(user.id or 0)
        self.refreshed_on_threads.add(threading.get_ident())


class FakeRoot:
    """A tab's state tree (real app states) whose watched page is a FakeView."""

    def __init__(self, cookie: str) -> None:
        self.tree = rx.State(_reflex_internal_init=True)
        self.auth = self.tree.get_substate(AuthState.get_full_name().split("."))
        self.auth.session_cookie = cookie
        self.view = FakeView()

    async def get_state(self, cls: type) -> Any:
        return self.view if cls is FakeView else await self.tree.get_state(cls)


class FakeApp:
    """Just what refresh_tab uses of rx.App: the token manager and modify_state."""

    def __init__(self, roots: dict[str, FakeRoot], connected: set[str]) -> None:
        manager = SimpleNamespace(is_token_connected=self._is_connected)
        self.event_namespace = SimpleNamespace(_token_manager=manager, emit_update=self._emit_update)
        self.roots = roots
        self.connected = connected
        self.modified: list[str] = []
        self.sent: dict[str, list[str]] = {}  # token -> the events sent to that tab

    async def _emit_update(self, update: Any, token: str) -> None:
        self.sent.setdefault(token, []).extend(str(event) for event in update.events)

    async def _is_connected(self, token: str) -> bool:
        return token in self.connected

    @contextlib.asynccontextmanager
    async def modify_state(self, token: Any) -> AsyncIterator[FakeRoot]:
        self.modified.append(token.ident)
        yield self.roots[token.ident]


def _logged_in_user(session: Session, environment: Environment, *, email: str) -> tuple[User, str]:
    user = User(environment_id=environment.id, email=email, name="Ann", status=UserStatus.ACTIVE.value)
    session.add(user)
    session.flush()
    raw, token_hash = security.new_token()
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_hash,
            expires_at=utcnow() + timedelta(hours=1),
            last_seen_at=utcnow() - timedelta(minutes=5),
        )
    )
    session.commit()
    return user, raw


@pytest.fixture()
def tabs(session: Session, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    firm = Environment(name="Firm")
    other = Environment(name="Other")
    session.add_all([firm, other])
    session.commit()
    ann, ann_cookie = _logged_in_user(session, firm, email="ann@example.com")
    bob, bob_cookie = _logged_in_user(session, other, email="bob@example.com")
    monkeypatch.setattr(live_state, "db_session", lambda: contextlib.nullcontext(session))
    return SimpleNamespace(
        firm=firm, other=other, ann=ann, ann_cookie=ann_cookie, bob=bob, bob_cookie=bob_cookie
    )


def test_refresh_tab_rereads_with_the_tabs_own_user_without_touching_the_login(
    session: Session, tabs: SimpleNamespace
) -> None:
    root = FakeRoot(tabs.ann_cookie)
    app = FakeApp({"tab": root}, connected={"tab"})
    before = session.get(UserSession, 1)
    assert before is not None
    last_seen = before.last_seen_at

    keep = asyncio.run(live_state.refresh_tab(app, "tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]

    assert keep is True
    assert root.view.refreshed_for == [tabs.ann.id]
    # The queries ran in a worker thread: the event loop (here: this thread) served other tabs.
    assert root.view.refreshed_on_threads and threading.get_ident() not in root.view.refreshed_on_threads
    session.expire_all()
    assert session.get(UserSession, 1).last_seen_at == last_seen  # type: ignore[union-attr]


def test_refresh_tab_never_refreshes_a_tab_of_another_environment(tabs: SimpleNamespace) -> None:
    root = FakeRoot(tabs.bob_cookie)  # the tab is logged in to the other environment now
    app = FakeApp({"tab": root}, connected={"tab"})

    keep = asyncio.run(live_state.refresh_tab(app, "tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]

    assert keep is False
    assert root.view.refreshed_for == []


def test_a_tab_logged_out_elsewhere_is_emptied_and_sent_to_the_log_in_page_at_once(
    session: Session, tabs: SimpleNamespace
) -> None:
    user_session = session.get(UserSession, 1)
    assert user_session is not None
    user_session.revoked_at = utcnow()  # log-out in another tab, a password change
    session.commit()
    root = FakeRoot(tabs.ann_cookie)
    dashboard = root.tree.get_substate(DashboardState.get_full_name().split("."))
    dashboard.pending_requests, dashboard.loaded = 7, True  # what Ann's dashboard showed
    root.auth.signed_in, root.auth.user_name = True, "Ann"
    app = FakeApp({"tab": root}, connected={"tab"})

    keep = asyncio.run(live_state.refresh_tab(app, "tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]

    assert keep is False
    assert root.view.refreshed_for == []
    sent = " ".join(app.sent["tab"])
    assert "/login?next=" in sent and "You have been logged out." in sent
    # Nothing of Ann stays in the tab's state: a reconnect or a Back would show none of it.
    assert (dashboard.pending_requests, dashboard.loaded) == (0, False)
    assert (root.auth.signed_in, root.auth.user_name, root.auth.session_cookie) == (False, "", "")


def test_a_blocked_users_tab_is_told_so(session: Session, tabs: SimpleNamespace) -> None:
    user = session.get(User, tabs.ann.id)
    assert user is not None
    user.status = UserStatus.BLOCKED.value
    session.commit()
    root = FakeRoot(tabs.ann_cookie)
    app = FakeApp({"tab": root}, connected={"tab"})

    keep = asyncio.run(live_state.refresh_tab(app, "tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]

    assert keep is False
    assert "Your account has been blocked." in " ".join(app.sent["tab"])


def test_an_expired_session_says_so(session: Session, tabs: SimpleNamespace) -> None:
    user_session = session.get(UserSession, 1)
    assert user_session is not None
    user_session.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    root = FakeRoot(tabs.ann_cookie)
    app = FakeApp({"tab": root}, connected={"tab"})

    asyncio.run(live_state.refresh_tab(app, "tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]

    assert "Your session has expired. Log in again." in " ".join(app.sent["tab"])


def test_a_tab_logged_out_by_itself_is_forgotten_without_a_second_message(tabs: SimpleNamespace) -> None:
    root = FakeRoot("")  # its own log-out emptied the cookie
    app = FakeApp({"tab": root}, connected={"tab"})

    keep = asyncio.run(live_state.refresh_tab(app, "tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]

    assert keep is False
    assert app.sent == {}


def test_refresh_tab_leaves_a_disconnected_tab_alone(tabs: SimpleNamespace) -> None:
    live_tabs.live_sessions.watch("offline-tab", environment_id=tabs.firm.id, view=FakeView)
    app = FakeApp({"offline-tab": FakeRoot(tabs.ann_cookie)}, connected=set())
    try:
        keep = asyncio.run(live_state.refresh_tab(app, "offline-tab", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]
    finally:
        live_tabs.live_sessions.forget("offline-tab")

    assert keep is True  # kept for the grace period: it may reconnect
    assert app.modified == []  # its state was not loaded, created or changed


# --- several workers: the Redis broker's local side, resync, which worker refreshes a tab ---------


def test_the_process_broker_is_in_process_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    from econnect_app import settings

    configured = settings.load_settings()
    monkeypatch.setattr(settings, "get_settings", lambda: dataclasses.replace(configured, redis_url=None))
    live.set_broker(None)
    try:
        assert isinstance(live.get_broker(), live.InProcessBroker)
        live.subscribe_resync(lambda: None)()  # harmless without Redis
        live.shutdown()
    finally:
        live.set_broker(None)


def test_the_process_broker_uses_redis_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from econnect_app import settings

    configured = settings.load_settings()
    url = "redis://127.0.0.1:1/4"  # never contacted: nothing is published or subscribed here
    monkeypatch.setattr(settings, "get_settings", lambda: dataclasses.replace(configured, redis_url=url))
    live.set_broker(None)
    try:
        broker = live.get_broker()
        assert isinstance(broker, live.RedisBroker)
        assert broker.channel == "econnect:environment-changes:4"
    finally:
        live.set_broker(None)


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("redis://127.0.0.1:6379", "econnect:environment-changes:0"),
        ("redis://127.0.0.1:6379/0", "econnect:environment-changes:0"),
        ("redis://:secret@127.0.0.1:6379/11", "econnect:environment-changes:11"),
    ],
)
def test_each_redis_database_has_its_own_channel(url: str, channel: str) -> None:
    assert live.channel_for(url) == channel


def test_redis_broker_delivers_other_workers_messages_once_and_ignores_its_own_and_garbage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = live.RedisBroker("redis://127.0.0.1:1/0")
    received: list[int] = []
    broker._local.subscribe(received.append)  # the local side only: no thread, no network

    broker._deliver(b"another-worker:12")
    broker._deliver(f"{broker.origin}:13".encode())  # published here: delivered at publish time
    broker._deliver(b"another-worker:not-a-number")
    broker._deliver("no-origin-at-all")

    assert received == [12]
    assert "malformed" in caplog.text


def test_redis_broker_publish_delivers_locally_at_once_and_never_raises_when_redis_is_down() -> None:
    broker = live.RedisBroker("redis://127.0.0.1:1/0", max_pending=2)  # nothing listens on port 1
    received: list[int] = []
    broker._local.subscribe(received.append)
    try:
        for environment_id in (1, 2, 3, 1):
            broker.publish(environment_id)
    finally:
        broker.close()

    assert received == [1, 2, 3, 1]


def test_a_resync_refreshes_every_registered_tab_once() -> None:
    registry = LiveSessions()
    registry.watch("firm-tab", environment_id=1, view=DashboardView)
    registry.watch("firm-tab-2", environment_id=1, view=BellView)
    registry.watch("other-tab", environment_id=2, view=DashboardView)

    async def scenario() -> RecordingRefresh:
        refresh = RecordingRefresh()
        pusher = _pusher(registry, refresh)
        await asyncio.to_thread(pusher.notify_all)
        await asyncio.wait_for(refresh.started.wait(), timeout=5)
        await pusher.idle()
        return refresh

    refresh = asyncio.run(scenario())

    assert sorted(token for token, _, _ in refresh.calls) == ["firm-tab", "firm-tab-2", "other-tab"]
    assert registry.environments() == [1, 2]


def test_watch_registers_the_page_the_bell_and_the_confirmation_notice() -> None:
    class PageState:
        router = SimpleNamespace(session=SimpleNamespace(client_token="tab-watch"))

    try:
        live_tabs.watch(PageState(), environment_id=5)  # type: ignore[arg-type]
        views = set(live_tabs.live_sessions.views_of("tab-watch", environment_id=5))
    finally:
        live_tabs.live_sessions.forget("tab-watch")

    assert views == {PageState, NotificationsState, EmailConfirmationState}


class TwoWorkerApp(FakeApp):
    """A token manager like Reflex's Redis one: records of sockets on this and other workers."""

    def __init__(self, roots: dict[str, FakeRoot], *, here: set[str], elsewhere: set[str]) -> None:
        super().__init__(roots, connected=here | elsewhere)
        records = {token: SimpleNamespace(instance_id="this-worker", sid=token) for token in here}
        records |= {token: SimpleNamespace(instance_id="other-worker", sid=token) for token in elsewhere}
        self.event_namespace._token_manager.token_to_socket = records
        self.event_namespace._token_manager.instance_id = "this-worker"


def test_only_the_worker_holding_the_tabs_socket_refreshes_it(tabs: SimpleNamespace) -> None:
    app = TwoWorkerApp(
        {"here": FakeRoot(tabs.ann_cookie), "moved": FakeRoot(tabs.ann_cookie)},
        here={"here"},
        elsewhere={"moved"},
    )
    live_tabs.live_sessions.watch("moved", environment_id=tabs.firm.id, view=FakeView)
    try:
        keep_here = asyncio.run(live_state.refresh_tab(app, "here", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]
        keep_moved = asyncio.run(live_state.refresh_tab(app, "moved", tabs.firm.id, (FakeView,)))  # type: ignore[arg-type]
    finally:
        live_tabs.live_sessions.forget("moved")

    assert keep_here is True and keep_moved is True  # the moved one is forgotten after the grace period
    assert app.modified == ["here"]  # the other worker refreshes "moved": it ran its on_load there


def test_a_stopping_worker_closes_its_websockets_so_browsers_reconnect_elsewhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Engine:
        def __init__(self, sockets: int, *, broken: bool = False) -> None:
            self.sockets = {f"sid-{number}": object() for number in range(sockets)}
            self.broken = broken

        async def disconnect(self) -> None:  # engine.io: closes the transports of every client
            if self.broken:
                raise ConnectionError("transport gone")
            self.sockets = {}

    open_engine, idle_engine, broken_engine = Engine(3), Engine(0), Engine(2, broken=True)

    def app_with(engine: Engine | None) -> Any:
        return SimpleNamespace(sio=SimpleNamespace(eio=engine) if engine else None)

    assert asyncio.run(live_state.close_websockets(app_with(open_engine))) == 3
    assert open_engine.sockets == {}
    assert asyncio.run(live_state.close_websockets(app_with(idle_engine))) == 0
    assert asyncio.run(live_state.close_websockets(app_with(None))) == 0
    assert asyncio.run(live_state.close_websockets(app_with(broken_engine))) == 2  # does not raise
    assert "transport gone" in caplog.text
