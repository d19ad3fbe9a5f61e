"""Who may reach which organisation: the rule behind the connection keys and the HTTP API.

An environment reaches its own organisations, and a client's organisation while both hold an
active partnership and at least one active user of the environment is a member of it. Ending the
partnership or removing the last membership takes the access away at once.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from econnect_app.models import (
    Membership,
    Organisation,
    Partnership,
    PartnershipStatus,
    User,
    UserStatus,
)
from econnect_app.services.permissions import can_manage_partnerships


def has_active_partnership(session: Session, *, environment_a_id: int, environment_b_id: int) -> bool:
    """Whether the two environments hold an active partnership (in either direction)."""
    if environment_a_id == environment_b_id:
        return False
    low, high = sorted((environment_a_id, environment_b_id))
    statement = select(Partnership.id).where(
        Partnership.environment_low_id == low,
        Partnership.environment_high_id == high,
        Partnership.status == PartnershipStatus.ACTIVE.value,
    )
    return session.exec(statement).first() is not None


def _has_active_member_from(session: Session, *, environment_id: int, organisation_id: int) -> bool:
    statement = (
        select(Membership.id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(
            Membership.organisation_id == organisation_id,
            User.environment_id == environment_id,
            User.status == UserStatus.ACTIVE.value,
        )
    )
    return session.exec(statement).first() is not None


def _is_member(session: Session, *, user: User, organisation: Organisation) -> bool:
    statement = select(Membership.id).where(
        Membership.organisation_id == organisation.id, Membership.user_id == user.id
    )
    return session.exec(statement).first() is not None


def environment_can_access_organisation(
    session: Session, *, environment_id: int, organisation: Organisation
) -> bool:
    """Whether an environment (e.g. through its connection keys) may reach an organisation.

    True for its own organisations; for another environment's organisation only while an active
    partnership joins the two environments and an active user of ``environment_id`` is a member.
    """
    if organisation.environment_id == environment_id:
        return True
    if organisation.id is None:
        return False
    if not has_active_partnership(
        session, environment_a_id=environment_id, environment_b_id=organisation.environment_id
    ):
        return False
    return _has_active_member_from(
        session, environment_id=environment_id, organisation_id=organisation.id
    )


def user_can_see_keys(session: Session, *, user: User, organisation: Organisation) -> bool:
    """Whether a user may see the connection details (keys, identifier) of an organisation.

    The user must be active, an Advanced user or Administrator, and either own the organisation
    through their environment or be a member of it, with their environment's access intact.
    """
    if user.status != UserStatus.ACTIVE.value or not can_manage_partnerships(user):
        return False
    own = organisation.environment_id == user.environment_id
    if not own and not _is_member(session, user=user, organisation=organisation):
        return False
    return environment_can_access_organisation(
        session, environment_id=user.environment_id, organisation=organisation
    )


def _partner_environment_ids(session: Session, *, environment_id: int) -> set[int]:
    statement = select(Partnership.environment_low_id, Partnership.environment_high_id).where(
        Partnership.status == PartnershipStatus.ACTIVE.value,
        (Partnership.environment_low_id == environment_id)
        | (Partnership.environment_high_id == environment_id),
    )
    partners: set[int] = set()
    for low, high in session.exec(statement):
        partners.add(high if low == environment_id else low)
    return partners


def accessible_organisations(session: Session, *, user: User) -> list[Organisation]:
    """The user's own organisations, then the client organisations they reach, each once.

    Client organisations belong to an environment with an active partnership with the user's
    environment and have the user as a member. An inactive user reaches nothing.
    """
    if user.status != UserStatus.ACTIVE.value:
        return []
    by_name = (func.lower(Organisation.name), col(Organisation.id))
    own = list(
        session.exec(
            select(Organisation)
            .where(Organisation.environment_id == user.environment_id)
            .order_by(*by_name)
        )
    )
    partners = _partner_environment_ids(session, environment_id=user.environment_id)
    # One membership per (organisation, user), so the join gives each organisation once.
    clients: list[Organisation] = []
    if partners:
        clients = list(
            session.exec(
                select(Organisation)
                .join(Membership, col(Membership.organisation_id) == col(Organisation.id))
                .where(
                    Membership.user_id == user.id,
                    col(Organisation.environment_id).in_(partners),
                )
                .order_by(*by_name)
            )
        )
    return own + clients
