"""Member management of one organisation (``/organisations/<id>/members``).

Who manages: the organisation's Administrators (organisation role), and the Administrators of the
environment that owns it. A user of the owning environment becomes a member at once; a user of a
partner environment (active partnership only) is *invited* and gets access once they accept (in
the app, after an email). The last Administrator of an organisation can be neither removed nor
demoted. Removing a member ends the membership (kept as history) and takes the access away at once:
the user's open pages refresh, and their environment's keys lose the organisation when no other
member of that environment remains (``services/access.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, routes
from econnect_app.formatting import display_name, sentence
from econnect_app.mail import queue_email
from econnect_app.models import (
    Environment,
    Membership,
    MembershipEndReason,
    MembershipRole,
    MembershipStatus,
    Organisation,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import access, activity, memberships, notifications, partnerships
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.permissions import PARTNERSHIP_ROLES, can_manage_partnerships, load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.validation import parse_id

ROLE_CHOICES: tuple[str, ...] = tuple(role.value for role in MembershipRole)
ACTIVE = MembershipStatus.ACTIVE.value
INVITED = MembershipStatus.INVITED.value
ENDED = MembershipStatus.ENDED.value
ADMINISTRATOR = MembershipRole.ADMINISTRATOR.value

# The messages in English (tests and pages compare them); shown translated with ``i18n.gettext``.
ORGANISATION_NOT_FOUND = i18n.N_("This organisation does not exist or you have no access to it.")
MEMBER_NOT_FOUND = i18n.N_("This member does not exist (any more).")
INVITATION_NOT_FOUND = i18n.N_("This invitation does not exist or is no longer open.")
MANAGE_DENIED = i18n.N_("Only administrators of this organisation can add and remove its members.")
CHOOSE_OWN_USER = i18n.N_("Choose an Advanced user or Administrator of your own environment.")
NOT_ACTIVATED = i18n.N_("Activate this organisation before you add members.")
CHOOSE_USER = i18n.N_(
    "Choose a user of this organisation's environment, or an Advanced user or Administrator of a partner "
    "environment."
)
CHOOSE_ROLE = i18n.N_("Choose Member or Administrator.")
LAST_ADMINISTRATOR = i18n.N_(
    "An organisation needs at least one Administrator. Make another member Administrator first."
)
NO_PARTNERSHIP = i18n.N_("Your environments no longer have an active partnership.")
# The organisation roles as sentences name them (``_role_name``); the stored value stays English.
ROLE_NAMES: tuple[str, ...] = (i18n.N_("Member"), i18n.N_("Administrator"))


@dataclass(frozen=True)
class MemberRow:
    """One current member (or invited user) as the members page shows it."""

    membership_id: int
    user_id: int
    name: str
    email: str
    environment_name: str
    is_partner: bool
    role: str
    status: str
    since: datetime
    is_self: bool


@dataclass(frozen=True)
class CandidateUser:
    """A user who may be added: of the owning environment or of a partner environment."""

    user_id: int
    name: str
    email: str
    environment_name: str
    is_partner: bool


@dataclass(frozen=True)
class MembersView:
    """The members page of one organisation, for one viewer."""

    organisation_id: int
    organisation_name: str
    owner_environment_name: str
    is_own: bool
    activated: bool
    can_manage: bool
    members: list[MemberRow]
    candidates: list[CandidateUser]


@dataclass(frozen=True)
class InvitationRow:
    """An organisation of a partner environment that invited the user to work with it."""

    membership_id: int
    organisation_name: str
    environment_name: str
    role: str
    invited_by: str
    invited_at: datetime


# --- rules ----------------------------------------------------------------------------------------


def _role_name(role: str) -> str:
    """An organisation role (``Member``, ``Administrator``) in the language in effect."""
    return i18n.gettext(role) if role in ROLE_NAMES else role


def _accessible_organisation(session: Session, *, actor: User, organisation_id: int) -> Organisation:
    """The organisation, if the actor may open it (NotFound otherwise: nothing is revealed)."""
    organisation = session.get(Organisation, organisation_id) if 0 < organisation_id < 2**31 else None
    if organisation is None or not access.user_can_access_organisation(
        session, user=actor, organisation=organisation
    ):
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    return organisation


def can_manage_members(session: Session, *, actor: User, organisation: Organisation) -> bool:
    """Whether the actor may add and remove members: an Administrator of the organisation (with
    access to it), or an Administrator of the environment that owns it."""
    if not access.user_can_access_organisation(session, user=actor, organisation=organisation):
        return False
    if actor.environment_id == organisation.environment_id and actor.role == Role.ADMINISTRATOR.value:
        return True
    return memberships.is_organisation_administrator(
        session, organisation_id=organisation.id, user_id=actor.id  # type: ignore[arg-type]
    )


def _require_manager(session: Session, *, actor: User, organisation_id: int) -> Organisation:
    organisation = _accessible_organisation(session, actor=actor, organisation_id=organisation_id)
    if not can_manage_members(session, actor=actor, organisation=organisation):
        raise PermissionDenied(i18n.gettext(MANAGE_DENIED))
    return organisation


def _lock_organisation(session: Session, organisation_id: int) -> None:
    """Serialise membership changes of one organisation (PostgreSQL row lock; SQLite takes its
    write lock at the first write, which callers make before counting)."""
    session.exec(select(Organisation.id).where(Organisation.id == organisation_id).with_for_update())


def _count_active_administrators(session: Session, organisation_id: int) -> int:
    statement = (
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.organisation_id == organisation_id,
            Membership.status == ACTIVE,
            Membership.role == ADMINISTRATOR,
        )
    )
    return int(session.exec(statement).one())


def _environment_name(session: Session, environment_id: int) -> str:
    environment = session.get(Environment, environment_id)
    return environment.name if environment else ""


def _current_membership_by_id(session: Session, *, organisation: Organisation, membership_id: int) -> Membership:
    membership = session.get(Membership, membership_id, populate_existing=True)
    if membership is None or membership.organisation_id != organisation.id or membership.status == ENDED:
        raise NotFound(i18n.gettext(MEMBER_NOT_FOUND))
    return membership


def _record_both_sides(
    session: Session,
    *,
    organisation: Organisation,
    member: User,
    actor: User,
    action: str,
    summary: str,
) -> None:
    """An activity row in the organisation's environment and, for a partner user, in theirs."""
    activity.record_each(
        session,
        dict.fromkeys(sorted({organisation.environment_id, member.environment_id}), summary),
        actor=actor,
        action=action,
        subject_type="organisation",
        subject_id=organisation.id,
    )


