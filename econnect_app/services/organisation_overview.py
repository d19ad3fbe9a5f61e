"""What ``/organisations`` and ``/organisations/<id>`` show: the user's own organisations and the
partner organisations they reach, with their role, status and identifier (read-only).

Which organisations a user reaches is ``services/access.py``'s answer; this module only shapes it.
The organisation identifier is a connection key: it is shown only to those who may see keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.models import (
    Environment,
    Membership,
    MembershipRole,
    MembershipStatus,
    Organisation,
    SoftwarePackage,
    User,
)
from econnect_app.services import access, memberships
from econnect_app.services.errors import NotFound, ValidationFailed
from econnect_app.services.organisations import can_configure
from econnect_app.services.paging import ListQuery, Page, contains_text, page_of
from econnect_app.services.permissions import can_manage_partnerships, load_actor

SCOPES: tuple[str, ...] = ("all", "own", "partner")
# The columns the list may be sorted by; the default ("") is own organisations first, each by name.
SORT_KEYS: tuple[str, ...] = ("name", "owner", "role", "status")
DEFAULT_SORT = ""
NOT_FOUND_MESSAGE = i18n.N_("This organisation does not exist or you have no access to it.")


@dataclass(frozen=True)
class OrganisationRow:
    """One organisation as the organisations list shows it."""

    id: int
    name: str
    kvk_number: str
    vat_number: str
    city: str
    environment_name: str
    is_own: bool
    activated: bool
    receive_e_invoices: bool
    findable: bool
    role: str  # the user's organisation role ("" when they reach it through their environment)
    identifier: str  # "" unless the user may see connection keys
    can_configure: bool  # may activate it and change its settings


@dataclass(frozen=True)
class OrganisationDetail:
    """One organisation's page."""

    row: OrganisationRow
    street: str
    postal_code: str
    software_name: str
    created_at: datetime
    activated_at: datetime | None


def _row(session: Session, *, actor: User, organisation: Organisation, environment_names: dict[int, str]) -> OrganisationRow:
    if organisation.environment_id not in environment_names:
        environment = session.get(Environment, organisation.environment_id)
        environment_names[organisation.environment_id] = environment.name if environment else ""
    membership = memberships.active_membership(
        session, organisation_id=organisation.id, user_id=actor.id  # type: ignore[arg-type]
    )
    is_own = organisation.environment_id == actor.environment_id
    return OrganisationRow(
        id=organisation.id,  # type: ignore[arg-type]
        name=organisation.name,
        kvk_number=organisation.kvk_number,
        vat_number=organisation.vat_number or "",
        city=organisation.city,
        environment_name=environment_names[organisation.environment_id],
        is_own=is_own,
        activated=organisation.activated_at is not None,
        receive_e_invoices=organisation.receive_e_invoices,
        findable=organisation.findable,
        role=membership.role if membership else "",
        identifier=(
            organisation.identifier
            if access.user_can_see_keys(session, user=actor, organisation=organisation)
            else ""
        ),
        can_configure=is_own and can_configure(session, actor=actor, organisation=organisation),
    )


def list_organisations(session: Session, *, actor: User, scope: str = "all") -> list[OrganisationRow]:
    """The user's own organisations, then the partner organisations they reach (``scope``: all,
    own or partner), each by name."""
    actor = load_actor(session, actor)
    if scope not in SCOPES:
        raise ValidationFailed({"scope": i18n.gettext("Choose all, own or partner organisations.")})
    names: dict[int, str] = {}
    rows = [
        _row(session, actor=actor, organisation=organisation, environment_names=names)
        for organisation in access.accessible_organisations(session, user=actor)
    ]
    if scope == "own":
        return [row for row in rows if row.is_own]
    if scope == "partner":
        return [row for row in rows if not row.is_own]
    return rows


