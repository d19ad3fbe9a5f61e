"""Email delivery as an environment's Administrators see it: what is waiting, what could not be
sent, and sending it again.

A message fails for good when the mail server refused it ``mail_retry_limit`` times, or when it
could not be sent within the sending window (``mail.outbox.sending_window``: the longest any
emailed link stays valid). An outage of the mail server itself counts against no message (see
``mail/delivery.py``). Administrators are notified of each failure and may send a failed message
again while it is inside the sending window. Only columns are read here, never bodies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from econnect_app import i18n, routes
from econnect_app.formatting import display_name
from econnect_app.mail.outbox import sending_window
from econnect_app.models import OutboxMessage, OutboxStatus, Role, User, UserStatus, utcnow
from econnect_app.services import activity, notifications
from econnect_app.services.errors import Conflict, NotFound
from econnect_app.services.permissions import load_actor, require_role
from econnect_app.services.transaction import committing

FAILED_LIST_LIMIT = 50
# A message still queued this long after it was written counts as waiting (the notice shows it).
WAITING_NOTICE_AFTER = timedelta(minutes=15)
NOTIFICATION_KIND = "email_failed"
# The messages in English; shown translated with ``i18n.gettext``.
NOT_FOUND = i18n.N_("This email was not found.")
NOT_FAILED = i18n.N_("This email is not waiting to be sent again: it was sent or is being sent.")


@dataclass(frozen=True)
class FailedEmail:
    """A message that failed for good, as an Administrator sees it (no body)."""

    id: int
    to_address: str
    subject: str
    created_at: datetime
    problem: str


@dataclass(frozen=True)
class DeliveryOverview:
    """The Email delivery section of Settings."""

    failed: list[FailedEmail]
    failed_count: int
    waiting_count: int
    waiting_since: datetime | None
    window_days: int


def _window_days() -> int:
    return max(1, sending_window().days)


def _too_old_message() -> str:
    return i18n.ngettext(
        "This email is older than {count} day: its link no longer works. Send a new one instead.",
        "This email is older than {count} days: its link no longer works. Send a new one instead.",
        _window_days(),
    )


def _failed_in_window(environment_id: int, now: datetime) -> tuple:
    return (
        col(OutboxMessage.environment_id) == environment_id,
        col(OutboxMessage.status) == OutboxStatus.FAILED.value,
        col(OutboxMessage.created_at) >= now - sending_window(),
    )


def delivery_overview(session: Session, *, actor: User, now: datetime | None = None) -> DeliveryOverview:
    """What the environment's email delivery needs from its Administrators (read-only)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR.value)
    now = now or utcnow()
    failed_filter = _failed_in_window(actor.environment_id, now)
    rows = session.exec(
        select(
            OutboxMessage.id,
            OutboxMessage.to_address,
            OutboxMessage.subject,
            OutboxMessage.created_at,
            OutboxMessage.last_error,
        )
        .where(*failed_filter)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(FAILED_LIST_LIMIT)
    ).all()
    failed_count = session.exec(select(func.count()).select_from(OutboxMessage).where(*failed_filter)).one()
    waiting_count, waiting_since = session.exec(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            col(OutboxMessage.environment_id) == actor.environment_id,
            col(OutboxMessage.status).in_((OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)),
            col(OutboxMessage.created_at) < now - WAITING_NOTICE_AFTER,
        )
    ).one()
    return DeliveryOverview(
        failed=[
            FailedEmail(
                id=message_id,
                to_address=to_address,
                subject=subject,
                created_at=created_at,
                problem=_problem(last_error),
            )
            for message_id, to_address, subject, created_at, last_error in rows
        ],
        failed_count=int(failed_count),
        waiting_count=int(waiting_count),
        waiting_since=waiting_since if waiting_count else None,
        window_days=_window_days(),
    )


def _problem(last_error: str | None, max_length: int = 300) -> str:
    text = " ".join((last_error or i18n.gettext("The mail server did not take it.")).split())
    return text if len(text) <= max_length else text[: max_length - 1] + "\u2026"


