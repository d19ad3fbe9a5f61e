"""Logging in and out, throttling, and session timeouts, against a real SQLite database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from econnect_app import security
from econnect_app.models import LoginAttempt, User, UserSession, UserStatus, utcnow
from econnect_app.services import sessions
from econnect_app.services.errors import (
    AccountBlocked,
    InvalidCredentials,
    TooManyAttempts,
    ValidationFailed,
)
from econnect_app.settings import get_settings

SignUp = Callable[..., User]


def session_row(session: Session, token: str) -> UserSession:
    row = session.exec(
        select(UserSession).where(UserSession.token_hash == security.hash_token(token))
    ).one()
    return row


def attempts(engine: Engine) -> list[LoginAttempt]:
    """The log-in attempts as committed (read through a separate connection)."""
    with Session(engine) as other:
        return list(other.exec(select(LoginAttempt).order_by(LoginAttempt.id)))


def count_sessions(session: Session) -> int:
    return session.exec(select(func.count()).select_from(UserSession)).one()


def add_failures(session: Session, *, email: str, count: int, minutes_ago: float) -> None:
    created_at = utcnow() - timedelta(minutes=minutes_ago)
    for _ in range(count):
        session.add(LoginAttempt(email=email, succeeded=False, created_at=created_at))
    session.commit()


class VerifySpy:
    """Wraps security.verify_password and records the hash each call was given."""

    def __init__(self) -> None:
        self.hashes: list[str | None] = []
        self._real = security.verify_password

    def __call__(self, password: str, password_hash: str | None) -> bool:
        self.hashes.append(password_hash)
        return self._real(password, password_hash)


@pytest.fixture()
def verify_spy(monkeypatch: pytest.MonkeyPatch) -> VerifySpy:
    spy = VerifySpy()
    monkeypatch.setattr(security, "verify_password", spy)
    return spy


# --- Logging in ---------------------------------------------------------------------------


def test_log_in_returns_user_and_fresh_token_stored_only_as_hash(
    session: Session, engine: Engine, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()

    logged_in, token = sessions.log_in(
        session, email="ada@example.com", password=password, user_agent="Firefox"
    )

    assert logged_in.id == user.id
    assert len(token) == 43
    row = session_row(session, token)
    assert row.user_id == user.id
    assert row.token_hash == security.hash_token(token)
    assert row.user_agent == "Firefox"
    assert row.revoked_at is None
    assert session.exec(select(UserSession).where(UserSession.token_hash == token)).first() is None
    assert logged_in.last_login_at is not None
    assert [(a.email, a.succeeded) for a in attempts(engine)] == [("ada@example.com", True)]
    assert sessions.authenticate(session, token=token).id == user.id  # type: ignore[union-attr]


def test_each_log_in_gets_its_own_token(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    sign_up_user()
    _, first = sessions.log_in(session, email="ada@example.com", password=password)
    _, second = sessions.log_in(session, email="ada@example.com", password=password)
    assert first != second
    assert count_sessions(session) == 2


def test_log_in_ignores_case_and_spaces_in_the_email(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    logged_in, _ = sessions.log_in(session, email="  ADA@Example.COM ", password=password)
    assert logged_in.id == user.id


def test_log_in_requires_both_fields(session: Session, engine: Engine) -> None:
    with pytest.raises(ValidationFailed) as raised:
        sessions.log_in(session, email="  ", password="")
    assert set(raised.value.errors) == {"email", "password"}
    assert raised.value.errors["email"] == "Enter your email address."
    assert raised.value.errors["password"] == "Enter your password."
    assert attempts(engine) == []


def test_unknown_email_and_wrong_password_get_the_same_answer_after_the_same_work(
    session: Session, engine: Engine, sign_up_user: SignUp, verify_spy: VerifySpy
) -> None:
    user = sign_up_user()

    with pytest.raises(InvalidCredentials) as unknown:
        sessions.log_in(session, email="nobody@example.com", password="whatever it is")
    with pytest.raises(InvalidCredentials) as wrong:
        sessions.log_in(session, email="ada@example.com", password="not my password")

    assert unknown.value.message == wrong.value.message
    assert unknown.value.message == "The email address or password is incorrect."
    # One argon2 verification each: against the dummy hash for the unknown address.
    assert verify_spy.hashes == [None, user.password_hash]
    assert count_sessions(session) == 0
    recorded = [(a.email, a.succeeded) for a in attempts(engine)]
    assert recorded == [("nobody@example.com", False), ("ada@example.com", False)]


def test_failed_attempt_is_committed_even_though_log_in_raises(
    session: Session, engine: Engine, sign_up_user: SignUp
) -> None:
    sign_up_user()
    with pytest.raises(InvalidCredentials):
        sessions.log_in(session, email="Ada@Example.com", password="not my password")
    session.rollback()  # what a caller does after an error must not lose the record
    assert [(a.email, a.succeeded) for a in attempts(engine)] == [("ada@example.com", False)]


def test_invited_user_without_password_cannot_log_in(
    session: Session, sign_up_user: SignUp, add_invited_user: Callable[..., User]
) -> None:
    admin = sign_up_user()
    add_invited_user(environment_id=admin.environment_id, email="invitee@example.com")

    for attempt in ("correct horse battery staple", "any password at all"):
        with pytest.raises(InvalidCredentials):
            sessions.log_in(session, email="invitee@example.com", password=attempt)
    assert count_sessions(session) == 0


def test_blocked_user_with_right_password_is_told_the_account_is_blocked(
    session: Session, engine: Engine, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    user.status = UserStatus.BLOCKED.value
    session.add(user)
    session.commit()

    with pytest.raises(AccountBlocked) as raised:
        sessions.log_in(session, email="ada@example.com", password=password)
    assert "blocked" in raised.value.message
    # With a wrong password a blocked account looks like any other failure.
    with pytest.raises(InvalidCredentials):
        sessions.log_in(session, email="ada@example.com", password="not my password")
    assert count_sessions(session) == 0
    assert [a.succeeded for a in attempts(engine)] == [False, False]


# --- Throttling ---------------------------------------------------------------------------


def test_ten_failures_lock_the_account_even_for_the_right_password(
    session: Session, engine: Engine, sign_up_user: SignUp, password: str, verify_spy: VerifySpy
) -> None:
    sign_up_user()
    assert get_settings().login_max_failures == 10
    for _ in range(9):
        with pytest.raises(InvalidCredentials):
            sessions.log_in(session, email="ada@example.com", password="guess number one")
    with pytest.raises(InvalidCredentials):  # the tenth failure is still a normal failure
        sessions.log_in(session, email="ada@example.com", password="guess number ten")
    verify_spy.hashes.clear()

    with pytest.raises(TooManyAttempts) as raised:
        sessions.log_in(session, email="ada@example.com", password=password)

    assert raised.value.message == (
        "Too many failed log-in attempts for this account. Try again in 15 minutes."
    )
    assert verify_spy.hashes == []  # the password was not even checked
    assert count_sessions(session) == 0
    assert len(attempts(engine)) == 10


def test_throttle_message_counts_from_the_oldest_failure_in_the_window(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    sign_up_user()
    add_failures(session, email="ada@example.com", count=4, minutes_ago=10)
    add_failures(session, email="ada@example.com", count=6, minutes_ago=2)

    with pytest.raises(TooManyAttempts, match=r"Try again in 5 minutes\."):
        sessions.log_in(session, email="ada@example.com", password=password)


def test_throttle_lifts_once_the_failures_leave_the_window(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    add_failures(session, email="ada@example.com", count=10, minutes_ago=16)

    logged_in, token = sessions.log_in(session, email="ada@example.com", password=password)

    assert logged_in.id == user.id
    assert sessions.authenticate(session, token=token) is not None


def test_nine_recent_failures_do_not_lock_the_account(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    sign_up_user()
    add_failures(session, email="ada@example.com", count=9, minutes_ago=1)
    sessions.log_in(session, email="ada@example.com", password=password)


def test_throttle_is_per_account(session: Session, sign_up_user: SignUp, password: str) -> None:
    sign_up_user(email="ada@example.com")
    sign_up_user(email="grace@example.com", name="Grace Hopper", company_name="Hopper BV")
    add_failures(session, email="ada@example.com", count=10, minutes_ago=1)

    with pytest.raises(TooManyAttempts):
        sessions.log_in(session, email="ada@example.com", password=password)
    user, _ = sessions.log_in(session, email="grace@example.com", password=password)
    assert user.email == "grace@example.com"


def test_unknown_address_is_throttled_the_same_way(session: Session) -> None:
    add_failures(session, email="nobody@example.com", count=10, minutes_ago=1)
    with pytest.raises(TooManyAttempts, match="Try again in 14 minutes"):
        sessions.log_in(session, email="Nobody@example.com", password="whatever it is")


# --- Sessions -----------------------------------------------------------------------------


def test_start_session_stores_hash_with_absolute_expiry(
    session: Session, sign_up_user: SignUp
) -> None:
    user = sign_up_user()
    token = sessions.start_session(session, user=user, user_agent="x" * 500)

    row = session_row(session, token)
    assert row.expires_at - row.created_at == timedelta(hours=get_settings().session_absolute_hours)
    assert len(row.user_agent) == 300
    assert sessions.authenticate(session, token=token).id == user.id  # type: ignore[union-attr]


@pytest.mark.parametrize("token", [None, "", "not-a-real-token"])
def test_authenticate_refuses_missing_or_unknown_tokens(
    session: Session, sign_up_user: SignUp, token: str | None
) -> None:
    sign_up_user()
    assert sessions.authenticate(session, token=token) is None


def test_session_ends_after_idle_timeout(session: Session, sign_up_user: SignUp) -> None:
    user = sign_up_user()
    token = sessions.start_session(session, user=user)
    idle = timedelta(minutes=get_settings().session_idle_minutes)

    row = session_row(session, token)
    row.last_seen_at = utcnow() - idle + timedelta(minutes=1)
    session.commit()
    assert sessions.authenticate(session, token=token) is not None

    row.last_seen_at = utcnow() - idle - timedelta(seconds=1)
    session.commit()
    assert sessions.authenticate(session, token=token) is None


def test_activity_keeps_the_session_alive(session: Session, sign_up_user: SignUp) -> None:
    user = sign_up_user()
    token = sessions.start_session(session, user=user)
    row = session_row(session, token)
    row.last_seen_at = utcnow() - timedelta(minutes=100)
    session.commit()

    assert sessions.authenticate(session, token=token) is not None

    with Session(session.get_bind()) as other:
        refreshed = session_row(other, token)
        assert utcnow() - refreshed.last_seen_at < timedelta(minutes=1)


def test_last_seen_is_written_at_most_once_a_minute(
    session: Session, sign_up_user: SignUp
) -> None:
    user = sign_up_user()
    token = sessions.start_session(session, user=user)
    row = session_row(session, token)
    seen = utcnow() - timedelta(seconds=30)
    row.last_seen_at = seen
    session.commit()

    assert sessions.authenticate(session, token=token) is not None

    with Session(session.get_bind()) as other:
        assert session_row(other, token).last_seen_at == seen


def test_session_ends_at_absolute_expiry_even_when_active(
    session: Session, sign_up_user: SignUp
) -> None:
    user = sign_up_user()
    token = sessions.start_session(session, user=user)
    row = session_row(session, token)
    row.expires_at = utcnow() - timedelta(seconds=1)
    row.last_seen_at = utcnow()
    session.commit()

    assert sessions.authenticate(session, token=token) is None


@pytest.mark.parametrize("status", [UserStatus.BLOCKED, UserStatus.INVITED])
def test_session_of_a_user_who_is_no_longer_active_is_refused(
    session: Session, sign_up_user: SignUp, status: UserStatus
) -> None:
    user = sign_up_user()
    token = sessions.start_session(session, user=user)
    user.status = status.value
    session.add(user)
    session.commit()

    assert sessions.authenticate(session, token=token) is None


def test_log_out_revokes_only_that_session_and_is_idempotent(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    sign_up_user()
    _, this_browser = sessions.log_in(session, email="ada@example.com", password=password)
    _, other_browser = sessions.log_in(session, email="ada@example.com", password=password)

    sessions.log_out(session, token=this_browser)
    revoked_at = session_row(session, this_browser).revoked_at
    sessions.log_out(session, token=this_browser)
    sessions.log_out(session, token=None)
    sessions.log_out(session, token="unknown")

    assert revoked_at is not None
    assert session_row(session, this_browser).revoked_at == revoked_at
    assert sessions.authenticate(session, token=this_browser) is None
    assert sessions.authenticate(session, token=other_browser) is not None


def test_revoke_all_sessions_revokes_live_sessions_in_the_callers_transaction(
    session: Session, sign_up_user: SignUp
) -> None:
    ada = sign_up_user()
    grace = sign_up_user(email="grace@example.com", name="Grace Hopper", company_name="Hopper BV")
    ada_tokens = [sessions.start_session(session, user=ada) for _ in range(3)]
    grace_token = sessions.start_session(session, user=grace)
    sessions.log_out(session, token=ada_tokens[0])

    revoked = sessions.revoke_all_sessions(session, user=ada)

    assert revoked == 2
    with Session(session.get_bind()) as other:  # not committed yet
        assert session_row(other, ada_tokens[1]).revoked_at is None
    session.commit()
    assert all(sessions.authenticate(session, token=t) is None for t in ada_tokens)
    assert sessions.authenticate(session, token=grace_token) is not None
