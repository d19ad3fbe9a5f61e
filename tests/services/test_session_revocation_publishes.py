"""A revoked login session (log-out, password change, block) publishes its user's environment, so the
user's open tabs elsewhere leave at once (state/live.py); starting or using a session publishes
nothing (services/effects.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import make_admin, make_environment, make_user
from sqlmodel import Session

from econnect_app import live
from econnect_app.models import UserSession, utcnow
from econnect_app.services import sessions


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def test_logging_out_publishes_the_users_environment(session: Session, published: list[int]) -> None:
    firm = make_environment(session, name="Firm")
    ada = make_admin(session, firm)
    published.clear()
    token = sessions.start_session(session, user=ada)
    assert published == []  # starting a session shows on nobody's page

    sessions.log_out(session, token=token)

    assert published == [firm.id]


def test_revoking_every_session_of_a_user_publishes_their_environment(session: Session, published: list[int]) -> None:
    firm = make_environment(session, name="Firm")
    ada = make_user(session, firm)
    sessions.start_session(session, user=ada)
    sessions.start_session(session, user=ada)
    published.clear()

    sessions.revoke_all_sessions(session, user=ada)  # what a password change or reset does
    session.commit()

    assert published == [firm.id]


def test_using_a_session_publishes_nothing(session: Session, published: list[int]) -> None:
    ada = make_user(session, make_environment(session, name="Firm"))
    token = sessions.start_session(session, user=ada)
    user_session = session.get(UserSession, 1)
    assert user_session is not None
    user_session.last_seen_at = utcnow() - timedelta(minutes=5)
    session.commit()
    published.clear()

    assert sessions.authenticate(session, token=token) is not None  # writes last_seen_at

    assert published == []
