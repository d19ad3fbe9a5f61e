"""The partners page's partnerships and the keys page's client organisations, paged on the server
(sort both ways, search, the Show filter), with 5,000 rows: every row on exactly one page, and the
permissions of the lists they replace. Runs on SQLite and, with ECONNECT_TEST_DB_URL, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import make_admin, make_environment, make_organisation, make_user
from partnership_factories import (
    connect_manager_row,
    end_partnership_row,
    make_membership,
    make_pair,
    make_partnership,
    make_relationship_manager,
)
from sqlmodel import Session, text

from econnect_app import security
from econnect_app.models import (
    Environment,
    Membership,
    MembershipStatus,
    Organisation,
    Partnership,
    PartnershipStatus,
    Role,
    SoftwarePackage,
    UserStatus,
    utcnow,
)
from econnect_app.services import keys, partners
from econnect_app.services.errors import PermissionDenied, ValidationFailed
from econnect_app.services.paging import ListQuery

MANY = 5_000
ENDED_EVERY = 5  # every fifth partnership of the big list has ended


def _scrambled(number: int) -> int:
    """0..MANY-1 in another order than creation, so sorting by name is not sorting by id."""
    return (number * 7919) % MANY


def _analyzed(session: Session) -> None:
    """PostgreSQL: gather the planner's statistics of the rows just written, as autovacuum soon does
    on a real database (without them it may plan 5,000 rows as a handful)."""
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("ANALYZE"))  # type: ignore[call-overload]


def _all_pages(read, *, page_size: int = 100, **query) -> list:  # type: ignore[no-untyped-def]
    """Every row of a list, page by page (checks each page's counts on the way)."""
    rows: list = []
    first = read(ListQuery(page=1, page_size=page_size, **query))
    for number in range(1, first.page_count + 1):
        page = read(ListQuery(page=number, page_size=page_size, **query))
        assert page.query.page == number and page.total == first.total
        assert len(page.rows) == (page_size if number < page.page_count else first.total - page_size * (number - 1))
        assert (page.first_index, page.last_index) == ((number - 1) * page_size + 1, (number - 1) * page_size + len(page.rows))
        rows.extend(page.rows)
    return rows


# --- partnerships ---------------------------------------------------------------------------------


@pytest.fixture()
def firm_with_many_partners(session: Session):  # type: ignore[no-untyped-def]
    """See ``make_firm_with_many_partners``."""
    return make_firm_with_many_partners(session)


def make_firm_with_many_partners(session: Session):  # type: ignore[no-untyped-def]
    """A firm with MANY partnerships, with "Partner 0000".."Partner 4999" (created in a scrambled
    order, one minute apart); every fifth has ended."""
    firm = make_environment(session, name="Big Firm")
    admin = make_admin(session, firm)
    environments = [Environment(name=f"Partner {_scrambled(number):04d}") for number in range(MANY)]
    session.add_all(environments)
    session.flush()
    start = utcnow() - timedelta(days=10)
    for number, environment in enumerate(environments):
        low, high = sorted((firm.id, environment.id))  # type: ignore[type-var]
        ended = number % ENDED_EVERY == 0
        session.add(
            Partnership(
                environment_low_id=low,
                environment_high_id=high,
                initiator_environment_id=firm.id,
                created_at=start + timedelta(minutes=number),
                status=PartnershipStatus.ENDED.value if ended else PartnershipStatus.ACTIVE.value,
                ended_at=start + timedelta(days=5) if ended else None,
            )
        )
    session.commit()
    _analyzed(session)
    return firm, admin


def test_every_partnership_is_on_exactly_one_page_in_name_order_both_ways(session: Session, firm_with_many_partners) -> None:  # type: ignore[no-untyped-def]
    _, admin = firm_with_many_partners

    def read(query: ListQuery):  # type: ignore[no-untyped-def]
        return partners.partnerships_page(session, actor=admin, query=query, status="All")

    ascending = _all_pages(read, sort="partner")
    names = [view.partner_name for view in ascending]
    assert len(names) == MANY and len({view.id for view in ascending}) == MANY
    assert names == sorted(names) == [f"Partner {number:04d}" for number in range(MANY)]

    descending = _all_pages(read, sort="partner", descending=True)
    assert [view.partner_name for view in descending] == names[::-1]


def test_the_show_filter_counts_and_sorting_by_date(session: Session, firm_with_many_partners) -> None:  # type: ignore[no-untyped-def]
    _, admin = firm_with_many_partners

    def read(status: str, query: ListQuery):  # type: ignore[no-untyped-def]
        return partners.partnerships_page(session, actor=admin, query=query, status=status)

    ended = MANY // ENDED_EVERY
    assert read("Active", ListQuery()).total == MANY - ended
    assert read("Ended", ListQuery()).total == ended
    assert read("All", ListQuery()).total == MANY
    assert {view.status for view in read("Ended", ListQuery(page_size=100)).rows} == {"Ended"}

    newest = read("All", ListQuery(sort="since", descending=True, page_size=25)).rows
    oldest = read("All", ListQuery(sort="since", page_size=25)).rows
    assert [view.since for view in newest] == sorted((view.since for view in newest), reverse=True)
    assert [view.since for view in oldest] == sorted(view.since for view in oldest)
    assert oldest[0].since < newest[-1].since and newest[0].since - oldest[0].since == timedelta(minutes=MANY - 1)

    # Status sorts Active before Ended, and the other way round.
    assert read("All", ListQuery(sort="status", page_size=25)).rows[0].status == "Active"
    assert read("All", ListQuery(sort="status", descending=True, page_size=25)).rows[0].status == "Ended"


def test_a_page_past_the_end_and_an_unknown_sort_are_made_safe(session: Session, firm_with_many_partners) -> None:  # type: ignore[no-untyped-def]
    _, admin = firm_with_many_partners

    page = partners.partnerships_page(
        session, actor=admin, query=ListQuery(page=999, page_size=100, sort="password", descending=True), status="All"
    )

    assert page.query.page == page.page_count == MANY // 100
    assert (page.query.sort, page.query.descending) == ("partner", False)
    assert page.rows[-1].partner_name == "Partner 4999"


def test_searching_partnerships_by_partner_name(session: Session, firm_with_many_partners) -> None:  # type: ignore[no-untyped-def]
    _, admin = firm_with_many_partners

    def search(text: str, status: str = "All"):  # type: ignore[no-untyped-def]
        return partners.partnerships_page(session, actor=admin, query=ListQuery(search=text), status=status)

    found = search("  partner   012 ")
    assert found.total == 10
    assert [view.partner_name for view in found.rows] == [f"Partner 012{digit}" for digit in range(10)]
    assert search("Partner 0120", status="Ended").total + search("Partner 0120", status="Active").total == 1
    assert search("100%").total == 0 and search("Partner_").total == 0  # % and _ are meant literally


def test_the_partner_list_pages_show_each_side_its_partner(session: Session) -> None:
    pair = make_pair(session)

    [firm_view] = partners.partnerships_page(session, actor=pair.firm_admin, query=ListQuery()).rows
    [client_view] = partners.partnerships_page(session, actor=pair.client_admin, query=ListQuery()).rows

    assert (firm_view.partner_name, client_view.partner_name) == ("Korenbloem Holding", "Lovelace Accounting")
    assert firm_view == partners.list_partnerships(session, actor=pair.firm_admin)[0]
    assert client_view == partners.list_partnerships(session, actor=pair.client_admin)[0]


@pytest.mark.parametrize("role", [Role.USER.value, "Blocked"])
def test_only_advanced_users_and_administrators_page_through_partnerships(session: Session, role: str) -> None:
    pair = make_pair(session)
    status = UserStatus.BLOCKED.value if role == "Blocked" else UserStatus.ACTIVE.value
    actor = make_user(session, pair.firm, role=Role.ADMINISTRATOR.value if role == "Blocked" else role, status=status)
    with pytest.raises(PermissionDenied):
        partners.partnerships_page(session, actor=actor, query=ListQuery())
    assert partners.partnerships_page(session, actor=pair.accountant, query=ListQuery()).total == 1


def test_an_unknown_show_filter_is_refused(session: Session) -> None:
    pair = make_pair(session)
    with pytest.raises(ValidationFailed):
        partners.partnerships_page(session, actor=pair.firm_admin, query=ListQuery(), status="Pending")


# --- client keys ----------------------------------------------------------------------------------


@pytest.fixture()
def firm_with_many_clients(session: Session):  # type: ignore[no-untyped-def]
    """See ``make_firm_with_many_clients``."""
    return make_firm_with_many_clients(session)


def make_firm_with_many_clients(session: Session):  # type: ignore[no-untyped-def]
    """A firm whose Advanced user is a member of MANY activated organisations of one client
    ("Client 0000".."Client 4999", every other one with Moneybird), and organisations its keys do
    not reach."""
    firm = make_environment(session, name="Big Firm")
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    make_organisation(session, firm, name="Big Firm BV", activated=True)  # its own: not a client
    client = make_environment(session, name="Client Holding")
    make_partnership(session, firm, client)
    package = SoftwarePackage(slug="moneybird", name="Moneybird", instructions="Open Moneybird.")
    session.add(package)
    session.flush()
    now = utcnow()
    organisations = [
        Organisation(
            environment_id=client.id,
            name=f"Client {_scrambled(number):04d}",
            kvk_number=f"{number:08d}",
            identifier=security.new_public_identifier(),
            activated_at=now,
            software_package_id=package.id if number % 2 else None,
        )
        for number in range(MANY)
    ]
    not_reached = [
        Organisation(environment_id=client.id, name="Client not activated", kvk_number="90000001",
                     identifier=security.new_public_identifier()),
        Organisation(environment_id=client.id, name="Client without us", kvk_number="90000002",
                     identifier=security.new_public_identifier(), activated_at=now),
    ]
    session.add_all(organisations + not_reached)
    session.flush()
    session.add_all(
        Membership(organisation_id=organisation.id, user_id=accountant.id, status=MembershipStatus.ACTIVE.value)
        for organisation in [*organisations, not_reached[0]]
    )
    session.commit()
    _analyzed(session)
    return firm, accountant


def test_every_client_organisation_is_on_exactly_one_page_both_ways(session: Session, firm_with_many_clients) -> None:  # type: ignore[no-untyped-def]
    _, accountant = firm_with_many_clients

    def read(query: ListQuery):  # type: ignore[no-untyped-def]
        return keys.client_keys_page(session, actor=accountant, query=query)

    ascending = _all_pages(read)  # by organisation name unless asked otherwise
    names = [row.organisation_name for row in ascending]
    assert names == [f"Client {number:04d}" for number in range(MANY)]
    assert len({row.organisation_id for row in ascending}) == MANY
    assert {row.environment_name for row in ascending} == {"Client Holding"} and not any(row.is_own for row in ascending)

    descending = _all_pages(read, sort="organisation", descending=True)
    assert [row.organisation_name for row in descending] == names[::-1]


def test_client_organisations_sort_by_software_and_search(session: Session, firm_with_many_clients) -> None:  # type: ignore[no-untyped-def]
    _, accountant = firm_with_many_clients

    def read(**query):  # type: ignore[no-untyped-def]
        return keys.client_keys_page(session, actor=accountant, query=ListQuery(**query))

    without_first = read(sort="software", page_size=100)
    assert {row.software_name for row in without_first.rows} == {None}
    moneybird_first = read(sort="software", descending=True, page_size=100)
    assert {row.software_name for row in moneybird_first.rows} == {"Moneybird"}
    assert moneybird_first.rows[0].instructions == "Open Moneybird."
    # Equal values keep one order: the id, the other way round when descending.
    ids = [row.organisation_id for row in moneybird_first.rows]
    assert ids == sorted(ids, reverse=True)

    found = read(search="client 012")
    assert [row.organisation_name for row in found.rows] == [f"Client 012{digit}" for digit in range(10)]
    identifier = found.rows[3].organisation_identifier
    assert [row.organisation_name for row in read(search=identifier.upper()).rows] == ["Client 0123"]
    assert read(search="Client Holding").total == MANY  # the owner's name
    assert read(search="not activated").total == read(search="without us").total == 0


def _client_rows_of_the_full_list(session: Session, actor) -> list[keys.ClientKeyRow]:  # type: ignore[no-untyped-def]
    return [row for row in keys.list_client_keys(session, actor=actor) if not row.is_own]


def test_the_paged_list_reaches_what_the_keys_rule_reaches(session: Session) -> None:
    """The same organisations as the full list (``access``'s rule, one organisation at a time), for
    a member, a connected relationship manager, and after the partnership ends."""
    pair = make_pair(session)
    colleague_only = make_organisation(session, pair.client, name="Colleague only BV", activated=True)
    make_membership(session, pair.firm_admin, colleague_only)
    ended_member = make_organisation(session, pair.client, name="Ended membership BV", activated=True)
    make_membership(session, pair.accountant, ended_member, status=MembershipStatus.ENDED.value)
    other = make_environment(session, name="Another client")
    make_partnership(session, pair.firm, other)
    other_organisation = make_organisation(session, other, name="Other client BV", activated=True)
    make_membership(session, pair.firm_admin, other_organisation)
    manager = make_relationship_manager(session, pair.firm)
    assert pair.partnership is not None
    connect_manager_row(session, pair.partnership, manager)
    blocked_colleague = make_user(session, pair.firm, role=Role.ADMINISTRATOR.value, status=UserStatus.BLOCKED.value)
    make_membership(session, blocked_colleague, make_organisation(session, pair.client, name="Blocked BV", activated=True))

    def names(actor) -> list[str]:  # type: ignore[no-untyped-def]
        paged = keys.client_keys_page(session, actor=actor, query=ListQuery(page_size=100)).rows
        assert paged == _client_rows_of_the_full_list(session, actor)
        return [row.organisation_name for row in paged]

    assert names(pair.accountant) == ["Bakkerij De Korenbloem"]
    assert names(pair.firm_admin) == ["Colleague only BV", "Other client BV"]
    # A connected manager reaches what the environment reaches in that partner, not beyond it.
    assert names(manager) == ["Bakkerij De Korenbloem", "Colleague only BV"]
    assert names(pair.client_admin) == []  # the client's own organisations are not clients

    end_partnership_row(session, pair.partnership)
    assert names(pair.accountant) == [] and names(manager) == []
    assert names(pair.firm_admin) == ["Other client BV"]


def test_own_organisations_are_listed_apart_whole(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    admin = make_admin(session, firm)
    make_organisation(session, firm, name="b Firm BV", activated=True)
    make_organisation(session, firm, name="A Firm BV", activated=True)
    make_organisation(session, firm, name="Not activated BV")

    own = keys.own_organisation_keys(session, actor=admin)

    assert [(row.organisation_name, row.environment_name, row.is_own) for row in own] == [
        ("A Firm BV", "Firm", True),
        ("b Firm BV", "Firm", True),
    ]
    assert own == [row for row in keys.list_client_keys(session, actor=admin) if row.is_own]


@pytest.mark.parametrize("role", [Role.USER.value, "Blocked"])
def test_only_advanced_users_and_administrators_page_through_client_keys(session: Session, role: str) -> None:
    pair = make_pair(session)
    status = UserStatus.BLOCKED.value if role == "Blocked" else UserStatus.ACTIVE.value
    actor = make_user(session, pair.firm, role=Role.ADVANCED_USER.value if role == "Blocked" else role, status=status)
    with pytest.raises(PermissionDenied):
        keys.client_keys_page(session, actor=actor, query=ListQuery())
    with pytest.raises(PermissionDenied):
        keys.own_organisation_keys(session, actor=actor)
    assert keys.client_keys_page(session, actor=pair.accountant, query=ListQuery()).total == 1