# --- reading --------------------------------------------------------------------------------------


def _member_rows(session: Session, *, organisation: Organisation, viewer: User) -> list[MemberRow]:
    statement = (
        select(Membership, User, Environment)
        .join(User, col(User.id) == col(Membership.user_id))
        .join(Environment, col(Environment.id) == col(User.environment_id))
        .where(Membership.organisation_id == organisation.id, Membership.status != ENDED)
        .order_by(
            col(Membership.status),  # Active before Invited
            func.lower(func.coalesce(func.nullif(User.name, ""), User.email)),
            col(Membership.id),
        )
    )
    return [
        MemberRow(
            membership_id=membership.id,  # type: ignore[arg-type]
            user_id=user.id,  # type: ignore[arg-type]
            name=display_name(user),
            email=user.email,
            environment_name=environment.name,
            is_partner=user.environment_id != organisation.environment_id,
            role=membership.role,
            status=membership.status,
            since=membership.accepted_at or membership.created_at,
            is_self=user.id == viewer.id,
        )
        for membership, user, environment in session.exec(statement)
    ]


def _environments_to_add_from(session: Session, *, actor: User, organisation: Organisation) -> list[int]:
    """Whose users the actor may add: the owning environment's managers add their own users and
    those of its partners; a partner's Administrator member adds users of their own environment."""
    if actor.environment_id != organisation.environment_id:
        return [actor.environment_id]
    return [
        organisation.environment_id,
        *partnerships.partner_environment_ids(session, environment_id=organisation.environment_id),
    ]


