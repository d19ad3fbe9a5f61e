"""Deliver outbox messages via SMTP: claim, send, record the outcome; retry with backoff.

The delivery worker (``delivery_loop``) runs in every backend worker, so several run at once:

- **Claims** (``econnect_app/claims.py``; this queue is ``OUTBOX``). Only the worker whose
  conditional UPDATE claimed a message sends it, and every outcome it writes (sent, retry, failed,
  released) is conditional on its claim token. A run claims a batch (``BATCH_SIZE``) with one
  UPDATE and sends it over ``SENDERS`` connections at once; the outcomes of sent messages are written
  ``RECORD_EVERY`` at a time (one commit), any other outcome at once; what the run did not send
  goes back to the queue. While it sends, it renews the claims, so a slow send is never taken over
  and sent a second time; a claim not renewed for five minutes (a worker that died) goes back to
  the queue, and that worker's late outcome is not written.
- **Outages.** When the server cannot take mail at all (connection refused, timeout, TLS or
  log-in failure, 421: ``SmtpUnavailable``) the claimed message goes back to the queue untouched
  (no attempt counted) and the worker backs off the whole queue (``OUTAGE_PAUSES``). Only what the
  server says about one message (a refused recipient or content) or a connection that breaks
  while sending it counts as an attempt (retried after ``RETRIES``); after ``mail_retry_limit`` of
  those the message fails
  for good and the Administrators of its environment are told (``services/outbox_admin.py``).
- **Waking.** The loop polls every second, and a commit in its process that queued a message
  wakes it at once (a CSV import's emails go out while the import goes on).
- **Age** (``tidying.py``). A message not sent within the sending window (the longest any emailed
  link stays valid) is not sent any more: it fails for good.

Rows are never deleted. Link tokens are removed from the stored bodies once a message is sent
(``stored_bodies``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from enum import StrEnum

import emails
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from econnect_app import claims
from econnect_app.claims import Claim, ClaimKeeper, ClaimQueue, Clock, RetrySchedule
from econnect_app.db import get_engine
from econnect_app.mail import stored_bodies
from econnect_app.mail.outbox import sending_window
from econnect_app.mail.smtp import SmtpConfig, SmtpConnection, SmtpUnavailable, parse_smtp_url
from econnect_app.mail.tidying import tidy_outbox
from econnect_app.models import OutboxMessage, OutboxStatus, utcnow
from econnect_app.settings import get_settings

__all__ = ["OUTBOX", "RETRIES", "deliver_due_messages", "delivery_loop"]

logger = logging.getLogger(__name__)

OUTBOX: ClaimQueue[OutboxMessage] = ClaimQueue(
    model=OutboxMessage,
    waiting=(OutboxStatus.QUEUED.value,),
    working=OutboxStatus.SENDING.value,
    released=OutboxStatus.QUEUED.value,
    due_checked=False,
    label="outbox message",
)

# After a refused message (how many attempts: the mail_retry_limit setting).
RETRIES = RetrySchedule.of("15 s", "1 min", "5 min", "15 min", "1 h", "3 h", "6 h", then="12 h")
# How long the whole queue waits after the server could not take mail, one run after the other.
OUTAGE_PAUSES = RetrySchedule.of("5 s", "15 s", "30 s", "1 min", "2 min", then="5 min")
TIDY_EVERY_SECONDS = 600.0
LAST_ERROR_MAX_LENGTH = 2000
# Messages claimed together (one UPDATE), sent over SENDERS connections at once: while the server
# takes one message, this process builds the next.
BATCH_SIZE = 50
SENDERS = 2
# Sent messages whose outcomes are written in one commit. A worker that dies (the process killed)
# leaves at most this many messages sent but still claimed; they are sent again once the claim is
# stale (the same Message-ID, so a receiver can tell).
RECORD_EVERY = 10
UNREADABLE_ERROR = (
    "The message cannot be decrypted: ECONNECT_SECRET_KEY has changed since it was queued."
)


class Outcome(StrEnum):
    """What became of a claimed message."""

    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    RELEASED = "released"  # the server was unavailable: back in the queue, no attempt counted
    LOST = "lost"  # the claim was taken over: this worker's outcome was not written


@dataclass
class DeliveryReport:
    """What one delivery run did (message ids)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    released_stale: int = 0
    server_unavailable: str | None = None  # why the run stopped without counting an attempt

    @property
    def attempted(self) -> int:
        """Messages the server answered about in this run (sent, refused, or failed)."""
        return len(self.sent) + len(self.retrying) + len(self.failed)

    def note(self, message_id: int, outcome: Outcome) -> None:
        """Add one message's outcome."""
        lists = {
            Outcome.SENT: self.sent,
            Outcome.RETRYING: self.retrying,
            Outcome.FAILED: self.failed,
            Outcome.LOST: self.lost,
        }
        if outcome in lists:
            lists[outcome].append(message_id)


