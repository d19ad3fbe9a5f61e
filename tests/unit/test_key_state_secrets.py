"""The key Secret reaches the browser once, as a one-time event, and never through state; no
stored hash ever reaches it.

Runs the /keys page's real handlers on a real state tree (with a real session and database) and
inspects what Reflex sends: the whole serialized state (`State.dict()`, what a page load or reload
hydrates), the delta after each handler (`get_delta()`, pushed over the websocket) and the events
the handlers return (serialized as `Event`s, as they travel to the browser).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import reflex as rx
from reflex_base.event import Event
from reflex_base.utils.format import json_dumps
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import econnect_app.db as db_module
from econnect_app import security
from econnect_app.models import Environment, KeySet, Role, User, UserSession
from econnect_app.pages.keys import KeysState
from econnect_app.services import sessions
from econnect_app.state.auth import ACTION_ID_FIELD

SECRET_PATTERN = re.compile(r"sk_[A-Za-z0-9_\-]{40,}")


@pytest.fixture()
def app_db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The page handlers open their sessions on the test database."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    return engine


def _signed_in_state(
    session: Session, *, role: str = Role.ADMINISTRATOR.value
) -> tuple[rx.State, KeysState, str]:
    environment = Environment(name="Firm")
    session.add(environment)
    session.commit()
    user = User(
        environment_id=environment.id,
        name="Ada",
        email="ada@example.com",
        role=role,
        password_hash=security.hash_password("correct horse battery staple"),
    )
    session.add(user)
    session.commit()
    token = sessions.start_session(session, user=user)
    root = rx.State(_reflex_internal_init=True)
    keys_state = root.get_substate(KeysState.get_full_name().split("."))
    assert isinstance(keys_state, KeysState)
    keys_state.session_cookie = token
    return root, keys_state, token


async def _produced(result: Any) -> list[Any]:
    if isinstance(result, AsyncIterator):
        return [item async for item in result]
    return list(result) if isinstance(result, Iterator) else [result]


def _run(state: KeysState, handler: str, *args: Any) -> str:
    """Run an event handler as Reflex does (generators to the end); the events it sends to the
    browser, serialized."""
    produced = asyncio.run(_produced(KeysState.event_handlers[handler].fn(state, *args)))
    events: list[Any] = []
    for item in produced:
        events.extend(Event.from_event_type(item))
    return json_dumps([str(event) for event in events])


def _sent_state(root: rx.State) -> tuple[str, str]:
    """(the delta of the last handler, the whole state) as JSON text, as the browser gets them."""
    delta = json_dumps(root.get_delta())
    root._clean()
    return delta, json_dumps(root.dict())


def _create(state: KeysState, name: str = "Default") -> str:
    """Submit the Create key set form."""
    return _run(
        state,
        "create_key_set",
        {ACTION_ID_FIELD: f"KeysState.create_key_set:{state.action_id}", "name": name},
    )


def _stored_secrets(session: Session) -> list[str]:
    """Every hash the database holds: none may ever reach the browser."""
    session.expire_all()
    hashes = [row.secret_hash for row in session.exec(select(KeySet))]
    hashes += [row.previous_secret_hash or "" for row in session.exec(select(KeySet))]
    hashes += [row.token_hash for row in session.exec(select(UserSession))]
    hashes += [row.password_hash or "" for row in session.exec(select(User))]
    return [value for value in hashes if value]


def _assert_no_stored_secret_in(session: Session, *texts: str) -> None:
    for stored in _stored_secrets(session):
        for text in texts:
            assert stored not in text


def test_the_secret_travels_once_as_an_event_never_in_state(session: Session, app_db: Engine) -> None:
    root, keys_state, token = _signed_in_state(session)
    _run(keys_state, "load")
    _sent_state(root)

    events = _create(keys_state)
    delta, whole = _sent_state(root)

    key_set = session.exec(select(KeySet)).one()
    shown = SECRET_PATTERN.findall(events)
    assert len(shown) == 1, "the Secret is sent exactly once"
    secret = shown[0]
    assert security.hash_token(secret) == key_set.secret_hash
    # Not in any state: a reload (which re-sends the whole state) cannot show it again.
    assert secret not in delta and secret not in whole
    assert not SECRET_PATTERN.search(whole)
    assert key_set.app_key in whole  # the App key is not secret: it is shown
    _assert_no_stored_secret_in(session, events, delta, whole)

    # Loading the page again clears the browser's copy and sends nothing secret.
    events = _run(keys_state, "load")
    delta, whole = _sent_state(root)
    assert not SECRET_PATTERN.search(events + delta + whole)
    assert "new_key_secret" in events  # the push that empties the one-time display
    assert "new_key_secret_key_set" in events
    _assert_no_stored_secret_in(session, events, delta, whole)
    # The only credential in state is the browser's own session cookie (the server keeps its hash).
    assert token in whole


def test_rotate_sends_only_the_new_secret(session: Session, app_db: Engine) -> None:
    root, keys_state, _ = _signed_in_state(session)
    first = SECRET_PATTERN.findall(_create(keys_state))
    _run(keys_state, "load")
    _sent_state(root)
    key_set = session.exec(select(KeySet)).one()

    events = _run(keys_state, "rotate_secret", key_set.id)
    delta, whole = _sent_state(root)

    second = SECRET_PATTERN.findall(events)
    assert len(first) == len(second) == 1 and first != second
    session.expire_all()
    assert security.hash_token(second[0]) == session.exec(select(KeySet)).one().secret_hash
    assert not SECRET_PATTERN.search(delta + whole)
    _assert_no_stored_secret_in(session, events, delta, whole)
    # The page shows until when the previous Secret works, not the Secret itself.
    [card] = keys_state.key_sets
    assert card.previous_works_until and card.previous_works_until in whole


def test_each_key_set_gets_its_own_region_and_the_secret_names_its_set(
    session: Session, app_db: Engine
) -> None:
    root, keys_state, _ = _signed_in_state(session)
    _create(keys_state)
    events = _create(keys_state, "Branch office")
    delta, whole = _sent_state(root)

    branch = session.exec(select(KeySet).where(KeySet.name == "Branch office")).one()
    assert [card.name for card in keys_state.key_sets] == ["Default", "Branch office"]
    # The one-time display names the set the Secret belongs to (pushed with the Secret).
    assert re.search(rf"_client_state_new_key_secret_key_set.{{0,40}}= pushed; }}\)\)\({branch.id}\)", events)
    assert len(SECRET_PATTERN.findall(events)) == 1
    _assert_no_stored_secret_in(session, events, delta, whole)


def test_a_refused_name_sends_no_secret_and_says_why(session: Session, app_db: Engine) -> None:
    root, keys_state, _ = _signed_in_state(session)
    _create(keys_state)
    _sent_state(root)

    events = _create(keys_state, "default")
    delta, whole = _sent_state(root)

    assert not SECRET_PATTERN.search(events + delta + whole)
    assert keys_state.field_errors == {
        "name": "A key set named \u201cdefault\u201d already exists. Choose another name."
    }
    assert len(session.exec(select(KeySet)).all()) == 1


@pytest.mark.parametrize("key_set_id", [-1, 0, 10**20, 999_999, "abc", None, {"id": 1}])
def test_a_rotate_of_an_unknown_key_set_answers_with_a_message(
    session: Session, app_db: Engine, key_set_id: object
) -> None:
    _, keys_state, _ = _signed_in_state(session)
    _create(keys_state)
    events = _run(keys_state, "rotate_secret", key_set_id)
    assert '\\"error\\"' in events  # an error toast, no server exception
    if isinstance(key_set_id, int) and abs(key_set_id) < 2**31:  # others: refused before the handler
        assert "This key set no longer exists" in events
    assert not SECRET_PATTERN.search(events)


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.USER.value])
def test_non_administrators_never_get_a_secret(session: Session, app_db: Engine, role: str) -> None:
    root, keys_state, _ = _signed_in_state(session, role=role)
    _run(keys_state, "load")
    events = _create(keys_state)
    delta, whole = _sent_state(root)
    assert session.exec(select(KeySet)).first() is None
    assert not SECRET_PATTERN.search(events + delta + whole)
    assert keys_state.denied is (role == Role.USER.value)


def test_no_state_var_of_the_keys_page_can_hold_a_secret() -> None:
    public = set(KeysState.base_vars) - set(rx.State.base_vars)
    assert not [name for name in public if re.search(r"secret|hash|token|password", name, re.I)]
