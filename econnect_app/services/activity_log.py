"""The activity log page: an environment's whole history, paged, filtered and exported (no Reflex).

Who sees what (checked here, on the server, against the actor as the database holds it now):
Administrators and Advanced users see every row of their environment's log; a plain User sees the
rows about the organisations they are an Active member of (the rule of the dashboard's feed), so
their page and export never show what happened elsewhere in the environment.

Filters: who did it (a user of the environment, or ``SYSTEM`` for what happened by itself, such
as an expiry), the kind of action (``activity_kinds.KINDS``), the organisation a row is about
(``subject_type`` "organisation"), and a period of whole days in the environment's time zone
(``Environment.time_zone``, Europe/Amsterdam by default): From is from that day's midnight, To up
to the next day's midnight. The search looks in the summary; the list sorts by time (newest first
by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from econnect_app import i18n
from econnect_app.formatting import display_name, time_zone
from econnect_app.models import ActivityLog, Organisation, User, utcnow
from econnect_app.services import activity_kinds, memberships, paging
from econnect_app.services.activity import ORGANISATION_SUBJECT
from econnect_app.services.environments import time_zone_of
from econnect_app.services.paging import ListQuery, Page
from econnect_app.services.permissions import can_manage_partnerships, load_actor

SORT_TIME = "time"
SYSTEM = "system"  # the "Who" of rows no person caused (an expiry, a reminder)
SYSTEM_LABEL = i18n.N_("System")  # shown as i18n.gettext(SYSTEM_LABEL)
# An export holds at most this many rows (newest first by default); the page says so when cut.
EXPORT_MAX_ROWS = 100_000
_SORT_COLUMNS = {SORT_TIME: col(ActivityLog.created_at)}


@dataclass(frozen=True)
class ActivityFilters:
    """What the page narrows the log to; empty values filter nothing.

    ``who``: a user id, or ``SYSTEM``; ``kind``: an ``ActivityKind`` key; ``date_from`` /
    ``date_to``: whole days, both included."""

    who: str = ""
    kind: str = ""
    organisation_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class ActivityEntry:
    """One row of the log as the page and the export show it."""

    id: int
    created_at: datetime
    who: str
    action: str
    what: str
    organisation: str
    summary: str


@dataclass(frozen=True)
class FilterChoice:
    """One option of a filter: the value it sends and what it says."""

    value: str
    label: str


@dataclass(frozen=True)
class ActivityFilterChoices:
    """The options of the "Who", "What" and "Organisation" filters."""

    people: list[FilterChoice]
    kinds: list[FilterChoice]
    organisations: list[FilterChoice]


@dataclass(frozen=True)
class ActivityExport:
    """The rows of an export, how many matched, and the day it is dated (the environment's today)."""

    entries: list[ActivityEntry]
    total: int
    day: date

    @property
    def truncated(self) -> bool:
        """Whether more rows matched than an export holds."""
        return self.total > len(self.entries)


def sees_whole_log(user: User) -> bool:
    """Whether the user sees every row of the environment's log (Administrators, Advanced users)."""
    return can_manage_partnerships(user)


def _environment_zone(session: Session, environment_id: int) -> ZoneInfo:
    return time_zone(time_zone_of(session, environment_id=environment_id))


def _start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone``, as a UTC-aware moment."""
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def organisations_seen(actor: User) -> Select | None:
    """Whose rows of the environment's log the actor sees: None for every row (Administrators and
    Advanced users), else the ids of the organisations they are an Active member of (a User sees
    the rows about those); the activity page and the dashboard's feed both ask this."""
    if sees_whole_log(actor):
        return None
    return memberships.organisations_of_user(actor.id)  # type: ignore[arg-type]


def _may_see(actor: User) -> list:  # type: ignore[type-arg]
    """The conditions on ``activity_log`` rows the actor may see (see the module docstring)."""
    conditions = [ActivityLog.environment_id == actor.environment_id]
    organisations = organisations_seen(actor)
    if organisations is not None:
        conditions += [
            col(ActivityLog.subject_type) == ORGANISATION_SUBJECT,
            col(ActivityLog.subject_id).in_(organisations),
        ]
    return conditions


def _visible_rows(actor: User) -> Select:
    """The rows of the actor's environment log that the actor may see, with who did each and the
    organisation it is about (outer joins: a row about nothing, or by no one, is kept)."""
    return (
        select(
            ActivityLog.id,
            ActivityLog.created_at,
            ActivityLog.action,
            ActivityLog.summary,
            col(User.name).label("actor_name"),
            col(User.email).label("actor_email"),
            col(ActivityLog.actor_user_id).label("actor_id"),
            col(Organisation.name).label("organisation_name"),
        )
        .select_from(ActivityLog)
        .outerjoin(User, col(User.id) == col(ActivityLog.actor_user_id))
        .outerjoin(
            Organisation,
            and_(
                col(ActivityLog.subject_type) == ORGANISATION_SUBJECT,
                col(Organisation.id) == col(ActivityLog.subject_id),
            ),
        )
        .where(*_may_see(actor))
    )