def build_email(message: OutboxMessage, *, mail_from: str) -> emails.Message:
    """The MIME message (HTML + plain text) for an outbox row."""
    return emails.html(
        html=message.html_body,
        text=message.text_body,
        subject=message.subject,
        mail_from=mail_from,
        mail_to=message.to_address,
        cc=split_cc(message.cc) or None,
        message_id=_message_id(message, mail_from=mail_from),
    )


def _message_id(message: OutboxMessage, *, mail_from: str) -> str:
    """A Message-ID that stays the same across retries, so receivers can spot a duplicate."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "econnect.local"
    stamp = int(message.created_at.timestamp() * 1_000_000)
    return f"<outbox-{message.id}.{stamp}@{domain}>"


def split_cc(cc: str) -> list[str]:
    """The cc addresses stored comma-separated in the outbox."""
    return [address.strip() for address in cc.split(",") if address.strip()]


def send_message(
    connection: SmtpConnection, message: OutboxMessage, *, mail_from: str
) -> dict[str, str]:
    """Send one outbox message on ``connection``; raises on failure.

    Returns the recipients the server refused while accepting others (usually empty).
    """
    built = build_email(message, mail_from=mail_from)
    envelope_from = parseaddr(mail_from)[1] or mail_from
    recipients = [message.to_address, *split_cc(message.cc)]
    return connection.send(
        envelope_from=envelope_from, recipients=recipients, message=built.as_bytes()
    )


def deliver_due_messages(
    engine: Engine,
    *,
    smtp: SmtpConfig,
    now: datetime | None = None,
    clock: Clock | None = None,
    limit: int = BATCH_SIZE,
    retry_limit: int | None = None,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` queued messages whose time has come and record each outcome.

    The messages are claimed together (one conditional UPDATE) and sent in order over ``SENDERS``
    connections at once. Sent: status ``sent`` with ``sent_at``, link tokens removed from the stored
    bodies, written for up to ``RECORD_EVERY`` messages at a time (one commit). Refused:
    ``attempts`` + 1, ``last_error`` and ``next_attempt_at`` pushed back by ``RETRIES``;
    after ``retry_limit`` attempts (settings.mail_retry_limit by default) the status becomes
    ``failed``. Server unavailable: the message and the rest of the batch go back untouched, the
    run stops and says so in ``server_unavailable``. ``now`` fixes the time (tests), ``clock``
    gives it; ``stop`` lets a caller end the run after the messages being sent (the rest of the
    batch goes back to the queue).
    """
    settings = get_settings()
    fixed_now = now
    clock = clock or (lambda: fixed_now or utcnow())
    retry_limit = settings.mail_retry_limit if retry_limit is None else retry_limit
    started = clock()
    report = DeliveryReport(released_stale=claims.release_stale_claims(OUTBOX, engine, now=started))
    still_in_window = col(OutboxMessage.created_at) >= started - sending_window()

    batch = claims.claim_batch(OUTBOX, engine, still_in_window, now=started, limit=limit)
    if not batch:
        return report
    work = _Batch(batch, stop)
    sent = _SentOutcomes(engine, report, clock=clock)

    def send_over_one_connection() -> None:
        try:
            with SmtpConnection(smtp) as connection:
                while (claim := work.next()) is not None:
                    go_on = _deliver_claimed(
                        engine, connection, claim, report=report, sent=sent, mail_from=settings.mail_from,
                        clock=clock, retry_limit=retry_limit,
                    )  # fmt: skip
                    if not go_on:
                        work.end()
        except BaseException:
            work.end()
            raise

    try:
        with ClaimKeeper(engine, batch, clock=clock):
            senders = min(SENDERS, len(batch))
            if senders <= 1:
                send_over_one_connection()
            else:
                with ThreadPoolExecutor(max_workers=senders - 1, thread_name_prefix="outbox-send") as pool:
                    others = [pool.submit(send_over_one_connection) for _ in range(senders - 1)]
                    try:
                        send_over_one_connection()
                    finally:
                        for other in others:
                            other.result()  # waits for it; raises what it raised
    finally:
        sent.write()
        _put_back(engine, work.untaken())
    return report


