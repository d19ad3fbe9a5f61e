"""Find partners: what the search finds, in which order, for whom, and that its index keeps up.

Runs on SQLite, and on PostgreSQL with ``ECONNECT_TEST_DB_URL``. The word and city tiers have two
ways to read their matches (sorted terms when there are few, the name order when there are many);
the ``strategy`` fixture runs the order-sensitive tests both ways.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest_factories import make_admin, make_environment, make_organisation, make_user
from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from econnect_app import security
from econnect_app.models import (
    Environment,
    Organisation,
    OrganisationSearch,
    OrganisationSearchTerm,
    Plan,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import find_partners, organisations
from econnect_app.services.errors import PermissionDenied
from econnect_app.services.find_partners import search_organisations


@pytest.fixture(params=["few matches", "many matches"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Few matches: terms sorted by name. Many matches (threshold 1): a walk in name order."""
    if request.param == "many matches":
        monkeypatch.setattr(find_partners, "DENSE_TERMS", 1)
    yield request.param


@pytest.fixture()
def own(session: Session) -> Environment:
    return make_environment(session, name="Jansen Accountants", plan=Plan.BASIC.value)


@pytest.fixture()
def actor(session: Session, own: Environment) -> User:
    return make_user(session, own, role=Role.ADVANCED_USER.value, name="Anna Jansen")


@pytest.fixture()
def other(session: Session) -> Environment:
    return make_environment(session, name="Bakkerij Holding")


def add(
    session: Session,
    environment: Environment,
    name: str,
    *,
    city: str = "",
    kvk_number: str | None = None,
    activated: bool = True,
    findable: bool = True,
) -> Organisation:
    """An organisation (activated by default), written through the ORM like the services do."""
    organisation = make_organisation(
        session, environment, name=name, kvk_number=kvk_number, activated=activated
    )
    if city or not findable:
        organisation.city = city
        organisation.findable = findable
        session.add(organisation)
        session.commit()
    return organisation


def names(session: Session, actor: User, query: str, **kwargs: int) -> list[str]:
    return [row.name for row in search_organisations(session, actor=actor, query=query, **kwargs).rows]


def test_a_kvk_number_first_then_name_start_then_a_later_word_then_the_city(
    session: Session, actor: User, other: Environment, strategy: str
) -> None:
    add(session, other, "Jansen Bouw", city="Korendijk")
    add(session, other, "Bakkerij De Korenbloem B.V.", city="Utrecht")
    add(session, other, "Korenbloem Holding", city="Amsterdam")
    add(session, other, "Korenmolen Zuid", city="Korendijk")  # name start wins over the city
    add(session, other, "Aardappelhandel Koren", city="Korenhorst")  # a later word wins over the city
    add(session, other, "Visser Transport", city="Utrecht")

    page = search_organisations(session, actor=actor, query="koren")

    assert [(row.name, row.matched_on) for row in page.rows] == [
        ("Korenbloem Holding", "name"),
        ("Korenmolen Zuid", "name"),
        ("Aardappelhandel Koren", "word"),
        ("Bakkerij De Korenbloem B.V.", "word"),
        ("Jansen Bouw", "city"),
    ]
    assert page.has_more is False and page.hint == ""


def test_an_eight_digit_query_finds_the_kvk_number_first_spaces_allowed(
    session: Session, actor: User, other: Environment, strategy: str
) -> None:
    add(session, other, "12345678 Trading", kvk_number="87654321")
    wanted = add(session, other, "Zeta Logistiek", kvk_number="12345678", city="Zwolle")
    third = make_environment(session, name="Derde")
    add(session, third, "Alpha Logistiek", kvk_number="12345678")  # the same number elsewhere

    for query in ("12345678", "1234 5678", " 1234  5678 "):
        page = search_organisations(session, actor=actor, query=query)
        assert [(row.name, row.matched_on) for row in page.rows] == [
            ("Alpha Logistiek", "kvk"),
            ("Zeta Logistiek", "kvk"),
            ("12345678 Trading", "name"),
        ]
    row = page.rows[1]
    assert (row.organisation_id, row.kvk_number, row.city) == (wanted.id, "12345678", "Zwolle")
    assert (row.environment_id, row.environment_name) == (other.id, "Bakkerij Holding")
    partial = search_organisations(session, actor=actor, query="1234567")  # not a KvK lookup
    assert [(row.name, row.matched_on) for row in partial.rows] == [("12345678 Trading", "name")]


