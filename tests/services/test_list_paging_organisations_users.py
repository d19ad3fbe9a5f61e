"""The organisations and users lists page, sort and search in the database (issue 10 part B):
5,000 rows come out page by page, each once; every sort works both ways; the search finds what it
should and nothing it should not; everyone sees the same rows as before the lists were paged."""

from __future__ import annotations

import pytest
from conftest_factories import make_admin, make_environment, make_organisation, make_user
from sqlmodel import Session

from econnect_app import security
from econnect_app.models import (
    Membership,
    MembershipRole,
    Organisation,
    Partnership,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import organisation_overview, users
from econnect_app.services.errors import PermissionDenied, ValidationFailed
from econnect_app.services.paging import ListQuery

MANY = 5_000


def _all_pages(fetch, *, page_size: int = 100, **query) -> tuple[list, int]:  # type: ignore[no-untyped-def]
    """Every row of every page (in order) and the total the first page reported."""
    first = fetch(ListQuery(page=1, page_size=page_size, **query))
    rows = list(first.rows)
    for number in range(2, first.page_count + 1):
        page = fetch(ListQuery(page=number, page_size=page_size, **query))
        assert page.query.page == number and page.total == first.total
        assert page.first_index == (number - 1) * page_size + 1
        rows.extend(page.rows)
    return rows, first.total


# --- organisations ----------------------------------------------------------------------------


def _partner(session: Session, firm, client) -> None:  # type: ignore[no-untyped-def]
    low, high = sorted((firm.id, client.id))
    session.add(Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=firm.id))
    session.commit()


def _member(session: Session, organisation, user, role: str = MembershipRole.MEMBER.value) -> None:  # type: ignore[no-untyped-def]
    session.add(Membership(organisation_id=organisation.id, user_id=user.id, role=role))
    session.commit()


@pytest.fixture()
def scene(session: Session) -> dict:
    """A firm with three own organisations (one activated), a client whose two organisations the
    firm's accountant reaches (one as Administrator member), one it does not reach, and a stranger."""
    firm = make_environment(session, name="Lovelace Accounting")
    client = make_environment(session, name="Bakkerij Korenbloem")
    stranger = make_environment(session, name="Stranger")
    accountant = make_admin(session, firm, name="Ada")
    plain = make_user(session, firm, role=Role.USER.value)
    own_active = make_organisation(session, firm, name="Lovelace B.V.", activated=True)
    _member(session, own_active, accountant, MembershipRole.ADMINISTRATOR.value)
    make_organisation(session, firm, name="amsterdam Payroll", kvk_number="98765432")
    make_organisation(session, firm, name="Zuid 100% Holding")
    shared = make_organisation(session, client, name="Korenbloem B.V.", activated=True)
    managed = make_organisation(session, client, name="Brood_en_Banket", activated=True)
    make_organisation(session, client, name="Not shared B.V.", activated=True)
    make_organisation(session, stranger, name="Stranger B.V.", activated=True)
    _partner(session, firm, client)
    _member(session, shared, accountant)
    _member(session, managed, accountant, MembershipRole.ADMINISTRATOR.value)
    return {"firm": firm, "accountant": accountant, "plain": plain, "shared": shared, "own": own_active}


def _organisations(session: Session, actor: User, scope: str = "all", **query):  # type: ignore[no-untyped-def]
    return organisation_overview.organisations_page(session, actor=actor, query=ListQuery(**query), scope=scope)


def _names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.name for row in page.rows]


@pytest.mark.parametrize("scope", ["all", "own", "partner"])
@pytest.mark.parametrize("who", ["accountant", "plain"])
def test_a_page_shows_the_same_rows_as_the_whole_list_did(session: Session, scene: dict, scope: str, who: str) -> None:
    """Same rows, same order by default, same role, identifier and rights: a plain user still sees
    only own organisations and no identifiers."""
    actor = scene[who]
    whole = organisation_overview.list_organisations(session, actor=actor, scope=scope)

    page = _organisations(session, actor, scope)

    assert page.rows == whole
    assert page.total == len(whole) and page.query.sort == ""
    if who == "plain":
        assert all(row.is_own and row.identifier == "" and not row.can_configure for row in page.rows)


