"""A user's additional email addresses, confirmed by an emailed link."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import (
    activities,
    count,
    link_token,
    make_environment,
    make_user,
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
    UserStatus,
    utcnow,
)
from econnect_app.services import user_emails
from econnect_app.services.errors import InvalidToken, NotFound, PermissionDenied, ValidationFailed
from econnect_app.settings import get_settings


def confirmation_token(session: Session, user_email: UserEmail) -> OneTimeToken:
    return session.exec(
        select(OneTimeToken).where(OneTimeToken.user_email_id == user_email.id)
    ).one()


def add(session: Session, user: User, email: str = "second@example.com") -> tuple[UserEmail, str]:
    """Add an address and return it with the raw token of the emailed link."""
    user_email = user_emails.add_email(session, user=user, email=email)
    return user_email, link_token(outbox(session, template="email_confirmation")[-1])


@pytest.mark.parametrize(
    "role", [Role.USER.value, Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value]
)
def test_every_user_adds_an_unconfirmed_address_and_gets_a_link(
    session: Session, role: str
) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=role, name="Ada", email="ada@example.com")

    user_email = user_emails.add_email(session, user=user, email=" Ada.Work@Example.COM ")

    stored = session.get(UserEmail, user_email.id)
    assert stored.user_id == user.id
    assert stored.email == "ada.work@example.com"
    assert stored.confirmed_at is None

    token = confirmation_token(session, stored)
    assert token.purpose == TokenPurpose.EMAIL_CONFIRMATION.value
    assert token.user_id == user.id
    assert token.used_at is None
    days = get_settings().email_confirmation_days
    assert (
        utcnow() + timedelta(days=days, minutes=-1)
        < token.expires_at
        <= utcnow() + timedelta(days=days)
    )

    [message] = outbox(session)
    assert message.template == "email_confirmation"
    assert message.to_address == "ada.work@example.com"
    assert message.environment_id == environment.id
    assert "Hello Ada," in message.text_body
    assert "ada.work@example.com" in message.text_body
    assert f"valid for {days} days" in message.text_body
    assert "http://localhost:3000/confirm-email/" in message.text_body
    assert security.hash_token(link_token(message)) == token.token_hash
    assert len(activities(session, action="user.email_added")) == 1


def test_list_emails_shows_only_the_users_own(session: Session) -> None:
    environment = make_environment(session)
    user = make_user(session, environment)
    colleague = make_user(session, environment)
    add(session, user, "one@example.com")
    add(session, colleague, "theirs@example.com")
    add(session, user, "two@example.com")

    assert [e.email for e in user_emails.list_emails(session, user=user)] == [
        "one@example.com",
        "two@example.com",
    ]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Enter an email address."),
        ("nope", "Enter a valid email address, like name@example.com."),
        ("a@b@c.com", "Enter a valid email address, like name@example.com."),
    ],
)
def test_bad_address_writes_nothing(session: Session, email: str, message: str) -> None:
    user = make_user(session, make_environment(session))
    with pytest.raises(ValidationFailed) as raised:
        user_emails.add_email(session, user=user, email=email)
    assert raised.value.errors == {"email": message}
    assert count(session, UserEmail) == 0
    assert count(session, OneTimeToken) == 0
    assert count(session, OutboxMessage) == 0


def test_address_in_use_anywhere_is_refused(session: Session) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, email="me@example.com")
    someone = make_user(session, make_environment(session, name="Other"), email="them@example.com")
    add(session, someone, "their.second@example.com")
    add(session, user, "my.second@example.com")
    before = count(session, OutboxMessage)

    for taken in (
        "me@example.com",
        "THEM@example.com",
        "their.second@example.com",
        "my.second@example.com",
    ):
        with pytest.raises(ValidationFailed) as raised:
            user_emails.add_email(session, user=user, email=taken)
        assert raised.value.errors == {"email": "This email address is already in use."}

    assert count(session, UserEmail) == 2
    assert count(session, OutboxMessage) == before


def test_blocked_user_cannot_add_addresses(session: Session) -> None:
    user = make_user(session, make_environment(session), status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        user_emails.add_email(session, user=user, email="second@example.com")
    assert count(session, UserEmail) == 0


def test_confirming_sets_confirmed_at_once(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)

    confirmed = user_emails.confirm_email(session, token=raw)

    assert confirmed.id == user_email.id
    stored = session.get(UserEmail, user_email.id)
    assert stored.confirmed_at is not None
    assert confirmation_token(session, stored).used_at is not None
    assert len(activities(session, action="user.email_confirmed")) == 1

    with pytest.raises(InvalidToken) as raised:
        user_emails.confirm_email(session, token=raw)
    assert "invalid or has expired" in raised.value.message


def test_expired_confirmation_link_is_invalid(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)
    token = confirmation_token(session, user_email)
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, token=raw)
    assert session.get(UserEmail, user_email.id).confirmed_at is None


@pytest.mark.parametrize("token", ["", "unknown-token"])
def test_unknown_confirmation_link_is_invalid(session: Session, token: str) -> None:
    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, token=token)


def test_an_invitation_token_does_not_confirm_an_email(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, _ = add(session, user)
    raw, token_hash = security.new_token()
    session.add(
        OneTimeToken(
            purpose=TokenPurpose.INVITATION.value,
            token_hash=token_hash,
            user_id=user.id,
            user_email_id=user_email.id,
            expires_at=utcnow() + timedelta(days=1),
        )
    )
    session.commit()
    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, token=raw)


def test_removing_deletes_the_address_and_its_link(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)
    kept, _ = add(session, user, "kept@example.com")

    user_emails.remove_email(session, user=user, email_id=user_email.id)

    assert [e.email for e in user_emails.list_emails(session, user=user)] == ["kept@example.com"]
    assert count(session, OneTimeToken) == 1
    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, token=raw)
    # The address is free again.
    user_emails.add_email(session, user=user, email="second@example.com")


def test_nobody_removes_someone_elses_address(session: Session) -> None:
    environment = make_environment(session)
    owner = make_user(session, environment)
    admin = make_user(session, environment, role=Role.ADMINISTRATOR.value)
    user_email, _ = add(session, owner)

    with pytest.raises(NotFound):
        user_emails.remove_email(session, user=admin, email_id=user_email.id)
    with pytest.raises(NotFound):
        user_emails.remove_email(session, user=owner, email_id=999_999)

    assert count(session, UserEmail) == 1
    assert count(session, OneTimeToken) == 1


def test_blocked_user_cannot_list_or_remove(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, _ = add(session, user)
    user.status = UserStatus.BLOCKED.value
    session.commit()
    with pytest.raises(PermissionDenied):
        user_emails.list_emails(session, user=user)
    with pytest.raises(PermissionDenied):
        user_emails.remove_email(session, user=user, email_id=user_email.id)
    assert count(session, UserEmail) == 1
