"""Logging in and out, throttling, and session timeouts, against a real SQLite database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from econnect_app import security
from econnect_app.models import LoginAttempt, User, UserSession, UserStatus, utcnow
from econnect_app.services import sessions
from econnect_app.services.caller import calling_from
from econnect_app.services.errors import (
    AccountBlocked,
    DomainError,
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


def add_failures(
    session: Session, *, email: str, count: int, minutes_ago: float, client: str = "", succeeded: bool = False
) -> None:
    created_at = utcnow() - timedelta(minutes=minutes_ago)
    for _ in range(count):
        session.add(LoginAttempt(email=email, client_address=client, succeeded=succeeded, created_at=created_at))
    session.commit()


def log_in_from(session: Session, client: str, *, email: str = "ada@example.com", password: str) -> User:
    """Log in as the client at that address would; the user, or what was raised."""
    with calling_from(client):
        user, _ = sessions.log_in(session, email=email, password=password)
    return user


def refusal_from(session: Session, client: str, *, email: str = "ada@example.com", password: str) -> DomainError:
    """What a log-in from that address is refused with."""
    with pytest.raises(DomainError) as refused:
        log_in_from(session, client, email=email, password=password)
    return refused.value


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


def test_ten_failures_from_one_client_hold_that_client_back_even_with_the_right_password(
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


WRONG = "not my password at all"
INCORRECT = "The email address or password is incorrect."


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nobody@example.com", "whatever it is"),
        ("nobody@example.com", "x" * 5000),  # longer than the hasher accepts
        ("ada@example.com", "x" * 5000),
        ("ada@example.com", {"not": "text"}),
        ("nobody@example.com", ["a", "list"]),
        ("ada@example.com", 123456789012),
        ({"email": "ada@example.com"}, "correct horse battery staple"),
        ("jöse@exämple.com", "whatever it is"),
        ("ada@example.com\x00", "whatever it is"),
        ("not an address", "whatever it is"),
    ],
)
def test_every_input_that_does_not_log_in_gets_the_same_answer_and_is_recorded(
    session: Session, engine: Engine, sign_up_user: SignUp, email: Any, password: Any
) -> None:
    sign_up_user()
    with calling_from("203.0.113.9"), pytest.raises(InvalidCredentials) as refused:
        sessions.log_in(session, email=email, password=password)
    assert refused.value.message == INCORRECT
    assert [(a.succeeded, a.client_address) for a in attempts(engine)] == [(False, "203.0.113.9")]
    assert count_sessions(session) == 0


def test_a_successful_log_in_is_recorded_with_the_client_address(
    session: Session, engine: Engine, sign_up_user: SignUp, password: str
) -> None:
    sign_up_user()
    log_in_from(session, "203.0.113.9", password=password)
    assert [(a.email, a.succeeded, a.client_address) for a in attempts(engine)] == [
        ("ada@example.com", True, "203.0.113.9")
    ]


def test_a_stranger_cannot_lock_the_owner_out(
    session: Session, engine: Engine, sign_up_user: SignUp, password: str
) -> None:
    """Ten wrong passwords from one address hold back that address only."""
    user = sign_up_user()
    for _ in range(10):
        assert isinstance(refusal_from(session, "198.51.100.7", password=WRONG), InvalidCredentials)

    refused = refusal_from(session, "198.51.100.7", password=password)
    assert isinstance(refused, TooManyAttempts)
    assert refused.message == "Too many failed log-in attempts for this account. Try again in 15 minutes."

    assert log_in_from(session, "203.0.113.9", password=password).id == user.id  # the owner's own address
    assert len(attempts(engine)) == 11  # the refused attempt is not kept


def test_a_guess_spread_over_many_addresses_gets_one_try_per_address(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    for host in range(10):
        assert isinstance(refusal_from(session, f"198.51.100.{host}", password=WRONG), InvalidCredentials)

    # The account has had its ten failures: an address that took part is held back...
    refused = refusal_from(session, "198.51.100.3", password=WRONG)
    assert isinstance(refused, TooManyAttempts)
    assert "for this account" in refused.message
    # ... a new address gets its one try, and the owner, who has not failed, logs in.
    assert isinstance(refusal_from(session, "198.51.100.99", password=WRONG), InvalidCredentials)
    assert isinstance(refusal_from(session, "198.51.100.99", password=WRONG), TooManyAttempts)
    assert log_in_from(session, "203.0.113.9", password=password).id == user.id


def test_the_owner_who_mistyped_during_an_attack_is_not_held_back_at_a_known_address(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    add_failures(session, email="ada@example.com", client="203.0.113.9", count=1, minutes_ago=60 * 24, succeeded=True)
    for host in range(10):
        add_failures(session, email="ada@example.com", client=f"198.51.100.{host}", count=1, minutes_ago=2)

    assert isinstance(refusal_from(session, "203.0.113.9", password="a typo in it"), InvalidCredentials)
    assert log_in_from(session, "203.0.113.9", password=password).id == user.id
    # The same mistake from an address the account has not logged in from must wait.
    assert isinstance(refusal_from(session, "192.0.2.50", password="a typo in it"), InvalidCredentials)
    refused = refusal_from(session, "192.0.2.50", password=password)
    assert isinstance(refused, TooManyAttempts)
    # Free again when fewer than ten of the account's failures are left in the window: the strangers'
    # failures of two minutes ago leave it in 13 minutes (its own typo would in 15).
    assert refused.message.endswith("Try again in 13 minutes.")


def test_one_address_trying_many_accounts_is_held_back_except_for_accounts_it_uses(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    user = sign_up_user()
    add_failures(session, email="ada@example.com", client="198.51.100.7", count=1, minutes_ago=60, succeeded=True)
    assert get_settings().login_client_max_failures == 30
    for number in range(30):
        add_failures(session, email=f"victim{number}@example.com", client="198.51.100.7", count=1, minutes_ago=5)

    refused = refusal_from(session, "198.51.100.7", email="victim99@example.com", password=WRONG)
    assert refused.message == "Too many failed log-in attempts from your network. Try again in 10 minutes."
    assert log_in_from(session, "198.51.100.7", password=password).id == user.id  # its own account
    assert isinstance(refusal_from(session, "203.0.113.9", email="victim99@example.com", password=WRONG),
                      InvalidCredentials)  # fmt: skip


def test_two_simultaneous_attempts_cannot_both_use_the_last_try(
    engine: Engine, session: Session, sign_up_user: SignUp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nine failures from this address: of two wrong passwords sent at the same moment, at most one
    is checked. Each password check waits until the other attempt has been checked too or has
    finished, so without a race-free throttle both would pass the count before either is recorded."""
    sign_up_user()
    add_failures(session, email="ada@example.com", client="198.51.100.7", count=9, minutes_ago=1)
    checked, finished = [], []
    progress = threading.Condition()
    real_verify = security.verify_password

    def verify_when_the_other_has_moved_on(password: str, password_hash: str | None) -> bool:
        with progress:
            checked.append(password)
            progress.notify_all()
            progress.wait_for(lambda: len(checked) + len(finished) >= 2, timeout=20)
        return real_verify(password, password_hash)

    monkeypatch.setattr(security, "verify_password", verify_when_the_other_has_moved_on)
    start = threading.Barrier(2, timeout=20)
    outcomes: list[Exception] = []

    def attempt(guess: str) -> None:
        with Session(engine, expire_on_commit=False) as own_session, calling_from("198.51.100.7"):
            start.wait()
            try:
                sessions.log_in(own_session, email="ada@example.com", password=guess)
            except DomainError as error:
                outcomes.append(error)
            finally:
                with progress:
                    finished.append(guess)
                    progress.notify_all()

    threads = [threading.Thread(target=attempt, args=(guess,)) for guess in ("first wrong guess", "second wrong guess")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(checked) <= 1
    assert any(isinstance(outcome, TooManyAttempts) for outcome in outcomes)
    assert sum(not a.succeeded for a in attempts(engine)) <= 10


def test_a_hash_of_an_older_cost_is_replaced_at_log_in(
    session: Session, sign_up_user: SignUp, password: str
) -> None:
    from passlib.hash import argon2

    user = sign_up_user()
    user.password_hash = argon2.using(rounds=2, memory_cost=8 * 1024, parallelism=1).hash(password)
    session.add(user)
    session.commit()
    assert security.password_needs_rehash(user.password_hash)

    logged_in, _ = sessions.log_in(session, email="ada@example.com", password=password)

    with Session(session.get_bind()) as other:
        stored = other.get(User, logged_in.id).password_hash  # type: ignore[union-attr]
    assert not security.password_needs_rehash(stored)
    assert security.verify_password(password, stored)


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
