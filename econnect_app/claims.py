"""Claimed work queues: which worker handles a row, and proof that it still does.

The outbox (``mail/delivery.py``) and the document deliveries (``exports/worker.py``) are such
queues, each described by a :class:`ClaimQueue`. A claim is a conditional UPDATE (a waiting status
-> the working status) that writes a fresh ``claim_token``; only the worker whose UPDATE changed the
row handles it, and every outcome it writes is conditional on that token (:func:`record_outcome`).
The export worker claims one row at a time (:func:`claim_due`); the outbox claims a batch with one
UPDATE (:func:`claim_batch`) and writes the outcomes of several rows in one transaction
(:func:`record_outcomes`), each still conditional on its own claim.
While the row is being handled the claimant renews ``claimed_at`` every ``CLAIM_RENEWAL_EVERY``
(:class:`ClaimKeeper`); a claim not renewed for ``STALE_CLAIM_AFTER`` belongs to a worker that died
and is put back in the queue with its token cleared (:func:`release_stale_claims`), so that
worker's late outcome changes nothing. The workers' runs share :func:`claim_due` (the claiming
loop), :class:`RetrySchedule` (when a failed row is tried again, and when never) and
:func:`run_in_thread` (stopping cleanly).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from econnect_app import write_turns

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

STALE_CLAIM_AFTER = timedelta(minutes=5)
CLAIM_RENEWAL_EVERY = timedelta(seconds=30)


class Claimable(Protocol):
    """The columns a queue's table has."""

    id: int | None
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_at: datetime | None
    claim_token: str | None


RowT = TypeVar("RowT", bound=Claimable)
ReportT = TypeVar("ReportT")


@dataclass(frozen=True)
class ClaimQueue(Generic[RowT]):
    """A table whose rows workers claim one at a time."""

    model: type[RowT]
    waiting: tuple[str, ...]  # the statuses a row can be claimed from
    working: str  # the status while claimed
    released: str | ColumnElement[str]  # the status (or an SQL expression) of a released stale claim
    due_checked: bool  # a claim also requires ``next_attempt_at <= now``
    label: str  # "outbox message": what a row is called in logs and thread names


@dataclass(frozen=True)
class Claim(Generic[RowT]):
    """A row this worker holds, and the token that proves it."""

    queue: ClaimQueue[RowT]
    row: RowT
    token: str

    @property
    def row_id(self) -> int:
        assert self.row.id is not None
        return self.row.id

    @property
    def name(self) -> str:
        """``Outbox message 12``, for logs."""
        return f"{self.queue.label.capitalize()} {self.row_id}"


def held_by(claim: Claim[Any]) -> tuple[ColumnElement[bool], ...]:
    """The condition of every write by a claimant: the row is still claimed with its token."""
    model = claim.queue.model
    return (
        col(model.id) == claim.row_id,
        col(model.status) == claim.queue.working,
        col(model.claim_token) == claim.token,
    )


def release_stale_claims(queue: ClaimQueue[Any], engine: Engine, *, now: datetime) -> int:
    """Put rows whose claim was not renewed for ``STALE_CLAIM_AFTER`` (a worker that died) back in
    the queue, clearing the token so that worker can no longer write an outcome."""
    model = queue.model
    stale = (
        col(model.status) == queue.working,
        or_(col(model.claimed_at).is_(None), col(model.claimed_at) < now - STALE_CLAIM_AFTER),
    )
    with Session(engine) as session:
        if session.exec(select(model.id).where(*stale).limit(1)).first() is None:
            return 0  # the usual case: no write transaction needed
    with write_turns.turn(engine), engine.begin() as connection:
        result = connection.execute(
            update(model).where(*stale).values(status=queue.released, claimed_at=None, claim_token=None)
        )
    if result.rowcount:
        logger.warning("Put %s stale %s claim(s) back in the queue", result.rowcount, queue.label)
    return result.rowcount


def _take(queue: ClaimQueue[Any], engine: Engine, rows: ColumnElement[bool], *, now: datetime) -> tuple[str, int]:
    """The conditional UPDATE of a claim: the ``rows`` still waiting (and, if ``due_checked``, due)
    become the queue's working status under one fresh token; the token and how many were taken."""
    model = queue.model
    waiting = [rows, col(model.status).in_(queue.waiting)]
    if queue.due_checked:
        waiting.append(col(model.next_attempt_at) <= now)
    token = secrets.token_urlsafe(24)
    with write_turns.turn(engine), engine.begin() as connection:
        result = connection.execute(
            update(model).where(*waiting).values(status=queue.working, claimed_at=now, claim_token=token)
        )
    return token, result.rowcount


