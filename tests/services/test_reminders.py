"""Automatic reminders to pending clients (``services/reminders.py``, ``reminders_worker.py``).

The clock is injected (``now=``): nothing sleeps. A request is sent for real (with its email), then
the pass runs at a chosen moment after it.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from datetime import datetime, timedelta

import pytest
from conftest_factories import activities, make_admin, make_environment, make_user, outbox
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import reminders_worker, security
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    OutboxMessage,
    Plan,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.services import authorisations, reminders
from econnect_app.services.authorisations import LinkReplaced, look_up_link
from econnect_app.services.errors import PermissionDenied, ValidationFailed

ACTIVATION_LINK = re.compile(r"(http://\S+/activate/([A-Za-z0-9_\-]+))")
PENDING = AuthorisationStatus.PENDING.value
DAY = timedelta(days=1)


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def package(session: Session) -> SoftwarePackage:
    row = SoftwarePackage(slug="exact-online", name="Exact Online", instructions="Set up.", sort_order=0)
    session.add(row)
    session.commit()
    return row


@pytest.fixture()
def firm(session: Session) -> Environment:
    return make_environment(session, name="De Vries Administratie", plan=Plan.BASIC.value)


@pytest.fixture()
def anna(session: Session, firm: Environment) -> User:
    return make_admin(session, firm, name="Anna de Vries", email="anna@devries.example")


@pytest.fixture()
def request_(session: Session, anna: User, package: SoftwarePackage) -> AuthorisationRequest:
    """A request to Piet, sent now (real clock) by Anna."""
    return authorisations.create_request(
        session,
        actor=anna,
        client_name="Piet",
        client_email="piet@example.com",
        software_package_id=package.id,  # type: ignore[arg-type]
        organisation_name="Bakkerij Piet BV",
    )


def fresh(session: Session, request: AuthorisationRequest) -> AuthorisationRequest:
    session.expire_all()
    row = session.get(AuthorisationRequest, request.id)
    assert row is not None
    return row


def sent_at(session: Session, request: AuthorisationRequest) -> datetime:
    return fresh(session, request).last_sent_at


def emails(session: Session) -> list[OutboxMessage]:
    return outbox(session, template="authorisation_request")


def token_of(message: OutboxMessage) -> str:
    match = ACTIVATION_LINK.search(message.text_body)
    assert match, message.text_body
    assert match.group(1) in message.html_body
    return match.group(2)


def set_reminders(session: Session, firm: Environment, every_days: int, max_reminders: int) -> None:
    row = session.get(Environment, firm.id, populate_existing=True)
    assert row is not None
    row.reminder_every_days, row.reminder_max = every_days, max_reminders
    session.add(row)
    session.commit()


# --- when a reminder is due ---------------------------------------------------------------------


def test_the_defaults_are_every_7_days_at_most_2_times(firm: Environment) -> None:
    assert (firm.reminder_every_days, firm.reminder_max) == (7, 2)


def test_no_reminder_before_the_interval_has_passed(session: Session, request_: AuthorisationRequest) -> None:
    start = sent_at(session, request_)
    assert reminders.send_due_reminders(session, now=start + 7 * DAY - timedelta(minutes=1)) == 0
    assert len(emails(session)) == 1
    assert fresh(session, request_).reminders_sent == 0


def test_a_due_reminder_is_a_resend_with_a_fresh_link_that_says_which_reminder_it_is(
    session: Session, request_: AuthorisationRequest, firm: Environment, anna: User
) -> None:
    [first] = emails(session)
    first_token = token_of(first)
    now = sent_at(session, request_) + 7 * DAY

    assert reminders.send_due_reminders(session, now=now) == 1

    row = fresh(session, request_)
    assert (row.status, row.reminders_sent, row.send_count, row.last_sent_at) == (PENDING, 1, 2, now)
    assert row.expires_at == now + timedelta(days=14)  # a resend: a new expiry
    _, reminder = emails(session)
    assert reminder.to_address == "piet@example.com"
    assert reminder.subject == "Reminder: De Vries Administratie asks for access to Bakkerij Piet BV on eConnect"
    assert "This is reminder 1 of 2." in reminder.text_body
    assert "This is reminder 1 of 2." in reminder.html_body
    assert "Anna de Vries of De Vries Administratie asks for access" in reminder.text_body
    assert "This is reminder" not in first.text_body
    new_token = token_of(reminder)
    assert new_token != first_token
    # The new link works, the old one says it was replaced.
    assert look_up_link(session, token=new_token).request_id == request_.id
    with pytest.raises(LinkReplaced):
        look_up_link(session, token=first_token)
    links = session.exec(
        select(AuthorisationLink).where(AuthorisationLink.request_id == request_.id).order_by(AuthorisationLink.id)
    ).all()
    assert [link.voided_at is None for link in links] == [False, True]
    assert links[1].token_hash == security.hash_token(new_token)
    [entry] = activities(session, action="authorisation.reminded")
    assert entry.summary == (
        "Automatic reminder 1 of 2 sent to Piet (piet@example.com) for Bakkerij Piet BV."
    )
    assert (entry.environment_id, entry.actor_user_id, entry.subject_id) == (firm.id, None, request_.id)


def test_reminders_stop_at_the_most_allowed(session: Session, request_: AuthorisationRequest) -> None:
    start = sent_at(session, request_)
    assert reminders.send_due_reminders(session, now=start + 7 * DAY) == 1
    assert reminders.send_due_reminders(session, now=start + 13 * DAY) == 0  # 6 days after the first
    assert reminders.send_due_reminders(session, now=start + 14 * DAY) == 1
    assert reminders.send_due_reminders(session, now=start + 21 * DAY) == 0  # 2 of 2 sent
    assert "This is reminder 2 of 2." in emails(session)[-1].text_body
    assert len(emails(session)) == 3
    assert fresh(session, request_).reminders_sent == 2
    assert [entry.summary.split(" sent")[0] for entry in activities(session, action="authorisation.reminded")] == [
        "Automatic reminder 1 of 2",
        "Automatic reminder 2 of 2",
    ]


@pytest.mark.parametrize(("every_days", "max_reminders"), [(0, 2), (7, 0)])
def test_reminders_can_be_turned_off(
    session: Session, request_: AuthorisationRequest, firm: Environment, every_days: int, max_reminders: int
) -> None:
    set_reminders(session, firm, every_days, max_reminders)
    assert reminders.send_due_reminders(session, now=sent_at(session, request_) + 10 * DAY) == 0
    assert len(emails(session)) == 1


def test_the_interval_and_the_most_come_from_the_environment(
    session: Session, request_: AuthorisationRequest, firm: Environment
) -> None:
    set_reminders(session, firm, 3, 1)
    start = sent_at(session, request_)
    assert reminders.send_due_reminders(session, now=start + 3 * DAY - timedelta(seconds=1)) == 0
    assert reminders.send_due_reminders(session, now=start + 3 * DAY) == 1
    assert "This is reminder 1 of 1." in emails(session)[-1].text_body
    assert reminders.send_due_reminders(session, now=start + 6 * DAY) == 0


def test_a_manual_resend_postpones_the_next_reminder(
    session: Session, request_: AuthorisationRequest, anna: User
) -> None:
    row = fresh(session, request_)
    row.last_sent_at -= 3 * DAY  # sent three days ago ...
    session.add(row)
    session.commit()
    authorisations.resend_request(session, actor=anna, request_id=request_.id)  # ... resent now
    resent = sent_at(session, request_)

    assert reminders.send_due_reminders(session, now=resent + 4 * DAY) == 0  # 7 days after the first send
    assert reminders.send_due_reminders(session, now=resent + 7 * DAY) == 1
    assert fresh(session, request_).reminders_sent == 1


def test_a_reminder_does_not_wait_for_the_resend_limits(
    session: Session, request_: AuthorisationRequest, anna: User
) -> None:
    """Five manual sends in a day would block a sixth Resend; the reminder still goes out."""
    for _ in range(4):
        row = fresh(session, request_)
        row.last_sent_at -= timedelta(minutes=11)
        session.add(row)
        session.commit()
        authorisations.resend_request(session, actor=anna, request_id=request_.id)
    assert fresh(session, request_).send_count == 5
    assert reminders.send_due_reminders(session, now=sent_at(session, request_) + 7 * DAY) == 1


@pytest.mark.parametrize("status", ["Accepted", "Declined", "Withdrawn", "Expired"])
def test_answered_withdrawn_or_expired_requests_are_not_reminded(
    session: Session, request_: AuthorisationRequest, status: str
) -> None:
    row = fresh(session, request_)
    row.status = status
    session.add(row)
    session.commit()
    assert reminders.send_due_reminders(session, now=row.last_sent_at + 7 * DAY) == 0
    assert len(emails(session)) == 1
    assert activities(session, action="authorisation.reminded") == []


def test_a_request_past_its_expiry_is_not_reminded(
    session: Session, request_: AuthorisationRequest, firm: Environment
) -> None:
    set_reminders(session, firm, 20, 2)  # the first reminder would be due after the request expired
    assert reminders.send_due_reminders(session, now=sent_at(session, request_) + 20 * DAY) == 0
    assert len(emails(session)) == 1


def test_no_reminders_on_a_plan_without_partnerships(
    session: Session, request_: AuthorisationRequest, firm: Environment
) -> None:
    row = session.get(Environment, firm.id)
    assert row is not None
    row.plan = Plan.INVOICE_PORTAL.value
    session.add(row)
    session.commit()
    assert reminders.send_due_reminders(session, now=sent_at(session, request_) + 7 * DAY) == 0


def test_two_passes_at_once_send_one_reminder(
    session: Session, engine: Engine, request_: AuthorisationRequest
) -> None:
    """Both workers read the request as due; the conditional UPDATE lets only the first one send."""
    now = sent_at(session, request_) + 7 * DAY
    with Session(engine) as first, Session(engine) as second:
        [due_first] = reminders.due_reminders(first, now=now)
        [due_second] = reminders.due_reminders(second, now=now)
        seen_first = first.get(AuthorisationRequest, due_first)
        seen_second = second.get(AuthorisationRequest, due_second)
        assert seen_first is not None and seen_second is not None
        assert reminders.send_reminder(first, seen_first, now=now) is True
        assert seen_second.reminders_sent == 0  # the second worker's stale copy: still due to it
        assert reminders.send_reminder(second, seen_second, now=now) is False
    assert fresh(session, request_).reminders_sent == 1
    assert len(emails(session)) == 2
    assert len(activities(session, action="authorisation.reminded")) == 1


def test_a_reminder_loses_against_a_resend_made_after_it_was_read(
    session: Session, engine: Engine, request_: AuthorisationRequest, anna: User
) -> None:
    row = fresh(session, request_)
    row.last_sent_at -= 8 * DAY
    session.add(row)
    session.commit()
    now = utcnow()
    with Session(engine) as worker:
        seen = worker.get(AuthorisationRequest, request_.id)
        assert seen is not None
        authorisations.resend_request(session, actor=anna, request_id=request_.id)
        assert reminders.send_reminder(worker, seen, now=now) is False
    assert fresh(session, request_).reminders_sent == 0
    assert activities(session, action="authorisation.reminded") == []


# --- the backend's pass -------------------------------------------------------------------------


def test_one_pass_sends_the_due_reminders_then_nothing(
    session: Session, engine: Engine, request_: AuthorisationRequest
) -> None:
    now = sent_at(session, request_) + 7 * DAY
    assert reminders_worker.send_reminders_once(engine, now=now) == 1
    assert reminders_worker.send_reminders_once(engine, now=now) == 0
    assert fresh(session, request_).reminders_sent == 1


def test_on_postgresql_one_worker_at_a_time_runs_the_pass(
    session: Session, engine: Engine, request_: AuthorisationRequest
) -> None:
    """While another worker holds the pass's advisory lock, this worker's pass sends nothing."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's (SQLite has a single writer)")
    now = sent_at(session, request_) + 7 * DAY
    key = {"key": reminders_worker.ADVISORY_LOCK_KEY}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other_worker:
        assert other_worker.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar() is True
        assert reminders_worker.send_reminders_once(engine, now=now) == 0
        other_worker.execute(text("SELECT pg_advisory_unlock(:key)"), key)
    assert reminders_worker.send_reminders_once(engine, now=now) == 1
    assert reminders_worker.send_reminders_once(engine, now=now) == 0  # the lock was released


