"""Two answers to the same request at the same moment (two tabs, two browsers): exactly one wins.

Each thread has its own Session (own connection) on the same database, a SQLite file or, with
ECONNECT_TEST_DB_URL, PostgreSQL (READ COMMITTED: the second conditional UPDATE waits for the first
transaction, then finds the request no longer Pending). Both pass every check
before either claims the request (a barrier in front of the claim), so the conditional UPDATE
is what decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from activation_factories import Scene, make_request, make_scene
from conftest_factories import make_organisation
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app.models import (
    AuthorisationRequest,
    AuthorisationStatus,
    Membership,
    Notification,
    Organisation,
    OutboxMessage,
    Partnership,
)
from econnect_app.services import authorisations
from econnect_app.services.authorisations import LinkAlreadyUsed, _answer

TIMEOUT = 20


@pytest.fixture()
def claim_barrier(monkeypatch: pytest.MonkeyPatch) -> threading.Barrier:
    """Hold both threads just before the claim until both have got there."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    original = _answer._claim

    def claim_together(session: Session, **kwargs: Any):  # type: ignore[no-untyped-def]
        barrier.wait()
        return original(session, **kwargs)

    monkeypatch.setattr(_answer, "_claim", claim_together)
    return barrier


def run_together(engine: Engine, *calls: Callable[[Session], Any]) -> list[Any]:
    """Run each call in its own thread with its own Session; each result or raised exception."""
    start = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list[Any] = [None] * len(calls)

    def worker(index: int, call: Callable[[Session], Any]) -> None:
        with Session(engine, expire_on_commit=False) as own_session:
            start.wait()
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


def assert_one_acceptance(session: Session, scene: Scene) -> None:
    session.expire_all()
    assert len(session.exec(select(Partnership)).all()) == 1
    memberships = session.exec(select(Membership).where(Membership.user_id == scene.accountant.id)).all()
    assert len(memberships) == 1
    requests = session.exec(select(AuthorisationRequest)).all()
    assert [r.status for r in requests] == [AuthorisationStatus.ACCEPTED.value]
    assert len(session.exec(select(Notification)).all()) == 1
    assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_two_concurrent_accepts_of_the_same_link_give_one_result(
    engine: Engine, session: Session, claim_barrier: threading.Barrier
) -> None:
    scene = make_scene(session)
    organisation = make_organisation(session, scene.client_environment, activated=True)

    def accept(own_session: Session) -> authorisations.AcceptOutcome:
        return authorisations.accept_request(
            own_session, user=scene.client, token=scene.token, organisation_id=organisation.id
        )

    results = run_together(engine, accept, accept)

    winners = [r for r in results if isinstance(r, authorisations.AcceptOutcome)]
    losers = [r for r in results if isinstance(r, LinkAlreadyUsed)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert "already accepted" in losers[0].message
    assert_one_acceptance(session, scene)


def test_two_concurrent_accepts_each_creating_an_organisation_leave_one(
    engine: Engine, session: Session, claim_barrier: threading.Barrier
) -> None:
    scene = make_scene(session)

    def accept_creating(kvk_number: str) -> Callable[[Session], Any]:
        def accept(own_session: Session) -> authorisations.AcceptOutcome:
            return authorisations.accept_request(
                own_session,
                user=scene.client,
                token=scene.token,
                new_organisation={"name": f"Korenbloem {kvk_number}", "kvk_number": kvk_number},
            )

        return accept

    results = run_together(engine, accept_creating("11111111"), accept_creating("22222222"))

    [winner] = [r for r in results if isinstance(r, authorisations.AcceptOutcome)]
    assert sum(isinstance(r, LinkAlreadyUsed) for r in results) == 1, results
    session.expire_all()
    [organisation] = session.exec(select(Organisation)).all()
    assert organisation.id == winner.organisation_id
    assert_one_acceptance(session, scene)


def test_concurrent_accept_and_decline_give_one_answer(
    engine: Engine, session: Session, claim_barrier: threading.Barrier
) -> None:
    scene = make_scene(session)
    organisation = make_organisation(session, scene.client_environment, activated=True)

    results = run_together(
        engine,
        lambda own: authorisations.accept_request(
            own, user=scene.client, token=scene.token, organisation_id=organisation.id
        ),
        lambda own: authorisations.decline_request(own, user=scene.client, token=scene.token, reason="No"),
    )

    session.expire_all()
    request = session.get(AuthorisationRequest, scene.request.id)
    assert sum(isinstance(r, LinkAlreadyUsed) for r in results) == 1, results
    if request.status == AuthorisationStatus.ACCEPTED.value:
        assert isinstance(results[0], authorisations.AcceptOutcome)
        assert len(session.exec(select(Partnership)).all()) == 1
    else:
        assert request.status == AuthorisationStatus.DECLINED.value
        assert results[1] is None
        assert session.exec(select(Partnership)).all() == []
        assert session.exec(select(Membership)).all() == []
    assert len(session.exec(select(OutboxMessage)).all()) == 1


def test_two_requests_from_the_same_firm_accepted_at_once_share_one_partnership(
    engine: Engine, session: Session, claim_barrier: threading.Barrier
) -> None:
    scene = make_scene(session)
    _, second_token = make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email="second@korenbloem.example",
    )
    first_org = make_organisation(session, scene.client_environment, activated=True)
    second_org = make_organisation(session, scene.client_environment, activated=True)

    results = run_together(
        engine,
        lambda own: authorisations.accept_request(
            own, user=scene.client, token=scene.token, organisation_id=first_org.id
        ),
        lambda own: authorisations.accept_request(
            own, user=scene.client, token=second_token, organisation_id=second_org.id, answer_for_address=True
        ),
    )

    assert all(isinstance(r, authorisations.AcceptOutcome) for r in results), results
    assert results[0].partnership_id == results[1].partnership_id
    session.expire_all()
    assert len(session.exec(select(Partnership)).all()) == 1
    assert {
        m.organisation_id
        for m in session.exec(select(Membership).where(Membership.user_id == scene.accountant.id))
    } == {first_org.id, second_org.id}
