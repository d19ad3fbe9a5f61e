"""Outbox delivery through a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import claims
from econnect_app.claims import STALE_CLAIM_AFTER
from econnect_app.mail import delivery
from econnect_app.mail.delivery import RETRIES, deliver_due_messages, delivery_loop
from econnect_app.mail.outbox import queue_email
from econnect_app.mail.smtp import SmtpConfig
from econnect_app.models import Environment, Notification, OutboxMessage, Role, User, utcnow
from econnect_app.settings import get_settings

RESET_LINK = "http://localhost:3000/reset-password/tok-123?x=1&y=2"
WAIT_SECONDS = 10  # only ever reached when the code under test is broken


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


class SlowFirstHandler(RecordingHandler):
    """Holds the reply to the first message until ``release`` is set (a slow server), then answers
    ``first_reply``; later messages are accepted at once."""

    def __init__(self, first_reply: str = "250 Message accepted for delivery") -> None:
        super().__init__()
        self.first_reply = first_reply
        self.holding = threading.Event()  # the first message arrived and waits for its reply
        self.release = threading.Event()
        self._first = True

    async def handle_DATA(self, server: SMTPServer, session: SMTPSession, envelope: Envelope) -> str:
        if not self._first:
            return await super().handle_DATA(server, session, envelope)
        self._first = False
        self.holding.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, WAIT_SECONDS)
        if self.first_reply.startswith("250"):
            return await super().handle_DATA(server, session, envelope)
        return self.first_reply


class RefusingHandler(RecordingHandler):
    """Answers every recipient with ``reply`` (e.g. 550: no such mailbox; 421: not available)."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        return self.reply


class FakeClock:
    """The time the delivery code reads (``delivery.utcnow``), moved on by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> bool:
    """Whether ``condition`` became true within ``timeout`` seconds (checked every 10 ms)."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.01)
    return True


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


def start_server(port: int, handler: RecordingHandler | None = None) -> tuple[Controller, RecordingHandler]:
    handler = handler or RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, handler


@contextlib.contextmanager
def running(port: int, handler: RecordingHandler) -> Iterator[RecordingHandler]:
    controller, _ = start_server(port, handler)
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture()
def server(port: int) -> Iterator[RecordingHandler]:
    controller, handler = start_server(port)
    yield handler
    controller.stop()