def test_organisations_sort_by_each_column_both_ways(session: Session, scene: dict) -> None:
    actor = scene["accountant"]
    by_name = _names(_organisations(session, actor, sort="name"))
    assert by_name == [
        "amsterdam Payroll", "Brood_en_Banket", "Korenbloem B.V.", "Lovelace B.V.", "Zuid 100% Holding"
    ]  # fmt: skip
    assert _names(_organisations(session, actor, sort="name", descending=True)) == by_name[::-1]

    owners = [row.environment_name for row in _organisations(session, actor, sort="owner").rows]
    assert owners == ["Bakkerij Korenbloem"] * 2 + ["Lovelace Accounting"] * 3
    descending = [row.environment_name for row in _organisations(session, actor, sort="owner", descending=True).rows]
    assert descending == owners[::-1]

    roles = [row.role for row in _organisations(session, actor, sort="role").rows]
    assert roles == ["", "", "Administrator", "Administrator", "Member"]
    assert [row.role for row in _organisations(session, actor, sort="role", descending=True).rows] == roles[::-1]

    active = [row.activated for row in _organisations(session, actor, sort="status").rows]
    assert active == [True, True, True, False, False]
    assert [row.activated for row in _organisations(session, actor, sort="status", descending=True).rows] == active[::-1]

    # An unknown column is the default order: own organisations first, each by name.
    assert _names(_organisations(session, actor, sort="identifier")) == [
        "amsterdam Payroll", "Lovelace B.V.", "Zuid 100% Holding", "Brood_en_Banket", "Korenbloem B.V."
    ]  # fmt: skip


def test_organisations_search_name_kvk_city_owner_and_identifier(session: Session, scene: dict) -> None:
    actor = scene["accountant"]
    assert _names(_organisations(session, actor, search="KORENBLOEM")) == ["Brood_en_Banket", "Korenbloem B.V."]
    assert _names(_organisations(session, actor, search="8765")) == ["amsterdam Payroll"]
    assert _names(_organisations(session, actor, search="100%")) == ["Zuid 100% Holding"]  # % meant literally
    assert _names(_organisations(session, actor, search="lovelace_")) == []  # _ meant literally
    assert _names(_organisations(session, actor, search="brood_en_")) == ["Brood_en_Banket"]
    assert _names(_organisations(session, actor, search="not shared")) == []  # not reached: not found
    identifier = scene["shared"].identifier
    assert _names(_organisations(session, actor, search=identifier[:12])) == ["Korenbloem B.V."]
    # A plain user sees no identifiers, so they cannot search by one either.
    assert _names(_organisations(session, scene["plain"], search=scene["own"].identifier[:12])) == []
    assert _names(_organisations(session, actor, scope="own", search="b.v.")) == ["Lovelace B.V."]


