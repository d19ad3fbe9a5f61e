"""The HTTP API over real HTTP: granian serves the backend as deployed (`edge.http_edge` around a
stand-in for Reflex's own routing) on 127.0.0.1, httpx calls it with connection keys as HTTP Basic
credentials, the data lives in a fresh database."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from granian.constants import Interfaces
from granian.server.embed import Server
from limits.storage import MemoryStorage
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from econnect_app import security
from econnect_app.api import create_api_app
from econnect_app.api.rate_limit import KeySetRateLimit, limits_storage
from econnect_app.edge import http_edge
from econnect_app.models import (
    Environment,
    Membership,
    Organisation,
    Partnership,
    PartnershipStatus,
    Plan,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.security_headers import LOCKED_DOWN_CSP, header_policy
from econnect_app.services import keys

_numbers = itertools.count(1)


# --- the server -----------------------------------------------------------------------------------


async def reflex_stand_in(scope: Scope, receive: Receive, send: Send) -> None:
    """What Reflex would answer: anything that is not the API ends up here."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"reflex backend"})


def reflex_routing() -> Starlette:
    """Like Reflex's top ASGI app: a Starlette app mounting everything at "" (whose routing answers a
    path with a newline in it with a plain-text 404)."""
    top = Starlette()
    top.mount("", reflex_stand_in)
    return top


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """``app`` served by granian on 127.0.0.1 for the block; yields its base URL."""
    port = _free_port()
    server = Server(app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False)
    listening = threading.Event()
    server.on_startup(listening.set)  # called once the socket is bound and listening
    loop = asyncio.new_event_loop()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve())
        except BaseException as error:  # noqa: BLE001 (reported to the test below)
            failure.append(error)
            listening.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="granian-api", daemon=True)
    thread.start()
    assert listening.wait(30), "granian did not start"
    assert not failure, failure
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(server.stop)
        thread.join(30)
        assert not thread.is_alive(), "granian did not stop"


PUBLIC_URL = "https://econnect.example.com"


def backend(
    engine: Engine, rate_limit: str = "1000/minute", storage: Callable[[], object] = MemoryStorage
) -> ASGIApp:
    """The backend as deployed: the edge (API first, security headers) around Reflex's routing."""
    api = create_api_app(
        engine_factory=lambda: engine,
        rate_limit=lambda: KeySetRateLimit(rate_limit, storage()),  # type: ignore[arg-type]
    )
    policy = header_policy(public_url=PUBLIC_URL, backend_url=PUBLIC_URL, static_dir=None)
    return http_edge(reflex_routing(), api=api, policy=policy)


@pytest.fixture()
def base_url(engine: Engine) -> Iterator[str]:
    """The backend over real HTTP."""
    with serving(backend(engine)) as url:
        yield url


@pytest.fixture()
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


# --- the data -------------------------------------------------------------------------------------


@dataclass
class World:
    """An accountant firm with keys, a client reached through a partnership, and a stranger."""

    firm: Environment
    admin: User
    key_set_id: int
    app_key: str
    secret: str
    own_organisation: Organisation
    client_organisation: Organisation
    partnership: Partnership
    membership: Membership
    stranger_organisation: Organisation


def _environment(session: Session, name: str) -> Environment:
    environment = Environment(name=name, plan=Plan.BASIC.value)
    session.add(environment)
    session.commit()
    return environment


def _user(session: Session, environment: Environment, role: str) -> User:
    user = User(
        environment_id=environment.id, name="Ada", email=f"user{next(_numbers)}@example.com", role=role
    )
    session.add(user)
    session.commit()
    return user


def _organisation(session: Session, environment: Environment, name: str, **fields: object) -> Organisation:
    organisation = Organisation(
        environment_id=environment.id,
        name=name,
        kvk_number=f"{next(_numbers):08d}",
        identifier=security.new_public_identifier(),
        **{"activated_at": utcnow(), **fields},
    )
    session.add(organisation)
    session.commit()
    return organisation


