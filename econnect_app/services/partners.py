"""The partnerships page (``/partners``) and the client's "Who has access": what each side sees of
its partnerships, ending one, and who pays for the client connection.

Ending is one transaction: the partnership becomes Ended (kept, with who ended it and when), every
membership that a user of one side holds in an organisation of the other side ends (kept as
history), the relationship managers are disconnected, both sides are notified in the app and by
email, and both activity logs record it. Documents, activity and requests stay in each side's own
environment. The other side's keys answer 403 at once and its open pages refresh without a reload
(``services/access.py`` and ``services/effects.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, update
from sqlmodel import Session, col, select

from econnect_app import i18n, routes
from econnect_app.formatting import display_name, sentence
from econnect_app.mail import queue_email
from econnect_app.models import (
    CostAllocation,
    Environment,
    Membership,
    MembershipStatus,
    Organisation,
    Partnership,
    PartnershipManager,
    PartnershipOrigin,
    PartnershipStatus,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import activity, memberships, notifications, partnerships, relationship_managers
from econnect_app.services.errors import Conflict, PermissionDenied, ValidationFailed
from econnect_app.services.paging import ListQuery, Page, contains_text, page_of, search_text
from econnect_app.services.permissions import PARTNERSHIP_ROLES, is_admin, load_actor, require_role
from econnect_app.services.transaction import committing

ACTIVE = PartnershipStatus.ACTIVE.value
ENDED = PartnershipStatus.ENDED.value
STATUS_FILTERS: tuple[str, ...] = ("Active", "Ended", "All")
COST_CHOICES: tuple[str, ...] = tuple(choice.value for choice in CostAllocation)
# How a partnership started, in English (translated where a view is made, ``_view``).
ORIGIN_LABELS = {
    PartnershipOrigin.AUTHORISATION_REQUEST.value: i18n.N_("Authorisation request"),
    PartnershipOrigin.RELATIONSHIP_REQUEST.value: i18n.N_("Relationship request"),
}
END_DENIED = i18n.N_("Only Administrators can end a partnership.")
ALREADY_ENDED = i18n.N_("This partnership has ended already.")
CHOOSE_COST = i18n.N_("Choose who pays for the client connection.")
# The columns the partners page may sort by (``partnerships_page``); the partner's name is
# joined as ``Environment``.
PARTNERSHIP_SORTS = {
    "partner": func.lower(Environment.name),
    "status": col(Partnership.status),
    "since": col(Partnership.created_at),
    "via": col(Partnership.created_via),
    "cost": col(Partnership.cost_allocation),
}
DEFAULT_PARTNERSHIP_SORT = "partner"


@dataclass(frozen=True)
class ManagerRow:
    """A relationship manager connected to the partnership."""

    link_id: int
    user_id: int
    name: str
    email: str
    own_side: bool


@dataclass(frozen=True)
class MemberAccess:
    """One user of one side who reaches one organisation of the other side."""

    membership_id: int
    user_name: str
    user_email: str
    role: str
    since: datetime


@dataclass(frozen=True)
class SharedOrganisation:
    """An organisation of one side that users of the other side reach."""

    organisation_id: int
    name: str
    members: list[MemberAccess]


@dataclass(frozen=True)
class PartnershipView:
    """One partnership as the actor's side sees it."""

    id: int
    partner_environment_id: int
    partner_name: str
    status: str
    since: datetime
    origin: str
    ended_at: datetime | None
    ended_by: str
    cost_allocation: str
    intermediary_name: str
    client_name: str
    we_are_intermediary: bool
    cost_choices_allowed: list[str]  # the values the actor may choose (empty: read-only)
    can_end: bool
    our_managers: list[ManagerRow]
    their_managers: list[ManagerRow]
    manager_candidates: list[tuple[int, str]]  # (user id, label) of own relationship managers
    their_organisations: list[SharedOrganisation]  # the partner's organisations we reach
    our_organisations: list[SharedOrganisation]  # our organisations the partner reaches