def _filtered(
    session: Session, statement: Select, *, actor: User, filters: ActivityFilters, search: str
) -> Select:
    if filters.who == SYSTEM:
        statement = statement.where(col(ActivityLog.actor_user_id).is_(None))
    elif filters.who:
        statement = statement.where(ActivityLog.actor_user_id == _as_id(filters.who))
    if filters.kind:
        statement = statement.where(col(ActivityLog.action).startswith(filters.kind + ".", autoescape=True))
    if filters.organisation_id is not None:
        statement = statement.where(
            col(ActivityLog.subject_type) == ORGANISATION_SUBJECT,
            ActivityLog.subject_id == filters.organisation_id,
        )
    if filters.date_from is not None or filters.date_to is not None:
        zone = _environment_zone(session, actor.environment_id)
        if filters.date_from is not None:
            statement = statement.where(col(ActivityLog.created_at) >= _start_of_day(filters.date_from, zone))
        if filters.date_to is not None:
            end = _start_of_day(filters.date_to + timedelta(days=1), zone)
            statement = statement.where(col(ActivityLog.created_at) < end)
    if search:
        statement = statement.where(paging.contains_text(search, ActivityLog.summary))
    return statement


def _as_id(text: str) -> int:
    """A filter's id, or -1 (matches nothing) for text that is no id."""
    try:
        return int(text)
    except ValueError:
        return -1


def _entry(row) -> ActivityEntry:  # type: ignore[no-untyped-def]
    who = (
        (row.actor_name or row.actor_email or "") if row.actor_id is not None else i18n.gettext(SYSTEM_LABEL)
    )
    return ActivityEntry(
        id=row.id,
        created_at=row.created_at,
        who=who,
        action=row.action,
        what=activity_kinds.action_label(row.action),
        organisation=row.organisation_name or "",
        summary=row.summary,
    )


def activity_page(
    session: Session, *, actor: User, query: ListQuery, filters: ActivityFilters | None = None
) -> Page[ActivityEntry]:
    """One page of the log the actor may see, filtered and searched, sorted by time (newest first
    unless the view asks otherwise)."""
    actor = load_actor(session, actor)
    statement = _filtered(
        session,
        _visible_rows(actor),
        actor=actor,
        filters=filters or ActivityFilters(),
        search=paging.search_text(query.search),
    )
    page = paging.page_of(
        session,
        statement,
        query=query,
        sort_columns=_SORT_COLUMNS,
        default_sort=SORT_TIME,
        default_descending=True,
        tiebreaker=col(ActivityLog.id),
    )
    return page.map(_entry)


def activity_for_export(
    session: Session,
    *,
    actor: User,
    query: ListQuery,
    filters: ActivityFilters | None = None,
    limit: int = EXPORT_MAX_ROWS,
) -> ActivityExport:
    """Every row the view matches (not only its page), in its order, up to ``limit`` rows."""
    actor = load_actor(session, actor)
    statement = _filtered(
        session,
        _visible_rows(actor),
        actor=actor,
        filters=filters or ActivityFilters(),
        search=paging.search_text(query.search),
    )
    cleaned = query.cleaned(sort_keys=list(_SORT_COLUMNS), default_sort=SORT_TIME, default_descending=True)
    column = _SORT_COLUMNS[cleaned.sort]
    tiebreaker = col(ActivityLog.id)
    ordering = (column.desc(), tiebreaker.desc()) if cleaned.descending else (column.asc(), tiebreaker.asc())
    total = int(session.exec(select(func.count()).select_from(statement.order_by(None).subquery())).one())  # type: ignore[call-overload]
    rows = session.exec(statement.order_by(*ordering).limit(limit)).all()  # type: ignore[call-overload]
    today = utcnow().astimezone(_environment_zone(session, actor.environment_id)).date()
    return ActivityExport(entries=[_entry(row) for row in rows], total=total, day=today)


def activity_filter_choices(session: Session, *, actor: User) -> ActivityFilterChoices:
    """The options of the filters: the environment's users (and "System"), the kinds of action,
    and the organisations the rows the actor may see are about, each sorted by name."""
    actor = load_actor(session, actor)
    users = session.exec(select(User).where(User.environment_id == actor.environment_id)).all()
    names = [display_name(user) for user in users]
    people = sorted(
        (
            FilterChoice(str(user.id), f"{name} ({user.email})" if names.count(name) > 1 else name)
            for user, name in zip(users, names, strict=True)
        ),
        key=lambda choice: choice.label.casefold(),
    )
    about = select(ActivityLog.subject_id).where(
        *_may_see(actor), col(ActivityLog.subject_type) == ORGANISATION_SUBJECT
    )
    organisations = session.exec(
        select(Organisation.id, Organisation.name).where(col(Organisation.id).in_(about))
    ).all()
    return ActivityFilterChoices(
        people=[*people, FilterChoice(SYSTEM, i18n.gettext(SYSTEM_LABEL))],
        kinds=[FilterChoice(kind.key, i18n.gettext(kind.label)) for kind in activity_kinds.KINDS],
        organisations=sorted(
            (FilterChoice(str(row.id), row.name) for row in organisations),
            key=lambda choice: choice.label.casefold(),
        ),
    )