def test_a_belgian_enterprise_number_is_found_exactly_however_it_is_written(
    session: Session, actor: User, other: Environment, strategy: str
) -> None:
    wanted = add(session, other, "Brouwerij Gent", kvk_number="0403019261", city="Gent")
    add(session, other, "Brouwerij Antwerpen", kvk_number="0403019262", city="Antwerpen")

    for query in ("0403019261", "0403.019.261", "BE 0403 019 261", "be0403019261"):
        page = search_organisations(session, actor=actor, query=query)
        assert [(row.organisation_id, row.matched_on) for row in page.rows] == [(wanted.id, "kvk")], query


def test_own_environment_inactive_and_unfindable_organisations_are_never_shown(
    session: Session, own: Environment, actor: User, other: Environment, strategy: str
) -> None:
    add(session, own, "Korenbloem Eigen", city="Korendijk")
    add(session, other, "Korenbloem Nieuw", activated=False)
    add(session, other, "Korenbloem Verborgen", findable=False)
    add(session, other, "De Korenbloem Verborgen", findable=False)
    add(session, other, "Verborgen", city="Korendijk", findable=False)
    add(session, other, "Korenbloem Zichtbaar")

    assert names(session, actor, "korenbloem") == ["Korenbloem Zichtbaar"]
    assert names(session, actor, "korendijk") == []


def test_case_and_accents_do_not_matter_on_either_side(
    session: Session, actor: User, other: Environment, strategy: str
) -> None:
    add(session, other, "Müller Installatietechniek", city="'s-Hertogenbosch")
    add(session, other, "MULLER BOUW", city="Den Haag")
    add(session, other, "Café 't Hoekje", city="Leeuwarden")
    add(session, other, "Straße Søn ApS")

    assert names(session, actor, "muller") == ["MULLER BOUW", "Müller Installatietechniek"]
    assert names(session, actor, "MÜLLER") == names(session, actor, "muller")
    assert names(session, actor, "Mül") == names(session, actor, "muller")
    assert names(session, actor, "CAFE") == ["Café 't Hoekje"]
    assert names(session, actor, "hoekje") == ["Café 't Hoekje"]
    assert names(session, actor, "strasse") == ["Straße Søn ApS"]
    assert names(session, actor, "son") == ["Straße Søn ApS"]
    assert names(session, actor, "hertogenbosch") == ["Müller Installatietechniek"]
    assert names(session, actor, "haag") == ["MULLER BOUW"]
    assert names(session, actor, "den haag") == ["MULLER BOUW"]
    assert names(session, actor, "LEEUW") == ["Café 't Hoekje"]


def test_words_match_from_their_start_only(
    session: Session, actor: User, other: Environment, strategy: str
) -> None:
    add(session, other, "Bakkerij De Korenbloem B.V.", city="Utrecht")

    assert names(session, actor, "de korenbloem") == ["Bakkerij De Korenbloem B.V."]
    assert names(session, actor, "B.V.") == ["Bakkerij De Korenbloem B.V."]
    assert names(session, actor, "bloem") == []  # inside a word
    assert names(session, actor, "trecht") == []


def test_pages_are_stable_and_complete(
    session: Session, actor: User, other: Environment, strategy: str
) -> None:
    for number in range(23):
        add(session, other, f"Bouwbedrijf {number % 7:02d}")  # ties on the name: by id
        add(session, other, f"Holding Bouw {number:02d}")
        add(session, other, f"Zorg {number:02d}", city="Bouwmeesterdorp")
    everything = search_organisations(session, actor=actor, query="bouw", page_size=50)
    everything_rest = search_organisations(session, actor=actor, query="bouw", page=2, page_size=50)
    assert everything.has_more and not everything_rest.has_more
    expected = [
        (row.matched_on, row.name, row.organisation_id) for row in everything.rows + everything_rest.rows
    ]
    assert len(expected) == 69 == len(set(expected))
    assert expected == sorted(
        expected, key=lambda r: (["name", "word", "city"].index(r[0]), r[1].lower(), r[2])
    )

    paged, page = [], 1
    while True:
        result = search_organisations(session, actor=actor, query="BOUW", page=page, page_size=20)
        paged += [(row.matched_on, row.name, row.organisation_id) for row in result.rows]
        assert result.page == page and len(result.rows) == (20 if result.has_more else 9)
        if not result.has_more:
            break
        page += 1
    assert paged == expected
    assert search_organisations(session, actor=actor, query="bouw", page=9).rows == []


