"""A client may send any event with any payload: a payload that does not fit the handler's type hints
gets a clear message and changes nothing, without a server exception (state/payloads.py).

The events go through Reflex's own event processing (``process_event``: the payload converted by
the type hints as Reflex does, then the handler run to its end, its updates chained), on a real
state tree with a real database, with an event context that records what the browser would get.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import reflex as rx
from reflex_base.event import Event
from reflex_base.event.context import EventContext
from reflex_base.event.processor.base_state_processor import process_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import econnect_app.db as db_module
from econnect_app.models import AuthorisationRequest, Environment, Organisation, Plan, Role, User
from econnect_app.pages.authorisations import AuthorisationsState
from econnect_app.pages.new_authorisation import NewAuthorisationState
from econnect_app.pages.organisations import OrganisationsState
from econnect_app.services import sessions
from econnect_app.state.auth import ACTION_ID_FIELD, AuthState
from econnect_app.state.payloads import INT_MAX, REFUSED_MESSAGE, conforms


@dataclasses.dataclass
class Browser:
    """What the browser receives while an event is processed."""

    events: list[Event] = dataclasses.field(default_factory=list)
    deltas: list[Any] = dataclasses.field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(str(event) for event in self.events)


async def _emit_event(browser: Browser, _token: str, *events: Event) -> None:
    browser.events.extend(events)


async def _emit_delta(browser: Browser, _token: str, delta: Any) -> None:
    browser.deltas.append(delta)


async def _enqueue(browser: Browser, _token: str, *events: Event) -> None:
    browser.events.extend(events)


def send(root: rx.State, state_cls: type[AuthState], handler: str, payload: dict[str, Any]) -> Browser:
    """Process one event as Reflex does; what the browser gets (a server exception would raise)."""
    browser = Browser()
    context = EventContext(
        token="tab",
        state_manager=None,  # type: ignore[arg-type]
        enqueue_impl=lambda token, *events: _enqueue(browser, token, *events),
        emit_event_impl=lambda token, *events: _emit_event(browser, token, *events),
        emit_delta_impl=lambda token, delta: _emit_delta(browser, token, delta),
    )
    state = root.get_substate(state_cls.get_full_name().split("."))

    async def run() -> None:
        token = EventContext.set(context)
        try:
            await process_event(state_cls.event_handlers[handler], payload, state, root)
        finally:
            EventContext.reset(token)

    asyncio.run(run())
    return browser


@pytest.fixture()
def root(session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> rx.State:
    """The state tree of a tab whose administrator is logged in (Basic plan), on the test database."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    environment = Environment(name="Firm", plan=Plan.BASIC.value)
    session.add(environment)
    session.commit()
    user = User(environment_id=environment.id, name="Ada", email="ada@example.com", role=Role.ADMINISTRATOR.value)
    session.add(user)
    session.commit()
    root = rx.State(_reflex_internal_init=True)
    auth = root.get_substate(AuthState.get_full_name().split("."))
    auth.session_cookie = sessions.start_session(session, user=user)
    return root


def _organisation(session: Session) -> Organisation:
    environment = session.exec(select(Environment)).one()
    organisation = Organisation(environment_id=environment.id, name="Kok BV", kvk_number="12345678", identifier="o-1")
    session.add(organisation)
    session.commit()
    return organisation


@pytest.mark.parametrize(
    ("state_cls", "handler", "payload"),
    [
        (AuthorisationsState, "resend", {"request_id": "abc"}),
        (AuthorisationsState, "resend", {"request_id": 10**30}),  # no database integer
        (AuthorisationsState, "resend", {"request_id": True}),
        (AuthorisationsState, "resend", {"request_id": 1, "action_id": ["x"]}),
        (AuthorisationsState, "resend", {}),  # a required argument missing
        (AuthorisationsState, "resend", {"request_id": 1, "surprise": 1}),  # an unknown argument
        (OrganisationsState, "activate", {"organisation_id": {"x": 1}}),
        (OrganisationsState, "activate", {"organisation_id": [1]}),
        (OrganisationsState, "add_organisation", {"form": "name=Evil"}),
        (OrganisationsState, "add_organisation", {"form": {"name": ["Evil", "BV"], "kvk_number": "12345678"}}),
        (OrganisationsState, "add_organisation", {"form": {"name": {"nested": 1}}}),
        (NewAuthorisationState, "send_request", {"form": {"client_name": ["Piet"], "client_email": "p@example.com"}}),
        (NewAuthorisationState, "preview_csv", {"chunks": "abc"}),
        (AuthState, "log_out", {"extra": 1}),
    ],
)
def test_a_payload_that_does_not_fit_gets_a_message_and_changes_nothing(
    root: rx.State, session: Session, state_cls: type[AuthState], handler: str, payload: dict[str, Any]
) -> None:
    browser = send(root, state_cls, handler, payload)

    assert REFUSED_MESSAGE in browser.text
    session.expire_all()
    assert session.exec(select(Organisation)).all() == []
    assert session.exec(select(AuthorisationRequest)).all() == []
    auth = root.get_substate(AuthState.get_full_name().split("."))
    assert auth.session_cookie  # log_out with a bad payload did not log out either


def test_a_payload_that_fits_is_handled_as_before(root: rx.State, session: Session) -> None:
    organisation = _organisation(session)
    page = root.get_substate(OrganisationsState.get_full_name().split("."))

    # Reflex turns the numeric string the browser sends into the int the handler declares.
    browser = send(root, OrganisationsState, "activate", {"organisation_id": str(organisation.id)})

    assert REFUSED_MESSAGE not in browser.text
    session.expire_all()
    assert session.get(Organisation, organisation.id).activated_at is not None  # type: ignore[union-attr]
    form = {ACTION_ID_FIELD: f"OrganisationsState.add_organisation:{page.action_id}", "name": "Vos BV"}
    browser = send(root, OrganisationsState, "add_organisation", {"form": {**form, "kvk_number": "87654321"}})
    assert "Vos BV was added" in browser.text


@pytest.mark.parametrize(
    ("value", "hint", "fits"),
    [
        (1, int, True),
        (True, int, False),
        (INT_MAX + 1, int, False),
        (1, float, True),
        ("1", int, False),
        (None, str | None, True),
        ("a", str | None, True),
        (1, str | None, False),
        ({"a": "b", "c": True}, dict[str, Any], True),
        ({"a": ["b"]}, dict[str, Any], False),
        ({1: "b"}, dict[str, Any], False),
        ({"a": 1}, dict[str, int], True),
        ({"a": "1"}, dict[str, int], False),
        ([1, 2], list[int], True),
        ([1, "2"], list[int], False),
        ("ab", list[str], False),
        ((1, "a"), tuple[int, str], True),
        ((1, 2), tuple[int, str], False),
    ],
)
def test_values_are_compared_with_their_type_hints(value: Any, hint: Any, fits: bool) -> None:
    assert conforms(value, hint) is fits