def _may_join(user: User, organisation: Organisation) -> bool:
    """Any active user of the owning environment; of a partner environment, Advanced users and
    Administrators (partnerships give access to those roles only)."""
    if user.status != UserStatus.ACTIVE.value:
        return False
    return user.environment_id == organisation.environment_id or can_manage_partnerships(user)


def _candidates(session: Session, *, actor: User, organisation: Organisation) -> list[CandidateUser]:
    """Users the actor may add who are not members (or invited) yet."""
    environments = _environments_to_add_from(session, actor=actor, organisation=organisation)
    current = select(Membership.user_id).where(
        Membership.organisation_id == organisation.id, Membership.status != ENDED
    )
    statement = (
        select(User, Environment)
        .join(Environment, col(Environment.id) == col(User.environment_id))
        .where(
            col(User.environment_id).in_(environments),
            User.status == UserStatus.ACTIVE.value,
            col(User.id).not_in(current),
            (col(User.environment_id) == organisation.environment_id)
            | col(User.role).in_(PARTNERSHIP_ROLES),
        )
        .order_by(
            col(User.environment_id) != organisation.environment_id,  # own environment first
            func.lower(Environment.name),
            func.lower(func.coalesce(func.nullif(User.name, ""), User.email)),
        )
    )
    return [
        CandidateUser(
            user_id=user.id,  # type: ignore[arg-type]
            name=display_name(user),
            email=user.email,
            environment_name=environment.name,
            is_partner=user.environment_id != organisation.environment_id,
        )
        for user, environment in session.exec(statement)
    ]


def members_view(session: Session, *, actor: User, organisation_id: int) -> MembersView:
    """The organisation's current members (and open invitations), for anyone who may open it."""
    actor = load_actor(session, actor)
    organisation = _accessible_organisation(session, actor=actor, organisation_id=organisation_id)
    can_manage = can_manage_members(session, actor=actor, organisation=organisation)
    return MembersView(
        organisation_id=organisation.id,  # type: ignore[arg-type]
        organisation_name=organisation.name,
        owner_environment_name=_environment_name(session, organisation.environment_id),
        is_own=organisation.environment_id == actor.environment_id,
        activated=organisation.activated_at is not None,
        can_manage=can_manage,
        members=_member_rows(session, organisation=organisation, viewer=actor),
        candidates=_candidates(session, actor=actor, organisation=organisation) if can_manage else [],
    )


def list_invitations(session: Session, *, actor: User) -> list[InvitationRow]:
    """Open invitations for the actor to work with organisations of partner environments."""
    actor = load_actor(session, actor)
    statement = (
        select(Membership, Organisation, Environment)
        .join(Organisation, col(Organisation.id) == col(Membership.organisation_id))
        .join(Environment, col(Environment.id) == col(Organisation.environment_id))
        .where(Membership.user_id == actor.id, Membership.status == INVITED)
        .order_by(col(Membership.created_at).desc(), col(Membership.id).desc())
    )
    rows: list[InvitationRow] = []
    for membership, organisation, environment in session.exec(statement):
        if not partnerships.has_active_partnership(
            session, environment_a_id=actor.environment_id, environment_b_id=organisation.environment_id
        ):
            continue
        inviter = session.get(User, membership.created_by_id) if membership.created_by_id else None
        rows.append(
            InvitationRow(
                membership_id=membership.id,  # type: ignore[arg-type]
                organisation_name=organisation.name,
                environment_name=environment.name,
                role=membership.role,
                invited_by=display_name(inviter, missing=environment.name),
                invited_at=membership.created_at,
            )
        )
    return rows


# --- adding ---------------------------------------------------------------------------------------