def _environment_name(session: Session, environment_id: int) -> str:
    environment = session.get(Environment, environment_id)
    return environment.name if environment else ""


def _shared(session: Session, *, owner_environment_id: int, member_environment_id: int) -> list[SharedOrganisation]:
    """Activated organisations of ``owner_environment_id`` that Active members from
    ``member_environment_id`` (Advanced users and Administrators) reach."""
    statement = (
        select(Organisation, Membership, User)
        .join(Membership, col(Membership.organisation_id) == col(Organisation.id))
        .join(User, col(User.id) == col(Membership.user_id))
        .where(
            Organisation.environment_id == owner_environment_id,
            User.environment_id == member_environment_id,
            User.status == UserStatus.ACTIVE.value,
            col(User.role).in_(PARTNERSHIP_ROLES),  # only they reach a partner's organisations
            Organisation.activated_at.is_not(None),  # type: ignore[union-attr]
            Membership.status == MembershipStatus.ACTIVE.value,
        )
        .order_by(func.lower(Organisation.name), col(Organisation.id), col(Membership.id))
    )
    by_organisation: dict[int, SharedOrganisation] = {}
    for organisation, membership, user in session.exec(statement):
        shared = by_organisation.setdefault(
            organisation.id,  # type: ignore[arg-type]
            SharedOrganisation(organisation_id=organisation.id, name=organisation.name, members=[]),  # type: ignore[arg-type]
        )
        shared.members.append(
            MemberAccess(
                membership_id=membership.id,  # type: ignore[arg-type]
                user_name=display_name(user),
                user_email=user.email,
                role=membership.role,
                since=membership.accepted_at or membership.created_at,
            )
        )
    return list(by_organisation.values())


def cost_choices_allowed(actor: User, partnership: Partnership) -> list[str]:
    """Who pays may be changed only by an Administrator of the side that would pay: the
    intermediary's Administrators may take the costs on, the client's may take them back."""
    if partnership.status != ACTIVE or not is_admin(actor) or actor.status != UserStatus.ACTIVE.value:
        return []
    intermediary = partnerships.intermediary_of(partnership) == actor.environment_id
    would_pay = CostAllocation.INTERMEDIARY.value if intermediary else CostAllocation.CLIENT.value
    return [would_pay] if partnership.cost_allocation != would_pay else []


def _manager_candidates(session: Session, *, actor: User) -> list[User]:
    """The environment's active relationship managers, by name (whom an Administrator may connect)."""
    if not is_admin(actor):
        return []
    return list(
        session.exec(
            select(User)
            .where(
                User.environment_id == actor.environment_id,
                User.status == UserStatus.ACTIVE.value,
                col(User.is_relationship_manager).is_(True),
            )
            .order_by(func.lower(User.name), col(User.email))
        )
    )


