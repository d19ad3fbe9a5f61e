"""Two requests at the same moment (two tabs, a double submit, two administrators): emailed links
work once, and an environment keeps an active Administrator (issue 8, point 16).

Each call runs in its own thread with its own Session, on a SQLite file or, with
ECONNECT_TEST_DB_URL, on PostgreSQL. A barrier holds both calls after every check they make and
just before their first write, so only the conditional UPDATE (links) or the lock and the count
after the write (Administrators) can decide; check-then-write would let both through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from conftest_factories import activities, link_token, make_admin, make_environment, make_user, outbox
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from test_accept_race import TIMEOUT, run_together

from econnect_app import security
from econnect_app.models import Role, User, UserStatus
from econnect_app.services import accounts, one_time_tokens, user_emails, users
from econnect_app.services.errors import Conflict, InvalidToken, PermissionDenied
from econnect_app.services.transaction import committing

FIRST_PASSWORD = "first brand new passphrase"
SECOND_PASSWORD = "second brand new passphrase"


def hold_before(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> threading.Barrier:
    """Make both threads wait in front of ``module.name`` until both have got there."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    original = getattr(module, name)

    def together(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, together)
    return barrier


def one_winner(results: list[Any], loser: type[Exception] | tuple[type[Exception], ...]) -> Any:
    winners = [r for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, loser)]
    assert len(winners) == 1 and len(losers) == 1, results
    return winners[0]


# --- single-use links -----------------------------------------------------------------------------


def test_a_reset_link_used_twice_at_once_sets_one_password(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session, make_environment(session), email="ada@example.com")
    accounts.request_password_reset(session, email="ada@example.com")
    raw = link_token(outbox(session, template="password_reset")[-1])
    hold_before(monkeypatch, one_time_tokens, "claim")

    def reset(password: str) -> Callable[[Session], Any]:
        return lambda own: accounts.reset_password(own, token=raw, password=password)

    results = run_together(engine, reset(FIRST_PASSWORD), reset(SECOND_PASSWORD))

    one_winner(results, InvalidToken)
    winning_password = FIRST_PASSWORD if not isinstance(results[0], Exception) else SECOND_PASSWORD
    session.expire_all()
    stored = session.get(User, user.id)
    assert security.verify_password(winning_password, stored.password_hash)
    assert len(activities(session, action="user.password_reset")) == 1
    assert len(outbox(session, template="password_changed")) == 1


def test_an_invitation_accepted_twice_at_once_is_accepted_once(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = make_admin(session, make_environment(session))
    invited = users.invite_user(session, actor=admin, email="cees@example.com", role=Role.USER.value).user
    raw = link_token(outbox(session, template="invitation")[-1])
    hold_before(monkeypatch, one_time_tokens, "claim")

    results = run_together(
        engine,
        lambda own: users.accept_invitation(own, token=raw, name="Cees", password=FIRST_PASSWORD),
        lambda own: users.accept_invitation(own, token=raw, name="Mallory", password=SECOND_PASSWORD),
    )

    winner = one_winner(results, InvalidToken)
    session.expire_all()
    stored = session.get(User, invited.id)  # type: ignore[union-attr]
    assert stored.name == winner.name and stored.status == UserStatus.ACTIVE.value
    assert len(activities(session, action="user.joined")) == 1


def test_a_confirmation_link_used_twice_at_once_confirms_once(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user(session, make_environment(session), email="ada@example.com", email_confirmed=False)
    with committing(session):
        user_emails.send_primary_confirmation(session, user=user)
    raw = link_token(outbox(session, template="account_confirmation")[-1])
    hold_before(monkeypatch, one_time_tokens, "claim")

    confirm: Callable[[Session], Any] = lambda own: user_emails.confirm_email(own, user=user, token=raw)  # noqa: E731
    results = run_together(engine, confirm, confirm)

    one_winner(results, InvalidToken)
    assert len(activities(session, action="user.email_confirmed")) == 1


# --- the last Administrator -----------------------------------------------------------------------


@pytest.fixture()
def two_administrators(session: Session) -> tuple[User, User]:
    environment = make_environment(session)
    return make_admin(session, environment, name="Ann"), make_admin(session, environment, name="Bob")


def active_administrators(session: Session, environment_id: int) -> list[str]:
    session.expire_all()
    statement = select(User.name).where(
        User.environment_id == environment_id,
        User.role == Role.ADMINISTRATOR.value,
        User.status == UserStatus.ACTIVE.value,
    )
    return list(session.exec(statement))


def test_two_administrators_blocking_each_other_at_once_leave_one(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch, two_administrators: tuple[User, User]
) -> None:
    ann, bob = two_administrators
    hold_before(monkeypatch, users, "_lock_environment")

    results = run_together(
        engine,
        lambda own: users.block_user(own, actor=ann, user_id=bob.id),  # type: ignore[arg-type]
        lambda own: users.block_user(own, actor=bob, user_id=ann.id),  # type: ignore[arg-type]
    )

    one_winner(results, (Conflict, PermissionDenied))
    assert len(active_administrators(session, ann.environment_id)) == 1


def test_two_administrators_demoting_each_other_at_once_leave_one(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch, two_administrators: tuple[User, User]
) -> None:
    ann, bob = two_administrators
    hold_before(monkeypatch, users, "_lock_environment")

    results = run_together(
        engine,
        lambda own: users.change_role(own, actor=ann, user_id=bob.id, role=Role.USER.value),  # type: ignore[arg-type]
        lambda own: users.change_role(own, actor=bob, user_id=ann.id, role=Role.USER.value),  # type: ignore[arg-type]
    )

    one_winner(results, (Conflict, PermissionDenied))
    assert len(active_administrators(session, ann.environment_id)) == 1


def test_a_demotion_and_a_block_at_once_leave_one(
    engine: Engine, session: Session, monkeypatch: pytest.MonkeyPatch, two_administrators: tuple[User, User]
) -> None:
    ann, bob = two_administrators
    hold_before(monkeypatch, users, "_lock_environment")

    results = run_together(
        engine,
        lambda own: users.change_role(own, actor=ann, user_id=ann.id, role=Role.USER.value),  # type: ignore[arg-type]
        lambda own: users.block_user(own, actor=ann, user_id=bob.id),  # type: ignore[arg-type]
    )

    one_winner(results, (Conflict, PermissionDenied))
    assert len(active_administrators(session, ann.environment_id)) == 1