def _clean_role(role: str) -> str:
    clean = (role or "").strip()
    if clean not in ROLE_CHOICES:
        raise ValidationFailed({"role": i18n.gettext(CHOOSE_ROLE)})
    return clean


def _candidate(session: Session, *, actor: User, organisation: Organisation, user_id: int | str) -> User:
    """The user to add, if the actor may add them (see ``_environments_to_add_from``, ``_may_join``)."""
    chosen_id = parse_id(user_id)
    user = session.get(User, chosen_id) if chosen_id is not None else None
    if (
        user is None
        or not _may_join(user, organisation)
        or user.environment_id not in _environments_to_add_from(session, actor=actor, organisation=organisation)
    ):
        own_only = actor.environment_id != organisation.environment_id
        raise ValidationFailed({"user": i18n.gettext(CHOOSE_OWN_USER if own_only else CHOOSE_USER)})
    current = memberships.current_membership(
        session, organisation_id=organisation.id, user_id=user.id  # type: ignore[arg-type]
    )
    if current is not None:
        raise ValidationFailed({"user": _already_there(user, invited=current.status != ACTIVE)})
    return user


def _already_there(user: User, *, invited: bool) -> str:
    """Why the user cannot be added: they are a member already, or invited already."""
    if invited:
        return i18n.gettext("{name} has been invited already.", name=display_name(user))
    return i18n.gettext("{name} is already a member.", name=display_name(user))


def add_member(
    session: Session, *, actor: User, organisation_id: int, user_id: int | str, role: str
) -> Membership:
    """Add a user of the owning environment (a member at once) or invite a partner user (a member
    once they accept; they are notified in the app and by email)."""
    actor = load_actor(session, actor)
    organisation = _require_manager(session, actor=actor, organisation_id=organisation_id)
    if organisation.activated_at is None:
        raise Conflict(i18n.gettext(NOT_ACTIVATED))
    fields: dict[str, str] = {}
    try:
        clean_role = _clean_role(role)
    except ValidationFailed as error:
        fields.update(error.errors)
        clean_role = ""
    try:
        user = _candidate(session, actor=actor, organisation=organisation, user_id=user_id)
    except ValidationFailed as error:
        fields.update(error.errors)
    if fields:
        raise ValidationFailed(fields)
    partner = user.environment_id != organisation.environment_id
    try:
        with committing(session):
            membership = memberships.add_membership_row(
                session,
                organisation_id=organisation.id,  # type: ignore[arg-type]
                user_id=user.id,  # type: ignore[arg-type]
                role=clean_role,
                created_by_id=actor.id,
                status=INVITED if partner else ACTIVE,
            )
            if partner:
                _invite(session, actor=actor, organisation=organisation, user=user, role=clean_role)
            else:
                _record_both_sides(
                    session,
                    organisation=organisation,
                    member=user,
                    actor=actor,
                    action="membership.added",
                    summary=i18n.gettext(
                        "{actor} added {user} to {organisation} as {role}.",
                        actor=display_name(actor),
                        user=display_name(user),
                        organisation=organisation.name,
                        role=_role_name(clean_role),
                    ),
                )
    except IntegrityError:
        # The same user was added at the same moment (a double click, another administrator).
        raise ValidationFailed({"user": _already_there(user, invited=partner)}) from None
    return membership


def _invite(session: Session, *, actor: User, organisation: Organisation, user: User, role: str) -> None:
    environment_name = _environment_name(session, organisation.environment_id)
    _record_both_sides(
        session,
        organisation=organisation,
        member=user,
        actor=actor,
        action="membership.invited",
        summary=i18n.gettext(
            "{actor} invited {user} of {environment} to work with {organisation} as {role}.",
            actor=display_name(actor),
            user=display_name(user),
            environment=_environment_name(session, user.environment_id),
            organisation=organisation.name,
            role=_role_name(role),
        ),
    )
    notifications.notify(
        session,
        environment_id=user.environment_id,
        user_id=user.id,
        kind="membership.invited",
        message=sentence(
            i18n.gettext(
                "{organisation} ({environment}) wants to work with you as {role}. "
                "Accept or decline under Organisations",
                organisation=organisation.name,
                environment=environment_name,
                role=_role_name(role),
            )
        ),
        link=routes.ORGANISATIONS,
    )
    queue_email(
        session,
        template="membership_invitation",
        to=user.email,
        context={
            "name": display_name(user),
            "inviter_name": display_name(actor),
            "environment_name": environment_name,
            "organisation_name": organisation.name,
            "role": role,
            "link": routes.absolute(routes.ORGANISATIONS),
        },
        environment_id=organisation.environment_id,
    )


