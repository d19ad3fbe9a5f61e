"""The activity log: what happened, for whom. Rows are never deleted."""

from __future__ import annotations

from sqlmodel import Session, col, select

from econnect_app.models import ActivityLog, User


def record(
    session: Session,
    *,
    environment_id: int | None,
    actor: User | None,
    action: str,
    summary: str,
    subject_type: str | None = None,
    subject_id: int | None = None,
) -> ActivityLog:
    """Add an activity row in the caller's transaction."""
    entry = ActivityLog(
        environment_id=environment_id,
        actor_user_id=actor.id if actor else None,
        action=action,
        summary=summary,
        subject_type=subject_type,
        subject_id=subject_id,
    )
    session.add(entry)
    return entry


def recent(session: Session, *, environment_id: int, limit: int = 20) -> list[ActivityLog]:
    """The newest activity of an environment, newest first."""
    statement = (
        select(ActivityLog)
        .where(ActivityLog.environment_id == environment_id)
        .order_by(col(ActivityLog.created_at).desc(), col(ActivityLog.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement))