def test_the_loop_sends_due_reminders_and_stops_when_cancelled(
    session: Session, engine: Engine, request_: AuthorisationRequest
) -> None:
    row = fresh(session, request_)
    row.last_sent_at -= 8 * DAY
    session.add(row)
    session.commit()

    async def scenario() -> None:
        task = asyncio.create_task(reminders_worker.reminder_loop(engine=engine, interval_seconds=0.01))
        for _ in range(500):
            if fresh(session, request_).reminders_sent:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert fresh(session, request_).reminders_sent == 1
    assert len(activities(session, action="authorisation.reminded")) == 1


def test_the_loop_is_a_lifespan_task_that_receives_the_app() -> None:
    parameters = inspect.signature(reminders_worker.reminder_loop).parameters
    assert "app" in parameters
    assert all(parameter.default is not inspect.Parameter.empty for parameter in parameters.values())
    assert reminders_worker.REMINDER_INTERVAL_SECONDS == 600


# --- the settings (Administrators) --------------------------------------------------------------


def test_an_administrator_saves_the_reminder_settings(session: Session, anna: User, firm: Environment) -> None:
    saved = reminders.update_reminder_settings(session, actor=anna, every_days="3", max_reminders=" 5 ")
    assert (saved.every_days, saved.max_reminders) == (3, 5)
    row = session.get(Environment, firm.id, populate_existing=True)
    assert row is not None and (row.reminder_every_days, row.reminder_max) == (3, 5)
    [entry] = activities(session, action="environment.reminders_updated")
    assert entry.summary == (
        "Anna de Vries set automatic reminders to pending clients to every 3 days, at most 5 times "
        "(were every 7 days, at most 2 times)."
    )
    assert reminders.reminder_settings(session, actor=anna) == saved

    reminders.update_reminder_settings(session, actor=anna, every_days=0, max_reminders=5)
    assert activities(session, action="environment.reminders_updated")[-1].summary == (
        "Anna de Vries turned automatic reminders to pending clients off."
    )
    reminders.update_reminder_settings(session, actor=anna, every_days=0, max_reminders=5)  # unchanged
    assert len(activities(session, action="environment.reminders_updated")) == 2