def _view(
    session: Session, *, actor: User, partnership: Partnership, candidates: list[User] | None = None
) -> PartnershipView:
    """One partnership as the actor's side sees it (``candidates``: the environment's relationship
    managers when already read for a whole page)."""
    own = actor.environment_id
    partner = partnerships.partner_of(partnership, own)
    intermediary = partnerships.intermediary_of(partnership)
    managers = relationship_managers.connected_managers(session, partnership_id=partnership.id)  # type: ignore[arg-type]
    rows = [
        ManagerRow(
            link_id=link.id,  # type: ignore[arg-type]
            user_id=user.id,  # type: ignore[arg-type]
            name=display_name(user),
            email=user.email,
            own_side=user.environment_id == own,
        )
        for link, user in managers
    ]
    connected = {row.user_id for row in rows}
    choices: list[tuple[int, str]] = []
    if is_admin(actor) and partnership.status == ACTIVE:
        managers_of_ours = _manager_candidates(session, actor=actor) if candidates is None else candidates
        choices = [
            (user.id, f"{display_name(user)} ({user.email})")  # type: ignore[misc]
            for user in managers_of_ours
            if user.id not in connected
        ]
    ended_by = session.get(User, partnership.ended_by_id) if partnership.ended_by_id else None
    active = partnership.status == ACTIVE
    return PartnershipView(
        id=partnership.id,  # type: ignore[arg-type]
        partner_environment_id=partner,
        partner_name=_environment_name(session, partner),
        status=partnership.status,
        since=partnership.created_at,
        origin=(
            i18n.gettext(ORIGIN_LABELS[partnership.created_via])
            if partnership.created_via in ORIGIN_LABELS
            else partnership.created_via
        ),
        ended_at=partnership.ended_at,
        ended_by=display_name(ended_by),
        cost_allocation=partnership.cost_allocation,
        intermediary_name=_environment_name(session, intermediary),
        client_name=_environment_name(session, partnerships.partner_of(partnership, intermediary)),
        we_are_intermediary=intermediary == own,
        cost_choices_allowed=cost_choices_allowed(actor, partnership),
        can_end=active and is_admin(actor),
        our_managers=[row for row in rows if row.own_side],
        their_managers=[row for row in rows if not row.own_side],
        manager_candidates=choices,
        their_organisations=(
            _shared(session, owner_environment_id=partner, member_environment_id=own) if active else []
        ),
        our_organisations=(
            _shared(session, owner_environment_id=own, member_environment_id=partner) if active else []
        ),
    )


def _require_reader(session: Session, actor: User, status: str) -> User:
    """The actor (Advanced users and Administrators only), with ``status`` a known filter."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR, Role.ADVANCED_USER)
    if status not in STATUS_FILTERS:
        raise ValidationFailed({"status": i18n.gettext("Choose Active, Ended or All.")})
    return actor


def partnerships_page(
    session: Session, *, actor: User, query: ListQuery, status: str = "Active"
) -> Page[PartnershipView]:
    """One page of the actor's environment's partnerships (``status``: Active, Ended or All), for
    the partners page: sorted by ``PARTNERSHIP_SORTS`` (by partner name unless asked otherwise),
    searched by partner name. Advanced users and Administrators only."""
    actor = _require_reader(session, actor, status)
    own = actor.environment_id
    statement = (
        select(Partnership)
        .join(Environment, col(Environment.id) == _partner_id(own))
        .where(or_(col(Partnership.environment_low_id) == own, col(Partnership.environment_high_id) == own))
    )
    if status != "All":
        statement = statement.where(Partnership.status == status)
    if search := search_text(query.search):
        statement = statement.where(contains_text(search, Environment.name))
    page = page_of(
        session,
        statement,
        query=query,
        sort_columns=PARTNERSHIP_SORTS,
        default_sort=DEFAULT_PARTNERSHIP_SORT,
        tiebreaker=col(Partnership.id),
    )
    candidates = _manager_candidates(session, actor=actor)
    return page.map(lambda partnership: _view(session, actor=actor, partnership=partnership, candidates=candidates))


def list_partnerships(session: Session, *, actor: User, status: str = "Active") -> list[PartnershipView]:
    """All the actor's environment's partnerships (``status``: Active, Ended or All), active ones
    first, by partner name: for the dashboard's "Who has access" and other callers that need them
    all (the partners page uses ``partnerships_page``). Advanced users and Administrators only.
    """
    actor = _require_reader(session, actor, status)
    found = partnerships.partnerships_of(
        session, environment_id=actor.environment_id, status=None if status == "All" else status
    )
    candidates = _manager_candidates(session, actor=actor)
    views = [_view(session, actor=actor, partnership=partnership, candidates=candidates) for partnership in found]
    views.sort(key=lambda view: (view.status != ACTIVE, view.partner_name.lower(), -view.id))
    return views


def _partner_id(own: int):  # type: ignore[no-untyped-def]
    """The partnership's other side, seen from ``own`` (a column expression)."""
    return case(
        (col(Partnership.environment_low_id) == own, col(Partnership.environment_high_id)),
        else_=col(Partnership.environment_low_id),
    )


