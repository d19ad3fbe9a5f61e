"""Outbox delivery through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app.mail import delivery
from econnect_app.mail.delivery import deliver_due_messages, delivery_loop, retry_delay
from econnect_app.mail.outbox import queue_email
from econnect_app.mail.smtp import SmtpConfig
from econnect_app.models import OutboxMessage, utcnow
from econnect_app.settings import get_settings

RESET_LINK = "http://localhost:3000/reset-password/tok-123?x=1&y=2"


class RecordingHandler:
    """Keeps every message the server accepted; ``received`` is set on each one."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.received = threading.Event()

    async def handle_DATA(self, server: SMTPServer, session: SMTPSession, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        self.messages.append((envelope, parsed))  # type: ignore[arg-type]
        self.received.set()
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def port() -> int:
    return free_port()


@pytest.fixture()
def smtp(port: int) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=port, timeout_seconds=5)


def start_server(port: int) -> tuple[Controller, RecordingHandler]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


@pytest.fixture()
def server(port: int) -> Iterator[RecordingHandler]:
    controller, handler = start_server(port)
    yield handler
    controller.stop()


def queue_reset(engine: Engine, *, to: str = "ann@example.com", name: str = "Ann") -> int:
    with Session(engine, expire_on_commit=False) as session:
        message = queue_email(
            session,
            template="password_reset",
            to=to,
            context={"name": name, "link": RESET_LINK, "expires_minutes": 30},
        )
        session.commit()
        assert message.id is not None
        return message.id


def load(engine: Engine, message_id: int) -> OutboxMessage:
    with Session(engine) as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content()


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return body.get_content()


def test_a_queued_message_is_delivered_and_marked_sent(
    engine: Engine, smtp: SmtpConfig, server: RecordingHandler
) -> None:
    message_id = queue_reset(engine)

    report = deliver_due_messages(engine, smtp=smtp)

    assert report.sent == [message_id]
    assert len(server.messages) == 1
    envelope, received = server.messages[0]
    assert envelope.rcpt_tos == ["ann@example.com"]
    assert envelope.mail_from == "no-reply@econnect.local"
    assert received["To"] == "ann@example.com"
    assert received["Subject"] == "Reset your eConnect password"
    assert "eConnect" in received["From"]
    assert RESET_LINK in text_of(received)
    assert 'href="http://localhost:3000/reset-password/tok-123?x=1&amp;y=2"' in html_of(received)
    row = load(engine, message_id)
    assert row.status == "sent"
    assert row.sent_at is not None
    assert row.attempts == 0
    assert row.last_error is None


def test_cc_addresses_receive_the_message_too(
    engine: Engine, smtp: SmtpConfig, server: RecordingHandler
) -> None:
    with Session(engine) as session:
        queue_email(
            session,
            template="invitation",
            to="owner@example.com",
            cc=["inviter@example.com"],
            context={
                "inviter_name": "Ann",
                "environment_name": "Acme",
                "role": "User",
                "link": "http://localhost:3000/invitation/abc",
                "expires_days": 7,
            },
        )
        session.commit()

    deliver_due_messages(engine, smtp=smtp)

    envelope, received = server.messages[0]
    assert sorted(envelope.rcpt_tos) == ["inviter@example.com", "owner@example.com"]
    assert received["Cc"] == "inviter@example.com"


def test_a_message_waits_while_the_server_is_down_and_goes_out_when_it_is_back(
    engine: Engine, smtp: SmtpConfig, port: int
) -> None:
    message_id = queue_reset(engine)
    first_run = utcnow()

    report = deliver_due_messages(engine, smtp=smtp, now=first_run)

    assert report.retrying == [message_id]
    row = load(engine, message_id)
    assert row.status == "queued"
    assert row.attempts == 1
    assert row.last_error
    assert row.next_attempt_at == first_run + retry_delay(1)
    assert row.next_attempt_at > utcnow()

    controller, handler = start_server(port)
    try:
        # Not due yet: nothing is sent before next_attempt_at.
        assert deliver_due_messages(engine, smtp=smtp, now=first_run + timedelta(seconds=1)).sent == []
        assert handler.messages == []

        later = row.next_attempt_at + timedelta(seconds=1)
        report = deliver_due_messages(engine, smtp=smtp, now=later)
    finally:
        controller.stop()

    assert report.sent == [message_id]
    assert len(handler.messages) == 1
    envelope, received = handler.messages[0]
    assert envelope.rcpt_tos == ["ann@example.com"]
    assert received["Subject"] == "Reset your eConnect password"
    assert RESET_LINK in text_of(received)
    row = load(engine, message_id)
    assert row.status == "sent"
    assert row.sent_at == later
    assert row.attempts == 1


