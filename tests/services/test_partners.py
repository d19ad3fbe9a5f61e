"""The partnerships page: what each side sees, ending a partnership (both sides, nothing deleted,
access gone at once, also through the HTTP API), and who pays for the client connection."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from activation_factories import make_request, make_software_package
from conftest_factories import (
    activities,
    count,
    make_admin,
    make_environment,
    make_organisation,
    make_user,
    outbox,
)
from partnership_factories import (
    BLOCKED,
    ROLES,
    Pair,
    connect_manager_row,
    fresh,
    hold_until_both_arrive,
    make_actor,
    make_membership,
    make_pair,
    make_partnership,
    make_relationship_manager,
    notifications,
    recipients,
    run_together,
    snapshot,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import live
from econnect_app.api import create_api_app
from econnect_app.models import (
    AuthorisationStatus,
    CostAllocation,
    Membership,
    MembershipEndReason,
    MembershipRole,
    MembershipStatus,
    Organisation,
    Partnership,
    PartnershipManager,
    PartnershipOrigin,
    PartnershipStatus,
    Plan,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import access, keys, partners, partnerships, relationship_requests
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

CLIENT = CostAllocation.CLIENT.value
INTERMEDIARY = CostAllocation.INTERMEDIARY.value


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def api_get(engine: Engine, organisation: Organisation, auth: tuple[str, str]) -> httpx.Response:
    """``GET /api/v1/organisations/<identifier>`` on the real API app, over httpx (in process)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_api_app(engine_factory=lambda: engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.get(f"/api/v1/organisations/{organisation.identifier}", auth=auth)

    return asyncio.run(call())


@dataclass
class World:
    """Two partners with relationship managers, memberships across in both directions, an
    authorisation request, and a third environment the firm is also partners with."""

    pair: Pair
    firm_manager: User
    firm_idle_manager: User
    client_manager: User
    client_blocked_admin: User
    firm_organisation: Organisation
    crossing: list[Membership]
    untouched: list[Membership]
    other_client_organisation: Organisation
    keys: tuple[str, str]


def make_world(session: Session) -> World:
    pair = make_pair(session)
    firm_manager = make_relationship_manager(
        session, pair.firm, name="Mia Manager", email="mia@lovelace.example"
    )
    firm_idle_manager = make_relationship_manager(
        session, pair.firm, name="Ivan Idle", email="ivan@lovelace.example"
    )
    client_manager = make_relationship_manager(
        session, pair.client, name="Cor Contact", email="cor@korenbloem.example"
    )
    client_blocked_admin = make_admin(
        session,
        pair.client,
        name="Bram Blocked",
        email="bram@korenbloem.example",
        status=UserStatus.BLOCKED.value,
    )
    connect_manager_row(session, pair.partnership, firm_manager)
    connect_manager_row(session, pair.partnership, client_manager)
    firm_organisation = make_organisation(session, pair.firm, name="Lovelace Accounting B.V.", activated=True)
    firm_admin_membership = make_membership(
        session, pair.firm_admin, firm_organisation, role=MembershipRole.ADMINISTRATOR.value
    )
    # Across, in both directions (one of them still an invitation).
    client_in_firm = make_membership(session, pair.client_admin, firm_organisation)
    manager_invited = make_membership(
        session, client_manager, firm_organisation, status=MembershipStatus.INVITED.value
    )
    # A third environment the firm works with: nothing changes there.
    other_client = make_environment(session, name="Other Client", plan=Plan.BASIC.value)
    other_organisation = make_organisation(session, other_client, name="Other Bakery", activated=True)
    make_partnership(session, pair.firm, other_client)
    other_membership = make_membership(session, pair.accountant, other_organisation)
    # History that must stay: an accepted authorisation request.
    package = make_software_package(session)
    request, _ = make_request(
        session,
        firm=pair.firm,
        requester=pair.accountant,
        package=package,
        client_email="kees@korenbloem.example",
        status=AuthorisationStatus.ACCEPTED.value,
    )
    request.client_environment_id = pair.client.id
    request.partnership_id = pair.partnership.id
    session.add(request)
    session.commit()
    key_set, secret = keys.create_key_set(session, actor=pair.firm_admin)
    return World(
        pair=pair,
        firm_manager=firm_manager,
        firm_idle_manager=firm_idle_manager,
        client_manager=client_manager,
        client_blocked_admin=client_blocked_admin,
        firm_organisation=firm_organisation,
        crossing=[pair.accountant_membership, client_in_firm, manager_invited],
        untouched=[pair.client_admin_membership, firm_admin_membership, other_membership],
        other_client_organisation=other_organisation,
        keys=(key_set.app_key, secret),
    )


def rows_kept(
    before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]], table: str
) -> bool:
    """Whether every row ``table`` held before is still there, unchanged."""
    return set(before[table]) <= set(after[table])