# --- answering an invitation ----------------------------------------------------------------------


def _open_invitation(session: Session, *, actor: User, membership_id: int) -> tuple[Membership, Organisation]:
    membership = (
        session.get(Membership, membership_id, populate_existing=True) if 0 < membership_id < 2**31 else None
    )
    if membership is None or membership.user_id != actor.id or membership.status != INVITED:
        raise NotFound(i18n.gettext(INVITATION_NOT_FOUND))
    organisation = session.get(Organisation, membership.organisation_id)
    assert organisation is not None
    if not partnerships.has_active_partnership(
        session, environment_a_id=actor.environment_id, environment_b_id=organisation.environment_id
    ):
        raise Conflict(i18n.gettext(NO_PARTNERSHIP))
    return membership, organisation


def _answer_invitation(session: Session, *, actor: User, membership_id: int, accept: bool) -> Membership:
    actor = load_actor(session, actor)
    membership, organisation = _open_invitation(session, actor=actor, membership_id=membership_id)
    now = utcnow()
    verb = "accepted" if accept else "declined"
    with committing(session):
        claimed = memberships.change_status(
            session,
            membership=membership,
            from_status=INVITED,
            to_status=ACTIVE if accept else ENDED,
            now=now,
            by=actor,
            end_reason=None if accept else MembershipEndReason.DECLINED.value,
        )
        if not claimed:
            raise NotFound(i18n.gettext(INVITATION_NOT_FOUND))
        _record_both_sides(
            session,
            organisation=organisation,
            member=actor,
            actor=actor,
            action=f"membership.{verb}",
            summary=(
                i18n.gettext(
                    "{actor} accepted the invitation to work with {organisation}.",
                    actor=display_name(actor),
                    organisation=organisation.name,
                )
                if accept
                else i18n.gettext(
                    "{actor} declined the invitation to work with {organisation}.",
                    actor=display_name(actor),
                    organisation=organisation.name,
                )
            ),
        )
        notifications.notify(
            session,
            environment_id=organisation.environment_id,
            kind=f"membership.{verb}",
            message=sentence(
                i18n.gettext(
                    "{actor} ({environment}) accepted the invitation to work with {organisation}",
                    actor=display_name(actor),
                    environment=_environment_name(session, actor.environment_id),
                    organisation=organisation.name,
                )
                if accept
                else i18n.gettext(
                    "{actor} ({environment}) declined the invitation to work with {organisation}",
                    actor=display_name(actor),
                    environment=_environment_name(session, actor.environment_id),
                    organisation=organisation.name,
                )
            ),
            link=routes.organisation_members(organisation.id),  # type: ignore[arg-type]
        )
    return membership


def accept_invitation(session: Session, *, actor: User, membership_id: int) -> Membership:
    """Accept an invitation to work with a partner's organisation: the membership becomes Active."""
    return _answer_invitation(session, actor=actor, membership_id=membership_id, accept=True)


def decline_invitation(session: Session, *, actor: User, membership_id: int) -> Membership:
    """Decline an invitation: it ends, and the organisation's environment is told."""
    return _answer_invitation(session, actor=actor, membership_id=membership_id, accept=False)


# --- changing and removing ------------------------------------------------------------------------


