"""The Invoice Portal plan's organisation limit holds when two additions happen at the same moment.

Each addition runs in its own thread with its own Session (own connection) on the same database,
a SQLite file or, with ECONNECT_TEST_DB_URL, PostgreSQL. Both pass the early check (a barrier right
after ``require_room_for_organisation``) before either writes, so only the check inside the
transaction that adds the organisation can keep the second one out: adding by hand and accepting a
request with a new organisation both go through it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from activation_factories import make_request, make_scene
from conftest_factories import make_admin, make_environment, make_organisation
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app.models import (
    ActivityLog,
    AuthorisationRequest,
    AuthorisationStatus,
    Membership,
    Organisation,
    Plan,
)
from econnect_app.services import authorisations, organisations
from econnect_app.services.errors import PlanLimitReached

TIMEOUT = 20


@pytest.fixture()
def both_pass_the_early_check(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Hold each addition after the early plan check until both have passed it."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    early_check = organisations.require_room_for_organisation

    def check_then_wait(session: Session, **kwargs: Any) -> None:
        early_check(session, **kwargs)
        barrier.wait()

    monkeypatch.setattr(organisations, "require_room_for_organisation", check_then_wait)
    return barrier


def run_together(engine: Engine, *calls: Callable[[Session], Any]) -> list[Any]:
    """Run each call in its own thread with its own Session; each result or raised exception."""
    results: list[Any] = [None] * len(calls)

    def worker(index: int, call: Callable[[Session], Any]) -> None:
        with Session(engine, expire_on_commit=False) as own_session:
            try:
                results[index] = call(own_session)
            except Exception as error:  # noqa: BLE001 - the test inspects it
                results[index] = error

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a thread did not finish"
    return results


def _organisation_names(session: Session, environment_id: int) -> list[str]:
    session.expire_all()
    statement = select(Organisation.name).where(Organisation.environment_id == environment_id)
    return sorted(session.exec(statement).all())


def test_two_simultaneous_additions_cannot_pass_the_limit_together(
    engine: Engine, session: Session, both_pass_the_early_check: threading.Barrier
) -> None:
    environment = make_environment(session, plan=Plan.INVOICE_PORTAL.value)
    admin = make_admin(session, environment)
    make_organisation(session, environment, name="First")

    def add(name: str, kvk_number: str) -> Callable[[Session], Any]:
        return lambda own: organisations.add_organisation(own, actor=admin, name=name, kvk_number=kvk_number)

    results = run_together(engine, add("Second", "22222222"), add("Also second", "33333333"))

    refused = [result for result in results if isinstance(result, PlanLimitReached)]
    added = [result for result in results if isinstance(result, Organisation)]
    assert len(refused) == 1 and len(added) == 1, results
    assert refused[0].message == organisations.PLAN_LIMIT_MESSAGE
    assert _organisation_names(session, environment.id) == sorted(["First", added[0].name])
    # The refused addition left nothing behind: one membership and one activity row, for the winner.
    assert len(session.exec(select(Membership)).all()) == 1
    assert len(session.exec(select(ActivityLog)).all()) == 1


def test_an_addition_and_an_acceptance_creating_an_organisation_cannot_pass_the_limit_together(
    engine: Engine, session: Session, both_pass_the_early_check: threading.Barrier
) -> None:
    scene = make_scene(session)  # the client's environment is on Invoice Portal
    assert scene.client_environment.plan == Plan.INVOICE_PORTAL.value
    make_organisation(session, scene.client_environment, name="First")

    results = run_together(
        engine,
        lambda own: organisations.add_organisation(
            own, actor=scene.client, name="Added by hand", kvk_number="22222222"
        ),
        lambda own: authorisations.accept_request(
            own,
            user=scene.client,
            token=scene.token,
            new_organisation={"name": "Created on accepting", "kvk_number": "33333333"},
        ),
    )

    assert sum(isinstance(result, PlanLimitReached) for result in results) == 1, results
    assert len(_organisation_names(session, scene.client_environment.id)) == 2
    request = session.get(AuthorisationRequest, scene.request.id)
    assert request is not None
    if isinstance(results[1], PlanLimitReached):  # the acceptance lost: the request is still open
        assert request.status == AuthorisationStatus.PENDING.value
    else:
        assert request.status == AuthorisationStatus.ACCEPTED.value


def test_two_simultaneous_acceptances_creating_organisations_cannot_pass_the_limit_together(
    engine: Engine, session: Session, both_pass_the_early_check: threading.Barrier
) -> None:
    scene = make_scene(session)
    other_firm = make_environment(session, name="Other Accounting", plan=Plan.BASIC.value)
    other_accountant = make_admin(session, other_firm)
    _, other_token = make_request(
        session, firm=other_firm, requester=other_accountant, package=scene.package,
        client_email=scene.client.email,
    )  # fmt: skip
    make_organisation(session, scene.client_environment, name="First")

    def accept(token: str, name: str, kvk_number: str) -> Callable[[Session], Any]:
        return lambda own: authorisations.accept_request(
            own, user=scene.client, token=token, new_organisation={"name": name, "kvk_number": kvk_number}
        )

    results = run_together(
        engine, accept(scene.token, "For Lovelace", "22222222"), accept(other_token, "For Other", "33333333")
    )

    assert sum(isinstance(result, PlanLimitReached) for result in results) == 1, results
    assert sum(isinstance(result, authorisations.AcceptOutcome) for result in results) == 1, results
    assert len(_organisation_names(session, scene.client_environment.id)) == 2
    statuses = sorted(request.status for request in session.exec(select(AuthorisationRequest)))
    assert statuses == [AuthorisationStatus.ACCEPTED.value, AuthorisationStatus.PENDING.value]