# --- ending ---------------------------------------------------------------------------------------


def test_ending_a_partnership(session: Session, engine: Engine, published: list[int]) -> None:
    world = make_world(session)
    pair = world.pair
    assert api_get(engine, pair.client_organisation, world.keys).status_code == 200
    # Before: the accountant and the firm's connected (Advanced user) manager reach the client's
    # organisation, the client (through its Administrator's membership) the firm's.
    assert access.user_can_access_organisation(
        session, user=pair.accountant, organisation=pair.client_organisation
    )
    assert access.user_can_access_organisation(
        session, user=world.firm_manager, organisation=pair.client_organisation
    )
    assert access.environment_can_access_organisation(
        session, environment_id=pair.client.id, organisation=world.firm_organisation
    )
    memberships_before = count(session, Membership)
    before = snapshot(session)
    published.clear()

    ended = partners.end_partnership(session, actor=pair.client_admin, partnership_id=pair.partnership.id)

    # The partnership is kept, Ended, with who and when.
    stored = fresh(session, Partnership, pair.partnership.id)
    assert ended.id == stored.id
    assert (stored.status, stored.ended_by_id) == (PartnershipStatus.ENDED.value, pair.client_admin.id)
    assert stored.ended_at is not None
    # Memberships across end (kept, with the reason); the others stay.
    assert count(session, Membership) == memberships_before
    for membership in world.crossing:
        row = fresh(session, Membership, membership.id)
        assert (row.status, row.end_reason, row.ended_by_id) == (
            MembershipStatus.ENDED.value,
            MembershipEndReason.PARTNERSHIP_ENDED.value,
            pair.client_admin.id,
        )
        assert row.ended_at == stored.ended_at
    for membership in world.untouched:
        assert fresh(session, Membership, membership.id).status == MembershipStatus.ACTIVE.value
    # Access is gone at once, both ways, for users and for the keys (403 through the API).
    assert not access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=pair.client_organisation
    )
    assert not access.environment_can_access_organisation(
        session, environment_id=pair.client.id, organisation=world.firm_organisation
    )
    assert not access.user_can_access_organisation(
        session, user=pair.accountant, organisation=pair.client_organisation
    )
    assert not access.user_can_access_organisation(
        session, user=world.firm_manager, organisation=pair.client_organisation
    )
    assert partnerships.client_organisations(session, environment_id=pair.firm.id) == [
        fresh(session, Organisation, world.other_client_organisation.id)
    ]
    response = api_get(engine, pair.client_organisation, world.keys)
    assert response.status_code == 403, response.text
    assert response.json() == {"error": "Your connection keys do not give access to this organisation."}
    assert api_get(engine, world.other_client_organisation, world.keys).status_code == 200
    # Managers disconnected (kept as history).
    links = session.exec(select(PartnershipManager).execution_options(populate_existing=True)).all()
    assert len(links) == 2
    assert all(
        link.disconnected_at is not None and link.disconnected_by_id == pair.client_admin.id for link in links
    )
    # Nothing deleted: activity, authorisation requests, notifications, organisations, users.
    after = snapshot(session)
    for table in (
        "activity_log",
        "authorisation_request",
        "notification",
        "organisation",
        "app_user",
        "environment",
    ):
        assert rows_kept(before, after, table), table
    # Both sides told: in the app, by email (Administrators and connected managers), in the log.
    assert {(n.environment_id, n.message) for n in notifications(session, kind="partnership.ended")} == {
        (pair.client.id, "The partnership with Lovelace Accounting was ended by Kees Koren."),
        (
            pair.firm.id,
            "The partnership with Korenbloem Holding was ended by Kees Koren of Korenbloem Holding.",
        ),
    }
    assert recipients(session, "partnership_ended") == sorted(
        [
            "fiona@lovelace.example",
            "mia@lovelace.example",
            "kees@korenbloem.example",
            "cor@korenbloem.example",
        ]
    )
    firm_email = next(
        m for m in outbox(session, template="partnership_ended") if m.to_address == "fiona@lovelace.example"
    )
    assert firm_email.subject == "The partnership with Korenbloem Holding has ended"
    assert firm_email.environment_id == pair.firm.id
    assert (
        "Kees Koren of Korenbloem Holding ended the partnership with Korenbloem Holding"
        in firm_email.text_body
    )
    assert "You no longer have access to the organisations of Korenbloem Holding" in firm_email.text_body
    assert "http://localhost:3000/partners" in firm_email.text_body
    assert 'href="http://localhost:3000/partners"' in firm_email.html_body
    assert {(a.environment_id, a.summary) for a in activities(session, action="partnership.ended")} == {
        (pair.client.id, "Kees Koren ended the partnership with Lovelace Accounting; 3 memberships ended."),
        (
            pair.firm.id,
            "Kees Koren of Korenbloem Holding ended the partnership with Korenbloem Holding; "
            "3 memberships ended.",
        ),
    }
    assert set(published) == {pair.firm.id, pair.client.id}
    # The ended partnership stays visible on both sides under a filter.
    assert (
        partners.list_partnerships(session, actor=pair.firm_admin, status="Ended")[0].id
        == pair.partnership.id
    )


