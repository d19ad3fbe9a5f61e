"""Signing up, password reset and password change, against a real SQLite database."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from econnect_app import routes, security
from econnect_app.mail import messages
from econnect_app.mail import outbox as outbox_module
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
    utcnow,
)
from econnect_app.services import accounts, address_holders, caller, sessions, throttle
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


def outbox(session: Session, template: str | None = None) -> list[OutboxMessage]:
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        statement = statement.where(OutboxMessage.template == template)
    return list(session.exec(statement))


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
    return emailed_reset_token(outbox(session, "password_reset")[-1])


# --- Sign-up ------------------------------------------------------------------------------


def sign_up(session: Session, **fields: str) -> User:
    """Sign up with VALID_SIGN_UP changed by ``fields``; the new user (the address must be free)."""
    result = accounts.sign_up(session, **{**VALID_SIGN_UP, **fields})
    assert result.user is not None
    return result.user


def test_sign_up_creates_environment_with_its_first_administrator(session: Session) -> None:
    result = accounts.sign_up(session, **VALID_SIGN_UP)
    user = result.user
    assert user is not None and not result.address_confirmed

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


def test_sign_up_emails_a_link_to_confirm_the_address(session: Session) -> None:
    user = sign_up(session)

    assert user.email_confirmed_at is None
    [message] = outbox(session)
    assert message.template == "account_confirmation"
    assert message.to_address == "ada@example.com"
    assert "Hello Ada Lovelace," in message.text_body
    assert "valid for 3 days" in message.text_body
    [token] = session.exec(
        select(OneTimeToken).where(OneTimeToken.purpose == TokenPurpose.EMAIL_CONFIRMATION.value)
    ).all()
    assert token.user_id == user.id and token.user_email_id is None
    assert routes.absolute(routes.confirm_email("")) in message.text_body


def test_sign_up_normalises_the_input(session: Session) -> None:
    user = sign_up(
        session,
        name="  Ada   Lovelace ",
        email=" Ada@Example.COM ",
        company_name=" Lovelace  Accounting ",
    )
    assert user.name == "Ada Lovelace"
    assert user.email == "ada@example.com"
    assert session.get(Environment, user.environment_id).name == "Lovelace Accounting"  # type: ignore[union-attr]


def test_signed_up_user_can_log_in(session: Session) -> None:
    user = sign_up(session)
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


def test_sign_up_with_a_taken_address_answers_like_a_sign_up_and_emails_the_owner(
    session: Session, sign_up_user: SignUp
) -> None:
    owner = sign_up_user(email="ada@example.com")
    owner.email_confirmed_at = utcnow()
    session.commit()
    before = len(outbox(session))

    result = accounts.sign_up(session, **{**VALID_SIGN_UP, "email": "ADA@example.com"})

    assert result == accounts.SignUpResult(user=None, address_confirmed=False)
    assert count(session, Environment) == 1
    assert count(session, User) == 1
    [message] = outbox(session)[before:]
    assert message.template == "sign_up_attempt"
    assert message.to_address == "ada@example.com"
    assert "Someone tried to create an eConnect account with ada@example.com" in message.text_body
    assert routes.absolute(routes.LOGIN) in message.text_body
    assert routes.absolute(routes.FORGOT_PASSWORD) in message.text_body
    assert "?claim=" not in message.text_body  # a confirmed address never gives way


def test_sign_up_does_the_same_work_for_a_free_and_a_taken_address(
    session: Session, sign_up_user: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up_user(email="taken@example.com")
    hashed: list[str] = []
    original = security.hash_password
    monkeypatch.setattr(security, "hash_password", lambda password: hashed.append(password) or original(password))

    accounts.sign_up(session, **{**VALID_SIGN_UP, "email": "free@example.com"})
    accounts.sign_up(session, **{**VALID_SIGN_UP, "email": "taken@example.com"})

    assert hashed == [VALID_SIGN_UP["password"]] * 2
    assert [m.template for m in outbox(session)][-2:] == ["account_confirmation", "sign_up_attempt"]


def test_sign_up_with_an_additional_address_of_another_user_answers_the_same(
    session: Session, sign_up_user: SignUp
) -> None:
    grace = sign_up_user(email="grace@example.com", name="Grace Hopper", company_name="Hopper BV")
    session.add(UserEmail(user_id=grace.id, email="ada@example.com", confirmed_at=utcnow()))  # type: ignore[arg-type]
    session.commit()

    result = accounts.sign_up(session, **VALID_SIGN_UP)

    assert result.user is None
    assert count(session, Environment) == 1
    assert outbox(session)[-1].template == "sign_up_attempt"
    assert outbox(session)[-1].to_address == "ada@example.com"


def test_sign_up_race_on_the_same_address_answers_the_same(
    session: Session, sign_up_user: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up_user(email="ada@example.com")
    # Another request signs up the address between our check and our write.
    real_holder_of = address_holders.holder_of
    calls: list[str] = []

    def not_yet_then_real(session: Session, address: str):  # type: ignore[no-untyped-def]
        calls.append(address)
        return None if len(calls) == 1 else real_holder_of(session, address)

    monkeypatch.setattr(address_holders, "holder_of", not_yet_then_real)

    result = accounts.sign_up(session, **VALID_SIGN_UP)

    assert result.user is None
    assert count(session, Environment) == 1
    assert count(session, User) == 1
    assert count(session, ActivityLog) == 2
    assert outbox(session)[-1].template == "sign_up_attempt"


# --- Password reset -----------------------------------------------------------------------


@pytest.mark.parametrize("email", ["nobody@example.com", "", "not an address"])
def test_reset_request_for_unknown_or_invalid_address_sends_nothing_and_no_link_works(
    session: Session, sign_up_user: SignUp, email: str
) -> None:
    sign_up_user()
    before = len(outbox(session))
    assert accounts.request_password_reset(session, email=email) is None
    assert len(outbox(session)) == before
    assert [token.user_id for token in reset_tokens(session)] == [None]


def test_reset_request_does_the_same_work_for_a_known_and_an_unknown_address(
    session: Session, sign_up_user: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same steps run either way (a token is made and stored, the email rendered, one commit),
    so the time taken reveals nothing; only the outbox row differs."""
    sign_up_user()
    work: list[str] = []
    rendered = messages.render_message
    new_token = security.new_token

    def render(template: str, context: dict) -> object:  # type: ignore[type-arg]
        work.append(f"render {template}")
        return rendered(template, context)

    def token() -> tuple[str, str]:
        work.append("token")
        return new_token()

    monkeypatch.setattr(accounts, "render_message", render)
    monkeypatch.setattr(outbox_module, "render_message", render)
    monkeypatch.setattr(security, "new_token", token)
    commit = session.commit
    monkeypatch.setattr(session, "commit", lambda: (work.append("commit"), commit())[1])

    accounts.request_password_reset(session, email="ada@example.com")
    known = list(work)
    work.clear()
    accounts.request_password_reset(session, email="nobody@example.com")

    assert known == work == ["token", "render password_reset", "commit"]


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.INVITED])
def test_reset_request_for_user_who_is_not_active_writes_nothing(
    session: Session, sign_up_user: SignUp, status: UserStatus
) -> None:
    user = sign_up_user()
    user.status = status.value
    session.add(user)
    session.commit()

    accounts.request_password_reset(session, email="ada@example.com")

    assert outbox(session, "password_reset") == []
    assert [token.user_id for token in reset_tokens(session)] == [None]


