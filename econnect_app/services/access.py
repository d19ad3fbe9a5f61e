"""Who may reach which organisation: the one answer behind pages, the dashboard, keys and the API.

An environment reaches its own activated organisations, and a client's activated organisation
while both hold an active partnership and at least one active Advanced user or Administrator of
the environment is an Active member of it. Ending the partnership or removing the last such
membership takes the access away at once.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, func, or_
from sqlmodel import Session, col, select

from econnect_app.models import Organisation, User, UserStatus
from econnect_app.services import memberships, partnerships, relationship_managers
from econnect_app.services.permissions import can_manage_partnerships


def environment_can_access_organisation(
    session: Session, *, environment_id: int, organisation: Organisation
) -> bool:
    """Whether an environment (e.g. through its connection keys) may reach an organisation.

    Only activated organisations are reached. True for its own; for another environment's
    organisation only while an active partnership joins the two environments and an active
    Advanced user or Administrator of ``environment_id`` is a member.
    """
    if organisation.id is None or organisation.activated_at is None:
        return False
    if organisation.environment_id == environment_id:
        return True
    if not partnerships.has_active_partnership(
        session, environment_a_id=environment_id, environment_b_id=organisation.environment_id
    ):
        return False
    return memberships.has_member_from(
        session, environment_id=environment_id, organisation_id=organisation.id
    )


def user_can_access_organisation(session: Session, *, user: User, organisation: Organisation) -> bool:
    """Whether a user may open an organisation: any organisation of their own environment, or a
    partner's organisation while their environment's access holds and they (an Advanced user or
    Administrator) are a member of it or a connected relationship manager of that partnership."""
    if user.status != UserStatus.ACTIVE.value or organisation.id is None:
        return False
    if organisation.environment_id == user.environment_id:
        return True
    if not can_manage_partnerships(user):
        return False
    personally = memberships.is_member(
        session, organisation_id=organisation.id, user_id=user.id  # type: ignore[arg-type]
    ) or relationship_managers.is_connected_manager(
        session, user=user, partner_environment_id=organisation.environment_id
    )
    return personally and environment_can_access_organisation(
        session, environment_id=user.environment_id, organisation=organisation
    )


def user_can_see_keys(session: Session, *, user: User, organisation: Organisation) -> bool:
    """Whether a user may see the connection details (keys, identifier) of an organisation.

    The user must be an Advanced user or Administrator who may access the (activated)
    organisation.
    """
    return (
        organisation.activated_at is not None
        and can_manage_partnerships(user)
        and user_can_access_organisation(session, user=user, organisation=organisation)
    )


def client_organisations_condition(session: Session, *, user: User) -> ColumnElement[bool] | None:
    """The condition on ``Organisation`` rows for the client organisations an (active) user reaches,
    for a query that lists them; None when they reach none (see ``accessible_organisations``)."""
    partners = partnerships.partner_environment_ids(session, environment_id=user.environment_id)
    if user.status != UserStatus.ACTIVE.value or not partners or not can_manage_partnerships(user):
        return None
    managed = [
        partner
        for partner in partners
        if relationship_managers.is_connected_manager(session, user=user, partner_environment_id=partner)
    ]
    reached = col(Organisation.id).in_(memberships.organisations_of_user(user.id))  # type: ignore[arg-type]
    if managed:
        reached = reached | (
            col(Organisation.environment_id).in_(managed)
            & col(Organisation.id).in_(memberships.organisations_with_member_from(user.environment_id))
        )
    return and_(reached, col(Organisation.environment_id).in_(partners), col(Organisation.activated_at).is_not(None))


def accessible_organisations_condition(session: Session, *, user: User) -> ColumnElement[bool]:
    """The condition on ``Organisation`` rows for every organisation a user reaches (own and
    client ones), for a query that lists them page by page."""
    if user.status != UserStatus.ACTIVE.value:
        return false()
    own = Organisation.environment_id == user.environment_id
    clients = client_organisations_condition(session, user=user)
    return own if clients is None else or_(own, clients)


def accessible_organisations(session: Session, *, user: User) -> list[Organisation]:
    """The user's own organisations, then the client organisations they reach, each once, by name.

    Client organisations belong to an environment with an active partnership with the user's
    environment and have the user as a member (or, for a connected relationship manager of that
    partnership, any member of the user's environment); only Advanced users and Administrators
    reach them. An inactive user reaches nothing.
    """
    if user.status != UserStatus.ACTIVE.value:
        return []
    by_name = (func.lower(Organisation.name), col(Organisation.id))
    own = list(
        session.exec(
            select(Organisation).where(Organisation.environment_id == user.environment_id).order_by(*by_name)
        )
    )
    clients = client_organisations_condition(session, user=user)
    if clients is None:
        return own
    return own + list(session.exec(select(Organisation).where(clients).order_by(*by_name)))