def _reaching_us(own: int):  # type: ignore[no-untyped-def]
    """Active partnerships of ``own`` whose partner reaches us: an active Advanced user or
    Administrator of the partner is an Active member of one of our activated organisations (what
    ``_shared`` lists as ``our_organisations``), or one of the partner's managers is connected to
    the partnership (``their_managers``). Decided in SQL, so partnerships that reach nothing are
    never read."""
    partner = _partner_id(own)
    member_of_ours = (
        select(Membership.id)
        .join(Organisation, col(Organisation.id) == col(Membership.organisation_id))
        .join(User, col(User.id) == col(Membership.user_id))
        .where(
            Organisation.environment_id == own,
            col(Organisation.activated_at).is_not(None),
            Membership.status == MembershipStatus.ACTIVE.value,
            User.environment_id == partner,
            User.status == UserStatus.ACTIVE.value,
            col(User.role).in_(PARTNERSHIP_ROLES),
        )
        .exists()
    )
    their_manager = (
        select(PartnershipManager.id)
        .join(User, col(User.id) == col(PartnershipManager.user_id))
        .where(
            col(PartnershipManager.partnership_id) == col(Partnership.id),
            col(PartnershipManager.disconnected_at).is_(None),
            User.environment_id != own,
        )
        .exists()
    )
    return (
        select(Partnership)
        .where(
            Partnership.status == ACTIVE,
            or_(col(Partnership.environment_low_id) == own, col(Partnership.environment_high_id) == own),
            or_(member_of_ours, their_manager),
        )
        .execution_options(populate_existing=True)
    )


def who_has_access(session: Session, *, actor: User) -> list[PartnershipView]:
    """The active partners that reach at least one of the actor's environment's organisations,
    with who reaches which (the client's side of its partnerships), by partner name. Only those
    partnerships are read (an accountant firm's answer is usually empty, however many partnerships
    it has: the dashboard re-reads this on every live push)."""
    actor = _require_reader(session, actor, "Active")
    found = list(session.exec(_reaching_us(actor.environment_id)))
    if not found:
        return []
    candidates = _manager_candidates(session, actor=actor)
    views = [_view(session, actor=actor, partnership=partnership, candidates=candidates) for partnership in found]
    views.sort(key=lambda view: (view.partner_name.lower(), -view.id))
    return views


# --- ending ---------------------------------------------------------------------------------------


