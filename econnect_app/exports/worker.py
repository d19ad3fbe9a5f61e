"""The export worker: delivers queued documents to the accountants' configured targets.

``export_loop`` is a Reflex lifespan task in every backend worker, so several may run at once:

- **Claims** (``econnect_app/claims.py``; this queue is ``DELIVERIES``, the outbox is another). A
  due delivery (``Pending``, or ``Retrying`` whose time has come) is taken by a conditional UPDATE
  writing a claim token; only that worker delivers it, renews the claim while it uploads, and
  writes the outcome only while it still holds the claim. A claim not renewed for five minutes (a
  worker that died) goes back to the queue and is delivered by whichever worker claims it next;
  the dead worker's late outcome is not written.
- **Rules first.** Before each attempt the rules are read again (``services/exports.delivery_refusal``):
  a deactivated online connection, another configuration chosen meanwhile, or an ended
  partnership delivers nothing; the delivery becomes Failed with that reason.
- **Outcomes.** The document's bytes are read from the document store (checksum verified) and
  handed to ``targets.deliver``: ``Delivered`` with the remote path and time; for a failure that
  may pass (server down, timeout) ``Retrying`` with backoff (``RETRIES``); ``Failed`` with
  the reason for one that will not (wrong password, changed host key, revoked sign-in) or after
  ``RETRIES.max_attempts``. A failure notifies the accountant environment's Administrators, who use
  ``Retry`` in the delivery log. The document is never touched: nothing is lost.

Each outcome is published live (the accountant's open page shows it) through ``effects.changed``.
The loop runs every ``POLL_SECONDS`` and at once when this process queued a delivery
(``wakeup.py``); it never crashes on one bad row and stops cleanly when cancelled (the delivery in
progress is finished and recorded first).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import case
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from econnect_app import claims
from econnect_app.claims import Claim, ClaimKeeper, ClaimQueue, Clock, RetrySchedule
from econnect_app.db import get_engine
from econnect_app.exports import targets, wakeup
from econnect_app.models import (
    AccountingConfiguration,
    DeliveryStatus,
    Document,
    DocumentDelivery,
    utcnow,
)
from econnect_app.services import document_store, effects, exports

__all__ = ["DELIVERIES", "RETRIES", "deliver_due", "deliver_due_report", "export_loop"]

logger = logging.getLogger(__name__)

DELIVERIES: ClaimQueue[DocumentDelivery] = ClaimQueue(
    model=DocumentDelivery,
    waiting=exports.WAITING,
    working=DeliveryStatus.DELIVERING.value,
    # A released delivery is Retrying after a failed attempt, else Pending.
    released=case(
        (col(DocumentDelivery.attempts) > 0, DeliveryStatus.RETRYING.value),
        else_=DeliveryStatus.PENDING.value,
    ),
    due_checked=True,
    label="document delivery",
)

# After a failure that may pass; a delivery fails for good after its 10th attempt.
RETRIES = RetrySchedule.of("30 s", "2 min", "10 min", "30 min", "1 h", "3 h", then="6 h", max_attempts=10)
BATCH_SIZE = 20
POLL_SECONDS = 3.0
LAST_ERROR_MAX_LENGTH = 2000
UNREADABLE_DOCUMENT = "The stored file could not be read"


class Outcome(StrEnum):
    """What became of a claimed delivery."""

    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"
    LOST = "lost"  # the claim was taken over: this worker's outcome was not written


@dataclass
class ExportReport:
    """What one run did (delivery ids)."""

    delivered: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    released_stale: int = 0

    @property
    def handled(self) -> int:
        """Deliveries this run attempted and recorded."""
        return len(self.delivered) + len(self.retrying) + len(self.failed)

    def note(self, delivery_id: int, outcome: Outcome) -> None:
        {
            Outcome.DELIVERED: self.delivered,
            Outcome.RETRYING: self.retrying,
            Outcome.FAILED: self.failed,
            Outcome.LOST: self.lost,
        }[outcome].append(delivery_id)


def _engine_of(engine_or_session_factory: Engine | Callable[[], Session]) -> Engine:
    if isinstance(engine_or_session_factory, Engine):
        return engine_or_session_factory
    with engine_or_session_factory() as session:
        bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def deliver_due(
    engine_or_session_factory: Engine | Callable[[], Session],
    *,
    now: datetime | None = None,
    clock: Clock | None = None,
    limit: int = BATCH_SIZE,
    stop: threading.Event | None = None,
) -> int:
    """Deliver up to ``limit`` due deliveries and record each outcome; how many were attempted.
    ``now`` fixes the time (tests), ``clock`` gives it; see :func:`deliver_due_report`."""
    return deliver_due_report(engine_or_session_factory, now=now, clock=clock, limit=limit, stop=stop).handled


def deliver_due_report(
    engine_or_session_factory: Engine | Callable[[], Session],
    *,
    now: datetime | None = None,
    clock: Clock | None = None,
    limit: int = BATCH_SIZE,
    stop: threading.Event | None = None,
) -> ExportReport:
    """Release stale claims, then claim and deliver due deliveries one at a time (oldest due
    first), up to ``limit``; ``stop`` ends the run after the delivery in progress."""
    engine = _engine_of(engine_or_session_factory)
    fixed_now = now
    clock = clock or (lambda: fixed_now or utcnow())
    started = clock()
    report = ExportReport(released_stale=claims.release_stale_claims(DELIVERIES, engine, now=started))
    for claim in claims.claim_due(DELIVERIES, engine, now=started, clock=clock, limit=limit, stop=stop):
        try:
            outcome = _deliver_claimed(engine, claim, clock=clock)
        except Exception as exc:  # noqa: BLE001 - one bad row never stops the others
            logger.exception("Document delivery %s failed unexpectedly", claim.row_id)
            outcome = _record_unexpected(engine, claim, exc, now=clock())
            if outcome is None:
                continue  # not even that could be written: the claim goes stale, tried again later
        report.note(claim.row_id, outcome)
    return report


def remote_filename(document: Document) -> str:
    """A unique, portable file name for the target: ``<upload date>_<document id>_<name>``, the
    name reduced to letters, digits, dots, dashes and underscores."""
    stem = unicodedata.normalize("NFKD", document.filename).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "document"
    extension = ".xml" if document.format == "ubl" else ".pdf"
    if not stem.lower().endswith(extension):
        stem += extension
    return f"{document.created_at:%Y-%m-%d}_{document.id}_{stem[-150:]}"


@dataclass(frozen=True)
class _Attempt:
    """What a delivery attempt came to, before it is recorded."""

    remote_path: str = ""
    error: str = ""
    retryable: bool = False
    refused: bool = False  # the rules refused it: nobody is notified (someone changed them)


def _attempt(engine: Engine, claim: Claim[DocumentDelivery], *, clock: Clock) -> _Attempt:
    """Check the rules, read the bytes and hand them to the target (holding the claim meanwhile)."""
    with Session(engine, expire_on_commit=False) as session:
        delivery = session.get(DocumentDelivery, claim.row_id)
        assert delivery is not None
        refusal = exports.delivery_refusal(session, delivery)
        if refusal is not None:
            return _Attempt(error=refusal, refused=True)
        document = session.get(Document, delivery.document_id)
        configuration = session.get(AccountingConfiguration, delivery.configuration_id)
        assert document is not None and configuration is not None
        session.commit()  # end the read transaction: the upload may take a while
        with ClaimKeeper(engine, claim, clock=clock):
            try:
                data = document_store.read_document_bytes(document)
            except document_store.DocumentUnavailable as exc:  # missing or altered: it may be restored
                logger.error("Delivery %s: %s", claim.row_id, exc.message)
                return _Attempt(error=exc.message, retryable=True)
            except Exception as exc:  # noqa: BLE001 - any other storage problem
                logger.exception(
                    "Document %s could not be read for delivery %s", document.id, claim.row_id
                )
                return _Attempt(error=f"{UNREADABLE_DOCUMENT}: {exc}", retryable=True)
            try:
                remote_path = targets.deliver(
                    session, configuration, kind=document.kind, filename=remote_filename(document), data=data
                )
            except targets.DeliveryError as exc:
                return _Attempt(error=exc.message, retryable=exc.retryable)
            except Exception as exc:  # noqa: BLE001 - an unexpected failure is retried, never fatal
                logger.exception("Document delivery %s failed unexpectedly", claim.row_id)
                return _Attempt(error=f"Unexpected error: {type(exc).__name__}: {exc}", retryable=True)
    return _Attempt(remote_path=remote_path)


def _deliver_claimed(engine: Engine, claim: Claim[DocumentDelivery], *, clock: Clock) -> Outcome:
    attempt = _attempt(engine, claim, clock=clock)
    now = clock()
    if attempt.refused:  # no attempt was made; someone changed the rules, nobody needs telling
        return _record_failure(engine, claim, error=attempt.error, now=now, give_up=True, counted=False)
    if attempt.error:
        give_up = not attempt.retryable or RETRIES.is_last(claim.row.attempts + 1)
        return _record_failure(engine, claim, error=attempt.error, now=now, give_up=give_up, notify=give_up)
    return _record_delivered(engine, claim, remote_path=attempt.remote_path, now=now)


# --- outcomes (each written only by the claimant) -----------------------------------------------


def _record_delivered(
    engine: Engine, claim: Claim[DocumentDelivery], *, remote_path: str, now: datetime
) -> Outcome:
    values = {
        "status": DeliveryStatus.DELIVERED.value,
        "attempts": claim.row.attempts + 1,
        "remote_path": remote_path[:500],
        "delivered_at": now,
        "last_error": None,
    }
    delivered = claims.record_outcome(
        engine, claim, values, what="that it was delivered",
        also=lambda session: effects.changed(session, claim.row.environment_id),
    )  # fmt: skip
    if not delivered:
        return Outcome.LOST
    logger.info("Document delivery %s delivered to %s", claim.row_id, remote_path)
    return Outcome.DELIVERED


def _record_failure(
    engine: Engine,
    claim: Claim[DocumentDelivery],
    *,
    error: str,
    now: datetime,
    give_up: bool,
    counted: bool = True,
    notify: bool = False,
) -> Outcome:
    """Record a delivery that did not happen: Retrying with backoff, or (``give_up``) Failed,
    telling the Administrators in the same transaction when ``notify``. ``counted``: an attempt
    was made (the target was tried)."""
    delivery = claim.row
    attempts = delivery.attempts + 1 if counted else delivery.attempts
    error = _truncate(error)
    values: dict[str, object] = {
        "attempts": attempts,
        "last_error": error,
        "status": DeliveryStatus.FAILED.value if give_up else DeliveryStatus.RETRYING.value,
    }
    if not give_up:
        values["next_attempt_at"] = now + RETRIES.delay_after(attempts)

    def notify_and_publish(session: Session) -> None:
        if notify:
            document = session.get(Document, delivery.document_id)
            exports.notify_administrators_of_failure(
                session,
                delivery=delivery,
                document_name=document.filename if document else "A document",
                reason=error,
            )
        effects.changed(session, delivery.environment_id)

    if not claims.record_outcome(engine, claim, values, what="its failed attempt", also=notify_and_publish):
        return Outcome.LOST
    if give_up:
        logger.warning(
            "Document delivery %s failed after %s attempt(s): %s", claim.row_id, attempts, error
        )
        return Outcome.FAILED
    logger.info(
        "Document delivery %s not delivered (attempt %s, retry in %s): %s",
        claim.row_id, attempts, RETRIES.delay_after(attempts), error,
    )  # fmt: skip
    return Outcome.RETRYING


def _record_unexpected(
    engine: Engine, claim: Claim[DocumentDelivery], error: Exception, *, now: datetime
) -> Outcome | None:
    """Count an attempt that failed outside the target (a bug, the database): retried like a
    failure that may pass, so it ends Failed after ``RETRIES.max_attempts`` instead of looping forever."""
    give_up = RETRIES.is_last(claim.row.attempts + 1)
    message = f"Unexpected error: {type(error).__name__}: {error}"
    try:
        return _record_failure(engine, claim, error=message, now=now, give_up=give_up, notify=give_up)
    except Exception:  # noqa: BLE001 - the database itself is failing
        logger.exception("Document delivery %s: its failure could not be recorded", claim.row_id)
        return None


def _truncate(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= LAST_ERROR_MAX_LENGTH else text[: LAST_ERROR_MAX_LENGTH - 1] + "\u2026"


# --- the loop -------------------------------------------------------------------------------------


async def export_loop(*, interval_seconds: float = POLL_SECONDS) -> None:
    """Deliver documents forever (a Reflex lifespan task in every backend worker).

    Each run happens in a thread. It wakes every ``interval_seconds`` and at once when this process
    queued a delivery; errors are logged and the loop goes on. On cancellation the delivery in
    progress is finished and recorded before the loop ends.
    """
    engine = get_engine()
    stop = threading.Event()
    logger.info("Document export worker started")
    with wakeup.listening() as woken:
        while True:
            woken.clear()  # a wake during the run below makes the next wait return at once
            report = await claims.run_in_thread(
                lambda: deliver_due_report(engine, stop=stop),
                stop=stop, name="Document export", interval_seconds=interval_seconds,
            )  # fmt: skip
            if report is not None and report.handled + len(report.lost) >= BATCH_SIZE:
                continue  # a full batch: there may be more due
            try:
                await asyncio.wait_for(woken.wait(), timeout=interval_seconds)
            except TimeoutError:
                pass
