"""Memberships: a user's access to one organisation (users of a partner environment included).

The only home of membership queries and membership rows. Roles: ``Member`` (view, create and send
documents) and ``Administrator`` (also adds and removes members).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app.models import Membership, MembershipRole, User, UserStatus


def membership_of(session: Session, *, organisation_id: int, user_id: int) -> Membership | None:
    """The user's membership of the organisation, if any."""
    statement = select(Membership).where(
        Membership.organisation_id == organisation_id, Membership.user_id == user_id
    )
    return session.exec(statement).first()


def is_member(session: Session, *, organisation_id: int, user_id: int) -> bool:
    """Whether the user is a member (any role) of the organisation."""
    return membership_of(session, organisation_id=organisation_id, user_id=user_id) is not None


def is_organisation_administrator(session: Session, *, organisation_id: int, user_id: int) -> bool:
    """Whether the user is an Administrator member of the organisation."""
    membership = membership_of(session, organisation_id=organisation_id, user_id=user_id)
    return membership is not None and membership.role == MembershipRole.ADMINISTRATOR.value


def organisations_with_member_from(environment_id: int):  # type: ignore[no-untyped-def]
    """A subquery: ids of organisations in which an active user of ``environment_id`` is a member."""
    return (
        select(Membership.organisation_id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(User.environment_id == environment_id, User.status == UserStatus.ACTIVE.value)
    )


def has_member_from(session: Session, *, environment_id: int, organisation_id: int) -> bool:
    """Whether an active user of ``environment_id`` is a member of the organisation."""
    statement = organisations_with_member_from(environment_id).where(
        Membership.organisation_id == organisation_id
    )
    return session.exec(statement).first() is not None


def add_membership_row(
    session: Session, *, organisation_id: int, user_id: int, role: str, created_by_id: int | None
) -> Membership:
    """Add a membership in the caller's transaction (flushes; the caller records the activity)."""
    membership = Membership(
        organisation_id=organisation_id, user_id=user_id, role=role, created_by_id=created_by_id
    )
    session.add(membership)
    session.flush()
    return membership


def ensure_membership(
    session: Session,
    *,
    organisation_id: int,
    user_id: int,
    created_by_id: int,
    role: str = MembershipRole.MEMBER.value,
) -> bool:
    """Make the user a member of the organisation unless it already is; True when added.

    Safe against a concurrent insert of the same membership (SAVEPOINT; the unique index decides).
    Runs in the caller's transaction.
    """
    if is_member(session, organisation_id=organisation_id, user_id=user_id):
        return False
    try:
        with session.begin_nested():
            add_membership_row(
                session,
                organisation_id=organisation_id,
                user_id=user_id,
                role=role,
                created_by_id=created_by_id,
            )
    except IntegrityError:
        if is_member(session, organisation_id=organisation_id, user_id=user_id):  # added concurrently
            return False
        raise
    return True
