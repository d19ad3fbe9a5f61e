"""Users of an environment: invitations, roles, blocking, the last Administrator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import (
    activities,
    count,
    link_token,
    make_admin,
    make_environment,
    make_user,
    make_user_session,
    outbox,
)
from sqlmodel import Session, select

from econnect_app import security
from econnect_app.models import (
    OneTimeToken,
    OutboxMessage,
    Role,
    TokenPurpose,
    User,
    UserEmail,
    UserSession,
    UserStatus,
    utcnow,
)
from econnect_app.services import throttle, users
from econnect_app.services.errors import (
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from econnect_app.settings import get_settings

GOOD_PASSWORD = "a long and unusual passphrase"
LAST_ADMIN = "An environment needs at least one active Administrator."
INVALID_INVITATION = (
    "This invitation link is invalid or has expired. Ask your administrator to send a new one."
)


def invitation_tokens(session: Session, user: User) -> list[OneTimeToken]:
    statement = select(OneTimeToken).where(
        OneTimeToken.user_id == user.id, OneTimeToken.purpose == TokenPurpose.INVITATION.value
    )
    return list(session.exec(statement.order_by(OneTimeToken.id)))


def invite(
    session: Session, admin: User, email: str = "new.colleague@example.com", **kwargs
) -> tuple[User, str]:  # type: ignore[no-untyped-def]
    """Invite someone and return the user and the raw token from the emailed link."""
    sent = users.invite_user(
        session, actor=admin, email=email, role=kwargs.pop("role", Role.USER.value), **kwargs
    )
    assert sent.user is not None
    return sent.user, link_token(outbox(session, template="invitation")[-1])


# --- list_users -------------------------------------------------------------------------------


def test_administrator_lists_users_by_status_then_name(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment, name="Bram")
    make_user(session, environment, name="anna")
    make_user(session, environment, name="Zoe", status=UserStatus.BLOCKED.value)
    make_user(
        session,
        environment,
        name="",
        email="invited@example.com",
        status=UserStatus.INVITED.value,
        password_hash=None,
    )
    make_user(session, make_environment(session, name="Other"), name="Outsider")

    listed = [(u.status, u.name or u.email) for u in users.list_users(session, actor=admin)]

    assert listed == [
        ("Active", "anna"),
        ("Active", "Bram"),
        ("Invited", "invited@example.com"),
        ("Blocked", "Zoe"),
    ]


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_list_users(session: Session, role: str) -> None:
    actor = make_user(session, make_environment(session), role=role)
    with pytest.raises(PermissionDenied):
        users.list_users(session, actor=actor)


def test_blocked_administrator_may_not_list_users(session: Session) -> None:
    admin = make_admin(session, make_environment(session), status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        users.list_users(session, actor=admin)


# --- invite_user ------------------------------------------------------------------------------


def test_invitation_creates_an_invited_user_a_token_and_an_email(session: Session) -> None:
    environment = make_environment(session, name="Acme Accountants")
    admin = make_admin(session, environment, name="Ada Admin")

    sent = users.invite_user(
        session,
        actor=admin,
        email=" New.Colleague@Example.com ",
        role="Advanced user",
        is_relationship_manager=True,
    )

    assert sent.email == "new.colleague@example.com"
    stored = session.get(User, sent.user.id)
    assert stored.email == "new.colleague@example.com"
    assert stored.environment_id == environment.id
    assert stored.status == UserStatus.INVITED.value
    assert stored.role == Role.ADVANCED_USER.value
    assert stored.is_relationship_manager is True
    assert stored.password_hash is None
    assert stored.invited_by_id == admin.id

    [token] = invitation_tokens(session, stored)
    assert token.used_at is None
    days = get_settings().invitation_days
    assert (
        utcnow() + timedelta(days=days, minutes=-1)
        < token.expires_at
        <= utcnow() + timedelta(days=days)
    )

    [message] = outbox(session)
    assert message.template == "invitation"
    assert message.to_address == "new.colleague@example.com"
    assert message.environment_id == environment.id
    assert "Ada Admin" in message.subject and "Acme Accountants" in message.subject
    assert "as Advanced user" in message.text_body
    assert f"valid for {days} days" in message.text_body
    assert "http://localhost:3000/invitation/" in message.text_body
    raw = link_token(message)
    assert security.hash_token(raw) == token.token_hash
    assert raw not in token.token_hash

    [entry] = activities(session, action="user.invited")
    assert entry.actor_user_id == admin.id and entry.subject_id == stored.id


@pytest.mark.parametrize(
    ("email", "role", "errors"),
    [
        ("", "User", {"email": "Enter an email address."}),
        ("not-an-email", "User", {"email": "Enter a valid email address, like name@example.com."}),
        ("ok@example.com", "Owner", {"role": "Choose User, Advanced user or Administrator."}),
        (
            "",
            "",
            {
                "email": "Enter an email address.",
                "role": "Choose User, Advanced user or Administrator.",
            },
        ),
    ],
)
def test_bad_invitation_input_writes_nothing(
    session: Session, email: str, role: str, errors: dict[str, str]
) -> None:
    admin = make_admin(session, make_environment(session))
    with pytest.raises(ValidationFailed) as raised:
        users.invite_user(session, actor=admin, email=email, role=role)
    assert raised.value.errors == errors
    assert count(session, User) == 1
    assert count(session, OneTimeToken) == 0
    assert count(session, OutboxMessage) == 0
    assert activities(session) == []


def test_an_address_of_another_environment_answers_the_same_and_tells_its_owner(session: Session) -> None:
    make_user(session, make_environment(session, name="Other"), email="taken@example.com")
    admin = make_admin(session, make_environment(session, name="Acme Accountants"), name="Ada Admin")

    sent = users.invite_user(session, actor=admin, email="TAKEN@example.com", role="User")

    assert sent == users.InvitationSent(email="taken@example.com", user=None)
    assert count(session, User) == 2
    assert count(session, OneTimeToken) == 0
    [message] = outbox(session)
    assert (message.template, message.to_address) == ("address_has_account", "taken@example.com")
    assert "Someone asked to invite taken@example.com to join Acme Accountants on eConnect" in message.text_body
    assert "/invitation/" not in message.text_body


def test_a_confirmed_additional_address_of_another_environment_answers_the_same(session: Session) -> None:
    someone = make_user(session, make_environment(session, name="Other"))
    session.add(UserEmail(user_id=someone.id, email="second@example.com", confirmed_at=utcnow()))
    session.commit()
    admin = make_admin(session, make_environment(session))

    assert users.invite_user(session, actor=admin, email="second@example.com", role="User").user is None
    assert [m.template for m in outbox(session)] == ["address_has_account"]


def test_an_address_of_the_own_environment_is_named(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    make_user(session, environment, email="colleague@example.com")

    with pytest.raises(ValidationFailed) as raised:
        users.invite_user(session, actor=admin, email="colleague@example.com", role="User")

    assert raised.value.errors == {"email": users.EMAIL_TAKEN_MESSAGE}
    assert count(session, OutboxMessage) == 0


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_invite(session: Session, role: str) -> None:
    actor = make_user(session, make_environment(session), role=role)
    with pytest.raises(PermissionDenied):
        users.invite_user(session, actor=actor, email="x@example.com", role="Administrator")
    assert count(session, User) == 1
    assert count(session, OutboxMessage) == 0


def test_blocked_administrator_may_not_invite(session: Session) -> None:
    admin = make_admin(session, make_environment(session), status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        users.invite_user(session, actor=admin, email="x@example.com", role="User")
    assert count(session, User) == 1


# --- invitation links -------------------------------------------------------------------------


def test_get_invitation_shows_who_is_invited_where(session: Session) -> None:
    environment = make_environment(session, name="Acme Accountants")
    admin = make_admin(session, environment)
    invited, raw = invite(session, admin)
    user, found_environment = users.get_invitation(session, token=raw)
    assert user.id == invited.id
    assert found_environment.id == environment.id


@pytest.mark.parametrize("token", ["", "nonsense", "x" * 43])
def test_unknown_invitation_token_is_invalid(session: Session, token: str) -> None:
    with pytest.raises(InvalidToken) as raised:
        users.get_invitation(session, token=token)
    assert raised.value.message == INVALID_INVITATION


def test_expired_invitation_is_invalid(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    invited, raw = invite(session, admin)
    [token] = invitation_tokens(session, invited)
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    with pytest.raises(InvalidToken):
        users.get_invitation(session, token=raw)
    with pytest.raises(InvalidToken):
        users.accept_invitation(session, token=raw, name="Cees", password=GOOD_PASSWORD)
    assert session.get(User, invited.id).status == UserStatus.INVITED.value


def test_accepting_sets_name_and_password_and_uses_the_link(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    invited, raw = invite(session, admin)

    user = users.accept_invitation(
        session, token=raw, name="  Cees  Colleague ", password=GOOD_PASSWORD
    )

    stored = session.get(User, invited.id)
    assert user.id == stored.id
    assert stored.status == UserStatus.ACTIVE.value
    assert stored.name == "Cees Colleague"
    assert security.verify_password(GOOD_PASSWORD, stored.password_hash)
    assert stored.password_changed_at is not None
    [token] = invitation_tokens(session, stored)
    assert token.used_at is not None
    [entry] = activities(session, action="user.joined")
    assert entry.actor_user_id == stored.id

    with pytest.raises(InvalidToken):
        users.accept_invitation(
            session, token=raw, name="Someone else", password="another long passphrase"
        )
    with pytest.raises(InvalidToken):
        users.get_invitation(session, token=raw)
    assert session.get(User, invited.id).name == "Cees Colleague"


@pytest.mark.parametrize(
    ("name", "password", "errors"),
    [
        ("", GOOD_PASSWORD, {"name": "Enter your name."}),
        ("Cees", "short", {"password": "Use at least 12 characters."}),
        ("Cees", "p" * 129, {"password": "Use at most 128 characters."}),
        (
            "Cees",
            "1qaz2wsx3edc",
            {"password": "This password is too common. Choose one that is harder to guess."},
        ),
        ("", "", {"name": "Enter your name.", "password": "Use at least 12 characters."}),
    ],
)
def test_bad_name_or_password_keeps_the_link_usable(
    session: Session, name: str, password: str, errors: dict[str, str]
) -> None:
    admin = make_admin(session, make_environment(session))
    invited, raw = invite(session, admin)

    with pytest.raises(ValidationFailed) as raised:
        users.accept_invitation(session, token=raw, name=name, password=password)

    assert raised.value.errors == errors
    stored = session.get(User, invited.id)
    assert stored.status == UserStatus.INVITED.value
    assert stored.password_hash is None
    assert users.get_invitation(session, token=raw)[0].id == invited.id
    users.accept_invitation(session, token=raw, name="Cees", password=GOOD_PASSWORD)
    assert session.get(User, invited.id).status == UserStatus.ACTIVE.value


def test_a_blocked_invitee_cannot_use_the_link(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    invited, raw = invite(session, admin)
    users.block_user(session, actor=admin, user_id=invited.id)
    with pytest.raises(InvalidToken):
        users.accept_invitation(session, token=raw, name="Cees", password=GOOD_PASSWORD)


def test_resend_voids_the_old_link_and_sends_a_new_one(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    invited, old_raw = invite(session, admin)

    users.resend_invitation(session, actor=admin, user_id=invited.id)

    first, second = outbox(session, template="invitation")
    new_raw = link_token(second)
    assert second.to_address == invited.email
    assert new_raw != old_raw
    old_token, new_token = invitation_tokens(session, invited)
    assert old_token.used_at is not None
    assert new_token.used_at is None
    assert new_token.token_hash == security.hash_token(new_raw)
    with pytest.raises(InvalidToken):
        users.get_invitation(session, token=old_raw)
    assert users.get_invitation(session, token=new_raw)[0].id == invited.id
    assert len(activities(session, action="user.invitation_resent")) == 1


def test_resend_only_for_invited_users(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    active = make_user(session, environment)
    with pytest.raises(Conflict):
        users.resend_invitation(session, actor=admin, user_id=active.id)
    assert count(session, OutboxMessage) == 0


def test_resend_across_environments_is_not_found(session: Session) -> None:
    other_admin = make_admin(session, make_environment(session, name="Other"))
    invited, _ = invite(session, other_admin)
    admin = make_admin(session, make_environment(session))
    with pytest.raises(NotFound):
        users.resend_invitation(session, actor=admin, user_id=invited.id)
    assert len(outbox(session)) == 1


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_resend(session: Session, role: str) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    invited, _ = invite(session, admin)
    actor = make_user(session, environment, role=role)
    with pytest.raises(PermissionDenied):
        users.resend_invitation(session, actor=actor, user_id=invited.id)


# --- change_role ------------------------------------------------------------------------------


def test_role_change_is_stored_and_effective_at_once(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    other_admin = make_admin(session, environment)
    stale_copy = other_admin.model_copy()

    users.change_role(session, actor=admin, user_id=other_admin.id, role="User")

    assert session.get(User, other_admin.id).role == Role.USER.value
    with pytest.raises(PermissionDenied):
        users.list_users(session, actor=stale_copy)
    [entry] = activities(session, action="user.role_changed")
    assert "from Administrator to User" in entry.summary


def test_promotion_to_administrator(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    user = make_user(session, environment)
    users.change_role(session, actor=admin, user_id=user.id, role="Administrator")
    assert len(users.list_users(session, actor=user)) == 2


def test_last_active_administrator_cannot_be_demoted(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    make_admin(session, environment, status=UserStatus.INVITED.value, password_hash=None)
    make_admin(session, environment, status=UserStatus.BLOCKED.value)

    for role in ("User", "Advanced user"):
        with pytest.raises(Conflict) as raised:
            users.change_role(session, actor=admin, user_id=admin.id, role=role)
        assert raised.value.message == LAST_ADMIN
    assert session.get(User, admin.id).role == Role.ADMINISTRATOR.value
    assert activities(session) == []


def test_an_administrator_may_step_down_while_another_remains(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    other_admin = make_admin(session, environment)
    users.change_role(session, actor=admin, user_id=admin.id, role="Advanced user")
    assert session.get(User, admin.id).role == Role.ADVANCED_USER.value
    with pytest.raises(Conflict):
        users.change_role(session, actor=other_admin, user_id=other_admin.id, role="User")


def test_bad_role_is_refused(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    user = make_user(session, environment)
    with pytest.raises(ValidationFailed) as raised:
        users.change_role(session, actor=admin, user_id=user.id, role="Superuser")
    assert raised.value.errors == {"role": "Choose User, Advanced user or Administrator."}
    assert session.get(User, user.id).role == Role.USER.value


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_change_roles(session: Session, role: str) -> None:
    environment = make_environment(session)
    actor = make_user(session, environment, role=role)
    with pytest.raises(PermissionDenied):
        users.change_role(session, actor=actor, user_id=actor.id, role="Administrator")
    assert session.get(User, actor.id).role == role


def test_blocked_administrator_may_not_change_roles(session: Session) -> None:
    environment = make_environment(session)
    blocked = make_admin(session, environment, status=UserStatus.BLOCKED.value)
    user = make_user(session, environment)
    with pytest.raises(PermissionDenied):
        users.change_role(session, actor=blocked, user_id=user.id, role="Administrator")


def test_users_of_another_environment_are_not_found(session: Session) -> None:
    outsider = make_user(session, make_environment(session, name="Other"))
    admin = make_admin(session, make_environment(session))
    with pytest.raises(NotFound):
        users.change_role(session, actor=admin, user_id=outsider.id, role="Administrator")
    with pytest.raises(NotFound):
        users.set_relationship_manager(session, actor=admin, user_id=outsider.id, enabled=True)
    with pytest.raises(NotFound):
        users.block_user(session, actor=admin, user_id=outsider.id)
    with pytest.raises(NotFound):
        users.unblock_user(session, actor=admin, user_id=outsider.id)
    with pytest.raises(NotFound):
        users.change_role(session, actor=admin, user_id=999_999, role="User")
    stored = session.get(User, outsider.id)
    assert (stored.role, stored.status, stored.is_relationship_manager) == ("User", "Active", False)


# --- relationship manager ---------------------------------------------------------------------


def test_relationship_manager_role_is_set_and_cleared(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    user = make_user(session, environment)

    users.set_relationship_manager(session, actor=admin, user_id=user.id, enabled=True)
    assert session.get(User, user.id).is_relationship_manager is True
    assert session.get(User, user.id).role == Role.USER.value

    users.set_relationship_manager(session, actor=admin, user_id=user.id, enabled=False)
    assert session.get(User, user.id).is_relationship_manager is False
    assert len(activities(session, action="user.relationship_manager_changed")) == 2


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_assign_relationship_managers(session: Session, role: str) -> None:
    actor = make_user(session, make_environment(session), role=role)
    with pytest.raises(PermissionDenied):
        users.set_relationship_manager(session, actor=actor, user_id=actor.id, enabled=True)
    assert session.get(User, actor.id).is_relationship_manager is False


# --- block and unblock ------------------------------------------------------------------------


def test_blocking_revokes_the_users_sessions(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    user = make_user(session, environment)
    live_one = make_user_session(session, user)
    live_two = make_user_session(session, user)
    already_revoked = make_user_session(session, user)
    earlier = utcnow() - timedelta(days=1)
    already_revoked.revoked_at = earlier
    session.commit()
    admins_session = make_user_session(session, admin)

    result = users.block_user(session, actor=admin, user_id=user.id)

    assert result.status == UserStatus.BLOCKED.value
    assert session.get(User, user.id).status == UserStatus.BLOCKED.value
    session.expire_all()
    assert session.get(UserSession, live_one.id).revoked_at is not None
    assert session.get(UserSession, live_two.id).revoked_at is not None
    assert session.get(UserSession, already_revoked.id).revoked_at == earlier
    assert session.get(UserSession, admins_session.id).revoked_at is None
    [entry] = activities(session, action="user.blocked")
    assert entry.subject_id == user.id


def test_administrators_cannot_block_themselves(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    make_admin(session, environment)
    with pytest.raises(Conflict) as raised:
        users.block_user(session, actor=admin, user_id=admin.id)
    assert (
        raised.value.message
        == "You cannot block your own account. Ask another Administrator to do it."
    )
    assert session.get(User, admin.id).status == UserStatus.ACTIVE.value


def test_the_last_active_administrator_cannot_be_blocked(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    make_admin(session, environment, status=UserStatus.BLOCKED.value)
    session_row = make_user_session(session, admin)
    with pytest.raises(Conflict) as raised:
        users.block_user(session, actor=admin, user_id=admin.id)
    assert raised.value.message == LAST_ADMIN
    assert session.get(User, admin.id).status == UserStatus.ACTIVE.value
    session.expire_all()
    assert session.get(UserSession, session_row.id).revoked_at is None


def test_an_administrator_blocks_another_administrator(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    other_admin = make_admin(session, environment)
    users.block_user(session, actor=admin, user_id=other_admin.id)
    assert session.get(User, other_admin.id).status == UserStatus.BLOCKED.value
    # Now ``admin`` is the last active Administrator.
    with pytest.raises(Conflict):
        users.change_role(session, actor=admin, user_id=admin.id, role="User")


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_block_and_unblock(session: Session, role: str) -> None:
    environment = make_environment(session)
    actor = make_user(session, environment, role=role)
    victim = make_user(session, environment)
    blocked = make_user(session, environment, status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        users.block_user(session, actor=actor, user_id=victim.id)
    with pytest.raises(PermissionDenied):
        users.unblock_user(session, actor=actor, user_id=blocked.id)
    assert session.get(User, victim.id).status == UserStatus.ACTIVE.value
    assert session.get(User, blocked.id).status == UserStatus.BLOCKED.value


def test_a_blocked_administrator_cannot_unblock_anyone(session: Session) -> None:
    environment = make_environment(session)
    make_admin(session, environment)
    blocked_admin = make_admin(session, environment, status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        users.unblock_user(session, actor=blocked_admin, user_id=blocked_admin.id)


def test_unblocking_restores_active_or_invited(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    had_password = make_user(session, environment)
    never_joined, raw = invite(session, admin)
    users.block_user(session, actor=admin, user_id=had_password.id)
    users.block_user(session, actor=admin, user_id=never_joined.id)

    users.unblock_user(session, actor=admin, user_id=had_password.id)
    users.unblock_user(session, actor=admin, user_id=never_joined.id)

    assert session.get(User, had_password.id).status == UserStatus.ACTIVE.value
    assert session.get(User, never_joined.id).status == UserStatus.INVITED.value
    assert len(activities(session, action="user.unblocked")) == 2
    assert users.get_invitation(session, token=raw)[0].id == never_joined.id


def test_unblocking_someone_who_is_not_blocked_changes_nothing(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    user = make_user(session, environment)
    users.unblock_user(session, actor=admin, user_id=user.id)
    assert session.get(User, user.id).status == UserStatus.ACTIVE.value
    assert activities(session) == []


# --- issue 8: confirmation through the invitation, throttling ------------------------------------


def test_accepting_an_invitation_confirms_the_address(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    invited, raw = invite(session, admin)
    assert invited.email_confirmed_at is None

    user = users.accept_invitation(session, token=raw, name="Cees", password=GOOD_PASSWORD)

    assert user.email_confirmed_at is not None
    [entry] = activities(session, action="user.email_confirmed")
    assert "through the invitation link" in entry.summary


def test_invitations_are_throttled_per_environment(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    sent = 0
    with pytest.raises(throttle.Limited) as raised:
        for number in range(400):
            users.invite_user(session, actor=admin, email=f"person{number}@example.com", role=Role.USER.value)
            sent += 1
    assert 0 < sent < 400
    assert "Try again in" in raised.value.message
    assert count(session, User) == 1 + sent