def _page_row(actor: User, organisation: Organisation, environment_name: str, role: str | None) -> OrganisationRow:
    """A row of ``organisations_page`` from what its query read (no query per row). Every listed
    organisation is one the actor may open, so the identifier shows when the organisation is
    activated and the actor may see keys (``access.user_can_see_keys``); it may be configured by
    Advanced users, Administrators and Administrator members of an own organisation (``can_configure``)."""
    is_own = organisation.environment_id == actor.environment_id
    manages = can_manage_partnerships(actor)
    return OrganisationRow(
        id=organisation.id,  # type: ignore[arg-type]
        name=organisation.name,
        kvk_number=organisation.kvk_number,
        vat_number=organisation.vat_number or "",
        city=organisation.city,
        environment_name=environment_name,
        is_own=is_own,
        activated=organisation.activated_at is not None,
        receive_e_invoices=organisation.receive_e_invoices,
        findable=organisation.findable,
        role=role or "",
        identifier=organisation.identifier if organisation.activated_at is not None and manages else "",
        can_configure=is_own and (manages or role == MembershipRole.ADMINISTRATOR.value),
    )


def organisations_page(
    session: Session, *, actor: User, query: ListQuery, scope: str = "all"
) -> Page[OrganisationRow]:
    """One page of the organisations the user reaches (``scope``: all, own or partner), the same
    rows as ``list_organisations``: searched in name, KvK number, city, owner and (for those who
    may see it) identifier; sorted by name, owner, the user's role or status (by default: own
    organisations first, each by name)."""
    actor = load_actor(session, actor)
    if scope not in SCOPES:
        raise ValidationFailed({"scope": i18n.gettext("Choose all, own or partner organisations.")})
    is_own = Organisation.environment_id == actor.environment_id
    condition = access.accessible_organisations_condition(session, user=actor)
    if scope == "own":
        condition = and_(condition, is_own)
    elif scope == "partner":
        condition = and_(condition, Organisation.environment_id != actor.environment_id)
    membership = and_(
        col(Membership.organisation_id) == col(Organisation.id),
        Membership.user_id == actor.id,
        Membership.status == MembershipStatus.ACTIVE.value,
    )
    statement = (
        select(Organisation, col(Environment.name).label("owner_name"), Membership.role)
        .join(Environment, col(Environment.id) == col(Organisation.environment_id))
        .outerjoin(Membership, membership)
        .where(condition)
    )
    if query.search:
        searched = [Organisation.name, Organisation.kvk_number, Organisation.city, Environment.name]
        found = contains_text(query.search, *searched)
        if can_manage_partnerships(actor):  # the identifier only where it is shown
            found = found | and_(
                col(Organisation.activated_at).is_not(None), contains_text(query.search, Organisation.identifier)
            )
        statement = statement.where(found)
    by_name = func.lower(Organisation.name)
    if query.sort not in SORT_KEYS:  # the default order: own organisations first
        statement = statement.order_by(case((is_own, 0), else_=1))
    page = page_of(
        session,
        statement,
        query=query,
        sort_columns={
            DEFAULT_SORT: by_name,
            "name": by_name,
            "owner": func.lower(Environment.name),
            "role": func.coalesce(Membership.role, ""),
            "status": case((col(Organisation.activated_at).is_(None), 1), else_=0),
        },
        default_sort=DEFAULT_SORT,
        tiebreaker=col(Organisation.id),
    )
    return page.map(lambda row: _page_row(actor, row[0], row[1], row[2]))


def organisation_detail(session: Session, *, actor: User, organisation_id: int) -> OrganisationDetail:
    """One organisation the user may open; NotFound otherwise (nothing is revealed)."""
    actor = load_actor(session, actor)
    organisation = session.get(Organisation, organisation_id) if 0 < organisation_id < 2**31 else None
    if organisation is None or not access.user_can_access_organisation(session, user=actor, organisation=organisation):
        raise NotFound(i18n.gettext(NOT_FOUND_MESSAGE))
    package = (
        session.get(SoftwarePackage, organisation.software_package_id)
        if organisation.software_package_id is not None
        else None
    )
    return OrganisationDetail(
        row=_row(session, actor=actor, organisation=organisation, environment_names={}),
        street=organisation.street,
        postal_code=organisation.postal_code,
        software_name=package.name if package else "",
        created_at=organisation.created_at,
        activated_at=organisation.activated_at,
    )

