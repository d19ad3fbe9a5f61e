"""The figures and activity feed of an environment's dashboard (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from econnect_app.models import (
    ActivityLog,
    Organisation,
    User,
    UserStatus,
)
from econnect_app.services import activity, activity_log, authorisations, partnerships
from econnect_app.services.permissions import load_actor


@dataclass(frozen=True)
class ActivityItem:
    """One line of the activity feed."""

    summary: str
    created_at: datetime


@dataclass(frozen=True)
class DashboardSummary:
    """Counts and recent activity (newest first) for one environment."""

    pending_requests: int
    active_partnerships: int
    client_organisations: int
    own_organisations: int
    active_organisations: int
    active_users: int
    recent_activity: list[ActivityItem]


def _count(session: Session, statement) -> int:  # type: ignore[no-untyped-def]
    return int(session.exec(statement).one())


def _recent_activity(session: Session, *, actor: User, limit: int) -> list[ActivityLog]:
    """The environment's newest activity; a plain User sees only what concerns the organisations
    they are an Active member of."""
    return activity.recent(
        session,
        environment_id=actor.environment_id,
        limit=limit,
        about_organisations=activity_log.organisations_seen(actor),
    )


def dashboard_summary(session: Session, *, actor: User, activity_limit: int = 15) -> DashboardSummary:
    """What the dashboard shows the actor: their own environment only, re-read from the database
    (the actor must still be active)."""
    actor = load_actor(session, actor)
    environment_id = actor.environment_id
    own = _count(
        session,
        select(func.count()).select_from(Organisation).where(Organisation.environment_id == environment_id),
    )
    activated = _count(
        session,
        select(func.count())
        .select_from(Organisation)
        .where(Organisation.environment_id == environment_id, col(Organisation.activated_at).is_not(None)),
    )
    users = _count(
        session,
        select(func.count())
        .select_from(User)
        .where(User.environment_id == environment_id, User.status == UserStatus.ACTIVE.value),
    )
    feed = [
        ActivityItem(summary=entry.summary, created_at=entry.created_at)
        for entry in _recent_activity(session, actor=actor, limit=activity_limit)
    ]
    return DashboardSummary(
        pending_requests=authorisations.count_pending(session, environment_id=environment_id),
        active_partnerships=partnerships.count_active_partnerships(session, environment_id=environment_id),
        client_organisations=partnerships.count_client_organisations(session, environment_id=environment_id),
        own_organisations=own,
        active_organisations=activated,
        active_users=users,
        recent_activity=feed,
    )
