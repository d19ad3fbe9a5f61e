"""What the browser receives: no state var may hold a password, hash, token or secret.

Reflex sends every non-underscore var of every state to the browser, so this checks the names
and types of all public vars of the app's states. The one exception is the browser's own session
cookie, which the browser must hold to be logged in (only its hash is stored on the server).
"""

from __future__ import annotations

import re

import reflex as rx

import econnect_app.econnect_app  # noqa: F401  (imports every page and its state)

SECRET_NAME = re.compile(r"password|passwd|hash|token|secret|api_key", re.IGNORECASE)
ALLOWED = {"session_cookie"}


def _all_states(state: type[rx.State]) -> list[type[rx.State]]:
    found = [state]
    for sub in state.get_substates():
        found.extend(_all_states(sub))
    return found


def test_no_public_state_var_is_named_like_a_secret() -> None:
    offenders = []
    for state in _all_states(rx.State):
        if not state.__module__.startswith("econnect_app"):
            continue
        for name, var in state.base_vars.items():
            if var._var_type in (bool, int):  # flags and counters such as `changing_password`
                continue
            if name not in ALLOWED and SECRET_NAME.search(name):
                offenders.append(f"{state.__module__}.{state.__name__}.{name}")
    assert offenders == []


def test_the_session_cookie_is_the_only_client_storage() -> None:
    from econnect_app.state.auth import AuthState

    cookie_vars = [
        name
        for state in _all_states(rx.State)
        if state.__module__.startswith("econnect_app")
        for name, value in state.get_fields().items()
        if isinstance(value.default, rx.Cookie | rx.LocalStorage | rx.SessionStorage)
    ]
    assert set(cookie_vars) == {"session_cookie"}
    assert AuthState.get_fields()["session_cookie"].default.same_site == "strict"