def test_ending_twice_is_a_clear_conflict_from_either_side(session: Session) -> None:
    pair = make_pair(session)
    partners.end_partnership(session, actor=pair.firm_admin, partnership_id=pair.partnership.id)
    before = snapshot(session)

    for actor in (pair.firm_admin, pair.client_admin):
        with pytest.raises(Conflict, match="This partnership has ended already."):
            partners.end_partnership(session, actor=actor, partnership_id=pair.partnership.id)
    assert snapshot(session) == before


def test_both_sides_ending_at_the_same_moment_end_it_once(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session)
    hold_until_both_arrive(monkeypatch, partners, "utcnow")

    results = run_together(
        engine,
        lambda own: partners.end_partnership(own, actor=pair.firm_admin, partnership_id=pair.partnership.id),
        lambda own: partners.end_partnership(
            own, actor=pair.client_admin, partnership_id=pair.partnership.id
        ),
    )

    assert sum(isinstance(r, Partnership) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    session.expire_all()
    assert len(activities(session, action="partnership.ended")) == 2
    assert len(notifications(session, kind="partnership.ended")) == 2
    assert len(outbox(session, template="partnership_ended")) == 2  # one Administrator per side


def test_after_ending_the_two_can_become_partners_again(session: Session) -> None:
    pair = make_pair(session)
    partners.end_partnership(session, actor=pair.client_admin, partnership_id=pair.partnership.id)

    # By a relationship request ...
    assert (
        relationship_requests.why_cannot_request(
            session, actor=pair.accountant, organisation_id=pair.client_organisation.id
        )
        is None
    )
    # ... or by an accepted authorisation request (which reuses or creates the partnership).
    again, created = partnerships.get_or_create_partnership(
        session,
        environment_id=pair.client.id,
        partner_environment_id=pair.firm.id,
        initiator_environment_id=pair.firm.id,
        created_via=PartnershipOrigin.AUTHORISATION_REQUEST.value,
    )
    session.commit()

    assert created and again.id != pair.partnership.id
    assert [p.status for p in session.exec(select(Partnership).order_by(Partnership.id))] == [
        "Ended",
        "Active",
    ]
    # The old memberships stay ended: access comes back only with a new membership.
    assert not access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=pair.client_organisation
    )
    make_membership(session, pair.accountant, pair.client_organisation)
    assert access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=pair.client_organisation
    )


@pytest.mark.parametrize(("side", "role"), list(itertools.product(("firm", "client"), (*ROLES, BLOCKED))))
def test_only_administrators_of_either_side_end_a_partnership(session: Session, side: str, role: str) -> None:
    pair = make_pair(session)
    actor = make_actor(session, pair.firm if side == "firm" else pair.client, role)
    before = snapshot(session)

    if role == Role.ADMINISTRATOR.value:
        partners.end_partnership(session, actor=actor, partnership_id=pair.partnership.id)
        assert fresh(session, Partnership, pair.partnership.id).status == PartnershipStatus.ENDED.value
        return
    expected = "not active" if role == BLOCKED else "Only Administrators can end a partnership."
    with pytest.raises(PermissionDenied, match=expected):
        partners.end_partnership(session, actor=actor, partnership_id=pair.partnership.id)
    assert snapshot(session) == before


