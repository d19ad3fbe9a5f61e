"""Schemathesis fuzzes every operation of the OpenAPI document the API serves (so every future
endpoint too), without keys and with valid keys, through the backend as deployed (the edge in
front of Reflex's routing): every answer is JSON, of a documented status with the documented
headers and body, and never a server error. Bounded in examples so it runs in seconds.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from limits.storage import MemoryStorage
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.types import ASGIApp

from econnect_app import security
from econnect_app.api import create_api_app
from econnect_app.api.openapi import OPENAPI_PATH
from econnect_app.api.rate_limit import KeySetRateLimit
from econnect_app.edge import http_edge
from econnect_app.models import Environment, Organisation, Plan, Role, User, utcnow
from econnect_app.security_headers import header_policy
from econnect_app.services import keys

EXAMPLES_PER_OPERATION = 40  # per generation mode
# Valid requests, and requests that break the document (identifiers of the wrong form, ...).
GENERATION_MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)


async def _reflex_stand_in(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"reflex backend"})


@pytest.fixture()
def backend(engine: Engine) -> ASGIApp:
    """The edge (API first, security headers) around a stand-in for Reflex's routing."""
    reflex_routing = Starlette()
    reflex_routing.mount("", _reflex_stand_in)
    api = create_api_app(
        engine_factory=lambda: engine, rate_limit=lambda: KeySetRateLimit("100000/minute", MemoryStorage())
    )
    policy = header_policy(public_url="https://econnect.example.com", backend_url="", static_dir=None)
    return http_edge(reflex_routing, api=api, policy=policy)


@pytest.fixture()
def app_key_and_secret(session: Session) -> Iterator[tuple[str, str]]:
    """Keys of a firm with one activated organisation of its own."""
    firm = Environment(name="Firm", plan=Plan.BASIC.value)
    session.add(firm)
    session.commit()
    admin = User(environment_id=firm.id, name="Ada", email="ada@example.com", role=Role.ADMINISTRATOR.value)
    organisation = Organisation(
        environment_id=firm.id,
        name="Firm BV",
        kvk_number="12345678",
        identifier=security.new_public_identifier(),
        activated_at=utcnow(),
    )
    session.add_all([admin, organisation])
    session.commit()
    key_set, secret = keys.create_key_set(session, actor=admin)
    yield key_set.app_key, secret


def _fuzz_every_operation(app: ASGIApp, authorization: str | None) -> int:
    """Run schemathesis' checks on every operation of the served document, with this
    ``Authorization`` header (None: the credentials schemathesis makes up, or none); the number
    of operations fuzzed."""
    schema = schemathesis.openapi.from_asgi(OPENAPI_PATH, app)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GENERATION_MODES):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            if authorization is not None:
                case.headers = {**(case.headers or {}), "Authorization": authorization}
            response = case.call_and_validate()
            assert response.headers["content-type"][0].startswith("application/json"), response.text

        check()
        _try_hostile_path_values(operation, authorization)
    return len(operations)


# Path values found by hand to break HTTP stacks: a newline (Reflex's routing answered it with a
# plain-text 404), a NUL (PostgreSQL refuses it in a query), encoded slashes, dots, non-ASCII.
HOSTILE_PATH_VALUES = ("abc\ndef", "\n", "abc\r\n", "a\x00b", "a/b", "..", "%", "caf\u00e9", " ", "x" * 300)


def _try_hostile_path_values(operation: schemathesis.APIOperation, authorization: str | None) -> None:
    """Every path parameter of ``operation`` set to each hostile value: still a documented JSON answer."""
    names = [parameter.name for parameter in operation.path_parameters]
    for value in HOSTILE_PATH_VALUES if names else ():
        headers = {"Authorization": authorization} if authorization else {}
        encoded = quote(value, safe="")  # sent as written: the case does not encode it
        case = operation.Case(path_parameters=dict.fromkeys(names, encoded), headers=headers)
        response = case.call_and_validate()
        assert response.headers["content-type"][0].startswith("application/json"), (value, response.text)


def test_fuzzing_without_valid_keys(backend: ASGIApp) -> None:
    assert _fuzz_every_operation(backend, authorization=None) >= 1


def test_fuzzing_with_valid_keys(backend: ASGIApp, app_key_and_secret: tuple[str, str]) -> None:
    app_key, secret = app_key_and_secret
    basic = "Basic " + base64.b64encode(f"{app_key}:{secret}".encode()).decode()
    assert _fuzz_every_operation(backend, authorization=basic) >= 1
