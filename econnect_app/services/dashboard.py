"""The figures and activity feed of an environment's dashboard (read-only)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func
from sqlmodel import Session, col, select

from econnect_app.models import (
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


def _count(session: Session, statement) -> int:  # type: ignore[no-untyped-def]
    return int(session.exec(statement).one())


@dataclass(frozen=True)
class EnvironmentFigures:
    """The dashboard's counts: the same for every user of the environment."""

    pending_requests: int
    active_partnerships: int
    client_organisations: int
    own_organisations: int
    active_organisations: int
    active_users: int


@dataclass(frozen=True)
class DashboardSummary(EnvironmentFigures):
    """The environment's counts and its recent activity (newest first) as the actor sees it."""

    recent_activity: list[ActivityItem]


SharedRead = Callable[[Hashable, Callable[[], Any]], Any]


def _read_alone(_key: Hashable, read: Callable[[], Any]) -> Any:
    return read()


def environment_figures(session: Session, *, environment_id: int) -> EnvironmentFigures:
    """The environment's counts (no permission check: ``dashboard_summary`` is the entry point)."""
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
    return EnvironmentFigures(
        pending_requests=authorisations.count_pending(session, environment_id=environment_id),
        active_partnerships=partnerships.count_active_partnerships(session, environment_id=environment_id),
        client_organisations=partnerships.count_client_organisations(session, environment_id=environment_id),
        own_organisations=own,
        active_organisations=activated,
        active_users=users,
    )


def _recent_activity(
    session: Session, *, environment_id: int, seen: Select | None, limit: int
) -> tuple[ActivityItem, ...]:
    """The environment's newest activity about the organisations ``seen`` (None: all of it)."""
    entries = activity.recent(session, environment_id=environment_id, limit=limit, about_organisations=seen)
    return tuple(ActivityItem(summary=entry.summary, created_at=entry.created_at) for entry in entries)


def dashboard_summary(
    session: Session, *, actor: User, activity_limit: int = 15, shared: SharedRead | None = None
) -> DashboardSummary:
    """What the dashboard shows the actor: their own environment only, re-read from the database
    (the actor must still be active).

    ``shared(key, read)`` (a live push, ``state/live_tabs.shared_read``) may hand the same answer
    to every tab of the environment asking for the same key: the counts are the environment's,
    the feed is keyed by who sees which rows of the log.
    """
    actor = load_actor(session, actor)
    environment_id = actor.environment_id
    share = shared or _read_alone
    figures: EnvironmentFigures = share(
        ("dashboard figures", environment_id),
        lambda: environment_figures(session, environment_id=environment_id),  # type: ignore[arg-type]
    )
    # a plain User sees only what concerns the organisations they are an Active member of
    # (``activity_log``'s rule); everyone who sees the whole log gets the same feed
    seen = activity_log.organisations_seen(actor)
    feed_view: Hashable = "whole log" if seen is None else ("user", actor.id)
    feed: tuple[ActivityItem, ...] = share(
        ("dashboard feed", environment_id, activity_limit, feed_view),
        lambda: _recent_activity(session, environment_id=environment_id, seen=seen, limit=activity_limit),  # type: ignore[arg-type]
    )
    counts = {name: getattr(figures, name) for name in EnvironmentFigures.__dataclass_fields__}
    return DashboardSummary(**counts, recent_activity=list(feed))
