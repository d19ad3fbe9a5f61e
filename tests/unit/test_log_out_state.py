"""When a login ends (log-out, an expired or revoked session, a browser that no longer sends the
cookie), nothing of that user stays in the tab's state: every page state is back to its defaults,
so a rehydrated tab (Back, reload, reconnect) shows nothing of them. The session cookie is Secure
in production.

The handlers run on a real state tree with a real database, as Reflex drives them (their async
generators to the end).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
import reflex as rx
from reflex_base.event import Event
from reflex_base.utils.format import json_dumps
from sqlalchemy.engine import Engine
from sqlmodel import Session

import econnect_app.db as db_module
from econnect_app import security
from econnect_app.models import Environment, Organisation, Plan, Role, User, UserSession, utcnow
from econnect_app.pages.dashboard import DashboardState
from econnect_app.pages.login import LoginState
from econnect_app.pages.organisations import OrganisationsState
from econnect_app.services import sessions
from econnect_app.settings import get_settings
from econnect_app.state.auth import AuthState, session_cookie_options


def _run(state: rx.State, state_cls: type[AuthState], handler: str, *args: Any) -> str:
    """Run a handler to its end; the events the browser gets, as text."""

    async def run() -> list[Any]:
        result = state_cls.event_handlers[handler].fn(state, *args)
        return [update async for update in result]

    updates = asyncio.run(run())
    return " ".join(str(event) for update in updates if update for event in Event.from_event_type(update))


def _substate(root: rx.State, state_cls: type[rx.State]) -> Any:
    return root.get_substate(state_cls.get_full_name().split("."))


def _page_states(root: rx.State) -> dict[str, Any]:
    """Every page state's vars, as the browser would get them."""
    auth = _substate(root, AuthState)
    return {name: json.loads(json_dumps(state.dict())) for name, state in auth.substates.items()}


@pytest.fixture()
def tab(session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> rx.State:
    """A tab in which Ada (Administrator) is logged in and has opened her dashboard and organisations."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    environment = Environment(name="Lovelace Accounting", plan=Plan.BASIC.value)
    session.add(environment)
    session.commit()
    ada = User(environment_id=environment.id, name="Ada", email="ada@example.com", role=Role.ADMINISTRATOR.value)
    session.add(ada)
    session.add(Organisation(environment_id=environment.id, name="Secret Client BV", kvk_number="12345678", identifier="o-1"))
    session.commit()
    root = rx.State(_reflex_internal_init=True)
    _substate(root, AuthState).session_cookie = sessions.start_session(session, user=ada)
    _run(_substate(root, DashboardState), DashboardState, "load")
    _run(_substate(root, OrganisationsState), OrganisationsState, "load")
    assert [row.name for row in _substate(root, OrganisationsState).rows] == ["Secret Client BV"]
    assert _substate(root, DashboardState).own_organisations == 1
    return root


def _assert_nothing_of_the_user_is_left(root: rx.State) -> None:
    fresh = rx.State(_reflex_internal_init=True)
    assert _page_states(root) == _page_states(fresh)
    auth = _substate(root, AuthState)
    assert (auth.signed_in, auth.user_name, auth.user_email, auth.session_cookie) == (False, "", "", "")
    assert "Secret Client BV" not in json_dumps(root.dict())


def test_log_out_empties_every_page_state(tab: rx.State, session: Session) -> None:
    events = _run(_substate(tab, AuthState), AuthState, "log_out")

    assert "/login" in events
    _assert_nothing_of_the_user_is_left(tab)
    session.expire_all()
    assert session.get(UserSession, 1).revoked_at is not None  # type: ignore[union-attr]


def test_an_expired_session_empties_every_page_state_on_the_next_action(tab: rx.State, session: Session) -> None:
    user_session = session.get(UserSession, 1)
    assert user_session is not None
    user_session.last_seen_at = utcnow() - timedelta(days=1)  # idle for longer than the idle timeout
    session.commit()

    events = _run(_substate(tab, OrganisationsState), OrganisationsState, "load")

    assert "/login?next=" in events
    _assert_nothing_of_the_user_is_left(tab)


def test_a_browser_that_no_longer_sends_the_cookie_is_not_logged_in(tab: rx.State) -> None:
    """The hydrate event resets the cookie var to what the browser sends (here: nothing, the
    cookies were cleared); the rest of the tab's state still showed the user."""
    auth = _substate(tab, AuthState)
    auth.session_cookie = ""  # what Reflex's hydrate_and_load leaves when the browser sent no cookie
    assert auth.signed_in

    events = _run(auth, AuthState, "redirect_if_signed_in")  # the log-in page's on_load

    assert "/dashboard" not in events
    _assert_nothing_of_the_user_is_left(tab)


def test_logging_in_as_someone_else_starts_with_empty_pages(tab: rx.State, session: Session) -> None:
    bob = User(
        environment_id=1,
        name="Bob",
        email="bob@example.com",
        role=Role.USER.value,
        password_hash=security.hash_password("correct horse battery staple"),
    )
    session.add(bob)
    session.commit()
    login = _substate(tab, LoginState)
    _substate(tab, AuthState).session_cookie = ""  # Ada's cookie is gone; her pages are still in state

    events = _run(login, LoginState, "log_in", {"email": "bob@example.com", "password": "correct horse battery staple"})

    assert "/dashboard" in events
    auth = _substate(tab, AuthState)
    assert (auth.signed_in, auth.user_email) == (True, "bob@example.com")
    assert "Secret Client BV" not in json_dumps(tab.dict())


def test_the_session_cookie_is_secure_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cookie's options are compiled into the frontend from the settings of the mode it is built in."""
    development = AuthState.get_fields()["session_cookie"].default
    assert (development.name, development.same_site, development.secure) == ("econnect_session", "strict", False)
    monkeypatch.setenv("REFLEX_ENV_MODE", "prod")
    get_settings.cache_clear()
    try:
        production = session_cookie_options()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert (production["secure"], production["same_site"]) == (True, "strict")
