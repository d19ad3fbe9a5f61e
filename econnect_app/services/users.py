"""Users of an environment: invitations, roles, blocking (Administrators manage them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, routes, security
from econnect_app.mail import queue_email
from econnect_app.models import (
    Environment,
    OneTimeToken,
    Role,
    TokenPurpose,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import activity, address_holders, one_time_tokens, throttle, user_emails
from econnect_app.services.errors import Conflict, InvalidToken, NotFound, ValidationFailed
from econnect_app.services.paging import ListQuery, Page, contains_text, page_of
from econnect_app.services.permissions import load_actor, require_role
from econnect_app.services.sessions import revoke_all_sessions
from econnect_app.services.transaction import committing
from econnect_app.services.validation import (
    FieldErrors,
    clean_email,
    clean_password,
    clean_required,
)
from econnect_app.settings import get_settings

ROLE_CHOICES: tuple[str, ...] = tuple(role.value for role in Role)
CHOOSE_ROLE_MESSAGE = i18n.N_("Choose User, Advanced user or Administrator.")
# Messages marked for translation; raised as ``i18n.gettext(...)``.
EMAIL_TAKEN_MESSAGE = i18n.N_("This address already belongs to a user of your environment.")
RELEASED_ACCOUNT_MESSAGE = i18n.N_(
    "This account was closed when its owner proved its address for another account. Invite the person again."
)
INVITATION = TokenPurpose.INVITATION.value
LAST_ADMIN_MESSAGE = i18n.N_("An environment needs at least one active Administrator.")
INVALID_INVITATION_MESSAGE = i18n.N_(
    "This invitation link is invalid or has expired. Ask your administrator to send a new one."
)
_STATUS_ORDER = {
    UserStatus.ACTIVE.value: 0,
    UserStatus.INVITED.value: 1,
    UserStatus.BLOCKED.value: 2,
}
_ROLE_ORDER = {role: rank for rank, role in enumerate(ROLE_CHOICES)}  # User, Advanced user, Administrator
# The columns the users list may be sorted by; the default ("") is the order of ``list_users``.
USER_SORT_KEYS: tuple[str, ...] = ("name", "email", "role", "relationship_manager", "status")
DEFAULT_USER_SORT = ""


def _label(user: User) -> str:
    return user.name or user.email


def _require_admin(session: Session, actor: User) -> User:
    return require_role(load_actor(session, actor), Role.ADMINISTRATOR)


def _get_environment_user(session: Session, *, actor: User, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.environment_id != actor.environment_id:
        raise NotFound(i18n.gettext("This user does not exist."))
    return user


def _active_admin_count(session: Session, environment_id: int) -> int:
    statement = (
        select(func.count())
        .select_from(User)
        .where(
            User.environment_id == environment_id,
            User.role == Role.ADMINISTRATOR.value,
            User.status == UserStatus.ACTIVE.value,
        )
    )
    return int(session.exec(statement).one())


def _is_last_active_admin(session: Session, user: User) -> bool:
    """Whether ``user`` is the only active Administrator left in their environment."""
    if user.role != Role.ADMINISTRATOR.value or user.status != UserStatus.ACTIVE.value:
        return False
    return _active_admin_count(session, user.environment_id) <= 1


def _lock_environment(session: Session, environment_id: int) -> None:
    """Serialise changes to the environment's Administrators (PostgreSQL row lock; SQLite takes its
    write lock at the change's first write, which callers make before counting)."""
    session.exec(select(Environment.id).where(Environment.id == environment_id).with_for_update())


def _keep_an_administrator(session: Session, user: User) -> None:
    """After taking Administrator rights from ``user`` (written, in the caller's transaction, after
    ``_lock_environment``): refuse when no active Administrator is left. Counting after the write,
    under the lock, holds when two Administrators demote or block each other at the same moment."""
    session.flush()
    if _active_admin_count(session, user.environment_id) == 0:
        raise Conflict(i18n.gettext(LAST_ADMIN_MESSAGE))


def _void_invitations(session: Session, *, user: User, now: datetime) -> None:
    one_time_tokens.void_unused(session, purpose=INVITATION, user_id=user.id, now=now)  # type: ignore[arg-type]


