"""Relationship managers: users who coordinate one partnership for their side.

An Administrator gives a user the Relationship manager role in user management; on ``/partners``
an Administrator connects one or more of the environment's relationship managers to a partnership
(and disconnects them; the rows are kept as history). Connected managers are shown on both sides,
receive that partnership's emails (relationship requests, its end), and reach the organisations
their environment reaches through it (``access.user_can_access_organisation``).
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.formatting import display_name
from econnect_app.models import (
    Environment,
    Partnership,
    PartnershipManager,
    PartnershipStatus,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import activity, partnerships
from econnect_app.services.errors import Conflict, NotFound, ValidationFailed
from econnect_app.services.permissions import PARTNERSHIP_ROLES, load_actor, require_role
from econnect_app.services.transaction import committing
from econnect_app.services.validation import parse_id

CHOOSE_MANAGER = i18n.N_("Choose a relationship manager of your environment.")
ALREADY_CONNECTED = i18n.N_("{name} is connected to this partnership already.")
NOT_CONNECTED = i18n.N_("This relationship manager is not connected (any more).")
ENDED_MESSAGE = i18n.N_("This partnership has ended.")


def connected_managers(session: Session, *, partnership_id: int) -> list[tuple[PartnershipManager, User]]:
    """The partnership's connected managers (both sides) with their users, by name."""
    statement = (
        select(PartnershipManager, User)
        .join(User, col(User.id) == col(PartnershipManager.user_id))
        .where(
            PartnershipManager.partnership_id == partnership_id,
            col(PartnershipManager.disconnected_at).is_(None),
        )
        .order_by(func.lower(User.name), func.lower(User.email))
    )
    return list(session.exec(statement))


def is_connected_manager(session: Session, *, user: User, partner_environment_id: int) -> bool:
    """Whether the user is a connected manager of their environment's active partnership with
    ``partner_environment_id``."""
    partnership = partnerships.active_partnership(
        session, environment_id=user.environment_id, partner_environment_id=partner_environment_id
    )
    if partnership is None or not user.is_relationship_manager:
        return False
    statement = select(PartnershipManager.id).where(
        PartnershipManager.partnership_id == partnership.id,
        PartnershipManager.user_id == user.id,
        col(PartnershipManager.disconnected_at).is_(None),
    )
    return session.exec(statement).first() is not None


def email_recipients(session: Session, *, environment_id: int, partnership_id: int | None = None) -> list[User]:
    """Who of an environment is emailed about a partnership: its active Administrators and the
    partnership's connected managers of that side (or, before there is a partnership, every
    relationship manager of the environment). Each once, by email address."""
    administrators = session.exec(
        select(User).where(
            User.environment_id == environment_id,
            User.status == UserStatus.ACTIVE.value,
            User.role == Role.ADMINISTRATOR.value,
        )
    )
    if partnership_id is None:  # a relationship request: only those who may answer it
        managers = session.exec(
            select(User).where(
                User.environment_id == environment_id,
                User.status == UserStatus.ACTIVE.value,
                col(User.is_relationship_manager).is_(True),
                col(User.role).in_(PARTNERSHIP_ROLES),
            )
        )
    else:
        managers = (
            user
            for _, user in connected_managers(session, partnership_id=partnership_id)
            if user.environment_id == environment_id and user.status == UserStatus.ACTIVE.value
        )
    by_email = {user.email.lower(): user for user in [*administrators, *managers]}
    return [by_email[email] for email in sorted(by_email)]


def _own_partnership(session: Session, *, actor: User, partnership_id: int) -> Partnership:
    partnership = partnerships.partnership_of(session, environment_id=actor.environment_id, partnership_id=partnership_id)
    if partnership.status != PartnershipStatus.ACTIVE.value:
        raise Conflict(i18n.gettext(ENDED_MESSAGE))
    return partnership