@pytest.fixture()
def world(session: Session) -> World:
    firm = _environment(session, "Firm Accountants")
    admin = _user(session, firm, Role.ADMINISTRATOR.value)
    own = _organisation(session, firm, "Firm BV")
    client_env = _environment(session, "Bakker Holding")
    _user(session, client_env, Role.ADMINISTRATOR.value)
    package = SoftwarePackage(slug="twinfield", name="Twinfield", instructions="Open Twinfield.")
    session.add(package)
    session.commit()
    client_org = _organisation(
        session,
        client_env,
        "Bakkerij De Korenbloem",
        vat_number="NL123456782B01",
        software_package_id=package.id,
    )
    low, high = sorted((firm.id, client_env.id))
    partnership = Partnership(
        environment_low_id=low, environment_high_id=high, initiator_environment_id=firm.id
    )
    membership = Membership(organisation_id=client_org.id, user_id=admin.id)
    session.add_all([partnership, membership])
    session.commit()
    stranger = _organisation(session, _environment(session, "Stranger BV"), "Stranger Trading")
    key_set, secret = keys.create_key_set(session, actor=admin)
    return World(
        firm=firm,
        admin=admin,
        key_set_id=key_set.id,
        app_key=key_set.app_key,
        secret=secret,
        own_organisation=own,
        client_organisation=client_org,
        partnership=partnership,
        membership=membership,
        stranger_organisation=stranger,
    )


def organisation_path(organisation: Organisation | str) -> str:
    identifier = organisation if isinstance(organisation, str) else organisation.identifier
    return f"/api/v1/organisations/{identifier}"


def assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]


def assert_unauthorised(response: httpx.Response) -> None:
    assert_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Basic ")


# --- 200 ------------------------------------------------------------------------------------------


def test_the_right_keys_get_the_client_organisation(client: httpx.Client, world: World) -> None:
    response = client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "identifier": world.client_organisation.identifier,
        "name": "Bakkerij De Korenbloem",
        "kvk_number": world.client_organisation.kvk_number,
        "vat_number": "NL123456782B01",
        "software_package": "Twinfield",
    }
    assert response.headers["cache-control"] == "no-store"


def test_the_keys_reach_the_environments_own_organisation(client: httpx.Client, world: World) -> None:
    response = client.get(organisation_path(world.own_organisation), auth=(world.app_key, world.secret))
    assert response.status_code == 200, response.text
    assert response.json()["software_package"] is None
    assert response.json()["vat_number"] is None


# --- 401 ------------------------------------------------------------------------------------------


def test_no_credentials_401(client: httpx.Client, world: World) -> None:
    assert_unauthorised(client.get(organisation_path(world.client_organisation)))


def test_wrong_secret_401(client: httpx.Client, world: World) -> None:
    assert_unauthorised(
        client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret + "x"))
    )


def test_unknown_app_key_401(client: httpx.Client, world: World) -> None:
    assert_unauthorised(
        client.get(organisation_path(world.client_organisation), auth=("ak_unknown", world.secret))
    )


@pytest.mark.parametrize(
    "header",
    [
        b"Bearer abc",
        b"Basic",
        b"Basic not-base64!!",
        b"Basic dXNlcm9ubHk=",  # user only
        b"Basic OnNlY3JldA==",  # empty user
        "Basic äöü".encode("latin-1"),  # non-ASCII bytes in the header
        "Basic ääää".encode(),
        b"Basic \xff\xfe",
        b"Basic //79/Q==",  # base64 of bytes that are not UTF-8
        b"Basic " + __import__("base64").b64encode("ak_ä:sk_ö".encode("latin-1")),
    ],
)
def test_malformed_credentials_401(client: httpx.Client, world: World, header: bytes) -> None:
    path = organisation_path(world.client_organisation)
    assert_unauthorised(client.get(path, headers=[(b"Authorization", header)]))


# --- rotation with a grace period, revocation ----------------------------------------------------


def test_the_old_secret_keeps_working_after_rotation_until_revoke_now(
    client: httpx.Client, world: World, session: Session
) -> None:
    path, old = organisation_path(world.client_organisation), (world.app_key, world.secret)
    _, new_secret = keys.rotate_secret(session, actor=world.admin, key_set_id=world.key_set_id)

    assert client.get(path, auth=old).status_code == 200  # software not yet updated: no outage
    assert client.get(path, auth=(world.app_key, new_secret)).status_code == 200

    keys.revoke_previous_secret(session, actor=world.admin, key_set_id=world.key_set_id)
    assert_unauthorised(client.get(path, auth=old))
    assert client.get(path, auth=(world.app_key, new_secret)).status_code == 200


def test_the_old_secret_fails_once_its_grace_period_is_over(
    client: httpx.Client, world: World, session: Session
) -> None:
    keys.rotate_secret(
        session, actor=world.admin, key_set_id=world.key_set_id, now=utcnow() - timedelta(hours=25)
    )
    assert_unauthorised(
        client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret))
    )