def _requeue(session: Session, *, environment_id: int, now: datetime, message_id: int | None = None) -> int:
    """Put failed messages of the environment (inside the window) back in the queue, with every
    retry ahead of them; a conditional UPDATE, so a message is requeued once."""
    conditions = list(_failed_in_window(environment_id, now))
    if message_id is not None:
        conditions.append(col(OutboxMessage.id) == message_id)
    result = session.execute(
        update(OutboxMessage)
        .where(*conditions)
        .values(status=OutboxStatus.QUEUED.value, attempts=0, next_attempt_at=now, last_error=None)
    )
    return int(result.rowcount or 0)


def retry_failed_email(session: Session, *, actor: User, message_id: int) -> FailedEmail:
    """Send one failed email of the actor's environment again (Administrators only)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR.value)
    now = utcnow()
    row = session.exec(
        select(
            OutboxMessage.to_address, OutboxMessage.subject, OutboxMessage.created_at, OutboxMessage.status
        ).where(
            col(OutboxMessage.id) == message_id, col(OutboxMessage.environment_id) == actor.environment_id
        )
    ).first()
    if row is None:
        raise NotFound(i18n.gettext(NOT_FOUND))
    to_address, subject, created_at, _status = row
    with committing(session):
        if not _requeue(session, environment_id=actor.environment_id, now=now, message_id=message_id):
            raise Conflict(
                _too_old_message() if created_at < now - sending_window() else i18n.gettext(NOT_FAILED)
            )
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="email.retried",
            summary=i18n.gettext(
                "{actor} sent the email \u201c{subject}\u201d to {address} again.",
                actor=display_name(actor),
                subject=subject,
                address=to_address,
            ),
        )
    return FailedEmail(
        id=message_id, to_address=to_address, subject=subject, created_at=created_at, problem=""
    )


def retry_all_failed_emails(session: Session, *, actor: User) -> int:
    """Send every failed email of the actor's environment inside the window again; how many."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR.value)
    with committing(session):
        count = _requeue(session, environment_id=actor.environment_id, now=utcnow())
        if count:
            activity.record(
                session,
                environment_id=actor.environment_id,
                actor=actor,
                action="email.retried",
                summary=i18n.ngettext(
                    "{actor} sent {count} email that could not be sent again.",
                    "{actor} sent {count} emails that could not be sent again.",
                    count,
                    actor=display_name(actor),
                ),
            )
    return count


def notify_administrators_of_failure(
    session: Session, *, environment_id: int, to_address: str, subject: str, can_retry: bool
) -> None:
    """Tell each active Administrator of the environment that an email failed for good (in the
    caller's transaction: the delivery worker's, with the failure itself), in the language the
    Administrator chose (else the one in effect)."""
    administrators = session.exec(
        select(User.id, User.language).where(
            col(User.environment_id) == environment_id,
            col(User.role) == Role.ADMINISTRATOR.value,
            col(User.status) == UserStatus.ACTIVE.value,
        )
    ).all()
    for user_id, language in administrators:
        language = language or i18n.language_in_effect()
        if can_retry:
            message = i18n.translate(
                language,
                "The email \u201c{subject}\u201d to {address} could not be sent. Open Settings to send it again.",
                subject=subject,
                address=to_address,
            )
        else:
            message = i18n.translate_plural(
                language,
                "The email \u201c{subject}\u201d to {address} was not sent within {count} day, so its link no "
                "longer works.",
                "The email \u201c{subject}\u201d to {address} was not sent within {count} days, so its link no "
                "longer works.",
                _window_days(),
                subject=subject,
                address=to_address,
            )
        notifications.notify(
            session,
            environment_id=environment_id,
            user_id=user_id,
            kind=NOTIFICATION_KIND,
            message=message,
            link=routes.SETTINGS if can_retry else "",
        )