def _send_invitation(
    session: Session, *, actor: User, user: User, environment: Environment
) -> None:
    """Create a fresh invitation token and queue the email with its link."""
    settings = get_settings()
    raw = one_time_tokens.issue(
        session, purpose=INVITATION, lifetime=timedelta(days=settings.invitation_days), user_id=user.id
    )
    queue_email(
        session,
        template="invitation",
        to=user.email,
        context={
            "inviter_name": _label(actor),
            "environment_name": environment.name,
            "role": user.role,  # English: the email shows it translated (role|translated)
            "link": routes.absolute(routes.accept_invitation(raw)),
            "expires_days": settings.invitation_days,
        },
        environment_id=environment.id,
    )


def _tell_address_it_has_an_account(
    session: Session, *, actor: User, environment: Environment, address: str
) -> None:
    """The invitation of an address that has an account elsewhere: its owner is told instead."""
    address_holders.tell_holder(
        session,
        address=address,
        what=i18n.gettext(
            "invite {address} to join {environment} on eConnect ({inviter} sent the invitation)",
            address=address,
            environment=environment.name,
            inviter=_label(actor),
        ),
        environment_id=environment.id,
    )


def list_users(session: Session, *, actor: User) -> list[User]:
    """The environment's users, Active first, then Invited, then Blocked; by name and email."""
    actor = _require_admin(session, actor)
    status_order = case(_STATUS_ORDER, value=col(User.status), else_=3)
    statement = (
        select(User)
        .where(User.environment_id == actor.environment_id)
        .order_by(status_order, func.lower(User.name), func.lower(User.email))
    )
    return list(session.exec(statement))


def users_page(session: Session, *, actor: User, query: ListQuery) -> Page[User]:
    """One page of the environment's users (Administrators only), searched in name and email,
    sorted by name, email, role, relationship manager or status (by default as ``list_users``:
    Active first, then Invited, then Blocked; by name and email)."""
    actor = _require_admin(session, actor)
    statement = select(User).where(User.environment_id == actor.environment_id)
    if query.search:
        statement = statement.where(contains_text(query.search, User.name, User.email))
    status_order = case(_STATUS_ORDER, value=col(User.status), else_=3)
    by_email = func.lower(User.email)
    if query.sort not in USER_SORT_KEYS:  # the default order
        statement = statement.order_by(status_order, func.lower(User.name))
    return page_of(
        session,
        statement,
        query=query,
        sort_columns={
            DEFAULT_USER_SORT: by_email,
            "name": func.lower(User.name),
            "email": by_email,
            "role": case(_ROLE_ORDER, value=col(User.role), else_=len(_ROLE_ORDER)),
            "relationship_manager": col(User.is_relationship_manager),
            "status": status_order,
        },
        default_sort=DEFAULT_USER_SORT,
        tiebreaker=col(User.id),
    )


@dataclass(frozen=True)
class InvitationSent:
    """The answer to an invitation, the same whether or not the address has an account elsewhere."""

    email: str
    user: User | None  # the invited user; None when the address has an account (its owner was told)


