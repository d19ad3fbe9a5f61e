"""Tidying the outbox: what was not sent in time, and rows stored before encryption.

A message not sent within the sending window (``outbox.sending_window``: the longest any emailed
link stays valid) is not sent any more: it fails for good and its Administrators are told. Its
link tokens, and those of every unsent message older than the window, are removed from the stored
bodies. Rows stored in plain text before encryption are sealed (a sent one also redacted). Each
row is rewritten with a conditional UPDATE on the status and body it was read with, so tidying is
safe alongside the delivery workers of other processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from econnect_app import crypto
from econnect_app.formatting import plural
from econnect_app.mail import stored_bodies
from econnect_app.mail.outbox import sending_window
from econnect_app.models import OutboxMessage, OutboxStatus, utcnow

logger = logging.getLogger(__name__)

TIDY_BATCH_SIZE = 200


@dataclass
class TidyReport:
    """What one tidying run changed (message ids)."""

    expired: list[int] = field(default_factory=list)
    redacted: list[int] = field(default_factory=list)
    encrypted: list[int] = field(default_factory=list)


def tidy_outbox(engine: Engine, *, now: datetime | None = None, legacy: bool = False) -> TidyReport:
    """Fail messages not sent within the sending window and remove the link tokens of every unsent
    message older than that; with ``legacy``, also seal bodies stored in plain text before
    encryption (a sent one redacted too). Each row is rewritten with a conditional UPDATE on the
    status and body it was read with, so it is safe alongside other workers."""
    now = now or utcnow()
    cutoff = now - sending_window()
    report = TidyReport()
    too_old = (
        col(OutboxMessage.status).in_((OutboxStatus.QUEUED.value, OutboxStatus.FAILED.value)),
        col(OutboxMessage.created_at) < cutoff,
        ~col(OutboxMessage.text_body).startswith(stored_bodies.REDACTED_MARK),
    )
    for row in _bodies_where(engine, *too_old):
        expired = row.status == OutboxStatus.QUEUED.value
        if _rewrite(engine, row, redact=True, expire=expired):
            (report.expired if expired else report.redacted).append(row.id)
    if legacy:
        plain = (
            ~col(OutboxMessage.text_body).startswith(crypto.ENCRYPTED_PREFIX),
            ~col(OutboxMessage.text_body).startswith(stored_bodies.REDACTED_MARK),
            col(OutboxMessage.created_at) >= cutoff,
            col(OutboxMessage.status) != OutboxStatus.SENDING.value,
        )
        for row in _bodies_where(engine, *plain):
            sent = row.status == OutboxStatus.SENT.value
            if _rewrite(engine, row, redact=sent, expire=False):
                (report.redacted if sent else report.encrypted).append(row.id)
    return report


@dataclass(frozen=True)
class _StoredRow:
    id: int
    status: str
    text_body: str
    html_body: str
    to_address: str
    subject: str
    environment_id: int | None


def _bodies_where(engine: Engine, *conditions: object) -> Iterator[_StoredRow]:
    """Every row matching ``conditions`` with its bodies as stored (no ORM: no decryption), read
    in batches of ``TIDY_BATCH_SIZE`` by id."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in _StoredRow.__dataclass_fields__]
    after_id = 0
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(*columns)
                .where(*conditions, table.c.id > after_id)
                .order_by(table.c.id)
                .limit(TIDY_BATCH_SIZE)
            ).all()
        yield from (_StoredRow(*row) for row in rows)
        if len(rows) < TIDY_BATCH_SIZE:
            return
        after_id = rows[-1].id


def _rewrite(engine: Engine, row: _StoredRow, *, redact: bool, expire: bool) -> bool:
    values: dict[str, object] = {}
    for column in stored_bodies.BODY_COLUMNS:
        stored = getattr(row, column)
        try:
            plain = stored_bodies.open_stored(stored)
        except crypto.UnreadableText:
            if not redact:
                continue
            plain = stored_bodies.UNREADABLE_TEXT  # too old to send anyway, and unreadable
        values[column] = stored_bodies.seal(plain, redacted=redact)
    if expire:
        days = plural(max(1, sending_window().days), "day")
        values.update(status=OutboxStatus.FAILED.value, last_error=f"Not sent within {days}.")
    if not values:
        return False
    with Session(engine) as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == row.id,
                col(OutboxMessage.status) == row.status,
                col(OutboxMessage.text_body) == row.text_body,
            )
            .values(**values)
        )
        if result.rowcount != 1:
            session.rollback()
            return False
        if expire and row.environment_id is not None:
            from econnect_app.services import outbox_admin  # the domain layer builds on mail

            outbox_admin.notify_administrators_of_failure(
                session, environment_id=row.environment_id, to_address=row.to_address,
                subject=row.subject, can_retry=False,
            )  # fmt: skip
        session.commit()
    if expire:
        logger.error("Outbox message %s to %s was not sent within the sending window", row.id, row.to_address)
    return True