def _partner_name(session: Session, partnership: Partnership, environment_id: int) -> str:
    partner = session.get(Environment, partnerships.partner_of(partnership, environment_id))
    return partner.name if partner else ""


def _record(session: Session, *, actor: User, partnership: Partnership, action: str, summary: str) -> None:
    activity.record_each(
        session,
        dict.fromkeys((partnership.environment_low_id, partnership.environment_high_id), summary),
        actor=actor,
        action=action,
        subject_type="partnership",
        subject_id=partnership.id,
    )


def connect_manager(session: Session, *, actor: User, partnership_id: int, user_id: int | str) -> PartnershipManager:
    """Connect a relationship manager of the actor's environment to a partnership (Administrators)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    partnership = _own_partnership(session, actor=actor, partnership_id=partnership_id)
    manager_id = parse_id(user_id)
    manager = session.get(User, manager_id) if manager_id is not None else None
    if (
        manager is None
        or manager.environment_id != actor.environment_id
        or manager.status != UserStatus.ACTIVE.value
        or not manager.is_relationship_manager
    ):
        raise ValidationFailed({"manager": i18n.gettext(CHOOSE_MANAGER)})
    already = i18n.gettext(ALREADY_CONNECTED, name=display_name(manager))
    if any(user.id == manager.id for _, user in connected_managers(session, partnership_id=partnership.id)):  # type: ignore[arg-type]
        raise ValidationFailed({"manager": already})
    link = PartnershipManager(partnership_id=partnership.id, user_id=manager.id, connected_by_id=actor.id)  # type: ignore[arg-type]
    try:
        with committing(session):
            session.add(link)
            session.flush()
            _record(
                session,
                actor=actor,
                partnership=partnership,
                action="partnership.manager_connected",
                summary=i18n.gettext(
                    "{actor} connected {manager} as relationship manager of the partnership with {partner}.",
                    actor=display_name(actor),
                    manager=display_name(manager),
                    partner=_partner_name(session, partnership, actor.environment_id),
                ),
            )
    except IntegrityError:  # connected at the same moment (a double click, another administrator)
        raise ValidationFailed({"manager": already}) from None
    return link


def disconnect_manager(session: Session, *, actor: User, manager_link_id: int) -> PartnershipManager:
    """Disconnect a relationship manager of the actor's side from a partnership (Administrators)."""
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR)
    link = session.get(PartnershipManager, manager_link_id, populate_existing=True) if 0 < manager_link_id < 2**31 else None
    manager = session.get(User, link.user_id) if link is not None else None
    if link is None or manager is None or manager.environment_id != actor.environment_id:
        raise NotFound(i18n.gettext(NOT_CONNECTED))
    partnership = partnerships.partnership_of(
        session, environment_id=actor.environment_id, partnership_id=link.partnership_id
    )
    with committing(session):
        result = session.execute(
            update(PartnershipManager)
            .where(col(PartnershipManager.id) == link.id, col(PartnershipManager.disconnected_at).is_(None))
            .values(disconnected_at=utcnow(), disconnected_by_id=actor.id)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise NotFound(i18n.gettext(NOT_CONNECTED))
        _record(
            session,
            actor=actor,
            partnership=partnership,
            action="partnership.manager_disconnected",
            summary=i18n.gettext(
                "{actor} disconnected {manager} as relationship manager of the partnership with {partner}.",
                actor=display_name(actor),
                manager=display_name(manager),
                partner=_partner_name(session, partnership, actor.environment_id),
            ),
        )
    session.refresh(link)
    return link


def disconnect_all(session: Session, *, partnership_id: int, by: User) -> None:
    """Disconnect every manager of a partnership that ends (caller's transaction; kept as history)."""
    session.execute(
        update(PartnershipManager)
        .where(
            col(PartnershipManager.partnership_id) == partnership_id,
            col(PartnershipManager.disconnected_at).is_(None),
        )
        .values(disconnected_at=utcnow(), disconnected_by_id=by.id)
        .execution_options(synchronize_session=False)
    )