def invite_user(
    session: Session,
    *,
    actor: User,
    email: str,
    role: str,
    is_relationship_manager: bool = False,
) -> InvitationSent:
    """Invite someone into the actor's environment; they get an emailed link to join.

    An address of another environment's account is not revealed: the answer is the same and its
    owner is emailed that someone tried to invite it. An expired invitation elsewhere gives way.
    """
    actor = _require_admin(session, actor)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None

    fields = FieldErrors()
    clean_address = fields.check("email", clean_email, email)
    if role not in ROLE_CHOICES:
        fields.add("role", i18n.gettext(CHOOSE_ROLE_MESSAGE))
    fields.raise_if_any()
    assert clean_address is not None
    throttle.check("invitation", environment_id=environment.id)

    try:
        with committing(session):
            holder = address_holders.take_over(session, clean_address, proven=False)
            if holder is not None:
                if holder.user.environment_id == environment.id:
                    raise ValidationFailed({"email": i18n.gettext(EMAIL_TAKEN_MESSAGE)})
                _tell_address_it_has_an_account(session, actor=actor, environment=environment, address=clean_address)
                return InvitationSent(email=clean_address, user=None)
            user = User(
                environment_id=environment.id,  # type: ignore[arg-type]
                email=clean_address,
                name="",
                role=Role(role).value,
                is_relationship_manager=bool(is_relationship_manager),
                status=UserStatus.INVITED.value,
                password_hash=None,
                invited_by_id=actor.id,
            )
            session.add(user)
            session.flush()
            _send_invitation(session, actor=actor, user=user, environment=environment)
            activity.record(
                session,
                environment_id=environment.id,
                actor=actor,
                action="user.invited",
                summary=i18n.gettext(
                    "{actor} invited {email} as {role}.",
                    actor=_label(actor),
                    email=user.email,
                    role=i18n.gettext(user.role),
                ),
                subject_type="user",
                subject_id=user.id,
            )
    except IntegrityError:  # the address was taken at the same moment
        holder = address_holders.holder_of(session, clean_address)
        if holder is not None and holder.user.environment_id == environment.id:
            raise ValidationFailed({"email": i18n.gettext(EMAIL_TAKEN_MESSAGE)}) from None
        with committing(session):
            _tell_address_it_has_an_account(session, actor=actor, environment=environment, address=clean_address)
        return InvitationSent(email=clean_address, user=None)
    return InvitationSent(email=clean_address, user=user)


def resend_invitation(session: Session, *, actor: User, user_id: int) -> None:
    """Send an invited user a fresh link; earlier links stop working."""
    actor = _require_admin(session, actor)
    user = _get_environment_user(session, actor=actor, user_id=user_id)
    if user.status != UserStatus.INVITED.value:
        raise Conflict(
            i18n.gettext("Only users who have not accepted their invitation yet can get a new one.")
        )
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    throttle.check("invitation", environment_id=environment.id)
    with committing(session):
        _void_invitations(session, user=user, now=utcnow())
        _send_invitation(session, actor=actor, user=user, environment=environment)
        activity.record(
            session,
            environment_id=environment.id,
            actor=actor,
            action="user.invitation_resent",
            summary=i18n.gettext(
                "{actor} sent a new invitation to {email}.", actor=_label(actor), email=user.email
            ),
            subject_type="user",
            subject_id=user.id,
        )


def _find_invitation(session: Session, token: str) -> tuple[OneTimeToken, User, Environment]:
    """The usable invitation token with its user and environment, or InvalidToken."""
    row = one_time_tokens.find_usable(session, token=token, purpose=INVITATION)
    user = session.get(User, row.user_id) if row is not None and row.user_id is not None else None
    if row is None or user is None or user.status != UserStatus.INVITED.value:
        raise InvalidToken(i18n.gettext(INVALID_INVITATION_MESSAGE))
    environment = session.get(Environment, user.environment_id)
    assert environment is not None
    return row, user, environment


def get_invitation(session: Session, *, token: str) -> tuple[User, Environment]:
    """The invited user and their environment for an invitation link."""
    _, user, environment = _find_invitation(session, token)
    return user, environment


def accept_invitation(session: Session, *, token: str, name: str, password: str) -> User:
    """Join through an invitation link: set a name and password; the link is then used up.

    The link was emailed to the address, so it is confirmed too. Of two simultaneous uses of
    the link, one wins.
    """
    row, user, environment = _find_invitation(session, token)
    fields = FieldErrors()
    clean_name = fields.check("name", clean_required, name, label=i18n.N_("your name"))
    clean_secret = fields.check("password", clean_password, password)
    fields.raise_if_any()
    password_hash = security.hash_password(clean_secret)

    now = utcnow()
    with committing(session):
        if not one_time_tokens.claim(session, row, now=now):
            raise InvalidToken(i18n.gettext(INVALID_INVITATION_MESSAGE))
        user.name = clean_name
        user.password_hash = password_hash
        user.password_changed_at = now
        user.status = UserStatus.ACTIVE.value
        _void_invitations(session, user=user, now=now)
        activity.record(
            session,
            environment_id=environment.id,
            actor=user,
            action="user.joined",
            summary=i18n.gettext(
                "{name} ({email}) accepted the invitation as {role}.",
                name=user.name,
                email=user.email,
                role=i18n.gettext(user.role),
            ),
            subject_type="user",
            subject_id=user.id,
        )
        user_emails.confirm_through_link(
            session, user=user, address=user.email, how=i18n.N_("the invitation link"), now=now
        )
    return user


