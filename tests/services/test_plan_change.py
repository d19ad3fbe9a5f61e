"""Leaving the plans with partnerships, and the client's environment after accepting."""

from __future__ import annotations

import pytest
from activation_factories import make_scene
from conftest_factories import activities, make_admin
from sqlmodel import Session

from econnect_app.models import Environment, Partnership, Plan
from econnect_app.services import authorisations, environments, organisations
from econnect_app.services.errors import ConfirmationNeeded


def _admin_of_firm(session: Session, scene) -> object:  # type: ignore[no-untyped-def]
    return make_admin(session, scene.firm, name="Bea Boss", email="bea@lovelace.example")


def test_leaving_basic_with_pending_requests_asks_for_confirmation_first(session: Session) -> None:
    scene = make_scene(session)
    admin = _admin_of_firm(session, scene)

    with pytest.raises(ConfirmationNeeded) as asked:
        environments.update_environment(session, actor=admin, name="Lovelace Accounting", plan="Invoice Portal")

    assert asked.value.message == (
        "On the Invoice Portal plan you cannot send authorisation or relationship requests. The links of "
        "your 1 pending request stop working: clients cannot answer them until you choose Basic or "
        "Professional again. Your request history stays visible."
    )
    session.expire_all()
    assert session.get(Environment, scene.firm.id).plan == Plan.BASIC.value
    assert activities(session, action="environment.updated") == []


def test_confirmed_the_plan_changes_the_links_pause_and_the_history_stays(session: Session) -> None:
    scene = make_scene(session)
    admin = _admin_of_firm(session, scene)

    environments.update_environment(
        session, actor=admin, name="Lovelace Accounting", plan="Invoice Portal", confirmed=True
    )

    with pytest.raises(authorisations.LinkPaused, match="cannot receive answers"):
        authorisations.look_up_link(session, token=scene.token)
    with pytest.raises(authorisations.LinkPaused):
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, new_organisation={"name": "X", "kvk_number": "12345678"}
        )
    [row] = authorisations.requests_page(session, actor=admin).rows
    assert (row.status, row.paused, row.can_resend, row.can_withdraw) == ("Pending", True, False, True)
    assert authorisations.count_pending(session, environment_id=scene.firm.id) == 1

    environments.update_environment(session, actor=admin, name="Lovelace Accounting", plan="Basic")
    assert authorisations.look_up_link(session, token=scene.token).firm_name == "Lovelace Accounting"


def test_active_partnerships_stay_and_are_named_in_the_question(session: Session) -> None:
    scene = make_scene(session)
    admin = _admin_of_firm(session, scene)
    authorisations.accept_request(
        session,
        user=scene.client,
        token=scene.token,
        new_organisation={"name": "Korenbloem B.V.", "kvk_number": "12345678"},
    )

    with pytest.raises(ConfirmationNeeded, match="Your 1 active partnership stay"):
        environments.update_environment(session, actor=admin, name="Lovelace Accounting", plan="Invoice Portal")
    environments.update_environment(
        session, actor=admin, name="Lovelace Accounting", plan="Invoice Portal", confirmed=True
    )
    session.expire_all()
    assert session.get(Partnership, 1).status == "Active"


def test_nothing_to_confirm_without_requests_or_partnerships(session: Session) -> None:
    scene = make_scene(session)
    admin = _admin_of_firm(session, scene)
    authorisations.withdraw_request(session, actor=admin, request_id=scene.request.id)

    environments.update_environment(session, actor=admin, name="Lovelace Accounting", plan="Invoice Portal")

    session.expire_all()
    assert session.get(Environment, scene.firm.id).plan == Plan.INVOICE_PORTAL.value


def test_accepting_onboards_the_clients_environment(session: Session) -> None:
    scene = make_scene(session)
    assert organisations.needs_onboarding(session, user=scene.client)

    authorisations.accept_request(
        session,
        user=scene.client,
        token=scene.token,
        new_organisation={"name": "Korenbloem B.V.", "kvk_number": "12345678"},
    )

    session.expire_all()
    assert not organisations.needs_onboarding(session, user=scene.client)
    [onboarded] = activities(session, action="environment.onboarded")
    assert onboarded.environment_id == scene.client_environment.id
