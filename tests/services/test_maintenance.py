"""The backend's periodic expiry of authorisation requests (``econnect_app/maintenance.py``)."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta

import pytest
from activation_factories import Scene, make_request, make_scene
from conftest_factories import activities
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import maintenance
from econnect_app.models import AuthorisationLink, AuthorisationRequest, AuthorisationStatus

EXPIRED = AuthorisationStatus.EXPIRED.value
PENDING = AuthorisationStatus.PENDING.value


@pytest.fixture()
def scene(session: Session) -> Scene:
    return make_scene(session)


def status_of(engine: Engine, request: AuthorisationRequest) -> str:
    with Session(engine) as other:
        row = other.get(AuthorisationRequest, request.id)
        assert row is not None
        return row.status


def make_past_due(session: Session, scene: Scene, email: str = "late@example.com") -> AuthorisationRequest:
    request, _ = make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email=email,
        expires_in=timedelta(seconds=-1),
    )
    return request


def test_one_run_expires_the_due_requests_only(session: Session, engine: Engine, scene: Scene) -> None:
    due = make_past_due(session, scene)

    assert maintenance.expire_requests_once(engine) == 1
    assert status_of(engine, due) == EXPIRED
    assert status_of(engine, scene.request) == PENDING
    session.expire_all()
    [link] = session.exec(select(AuthorisationLink).where(AuthorisationLink.request_id == due.id))
    assert link.voided_at is not None
    [entry] = activities(session, action="authorisation.expired")
    assert (entry.subject_id, entry.environment_id, entry.actor_user_id) == (due.id, scene.firm.id, None)

    assert maintenance.expire_requests_once(engine) == 0  # idempotent: nothing left to do
    assert len(activities(session, action="authorisation.expired")) == 1


def test_the_loop_expires_due_requests_and_stops_when_cancelled(
    session: Session, engine: Engine, scene: Scene
) -> None:
    due = make_past_due(session, scene)

    async def scenario() -> None:
        task = asyncio.create_task(maintenance.expiry_loop(engine=engine, interval_seconds=0.01))
        for _ in range(500):
            if status_of(engine, due) == EXPIRED:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert status_of(engine, due) == EXPIRED
    assert len(activities(session, action="authorisation.expired")) == 1


def test_the_loop_logs_an_error_and_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[int] = []

    def failing_once(_engine: Engine) -> int:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database went away")
        return 0

    monkeypatch.setattr(maintenance, "expire_requests_once", failing_once)

    async def scenario() -> None:
        task = asyncio.create_task(maintenance.expiry_loop(engine=engine, interval_seconds=0.01))
        for _ in range(500):
            if len(runs) >= 3:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level("ERROR", logger="econnect_app.maintenance"):
        asyncio.run(scenario())
    assert len(runs) >= 3
    assert "Expiring authorisation requests failed" in caplog.text


def test_the_loop_is_a_lifespan_task_that_receives_the_app() -> None:
    """Reflex passes the app to a lifespan task with an ``app`` parameter; the rest have defaults."""
    parameters = inspect.signature(maintenance.expiry_loop).parameters
    assert "app" in parameters
    assert all(parameter.default is not inspect.Parameter.empty for parameter in parameters.values())
    assert maintenance.EXPIRY_INTERVAL_SECONDS == 60