class _Batch:
    """The claimed messages of a run, handed out in order to its senders until the run ends (all
    handed out, ``stop`` set, or ``end`` called); ``untaken`` are those never handed out."""

    def __init__(self, claimed: list[Claim[OutboxMessage]], stop: threading.Event | None) -> None:
        self._claimed = claimed
        self._stop = stop
        self._taken = 0
        self._ended = False
        self._lock = threading.Lock()

    def next(self) -> Claim[OutboxMessage] | None:
        with self._lock:
            stopped = self._stop is not None and self._stop.is_set()
            if self._ended or stopped or self._taken >= len(self._claimed):
                return None
            self._taken += 1
            return self._claimed[self._taken - 1]

    def end(self) -> None:
        with self._lock:
            self._ended = True

    def untaken(self) -> list[Claim[OutboxMessage]]:
        with self._lock:
            return self._claimed[self._taken :]


class _SentOutcomes:
    """The outcomes of sent messages not written yet: written together every ``RECORD_EVERY``
    messages, before any other outcome, and at the end of the run (one commit for several)."""

    def __init__(self, engine: Engine, report: DeliveryReport, *, clock: Clock) -> None:
        self.engine = engine
        self.report = report
        self.clock = clock
        self.waiting: list[tuple[Claim[OutboxMessage], dict[str, object]]] = []
        self._lock = threading.Lock()

    def add(self, claim: Claim[OutboxMessage], refused: dict[str, str]) -> None:
        values = _sent_values(claim, now=self.clock(), refused=refused)
        with self._lock:
            self.waiting.append((claim, values))
            if len(self.waiting) >= RECORD_EVERY:
                self._write()

    def write(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        waiting, self.waiting = self.waiting, []
        written = claims.record_outcomes(self.engine, waiting, what="that it was sent")
        for (claim, _values), done in zip(waiting, written, strict=True):
            self.report.note(claim.row_id, Outcome.SENT if done else Outcome.LOST)


def _put_back(engine: Engine, unsent: list[Claim[OutboxMessage]]) -> None:
    """Claimed messages this run did not send (stopped, or the server went away): back in the
    queue untouched, as if never claimed."""
    if unsent:
        claims.record_outcomes(
            engine, [(claim, {"status": OutboxStatus.QUEUED.value}) for claim in unsent], what="its release"
        )


def _deliver_claimed(
    engine: Engine,
    connection: SmtpConnection,
    claim: Claim[OutboxMessage],
    *,
    report: DeliveryReport,
    sent: _SentOutcomes,
    mail_from: str,
    clock: Clock,
    retry_limit: int,
) -> bool:
    """Send one claimed message; False when the run should stop. A sent message's outcome joins
    ``sent``; any other is written at once (after those waiting in ``sent``)."""
    message_id = claim.row_id
    if not stored_bodies.is_readable(claim.row):
        sent.write()
        outcome = _record_failure(engine, claim, error=UNREADABLE_ERROR, now=clock(), give_up=True)
        report.note(message_id, outcome)
        return True
    try:
        refused = send_message(connection, claim.row, mail_from=mail_from)
    except SmtpUnavailable as exc:
        sent.write()
        report.server_unavailable = _truncate(str(exc))
        report.note(message_id, _release(engine, claim, error=report.server_unavailable))
        return False  # the others go back to the queue, untouched, until the server is back
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, none crashes the run
        sent.write()
        if not isinstance(exc, OSError):  # OSError covers smtplib's errors and the network's
            logger.exception("Outbox message %s could not be built or sent", message_id)
        last_attempt = claim.row.attempts + 1 >= retry_limit
        outcome = _record_failure(engine, claim, error=_describe(exc), now=clock(), give_up=last_attempt)
        report.note(message_id, outcome)
        return not _connection_broke(exc)
    sent.add(claim, refused)
    return True


def _connection_broke(exc: BaseException) -> bool:
    """Whether the connection ended while sending (a refusal of this message leaves it usable)."""
    refusals = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)
    return isinstance(exc, OSError) and not isinstance(exc, refusals)