def test_a_revoked_key_set_fails_at_once_and_other_sets_keep_working(
    client: httpx.Client, world: World, session: Session
) -> None:
    other, other_secret = keys.create_key_set(session, actor=world.admin, name="Branch office")
    path = organisation_path(world.client_organisation)

    keys.revoke_key_set(session, actor=world.admin, key_set_id=world.key_set_id)

    assert_unauthorised(client.get(path, auth=(world.app_key, world.secret)))
    assert client.get(path, auth=(other.app_key, other_secret)).status_code == 200


# --- what a caller without access learns ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organisations/no-such-organisation",
        "/api/v1/organisations/abc%0Adef",  # an encoded newline (Reflex's routing answered plain text)
        "/api/v1/organisations/%0Aabc",
        "/api/v1/organisations/abc%00def",
        "/api/v1/organisations/x/",
        "/api/v1/organisations/",
        "/api/v1/nothing-here",
        "/api/v1",
        "/api/v1/",
    ],
)
def test_401_comes_first_on_every_api_path_in_json(client: httpx.Client, world: World, path: str) -> None:
    answer = client.get(path)
    assert_unauthorised(answer)
    assert answer.json() == client.get(organisation_path(world.stranger_organisation)).json()
    assert_unauthorised(client.post(path))


def test_keys_are_checked_before_the_identifier_then_404_before_403(
    client: httpx.Client, world: World
) -> None:
    """SPEC: 401 without valid keys (whatever the path), 404 for an identifier no organisation has,
    403 for one the keys do not reach; neither names the organisation."""
    auth = (world.app_key, world.secret)
    unknown = security.new_public_identifier()
    assert_error(client.get(organisation_path(unknown)), 401)
    assert_error(client.get(organisation_path(world.stranger_organisation)), 401)
    existing = client.get(organisation_path(world.stranger_organisation), auth=auth)
    missing = client.get(organisation_path(unknown), auth=auth)
    assert_error(existing, 403)
    assert_error(missing, 404)
    assert "Stranger" not in existing.text


@pytest.mark.parametrize(
    "identifier", ["abc%0Adef", "abc%0A", "%0D%0Aabc", "abc%00def", "a%20b", "caf%C3%A9", "x" * 65, "a.b"]
)
def test_a_path_that_names_no_possible_organisation_is_a_json_404(
    client: httpx.Client, world: World, identifier: str
) -> None:
    answer = client.get(organisation_path(identifier), auth=(world.app_key, world.secret))
    assert_error(answer, 404)
    assert "not an organisation identifier" in answer.json()["error"]