def claim(queue: ClaimQueue[RowT], engine: Engine, *, row_id: int, now: datetime) -> Claim[RowT] | None:
    """Atomically take a waiting (and, if ``due_checked``, due) row with a new token; None when
    another worker was first."""
    model = queue.model
    token, taken = _take(queue, engine, col(model.id) == row_id, now=now)
    if taken != 1:
        return None
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(model, row_id)
    return None if row is None else Claim(queue=queue, row=row, token=token)


def _due_row_ids(
    queue: ClaimQueue[Any], engine: Engine, *conditions: ColumnElement[bool], now: datetime, limit: int
) -> list[int]:
    """The ids of up to ``limit`` waiting rows due at ``now`` (and meeting ``conditions``), oldest
    due first."""
    model = queue.model
    with Session(engine) as session:
        statement = (
            select(model.id)
            .where(col(model.status).in_(queue.waiting), col(model.next_attempt_at) <= now, *conditions)
            .order_by(col(model.next_attempt_at), col(model.id))
            .limit(limit)
        )
        return [row_id for row_id in session.exec(statement).all() if row_id is not None]


def claim_due(
    queue: ClaimQueue[RowT],
    engine: Engine,
    *conditions: ColumnElement[bool],
    now: datetime,
    clock: Clock,
    limit: int,
    stop: threading.Event | None = None,
) -> Iterator[Claim[RowT]]:
    """Claim up to ``limit`` waiting rows due at ``now`` (and meeting ``conditions``), oldest due
    first, each just before it is handled; skips those another worker took, ends once ``stop``
    is set."""
    row_ids = _due_row_ids(queue, engine, *conditions, now=now, limit=limit)
    for row_id in row_ids:
        if stop is not None and stop.is_set():
            return
        taken = claim(queue, engine, row_id=row_id, now=clock())
        if taken is not None:
            yield taken


def claim_batch(
    queue: ClaimQueue[RowT],
    engine: Engine,
    *conditions: ColumnElement[bool],
    now: datetime,
    limit: int,
) -> list[Claim[RowT]]:
    """Claim up to ``limit`` waiting rows due at ``now`` (and meeting ``conditions``) at once: one
    conditional UPDATE writing one fresh token, oldest due first. Rows another worker took meanwhile
    are left out; each claim is then handled and its outcome written like one from :func:`claim`."""
    model = queue.model
    row_ids = _due_row_ids(queue, engine, *conditions, now=now, limit=limit)
    if not row_ids:
        return []
    token, taken = _take(queue, engine, col(model.id).in_(row_ids), now=now)
    if taken == 0:
        return []
    with Session(engine, expire_on_commit=False) as session:
        rows = session.exec(
            select(model).where(col(model.claim_token) == token, col(model.status) == queue.working)
        ).all()
    order = {row_id: position for position, row_id in enumerate(row_ids)}
    rows = sorted(rows, key=lambda row: order.get(row.id, len(order)))  # type: ignore[arg-type]
    return [Claim(queue=queue, row=row, token=token) for row in rows]


def renew_claim(engine: Engine, claim: Claim[Any], *, now: datetime) -> bool:
    """Mark the claim as alive at ``now``; False when it is no longer held."""
    return renew_claims(engine, [claim], now=now) > 0


def renew_claims(engine: Engine, held: Sequence[Claim[Any]], *, now: datetime) -> int:
    """Mark the claims as alive at ``now`` (one UPDATE per token); how many are still held."""
    by_token: dict[str, list[Claim[Any]]] = {}
    for claim in held:
        by_token.setdefault(claim.token, []).append(claim)
    renewed = 0
    with write_turns.turn(engine), engine.begin() as connection:
        for token, claims in by_token.items():
            model = claims[0].queue.model
            result = connection.execute(
                update(model)
                .where(
                    col(model.id).in_([claim.row_id for claim in claims]),
                    col(model.status) == claims[0].queue.working,
                    col(model.claim_token) == token,
                )
                .values(claimed_at=now)
            )
            renewed += result.rowcount
    return renewed


def record_outcome(
    engine: Engine,
    claim: Claim[Any],
    values: Mapping[str, object],
    *,
    what: str,
    also: Callable[[Session], None] | None = None,
) -> bool:
    """Write the claimant's outcome (``values``; the claim is cleared) and, in the same transaction,
    whatever ``also`` adds. False, with a warning naming ``what``, when another worker took the
    claim over: nothing is written."""
    with write_turns.turn(engine), Session(engine) as session:
        result = session.execute(
            update(claim.queue.model)
            .where(*held_by(claim))
            .values(claimed_at=None, claim_token=None, **values)
        )
        if result.rowcount != 1:
            session.rollback()
            logger.warning("%s: not recording %s, another worker took the claim over", claim.name, what)
            return False
        if also is not None:
            also(session)
        session.commit()
    return True


