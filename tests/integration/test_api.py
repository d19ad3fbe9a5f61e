"""The HTTP API over real HTTP: granian serves the backend wrapper (`mount_api`) on 127.0.0.1,
httpx calls it with connection keys as HTTP Basic credentials, the data lives in a fresh SQLite
database."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from granian.constants import Interfaces
from granian.server.embed import Server
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import Receive, Scope, Send

from econnect_app import security
from econnect_app.api import create_api_app, mount_api
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def base_url(engine: Engine) -> Iterator[str]:
    """The backend (API mounted the way `rx.App(api_transformer=mount_api)` does) over real HTTP."""
    port = _free_port()
    server = Server(
        mount_api(reflex_stand_in, api=create_api_app(engine_factory=lambda: engine)),
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        log_enabled=False,
    )
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
    user = User(environment_id=environment.id, name="Ada", email=f"user{next(_numbers)}@example.com", role=role)
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
        session, client_env, "Bakkerij De Korenbloem", vat_number="NL123456789B01", software_package_id=package.id
    )
    low, high = sorted((firm.id, client_env.id))
    partnership = Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=firm.id)
    membership = Membership(organisation_id=client_org.id, user_id=admin.id)
    session.add_all([partnership, membership])
    session.commit()
    stranger = _organisation(session, _environment(session, "Stranger BV"), "Stranger Trading")
    key_set, secret = keys.create_key_set(session, actor=admin)
    return World(
        firm=firm,
        admin=admin,
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
        "vat_number": "NL123456789B01",
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
    assert_unauthorised(client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret + "x")))


def test_unknown_app_key_401(client: httpx.Client, world: World) -> None:
    assert_unauthorised(client.get(organisation_path(world.client_organisation), auth=("ak_unknown", world.secret)))


@pytest.mark.parametrize(
    "header",
    ["Bearer abc", "Basic", "Basic not-base64!!", "Basic dXNlcm9ubHk=", "Basic OnNlY3JldA=="],  # user-only, empty user
)
def test_malformed_credentials_401(client: httpx.Client, world: World, header: str) -> None:
    assert_unauthorised(client.get(organisation_path(world.client_organisation), headers={"Authorization": header}))


def test_the_old_secret_fails_right_after_rotation(client: httpx.Client, world: World, session: Session) -> None:
    _, new_secret = keys.rotate_secret(session, actor=world.admin)
    assert_unauthorised(client.get(organisation_path(world.client_organisation), auth=(world.app_key, world.secret)))
    response = client.get(organisation_path(world.client_organisation), auth=(world.app_key, new_secret))
    assert response.status_code == 200, response.text


def test_401_comes_before_404_so_strangers_learn_nothing(client: httpx.Client, world: World) -> None:
    unknown = client.get(organisation_path("no-such-organisation"))
    known = client.get(organisation_path(world.stranger_organisation))
    assert_unauthorised(unknown)
    assert_unauthorised(known)
    assert unknown.json() == known.json()


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


def test_403_for_an_organisation_that_is_not_activated(client: httpx.Client, world: World, session: Session) -> None:
    not_activated = _organisation(session, world.firm, "Not yet BV", activated_at=None)
    assert_error(client.get(organisation_path(not_activated), auth=(world.app_key, world.secret)), 403)


# --- 404 and the rest -----------------------------------------------------------------------------


def test_unknown_identifier_with_valid_keys_404(client: httpx.Client, world: World) -> None:
    assert_error(client.get(organisation_path("no-such-organisation"), auth=(world.app_key, world.secret)), 404)
    # A NUL in the path is refused by PostgreSQL as a query parameter: it is simply not found.
    assert_error(client.get(organisation_path("abc%00def"), auth=(world.app_key, world.secret)), 404)


def test_unknown_api_paths_and_methods_answer_in_json(client: httpx.Client, world: World) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404)
    assert_error(client.post(organisation_path(world.client_organisation), auth=(world.app_key, world.secret)), 405)


def test_the_openapi_document_lists_the_path(client: httpx.Client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    operation = document["paths"]["/organisations/{organisation_identifier}"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403", "404"}
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
