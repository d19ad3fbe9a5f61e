"""The figures and activity feed of an environment's dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from econnect_app.models import Organisation, User, UserStatus
from econnect_app.services import activity


@dataclass(frozen=True)
class ActivityItem:
    """One line of the activity feed."""

    summary: str
    created_at: datetime


@dataclass(frozen=True)
class DashboardSummary:
    """Counts and recent activity for one environment."""

    own_organisations: int
    active_organisations: int
    active_users: int
    recent_activity: list[ActivityItem]


def dashboard_summary(session: Session, *, actor: User, activity_limit: int = 15) -> DashboardSummary:
    """What the dashboard shows the actor (their own environment only)."""
    environment_id = actor.environment_id
    own = session.exec(
        select(func.count()).select_from(Organisation).where(Organisation.environment_id == environment_id)
    ).one()
    active = session.exec(
        select(func.count())
        .select_from(Organisation)
        .where(Organisation.environment_id == environment_id, Organisation.activated_at.is_not(None))  # type: ignore[union-attr]
    ).one()
    users = session.exec(
        select(func.count())
        .select_from(User)
        .where(User.environment_id == environment_id, User.status == UserStatus.ACTIVE.value)
    ).one()
    feed = [
        ActivityItem(summary=entry.summary, created_at=entry.created_at)
        for entry in activity.recent(session, environment_id=environment_id, limit=activity_limit)
    ]
    return DashboardSummary(
        own_organisations=own, active_organisations=active, active_users=users, recent_activity=feed
    )