def test_a_trailing_slash_is_a_json_404_never_a_redirect_to_the_host_header(
    client: httpx.Client, world: World
) -> None:
    answer = client.get(
        organisation_path(world.client_organisation) + "/",
        auth=(world.app_key, world.secret),
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert_error(answer, 404)
    assert "location" not in answer.headers
    assert "remove it" in answer.json()["error"]


# --- 403 ------------------------------------------------------------------------------------------


def test_an_organisation_of_another_environment_403(client: httpx.Client, world: World) -> None:
    response = client.get(organisation_path(world.stranger_organisation), auth=(world.app_key, world.secret))
    assert_error(response, 403)
    assert "Stranger" not in response.text


def test_403_once_the_partnership_ends(client: httpx.Client, world: World, session: Session) -> None:
    path, auth = organisation_path(world.client_organisation), (world.app_key, world.secret)
    assert client.get(path, auth=auth).status_code == 200
    world.partnership.status = PartnershipStatus.ENDED.value
    world.partnership.ended_at = utcnow()
    session.add(world.partnership)
    session.commit()
    assert_error(client.get(path, auth=auth), 403)


def test_403_once_the_membership_is_removed(client: httpx.Client, world: World, session: Session) -> None:
    path, auth = organisation_path(world.client_organisation), (world.app_key, world.secret)
    assert client.get(path, auth=auth).status_code == 200
    world.membership.status = "Ended"
    session.add(world.membership)
    session.commit()
    assert_error(client.get(path, auth=auth), 403)


def test_403_for_an_organisation_that_is_not_activated(
    client: httpx.Client, world: World, session: Session
) -> None:
    not_activated = _organisation(session, world.firm, "Not yet BV", activated_at=None)
    assert_error(client.get(organisation_path(not_activated), auth=(world.app_key, world.secret)), 403)


# --- 404, 405 and the rest ---------------------------------------------------------------------


def test_unknown_api_paths_and_methods_answer_in_json_once_authenticated(
    client: httpx.Client, world: World
) -> None:
    auth = (world.app_key, world.secret)
    assert_error(client.get("/api/v1/nothing-here", auth=auth), 404)
    assert_error(client.post(organisation_path(world.client_organisation), auth=auth), 405)


def test_the_openapi_document_is_public_and_lists_the_path(client: httpx.Client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/organisations/{organisation_identifier}"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403", "404", "429"}
    assert set(operation["responses"]["429"]["headers"]) == {"Retry-After"}
    assert document["servers"] == [{"url": "/api/v1"}]
    assert document["components"]["securitySchemes"]["connectionKeys"] == {
        "type": "http",
        "scheme": "basic",
        "description": "User name: the App key. Password: the Secret.",
    }


def test_everything_else_still_reaches_the_reflex_backend(client: httpx.Client) -> None:
    for path in ("/", "/ping", "/api/v10", "/apiv1/organisations/x"):
        response = client.get(path)
        assert response.status_code == 200 and response.text == "reflex backend", path


# --- rate limit -----------------------------------------------------------------------------------


def test_a_key_set_over_its_rate_limit_gets_429_with_retry_after(
    engine: Engine, world: World, session: Session
) -> None:
    other, other_secret = keys.create_key_set(session, actor=world.admin, name="Branch office")
    path = organisation_path(world.client_organisation)
    with (
        serving(backend(engine, rate_limit="3/minute")) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        statuses = [http.get(path, auth=(world.app_key, world.secret)).status_code for _ in range(3)]
        refused = http.get(path, auth=(world.app_key, world.secret))
        other_answer = http.get(path, auth=(other.app_key, other_secret))
        strangers = [http.get(path, auth=(world.app_key, "sk_wrong")).status_code for _ in range(5)]

    assert statuses == [200, 200, 200]
    assert_error(refused, 429)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert f"Try again in {refused.headers['retry-after']} second" in refused.json()["error"]
    assert other_answer.status_code == 200  # the limit is per key set
    assert strangers == [401] * 5  # wrong keys are refused as such, never counted against the set


REDIS_URL = os.environ.get("ECONNECT_TEST_REDIS_URL", "")


@pytest.mark.skipif(not REDIS_URL, reason="ECONNECT_TEST_REDIS_URL is not set (a Redis on 127.0.0.1)")
def test_workers_share_the_rate_limit_through_redis(engine: Engine, world: World) -> None:
    prefix = f"econnect-test:{uuid.uuid4().hex}"  # counts of this test only
    storage = lambda: limits_storage(REDIS_URL, key_prefix=prefix)  # noqa: E731
    path, auth = organisation_path(world.client_organisation), (world.app_key, world.secret)
    with (
        serving(backend(engine, rate_limit="2/minute", storage=storage)) as first,
        serving(backend(engine, rate_limit="2/minute", storage=storage)) as second,
    ):
        answers = [httpx.get(url + path, auth=auth, timeout=10) for url in (first, second, first, second)]
    assert [answer.status_code for answer in answers] == [200, 200, 429, 429]


# --- access log and headers ---------------------------------------------------------------------


def test_one_access_log_line_per_call_without_secrets(
    client: httpx.Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    swapped = (world.secret, world.app_key)  # someone typed the Secret as the App key
    with caplog.at_level(logging.INFO, logger="econnect.api"):
        client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret))
        client.get(organisation_path(world.stranger_organisation), auth=(world.app_key, world.secret))
        client.get(organisation_path(world.client_organisation), auth=swapped)
        client.get(
            "/api/v1/organisations/abc%0Aapi%20GET%20/forged%20status=200", auth=(world.app_key, world.secret)
        )

    lines = [record.getMessage() for record in caplog.records if record.name == "econnect.api"]
    assert len(lines) == 4
    identifier = world.client_organisation.identifier
    assert re.fullmatch(
        rf"api GET /api/v1/organisations/{identifier} status=200 duration_ms=\d+\.\d "
        rf"key_set={world.key_set_id} app_key={world.app_key} organisation={identifier}",
        lines[0],
    )
    assert " status=403 " in lines[1] and f"organisation={world.stranger_organisation.identifier}" in lines[1]
    assert " status=401 " in lines[2] and lines[2].endswith("key_set=- app_key=- organisation=-")
    assert (
        " status=404 " in lines[3] and "\n" not in lines[3] and '"/api/v1/organisations/abc\\napi' in lines[3]
    )
    log_text = "\n".join(lines)
    assert world.secret not in log_text and "Basic " not in log_text


def test_api_answers_carry_the_security_headers(client: httpx.Client, world: World) -> None:
    for answer in (
        client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret)),
        client.get(organisation_path(world.client_organisation)),
        client.get("/api/v1/openapi.json"),
    ):
        assert answer.headers["content-security-policy"] == LOCKED_DOWN_CSP
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["strict-transport-security"].startswith("max-age=")
