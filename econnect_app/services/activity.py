"""The activity log: what happened, for whom. Rows are never deleted."""

from __future__ import annotations

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from econnect_app.models import ActivityLog, User

# The length of ``activity_log.summary``. SQLite would keep a longer text, PostgreSQL refuses it;
# summaries quote names and addresses people typed, so a long one is cut here, on every database.
SUMMARY_MAX_LENGTH = 500
# The ``subject_type`` of a row about one organisation (``subject_id`` is its id).
ORGANISATION_SUBJECT = "organisation"


def _shorten(text: str) -> str:
    if len(text) <= SUMMARY_MAX_LENGTH:
        return text
    return text[: SUMMARY_MAX_LENGTH - 1].rstrip() + "\u2026"


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
    """Add an activity row in the caller's transaction (a summary too long for its column is cut)."""
    entry = ActivityLog(
        environment_id=environment_id,
        actor_user_id=actor.id if actor else None,
        action=action,
        summary=_shorten(summary),
        subject_type=subject_type,
        subject_id=subject_id,
    )
    session.add(entry)
    return entry


def record_each(
    session: Session,
    summaries: dict[int, str],
    *,
    actor: User | None,
    action: str,
    subject_type: str | None = None,
    subject_id: int | None = None,
) -> None:
    """One activity row per environment (``summaries``: environment id -> what its log says), for
    a change both sides of a partnership see."""
    for environment_id, summary in summaries.items():
        record(
            session,
            environment_id=environment_id,
            actor=actor,
            action=action,
            summary=summary,
            subject_type=subject_type,
            subject_id=subject_id,
        )


def recent(
    session: Session, *, environment_id: int, limit: int = 20, about_organisations: Select | None = None
) -> list[ActivityLog]:
    """The newest activity of an environment, newest first.

    ``about_organisations`` (a subquery of organisation ids): only the rows about one of them.
    """
    statement = select(ActivityLog).where(ActivityLog.environment_id == environment_id)
    if about_organisations is not None:
        statement = statement.where(
            ActivityLog.subject_type == ORGANISATION_SUBJECT,
            col(ActivityLog.subject_id).in_(about_organisations),
        )
    newest_first = (col(ActivityLog.created_at).desc(), col(ActivityLog.id).desc())
    return list(session.exec(statement.order_by(*newest_first).limit(limit)))