def test_two_concurrent_workers_send_each_message_exactly_once(
    engine: Engine, smtp: SmtpConfig, server: RecordingHandler
) -> None:
    message_ids = [queue_reset(engine, to=f"user{n}@example.com") for n in range(12)]
    start = threading.Barrier(2)
    reports: list[delivery.DeliveryReport] = []

    def worker() -> None:
        start.wait()
        reports.append(deliver_due_messages(engine, smtp=smtp))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    recipients = sorted(rcpt for envelope, _ in server.messages for rcpt in envelope.rcpt_tos)
    assert recipients == sorted(f"user{n}@example.com" for n in range(12))
    sent_by_workers = reports[0].sent + reports[1].sent
    assert sorted(sent_by_workers) == sorted(message_ids)
    with Session(engine) as session:
        statuses = session.exec(select(OutboxMessage.status)).all()
    assert statuses == ["sent"] * 12


def test_after_the_retry_limit_the_message_is_failed_and_kept(
    engine: Engine, smtp: SmtpConfig
) -> None:
    message_id = queue_reset(engine)
    limit = get_settings().mail_retry_limit
    now = utcnow()

    for attempt in range(1, limit + 1):
        report = deliver_due_messages(engine, smtp=smtp, now=now)
        row = load(engine, message_id)
        assert row.attempts == attempt
        if attempt < limit:
            assert report.retrying == [message_id]
            assert row.status == "queued"
            assert row.next_attempt_at == now + retry_delay(attempt)
            now = row.next_attempt_at
        else:
            assert report.failed == [message_id]
            assert row.status == "failed"

    # A failed message is never tried again, and never deleted.
    later = now + timedelta(days=30)
    assert deliver_due_messages(engine, smtp=smtp, now=later).attempted == 0
    row = load(engine, message_id)
    assert row.status == "failed"
    assert row.attempts == limit
    assert row.last_error


def test_backoff_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [
        timedelta(seconds=15),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
    ]
    assert delays == sorted(delays)
    assert max(delays) == timedelta(hours=12)


def test_a_stale_claim_is_put_back_and_sent(
    engine: Engine, smtp: SmtpConfig, server: RecordingHandler
) -> None:
    message_id = queue_reset(engine)
    crashed_at = utcnow()
    with Session(engine) as session:
        row = session.get(OutboxMessage, message_id)
        assert row is not None
        row.status = "sending"
        row.claimed_at = crashed_at
        session.add(row)
        session.commit()

    # A fresh claim belongs to a worker that may still be sending: leave it alone.
    report = deliver_due_messages(engine, smtp=smtp, now=crashed_at + timedelta(minutes=1))
    assert report.attempted == 0
    assert load(engine, message_id).status == "sending"

    report = deliver_due_messages(engine, smtp=smtp, now=crashed_at + timedelta(minutes=6))
    assert report.released_stale == 1
    assert report.sent == [message_id]
    assert len(server.messages) == 1
    assert load(engine, message_id).status == "sent"


def run_in_fresh_loop(coroutine) -> None:  # type: ignore[no-untyped-def]
    """asyncio.run in its own thread: the end-to-end suite's Playwright keeps a loop in this one."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result(timeout=30)


def test_delivery_loop_returns_at_once_without_smtp() -> None:
    assert get_settings().smtp_url is None
    run_in_fresh_loop(asyncio.wait_for(delivery_loop(interval_seconds=0.01), timeout=5))


def test_delivery_loop_sends_and_stops_cleanly_when_cancelled(
    engine: Engine,
    port: int,
    server: RecordingHandler,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = dataclasses.replace(get_settings(), smtp_url=f"smtp://127.0.0.1:{port}")
    monkeypatch.setattr(delivery, "get_settings", lambda: settings)
    monkeypatch.setattr(delivery, "get_engine", lambda: engine)
    message_id = queue_reset(engine)

    async def run() -> None:
        task = asyncio.create_task(delivery_loop(interval_seconds=0.05))
        received = await asyncio.to_thread(server.received.wait, 10)
        assert received
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_in_fresh_loop(run())

    # Cancellation waited for the run in progress, so the outcome is recorded.
    assert load(engine, message_id).status == "sent"
    assert len(server.messages) == 1