def test_ending_an_unknown_or_someone_elses_partnership_is_not_found(session: Session) -> None:
    pair = make_pair(session)
    stranger = make_environment(session, name="Stranger", plan=Plan.BASIC.value)
    stranger_admin = make_admin(session, stranger)
    before = snapshot(session)

    for partnership_id in (999_999, 0, -1, 2**40):
        with pytest.raises(NotFound, match="does not exist or is not one of yours"):
            partners.end_partnership(session, actor=pair.firm_admin, partnership_id=partnership_id)
    with pytest.raises(NotFound, match="does not exist or is not one of yours"):
        partners.end_partnership(session, actor=stranger_admin, partnership_id=pair.partnership.id)
    assert snapshot(session) == before


def test_the_keys_reach_a_partner_organisation_through_an_advanced_member_and_only_once_activated(
    session: Session, engine: Engine
) -> None:
    """Through the HTTP API: a plain User's membership gives the firm's keys nothing (403), an
    Advanced user's does (200); a non-activated organisation answers 403, the firm's own too."""
    pair = make_pair(session, accountant_member=False)
    make_membership(session, make_user(session, pair.firm, role=Role.USER.value), pair.client_organisation)
    not_activated = make_organisation(session, pair.client, name="Not activated yet", activated=False)
    make_membership(session, pair.accountant, not_activated)
    own_not_activated = make_organisation(session, pair.firm, name="Own, not activated", activated=False)
    key_set, secret = keys.create_key_set(session, actor=pair.firm_admin)
    auth = (key_set.app_key, secret)
    denied = {"error": "Your connection keys do not give access to this organisation."}

    response = api_get(engine, pair.client_organisation, auth)
    assert response.status_code == 403, response.text  # only a plain User of the firm is a member
    assert response.json() == denied
    make_membership(session, pair.accountant, pair.client_organisation)
    assert api_get(engine, pair.client_organisation, auth).status_code == 200

    for organisation in (not_activated, own_not_activated):
        response = api_get(engine, organisation, auth)
        assert response.status_code == 403, (organisation.name, response.text)
        assert response.json() == denied
    for organisation in (not_activated, own_not_activated):
        organisation.activated_at = utcnow()
        session.add(organisation)
    session.commit()
    for organisation in (not_activated, own_not_activated):
        assert api_get(engine, organisation, auth).status_code == 200, organisation.name


# --- the partnerships page ------------------------------------------------------------------------


def test_list_partnerships_shows_each_side_its_view(session: Session) -> None:
    world = make_world(session)
    pair = world.pair

    firm_rows = partners.list_partnerships(session, actor=pair.firm_admin)

    assert [row.partner_name for row in firm_rows] == ["Korenbloem Holding", "Other Client"]
    firm_view = firm_rows[0]
    assert (firm_view.id, firm_view.status, firm_view.origin, firm_view.cost_allocation) == (
        pair.partnership.id,
        "Active",
        "Authorisation request",
        CLIENT,
    )
    assert (firm_view.intermediary_name, firm_view.client_name, firm_view.we_are_intermediary) == (
        "Lovelace Accounting",
        "Korenbloem Holding",
        True,
    )
    assert firm_view.since == pair.partnership.created_at
    assert (firm_view.cost_choices_allowed, firm_view.can_end) == ([INTERMEDIARY], True)
    assert [m.name for m in firm_view.our_managers] == ["Mia Manager"]
    assert [m.name for m in firm_view.their_managers] == ["Cor Contact"]
    assert [label for _, label in firm_view.manager_candidates] == ["Ivan Idle (ivan@lovelace.example)"]
    assert [(o.name, [m.user_name for m in o.members]) for o in firm_view.their_organisations] == [
        ("Bakkerij De Korenbloem", ["Ada Lovelace"])
    ]
    assert [(o.name, [m.user_name for m in o.members]) for o in firm_view.our_organisations] == [
        ("Lovelace Accounting B.V.", ["Kees Koren"])  # the invited manager is not in yet
    ]

    [client_view] = partners.list_partnerships(session, actor=pair.client_admin)
    assert (client_view.partner_name, client_view.we_are_intermediary, client_view.cost_choices_allowed) == (
        "Lovelace Accounting",
        False,
        [],  # the client pays already
    )
    assert [m.name for m in client_view.our_managers] == ["Cor Contact"]
    assert [m.name for m in client_view.their_managers] == ["Mia Manager"]
    assert [o.name for o in client_view.our_organisations] == ["Bakkerij De Korenbloem"]
    assert [o.name for o in client_view.their_organisations] == ["Lovelace Accounting B.V."]

    [advanced_view, _] = partners.list_partnerships(session, actor=pair.accountant)
    assert (advanced_view.can_end, advanced_view.cost_choices_allowed, advanced_view.manager_candidates) == (
        False,
        [],
        [],
    )