# --- outcomes (each written only by the claimant) -----------------------------------------------


def _sent_values(claim: Claim[OutboxMessage], *, now: datetime, refused: dict[str, str]) -> dict[str, object]:
    """The outcome of a sent message: ``sent``, when, the refused recipients if any, and the stored
    bodies without their link tokens."""
    note = None
    if refused:
        note = _truncate("Sent, but refused for: " + "; ".join(f"{a}: {r}" for a, r in refused.items()))
        logger.warning("Outbox message %s: %s", claim.row_id, note)
    return {
        "status": OutboxStatus.SENT.value,
        "sent_at": now,
        "last_error": note,
        "text_body": stored_bodies.seal(claim.row.text_body, redacted=True),
        "html_body": stored_bodies.seal(claim.row.html_body, redacted=True),
    }


def _release(engine: Engine, claim: Claim[OutboxMessage], *, error: str) -> Outcome:
    """The server could not take mail: back to the queue, no attempt counted, due as it was."""
    values = {
        "status": OutboxStatus.QUEUED.value,
        "last_error": _truncate(f"Waiting for the mail server: {error}"),
    }
    if not claims.record_outcome(engine, claim, values, what="its release"):
        return Outcome.LOST
    return Outcome.RELEASED


def _record_failure(
    engine: Engine,
    claim: Claim[OutboxMessage],
    *,
    error: str,
    now: datetime,
    give_up: bool,
) -> Outcome:
    """Count a failed attempt: retry later, or (``give_up``) fail for good and tell the
    Administrators of the message's environment, in the same transaction."""
    message = claim.row
    attempts = message.attempts + 1
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": error,
        "status": OutboxStatus.FAILED.value if give_up else OutboxStatus.QUEUED.value,
    }
    if not give_up:
        values["next_attempt_at"] = now + RETRIES.delay_after(attempts)

    def tell_administrators(session: Session) -> None:
        if give_up and message.environment_id is not None:
            _notify_failure(
                session, environment_id=message.environment_id, to_address=message.to_address,
                subject=message.subject, can_retry=True,
            )  # fmt: skip

    if not claims.record_outcome(engine, claim, values, what="its failed attempt", also=tell_administrators):
        return Outcome.LOST
    if give_up:
        logger.error(
            "Outbox message %s to %s failed for good after %s attempts: %s",
            message.id, message.to_address, attempts, error,
        )  # fmt: skip
        return Outcome.FAILED
    logger.warning(
        "Outbox message %s to %s not sent (attempt %s, retry in %s): %s",
        message.id, message.to_address, attempts, RETRIES.delay_after(attempts), error,
    )  # fmt: skip
    return Outcome.RETRYING


def _notify_failure(
    session: Session, *, environment_id: int, to_address: str, subject: str, can_retry: bool
) -> None:
    from econnect_app.services import outbox_admin  # the domain layer builds on mail, not the reverse

    outbox_admin.notify_administrators_of_failure(
        session, environment_id=environment_id, to_address=to_address, subject=subject, can_retry=can_retry
    )


def _describe(exc: BaseException) -> str:
    return _truncate(f"{type(exc).__name__}: {exc}")


def _truncate(text: str) -> str:
    return text if len(text) <= LAST_ERROR_MAX_LENGTH else text[: LAST_ERROR_MAX_LENGTH - 1] + "\u2026"


# --- the worker ----------------------------------------------------------------------------------


@dataclass
class QueueBackoff:
    """The whole queue's pause while the server cannot take mail (one per worker process)."""

    consecutive: int = 0
    since: datetime | None = None

    def server_unavailable(self, reason: str) -> float:
        """Note one more run that found the server unavailable; the seconds to wait."""
        self.consecutive += 1
        if self.since is None:
            self.since = utcnow()
            logger.warning("The mail server cannot take mail (%s); emails wait in the outbox", reason)
        return OUTAGE_PAUSES.delay_after(self.consecutive).total_seconds()

    def server_available(self) -> None:
        """The server took mail (or nothing was due): the queue goes at its normal pace."""
        if self.since is not None:
            logger.info("The mail server takes mail again (unavailable since %s)", self.since.isoformat())
        self.consecutive = 0
        self.since = None


