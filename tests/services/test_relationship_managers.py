"""Relationship managers: Administrators connect their own environment's relationship managers to a
partnership; both sides see them; they get the partnership's emails and reach what it shares."""

from __future__ import annotations

import pytest
from conftest_factories import activities, make_admin, make_environment, make_organisation, make_user
from partnership_factories import (
    BLOCKED,
    ROLES,
    connect_manager_row,
    end_partnership_row,
    fresh,
    hold_until_both_arrive,
    make_actor,
    make_membership,
    make_pair,
    make_partnership,
    make_relationship_manager,
    run_together,
    snapshot,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app.models import PartnershipManager, Plan, Role, UserStatus
from econnect_app.services import access, partners, relationship_managers
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


def test_an_administrator_connects_a_manager_shown_on_both_sides(session: Session) -> None:
    pair = make_pair(session)
    manager = make_relationship_manager(session, pair.firm, name="Mia Manager")

    link = relationship_managers.connect_manager(
        session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=str(manager.id)
    )

    stored = fresh(session, PartnershipManager, link.id)
    assert (stored.partnership_id, stored.user_id, stored.connected_by_id, stored.disconnected_at) == (
        pair.partnership.id,
        manager.id,
        pair.firm_admin.id,
        None,
    )
    assert [
        u.id for _, u in relationship_managers.connected_managers(session, partnership_id=pair.partnership.id)
    ] == [manager.id]
    assert relationship_managers.is_connected_manager(
        session, user=manager, partner_environment_id=pair.client.id
    )
    [firm_view] = partners.list_partnerships(session, actor=pair.firm_admin)
    [client_view] = partners.list_partnerships(session, actor=pair.client_admin)
    assert [(m.name, m.own_side) for m in firm_view.our_managers] == [("Mia Manager", True)]
    assert firm_view.manager_candidates == []
    assert [(m.name, m.own_side) for m in client_view.their_managers] == [("Mia Manager", False)]
    assert client_view.our_managers == []
    logged = activities(session, action="partnership.manager_connected")
    assert sorted(a.environment_id for a in logged) == sorted([pair.firm.id, pair.client.id])
    assert logged[0].summary == (
        "Fiona Firm connected Mia Manager as relationship manager of the partnership with Korenbloem Holding."
    )


def test_a_manager_reaches_the_organisations_shared_through_the_partnership(session: Session) -> None:
    pair = make_pair(session)  # the accountant is a member of the client's organisation
    manager = make_relationship_manager(session, pair.firm)
    assert not access.user_can_access_organisation(
        session, user=manager, organisation=pair.client_organisation
    )

    link = relationship_managers.connect_manager(
        session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=manager.id
    )
    assert access.user_can_access_organisation(session, user=manager, organisation=pair.client_organisation)
    assert pair.client_organisation.id in {
        o.id for o in access.accessible_organisations(session, user=manager)
    }

    relationship_managers.disconnect_manager(session, actor=pair.firm_admin, manager_link_id=link.id)
    assert not access.user_can_access_organisation(
        session, user=manager, organisation=pair.client_organisation
    )


def test_a_connected_manager_who_is_a_plain_user_reaches_nothing_of_the_partner(session: Session) -> None:
    """A partnership gives access to Advanced users and Administrators only: a plain User may be
    connected (and gets the partnership's emails) but reaches none of the partner's organisations."""
    pair = make_pair(session)  # the accountant is a member of the client's organisation
    manager = make_relationship_manager(session, pair.firm, role=Role.USER.value)

    relationship_managers.connect_manager(
        session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=manager.id
    )

    assert relationship_managers.is_connected_manager(
        session, user=manager, partner_environment_id=pair.client.id
    )
    assert not access.user_can_access_organisation(
        session, user=manager, organisation=pair.client_organisation
    )
    assert pair.client_organisation.id not in {
        o.id for o in access.accessible_organisations(session, user=manager)
    }
    assert manager.email in {
        u.email
        for u in relationship_managers.email_recipients(
            session, environment_id=pair.firm.id, partnership_id=pair.partnership.id
        )
    }


@pytest.mark.parametrize("role", [*ROLES, BLOCKED])
def test_only_administrators_connect_and_disconnect(session: Session, role: str) -> None:
    pair = make_pair(session)
    manager = make_relationship_manager(session, pair.firm)
    idle = make_relationship_manager(session, pair.firm)
    link = connect_manager_row(session, pair.partnership, manager)
    actor = make_actor(session, pair.firm, role)
    before = snapshot(session)

    if role == Role.ADMINISTRATOR.value:
        relationship_managers.connect_manager(
            session, actor=actor, partnership_id=pair.partnership.id, user_id=idle.id
        )
        relationship_managers.disconnect_manager(session, actor=actor, manager_link_id=link.id)
        assert fresh(session, PartnershipManager, link.id).disconnected_by_id == actor.id
        return
    expected = "not active" if role == BLOCKED else "Only Administrators can do this."
    with pytest.raises(PermissionDenied, match=expected):
        relationship_managers.connect_manager(
            session, actor=actor, partnership_id=pair.partnership.id, user_id=idle.id
        )
    with pytest.raises(PermissionDenied, match=expected):
        relationship_managers.disconnect_manager(session, actor=actor, manager_link_id=link.id)
    assert snapshot(session) == before


def test_only_the_environments_own_active_relationship_managers_can_be_connected(session: Session) -> None:
    pair = make_pair(session)
    client_manager = make_relationship_manager(session, pair.client)
    no_role = make_user(session, pair.firm, role=Role.ADVANCED_USER.value)
    blocked_manager = make_relationship_manager(session, pair.firm, status=UserStatus.BLOCKED.value)
    stranger = make_environment(session, name="Stranger")
    stranger_manager = make_relationship_manager(session, stranger)
    before = snapshot(session)

    for user_id in (
        client_manager.id,
        no_role.id,
        blocked_manager.id,
        stranger_manager.id,
        999_999,
        "abc",
        "",
        "-1",
        "\u00b2",  # a digit to str.isdigit(), not to int()
        None,
    ):
        with pytest.raises(ValidationFailed) as caught:
            relationship_managers.connect_manager(
                session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=user_id
            )
        assert caught.value.errors == {"manager": "Choose a relationship manager of your environment."}, (
            user_id
        )
    assert snapshot(session) == before


def test_connecting_twice_gives_one_connection_and_a_clear_message(session: Session) -> None:
    pair = make_pair(session)
    manager = make_relationship_manager(session, pair.firm, name="Mia Manager")
    relationship_managers.connect_manager(
        session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=manager.id
    )
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as caught:
        relationship_managers.connect_manager(
            session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=manager.id
        )
    assert caught.value.errors == {"manager": "Mia Manager is connected to this partnership already."}
    assert snapshot(session) == before


def test_two_administrators_connecting_the_same_manager_at_once_give_one_connection(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session)
    second_admin = make_admin(session, pair.firm)
    manager = make_relationship_manager(session, pair.firm)
    hold_until_both_arrive(monkeypatch, relationship_managers, "committing")

    results = run_together(
        engine,
        *(
            (
                lambda own, actor=actor: relationship_managers.connect_manager(
                    own, actor=actor, partnership_id=pair.partnership.id, user_id=manager.id
                )
            )
            for actor in (pair.firm_admin, second_admin)
        ),
    )

    assert sum(isinstance(r, PartnershipManager) for r in results) == 1, results
    assert sum(isinstance(r, ValidationFailed) for r in results) == 1, results
    session.expire_all()
    assert len(session.exec(select(PartnershipManager)).all()) == 1


def test_connecting_to_an_ended_unknown_or_foreign_partnership(session: Session) -> None:
    pair = make_pair(session)
    manager = make_relationship_manager(session, pair.firm)
    other = make_environment(session, name="Other", plan=Plan.BASIC.value)
    third = make_environment(session, name="Third", plan=Plan.BASIC.value)
    foreign = make_partnership(session, other, third)
    ended = make_partnership(session, pair.firm, other)
    end_partnership_row(session, ended)
    before = snapshot(session)

    with pytest.raises(Conflict, match="This partnership has ended."):
        relationship_managers.connect_manager(
            session, actor=pair.firm_admin, partnership_id=ended.id, user_id=manager.id
        )
    for partnership_id in (foreign.id, 999_999, 0, 2**40):
        with pytest.raises(NotFound, match="does not exist or is not one of yours"):
            relationship_managers.connect_manager(
                session, actor=pair.firm_admin, partnership_id=partnership_id, user_id=manager.id
            )
    assert snapshot(session) == before


def test_disconnecting_keeps_the_history_and_only_the_own_side_disconnects(session: Session) -> None:
    pair = make_pair(session)
    firm_manager = make_relationship_manager(session, pair.firm, name="Mia Manager")
    client_manager = make_relationship_manager(session, pair.client)
    firm_link = connect_manager_row(session, pair.partnership, firm_manager)
    client_link = connect_manager_row(session, pair.partnership, client_manager)
    before = snapshot(session)

    for link_id in (client_link.id, 999_999, 0, -3, 2**40):
        with pytest.raises(NotFound, match="not connected"):
            relationship_managers.disconnect_manager(session, actor=pair.firm_admin, manager_link_id=link_id)
    assert snapshot(session) == before

    disconnected = relationship_managers.disconnect_manager(
        session, actor=pair.firm_admin, manager_link_id=firm_link.id
    )

    assert disconnected.disconnected_at is not None and disconnected.disconnected_by_id == pair.firm_admin.id
    assert len(session.exec(select(PartnershipManager)).all()) == 2  # kept
    assert [
        u.id for _, u in relationship_managers.connected_managers(session, partnership_id=pair.partnership.id)
    ] == [client_manager.id]
    logged = activities(session, action="partnership.manager_disconnected")
    assert sorted(a.environment_id for a in logged) == sorted([pair.firm.id, pair.client.id])
    after = snapshot(session)
    with pytest.raises(NotFound, match="not connected"):
        relationship_managers.disconnect_manager(session, actor=pair.firm_admin, manager_link_id=firm_link.id)
    assert snapshot(session) == after
    # Connected again later: a new row, the old one stays as history.
    again = relationship_managers.connect_manager(
        session, actor=pair.firm_admin, partnership_id=pair.partnership.id, user_id=firm_manager.id
    )
    assert again.id != firm_link.id


def test_email_recipients_are_administrators_and_the_sides_managers(session: Session) -> None:
    """A partnership's emails (its end): the side's active Administrators and the partnership's
    connected managers. A relationship request (no partnership yet): the active Administrators and
    the relationship managers who may answer it (Advanced users and Administrators)."""
    pair = make_pair(session)
    connected = make_relationship_manager(session, pair.firm, email="connected@lovelace.example")
    connected_plain = make_relationship_manager(
        session, pair.firm, role=Role.USER.value, email="connected-plain@lovelace.example"
    )
    make_relationship_manager(session, pair.firm, email="idle@lovelace.example")
    make_relationship_manager(
        session, pair.firm, role=Role.ADMINISTRATOR.value, email="idle-admin@lovelace.example"
    )
    make_relationship_manager(session, pair.firm, role=Role.USER.value, email="idle-plain@lovelace.example")
    make_relationship_manager(
        session, pair.firm, email="blocked@lovelace.example", status=UserStatus.BLOCKED.value
    )
    make_admin(session, pair.firm, email="blocked-admin@lovelace.example", status=UserStatus.BLOCKED.value)
    client_manager = make_relationship_manager(session, pair.client, email="cor@korenbloem.example")
    connect_manager_row(session, pair.partnership, connected)
    connect_manager_row(session, pair.partnership, connected_plain)
    connect_manager_row(session, pair.partnership, client_manager)

    for_partnership = relationship_managers.email_recipients(
        session, environment_id=pair.firm.id, partnership_id=pair.partnership.id
    )
    before_any_partnership = relationship_managers.email_recipients(session, environment_id=pair.firm.id)

    assert [u.email for u in for_partnership] == [
        "connected-plain@lovelace.example",
        "connected@lovelace.example",
        "fiona@lovelace.example",
        "idle-admin@lovelace.example",  # an Administrator (who is also a relationship manager)
    ]
    # Plain-User relationship managers cannot answer a relationship request: not emailed about one.
    assert [u.email for u in before_any_partnership] == [
        "connected@lovelace.example",
        "fiona@lovelace.example",
        "idle-admin@lovelace.example",
        "idle@lovelace.example",
    ]


@pytest.mark.parametrize("loses", ["relationship manager", "Advanced user"])
def test_a_manager_who_loses_the_role_loses_the_access(session: Session, loses: str) -> None:
    pair = make_pair(session)
    manager = make_relationship_manager(session, pair.firm)
    connect_manager_row(session, pair.partnership, manager)
    assert access.user_can_access_organisation(session, user=manager, organisation=pair.client_organisation)

    if loses == "relationship manager":
        manager.is_relationship_manager = False
    else:  # made a plain User: still connected, but a partnership gives plain Users nothing
        manager.role = Role.USER.value
    session.add(manager)
    session.commit()

    assert relationship_managers.is_connected_manager(
        session, user=manager, partner_environment_id=pair.client.id
    ) is (loses == "Advanced user")
    assert not access.user_can_access_organisation(
        session, user=manager, organisation=pair.client_organisation
    )
    assert pair.client_organisation.id not in {
        o.id for o in access.accessible_organisations(session, user=manager)
    }


def test_a_manager_of_an_organisation_without_a_member_of_their_environment_reaches_nothing(
    session: Session,
) -> None:
    pair = make_pair(session, accountant_member=False)
    manager = make_relationship_manager(session, pair.firm)
    connect_manager_row(session, pair.partnership, manager)
    other_organisation = make_organisation(session, pair.client, activated=True)

    assert not access.user_can_access_organisation(
        session, user=manager, organisation=pair.client_organisation
    )
    # A plain User of the firm as member does not count: the firm still reaches nothing there.
    make_membership(session, make_user(session, pair.firm, role=Role.USER.value), other_organisation)
    assert not access.user_can_access_organisation(session, user=manager, organisation=other_organisation)
    make_membership(session, pair.accountant, other_organisation)
    assert access.user_can_access_organisation(session, user=manager, organisation=other_organisation)
    assert not access.user_can_access_organisation(
        session, user=manager, organisation=pair.client_organisation
    )
