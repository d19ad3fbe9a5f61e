"""The activity log page's service: paging, each filter, the search, who sees which rows, the
export's rows and the filters' options (rows written directly; SQLite, and PostgreSQL with
ECONNECT_TEST_DB_URL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from conftest_factories import make_admin, make_environment, make_organisation, make_user
from sqlmodel import Session

from econnect_app.models import ActivityLog, Environment, Organisation, Role, User, UserStatus
from econnect_app.services import activity_log, memberships
from econnect_app.services.activity import ORGANISATION_SUBJECT
from econnect_app.services.activity_log import SYSTEM, ActivityFilters
from econnect_app.services.errors import PermissionDenied
from econnect_app.services.paging import ListQuery

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _row(
    session: Session,
    environment: Environment,
    *,
    summary: str,
    action: str = "organisation.added",
    actor: User | None = None,
    organisation: Organisation | None = None,
    at: datetime = START,
    commit: bool = True,
) -> ActivityLog:
    row = ActivityLog(
        environment_id=environment.id,
        actor_user_id=actor.id if actor else None,
        action=action,
        summary=summary,
        subject_type=ORGANISATION_SUBJECT if organisation else None,
        subject_id=organisation.id if organisation else None,
        created_at=at,
    )
    session.add(row)
    if commit:
        session.commit()
    return row


def _summaries(session: Session, actor: User, **filters) -> list[str]:  # type: ignore[no-untyped-def]
    search = filters.pop("search", "")
    page = activity_log.activity_page(
        session,
        actor=actor,
        query=ListQuery(page_size=100, search=search),
        filters=ActivityFilters(**filters),
    )
    return [entry.summary for entry in page.rows]


@pytest.fixture()
def firm(session: Session) -> Environment:
    return make_environment(session, name="De Vries Partners")


@pytest.fixture()
def admin(session: Session, firm: Environment) -> User:
    return make_admin(session, firm, name="Anna de Vries")


def test_pages_newest_first_with_counts_and_the_other_order(
    session: Session, firm: Environment, admin: User
) -> None:
    for number in range(120):
        _row(
            session,
            firm,
            summary=f"Row {number}",
            actor=admin,
            at=START + timedelta(minutes=number),
            commit=False,
        )
    session.commit()

    first = activity_log.activity_page(session, actor=admin, query=ListQuery(page_size=50))
    assert first.total == 120
    assert first.page_count == 3
    assert (first.first_index, first.last_index) == (1, 50)
    assert first.query.sort == activity_log.SORT_TIME and first.query.descending
    assert [entry.summary for entry in first.rows[:2]] == ["Row 119", "Row 118"]

    last = activity_log.activity_page(session, actor=admin, query=ListQuery(page=3, page_size=50))
    assert [entry.summary for entry in last.rows] == [f"Row {number}" for number in range(19, -1, -1)]
    assert (last.first_index, last.last_index) == (101, 120)

    past_the_end = activity_log.activity_page(session, actor=admin, query=ListQuery(page=9, page_size=50))
    assert past_the_end.query.page == 3

    oldest_first = activity_log.activity_page(
        session, actor=admin, query=ListQuery(page_size=25, sort="time", descending=False)
    )
    assert [entry.summary for entry in oldest_first.rows[:2]] == ["Row 0", "Row 1"]


def test_each_row_names_who_what_and_the_organisation(
    session: Session, firm: Environment, admin: User
) -> None:
    organisation = make_organisation(session, firm, name="Bakkerij Korenbloem BV")
    client = make_environment(session, name="Korenbloem")
    client_admin = make_admin(session, client, name="Piet Bakker")
    _row(session, firm, summary="Added", actor=admin, organisation=organisation, at=START)
    _row(
        session,
        firm,
        summary="Accepted",
        actor=client_admin,
        action="authorisation.accepted",
        at=START + timedelta(1),
    )
    _row(session, firm, summary="Expired", action="authorisation.expired", at=START + timedelta(2))
    _row(
        session,
        firm,
        summary="New thing",
        actor=admin,
        action="partnership.terms_changed",
        at=START + timedelta(3),
    )

    rows = activity_log.activity_page(session, actor=admin, query=ListQuery()).rows
    assert [(row.who, row.what, row.organisation, row.summary) for row in rows] == [
        ("Anna de Vries", "Partnerships: terms changed", "", "New thing"),
        (activity_log.SYSTEM_LABEL, "Authorisation request expired", "", "Expired"),
        ("Piet Bakker", "Authorisation request accepted", "", "Accepted"),
        ("Anna de Vries", "Organisation added", "Bakkerij Korenbloem BV", "Added"),
    ]


def test_filter_by_who(session: Session, firm: Environment, admin: User) -> None:
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value, name="Carla")
    _row(session, firm, summary="By Anna", actor=admin)
    _row(session, firm, summary="By Carla", actor=colleague)
    _row(session, firm, summary="By itself", action="authorisation.expired")

    assert _summaries(session, admin, who=str(colleague.id)) == ["By Carla"]
    assert _summaries(session, admin, who=str(admin.id)) == ["By Anna"]
    assert _summaries(session, admin, who=SYSTEM) == ["By itself"]
    assert _summaries(session, admin, who="not-an-id") == []
    assert len(_summaries(session, admin)) == 3


def test_filter_by_kind_of_action(session: Session, firm: Environment, admin: User) -> None:
    _row(session, firm, summary="Sent", action="authorisation.created", at=START)
    _row(session, firm, summary="Withdrawn", action="authorisation.withdrawn", at=START + timedelta(1))
    _row(session, firm, summary="Org", action="organisation.added", at=START + timedelta(2))
    _row(session, firm, summary="Request", action="relationship_request.sent", at=START + timedelta(3))
    # "_" is meant literally: a look-alike prefix is another kind.
    _row(session, firm, summary="Look-alike", action="relationshipXrequest.sent", at=START + timedelta(4))
    _row(session, firm, summary="Prefix only", action="authorisations.other", at=START + timedelta(5))

    assert _summaries(session, admin, kind="authorisation") == ["Withdrawn", "Sent"]
    assert _summaries(session, admin, kind="organisation") == ["Org"]
    assert _summaries(session, admin, kind="relationship_request") == ["Request"]


def test_filter_by_organisation(session: Session, firm: Environment, admin: User) -> None:
    bakery = make_organisation(session, firm, name="Bakkerij")
    garage = make_organisation(session, firm, name="Garage")
    _row(session, firm, summary="Bakery added", actor=admin, organisation=bakery, at=START)
    _row(session, firm, summary="Garage added", actor=admin, organisation=garage, at=START + timedelta(1))
    # A row about another kind of subject with the same id is not about the organisation.
    session.add(
        ActivityLog(
            environment_id=firm.id,
            action="user.invited",
            summary="User row",
            subject_type="user",
            subject_id=bakery.id,
        )
    )
    session.commit()

    assert _summaries(session, admin, organisation_id=bakery.id) == ["Bakery added"]
    assert _summaries(session, admin, organisation_id=garage.id) == ["Garage added"]


def test_period_is_whole_days_in_the_environment_time_zone(
    session: Session, firm: Environment, admin: User
) -> None:
    # Amsterdam is UTC+1 in March: 22:59 UTC is still 1 March there, 23:30 UTC is 2 March.
    _row(session, firm, summary="1 March, late", at=datetime(2026, 3, 1, 22, 59, tzinfo=UTC))
    _row(session, firm, summary="2 March, just after midnight", at=datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    _row(session, firm, summary="2 March, evening", at=datetime(2026, 3, 2, 22, 0, tzinfo=UTC))
    _row(session, firm, summary="3 March", at=datetime(2026, 3, 2, 23, 0, tzinfo=UTC))

    march_2 = date(2026, 3, 2)
    assert _summaries(session, admin, date_from=march_2, date_to=march_2) == [
        "2 March, evening",
        "2 March, just after midnight",
    ]
    assert _summaries(session, admin, date_from=march_2) == [
        "3 March",
        "2 March, evening",
        "2 March, just after midnight",
    ]
    assert _summaries(session, admin, date_to=date(2026, 3, 1)) == ["1 March, late"]
    assert _summaries(session, admin, date_from=date(2026, 3, 3), date_to=march_2) == []

    # In London (UTC in March) the same rows fall on other days: 23:30 UTC on 1 March is still
    # 1 March there, 23:00 UTC on 2 March is still 2 March.
    firm.time_zone = "Europe/London"
    session.add(firm)
    session.commit()
    assert _summaries(session, admin, date_from=march_2, date_to=march_2) == ["3 March", "2 March, evening"]


def test_search_in_the_summary(session: Session, firm: Environment, admin: User) -> None:
    _row(session, firm, summary="Anna added organisation Bakkerij Korenbloem BV.", at=START)
    _row(session, firm, summary="Anna added organisation Garage 100% Auto.", at=START + timedelta(1))
    _row(session, firm, summary="Carla sent a request.", at=START + timedelta(2))

    assert _summaries(session, admin, search="korenbloem") == [
        "Anna added organisation Bakkerij Korenbloem BV."
    ]
    assert _summaries(session, admin, search="100%") == ["Anna added organisation Garage 100% Auto."]
    assert _summaries(session, admin, search="  ANNA   added ") == [
        "Anna added organisation Garage 100% Auto.",
        "Anna added organisation Bakkerij Korenbloem BV.",
    ]
    assert _summaries(session, admin, search="_") == []


def test_filters_combine(session: Session, firm: Environment, admin: User) -> None:
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value, name="Carla")
    bakery = make_organisation(session, firm, name="Bakkerij")
    _row(session, firm, summary="Anna adds the bakery", actor=admin, organisation=bakery, at=START)
    _row(session, firm, summary="Carla adds the bakery", actor=colleague, organisation=bakery, at=START)
    _row(session, firm, summary="Carla sends", actor=colleague, action="authorisation.created", at=START)

    assert _summaries(
        session, admin, who=str(colleague.id), kind="organisation", organisation_id=bakery.id, search="bakery"
    ) == ["Carla adds the bakery"]


def test_who_sees_which_rows(session: Session, firm: Environment, admin: User) -> None:
    other_firm = make_environment(session, name="Other firm")
    mine = make_organisation(session, firm, name="Mine")
    not_mine = make_organisation(session, firm, name="Not mine")
    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value, name="Carla")
    plain = make_user(session, firm, role=Role.USER.value, name="Piet")
    memberships.add_membership_row(
        session, organisation_id=mine.id, user_id=plain.id, role="Member", created_by_id=admin.id
    )
    session.commit()
    _row(session, firm, summary="About mine", organisation=mine, at=START)
    _row(session, firm, summary="About not mine", organisation=not_mine, at=START + timedelta(1))
    _row(
        session, firm, summary="About the environment", action="environment.updated", at=START + timedelta(2)
    )
    _row(session, other_firm, summary="Another environment", at=START + timedelta(3))

    everything = ["About the environment", "About not mine", "About mine"]
    assert _summaries(session, admin) == everything
    assert _summaries(session, advanced) == everything
    assert _summaries(session, plain) == ["About mine"]
    assert activity_log.sees_whole_log(admin) and activity_log.sees_whole_log(advanced)
    assert not activity_log.sees_whole_log(plain)

    # A plain user cannot reach other rows through a filter either.
    assert _summaries(session, plain, organisation_id=not_mine.id) == []
    export = activity_log.activity_for_export(session, actor=plain, query=ListQuery())
    assert [entry.summary for entry in export.entries] == ["About mine"]

    # The role is read from the database at every call: a promotion shows the whole log at once.
    plain.role = Role.ADVANCED_USER.value
    session.add(plain)
    session.commit()
    stale = User(id=plain.id, environment_id=firm.id, email=plain.email, role=Role.USER.value)
    assert _summaries(session, stale) == everything

    plain.status = UserStatus.BLOCKED.value
    session.add(plain)
    session.commit()
    with pytest.raises(PermissionDenied):
        activity_log.activity_page(session, actor=plain, query=ListQuery())
    with pytest.raises(PermissionDenied):
        activity_log.activity_for_export(session, actor=plain, query=ListQuery())


def test_filter_choices(session: Session, firm: Environment, admin: User) -> None:
    other_firm = make_environment(session, name="Other firm")
    make_admin(session, other_firm, name="Outsider")
    carla = make_user(session, firm, role=Role.ADVANCED_USER.value, name="Carla")
    plain = make_user(session, firm, name="Piet")
    twin_one = make_user(session, firm, name="Jan", email="jan.one@example.com")
    twin_two = make_user(session, firm, name="Jan", email="jan.two@example.com")
    bakery = make_organisation(session, firm, name="Bakkerij")
    garage = make_organisation(session, firm, name="Garage")
    make_organisation(session, firm, name="Quiet BV")  # nothing happened to it
    client_org = make_organisation(session, other_firm, name="A client of theirs")
    memberships.add_membership_row(
        session, organisation_id=garage.id, user_id=plain.id, role="Member", created_by_id=admin.id
    )
    session.commit()
    _row(session, firm, summary="Bakery", organisation=bakery)
    _row(session, firm, summary="Garage", organisation=garage)
    _row(session, firm, summary="Client", organisation=client_org)

    choices = activity_log.activity_filter_choices(session, actor=admin)
    assert [choice.label for choice in choices.people] == [
        "Anna de Vries",
        "Carla",
        "Jan (jan.one@example.com)",
        "Jan (jan.two@example.com)",
        "Piet",
        activity_log.SYSTEM_LABEL,
    ]
    assert choices.people[1].value == str(carla.id)
    assert {choice.value for choice in choices.people} >= {str(twin_one.id), str(twin_two.id), SYSTEM}
    assert [choice.label for choice in choices.organisations] == ["A client of theirs", "Bakkerij", "Garage"]
    assert choices.organisations[1].value == str(bakery.id)
    assert ("authorisation", "Authorisation requests") in [
        (choice.value, choice.label) for choice in choices.kinds
    ]

    plain_choices = activity_log.activity_filter_choices(session, actor=plain)
    assert [choice.label for choice in plain_choices.organisations] == ["Garage"]


def test_export_holds_every_matching_row_in_the_view_order(
    session: Session, firm: Environment, admin: User
) -> None:
    for number in range(130):
        action = "authorisation.created" if number % 2 else "organisation.added"
        _row(
            session,
            firm,
            summary=f"Row {number}",
            action=action,
            at=START + timedelta(minutes=number),
            commit=False,
        )
    session.commit()

    query = ListQuery(page=2, page_size=25)
    export = activity_log.activity_for_export(
        session, actor=admin, query=query, filters=ActivityFilters(kind="authorisation")
    )
    assert export.total == 65 and not export.truncated
    assert [entry.summary for entry in export.entries] == [f"Row {number}" for number in range(129, 0, -2)]
    assert export.day == datetime.now(UTC).date() or abs((export.day - datetime.now(UTC).date()).days) == 1

    oldest_first = activity_log.activity_for_export(
        session, actor=admin, query=ListQuery(sort="time", descending=False), limit=10
    )
    assert oldest_first.total == 130 and oldest_first.truncated
    assert [entry.summary for entry in oldest_first.entries] == [f"Row {number}" for number in range(10)]


def test_five_thousand_rows_page_without_gaps_or_repeats(
    session: Session, firm: Environment, admin: User
) -> None:
    """Many rows share a timestamp: the id breaks the tie, so every row is on exactly one page."""
    rows = [
        ActivityLog(
            environment_id=firm.id,
            actor_user_id=admin.id,
            action="authorisation.created" if number % 3 else "organisation.added",
            summary=f"Row {number}",
            created_at=START + timedelta(minutes=number // 40),
        )
        for number in range(5000)
    ]
    session.add_all(rows)
    session.commit()

    for descending in (True, False):
        seen: list[int] = []
        previous_key: tuple[datetime, int] | None = None
        page_number = 1
        while True:
            page = activity_log.activity_page(
                session,
                actor=admin,
                query=ListQuery(page=page_number, page_size=100, sort="time", descending=descending),
            )
            assert page.total == 5000 and page.page_count == 50
            assert page.query.page == page_number
            assert len(page.rows) == 100
            for entry in page.rows:
                key = (entry.created_at.replace(tzinfo=None), entry.id)
                if previous_key is not None:
                    assert (key < previous_key) if descending else (key > previous_key)
                previous_key = key
            seen.extend(entry.id for entry in page.rows)
            if page_number == page.page_count:
                break
            page_number += 1
        assert len(seen) == 5000
        assert len(set(seen)) == 5000

    filtered = activity_log.activity_page(
        session,
        actor=admin,
        query=ListQuery(page=17, page_size=100),
        filters=ActivityFilters(kind="organisation"),
    )
    assert filtered.total == 1667 and filtered.page_count == 17
    assert len(filtered.rows) == 67