def test_organisations_refuse_an_unknown_scope_and_a_blocked_user(session: Session, scene: dict) -> None:
    with pytest.raises(ValidationFailed):
        _organisations(session, scene["accountant"], "everything")
    blocked = make_user(session, scene["firm"], status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        _organisations(session, blocked)


def test_five_thousand_organisations_page_by_page(session: Session) -> None:
    firm = make_environment(session, name="Big Firm")
    admin = make_admin(session, firm)
    other = make_environment(session, name="Other")
    session.add_all(
        Organisation(
            environment_id=environment.id,
            name=f"Organisation {number:05d}",
            kvk_number=f"{number:08d}",
            city="Utrecht" if number % 10 == 0 else "Delft",
            identifier=security.new_public_identifier(),
            activated_at=utcnow() if number % 2 else None,
        )
        for environment in (firm, other)
        for number in range(MANY if environment is firm else 20)
    )
    session.commit()

    def fetch(query: ListQuery):  # type: ignore[no-untyped-def]
        return organisation_overview.organisations_page(session, actor=admin, query=query)

    rows, total = _all_pages(fetch)
    assert total == MANY and len(rows) == MANY
    assert len({row.id for row in rows}) == MANY  # no row on two pages, none left out
    assert [row.name for row in rows] == [f"Organisation {number:05d}" for number in range(MANY)]

    rows, total = _all_pages(fetch, sort="name", descending=True, page_size=50)
    assert total == MANY and [row.name for row in rows][:2] == ["Organisation 04999", "Organisation 04998"]
    assert len({row.id for row in rows}) == MANY

    rows, total = _all_pages(fetch, sort="status")  # many ties: the id keeps the order total
    assert total == MANY and len({row.id for row in rows}) == MANY
    assert [row.activated for row in rows] == [True] * (MANY // 2) + [False] * (MANY // 2)

    rows, total = _all_pages(fetch, search="utrecht", page_size=25)
    assert total == MANY // 10 and len({row.id for row in rows}) == MANY // 10

    past_the_end = fetch(ListQuery(page=999, page_size=100))
    assert past_the_end.query.page == 50 and _names(past_the_end)[-1] == "Organisation 04999"


# --- users ------------------------------------------------------------------------------------


@pytest.fixture()
def people(session: Session) -> dict:
    environment = make_environment(session)
    admin = make_admin(session, environment, name="Bram", email="bram@firm.example")
    make_user(session, environment, name="anna", email="anna@firm.example", role=Role.ADVANCED_USER.value)
    make_user(session, environment, name="Zoe", email="zoe@firm.example", status=UserStatus.BLOCKED.value)
    make_user(
        session, environment, name="", email="invited@firm.example", status=UserStatus.INVITED.value, password_hash=None
    )
    make_user(session, make_environment(session, name="Other"), name="Outsider", email="anna@other.example")
    return {"environment": environment, "admin": admin}


def _users(session: Session, actor: User, **query):  # type: ignore[no-untyped-def]
    return users.users_page(session, actor=actor, query=ListQuery(**query))


def _labels(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [user.name or user.email for user in page.rows]


def test_users_page_by_default_as_the_whole_list(session: Session, people: dict) -> None:
    page = _users(session, people["admin"])
    assert page.rows == users.list_users(session, actor=people["admin"])
    assert _labels(page) == ["anna", "Bram", "invited@firm.example", "Zoe"] and page.total == 4


def test_users_sort_by_each_column_both_ways(session: Session, people: dict) -> None:
    admin = people["admin"]
    assert _labels(_users(session, admin, sort="name")) == ["invited@firm.example", "anna", "Bram", "Zoe"]
    assert _labels(_users(session, admin, sort="name", descending=True)) == ["Zoe", "Bram", "anna", "invited@firm.example"]
    emails = [user.email for user in _users(session, admin, sort="email").rows]
    assert emails == ["anna@firm.example", "bram@firm.example", "invited@firm.example", "zoe@firm.example"]
    assert [user.email for user in _users(session, admin, sort="email", descending=True).rows] == emails[::-1]
    roles = [user.role for user in _users(session, admin, sort="role").rows]
    assert roles == ["User", "User", "Advanced user", "Administrator"]
    assert [user.role for user in _users(session, admin, sort="role", descending=True).rows] == roles[::-1]
    statuses = [user.status for user in _users(session, admin, sort="status").rows]
    assert statuses == ["Active", "Active", "Invited", "Blocked"]
    assert [user.status for user in _users(session, admin, sort="status", descending=True).rows] == statuses[::-1]


def test_users_search_name_and_email_of_the_own_environment_only(session: Session, people: dict) -> None:
    admin = people["admin"]
    assert _labels(_users(session, admin, search="ANNA")) == ["anna"]  # not the other environment's Anna
    assert _labels(_users(session, admin, search="invited@")) == ["invited@firm.example"]
    assert _labels(_users(session, admin, search="firm.example", sort="name", descending=True)) == [
        "Zoe", "Bram", "anna", "invited@firm.example"
    ]  # fmt: skip
    assert _users(session, admin, search="outsider").total == 0


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_page_through_users(session: Session, people: dict, role: str) -> None:
    actor = make_user(session, people["environment"], role=role)
    with pytest.raises(PermissionDenied):
        _users(session, actor)


def test_five_thousand_users_page_by_page(session: Session) -> None:
    environment = make_environment(session, name="Big Firm")
    admin = make_admin(session, environment, name="Admin", email="admin@big.example")
    session.add_all(
        User(
            environment_id=environment.id,
            name=f"User {number:05d}",
            email=f"user{number:05d}@big.example",
            role=Role.USER.value,
            status=UserStatus.BLOCKED.value if number % 4 == 0 else UserStatus.ACTIVE.value,
            password_hash="not-a-real-hash",
        )
        for number in range(MANY)
    )
    session.add(User(environment_id=make_environment(session).id, name="Elsewhere", email="else@where.example"))
    session.commit()

    def fetch(query: ListQuery):  # type: ignore[no-untyped-def]
        return users.users_page(session, actor=admin, query=query)

    rows, total = _all_pages(fetch)
    assert total == MANY + 1 and len({user.id for user in rows}) == MANY + 1
    assert [user.status for user in rows] == ["Active"] * (MANY * 3 // 4 + 1) + ["Blocked"] * (MANY // 4)

    rows, total = _all_pages(fetch, sort="email", descending=True, page_size=50)
    assert [user.email for user in rows] == sorted((user.email for user in rows), reverse=True)
    assert len({user.id for user in rows}) == MANY + 1

    rows, total = _all_pages(fetch, search="user 00", sort="name")
    assert total == 1_000 and [user.name for user in rows] == [f"User {number:05d}" for number in range(1_000)]