def test_page_size_is_at_most_fifty_and_paging_stops_at_a_thousand_results(
    session: Session, actor: User, other: Environment
) -> None:
    for number in range(3):
        add(session, other, f"Bouw {number}")

    assert search_organisations(session, actor=actor, query="bouw", page_size=500).page_size == 50
    assert search_organisations(session, actor=actor, query="bouw", page=0, page_size=0).page == 1
    too_deep = search_organisations(session, actor=actor, query="bouw", page=21, page_size=50)
    assert too_deep.rows == [] and too_deep.hint == find_partners.TOO_DEEP_HINT


@pytest.mark.parametrize("query", ["", "   ", "a", " é ", "\x00k\x00", "--", "'."])
def test_empty_and_one_character_queries_find_nothing_and_say_why(
    session: Session, actor: User, other: Environment, query: str
) -> None:
    add(session, other, "A")
    add(session, other, "Korenbloem")

    page = search_organisations(session, actor=actor, query=query)

    assert page.rows == [] and page.has_more is False
    assert page.hint == find_partners.SHORT_QUERY_HINT


def test_queries_are_trimmed_cleaned_of_nul_and_cut_to_a_hundred_characters(
    session: Session, actor: User, other: Environment
) -> None:
    add(session, other, "Korenbloem " + "x" * 150)

    assert search_organisations(session, actor=actor, query="  Koren\x00bloem ").query == "Korenbloem"
    assert names(session, actor, "  Koren\x00bloem ") == ["Korenbloem " + "x" * 150]
    long_query = "korenbloem " + "x" * 200
    page = search_organisations(session, actor=actor, query=long_query)
    assert len(page.query) == 100 and [row.name for row in page.rows] == ["Korenbloem " + "x" * 150]


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value])
def test_advanced_users_and_administrators_may_search(
    session: Session, own: Environment, other: Environment, role: str
) -> None:
    add(session, other, "Korenbloem")
    user = make_user(session, own, role=role)

    assert names(session, user, "koren") == ["Korenbloem"]


def test_plain_users_and_blocked_accounts_are_refused(
    session: Session, own: Environment, actor: User, other: Environment
) -> None:
    add(session, other, "Korenbloem")
    plain = make_user(session, own, role=Role.USER.value)
    blocked = make_admin(session, own, status=UserStatus.BLOCKED.value)

    with pytest.raises(PermissionDenied):
        search_organisations(session, actor=plain, query="koren")
    with pytest.raises(PermissionDenied):
        search_organisations(session, actor=blocked, query="")

    # The role is read from the database, not from the object the caller holds.
    stale = User(**actor.model_dump())
    actor.role = Role.USER.value
    session.add(actor)
    session.commit()
    with pytest.raises(PermissionDenied):
        search_organisations(session, actor=stale, query="koren")


# ---------------------------------------------------------------------------------------------
# The index keeps up with every change


def index_rows(session: Session) -> tuple[list[tuple], list[tuple]]:
    """Everything the index holds, in a fixed order."""
    session.expire_all()
    rows = session.execute(select(OrganisationSearch.__table__).order_by("organisation_id")).all()
    terms = session.execute(
        select(OrganisationSearchTerm.__table__).order_by("organisation_id", "source", "term")
    ).all()
    return [tuple(row) for row in rows], [tuple(row) for row in terms]


def assert_index_matches_a_rebuild(session: Session) -> None:
    kept_up = index_rows(session)
    find_partners.rebuild_search_index(session.connection())
    assert index_rows(session) == kept_up
    session.rollback()


def test_renaming_and_moving_city_are_found_at_once(
    session: Session, actor: User, other: Environment
) -> None:
    organisation = add(session, other, "Korenbloem", city="Utrecht")

    organisation.name = "Zonnebloem Bakkerij"
    session.add(organisation)
    session.commit()
    assert names(session, actor, "koren") == []
    assert names(session, actor, "bakkerij") == ["Zonnebloem Bakkerij"]

    organisation.city = "Den Haag"
    session.add(organisation)
    session.commit()
    assert names(session, actor, "utrecht") == []
    assert names(session, actor, "haag") == ["Zonnebloem Bakkerij"]
    assert_index_matches_a_rebuild(session)


