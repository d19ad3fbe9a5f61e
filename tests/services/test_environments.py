"""Environment settings: name and subscription plan, Administrators only."""

from __future__ import annotations

import pytest
from conftest_factories import (
    activities,
    make_admin,
    make_environment,
    make_organisation,
    make_user,
)
from sqlmodel import Session

from econnect_app.models import Environment, Plan, Role, UserStatus
from econnect_app.services import environments
from econnect_app.services.errors import PermissionDenied, ValidationFailed


def test_get_environment_returns_the_actors_own(session: Session) -> None:
    make_environment(session, name="Other")
    environment = make_environment(session, name="Acme")
    user = make_user(session, environment, role=Role.USER.value)
    assert environments.get_environment(session, actor=user).id == environment.id


def test_blocked_user_may_not_read_the_environment(session: Session) -> None:
    user = make_user(session, make_environment(session), status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        environments.get_environment(session, actor=user)


def test_administrator_changes_name_and_plan(session: Session) -> None:
    environment = make_environment(session, name="Acme")
    admin = make_admin(session, environment)

    result = environments.update_environment(
        session, actor=admin, name="  Acme  Accountants ", plan="Basic"
    )

    assert (result.name, result.plan) == ("Acme Accountants", "Basic")
    stored = session.get(Environment, environment.id)
    assert (stored.name, stored.plan) == ("Acme Accountants", Plan.BASIC.value)
    [entry] = activities(session, action="environment.updated")
    assert entry.actor_user_id == admin.id
    assert "Invoice Portal to Basic" in entry.summary


def test_saving_without_changes_records_nothing(session: Session) -> None:
    environment = make_environment(session, name="Acme")
    admin = make_admin(session, environment)
    environments.update_environment(
        session, actor=admin, name="Acme", plan=Plan.INVOICE_PORTAL.value
    )
    assert activities(session) == []


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_change_settings(session: Session, role: str) -> None:
    environment = make_environment(session, name="Acme")
    actor = make_user(session, environment, role=role)
    with pytest.raises(PermissionDenied):
        environments.update_environment(session, actor=actor, name="Hacked", plan="Professional")
    stored = session.get(Environment, environment.id)
    assert (stored.name, stored.plan) == ("Acme", Plan.INVOICE_PORTAL.value)
    assert activities(session) == []


def test_blocked_administrator_may_not_change_settings(session: Session) -> None:
    environment = make_environment(session, name="Acme")
    admin = make_admin(session, environment, status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        environments.update_environment(session, actor=admin, name="Hacked", plan="Basic")
    assert session.get(Environment, environment.id).name == "Acme"


@pytest.mark.parametrize(
    ("name", "plan", "errors"),
    [
        ("", "Basic", {"name": "Enter the environment name."}),
        ("x" * 201, "Basic", {"name": "Use at most 200 characters."}),
        ("Acme", "Gold", {"plan": "Choose Invoice Portal, Basic or Professional."}),
        ("Acme", "", {"plan": "Choose Invoice Portal, Basic or Professional."}),
        (
            "",
            "basic",
            {
                "name": "Enter the environment name.",
                "plan": "Choose Invoice Portal, Basic or Professional.",
            },
        ),
    ],
)
def test_bad_input_is_refused_and_nothing_changes(
    session: Session, name: str, plan: str, errors: dict[str, str]
) -> None:
    environment = make_environment(session, name="Acme")
    admin = make_admin(session, environment)
    with pytest.raises(ValidationFailed) as raised:
        environments.update_environment(session, actor=admin, name=name, plan=plan)
    assert raised.value.errors == errors
    stored = session.get(Environment, environment.id)
    assert (stored.name, stored.plan) == ("Acme", Plan.INVOICE_PORTAL.value)
    assert activities(session) == []


def test_cannot_lower_to_invoice_portal_with_more_than_two_organisations(session: Session) -> None:
    environment = make_environment(session, name="Acme", plan=Plan.BASIC.value)
    admin = make_admin(session, environment)
    for _ in range(3):
        make_organisation(session, environment)

    with pytest.raises(ValidationFailed) as raised:
        environments.update_environment(
            session, actor=admin, name="Acme", plan=Plan.INVOICE_PORTAL.value
        )

    message = raised.value.errors["plan"]
    assert "at most 2 organisations" in message
    assert "has 3" in message
    assert session.get(Environment, environment.id).plan == Plan.BASIC.value


def test_can_lower_to_invoice_portal_with_two_organisations(session: Session) -> None:
    environment = make_environment(session, name="Acme", plan=Plan.PROFESSIONAL.value)
    admin = make_admin(session, environment)
    make_organisation(session, environment)
    make_organisation(session, environment)

    environments.update_environment(
        session, actor=admin, name="Acme", plan=Plan.INVOICE_PORTAL.value
    )

    assert session.get(Environment, environment.id).plan == Plan.INVOICE_PORTAL.value
    [entry] = activities(session, action="environment.updated")
    assert "Professional to Invoice Portal" in entry.summary


def test_only_the_actors_environment_changes(session: Session) -> None:
    other = make_environment(session, name="Other")
    admin = make_admin(session, make_environment(session, name="Acme"))
    environments.update_environment(session, actor=admin, name="Acme", plan="Professional")
    stored = session.get(Environment, other.id)
    assert (stored.name, stored.plan) == ("Other", Plan.INVOICE_PORTAL.value)
