"""The accountant's requests list, paged on the server (sort, filter, search), and the bulk Resend and
Withdraw with an outcome per request. Runs on SQLite and, in the scale-out run, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import make_admin, make_environment, make_user, outbox
from sqlalchemy import update
from sqlmodel import Session, col, select

from econnect_app.models import (
    ActivityLog,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Plan,
    Role,
    SoftwarePackage,
    User,
    organisation_key,
    utcnow,
)
from econnect_app.services import authorisations
from econnect_app.services.errors import PermissionDenied, ValidationFailed
from econnect_app.services.paging import ListQuery

PENDING = AuthorisationStatus.PENDING.value
ACCEPTED = AuthorisationStatus.ACCEPTED.value
WITHDRAWN = AuthorisationStatus.WITHDRAWN.value


@pytest.fixture()
def package(session: Session) -> SoftwarePackage:
    package = SoftwarePackage(slug="exact-online", name="Exact Online", instructions="Set up.", sort_order=0)
    session.add(package)
    session.commit()
    return package


@pytest.fixture()
def firm(session: Session) -> Environment:
    return make_environment(session, name="De Vries Administratie", plan=Plan.BASIC.value)


@pytest.fixture()
def anna(session: Session, firm: Environment) -> User:
    return make_admin(session, firm, name="Anna de Vries", email="anna@devries.example")


def add_requests(
    session: Session, actor: User, package: SoftwarePackage, count: int, *, status: str = PENDING, start: int = 0
) -> list[int]:
    """``count`` requests written directly (fast), one minute apart, sent an hour ago or earlier."""
    now = utcnow()
    rows = [
        AuthorisationRequest(
            environment_id=actor.environment_id,
            requested_by_id=actor.id,
            client_name=f"Client {number:05d}",
            client_email=f"client{number:05d}@example.com",
            organisation_name=f"Organisation {number:05d} BV",
            organisation_key=organisation_key(f"Organisation {number:05d} BV"),
            software_package_id=package.id,
            status=status,
            created_at=now - timedelta(hours=1, minutes=number),
            last_sent_at=now - timedelta(hours=1, minutes=number),
            expires_at=now + timedelta(days=10),
        )
        for number in range(start, start + count)
    ]
    session.add_all(rows)
    session.commit()
    return [row.id for row in rows]  # type: ignore[misc]


# --- paging, sorting, filtering, searching -------------------------------------------------------


def test_five_thousand_requests_are_paged_with_every_row_on_exactly_one_page(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    add_requests(session, anna, package, 5000)
    first = authorisations.requests_page(session, actor=anna, query=ListQuery(page_size=100))
    assert first.total == 5000
    assert first.page_count == 50
    assert (first.first_index, first.last_index) == (1, 100)
    seen: list[int] = []
    for page in (1, 2, 25, 50):
        rows = authorisations.requests_page(session, actor=anna, query=ListQuery(page=page, page_size=100)).rows
        assert len(rows) == 100
        seen.extend(row.id for row in rows)
    assert len(set(seen)) == 400
    # newest first by default: Client 00000 was sent last
    assert first.rows[0].client_name == "Client 00000"
    last = authorisations.requests_page(session, actor=anna, query=ListQuery(page=50, page_size=100))
    assert last.rows[-1].client_name == "Client 04999"


def test_a_page_past_the_end_shows_the_last_page(session: Session, anna: User, package: SoftwarePackage) -> None:
    add_requests(session, anna, package, 60)
    page = authorisations.requests_page(session, actor=anna, query=ListQuery(page=9, page_size=25))
    assert page.query.page == 3
    assert [row.client_name for row in page.rows][-1] == "Client 00059"
    assert (page.first_index, page.last_index) == (51, 60)


@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_client_either_way(
    session: Session, anna: User, package: SoftwarePackage, descending: bool
) -> None:
    add_requests(session, anna, package, 30)
    rows = authorisations.requests_page(
        session, actor=anna, query=ListQuery(sort="client", descending=descending, page_size=25)
    ).rows
    names = [row.client_name for row in rows]
    assert names == sorted(names, reverse=descending)
    assert names[0] == ("Client 00029" if descending else "Client 00000")


def test_an_unknown_sort_falls_back_to_newest_first(session: Session, anna: User, package: SoftwarePackage) -> None:
    add_requests(session, anna, package, 3)
    page = authorisations.requests_page(session, actor=anna, query=ListQuery(sort="password_hash"))
    assert (page.query.sort, page.query.descending) == ("sent", True)
    assert [row.client_name for row in page.rows] == ["Client 00000", "Client 00001", "Client 00002"]


def test_status_filter_and_search_count_every_matching_row(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    add_requests(session, anna, package, 120)
    add_requests(session, anna, package, 30, status=ACCEPTED, start=500)
    pending = authorisations.requests_page(session, actor=anna, status=PENDING, query=ListQuery(page_size=25))
    assert pending.total == 120
    accepted = authorisations.requests_page(session, actor=anna, status=ACCEPTED)
    assert accepted.total == 30
    assert {row.status for row in accepted.rows} == {ACCEPTED}
    found = authorisations.requests_page(session, actor=anna, query=ListQuery(search="organisation 0050"))
    assert sorted(row.client_name for row in found.rows) == [f"Client 0050{digit}" for digit in range(10)]
    assert found.total == 10
    assert authorisations.requests_page(session, actor=anna, query=ListQuery(search="100%")).total == 0


def test_matching_ids_are_every_row_of_the_filter(session: Session, anna: User, package: SoftwarePackage) -> None:
    pending_ids = add_requests(session, anna, package, 70)
    add_requests(session, anna, package, 5, status=ACCEPTED, start=500)
    assert sorted(authorisations.matching_request_ids(session, actor=anna, status=PENDING)) == sorted(pending_ids)
    assert len(authorisations.matching_request_ids(session, actor=anna)) == 75


def test_another_environment_and_a_plain_user_see_none_of_it(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    add_requests(session, anna, package, 5)
    other = make_admin(session, make_environment(session, name="Other", plan=Plan.BASIC.value), email="o@x.example")
    assert authorisations.requests_page(session, actor=other).total == 0
    plain = make_user(session, session.get(Environment, anna.environment_id), role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        authorisations.requests_page(session, actor=plain)


# --- bulk Resend and Withdraw ----------------------------------------------------------------------


def test_bulk_resend_sends_each_pending_request_again_and_says_why_not_for_the_others(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    pending = add_requests(session, anna, package, 3)
    [accepted] = add_requests(session, anna, package, 1, status=ACCEPTED, start=100)
    before = len(outbox(session))
    progress: list[tuple[int, int]] = []

    outcomes = authorisations.resend_each(
        session, actor=anna, request_ids=[*pending, accepted, pending[0]], on_progress=lambda *p: progress.append(p)
    )

    assert [outcome.request_id for outcome in outcomes] == [*pending, accepted]  # the repeat counted once
    assert [outcome.done for outcome in outcomes] == [True, True, True, False]
    assert outcomes[0].client == "Client 00000 <client00000@example.com>"
    assert outcomes[3].message == authorisations.ONLY_PENDING_RESEND
    assert progress[-1] == (4, 4)
    assert len(outbox(session)) == before + 3
    resent = session.exec(select(ActivityLog).where(ActivityLog.action == "authorisation.resent")).all()
    assert len(resent) == 3
    counts = session.exec(select(AuthorisationRequest.send_count).where(col(AuthorisationRequest.id).in_(pending)))
    assert set(counts) == {2}


def test_bulk_withdraw_withdraws_pending_ones_only(session: Session, anna: User, package: SoftwarePackage) -> None:
    pending = add_requests(session, anna, package, 2)
    [accepted] = add_requests(session, anna, package, 1, status=ACCEPTED, start=100)

    outcomes = authorisations.withdraw_each(session, actor=anna, request_ids=[accepted, *pending])

    assert [outcome.done for outcome in outcomes] == [False, True, True]
    statuses = dict(session.exec(select(AuthorisationRequest.id, AuthorisationRequest.status)).all())
    assert statuses[accepted] == ACCEPTED
    assert {statuses[request_id] for request_id in pending} == {WITHDRAWN}


def test_a_request_of_another_environment_is_reported_and_left_alone(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    other = make_admin(session, make_environment(session, name="Other", plan=Plan.BASIC.value), email="o@x.example")
    [theirs] = add_requests(session, other, package, 1)
    [outcome] = authorisations.withdraw_each(session, actor=anna, request_ids=[theirs])
    assert not outcome.done
    assert outcome.client == f"Request {theirs}"  # nothing about the other firm's client is told
    assert session.get(AuthorisationRequest, theirs).status == PENDING  # type: ignore[union-attr]


def test_a_bulk_action_needs_a_selection_and_a_manager(session: Session, anna: User, firm: Environment) -> None:
    with pytest.raises(ValidationFailed):
        authorisations.resend_each(session, actor=anna, request_ids=[])
    plain = make_user(session, firm, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        authorisations.withdraw_each(session, actor=plain, request_ids=[1])


def test_a_request_resent_too_recently_is_reported_not_resent(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    [request_id] = add_requests(session, anna, package, 1)
    session.exec(  # type: ignore[call-overload]
        update(AuthorisationRequest).where(col(AuthorisationRequest.id) == request_id).values(last_sent_at=utcnow())
    )
    session.commit()
    [outcome] = authorisations.resend_each(session, actor=anna, request_ids=[request_id])
    assert not outcome.done
    assert outcome.message  # the rate limit's own words
    assert session.get(AuthorisationRequest, request_id).send_count == 1  # type: ignore[union-attr]