@pytest.mark.parametrize(
    ("every_days", "max_reminders", "errors"),
    [
        ("61", "2", {"reminder_every_days": reminders.EVERY_DAYS_MESSAGE}),
        ("-1", "2", {"reminder_every_days": reminders.EVERY_DAYS_MESSAGE}),
        ("1.5", "2", {"reminder_every_days": reminders.EVERY_DAYS_MESSAGE}),
        ("", "2", {"reminder_every_days": reminders.EVERY_DAYS_MESSAGE}),
        ("seven", "2", {"reminder_every_days": reminders.EVERY_DAYS_MESSAGE}),
        ("7", "11", {"reminder_max": reminders.MAX_MESSAGE}),
        ("7", "-1", {"reminder_max": reminders.MAX_MESSAGE}),
        ("x", "", {"reminder_every_days": reminders.EVERY_DAYS_MESSAGE, "reminder_max": reminders.MAX_MESSAGE}),
    ],
)
def test_the_settings_must_be_whole_numbers_in_range(
    session: Session, anna: User, firm: Environment, every_days: str, max_reminders: str, errors: dict[str, str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        reminders.update_reminder_settings(session, actor=anna, every_days=every_days, max_reminders=max_reminders)
    assert caught.value.errors == errors
    row = session.get(Environment, firm.id, populate_existing=True)
    assert row is not None and (row.reminder_every_days, row.reminder_max) == (7, 2)
    assert activities(session, action="environment.reminders_updated") == []


def test_the_limits_themselves_are_allowed(session: Session, anna: User) -> None:
    saved = reminders.update_reminder_settings(session, actor=anna, every_days="60", max_reminders="10")
    assert (saved.every_days, saved.max_reminders) == (60, 10)
    saved = reminders.update_reminder_settings(session, actor=anna, every_days="0", max_reminders="0")
    assert (saved.every_days, saved.max_reminders) == (0, 0)


def test_the_messages_say_what_is_allowed() -> None:
    assert reminders.EVERY_DAYS_MESSAGE == (
        "Enter a whole number of days from 0 to 60 (0 turns automatic reminders off)."
    )
    assert reminders.MAX_MESSAGE == "Enter a whole number of reminders from 0 to 10."


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_see_or_change_the_reminder_settings(
    session: Session, firm: Environment, role: str
) -> None:
    someone = make_user(session, firm, role=role)
    with pytest.raises(PermissionDenied):
        reminders.update_reminder_settings(session, actor=someone, every_days="3", max_reminders="1")
    with pytest.raises(PermissionDenied):
        reminders.reminder_settings(session, actor=someone)
    row = session.get(Environment, firm.id, populate_existing=True)
    assert row is not None and (row.reminder_every_days, row.reminder_max) == (7, 2)


def test_the_note_says_whether_reminders_are_on() -> None:
    assert reminders.reminders_note(0, 2) == "Automatic reminders are off: pending clients are not reminded."
    assert reminders.reminders_note(7, 2) == (
        "Clients who have not answered an authorisation request are emailed it again every 7 days, "
        "at most 2 times, each time with a new link."
    )