def change_role(session: Session, *, actor: User, user_id: int, role: str) -> User:
    """Give a user another environment role, effective at once."""
    actor = _require_admin(session, actor)
    user = _get_environment_user(session, actor=actor, user_id=user_id)
    if role not in ROLE_CHOICES:
        raise ValidationFailed({"role": i18n.gettext(CHOOSE_ROLE_MESSAGE)})
    if user.role == role:
        return user
    if role != Role.ADMINISTRATOR.value and _is_last_active_admin(session, user):
        raise Conflict(i18n.gettext(LAST_ADMIN_MESSAGE))
    old_role = user.role
    with committing(session):
        _lock_environment(session, actor.environment_id)
        user.role = Role(role).value
        session.add(user)
        if old_role == Role.ADMINISTRATOR.value:
            _keep_an_administrator(session, user)
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="user.role_changed",
            summary=i18n.gettext(
                "{actor} changed the role of {user} from {old_role} to {role}.",
                actor=_label(actor),
                user=_label(user),
                old_role=i18n.gettext(old_role),
                role=i18n.gettext(role),
            ),
            subject_type="user",
            subject_id=user.id,
        )
    return user


def set_relationship_manager(session: Session, *, actor: User, user_id: int, enabled: bool) -> User:
    """Give or take the Relationship manager role."""
    actor = _require_admin(session, actor)
    user = _get_environment_user(session, actor=actor, user_id=user_id)
    if user.is_relationship_manager == enabled:
        return user
    with committing(session):
        user.is_relationship_manager = enabled
        summary = (
            i18n.gettext(
                "{actor} made {user} a Relationship manager.", actor=_label(actor), user=_label(user)
            )
            if enabled
            else i18n.gettext(
                "{actor} took the Relationship manager role away from {user}.",
                actor=_label(actor),
                user=_label(user),
            )
        )
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="user.relationship_manager_changed",
            summary=summary,
            subject_type="user",
            subject_id=user.id,
        )
    return user


def block_user(session: Session, *, actor: User, user_id: int) -> User:
    """Block a user: they cannot log in and their sessions end at once."""
    actor = _require_admin(session, actor)
    user = _get_environment_user(session, actor=actor, user_id=user_id)
    if _is_last_active_admin(session, user):
        raise Conflict(i18n.gettext(LAST_ADMIN_MESSAGE))
    if user.id == actor.id:
        raise Conflict(i18n.gettext("You cannot block your own account. Ask another Administrator to do it."))
    if user.status == UserStatus.BLOCKED.value:
        return user
    with committing(session):
        _lock_environment(session, actor.environment_id)
        user.status = UserStatus.BLOCKED.value
        session.add(user)
        _keep_an_administrator(session, user)
        revoke_all_sessions(session, user=user)
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="user.blocked",
            summary=i18n.gettext("{actor} blocked {user}.", actor=_label(actor), user=_label(user)),
            subject_type="user",
            subject_id=user.id,
        )
    return user


def unblock_user(session: Session, *, actor: User, user_id: int) -> User:
    """Unblock a user: Active again, or Invited when they never set a password."""
    actor = _require_admin(session, actor)
    user = _get_environment_user(session, actor=actor, user_id=user_id)
    if user.status != UserStatus.BLOCKED.value:
        return user
    if address_holders.is_released(user):
        raise Conflict(i18n.gettext(RELEASED_ACCOUNT_MESSAGE))
    with committing(session):
        user.status = UserStatus.ACTIVE.value if user.password_hash else UserStatus.INVITED.value
        activity.record(
            session,
            environment_id=actor.environment_id,
            actor=actor,
            action="user.unblocked",
            summary=i18n.gettext("{actor} unblocked {user}.", actor=_label(actor), user=_label(user)),
            subject_type="user",
            subject_id=user.id,
        )
    return user
