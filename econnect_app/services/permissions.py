"""Small permission helpers shared by the services (checked on the server, every time)."""

from __future__ import annotations

from sqlmodel import Session

from econnect_app import i18n
from econnect_app.models import Environment, Plan, Role, User, UserStatus
from econnect_app.services.errors import PermissionDenied

PARTNERSHIP_ROLES: tuple[str, ...] = (Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value)
PARTNERSHIP_PLANS: tuple[str, ...] = (Plan.BASIC.value, Plan.PROFESSIONAL.value)
# Each role named in the plural, as a refusal lists who may do something.
_ROLES_IN_PLURAL: dict[str, str] = {
    Role.USER.value: i18n.N_("Users"),
    Role.ADVANCED_USER.value: i18n.N_("Advanced users"),
    Role.ADMINISTRATOR.value: i18n.N_("Administrators"),
}


def plan_has_partnerships(plan: str) -> bool:
    """Whether a subscription plan includes partnerships (authorisation and relationship requests)."""
    return plan in PARTNERSHIP_PLANS


def environment_has_partnerships(session: Session, *, environment_id: int) -> bool:
    """Whether an environment's current plan includes partnerships."""
    environment = session.get(Environment, environment_id)
    return environment is not None and plan_has_partnerships(environment.plan)


def is_admin(user: User) -> bool:
    """Whether the user is an Administrator of their environment."""
    return user.role == Role.ADMINISTRATOR.value


def can_manage_partnerships(user: User) -> bool:
    """Whether the user may manage partnerships and organisations (Advanced user, Administrator)."""
    return user.role in PARTNERSHIP_ROLES


def require_active(actor: User | None) -> User:
    """The actor itself, or PermissionDenied when there is none or the account is not active."""
    if actor is None or actor.status != UserStatus.ACTIVE.value:
        raise PermissionDenied(
            i18n.gettext("Your account is not active. Log in again or contact an administrator.")
        )
    return actor


def _role_list(roles: tuple[str, ...]) -> str:
    names = [
        i18n.gettext(_ROLES_IN_PLURAL[role]) if role in _ROLES_IN_PLURAL else f"{role}s" for role in roles
    ]
    if len(names) == 1:
        return names[0]
    return i18n.gettext("{names} and {last}", names=", ".join(names[:-1]), last=names[-1])


def require_role(actor: User | None, *roles: str) -> User:
    """The actor itself, or PermissionDenied unless it is active and has one of ``roles``."""
    actor = require_active(actor)
    allowed = tuple(str(role) for role in roles)
    if actor.role not in allowed:
        raise PermissionDenied(i18n.gettext("Only {roles} can do this.", roles=_role_list(allowed)))
    return actor


def load_actor(session: Session, actor: User) -> User:
    """The actor as the database holds it now (fresh role and status), required to be active.

    Callers pass the user they validated; services re-read it so a role change or a block
    takes effect at once, whatever the caller cached.
    """
    current = session.get(User, actor.id) if actor is not None and actor.id is not None else None
    return require_active(current)
