"""Memberships: a user's access to one organisation (users of a partner environment included).

The only home of membership queries and membership rows. Roles: ``Member`` (view, create and send
documents) and ``Administrator`` (also adds and removes members). A membership is ``Active`` (it
grants access), ``Invited`` (a partner user has not accepted it yet: no access) or ``Ended`` (kept
as history). At most one membership per organisation and user is current (not Ended).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app.models import Membership, MembershipRole, MembershipStatus, User, UserStatus, utcnow

ACTIVE = MembershipStatus.ACTIVE.value
ENDED = MembershipStatus.ENDED.value


def current_membership(session: Session, *, organisation_id: int, user_id: int) -> Membership | None:
    """The user's current (Invited or Active) membership of the organisation, if any."""
    statement = select(Membership).where(
        Membership.organisation_id == organisation_id,
        Membership.user_id == user_id,
        Membership.status != ENDED,
    )
    return session.exec(statement.execution_options(populate_existing=True)).first()


def active_membership(session: Session, *, organisation_id: int, user_id: int) -> Membership | None:
    """The user's Active membership of the organisation (the one that grants access), if any."""
    membership = current_membership(session, organisation_id=organisation_id, user_id=user_id)
    return membership if membership is not None and membership.status == ACTIVE else None


def is_member(session: Session, *, organisation_id: int, user_id: int) -> bool:
    """Whether the user is an Active member (any role) of the organisation."""
    return active_membership(session, organisation_id=organisation_id, user_id=user_id) is not None


def is_organisation_administrator(session: Session, *, organisation_id: int, user_id: int) -> bool:
    """Whether the user is an Active Administrator member of the organisation."""
    membership = active_membership(session, organisation_id=organisation_id, user_id=user_id)
    return membership is not None and membership.role == MembershipRole.ADMINISTRATOR.value


def organisations_with_member_from(environment_id: int):  # type: ignore[no-untyped-def]
    """A subquery: ids of organisations in which an active user of ``environment_id`` is an
    Active member."""
    return (
        select(Membership.organisation_id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(
            User.environment_id == environment_id,
            User.status == UserStatus.ACTIVE.value,
            Membership.status == ACTIVE,
        )
    )


def organisations_of_user(user_id: int):  # type: ignore[no-untyped-def]
    """A subquery: ids of organisations of which the user is an Active member."""
    return select(Membership.organisation_id).where(Membership.user_id == user_id, Membership.status == ACTIVE)


def has_member_from(session: Session, *, environment_id: int, organisation_id: int) -> bool:
    """Whether an active user of ``environment_id`` is a member of the organisation."""
    statement = organisations_with_member_from(environment_id).where(
        Membership.organisation_id == organisation_id
    )
    return session.exec(statement).first() is not None


def add_membership_row(
    session: Session,
    *,
    organisation_id: int,
    user_id: int,
    role: str,
    created_by_id: int | None,
    status: str = ACTIVE,
) -> Membership:
    """Add a membership in the caller's transaction (flushes; the caller records the activity)."""
    now = utcnow()
    membership = Membership(
        organisation_id=organisation_id,
        user_id=user_id,
        role=role,
        status=status,
        created_by_id=created_by_id,
        created_at=now,
        accepted_at=now if status == ACTIVE else None,
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
    """Make the user an Active member of the organisation unless it already is; True when added.

    An Invited membership is activated (the user is granted the access it offered). Safe against a
    concurrent insert of the same membership (SAVEPOINT; the unique index decides). Runs in the
    caller's transaction.
    """
    current = current_membership(session, organisation_id=organisation_id, user_id=user_id)
    if current is not None:
        if current.status == ACTIVE:
            return False
        current.status = ACTIVE
        current.accepted_at = utcnow()
        session.add(current)
        return True
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
