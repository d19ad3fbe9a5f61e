"""Email delivery for an environment's Administrators: what waits, what failed, sending it again."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from conftest_factories import activities, make_admin, make_environment, make_user
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from econnect_app.mail.outbox import queue_email, sending_window
from econnect_app.models import Environment, OutboxMessage, User, utcnow
from econnect_app.services import outbox_admin
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied


def queue(
    session: Session,
    environment: Environment,
    *,
    to: str,
    status: str = "failed",
    age: timedelta = timedelta(0),
) -> int:
    """A message of ``environment`` to ``to`` in ``status``, written ``age`` ago."""
    message = queue_email(
        session,
        template="password_reset",
        to=to,
        context={"name": "Ann", "link": "http://localhost:3000/reset-password/tok", "expires_minutes": 30},
        environment_id=environment.id,
    )
    session.commit()
    assert message.id is not None
    failed = status == "failed"
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)  # type: ignore[arg-type]
        .values(
            status=status,
            attempts=8 if failed else 0,
            last_error=f"SMTPRecipientsRefused: {{'{to}': (550, b'No such mailbox')}}" if failed else None,
            created_at=utcnow() - age,
        )
    )
    session.commit()
    return message.id


def row(session: Session, message_id: int) -> OutboxMessage:
    session.expire_all()
    message = session.get(OutboxMessage, message_id)
    assert message is not None
    return message


@pytest.fixture()
def firm(session: Session) -> tuple[Environment, User]:
    environment = make_environment(session, name="Lovelace Accounting")
    return environment, make_admin(session, environment, name="Ada", email="ada@example.com")


def test_the_overview_lists_failed_emails_of_the_environment_and_counts_those_waiting(
    session: Session, firm: tuple[Environment, User]
) -> None:
    environment, admin = firm
    other = make_environment(session, name="Other firm")
    older = queue(session, environment, to="old@example.com", age=timedelta(days=2))
    newer = queue(session, environment, to="new@example.com", age=timedelta(hours=1))
    queue(session, environment, to="ancient@example.com", age=sending_window() + timedelta(days=1))
    queue(session, other, to="theirs@example.com")
    queue(session, environment, to="waiting@example.com", status="queued", age=timedelta(hours=3))
    queue(session, environment, to="just-now@example.com", status="queued")

    overview = outbox_admin.delivery_overview(session, actor=admin)

    assert [email.id for email in overview.failed] == [newer, older]
    assert overview.failed_count == 2
    assert overview.failed[0].to_address == "new@example.com"
    assert overview.failed[0].subject == "Reset your eConnect password"
    assert "No such mailbox" in overview.failed[0].problem
    assert overview.waiting_count == 1
    assert overview.waiting_since is not None and overview.waiting_since < utcnow() - timedelta(hours=2)
    assert overview.window_days == sending_window().days


def test_only_administrators_see_and_retry(session: Session, firm: tuple[Environment, User]) -> None:
    environment, _admin = firm
    message_id = queue(session, environment, to="bob@example.com")
    advanced = make_user(session, environment, role="Advanced user")

    with pytest.raises(PermissionDenied):
        outbox_admin.delivery_overview(session, actor=advanced)
    with pytest.raises(PermissionDenied):
        outbox_admin.retry_failed_email(session, actor=advanced, message_id=message_id)
    with pytest.raises(PermissionDenied):
        outbox_admin.retry_all_failed_emails(session, actor=advanced)
    assert row(session, message_id).status == "failed"


def test_retry_puts_the_email_back_in_the_queue_with_every_attempt_ahead_and_logs_who(
    session: Session, firm: tuple[Environment, User]
) -> None:
    environment, admin = firm
    message_id = queue(session, environment, to="bob@example.com")
    before = utcnow()

    email = outbox_admin.retry_failed_email(session, actor=admin, message_id=message_id)

    assert email.to_address == "bob@example.com"
    message = row(session, message_id)
    assert (message.status, message.attempts, message.last_error) == ("queued", 0, None)
    assert message.next_attempt_at >= before
    assert [entry.summary for entry in activities(session, action="email.retried")] == [
        "Ada sent the email \u201cReset your eConnect password\u201d to bob@example.com again."
    ]
    assert outbox_admin.delivery_overview(session, actor=admin).failed == []


def test_retry_refuses_other_environments_sent_and_too_old_emails(
    session: Session, firm: tuple[Environment, User]
) -> None:
    environment, admin = firm
    theirs = queue(session, make_environment(session, name="Other firm"), to="theirs@example.com")
    sent = queue(session, environment, to="sent@example.com", status="sent")
    too_old = queue(session, environment, to="old@example.com", age=sending_window() + timedelta(minutes=1))

    with pytest.raises(NotFound, match="This email was not found."):
        outbox_admin.retry_failed_email(session, actor=admin, message_id=theirs)
    with pytest.raises(Conflict, match="it was sent or is being sent"):
        outbox_admin.retry_failed_email(session, actor=admin, message_id=sent)
    days = sending_window().days
    with pytest.raises(Conflict, match=f"older than {days} days: its link no longer works"):
        outbox_admin.retry_failed_email(session, actor=admin, message_id=too_old)

    assert [row(session, message_id).status for message_id in (theirs, sent, too_old)] == [
        "failed",
        "sent",
        "failed",
    ]
    assert activities(session, action="email.retried") == []


def test_retry_all_sends_again_every_failed_email_of_the_environment_inside_the_window(
    session: Session, firm: tuple[Environment, User]
) -> None:
    environment, admin = firm
    mine = [queue(session, environment, to=f"user{n}@example.com") for n in range(3)]
    too_old = queue(session, environment, to="old@example.com", age=sending_window() + timedelta(minutes=1))
    theirs = queue(session, make_environment(session, name="Other firm"), to="theirs@example.com")

    assert outbox_admin.retry_all_failed_emails(session, actor=admin) == 3
    assert outbox_admin.retry_all_failed_emails(session, actor=admin) == 0

    assert [row(session, message_id).status for message_id in mine] == ["queued"] * 3
    assert row(session, too_old).status == "failed" and row(session, theirs).status == "failed"
    assert [entry.summary for entry in activities(session, action="email.retried")] == [
        "Ada sent 3 emails that could not be sent again."
    ]


def test_two_administrators_retrying_at_once_requeue_the_email_once(
    engine: Engine, session: Session, firm: tuple[Environment, User]
) -> None:
    environment, admin = firm
    colleague = make_admin(session, environment, name="Grace", email="grace@example.com")
    message_id = queue(session, environment, to="bob@example.com")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def retry(actor: User) -> None:
        with Session(engine) as own_session:
            start.wait()
            try:
                outbox_admin.retry_failed_email(own_session, actor=actor, message_id=message_id)
                outcomes.append("retried")
            except Conflict:
                outcomes.append("already")

    threads = [threading.Thread(target=retry, args=(actor,)) for actor in (admin, colleague)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["already", "retried"]
    assert len(activities(session, action="email.retried")) == 1