def queue_reset(
    engine: Engine, *, to: str = "ann@example.com", name: str = "Ann", environment_id: int | None = None
) -> int:
    with Session(engine, expire_on_commit=False) as session:
        message = queue_email(
            session,
            template="password_reset",
            to=to,
            context={"name": name, "link": RESET_LINK, "expires_minutes": 30},
            environment_id=environment_id,
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


def test_a_long_outage_counts_against_no_message_and_the_mail_goes_out_when_the_server_is_back(
    engine: Engine, smtp: SmtpConfig, port: int
) -> None:
    message_ids = [queue_reset(engine, to=f"user{n}@example.com") for n in range(3)]
    runs = get_settings().mail_retry_limit * 3
    outage_start = utcnow()

    # Connection refused, run after run for more than a day: far more runs than the retry limit.
    for run in range(runs):
        report = deliver_due_messages(engine, smtp=smtp, now=outage_start + timedelta(hours=run))
        assert report.server_unavailable and "ConnectionRefusedError" in report.server_unavailable
        assert report.attempted == 0

    for message_id in message_ids:
        row = load(engine, message_id)
        assert (row.status, row.attempts) == ("queued", 0)
    assert str(load(engine, message_ids[0]).last_error).startswith("Waiting for the mail server")

    with running(port, RecordingHandler()) as handler:
        report = deliver_due_messages(engine, smtp=smtp, now=outage_start + timedelta(hours=runs))

    assert sorted(report.sent) == message_ids
    assert sorted(rcpt for envelope, _ in handler.messages for rcpt in envelope.rcpt_tos) == [
        "user0@example.com", "user1@example.com", "user2@example.com",
    ]  # fmt: skip
    assert RESET_LINK in text_of(handler.messages[0][1])
    for message_id in message_ids:
        row = load(engine, message_id)
        assert (row.status, row.attempts, row.last_error) == ("sent", 0, None)


def test_a_server_that_answers_421_counts_against_no_message(
    engine: Engine, smtp: SmtpConfig, port: int
) -> None:
    message_id = queue_reset(engine)

    with running(port, RefusingHandler("421 4.3.2 Service not available, try later")):
        for run in range(get_settings().mail_retry_limit + 1):
            report = deliver_due_messages(engine, smtp=smtp, now=utcnow() + timedelta(hours=run))
            assert report.server_unavailable and report.attempted == 0

    row = load(engine, message_id)
    assert (row.status, row.attempts) == ("queued", 0)


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


class RefusingOneHandler(RecordingHandler):
    """Refuses one recipient (550) while ``refusing`` is set, accepts everyone else."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address
        self.refusing = True

    async def handle_RCPT(
        self, server: SMTPServer, session: SMTPSession, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refusing and address == self.address:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def test_a_batch_goes_out_over_one_run_and_a_refused_message_in_it_stays_queued_and_is_retried(
    engine: Engine, smtp: SmtpConfig, port: int
) -> None:
    message_ids = [queue_reset(engine, to=f"user{n}@example.com") for n in range(25)]
    now = utcnow()

    with running(port, RefusingOneHandler("user12@example.com")) as handler:
        report = deliver_due_messages(engine, smtp=smtp, now=now)
        assert report.retrying == [message_ids[12]]
        assert sorted(report.sent) == sorted(set(message_ids) - {message_ids[12]})
        refused = load(engine, message_ids[12])
        assert (refused.status, refused.attempts, refused.claim_token) == ("queued", 1, None)
        assert refused.next_attempt_at == now + RETRIES.delay_after(1)
        assert {load(engine, message_id).status for message_id in report.sent} == {"sent"}

        handler.refusing = False
        assert deliver_due_messages(engine, smtp=smtp, now=now).attempted == 0  # not due yet
        assert deliver_due_messages(engine, smtp=smtp, now=refused.next_attempt_at).sent == [message_ids[12]]

    recipients = [rcpt for envelope, _ in handler.messages for rcpt in envelope.rcpt_tos]
    assert sorted(recipients) == sorted(f"user{n}@example.com" for n in range(25))  # each exactly once


class Crash(BaseException):
    """The worker's process dying: nothing it would still write gets written."""


def test_a_batch_is_sent_over_several_connections_at_once_each_message_once(
    engine: Engine, smtp: SmtpConfig, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SENDERS", 3)
    message_ids = [queue_reset(engine, to=f"user{n}@example.com") for n in range(30)]
    peers: set[object] = set()

    class PeerRecordingHandler(RecordingHandler):
        async def handle_DATA(self, server: SMTPServer, session: SMTPSession, envelope: Envelope) -> str:
            peers.add(session.peer)
            return await super().handle_DATA(server, session, envelope)

    with running(port, PeerRecordingHandler()) as handler:
        report = deliver_due_messages(engine, smtp=smtp)

    assert sorted(report.sent) == message_ids
    recipients = sorted(rcpt for envelope, _ in handler.messages for rcpt in envelope.rcpt_tos)
    assert recipients == sorted(f"user{n}@example.com" for n in range(30))
    assert len(peers) > 1  # more than one connection took messages
    with Session(engine) as session:
        assert set(session.exec(select(OutboxMessage.status)).all()) == {"sent"}


def test_a_worker_that_dies_mid_batch_loses_nothing_and_resends_at_most_the_unrecorded_few(
    engine: Engine, smtp: SmtpConfig, server: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SENDERS", 1)  # one connection: the order is known
    message_ids = [queue_reset(engine, to=f"user{n}@example.com") for n in range(30)]
    real_send, real_record = delivery.send_message, claims.record_outcomes
    dead = threading.Event()

    def send_until_dead(*args, **kwargs):  # type: ignore[no-untyped-def]
        if len(server.messages) == 24:  # dies after 24 messages went out
            dead.set()
            raise Crash
        return real_send(*args, **kwargs)

    def record_while_alive(*args, **kwargs):  # type: ignore[no-untyped-def]
        if dead.is_set():
            raise Crash
        return real_record(*args, **kwargs)

    monkeypatch.setattr(delivery, "send_message", send_until_dead)
    monkeypatch.setattr(claims, "record_outcomes", record_while_alive)
    crashed_at = utcnow()
    with pytest.raises(Crash):
        deliver_due_messages(engine, smtp=smtp, now=crashed_at)
    monkeypatch.setattr(claims, "record_outcomes", real_record)  # another worker, alive
    monkeypatch.setattr(delivery, "send_message", real_send)

    with Session(engine) as session:
        statuses = [session.get(OutboxMessage, message_id).status for message_id in message_ids]  # type: ignore[union-attr]
    assert statuses.count("sent") == 20  # written RECORD_EVERY at a time
    assert statuses.count("sending") == 10  # 4 sent but not recorded, 6 never sent: claimed until stale

    assert deliver_due_messages(engine, smtp=smtp, now=crashed_at + timedelta(minutes=1)).attempted == 0
    later = deliver_due_messages(engine, smtp=smtp, now=crashed_at + STALE_CLAIM_AFTER + timedelta(minutes=1))

    assert later.released_stale == 10 and len(later.sent) == 10
    with Session(engine) as session:
        assert set(session.exec(select(OutboxMessage.status)).all()) == {"sent"}
    received = [rcpt for envelope, _ in server.messages for rcpt in envelope.rcpt_tos]
    assert sorted(set(received)) == sorted(f"user{n}@example.com" for n in range(30))  # none lost
    twice = {rcpt for rcpt in received if received.count(rcpt) > 1}
    assert twice == {f"user{n}@example.com" for n in range(20, 24)}  # at most RECORD_EVERY - 1 again
    assert len(twice) < delivery.RECORD_EVERY


def test_a_stopped_run_puts_the_rest_of_its_batch_back_in_the_queue(
    engine: Engine, smtp: SmtpConfig, server: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "SENDERS", 1)  # one connection: the order is known
    message_ids = [queue_reset(engine, to=f"user{n}@example.com") for n in range(6)]
    stop = threading.Event()
    real_send = delivery.send_message

    def stop_after_the_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        refused = real_send(*args, **kwargs)
        if len(server.messages) == 3:
            stop.set()  # the app shuts down while the third message is being sent
        return refused

    monkeypatch.setattr(delivery, "send_message", stop_after_the_third)
    report = deliver_due_messages(engine, smtp=smtp, stop=stop)

    assert report.sent == message_ids[:3]
    rows = [load(engine, message_id) for message_id in message_ids]
    assert [(row.status, row.claim_token, row.attempts) for row in rows[3:]] == [("queued", None, 0)] * 3
    assert deliver_due_messages(engine, smtp=smtp).sent == message_ids[3:]


def add_environment_with_administrators(engine: Engine) -> int:
    """An environment with two active Administrators and a plain user; its id."""
    with Session(engine) as session:
        environment = Environment(name="Lovelace Accounting")
        session.add(environment)
        session.flush()
        for email, role in (
            ("ada@example.com", Role.ADMINISTRATOR),
            ("grace@example.com", Role.ADMINISTRATOR),
            ("plain@example.com", Role.USER),
        ):
            session.add(User(environment_id=environment.id, email=email, name=email, role=role.value))
        session.commit()
        assert environment.id is not None
        return environment.id


def notified(engine: Engine) -> list[tuple[str, str]]:
    """(recipient's email, message) of every notification, in order."""
    with Session(engine) as session:
        rows = session.exec(
            select(User.email, Notification.message)
            .join(User, User.id == Notification.user_id)  # type: ignore[arg-type]
            .order_by(Notification.id)
        ).all()
    return [(email, message) for email, message in rows]


def test_a_message_the_server_refuses_fails_after_the_retry_limit_and_the_administrators_are_told(
    engine: Engine, smtp: SmtpConfig, port: int
) -> None:
    environment_id = add_environment_with_administrators(engine)
    message_id = queue_reset(engine, environment_id=environment_id)
    limit = get_settings().mail_retry_limit
    now = utcnow()

    with running(port, RefusingHandler("550 5.1.1 No such mailbox")) as handler:
        for attempt in range(1, limit + 1):
            report = deliver_due_messages(engine, smtp=smtp, now=now)
            row = load(engine, message_id)
            assert row.attempts == attempt
            assert report.server_unavailable is None
            if attempt < limit:
                assert report.retrying == [message_id]
                assert row.status == "queued"
                assert row.next_attempt_at == now + RETRIES.delay_after(attempt)
                now = row.next_attempt_at
            else:
                assert report.failed == [message_id]
                assert row.status == "failed"
    assert handler.messages == []

    # A failed message is not tried again by the worker, and never deleted.
    assert deliver_due_messages(engine, smtp=smtp, now=now + timedelta(days=1)).attempted == 0
    row = load(engine, message_id)
    assert (row.status, row.attempts) == ("failed", limit)
    assert row.last_error and "No such mailbox" in row.last_error
    message = (
        "The email \u201cReset your eConnect password\u201d to ann@example.com could not be sent. "
        "Open Settings to send it again."
    )
    assert notified(engine) == [("ada@example.com", message), ("grace@example.com", message)]


def test_backoff_grows_and_is_capped() -> None:
    delays = [RETRIES.delay_after(n) for n in range(1, 12)]
    assert delays[:4] == [
        timedelta(seconds=15),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
    ]
    assert delays == sorted(delays)
    assert max(delays) == timedelta(hours=12)


def test_the_queue_pauses_longer_while_the_server_stays_unavailable() -> None:
    pause = delivery.QueueBackoff()
    pauses = [pause.server_unavailable("connection refused") for _ in range(7)]
    assert pauses == [5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 300.0]
    pause.server_available()
    assert pause.server_unavailable("connection refused") == 5.0  # back to the start


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


def in_background(
    function: Callable[..., delivery.DeliveryReport], *args: object, **kwargs: object
) -> concurrent.futures.Future[delivery.DeliveryReport]:
    """Run a delivery worker in a thread; the future gives its report."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function, *args, **kwargs)
    pool.shutdown(wait=False)
    return future


def claimed_at(engine: Engine, message_id: int) -> datetime | None:
    return load(engine, message_id).claimed_at


def test_a_slow_send_keeps_its_claim_so_a_second_worker_never_sends_it_again(
    engine: Engine, smtp: SmtpConfig, port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    message_id = queue_reset(engine)
    clock = FakeClock()
    monkeypatch.setattr(delivery, "utcnow", clock)
    monkeypatch.setattr(claims, "CLAIM_RENEWAL_EVERY", timedelta(milliseconds=20))

    with running(port, SlowFirstHandler()) as handler:
        first = in_background(deliver_due_messages, engine, smtp=smtp)
        assert handler.holding.wait(WAIT_SECONDS)  # the first worker is sending, the server is slow
        clock.now += STALE_CLAIM_AFTER + timedelta(minutes=1)  # ... for longer than a claim lasts
        # The sender is alive: it renews its claim while it waits for the server.
        wait_until(lambda: claimed_at(engine, message_id) == clock.now)

        second = deliver_due_messages(engine, smtp=smtp)  # another backend worker's run
        handler.release.set()
        first_report = first.result(WAIT_SECONDS)

    assert (second.released_stale, second.attempted) == (0, 0)
    assert first_report.sent == [message_id]
    assert [envelope.rcpt_tos for envelope, _ in handler.messages] == [["ann@example.com"]]
    assert load(engine, message_id).status == "sent"


def test_the_late_outcome_of_a_worker_whose_claim_was_taken_over_is_not_written(
    engine: Engine, smtp: SmtpConfig, port: int
) -> None:
    """A worker that hung (its claim went stale and another worker sent the message) cannot
    overwrite the new outcome: here its late "try again later" would queue a sent message again."""
    message_id = queue_reset(engine)
    hung_at = utcnow()

    with running(port, SlowFirstHandler(first_reply="451 4.3.0 Try again later")) as handler:
        hung = in_background(deliver_due_messages, engine, smtp=smtp, now=hung_at)
        assert handler.holding.wait(WAIT_SECONDS)
        stale_at = hung_at + STALE_CLAIM_AFTER + timedelta(minutes=1)
        second = deliver_due_messages(engine, smtp=smtp, now=stale_at)
        assert (second.released_stale, second.sent) == (1, [message_id])
        handler.release.set()
        hung.result(WAIT_SECONDS)

    row = load(engine, message_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 0, None)
    assert len(handler.messages) == 1
    assert deliver_due_messages(engine, smtp=smtp, now=hung_at + timedelta(days=1)).attempted == 0


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