@dataclass
class _TidySchedule:
    """When this worker next tidies the outbox (the first time with rows from before encryption)."""

    next_at: float = 0.0
    legacy: bool = True

    def tidy_when_due(self, engine: Engine) -> None:
        if time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + TIDY_EVERY_SECONDS
        try:
            tidy_outbox(engine, legacy=self.legacy)
        except Exception:  # noqa: BLE001 - delivery goes on; tidying is tried again later
            logger.exception("Tidying the outbox failed; trying again in %s s", TIDY_EVERY_SECONDS)
            return
        self.legacy = False


async def delivery_loop(*, interval_seconds: float = 1.0) -> None:
    """Deliver the outbox forever (a Reflex lifespan task); returns at once without SMTP.

    Each run happens in a thread. Errors are logged and the loop goes on. While the server
    cannot take mail the queue backs off (``OUTAGE_PAUSES``). Every ``TIDY_EVERY_SECONDS`` the
    outbox is tidied (``tidy_outbox``; the first time also rows from before encryption). On
    cancellation the message being sent is finished and recorded before the loop ends.
    """
    settings = get_settings()
    if not settings.smtp_url:
        logger.info("No ECONNECT_SMTP_URL: emails stay in the outbox (see /dev/mailbox in dev)")
        return
    try:
        smtp = parse_smtp_url(settings.smtp_url)
    except ValueError as exc:
        logger.error("Email delivery is off: %s", exc)
        return
    engine = get_engine()
    stop = threading.Event()
    backoff = QueueBackoff()
    tidying = _TidySchedule()

    def one_run() -> DeliveryReport:
        tidying.tidy_when_due(engine)
        return deliver_due_messages(engine, smtp=smtp, stop=stop)

    logger.info("Email delivery to %s:%s started", smtp.host, smtp.port)
    with _listening() as queued:
        while True:
            queued.clear()
            report = await claims.run_in_thread(
                one_run, stop=stop, name="Email delivery", interval_seconds=interval_seconds
            )
            if report is not None and report.server_unavailable:
                await asyncio.sleep(backoff.server_unavailable(report.server_unavailable))
                continue
            if report is not None and (report.attempted or report.lost):
                backoff.server_available()  # the server answered about a message
            full_batch_sent = report is not None and len(report.sent) >= BATCH_SIZE
            if full_batch_sent and not report.failed and not report.retrying:  # type: ignore[union-attr]
                continue  # a full batch went out: there may be more waiting
            with contextlib.suppress(TimeoutError):  # the next poll, or sooner when a message is queued
                await asyncio.wait_for(queued.wait(), timeout=interval_seconds)


# --- waking the worker when a message is queued -------------------------------------------------
# A commit in this process that queued a message wakes this process's delivery loops at once
# (instead of at their next poll, up to ``interval_seconds`` later); a rollback forgets it. Other
# backend workers find the message at their next poll.

_QUEUED_KEY = "econnect.outbox.queued"
_listeners_lock = threading.Lock()
_listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


@contextlib.contextmanager
def _listening() -> Iterator[asyncio.Event]:
    """An event of the running loop that is set whenever a commit of this process queued a message."""
    queued = asyncio.Event()
    entry = (asyncio.get_running_loop(), queued)
    with _listeners_lock:
        _listeners.add(entry)
    try:
        yield queued
    finally:
        with _listeners_lock:
            _listeners.discard(entry)


def _wake_listeners() -> None:
    with _listeners_lock:
        listeners = list(_listeners)
    for loop, queued in listeners:
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(queued.set)


def _note_queued(session: Session, _flush_context: object) -> None:
    if _listeners and any(isinstance(row, OutboxMessage) for row in session.new):
        session.info[_QUEUED_KEY] = True


def _after_commit(session: Session) -> None:
    if not session.in_nested_transaction() and session.info.pop(_QUEUED_KEY, False):
        _wake_listeners()


def _after_soft_rollback(session: Session, previous_transaction: object) -> None:
    if getattr(previous_transaction, "parent", None) is None:
        session.info.pop(_QUEUED_KEY, None)


event.listen(Session, "after_flush", _note_queued)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", _after_soft_rollback)