def test_list_partnerships_filters_and_shows_who_ended_one(session: Session) -> None:
    pair = make_pair(session)
    newer = make_environment(session, name="Abacus Partners", plan=Plan.BASIC.value)
    make_partnership(session, newer, pair.client, created_via=PartnershipOrigin.RELATIONSHIP_REQUEST.value)
    partners.end_partnership(session, actor=pair.firm_admin, partnership_id=pair.partnership.id)

    active = partners.list_partnerships(session, actor=pair.client_admin)
    ended = partners.list_partnerships(session, actor=pair.client_admin, status="Ended")
    everything = partners.list_partnerships(session, actor=pair.client_admin, status="All")

    assert [(v.partner_name, v.origin) for v in active] == [("Abacus Partners", "Relationship request")]
    [ended_view] = ended
    assert (ended_view.partner_name, ended_view.status, ended_view.ended_by) == (
        "Lovelace Accounting",
        "Ended",
        "Fiona Firm",
    )
    assert ended_view.ended_at is not None
    assert (ended_view.can_end, ended_view.cost_choices_allowed, ended_view.their_organisations) == (
        False,
        [],
        [],
    )
    assert [v.partner_name for v in everything] == ["Abacus Partners", "Lovelace Accounting"]
    with pytest.raises(ValidationFailed) as caught:
        partners.list_partnerships(session, actor=pair.client_admin, status="Pending")
    assert caught.value.errors == {"status": "Choose Active, Ended or All."}


@pytest.mark.parametrize("role", [Role.USER.value, BLOCKED])
def test_list_partnerships_is_for_advanced_users_and_administrators(session: Session, role: str) -> None:
    pair = make_pair(session)
    actor = make_actor(session, pair.client, role)

    with pytest.raises(PermissionDenied):
        partners.list_partnerships(session, actor=actor)
    with pytest.raises(PermissionDenied):
        partners.who_has_access(session, actor=actor)


def test_who_has_access_lists_the_partners_that_reach_the_clients_organisations(session: Session) -> None:
    pair = make_pair(session)
    idle_partner = make_environment(session, name="Idle Partner", plan=Plan.BASIC.value)
    make_partnership(session, idle_partner, pair.client)

    [view] = partners.who_has_access(session, actor=pair.client_admin)

    assert view.partner_name == "Lovelace Accounting"
    [shared] = view.our_organisations
    assert shared.name == "Bakkerij De Korenbloem"
    assert [(m.user_name, m.user_email, m.role) for m in shared.members] == [
        ("Ada Lovelace", "ada@lovelace.example", "Member")
    ]
    assert shared.members[0].membership_id == pair.accountant_membership.id


# --- cost allocation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "role", "start", "choice"),
    list(
        itertools.product(
            ("intermediary", "client"), (*ROLES, BLOCKED), (CLIENT, INTERMEDIARY), (CLIENT, INTERMEDIARY)
        )
    ),
)
def test_who_may_choose_who_pays(session: Session, side: str, role: str, start: str, choice: str) -> None:
    pair = make_pair(session)
    pair.partnership.cost_allocation = start
    session.add(pair.partnership)
    session.commit()
    own, other = (pair.firm, pair.client) if side == "intermediary" else (pair.client, pair.firm)
    actor = make_actor(session, own, role, name="Pat Payer")
    before = snapshot(session)

    would_pay = INTERMEDIARY if side == "intermediary" else CLIENT
    is_admin = role == Role.ADMINISTRATOR.value
    assert partners.cost_choices_allowed(actor, fresh(session, Partnership, pair.partnership.id)) == (
        [would_pay] if is_admin and start != would_pay else []
    )
    if role == BLOCKED:
        with pytest.raises(PermissionDenied, match="not active"):
            partners.set_cost_allocation(
                session, actor=actor, partnership_id=pair.partnership.id, cost_allocation=choice
            )
    elif not is_admin:
        with pytest.raises(PermissionDenied, match="Only an Administrator"):
            partners.set_cost_allocation(
                session, actor=actor, partnership_id=pair.partnership.id, cost_allocation=choice
            )
    elif choice == start:  # nothing to change
        partners.set_cost_allocation(
            session, actor=actor, partnership_id=pair.partnership.id, cost_allocation=choice
        )
    elif choice != would_pay:
        payer = pair.client.name if choice == CLIENT else pair.firm.name
        with pytest.raises(
            PermissionDenied, match=f"Only an Administrator of {payer}, the side that would pay"
        ):
            partners.set_cost_allocation(
                session, actor=actor, partnership_id=pair.partnership.id, cost_allocation=choice
            )
    else:
        partners.set_cost_allocation(
            session, actor=actor, partnership_id=pair.partnership.id, cost_allocation=choice
        )
        assert fresh(session, Partnership, pair.partnership.id).cost_allocation == choice
        summary = (
            f"Pat Payer of {own.name} changed the cost allocation of the partnership between {own.name} and "
            f"{other.name}: {own.name} now pays for the client connection."
        )
        logged = activities(session, action="partnership.cost_allocation_changed")
        assert sorted((a.environment_id, a.summary) for a in logged) == sorted(
            [(own.id, summary), (other.id, summary)]
        )
        [told] = notifications(session, kind="partnership.cost_allocation_changed")
        assert (told.environment_id, told.message, told.link) == (other.id, summary, "/partners")
        return
    assert snapshot(session) == before


