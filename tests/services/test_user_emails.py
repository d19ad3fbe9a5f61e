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
from econnect_app.services import throttle, user_emails
from econnect_app.services.errors import InvalidToken, NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.transaction import committing
from econnect_app.settings import get_settings


def confirmation_token(session: Session, user_email: UserEmail) -> OneTimeToken:
    return session.exec(
        select(OneTimeToken).where(OneTimeToken.user_email_id == user_email.id)
    ).one()


def stored(session: Session, address: str) -> UserEmail:
    return session.exec(select(UserEmail).where(UserEmail.email == address)).one()


def add(session: Session, user: User, email: str = "second@example.com") -> tuple[UserEmail, str]:
    """Add an address and return it with the raw token of the emailed link."""
    address = user_emails.add_email(session, user=user, email=email)
    return stored(session, address), link_token(outbox(session, template="email_confirmation")[-1])


@pytest.mark.parametrize(
    "role", [Role.USER.value, Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value]
)
def test_every_user_adds_an_unconfirmed_address_and_gets_a_link(
    session: Session, role: str
) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=role, name="Ada", email="ada@example.com")

    address = user_emails.add_email(session, user=user, email=" Ada.Work@Example.COM ")

    assert address == "ada.work@example.com"
    row = stored(session, address)
    assert row.user_id == user.id
    assert row.confirmed_at is None

    token = confirmation_token(session, row)
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


def test_an_address_already_on_the_account_is_refused(session: Session) -> None:
    user = make_user(session, make_environment(session), email="me@example.com")
    add(session, user, "my.second@example.com")
    before = count(session, OutboxMessage)

    for own in ("me@example.com", "MY.second@example.com"):
        with pytest.raises(ValidationFailed) as raised:
            user_emails.add_email(session, user=user, email=own)
        assert raised.value.errors == {"email": "This address is already on your account."}

    assert count(session, UserEmail) == 1
    assert count(session, OutboxMessage) == before


def test_an_address_of_someone_else_answers_the_same_and_tells_that_address(session: Session) -> None:
    user = make_user(session, make_environment(session), email="me@example.com")
    someone = make_user(session, make_environment(session, name="Other"), email="them@example.com")
    add(session, someone, "their.second@example.com")
    before = count(session, OutboxMessage)

    for taken in ("THEM@example.com", "their.second@example.com"):
        assert user_emails.add_email(session, user=user, email=taken) == taken.lower()

    assert user_emails.list_emails(session, user=user) == []
    messages = outbox(session)[before:]
    assert [(m.template, m.to_address) for m in messages] == [
        ("address_has_account", "them@example.com"),
        ("address_has_account", "their.second@example.com"),
    ]
    assert "Someone asked to add them@example.com to another eConnect account." in messages[0].text_body
    assert "/confirm-email/" not in messages[0].text_body


def test_blocked_user_cannot_add_addresses(session: Session) -> None:
    user = make_user(session, make_environment(session), status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        user_emails.add_email(session, user=user, email="second@example.com")
    assert count(session, UserEmail) == 0


def test_confirming_sets_confirmed_at_once(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)

    assert user_emails.confirm_email(session, user=user, token=raw) == "second@example.com"

    row = session.get(UserEmail, user_email.id)
    assert row.confirmed_at is not None
    assert confirmation_token(session, row).used_at is not None
    assert len(activities(session, action="user.email_confirmed")) == 1

    with pytest.raises(InvalidToken) as raised:
        user_emails.confirm_email(session, user=user, token=raw)
    assert "invalid, already used or expired" in raised.value.message


def test_expired_confirmation_link_is_invalid(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)
    token = confirmation_token(session, user_email)
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, user=user, token=raw)
    assert session.get(UserEmail, user_email.id).confirmed_at is None


@pytest.mark.parametrize("token", ["", "unknown-token"])
def test_unknown_confirmation_link_is_invalid(session: Session, token: str) -> None:
    user = make_user(session, make_environment(session))
    with pytest.raises(InvalidToken):
        user_emails.look_up_confirmation(session, token=token)
    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, user=user, token=token)


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
        user_emails.confirm_email(session, user=user, token=raw)


def test_removing_deletes_the_address_and_its_link(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)
    kept, _ = add(session, user, "kept@example.com")

    user_emails.remove_email(session, user=user, email_id=user_email.id)

    assert [e.email for e in user_emails.list_emails(session, user=user)] == ["kept@example.com"]
    assert count(session, OneTimeToken) == 1
    with pytest.raises(InvalidToken):
        user_emails.confirm_email(session, user=user, token=raw)
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


# --- confirming needs the owner's click: opening the link uses nothing up -----------------------


def test_looking_a_link_up_uses_nothing_up(session: Session) -> None:
    user = make_user(session, make_environment(session))
    user_email, raw = add(session, user)

    for _ in range(3):  # a mail scanner opening the page, again and again
        pending = user_emails.look_up_confirmation(session, token=raw)

    assert pending == user_emails.PendingConfirmation(
        address="second@example.com", user_id=user.id, is_primary=False
    )
    session.expire_all()
    assert session.get(UserEmail, user_email.id).confirmed_at is None
    assert confirmation_token(session, user_email).used_at is None


def test_only_the_owner_confirms_through_the_link(session: Session) -> None:
    environment = make_environment(session)
    owner = make_user(session, environment)
    someone = make_user(session, environment)
    user_email, raw = add(session, owner)

    with pytest.raises(PermissionDenied) as raised:
        user_emails.confirm_email(session, user=someone, token=raw)

    assert raised.value.message == user_emails.OTHER_ACCOUNT_MESSAGE
    session.expire_all()
    assert session.get(UserEmail, user_email.id).confirmed_at is None
    assert user_emails.confirm_email(session, user=owner, token=raw) == "second@example.com"


def test_the_primary_address_is_confirmed_by_its_owner_through_the_sign_up_link(session: Session) -> None:
    user = make_user(session, make_environment(session), email="ada@example.com", email_confirmed=False)
    with committing(session):
        user_emails.send_primary_confirmation(session, user=user)
    [message] = outbox(session, template="account_confirmation")
    raw = link_token(message)

    assert user_emails.look_up_confirmation(session, token=raw).is_primary
    assert user_emails.confirmed_addresses(session, user=user) == []
    assert user_emails.confirm_email(session, user=user, token=raw) == "ada@example.com"

    session.refresh(user)
    assert user.email_confirmed_at is not None
    assert user_emails.confirmed_addresses(session, user=user) == ["ada@example.com"]
    with pytest.raises(InvalidToken):
        user_emails.look_up_confirmation(session, token=raw)


def test_sending_the_confirmation_again_voids_the_earlier_link_and_is_throttled(session: Session) -> None:
    user = make_user(session, make_environment(session), email="ada@example.com", email_confirmed=False)
    sent = 0
    with pytest.raises(throttle.Limited) as raised:
        for _ in range(100):
            user_emails.resend_primary_confirmation(session, user=user)
            sent += 1
    assert 0 < sent < 100
    assert "Try again in" in raised.value.message

    links = [link_token(m) for m in outbox(session, template="account_confirmation")]
    assert len(links) == sent
    for earlier in links[:-1]:
        with pytest.raises(InvalidToken):
            user_emails.look_up_confirmation(session, token=earlier)
    assert user_emails.confirm_email(session, user=user, token=links[-1]) == "ada@example.com"
    # Confirmed: nothing more is sent.
    user_emails.resend_primary_confirmation(session, user=user)
    assert len(outbox(session, template="account_confirmation")) == sent