def test_activating_through_the_service_makes_it_findable(
    session: Session, actor: User, other: Environment
) -> None:
    owner = make_admin(session, other)
    organisation = organisations.add_organisation(
        session, actor=owner, name="Korenbloem", kvk_number="11223344", city="Gouda"
    )
    assert names(session, actor, "koren") == []

    organisations.activate_organisation(session, actor=owner, organisation_id=organisation.id)

    assert names(session, actor, "koren") == ["Korenbloem"]
    assert names(session, actor, "1122 3344") == ["Korenbloem"]
    assert names(session, actor, "gouda") == ["Korenbloem"]
    assert_index_matches_a_rebuild(session)


def test_making_unfindable_hides_it_and_findable_again_shows_it(
    session: Session, actor: User, other: Environment
) -> None:
    organisation = add(session, other, "Korenbloem", city="Gouda")

    organisation.findable = False
    session.add(organisation)
    session.commit()
    assert names(session, actor, "koren") == [] and names(session, actor, "gouda") == []
    assert index_rows(session) == ([], [])

    organisation.findable = True
    session.add(organisation)
    session.commit()
    assert names(session, actor, "koren") == ["Korenbloem"]
    assert_index_matches_a_rebuild(session)


def test_a_rolled_back_change_leaves_the_index_as_it_was(
    session: Session, actor: User, other: Environment
) -> None:
    organisation = add(session, other, "Korenbloem")
    before = index_rows(session)

    organisation.name = "Zonnebloem"
    session.add(organisation)
    session.flush()
    session.rollback()

    assert index_rows(session) == before
    assert names(session, actor, "koren") == ["Korenbloem"]


def test_deleting_an_organisation_removes_it(session: Session, actor: User, other: Environment) -> None:
    organisation = add(session, other, "Korenbloem", city="Gouda")

    session.delete(organisation)
    session.commit()

    assert index_rows(session) == ([], [])
    assert names(session, actor, "gouda") == []


def test_bulk_orm_statements_keep_the_index_up_to_date(
    session: Session, actor: User, other: Environment
) -> None:
    first = add(session, other, "Korenbloem", city="Gouda")
    add(session, other, "Zonnebloem", activated=False)

    renamed = session.execute(update(Organisation).where(Organisation.id == first.id).values(name="Klaproos"))
    assert renamed.rowcount == 1  # the caller still gets its result
    session.execute(update(Organisation).values(activated_at=utcnow()))
    new_ids = (
        session.execute(
            insert(Organisation).returning(Organisation.id),
            [
                {
                    "environment_id": other.id,
                    "name": name,
                    "kvk_number": kvk_number,
                    "identifier": security.new_public_identifier(),
                    "activated_at": utcnow(),
                }
                for name, kvk_number in (("Korenmolen", "99887766"), ("Molenaar", "99887767"))
            ],
        )
        .scalars()
        .all()
    )
    assert len(new_ids) == 2
    session.commit()
    assert names(session, actor, "bloem") == []
    assert names(session, actor, "klaproos") == ["Klaproos"]
    assert names(session, actor, "zonne") == ["Zonnebloem"]
    assert names(session, actor, "koren") == ["Korenmolen"]
    assert names(session, actor, "molen") == ["Molenaar"]  # not inside "Korenmolen"
    assert_index_matches_a_rebuild(session)

    session.execute(delete(Organisation).where(Organisation.name == "Korenmolen"))
    session.commit()
    assert names(session, actor, "koren") == []
    assert_index_matches_a_rebuild(session)


def test_rebuild_indexes_rows_written_without_the_orm(
    session: Session, actor: User, other: Environment
) -> None:
    session.connection().execute(
        insert(Organisation.__table__),
        [
            {
                "environment_id": other.id,
                "name": f"Korenbloem {number}",
                "kvk_number": f"{number:08d}",
                "city": "Gouda",
                "country": "NL",
                "identifier": security.new_public_identifier(),
                "activated_at": utcnow() if number % 2 else None,
                "findable": True,
                "receive_e_invoices": False,
                "created_at": utcnow(),
            }
            for number in range(10)
        ],
    )
    session.commit()
    assert names(session, actor, "koren") == []

    assert find_partners.rebuild_search_index(session.connection()) == 5
    session.commit()

    assert names(session, actor, "koren") == [f"Korenbloem {number}" for number in (1, 3, 5, 7, 9)]