def test_cost_allocation_bad_input(session: Session) -> None:
    pair = make_pair(session)
    stranger = make_environment(session, name="Stranger", plan=Plan.BASIC.value)
    stranger_admin = make_admin(session, stranger)
    before = snapshot(session)

    for value in ("", "Nobody", "client"):
        with pytest.raises(ValidationFailed) as caught:
            partners.set_cost_allocation(
                session, actor=pair.firm_admin, partnership_id=pair.partnership.id, cost_allocation=value
            )
        assert caught.value.errors == {"cost_allocation": "Choose who pays for the client connection."}
    for actor, partnership_id in (
        (pair.firm_admin, 999_999),
        (pair.firm_admin, 2**40),
        (stranger_admin, pair.partnership.id),
    ):
        with pytest.raises(NotFound):
            partners.set_cost_allocation(
                session, actor=actor, partnership_id=partnership_id, cost_allocation=INTERMEDIARY
            )
    assert snapshot(session) == before

    partners.end_partnership(session, actor=pair.client_admin, partnership_id=pair.partnership.id)
    ended = snapshot(session)
    for choice in (INTERMEDIARY, CLIENT):
        with pytest.raises(Conflict, match="ended"):
            partners.set_cost_allocation(
                session, actor=pair.firm_admin, partnership_id=pair.partnership.id, cost_allocation=choice
            )
    assert snapshot(session) == ended


def test_the_intermediary_takes_the_costs_on_and_the_client_takes_them_back(session: Session) -> None:
    pair = make_pair(session)

    partners.set_cost_allocation(
        session, actor=pair.firm_admin, partnership_id=pair.partnership.id, cost_allocation=INTERMEDIARY
    )
    [client_view] = partners.list_partnerships(session, actor=pair.client_admin)
    assert (client_view.cost_allocation, client_view.cost_choices_allowed) == (INTERMEDIARY, [CLIENT])

    partners.set_cost_allocation(
        session, actor=pair.client_admin, partnership_id=pair.partnership.id, cost_allocation=CLIENT
    )
    [firm_view] = partners.list_partnerships(session, actor=pair.firm_admin)
    assert (firm_view.cost_allocation, firm_view.cost_choices_allowed) == (CLIENT, [INTERMEDIARY])
    told = notifications(session, kind="partnership.cost_allocation_changed")
    assert [n.environment_id for n in told] == [pair.client.id, pair.firm.id]
    assert len(activities(session, action="partnership.cost_allocation_changed")) == 4


@pytest.mark.parametrize("plan", [Plan.INVOICE_PORTAL.value, Plan.BASIC.value, Plan.PROFESSIONAL.value])
def test_a_client_on_any_plan_can_end_the_partnership(session: Session, plan: str) -> None:
    """Partnerships need a plan on the side that starts them; ending one never does."""
    pair = make_pair(session, client_plan=plan)

    partners.end_partnership(session, actor=pair.client_admin, partnership_id=pair.partnership.id)

    assert fresh(session, Partnership, pair.partnership.id).status == PartnershipStatus.ENDED.value
    assert fresh(session, Membership, pair.accountant_membership.id).status == MembershipStatus.ENDED.value