def record_outcomes(
    engine: Engine, outcomes: Sequence[tuple[Claim[Any], Mapping[str, object]]], *, what: str
) -> list[bool]:
    """Write the outcomes of several claims (each claim cleared, each conditional on its own claim
    like :func:`record_outcome`) in one transaction: one commit instead of one per row. For each, in
    order, whether it was written (False, with a warning naming ``what``: another worker took that
    claim over)."""
    if not outcomes:
        return []
    written: list[bool] = []
    with write_turns.turn(engine), Session(engine) as session:
        for claim, values in outcomes:
            result = session.execute(
                update(claim.queue.model)
                .where(*held_by(claim))
                .values(claimed_at=None, claim_token=None, **values)
            )
            written.append(result.rowcount == 1)
        session.commit()
    for (claim, _values), done in zip(outcomes, written, strict=True):
        if not done:
            logger.warning("%s: not recording %s, another worker took the claim over", claim.name, what)
    return written


_STEP = re.compile(r"(\d+)\s*(s|min|h)")
_UNITS = {"s": "seconds", "min": "minutes", "h": "hours"}


def _duration(text: str) -> timedelta:
    """``"30 s"``, ``"2 min"`` or ``"6 h"`` as a timedelta."""
    found = _STEP.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"Not a retry step: {text!r} (write e.g. '30 s', '2 min', '6 h')")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


@dataclass(frozen=True)
class RetrySchedule:
    """When a queue tries a failed row again: after the n-th failed attempt (1-based) it waits the
    n-th of ``delays``, past the last one ``then``; after ``max_attempts`` it gives up (None: the
    queue's owner sets the limit, e.g. from a setting)."""

    delays: tuple[timedelta, ...]
    then: timedelta
    max_attempts: int | None = None

    @classmethod
    def of(cls, *delays: str, then: str, max_attempts: int | None = None) -> RetrySchedule:
        """A schedule written as it reads: ``RetrySchedule.of("30 s", "2 min", then="1 h")``."""
        return cls(tuple(_duration(step) for step in delays), _duration(then), max_attempts)

    def delay_after(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt (1-based; none before the first)."""
        if attempts < 1:
            return timedelta(0)
        return self.delays[attempts - 1] if attempts <= len(self.delays) else self.then

    def is_last(self, attempts: int) -> bool:
        """Whether the ``attempts``-th attempt was the last one allowed."""
        return self.max_attempts is not None and attempts >= self.max_attempts


class ClaimKeeper:
    """Renews a claim (or a batch of claims) every ``CLAIM_RENEWAL_EVERY`` while its rows are being
    handled (a thread), so slow work is never mistaken for a dead worker. Most work ends before the
    first renewal; a row whose outcome was written is no longer held, and renewing it changes nothing."""

    def __init__(self, engine: Engine, claim: Claim[Any] | Sequence[Claim[Any]], *, clock: Clock) -> None:
        self._engine = engine
        self._claims: list[Claim[Any]] = [claim] if isinstance(claim, Claim) else list(claim)
        self._claim = self._claims[0]
        self._clock = clock
        self._every = CLAIM_RENEWAL_EVERY.total_seconds()
        self._done = threading.Event()
        thread_name = f"{self._claim.queue.label.replace(' ', '-')}-claim-{self._claim.row_id}"
        self._thread = threading.Thread(target=self._renew_until_done, name=thread_name, daemon=True)

    def _renew_until_done(self) -> None:
        while not self._done.wait(self._every):
            try:
                held = renew_claims(self._engine, self._claims, now=self._clock())
            except Exception:  # noqa: BLE001 - a database hiccup: try again at the next tick
                logger.exception(
                    "Could not renew the claim on %s %s", self._claim.queue.label, self._claim.row_id
                )
                continue
            if not held and not self._done.is_set():  # "... while sending" / "... while delivering"
                logger.warning(
                    "%s: the claim was lost while %s", self._claim.name, self._claim.queue.working.lower()
                )
                return

    def __enter__(self) -> ClaimKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()


async def run_in_thread(
    run: Callable[[], ReportT], *, stop: threading.Event, name: str, interval_seconds: float
) -> ReportT | None:
    """One run of a worker loop, in a thread; None (logged) when it failed.

    When the loop is cancelled ``stop`` is set and the run is awaited, so the row in progress is
    finished and its outcome recorded, before the cancellation goes on. ``name`` ("Email
    delivery") and ``interval_seconds`` (the wait before the next run) are for the logs.
    """
    future = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stop.set()
        try:
            await future  # finish (and record) the row in progress
        except Exception:
            logger.exception("%s run failed while stopping", name)
        logger.info("%s stopped", name)
        raise
    except Exception:
        logger.exception("%s run failed; trying again in %s s", name, interval_seconds)
        return None