def test_reset_email_carries_a_link_whose_token_hash_is_stored(
    session: Session, sign_up_user: SignUp
) -> None:
    user = sign_up_user()

    accounts.request_password_reset(session, email=" Ada@Example.com ")

    [message] = outbox(session, "password_reset")
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


# --- Passwords: not the current one; the owner is told ------------------------------------------


def test_reset_refuses_the_current_password_and_keeps_the_link(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    old_hash = user.password_hash
    raw_token = request_reset_token(session)

    with pytest.raises(ValidationFailed) as raised:
        accounts.reset_password(session, token=raw_token, password=password)

    assert raised.value.errors == {"password": accounts.SAME_PASSWORD}
    session.refresh(user)
    assert user.password_hash == old_hash
    assert accounts.reset_password_token_is_valid(session, token=raw_token)


def test_change_refuses_the_current_password_as_the_new_one(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    old_hash = user.password_hash

    with pytest.raises(ValidationFailed) as raised:
        accounts.change_password(session, user=user, current_password=password, new_password=password)

    assert raised.value.errors == {"new_password": accounts.SAME_PASSWORD}
    session.refresh(user)
    assert user.password_hash == old_hash
    assert outbox(session, "password_changed") == []


def test_the_owner_is_emailed_when_the_password_is_changed(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()

    accounts.change_password(session, user=user, current_password=password, new_password=NEW_PASSWORD)

    [message] = outbox(session, "password_changed")
    assert message.to_address == "ada@example.com"
    assert message.subject == "Your eConnect password was changed"
    assert "was changed on the profile page on " in message.text_body
    assert "If this was not you" in message.text_body
    assert routes.absolute(routes.FORGOT_PASSWORD) in message.text_body


def test_the_owner_is_emailed_when_the_password_is_reset(session: Session, sign_up_user: SignUp) -> None:
    sign_up_user()

    accounts.reset_password(session, token=request_reset_token(session), password=NEW_PASSWORD)

    [message] = outbox(session, "password_changed")
    assert message.to_address == "ada@example.com"
    assert "was reset through an emailed link on " in message.text_body
    assert routes.absolute(routes.FORGOT_PASSWORD) in message.text_body


def test_a_reset_link_confirms_the_primary_address(session: Session, sign_up_user: SignUp) -> None:
    user = sign_up_user()
    assert user.email_confirmed_at is None

    accounts.reset_password(session, token=request_reset_token(session), password=NEW_PASSWORD)

    session.refresh(user)
    assert user.email_confirmed_at is not None
    [row] = session.exec(select(ActivityLog).where(ActivityLog.action == "user.email_confirmed")).all()
    assert "through a password reset link" in row.summary


# --- Throttling by client ------------------------------------------------------------------------


def test_sign_up_and_reset_requests_are_throttled_per_client(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "hash_password", lambda password: "not-a-real-hash")  # speed only
    with caller.calling_from("203.0.113.5"):
        with pytest.raises(throttle.Limited):
            for number in range(100):
                accounts.sign_up(session, **{**VALID_SIGN_UP, "email": f"ada{number}@example.com"})
        with pytest.raises(throttle.Limited) as raised:
            for _ in range(100):
                accounts.request_password_reset(session, email="ada0@example.com")
    assert "Try again in" in raised.value.message
    with caller.calling_from("198.51.100.7"):  # another client is not held back
        assert accounts.sign_up(session, **{**VALID_SIGN_UP, "email": "grace@example.com"}).user is not None
        accounts.request_password_reset(session, email="grace@example.com")


def test_reset_requests_past_the_environments_limit_answer_the_same_and_send_nothing(
    session: Session, sign_up_user: SignUp
) -> None:
    """Many clients asking for one account's reset: the environment's limit stops the emails
    quietly (a refusal would tell that the address has an account)."""
    sign_up_user()
    per_environment = 20  # LIMITS["password_reset"]: 20 an hour per environment
    for number in range(per_environment + 5):
        with caller.calling_from(f"198.51.100.{number}"):
            assert accounts.request_password_reset(session, email="ada@example.com") is None

    assert len(outbox(session, "password_reset")) == per_environment
    assert len(reset_tokens(session)) == per_environment + 5  # the same work every time