def change_member_role(session: Session, *, actor: User, membership_id: int, role: str) -> Membership:
    """Make a member Member or Administrator (the last Administrator stays Administrator)."""
    actor = load_actor(session, actor)
    membership = session.get(Membership, membership_id, populate_existing=True) if 0 < membership_id < 2**31 else None
    if membership is None:
        raise NotFound(i18n.gettext(MEMBER_NOT_FOUND))
    organisation = _require_manager(session, actor=actor, organisation_id=membership.organisation_id)
    membership = _current_membership_by_id(session, organisation=organisation, membership_id=membership_id)
    clean_role = _clean_role(role)
    if membership.role == clean_role:
        return membership
    member = session.get(User, membership.user_id)
    assert member is not None
    previous = membership.role
    with committing(session):
        _lock_organisation(session, organisation.id)  # type: ignore[arg-type]
        membership.role = clean_role
        session.add(membership)
        session.flush()
        # Only an Active Administrator counts: demoting an invitation leaves the others as they are.
        if (
            previous == ADMINISTRATOR
            and membership.status == ACTIVE
            and _count_active_administrators(session, organisation.id) == 0  # type: ignore[arg-type]
        ):
            raise Conflict(i18n.gettext(LAST_ADMINISTRATOR))
        _record_both_sides(
            session,
            organisation=organisation,
            member=member,
            actor=actor,
            action="membership.role_changed",
            summary=i18n.gettext(
                "{actor} made {member} {role} of {organisation} (was {previous}).",
                actor=display_name(actor),
                member=display_name(member),
                role=_role_name(clean_role),
                organisation=organisation.name,
                previous=_role_name(previous),
            ),
        )
    return membership


def remove_member(session: Session, *, actor: User, membership_id: int) -> Membership:
    """End a membership (or withdraw an invitation); it is kept as history. The last
    Administrator cannot be removed."""
    actor = load_actor(session, actor)
    membership = session.get(Membership, membership_id, populate_existing=True) if 0 < membership_id < 2**31 else None
    if membership is None:
        raise NotFound(i18n.gettext(MEMBER_NOT_FOUND))
    organisation = _require_manager(session, actor=actor, organisation_id=membership.organisation_id)
    membership = _current_membership_by_id(session, organisation=organisation, membership_id=membership_id)
    member = session.get(User, membership.user_id)
    assert member is not None
    was_invited = membership.status == INVITED
    with committing(session):
        _lock_organisation(session, organisation.id)  # type: ignore[arg-type]
        ended = memberships.change_status(
            session,
            membership=membership,
            from_status=membership.status,
            to_status=ENDED,
            now=utcnow(),
            by=actor,
            end_reason=MembershipEndReason.REMOVED.value,
        )
        if not ended:
            raise NotFound(i18n.gettext(MEMBER_NOT_FOUND))
        # Only an Active Administrator counts: withdrawing an invitation leaves the others as they are.
        if (
            membership.role == ADMINISTRATOR
            and not was_invited
            and _count_active_administrators(session, organisation.id) == 0  # type: ignore[arg-type]
        ):
            raise Conflict(i18n.gettext(LAST_ADMINISTRATOR))
        _record_both_sides(
            session,
            organisation=organisation,
            member=member,
            actor=actor,
            action="membership.removed",
            summary=(
                i18n.gettext(
                    "{actor} withdrew the invitation of {member} from {organisation}.",
                    actor=display_name(actor),
                    member=display_name(member),
                    organisation=organisation.name,
                )
                if was_invited
                else i18n.gettext(
                    "{actor} removed {member} from {organisation}.",
                    actor=display_name(actor),
                    member=display_name(member),
                    organisation=organisation.name,
                )
            ),
        )
        if member.environment_id != organisation.environment_id and not was_invited:
            notifications.notify(
                session,
                environment_id=member.environment_id,
                user_id=member.id,
                kind="membership.removed",
                message=sentence(
                    i18n.gettext(
                        "You no longer have access to {organisation}", organisation=organisation.name
                    )
                ),
                link=routes.ORGANISATIONS,
            )
    return membership