def end_partnership(session: Session, *, actor: User, partnership_id: int) -> Partnership:
    """End a partnership from either side (Administrators): the other side loses access at once;
    nothing is deleted."""
    actor = load_actor(session, actor)
    partnership = partnerships.partnership_of(session, environment_id=actor.environment_id, partnership_id=partnership_id)
    if not is_admin(actor):
        raise PermissionDenied(i18n.gettext(END_DENIED))
    if partnership.status != ACTIVE:
        raise Conflict(i18n.gettext(ALREADY_ENDED))
    own = actor.environment_id
    partner = partnerships.partner_of(partnership, own)
    own_name, partner_name = _environment_name(session, own), _environment_name(session, partner)
    recipients = {
        environment_id: relationship_managers.email_recipients(
            session, environment_id=environment_id, partnership_id=partnership.id
        )
        for environment_id in (own, partner)
    }
    now = utcnow()
    with committing(session):
        claimed = session.execute(
            update(Partnership)
            .where(col(Partnership.id) == partnership.id, col(Partnership.status) == ACTIVE)
            .values(status=ENDED, ended_at=now, ended_by_id=actor.id)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            raise Conflict(i18n.gettext(ALREADY_ENDED))
        session.refresh(partnership)
        ended = memberships.end_memberships_across(
            session, environment_a_id=own, environment_b_id=partner, by=actor, now=now
        )
        relationship_managers.disconnect_all(session, partnership_id=partnership.id, by=actor)  # type: ignore[arg-type]
        for environment_id, other_name in ((own, partner_name), (partner, own_name)):
            by_whom = (
                display_name(actor)
                if environment_id == own
                else i18n.gettext("{name} of {environment}", name=display_name(actor), environment=own_name)
            )
            activity.record(
                session,
                environment_id=environment_id,
                actor=actor,
                action="partnership.ended",
                summary=sentence(
                    i18n.ngettext(
                        "{by_whom} ended the partnership with {partner}; {count} membership ended",
                        "{by_whom} ended the partnership with {partner}; {count} memberships ended",
                        ended,
                        by_whom=by_whom,
                        partner=other_name,
                    )
                ),
                subject_type="partnership",
                subject_id=partnership.id,
            )
            notifications.notify(
                session,
                environment_id=environment_id,
                kind="partnership.ended",
                message=sentence(
                    i18n.gettext(
                        "The partnership with {partner} was ended by {by_whom}",
                        partner=other_name,
                        by_whom=by_whom,
                    )
                ),
                link=routes.PARTNERS,
            )
            for recipient in recipients[environment_id]:
                queue_email(
                    session,
                    template="partnership_ended",
                    to=recipient.email,
                    context={
                        "name": display_name(recipient),
                        "partner_name": other_name,
                        "ended_by": by_whom,
                        "ended_on": now,
                        "own_side": environment_id == own,
                        "link": routes.absolute(routes.PARTNERS),
                    },
                    environment_id=environment_id,
                )
    return partnership


# --- cost allocation ------------------------------------------------------------------------------


def set_cost_allocation(session: Session, *, actor: User, partnership_id: int, cost_allocation: str) -> Partnership:
    """Choose who pays for the client connection: ``Client`` or ``Intermediary``. Only an
    Administrator of the side that would pay may choose it; both sides see and log it, and the
    other side is notified."""
    actor = load_actor(session, actor)
    partnership = partnerships.partnership_of(session, environment_id=actor.environment_id, partnership_id=partnership_id)
    choice = (cost_allocation or "").strip()
    if choice not in COST_CHOICES:
        raise ValidationFailed({"cost_allocation": i18n.gettext(CHOOSE_COST)})
    if partnership.status != ACTIVE:
        raise Conflict(i18n.gettext(ALREADY_ENDED))
    payer = partnerships.intermediary_of(partnership)
    if choice == CostAllocation.CLIENT.value:
        payer = partnerships.partner_of(partnership, payer)
    denied = PermissionDenied(
        i18n.gettext(
            "Only an Administrator of {environment}, the side that would pay, can choose this.",
            environment=_environment_name(session, payer),
        )
    )
    # Permission first: a non-Administrator gets the reason even for the value already chosen.
    if not is_admin(actor):
        raise denied
    if partnership.cost_allocation == choice:
        return partnership
    if choice not in cost_choices_allowed(actor, partnership):
        raise denied
    own = actor.environment_id
    partner = partnerships.partner_of(partnership, own)
    own_name = _environment_name(session, own)
    payer_name = own_name
    previous = partnership.cost_allocation
    with committing(session):
        moved = session.execute(
            update(Partnership)
            .where(
                col(Partnership.id) == partnership.id,
                col(Partnership.status) == ACTIVE,
                col(Partnership.cost_allocation) == previous,
            )
            .values(cost_allocation=choice)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:
            raise Conflict(
                i18n.gettext("The cost allocation was changed at the same moment. Look again and retry.")
            )
        session.refresh(partnership)
        summary = sentence(
            i18n.gettext(
                "{actor} of {environment} changed the cost allocation of the partnership between "
                "{environment} and {partner}: {payer} now pays for the client connection",
                actor=display_name(actor),
                environment=own_name,
                partner=_environment_name(session, partner),
                payer=payer_name,
            )
        )
        for environment_id in (own, partner):
            activity.record(
                session,
                environment_id=environment_id,
                actor=actor,
                action="partnership.cost_allocation_changed",
                summary=summary,
                subject_type="partnership",
                subject_id=partnership.id,
            )
        notifications.notify(
            session,
            environment_id=partner,
            kind="partnership.cost_allocation_changed",
            message=summary,
            link=routes.PARTNERS,
        )
    return partnership
