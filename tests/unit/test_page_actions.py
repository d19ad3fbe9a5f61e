"""The one way page states load and act (``AuthState._act`` / ``_load``, state/auth.py): the work
runs in a worker thread while the event loop goes on serving everyone else, the browser sees the
busy state first, refusals become messages, and a double submission is done once.

The handlers run on a real state tree with a real database, driven as Reflex drives them: the
async generator they return is iterated on an event loop, each item being one update sent.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import reflex as rx
from reflex_base.event import Event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import econnect_app.db as db_module
from econnect_app.models import Environment, Organisation, Role, User
from econnect_app.pages.organisations import OrganisationsState
from econnect_app.services import sessions
from econnect_app.services.errors import PermissionDenied, ValidationFailed
from econnect_app.state import auth as auth_state
from econnect_app.state.auth import ACTION_ID_FIELD
from econnect_app.state.off_loop import ThreadWithProgress, run_off_loop

WAIT_SECONDS = 10  # only ever reached when the code under test is broken


@pytest.fixture()
def app_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The page handlers open their sessions on the test database."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    return engine


@pytest.fixture()
def page(session: Session, app_db: Engine) -> OrganisationsState:
    """The /organisations state of a tab whose administrator is logged in."""
    environment = Environment(name="Firm")
    session.add(environment)
    session.commit()
    user = User(environment_id=environment.id, name="Ada", email="ada@example.com", role=Role.ADMINISTRATOR.value)
    session.add(user)
    session.commit()
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(OrganisationsState.get_full_name().split("."))
    assert isinstance(state, OrganisationsState)
    state.session_cookie = sessions.start_session(session, user=user)
    return state


async def _all(updates: AsyncIterator[Any]) -> list[Any]:
    return [update async for update in updates]


def _events(updates: list[Any]) -> str:
    """The events among the updates, as the browser gets them."""
    return " ".join(str(event) for update in updates if update is not None for event in Event.from_event_type(update))


def _form(state: OrganisationsState, **fields: str) -> dict[str, Any]:
    """The add-organisation form as the browser submits it (with its hidden action id field)."""
    return {ACTION_ID_FIELD: f"OrganisationsState.add_organisation:{state.action_id}", **fields}


def _add(state: OrganisationsState, form: dict[str, Any]) -> list[Any]:
    return asyncio.run(_all(OrganisationsState.event_handlers["add_organisation"].fn(state, form)))


def test_the_work_runs_in_a_worker_thread_while_the_event_loop_serves_others(page: OrganisationsState) -> None:
    started, release = threading.Event(), threading.Event()
    action_threads: list[int] = []

    def slow_action(db: Session, actor: User) -> Any:
        action_threads.append(threading.get_ident())
        started.set()
        # Only the event loop sets `release`: if the action ran on the loop, nothing would.
        if not release.wait(WAIT_SECONDS):
            raise AssertionError("the event loop was blocked while the action worked")
        return rx.toast.success(f"Done for {actor.email}")

    async def scenario() -> tuple[int, list[Any]]:
        updates = page._act(slow_action, busy_with="slow")
        first = await anext(updates)  # the busy state goes to the browser before the work starts
        assert first is None and page.busy and page.busy_with == "slow"
        rest = asyncio.ensure_future(_all(updates))
        await asyncio.to_thread(started.wait, WAIT_SECONDS)
        # The action is working; this coroutine (another tab, say) runs on the loop meanwhile.
        assert not rest.done()
        release.set()
        return threading.get_ident(), await rest

    loop_thread, rest = asyncio.run(scenario())

    assert action_threads and action_threads[0] != loop_thread
    assert "Done for ada@example.com" in _events(rest)
    assert not page.busy and page.busy_with == ""


def test_loading_shows_no_busy_state_and_reads_off_the_loop(page: OrganisationsState) -> None:
    threads: list[int] = []

    def read(db: Session, actor: User) -> None:
        threads.append(threading.get_ident())
        page._refresh(db, actor)

    async def scenario() -> tuple[int, list[Any]]:
        updates = page._load(read)
        await anext(updates)
        assert not page.busy
        return threading.get_ident(), await _all(updates)

    loop_thread, _ = asyncio.run(scenario())

    assert threads and threads[0] != loop_thread
    assert page.loaded and page.rows == []


def test_a_live_page_follows_changes_before_it_reads_so_none_is_missed_in_between(
    page: OrganisationsState, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    monkeypatch.setattr(auth_state, "watch", lambda state, *, environment_id: steps.append("follows changes"))
    read = OrganisationsState._live_refresh

    def reading(self: OrganisationsState, db: Session, actor: User) -> None:
        steps.append("reads")
        read(self, db, actor)

    monkeypatch.setattr(OrganisationsState, "_live_refresh", reading)

    asyncio.run(_all(page._load_live()))

    # A change committed while the page reads is pushed to the tab afterwards (the push waits for
    # the tab's state); registered after the read, the tab would never hear of it.
    assert steps == ["follows changes", "reads"]
    assert page.loaded


def test_a_double_submission_adds_one_organisation(page: OrganisationsState, session: Session) -> None:
    form = _form(page, name="Kok Catering BV", kvk_number="12345678", city="Utrecht")

    first = _add(page, form)
    second = _add(page, form)  # the same submission again: a double click

    assert "Kok Catering BV was added" in _events(first)
    assert second == []  # ignored: no error either
    assert [row.name for row in page.rows] == ["Kok Catering BV"]
    assert len(session.exec(select(Organisation)).all()) == 1
    assert page.field_errors == {}

    # The next submission carries the new action id the browser got: it is done.
    third = _add(page, _form(page, name="Kok Events BV", kvk_number="87654321", city="Utrecht"))
    assert "Kok Events BV was added" in _events(third)
    assert len(session.exec(select(Organisation)).all()) == 2


def test_the_same_action_id_on_another_row_is_another_action(page: OrganisationsState) -> None:
    ran: list[str] = []

    def record(name: str) -> Callable[[Session, User], None]:
        return lambda db, actor: ran.append(name)

    action_id = page.action_id
    asyncio.run(_all(page._act(record("row 1"), busy_with="activate-1", action_id=action_id)))
    asyncio.run(_all(page._act(record("row 2"), busy_with="activate-2", action_id=action_id)))
    asyncio.run(_all(page._act(record("row 1 again"), busy_with="activate-1", action_id=action_id)))

    assert ran == ["row 1", "row 2"]


def test_refusals_become_field_errors_or_an_error_toast(page: OrganisationsState) -> None:
    def invalid(db: Session, actor: User) -> None:
        raise ValidationFailed({"name": "Enter the name."})

    def forbidden(db: Session, actor: User) -> None:
        raise PermissionDenied("Only administrators can do this.")

    asyncio.run(_all(page._act(invalid)))
    assert page.field_errors == {"name": "Enter the name."}
    assert not page.busy

    updates = asyncio.run(_all(page._act(forbidden)))
    assert page.field_errors == {}
    assert "Only administrators can do this." in _events(updates)


def test_an_invalid_session_goes_to_the_log_in_page(page: OrganisationsState) -> None:
    page.session_cookie = "not-a-session"
    ran: list[bool] = []

    updates = asyncio.run(_all(page._act(lambda db, actor: ran.append(True))))

    assert ran == []
    assert "/login?next=" in _events(updates)
    assert not page.signed_in


def test_a_failing_action_ends_the_busy_state_before_the_error_is_reported(page: OrganisationsState) -> None:
    def broken(db: Session, actor: User) -> None:
        raise RuntimeError("bug")

    async def scenario() -> list[bool]:
        busy_seen = []
        with pytest.raises(RuntimeError, match="bug"):
            async for _ in page._act(broken):
                busy_seen.append(page.busy)
        return busy_seen

    assert asyncio.run(scenario()) == [True, False]  # busy on, then off (sent) before the error
    assert not page.busy


def test_long_work_reports_its_latest_progress_and_then_its_result() -> None:
    reported, release = threading.Event(), threading.Event()

    def work(on_progress: Callable[[int, int], None]) -> str:
        on_progress(1, 3)
        reported.set()
        release.wait(WAIT_SECONDS)
        on_progress(2, 3)
        on_progress(3, 3)
        return "3 imported"

    async def scenario() -> tuple[list[tuple[int, int]], str]:
        task = ThreadWithProgress(work)
        seen = []
        async for progress in task.progress():
            seen.append(progress)
            release.set()  # the first report arrived while the work went on
        return seen, await task.result()

    seen, result = asyncio.run(scenario())

    assert reported.is_set()
    assert seen[0] == (1, 3)
    assert seen == sorted(seen) and len(seen) <= 3
    assert result == "3 imported"


def test_long_work_shows_its_progress_at_a_pace_that_never_delays_its_end() -> None:
    release = threading.Event()

    def work(on_progress: Callable[[int, int], None]) -> str:
        on_progress(1, 1000)
        release.wait(WAIT_SECONDS)
        for done in range(2, 1001):  # reported within the pause after the first update: none shown
            on_progress(done, 1000)
        return "1000 imported"

    async def scenario() -> tuple[list[tuple[int, int]], str]:
        task = ThreadWithProgress(work)
        seen = []
        async for progress in task.progress(every=3600):  # an hour between updates at most
            seen.append(progress)
            release.set()
        return seen, await task.result()

    seen, result = asyncio.run(asyncio.wait_for(scenario(), timeout=WAIT_SECONDS))

    assert seen == [(1, 1000)]
    assert result == "1000 imported"  # the work's end ended the pause (not an hour later)


def test_long_work_raises_what_the_work_raised() -> None:
    def work(on_progress: Callable[[int, int], None]) -> None:
        raise ValidationFailed({"file": "The file is empty."})

    async def scenario() -> None:
        task = ThreadWithProgress(work)
        assert [progress async for progress in task.progress()] == []
        await task.result()

    with pytest.raises(ValidationFailed):
        asyncio.run(scenario())


def test_a_cancelled_handler_lets_go_of_the_state_only_once_its_thread_has_finished() -> None:
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def work() -> None:
        started.set()
        release.wait(WAIT_SECONDS)
        finished.append(True)

    async def scenario() -> None:
        handler = asyncio.ensure_future(run_off_loop(work))
        await asyncio.to_thread(started.wait, WAIT_SECONDS)
        handler.cancel()  # e.g. a page load superseded by a navigation
        for _ in range(5):  # give the cancellation every chance to end the handler early
            await asyncio.sleep(0)
        assert not handler.done(), "the handler ended while its thread still worked on the state"
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await handler
        assert finished == [True]

    asyncio.run(scenario())
