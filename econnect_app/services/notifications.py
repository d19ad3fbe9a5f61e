"""In-app notifications: messages for all users of an environment, or for one user.

A notification with ``user_id`` NULL is for every user of its environment; ``read_at`` is kept on
the row, so one user marking it read marks it read for the whole environment.
"""

from __future__ import annotations

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from econnect_app import live
from econnect_app.models import Notification, User, utcnow
from econnect_app.services.permissions import load_actor
from econnect_app.services.transaction import committing

MESSAGE_MAX_LENGTH = 500


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


def _visible_to(user: User):  # type: ignore[no-untyped-def]
    return (
        Notification.environment_id == user.environment_id,
        or_(col(Notification.user_id).is_(None), Notification.user_id == user.id),
    )


def list_notifications(session: Session, *, user: User, limit: int = 20) -> list[Notification]:
    """The user's notifications (their environment's and their own), newest first."""
    user = load_actor(session, user)
    statement = (
        select(Notification)
        .where(*_visible_to(user))
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement))


def count_unread(session: Session, *, user: User) -> int:
    """How many of the user's notifications are unread."""
    user = load_actor(session, user)
    statement = (
        select(func.count())
        .select_from(Notification)
        .where(*_visible_to(user), col(Notification.read_at).is_(None))
    )
    return int(session.exec(statement).one())


def mark_all_read(session: Session, *, user: User) -> None:
    """Mark every unread notification the user sees as read."""
    user = load_actor(session, user)
    with committing(session):
        session.exec(
            update(Notification)
            .where(*_visible_to(user), col(Notification.read_at).is_(None))
            .values(read_at=utcnow())
            .execution_options(synchronize_session="fetch")
        )
    # A notification for the whole environment is read for everyone: refresh their bells too.
    live.publish_environment_change(user.environment_id)
