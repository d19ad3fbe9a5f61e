"""In-app notifications: messages for all users of an environment, or for one user.

A notification with ``user_id`` NULL is for every user of its environment. Whether it has been
read is kept per user (``NotificationRead``): one colleague opening the bell does not hide the
message from the others.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, exists, func, insert, literal, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app.models import Notification, NotificationRead, User, utcnow
from econnect_app.services import effects
from econnect_app.services.permissions import load_actor
from econnect_app.services.transaction import committing

MESSAGE_MAX_LENGTH = 500
_MARK_READ_ATTEMPTS = 3


class UserNotification(NamedTuple):
    """A notification as one user sees it."""

    notification: Notification
    read: bool


def _shorten(text: str, max_length: int) -> str:
    return text if len(text) <= max_length else text[: max_length - 1].rstrip() + "\u2026"


def notify(
    session: Session,
    *,
    environment_id: int,
    kind: str,
    message: str,
    link: str = "",
    user_id: int | None = None,
) -> Notification:
    """Add a notification in the caller's transaction (does not commit)."""
    notification = Notification(
        environment_id=environment_id,
        user_id=user_id,
        kind=kind,
        message=_shorten(message, MESSAGE_MAX_LENGTH),
        link=link,
    )
    session.add(notification)
    return notification


def _visible_to(user: User) -> tuple[ColumnElement[bool], ...]:
    return (
        Notification.environment_id == user.environment_id,
        or_(col(Notification.user_id).is_(None), Notification.user_id == user.id),
    )


def _read_by(user: User) -> ColumnElement[bool]:
    return exists().where(
        NotificationRead.notification_id == Notification.id,
        NotificationRead.user_id == user.id,
    )


def list_notifications(session: Session, *, user: User, limit: int = 20) -> list[UserNotification]:
    """The user's notifications (their environment's and their own), newest first, read or not."""
    user = load_actor(session, user)
    statement = (
        select(Notification, _read_by(user).label("read"))
        .where(*_visible_to(user))
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    return [UserNotification(notification, bool(read)) for notification, read in session.exec(statement)]


def count_unread(session: Session, *, user: User) -> int:
    """How many of the user's notifications this user has not read."""
    user = load_actor(session, user)
    statement = select(func.count()).select_from(Notification).where(*_visible_to(user), ~_read_by(user))
    return int(session.exec(statement).one())


def _unread_as_reads(user: User) -> Select:
    """(notification id, user id, now) for each notification the user sees and has not read."""
    now = literal(utcnow(), type_=NotificationRead.__table__.c.read_at.type)
    return select(col(Notification.id), literal(user.id), now).where(*_visible_to(user), ~_read_by(user))


def mark_all_read(session: Session, *, user: User) -> None:
    """Mark every notification the user sees as read by this user (idempotent, race-safe)."""
    user = load_actor(session, user)
    for attempt in range(_MARK_READ_ATTEMPTS):
        try:
            with committing(session):
                # A bulk INSERT bypasses the flush: the user's other tabs show the new count too.
                effects.changed(session, user.environment_id)
                session.execute(
                    insert(NotificationRead).from_select(
                        ["notification_id", "user_id", "read_at"], _unread_as_reads(user)
                    )
                )
            break
        except IntegrityError:
            # Another tab of the same user marked some of them at the same moment: try the rest.
            if attempt == _MARK_READ_ATTEMPTS - 1:
                raise
