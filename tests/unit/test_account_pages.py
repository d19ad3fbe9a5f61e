"""The account pages' handlers on a real state tree and database (issue 8, points 1, 2 and 4):
sign-up answers the same for a free and a taken address and logs in only when the emailed link it
came from proves the address; opening a confirmation link uses nothing up, the owner's click does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import econnect_app.db as db_module
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    Environment,
    OneTimeToken,
    OutboxMessage,
    Plan,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.pages import confirm_email, signup
from econnect_app.pages.confirm_email import ConfirmEmailState
from econnect_app.pages.signup import SignupState
from econnect_app.security import new_token
from econnect_app.services import sessions, user_emails
from econnect_app.services.transaction import committing

PASSWORD = "correct horse battery staple"


@pytest.fixture()
def app_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The page handlers open their sessions on the test database."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    return engine


def state_at(state_class: type[rx.State], url: str) -> Any:
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(state_class.get_full_name().split("."))
    state.router = RouterData(url=ReflexURL("http://localhost:3000" + url))
    return state


def run(updates: AsyncIterator[Any]) -> list[Any]:
    async def collect() -> list[Any]:
        return [update async for update in updates]

    return asyncio.run(collect())


def sign_up_form(email: str) -> dict[str, str]:
    return {"name": "Kees Koren", "email": email, "password": PASSWORD, "company_name": "Korenbloem"}


def user_with(session: Session, address: str) -> User:
    session.expire_all()
    return session.exec(select(User).where(User.email == address)).one()


# --- sign-up --------------------------------------------------------------------------------------


def test_activation_token_in_a_next_path() -> None:
    assert signup.activation_token_in("/activate/abc_DEF-1") == "abc_DEF-1"
    assert signup.activation_token_in("/activate/abc?x=1") == "abc"
    assert signup.activation_token_in("/onboarding") == ""
    assert signup.activation_token_in("/organisations/5") == ""


def test_sign_up_answers_the_same_for_a_free_and_a_taken_address(app_db: Engine, session: Session) -> None:
    answers = []
    for _ in range(2):  # the second time the address is taken
        page = state_at(SignupState, "/signup")
        run(SignupState.event_handlers["create_account"].fn(page, sign_up_form("kees@example.com")))
        answers.append((page.sent_to, page.session_cookie, page.signed_in, page.field_errors))

    assert answers[0] == answers[1] == ("kees@example.com", "", False, {})
    assert [m.template for m in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))] == [
        "account_confirmation",
        "sign_up_attempt",
    ]


def test_sign_up_from_the_activation_link_logs_in_and_returns_to_the_request(app_db: Engine, session: Session) -> None:
    firm = Environment(name="Lovelace Accounting", plan=Plan.BASIC.value)
    session.add(firm)
    session.flush()
    accountant = User(environment_id=firm.id, email="ada@lovelace.example", role=Role.ADMINISTRATOR.value)
    package = SoftwarePackage(slug="exact", name="Exact Online", instructions="")
    session.add_all([accountant, package])
    session.flush()
    request = AuthorisationRequest(
        environment_id=firm.id,
        requested_by_id=accountant.id,
        client_name="Kees",
        client_email="kees@example.com",
        organisation_name="Korenbloem BV",
        software_package_id=package.id,
        expires_at=utcnow().replace(year=utcnow().year + 1),
    )
    session.add(request)
    session.flush()
    raw, token_hash = new_token()
    session.add(AuthorisationLink(request_id=request.id, token_hash=token_hash))
    session.commit()
    page = state_at(SignupState, f"/signup?next=%2Factivate%2F{raw}&email=kees%40example.com")

    updates = run(SignupState.event_handlers["create_account"].fn(page, sign_up_form("kees@example.com")))

    assert page.sent_to == "" and page.signed_in and page.session_cookie
    assert f"/activate/{raw}" in str(updates)
    assert user_with(session, "kees@example.com").email_confirmed_at is not None


# --- the confirmation page ------------------------------------------------------------------------


@pytest.fixture()
def unconfirmed(session: Session) -> tuple[User, str]:
    """A user whose primary address waits for confirmation, and the raw token of the emailed link."""
    environment = Environment(name="Korenbloem")
    session.add(environment)
    session.flush()
    user = User(environment_id=environment.id, name="Kees", email="kees@example.com", role=Role.ADMINISTRATOR.value)
    session.add(user)
    session.commit()
    with committing(session):
        user_emails.send_primary_confirmation(session, user=user)
    message = session.exec(select(OutboxMessage)).one()
    return user, message.text_body.split("/confirm-email/")[1].split()[0]


def test_opening_the_link_logged_out_uses_nothing_up_and_offers_to_log_in(
    app_db: Engine, session: Session, unconfirmed: tuple[User, str]
) -> None:
    user, raw = unconfirmed
    page = state_at(ConfirmEmailState, f"/confirm-email/{raw}")

    for _ in range(3):  # a mail scanner, opening the link again and again
        run(ConfirmEmailState.event_handlers["load"].fn(page))

    assert page.outcome == confirm_email.LOG_IN_FIRST and page.address == "kees@example.com"
    assert page.log_in_href == f"/login?next=%2Fconfirm-email%2F{raw}&email=kees%40example.com"
    assert user_with(session, "kees@example.com").email_confirmed_at is None
    assert session.exec(select(OneTimeToken)).one().used_at is None


def test_the_owner_confirms_with_a_click(app_db: Engine, session: Session, unconfirmed: tuple[User, str]) -> None:
    user, raw = unconfirmed
    page = state_at(ConfirmEmailState, f"/confirm-email/{raw}")
    page.session_cookie = sessions.start_session(session, user=user)

    run(ConfirmEmailState.event_handlers["load"].fn(page))
    assert page.outcome == confirm_email.READY
    assert user_with(session, "kees@example.com").email_confirmed_at is None

    run(ConfirmEmailState.event_handlers["confirm"].fn(page, None))

    assert page.outcome == confirm_email.CONFIRMED
    assert user_with(session, "kees@example.com").email_confirmed_at is not None


def test_someone_else_logged_in_confirms_nothing(app_db: Engine, session: Session, unconfirmed: tuple[User, str]) -> None:
    owner, raw = unconfirmed
    other = User(environment_id=owner.environment_id, email="other@example.com", role=Role.USER.value)
    session.add(other)
    session.commit()
    page = state_at(ConfirmEmailState, f"/confirm-email/{raw}")
    page.session_cookie = sessions.start_session(session, user=other)

    run(ConfirmEmailState.event_handlers["load"].fn(page))
    run(ConfirmEmailState.event_handlers["confirm"].fn(page, None))

    assert page.outcome == confirm_email.OTHER_ACCOUNT
    assert user_with(session, "kees@example.com").email_confirmed_at is None
