"""Claims on outbox messages: which worker sends a message, and proof that it still does.

A claim is a conditional UPDATE (``status='queued'`` -> ``'sending'``) that writes a fresh
``claim_token``; only the worker whose UPDATE changed the row sends the message, and every outcome
it writes is conditional on that token (:func:`held_by`). While the message is being sent the
claimant renews ``claimed_at`` every ``CLAIM_RENEWAL_EVERY`` (:class:`ClaimKeeper`); a claim not
renewed for ``STALE_CLAIM_AFTER`` belongs to a worker that died and is put back in the queue with
its token cleared (:func:`release_stale_claims`), so that worker's late outcome changes nothing.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from econnect_app.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

STALE_CLAIM_AFTER = timedelta(minutes=5)
CLAIM_RENEWAL_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Claim:
    """A message this worker holds, and the token that proves it."""

    message: OutboxMessage
    token: str

    @property
    def message_id(self) -> int:
        assert self.message.id is not None
        return self.message.id


def held_by(claim: Claim) -> tuple:
    """The condition of every write by a claimant: the row is still claimed with its token."""
    return (
        col(OutboxMessage.id) == claim.message_id,
        col(OutboxMessage.status) == OutboxStatus.SENDING.value,
        col(OutboxMessage.claim_token) == claim.token,
    )


def release_stale_claims(engine: Engine, *, now: datetime) -> int:
    """Put messages whose claim was not renewed for 5 minutes (a worker that died) back in the
    queue, clearing the token so that worker can no longer write an outcome."""
    stale = (
        col(OutboxMessage.status) == OutboxStatus.SENDING.value,
        or_(col(OutboxMessage.claimed_at).is_(None), col(OutboxMessage.claimed_at) < now - STALE_CLAIM_AFTER),
    )
    with Session(engine) as session:
        if session.exec(select(OutboxMessage.id).where(*stale).limit(1)).first() is None:
            return 0  # the usual case: no write transaction needed
    with engine.begin() as connection:
        result = connection.execute(
            update(OutboxMessage)
            .where(*stale)
            .values(status=OutboxStatus.QUEUED.value, claimed_at=None, claim_token=None)
        )
    if result.rowcount:
        logger.warning("Put %s stale outbox claim(s) back in the queue", result.rowcount)
    return result.rowcount


def claim(engine: Engine, *, message_id: int, now: datetime) -> Claim | None:
    """Atomically take a queued message with a new token; None when another worker was first."""
    token = secrets.token_urlsafe(24)
    with engine.begin() as connection:
        result = connection.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == message_id,
                col(OutboxMessage.status) == OutboxStatus.QUEUED.value,
            )
            .values(status=OutboxStatus.SENDING.value, claimed_at=now, claim_token=token)
        )
        if result.rowcount != 1:
            return None
    with Session(engine, expire_on_commit=False) as session:
        message = session.get(OutboxMessage, message_id)
    return None if message is None else Claim(message=message, token=token)


def renew_claim(engine: Engine, claim: Claim, *, now: datetime) -> bool:
    """Mark the claim as alive at ``now``; False when it is no longer held."""
    with engine.begin() as connection:
        result = connection.execute(update(OutboxMessage).where(*held_by(claim)).values(claimed_at=now))
    return result.rowcount == 1


class ClaimKeeper:
    """Renews a claim every ``CLAIM_RENEWAL_EVERY`` while its message is being sent (a thread), so
    a slow send is never mistaken for a dead worker. Most sends end before the first renewal."""

    def __init__(self, engine: Engine, claim: Claim, *, clock: Clock) -> None:
        self._engine = engine
        self._claim = claim
        self._clock = clock
        self._every = CLAIM_RENEWAL_EVERY.total_seconds()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_until_done, name=f"outbox-claim-{claim.message_id}", daemon=True
        )

    def _renew_until_done(self) -> None:
        while not self._done.wait(self._every):
            try:
                held = renew_claim(self._engine, self._claim, now=self._clock())
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next tick
                logger.exception("Could not renew the claim on outbox message %s", self._claim.message_id)
                continue
            if not held:
                logger.warning("Outbox message %s: the claim was lost while sending", self._claim.message_id)
                return

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()
