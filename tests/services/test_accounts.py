"""Signing up, password reset and password change, against a real SQLite database."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from econnect_app import routes, security
from econnect_app.models import (
    ActivityLog,
    Environment,
    OneTimeToken,
    OutboxMessage,
    Plan,
    Role,
    TokenPurpose,
    User,
    UserEmail,
    UserStatus,
)
from econnect_app.services import accounts, sessions
from econnect_app.services.errors import InvalidCredentials, InvalidToken, ValidationFailed

SignUp = Callable[..., User]
NEW_PASSWORD = "a brand new passphrase"
VALID_SIGN_UP = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "password": "correct horse battery staple",
    "company_name": "Lovelace Accounting",
}


def count(session: Session, table: type) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


def assert_nothing_written(session: Session) -> None:
    assert count(session, Environment) == 0
    assert count(session, User) == 0
    assert count(session, ActivityLog) == 0


def outbox(session: Session) -> list[OutboxMessage]:
    return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))


def reset_tokens(session: Session) -> list[OneTimeToken]:
    return list(
        session.exec(
            select(OneTimeToken)
            .where(OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET.value)
            .order_by(OneTimeToken.id)
        )
    )


def emailed_reset_token(message: OutboxMessage) -> str:
    """The raw token in the reset link of an email (plain text body)."""
    prefix = re.escape(routes.absolute(routes.reset_password("")))
    match = re.search(prefix + r"([A-Za-z0-9_-]+)", message.text_body)
    assert match, message.text_body
    return match.group(1)


def request_reset_token(session: Session, email: str = "ada@example.com") -> str:
    accounts.request_password_reset(session, email=email)
    return emailed_reset_token(outbox(session)[-1])


# --- Sign-up ------------------------------------------------------------------------------


def test_sign_up_creates_environment_with_its_first_administrator(session: Session) -> None:
    user = accounts.sign_up(session, **VALID_SIGN_UP)

    environment = session.get(Environment, user.environment_id)
    assert environment is not None
    assert environment.name == "Lovelace Accounting"
    assert environment.plan == Plan.INVOICE_PORTAL.value
    assert user.name == "Ada Lovelace"
    assert user.email == "ada@example.com"
    assert user.role == Role.ADMINISTRATOR.value
    assert user.status == UserStatus.ACTIVE.value
    assert user.password_hash and "correct horse" not in user.password_hash
    assert security.verify_password("correct horse battery staple", user.password_hash)
    actions = session.exec(
        select(ActivityLog.action).where(ActivityLog.environment_id == environment.id)
    ).all()
    assert sorted(actions) == ["environment.created", "user.signed_up"]


def test_sign_up_normalises_the_input(session: Session) -> None:
    user = accounts.sign_up(
        session,
        name="  Ada   Lovelace ",
        email=" Ada@Example.COM ",
        password="correct horse battery staple",
        company_name=" Lovelace  Accounting ",
    )
    assert user.name == "Ada Lovelace"
    assert user.email == "ada@example.com"
    assert session.get(Environment, user.environment_id).name == "Lovelace Accounting"  # type: ignore[union-attr]


def test_signed_up_user_can_log_in(session: Session) -> None:
    user = accounts.sign_up(session, **VALID_SIGN_UP)
    logged_in, _ = sessions.log_in(
        session, email="ada@example.com", password="correct horse battery staple"
    )
    assert logged_in.id == user.id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Enter your name."),
        ("name", "x" * 201, "Use at most 200 characters."),
        ("email", "", "Enter an email address."),
        ("email", "ada@", "Enter a valid email address, like name@example.com."),
        ("password", "short pass", "Use at least 12 characters."),
        ("password", "p" * 129, "Use at most 128 characters."),
        ("password", "1qaz2wsx3edc", "This password is too common."),
        ("company_name", "", "Enter your company name."),
    ],
)
def test_sign_up_refuses_bad_input_per_field_and_writes_nothing(
    session: Session, field: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up(session, **{**VALID_SIGN_UP, field: value})

    assert list(raised.value.errors) == [field]
    assert raised.value.errors[field].startswith(message)
    assert_nothing_written(session)


def test_sign_up_reports_every_bad_field_at_once(session: Session) -> None:
    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up(session, name="", email="nope", password="short", company_name=" ")
    assert set(raised.value.errors) == {"name", "email", "password", "company_name"}
    assert_nothing_written(session)


def test_sign_up_refuses_an_address_that_already_has_an_account(
    session: Session, sign_up_user: SignUp
) -> None:
    sign_up_user(email="ada@example.com")

    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up(session, **{**VALID_SIGN_UP, "email": "ADA@example.com"})

    assert raised.value.errors == {
        "email": "An account with this email address already exists. Log in instead."
    }
    assert count(session, Environment) == 1
    assert count(session, User) == 1


def test_sign_up_refuses_an_additional_address_of_another_user(
    session: Session, sign_up_user: SignUp
) -> None:
    grace = sign_up_user(email="grace@example.com", name="Grace Hopper", company_name="Hopper BV")
    session.add(UserEmail(user_id=grace.id, email="ada@example.com"))  # type: ignore[arg-type]
    session.commit()

    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up(session, **VALID_SIGN_UP)

    assert raised.value.errors == {"email": accounts.EMAIL_IN_USE}
    assert count(session, Environment) == 1


def test_sign_up_race_on_the_same_address_gives_the_same_friendly_error(
    session: Session, sign_up_user: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up_user(email="ada@example.com")
    # Another request signs up the address between our check and our write.
    monkeypatch.setattr(accounts, "email_in_use", lambda session, *, email: False)

    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up(session, **VALID_SIGN_UP)

    assert raised.value.errors == {"email": accounts.EMAIL_IN_USE}
    assert count(session, Environment) == 1
    assert count(session, User) == 1
    assert count(session, ActivityLog) == 2


# --- Password reset -----------------------------------------------------------------------


@pytest.mark.parametrize("email", ["nobody@example.com", "", "not an address"])
def test_reset_request_for_unknown_or_invalid_address_writes_nothing(
    session: Session, sign_up_user: SignUp, email: str
) -> None:
    sign_up_user()
    assert accounts.request_password_reset(session, email=email) is None
    assert outbox(session) == []
    assert reset_tokens(session) == []


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.INVITED])
def test_reset_request_for_user_who_is_not_active_writes_nothing(
    session: Session, sign_up_user: SignUp, status: UserStatus
) -> None:
    user = sign_up_user()
    user.status = status.value
    session.add(user)
    session.commit()

    accounts.request_password_reset(session, email="ada@example.com")

    assert outbox(session) == []
    assert reset_tokens(session) == []


def test_reset_email_carries_a_link_whose_token_hash_is_stored(
    session: Session, sign_up_user: SignUp
) -> None:
    user = sign_up_user()

    accounts.request_password_reset(session, email=" Ada@Example.com ")

    [message] = outbox(session)
    assert message.template == "password_reset"
    assert message.to_address == "ada@example.com"
    assert message.environment_id == user.environment_id
    raw_token = emailed_reset_token(message)
    link = routes.absolute(routes.reset_password(raw_token))
    assert link in message.text_body
    assert link in message.html_body
    assert "Ada Lovelace" in message.text_body
    assert "30 minutes" in message.text_body
    [token] = reset_tokens(session)
    assert token.token_hash == security.hash_token(raw_token)
    assert token.user_id == user.id
    assert raw_token not in token.token_hash
    assert token.expires_at - token.created_at == timedelta(minutes=30)
    assert accounts.reset_password_token_is_valid(session, token=raw_token)


def test_a_new_reset_request_voids_the_earlier_link(
    session: Session, sign_up_user: SignUp
) -> None:
    sign_up_user()
    first = request_reset_token(session)
    second = request_reset_token(session)

    assert not accounts.reset_password_token_is_valid(session, token=first)
    assert accounts.reset_password_token_is_valid(session, token=second)
    with pytest.raises(InvalidToken):
        accounts.reset_password(session, token=first, password=NEW_PASSWORD)


def test_reset_password_sets_the_new_password_once(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    raw_token = request_reset_token(session)

    reset_user = accounts.reset_password(session, token=raw_token, password=NEW_PASSWORD)

    assert reset_user.id == user.id
    assert reset_user.password_changed_at is not None
    sessions.log_in(session, email="ada@example.com", password=NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        sessions.log_in(session, email="ada@example.com", password=password)
    assert reset_tokens(session)[0].used_at is not None
    assert "user.password_reset" in session.exec(select(ActivityLog.action)).all()
    # Single use: the same link does nothing a second time.
    assert not accounts.reset_password_token_is_valid(session, token=raw_token)
    with pytest.raises(InvalidToken) as raised:
        accounts.reset_password(session, token=raw_token, password="yet another passphrase")
    assert raised.value.message == (
        "This password reset link is invalid or has expired. Ask for a new one."
    )
    sessions.log_in(session, email="ada@example.com", password=NEW_PASSWORD)


@pytest.mark.parametrize(("minutes_old", "valid"), [(29, True), (31, False)])
def test_reset_link_expires_after_30_minutes(
    session: Session, sign_up_user: SignUp, minutes_old: int, valid: bool
) -> None:
    sign_up_user()
    raw_token = request_reset_token(session)
    [token] = reset_tokens(session)
    token.created_at -= timedelta(minutes=minutes_old)
    token.expires_at -= timedelta(minutes=minutes_old)
    session.commit()

    assert accounts.reset_password_token_is_valid(session, token=raw_token) is valid
    if valid:
        accounts.reset_password(session, token=raw_token, password=NEW_PASSWORD)
    else:
        with pytest.raises(InvalidToken):
            accounts.reset_password(session, token=raw_token, password=NEW_PASSWORD)


@pytest.mark.parametrize("raw_token", ["", "made-up-token"])
def test_reset_with_unknown_token_is_refused(
    session: Session, sign_up_user: SignUp, raw_token: str
) -> None:
    sign_up_user()
    assert not accounts.reset_password_token_is_valid(session, token=raw_token)
    with pytest.raises(InvalidToken):
        accounts.reset_password(session, token=raw_token, password=NEW_PASSWORD)


def test_reset_with_a_bad_password_changes_nothing_and_keeps_the_link(
    session: Session, sign_up_user: SignUp
) -> None:
    user = sign_up_user()
    old_hash = user.password_hash
    raw_token = request_reset_token(session)

    with pytest.raises(ValidationFailed) as raised:
        accounts.reset_password(session, token=raw_token, password="short")

    assert list(raised.value.errors) == ["password"]
    session.refresh(user)
    assert user.password_hash == old_hash
    assert accounts.reset_password_token_is_valid(session, token=raw_token)


def test_reset_password_ends_every_session(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    sign_up_user()
    _, first = sessions.log_in(session, email="ada@example.com", password=password)
    _, second = sessions.log_in(session, email="ada@example.com", password=password)

    accounts.reset_password(session, token=request_reset_token(session), password=NEW_PASSWORD)

    assert sessions.authenticate(session, token=first) is None
    assert sessions.authenticate(session, token=second) is None


# --- Password change ----------------------------------------------------------------------


def test_change_password_ends_other_sessions_and_returns_a_working_one(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    _, this_browser = sessions.log_in(session, email="ada@example.com", password=password)
    _, other_browser = sessions.log_in(session, email="ada@example.com", password=password)

    new_token = accounts.change_password(
        session, user=user, current_password=password, new_password=NEW_PASSWORD
    )

    assert sessions.authenticate(session, token=this_browser) is None
    assert sessions.authenticate(session, token=other_browser) is None
    assert sessions.authenticate(session, token=new_token).id == user.id  # type: ignore[union-attr]
    sessions.log_in(session, email="ada@example.com", password=NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        sessions.log_in(session, email="ada@example.com", password=password)
    assert "user.password_changed" in session.exec(select(ActivityLog.action)).all()


def test_change_password_with_wrong_current_password_changes_nothing(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    old_hash = user.password_hash
    _, token = sessions.log_in(session, email="ada@example.com", password=password)

    with pytest.raises(ValidationFailed) as raised:
        accounts.change_password(
            session, user=user, current_password="not my password", new_password=NEW_PASSWORD
        )

    assert raised.value.errors == {"current_password": "The current password is incorrect."}
    session.refresh(user)
    assert user.password_hash == old_hash
    assert sessions.authenticate(session, token=token) is not None


@pytest.mark.parametrize("new_password", ["short", "1QAZ2WSX3EDC", "q" * 129])
def test_change_password_refuses_a_bad_new_password(
    session: Session, sign_up_user: SignUp, password: str, new_password: str
) -> None:
    user = sign_up_user()
    old_hash = user.password_hash
    _, token = sessions.log_in(session, email="ada@example.com", password=password)

    with pytest.raises(ValidationFailed) as raised:
        accounts.change_password(
            session, user=user, current_password=password, new_password=new_password
        )

    assert list(raised.value.errors) == ["new_password"]
    session.refresh(user)
    assert user.password_hash == old_hash
    assert sessions.authenticate(session, token=token) is not None
