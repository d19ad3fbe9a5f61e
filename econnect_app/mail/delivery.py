"""Deliver outbox messages via SMTP: claim, send, record the outcome; retry with backoff.

Several workers (processes or threads) may run at once: a message is claimed with a conditional
UPDATE (``status='queued'`` -> ``'sending'``) and only the worker whose UPDATE changed the row
sends it. Rows are never deleted.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr

import emails
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from econnect_app.db import get_engine
from econnect_app.mail.smtp import SmtpConfig, SmtpConnection, parse_smtp_url
from econnect_app.models import OutboxMessage, OutboxStatus, utcnow
from econnect_app.settings import get_settings

logger = logging.getLogger(__name__)

STALE_CLAIM_AFTER = timedelta(minutes=5)
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=15),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
)
MAX_RETRY_DELAY = timedelta(hours=12)
LAST_ERROR_MAX_LENGTH = 2000
BATCH_SIZE = 20


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1-based), capped at 12 hours."""
    if attempts < 1:
        return timedelta(0)
    if attempts <= len(RETRY_DELAYS):
        return RETRY_DELAYS[attempts - 1]
    return MAX_RETRY_DELAY


@dataclass
class DeliveryReport:
    """What one delivery run did (message ids)."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    released_stale: int = 0

    @property
    def attempted(self) -> int:
        """Messages this run tried to send."""
        return len(self.sent) + len(self.retrying) + len(self.failed)


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
    limit: int = BATCH_SIZE,
    retry_limit: int | None = None,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """Send up to ``limit`` queued messages whose time has come and record each outcome.

    Sent: status ``sent`` with ``sent_at``. Failure: ``attempts`` + 1, ``last_error`` and
    ``next_attempt_at`` pushed back by :func:`retry_delay`; after ``retry_limit`` attempts
    (settings.mail_retry_limit by default) the status becomes ``failed``. When the server cannot
    be reached, the run stops after that message (the others stay queued, untouched).
    ``stop`` lets a caller end the run after the message being sent.
    """
    settings = get_settings()
    fixed_now = now
    started = now or utcnow()

    def current_time() -> datetime:
        return fixed_now or utcnow()

    retry_limit = settings.mail_retry_limit if retry_limit is None else retry_limit
    report = DeliveryReport(released_stale=release_stale_claims(engine, now=started))

    with SmtpConnection(smtp) as connection:
        for message_id in _due_message_ids(engine, now=started, limit=limit):
            if stop is not None and stop.is_set():
                break
            message = _claim(engine, message_id=message_id, now=current_time())
            if message is None:
                continue  # another worker has it
            try:
                refused = send_message(connection, message, mail_from=settings.mail_from)
            except Exception as exc:  # noqa: BLE001 - every failure is recorded, none crashes the run
                if not isinstance(exc, OSError):  # OSError covers smtplib's errors and the network's
                    logger.exception("Outbox message %s could not be built or sent", message_id)
                gave_up = _record_failure(
                    engine,
                    message=message,
                    error=_describe(exc),
                    now=current_time(),
                    retry_limit=retry_limit,
                )
                (report.failed if gave_up else report.retrying).append(message_id)
                if isinstance(exc, OSError) and _server_unreachable(exc):
                    break  # the others stay queued, untouched, for the next run
                continue
            _record_sent(engine, message_id=message_id, now=current_time(), refused=refused)
            report.sent.append(message_id)
    return report


def release_stale_claims(engine: Engine, *, now: datetime) -> int:
    """Put messages claimed more than 5 minutes ago (a worker that died) back in the queue."""
    stale = (
        col(OutboxMessage.status) == OutboxStatus.SENDING.value,
        col(OutboxMessage.claimed_at) < now - STALE_CLAIM_AFTER,
    )
    with Session(engine) as session:
        if session.exec(select(OutboxMessage.id).where(*stale).limit(1)).first() is None:
            return 0  # the usual case: no write transaction needed
    with engine.begin() as connection:
        result = connection.execute(
            update(OutboxMessage)
            .where(*stale)
            .values(status=OutboxStatus.QUEUED.value, claimed_at=None)
        )
    if result.rowcount:
        logger.warning("Put %s stale outbox claim(s) back in the queue", result.rowcount)
    return result.rowcount


def _due_message_ids(engine: Engine, *, now: datetime, limit: int) -> Sequence[int]:
    with Session(engine) as session:
        statement = (
            select(OutboxMessage.id)
            .where(
                col(OutboxMessage.status) == OutboxStatus.QUEUED.value,
                col(OutboxMessage.next_attempt_at) <= now,
            )
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(limit)
        )
        return [message_id for message_id in session.exec(statement).all() if message_id is not None]


def _claim(engine: Engine, *, message_id: int, now: datetime) -> OutboxMessage | None:
    """Atomically take a queued message; None when another worker was first."""
    with engine.begin() as connection:
        result = connection.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message_id,
                col(OutboxMessage.status) == OutboxStatus.QUEUED.value,
            )
            .values(status=OutboxStatus.SENDING.value, claimed_at=now)
        )
        if result.rowcount != 1:
            return None
    with Session(engine, expire_on_commit=False) as session:
        return session.get(OutboxMessage, message_id)


def _record_sent(engine: Engine, *, message_id: int, now: datetime, refused: dict[str, str]) -> None:
    note = None
    if refused:
        note = _truncate("Sent, but refused for: " + "; ".join(f"{a}: {r}" for a, r in refused.items()))
        logger.warning("Outbox message %s: %s", message_id, note)
    with engine.begin() as connection:
        connection.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id)
            .values(
                status=OutboxStatus.SENT.value,
                sent_at=now,
                claimed_at=None,
                **({"last_error": note} if note else {}),
            )
        )


def _record_failure(
    engine: Engine, *, message: OutboxMessage, error: str, now: datetime, retry_limit: int
) -> bool:
    """Record a failed attempt; returns True when the message has now failed for good."""
    attempts = message.attempts + 1
    gave_up = attempts >= retry_limit
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": error,
        "claimed_at": None,
        "status": OutboxStatus.FAILED.value if gave_up else OutboxStatus.QUEUED.value,
    }
    if not gave_up:
        values["next_attempt_at"] = now + retry_delay(attempts)
    with engine.begin() as connection:
        connection.execute(
            update(OutboxMessage).where(col(OutboxMessage.id) == message.id).values(**values)
        )
    if gave_up:
        logger.error(
            "Outbox message %s to %s failed for good after %s attempts: %s",
            message.id, message.to_address, attempts, error,
        )
    else:
        logger.warning(
            "Outbox message %s to %s not sent (attempt %s, retry in %s): %s",
            message.id, message.to_address, attempts, retry_delay(attempts), error,
        )
    return gave_up


_MESSAGE_LEVEL_ERRORS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
)


def _server_unreachable(exc: BaseException) -> bool:
    """Whether the failure is about the server (connection, TLS, login) rather than this message."""
    return not isinstance(exc, _MESSAGE_LEVEL_ERRORS)


def _describe(exc: BaseException) -> str:
    return _truncate(f"{type(exc).__name__}: {exc}")


def _truncate(text: str) -> str:
    return text if len(text) <= LAST_ERROR_MAX_LENGTH else text[: LAST_ERROR_MAX_LENGTH - 1] + "\u2026"


async def delivery_loop(*, interval_seconds: float = 1.0) -> None:
    """Deliver the outbox forever (a Reflex lifespan task); returns at once without SMTP.

    Each run happens in a thread. Errors are logged and the loop goes on. On cancellation the
    message being sent is finished and recorded before the loop ends.
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
    logger.info("Email delivery to %s:%s started", smtp.host, smtp.port)
    while True:
        run = asyncio.ensure_future(asyncio.to_thread(deliver_due_messages, engine, smtp=smtp, stop=stop))
        try:
            report = await asyncio.shield(run)
        except asyncio.CancelledError:
            stop.set()
            try:
                await run  # finish (and record) the message being sent
            except Exception:
                logger.exception("Email delivery run failed while stopping")
            logger.info("Email delivery stopped")
            raise
        except Exception:
            logger.exception("Email delivery run failed; trying again in %s s", interval_seconds)
            report = None
        if report is not None and report.attempted >= BATCH_SIZE and not report.failed and not report.retrying:
            continue  # a full batch went out: there may be more waiting
        await asyncio.sleep(interval_seconds)
