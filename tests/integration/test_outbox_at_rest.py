"""No usable token at rest: outbox bodies are stored encrypted, a sent email keeps no link token,
nor does one too old to be sent; rows written in plain text before encryption keep working.

Emails are delivered to a real SMTP server (aiosmtpd on 127.0.0.1), as in test_smtp_delivery.py.
"""

from __future__ import annotations

import dataclasses
import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from econnect_app import crypto, security
from econnect_app.mail import delivery, stored_bodies
from econnect_app.mail.delivery import UNREADABLE_ERROR, deliver_due_messages
from econnect_app.mail.outbox import list_recent_messages, queue_email, sending_window
from econnect_app.mail.tidying import TidyReport, tidy_outbox
from econnect_app.models import Environment, Notification, OutboxMessage, Role, User, utcnow
from econnect_app.pages.dev_mailbox import UNREADABLE_HTML, mailbox_entry
from econnect_app.services import accounts
from econnect_app.settings import get_settings

RESET_LINK = re.compile(r"http://localhost:3000/reset-password/([A-Za-z0-9_-]+)")
NEW_PASSWORD = "a long and unusual passphrase"


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTPServer, session: SMTPSession, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def text(self, index: int = 0) -> str:
        body = self.messages[index].get_body(preferencelist=("plain",))
        assert body is not None
        return body.get_content()


