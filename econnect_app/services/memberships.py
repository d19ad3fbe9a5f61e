"""Memberships: a user's access to one organisation (users of a partner environment included).

The only home of membership queries and membership rows. Roles: ``Member`` (view, create and send
documents) and ``Administrator`` (also adds and removes members). A membership is ``Active`` (it
grants access), ``Invited`` (a partner user has not accepted it yet: no access) or ``Ended`` (kept
as history). At most one membership per organisation and user is current (not Ended).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app.models import (
    Membership,
    MembershipEndReason,
    MembershipRole,
    MembershipStatus,
    Organisation,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import effects
from econnect_app.services.permissions import PARTNERSHIP_ROLES

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
    """A subquery: ids of organisations in which an active Advanced user or Administrator of
    ``environment_id`` is an Active member (a partnership gives access to those roles only)."""
    return (
        select(Membership.organisation_id)
        .join(User, col(User.id) == col(Membership.user_id))
        .where(
            User.environment_id == environment_id,
            User.status == UserStatus.ACTIVE.value,
            col(User.role).in_(PARTNERSHIP_ROLES),
            Membership.status == ACTIVE,
        )
    )


def organisations_of_user(user_id: int):  # type: ignore[no-untyped-def]
    """A subquery: ids of organisations of which the user is an Active member."""
    return select(Membership.organisation_id).where(Membership.user_id == user_id, Membership.status == ACTIVE)


def has_member_from(session: Session, *, environment_id: int, organisation_id: int) -> bool:
    """Whether an active Advanced user or Administrator of ``environment_id`` is an Active member of
    the organisation."""
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


def change_status(
    session: Session,
    *,
    membership: Membership,
    from_status: str,
    to_status: str,
    now: datetime,
    by: User,
    end_reason: str | None = None,
) -> bool:
    """Move a membership from ``from_status`` to ``to_status`` only if it is still in it (a
    conditional UPDATE: a double click or a concurrent change acts once). True when it moved."""
    values: dict[str, object] = {"status": to_status}
    if to_status == ACTIVE:
        values["accepted_at"] = now
    if to_status == ENDED:
        values.update(ended_at=now, ended_by_id=by.id, end_reason=end_reason)
    result = session.execute(
        update(Membership)
        .where(col(Membership.id) == membership.id, col(Membership.status) == from_status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(membership)
    # A bulk UPDATE bypasses the flush: name the environments whose pages show this membership.
    for environment_id in effects.environments_of(session.connection(), membership):
        effects.changed(session, environment_id)
    return True


def end_memberships_across(
    session: Session, *, environment_a_id: int, environment_b_id: int, by: User, now: datetime
) -> int:
    """End every current membership that a user of one environment holds in an organisation of
    the other (the partnership between them ends); returns how many ended. Kept as history."""
    crossing = or_(
        and_(
            col(Membership.user_id).in_(select(User.id).where(User.environment_id == environment_a_id)),
            col(Membership.organisation_id).in_(
                select(Organisation.id).where(Organisation.environment_id == environment_b_id)
            ),
        ),
        and_(
            col(Membership.user_id).in_(select(User.id).where(User.environment_id == environment_b_id)),
            col(Membership.organisation_id).in_(
                select(Organisation.id).where(Organisation.environment_id == environment_a_id)
            ),
        ),
    )
    result = session.execute(
        update(Membership)
        .where(crossing, col(Membership.status) != ENDED)
        .values(
            status=ENDED,
            ended_at=now,
            ended_by_id=by.id,
            end_reason=MembershipEndReason.PARTNERSHIP_ENDED.value,
        )
        .execution_options(synchronize_session=False)
    )
    effects.changed(session, environment_a_id)
    effects.changed(session, environment_b_id)
    return int(result.rowcount or 0)