@pytest.fixture()
def inbox() -> Iterator[tuple[Inbox, delivery.SmtpConfig]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, delivery.SmtpConfig(host="127.0.0.1", port=port, timeout_seconds=5)
    controller.stop()


def everything_stored(engine: Engine) -> str:
    """Every value of every column of every table, as text: what a database dump would show."""
    with engine.connect() as connection:
        return "\n".join(
            str(value)
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(select(table))
            for value in row
        )


def stored_row(engine: Engine, message_id: int) -> dict[str, object]:
    """One outbox row as the database holds it (no ORM, so no decryption)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return dict(connection.execute(select(table).where(table.c.id == message_id)).mappings().one())


def add_user(engine: Engine, *, email: str = "ann@example.com", role: Role = Role.ADMINISTRATOR) -> User:
    with Session(engine, expire_on_commit=False) as session:
        environment = Environment(name="Lovelace Accounting")
        session.add(environment)
        session.flush()
        user = User(
            environment_id=environment.id,  # type: ignore[arg-type]
            name="Ann",
            email=email,
            role=role.value,
            password_hash=security.hash_password("the old password of Ann"),
            email_confirmed_at=utcnow(),
        )
        session.add(user)
        session.commit()
        return user


def queue_reset(engine: Engine, *, token: str = "tok-123", environment_id: int | None = None) -> int:
    with Session(engine, expire_on_commit=False) as session:
        message = queue_email(
            session,
            template="password_reset",
            to="ann@example.com",
            context={
                "name": "Ann",
                "link": f"http://localhost:3000/reset-password/{token}",
                "expires_minutes": 30,
            },
            environment_id=environment_id,
        )
        session.commit()
        assert message.id is not None
        return message.id


def test_after_sending_no_token_of_the_link_is_left_in_the_database_and_the_link_works(
    engine: Engine, inbox: tuple[Inbox, delivery.SmtpConfig]
) -> None:
    received, smtp = inbox
    add_user(engine)
    with Session(engine) as session:
        accounts.request_password_reset(session, email="ann@example.com")

    # Queued: the body is stored encrypted, so its token is nowhere in the database.
    with Session(engine) as session:
        (queued,) = session.exec(
            select(OutboxMessage).where(OutboxMessage.template == "password_reset")  # type: ignore[arg-type]
        ).scalars()
        match = RESET_LINK.search(queued.text_body)
        assert match, queued.text_body
        token = match.group(1)
    assert token not in everything_stored(engine)

    report = deliver_due_messages(engine, smtp=smtp)

    assert report.sent == [queued.id]
    assert RESET_LINK.search(received.text(0)).group(1) == token  # type: ignore[union-attr]
    assert token not in everything_stored(engine)
    row = stored_row(engine, queued.id)  # type: ignore[arg-type]
    assert row["status"] == "sent"
    for column in ("text_body", "html_body"):
        assert str(row[column]).startswith("redacted:fernet:")
        kept = stored_bodies.open_stored(str(row[column]))
        assert token not in kept
        assert "http://localhost:3000/reset-password/removed" in kept
        assert "Hello Ann," in kept
    # The recipient's link works.
    with Session(engine) as session:
        user = accounts.reset_password(session, token=token, password=NEW_PASSWORD)
        assert security.verify_password(NEW_PASSWORD, user.password_hash)


def test_the_development_mailbox_shows_the_message_readable(engine: Engine) -> None:
    message_id = queue_reset(engine, token="dev-token-123")
    assert str(stored_row(engine, message_id)["html_body"]).startswith("fernet:")

    with Session(engine) as session:
        (entry,) = [mailbox_entry(message) for message in list_recent_messages(session)]

    assert entry.subject == "Reset your eConnect password"
    assert 'href="http://localhost:3000/reset-password/dev-token-123"' in entry.html_body
    assert "Hello Ann," in entry.html_body


def test_a_row_stored_in_plain_text_before_encryption_is_sent_and_then_kept_without_its_token(
    engine: Engine, inbox: tuple[Inbox, delivery.SmtpConfig]
) -> None:
    received, smtp = inbox
    body = "Hello Ann,\nhttp://localhost:3000/activate/plain-old-token-42\n"
    with engine.begin() as connection:
        connection.execute(
            insert(OutboxMessage.__table__).values(  # type: ignore[attr-defined]
                template="authorisation_request",
                to_address="ann@example.com",
                cc="",
                subject="Old",
                text_body=body,
                html_body=f"<p>{body}</p>",
                status="queued",
                attempts=0,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )  # fmt: skip
        )

    with Session(engine) as session:
        (message,) = list_recent_messages(session)
        assert message.text_body == body  # read as it is

    assert len(deliver_due_messages(engine, smtp=smtp).sent) == 1
    assert "http://localhost:3000/activate/plain-old-token-42" in received.text(0)
    assert "plain-old-token-42" not in everything_stored(engine)


def test_tidying_fails_what_was_not_sent_in_time_and_removes_the_tokens_of_old_and_plain_rows(
    engine: Engine, inbox: tuple[Inbox, delivery.SmtpConfig]
) -> None:
    received, smtp = inbox
    user = add_user(engine)
    too_old = utcnow() - sending_window() - timedelta(minutes=1)
    waited_too_long = queue_reset(engine, token="old-queued-token", environment_id=user.environment_id)
    failed_long_ago = queue_reset(engine, token="old-failed-token", environment_id=user.environment_id)
    plain_recent = queue_reset(engine, token="plain-recent-token")
    plain_sent = queue_reset(engine, token="plain-sent-token")
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == waited_too_long).values(created_at=too_old))
        connection.execute(
            update(table).where(table.c.id == failed_long_ago).values(created_at=too_old, status="failed")
        )
        for message_id, status in ((plain_recent, "failed"), (plain_sent, "sent")):  # from before encryption
            token = "plain-recent-token" if message_id == plain_recent else "plain-sent-token"
            text = f"Use http://localhost:3000/reset-password/{token} now"
            connection.execute(
                update(table)
                .where(table.c.id == message_id)
                .values(text_body=text, html_body=text, status=status)
            )

    # Too old to send: the worker leaves it alone.
    assert deliver_due_messages(engine, smtp=smtp).attempted == 0
    assert received.messages == []

    report = tidy_outbox(engine, legacy=True)

    assert report.expired == [waited_too_long]
    assert sorted(report.redacted) == [failed_long_ago, plain_sent]
    assert report.encrypted == [plain_recent]
    stored = everything_stored(engine)
    for token in ("old-queued-token", "old-failed-token", "plain-sent-token", "plain-recent-token"):
        assert token not in stored
    expired = stored_row(engine, waited_too_long)
    assert (expired["status"], expired["last_error"]) == (
        "failed",
        f"Not sent within {sending_window().days} days.",
    )
    # The recent plain row is encrypted, not redacted: sent again, its link still works.
    assert stored_bodies.open_stored(str(stored_row(engine, plain_recent)["text_body"])).endswith(
        "/reset-password/plain-recent-token now"
    )
    with Session(engine) as session:
        (notice,) = session.exec(select(Notification.message)).scalars()  # type: ignore[call-overload]
    assert notice == (
        "The email \u201cReset your eConnect password\u201d to ann@example.com was not sent within "
        f"{sending_window().days} days, so its link no longer works."
    )
    # Tidying again changes nothing.
    assert tidy_outbox(engine, legacy=True) == TidyReport()


def test_a_message_stored_with_another_secret_key_is_failed_not_sent_and_the_mailbox_says_why(
    engine: Engine, inbox: tuple[Inbox, delivery.SmtpConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    received, smtp = inbox
    message_id = queue_reset(engine)
    other_key = dataclasses.replace(get_settings(), secret_key="another secret key, " * 3)
    monkeypatch.setattr(crypto, "get_settings", lambda: other_key)

    report = deliver_due_messages(engine, smtp=smtp)

    assert report.failed == [message_id]
    assert received.messages == []
    assert stored_row(engine, message_id)["last_error"] == UNREADABLE_ERROR
    with Session(engine) as session:
        (entry,) = [mailbox_entry(message) for message in list_recent_messages(session)]
    assert entry.html_body == UNREADABLE_HTML
