"""The dashboard's figures, from rows written directly (no other service involved)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import make_admin, make_environment, make_organisation, make_user
from sqlmodel import Session

from econnect_app.models import (
    ActivityLog,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Membership,
    MembershipRole,
    MembershipStatus,
    Organisation,
    Partnership,
    PartnershipStatus,
    Plan,
    Role,
    SoftwarePackage,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import dashboard
from econnect_app.services.errors import PermissionDenied


def _package(session: Session) -> SoftwarePackage:
    package = SoftwarePackage(slug="exact-online", name="Exact Online", instructions="Paste the keys.")
    session.add(package)
    session.commit()
    return package


def _request(
    session: Session,
    firm: Environment,
    requester: User,
    package: SoftwarePackage,
    *,
    email: str,
    status: str = AuthorisationStatus.PENDING.value,
    expires_in: timedelta = timedelta(days=14),
) -> AuthorisationRequest:
    request = AuthorisationRequest(
        environment_id=firm.id,
        requested_by_id=requester.id,
        client_name="Client",
        client_email=email,
        organisation_name="Client B.V.",
        software_package_id=package.id,
        status=status,
        expires_at=utcnow() + expires_in,
    )
    session.add(request)
    session.commit()
    return request


def _partnership(
    session: Session, one: Environment, other: Environment, *, status: str = PartnershipStatus.ACTIVE.value
) -> Partnership:
    low, high = sorted((one.id, other.id))
    partnership = Partnership(
        environment_low_id=low,
        environment_high_id=high,
        initiator_environment_id=one.id,
        status=status,
        ended_at=utcnow() if status == PartnershipStatus.ENDED.value else None,
    )
    session.add(partnership)
    session.commit()
    return partnership


def _member(session: Session, user: User, organisation: Organisation) -> None:
    session.add(
        Membership(organisation_id=organisation.id, user_id=user.id, role=MembershipRole.MEMBER.value)
    )
    session.commit()


@pytest.fixture()
def firm(session: Session) -> Environment:
    return make_environment(session, name="Firm", plan=Plan.BASIC.value)


@pytest.fixture()
def accountant(session: Session, firm: Environment) -> User:
    return make_admin(session, firm)


def test_an_empty_environment_shows_zeros_and_no_activity(session: Session, accountant: User) -> None:
    summary = dashboard.dashboard_summary(session, actor=accountant)

    assert (summary.pending_requests, summary.active_partnerships, summary.client_organisations) == (0, 0, 0)
    assert (summary.own_organisations, summary.active_organisations, summary.active_users) == (0, 0, 1)
    assert summary.recent_activity == []


def test_pending_requests_count_only_unexpired_pending_requests_of_the_environment(
    session: Session, firm: Environment, accountant: User
) -> None:
    package = _package(session)
    _request(session, firm, accountant, package, email="a@example.com")
    _request(session, firm, accountant, package, email="b@example.com")
    _request(session, firm, accountant, package, email="due@example.com", expires_in=timedelta(minutes=-1))
    for status in ("Accepted", "Declined", "Withdrawn", "Expired"):
        _request(session, firm, accountant, package, email=f"{status}@example.com", status=status)
    other_firm = make_environment(session, name="Other firm")
    _request(session, other_firm, make_admin(session, other_firm), package, email="a@example.com")

    assert dashboard.dashboard_summary(session, actor=accountant).pending_requests == 2


def test_active_partnerships_count_either_side_and_not_ended_ones(session: Session) -> None:
    earlier = make_environment(session, name="Created before the firm")  # the firm is the high side
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    later = make_environment(session, name="Created after the firm")  # the firm is the low side
    accountant = make_admin(session, firm)
    _partnership(session, earlier, firm)
    _partnership(session, firm, later)
    _partnership(
        session, firm, make_environment(session, name="Former"), status=PartnershipStatus.ENDED.value
    )
    _partnership(session, make_environment(session, name="X"), make_environment(session, name="Y"))

    assert dashboard.dashboard_summary(session, actor=accountant).active_partnerships == 2


def test_client_organisations_are_partner_organisations_where_a_user_of_the_environment_is_member(
    session: Session, firm: Environment, accountant: User
) -> None:
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value)
    blocked = make_user(session, firm, status=UserStatus.BLOCKED.value, role=Role.ADVANCED_USER.value)
    plain = make_user(session, firm, role=Role.USER.value)
    client = make_environment(session, name="Client")
    _partnership(session, firm, client)
    bakery = make_organisation(session, client, name="Bakery", activated=True)
    garage = make_organisation(session, client, name="Garage", activated=True)
    make_organisation(session, client, name="No member of the firm", activated=True)
    only_blocked = make_organisation(session, client, name="Only a blocked member", activated=True)
    only_plain = make_organisation(session, client, name="Only a plain user is a member", activated=True)
    _member(session, accountant, bakery)
    _member(session, colleague, bakery)  # two members: still one organisation
    _member(session, colleague, garage)
    _member(session, blocked, only_blocked)
    _member(session, plain, only_plain)  # partnerships give access to Advanced users and Administrators
    ended_client = make_environment(session, name="Former client")
    _partnership(session, firm, ended_client, status=PartnershipStatus.ENDED.value)
    _member(session, accountant, make_organisation(session, ended_client, name="Former", activated=True))
    stranger = make_environment(session, name="No partner")
    _member(session, accountant, make_organisation(session, stranger, name="Stranger's", activated=True))
    _member(session, accountant, make_organisation(session, firm, name="Own organisation", activated=True))

    summary = dashboard.dashboard_summary(session, actor=accountant)

    assert summary.client_organisations == 2
    assert summary.active_partnerships == 1
    assert summary.own_organisations == 1


def test_the_client_side_sees_the_partnership_but_no_client_organisations(
    session: Session, firm: Environment, accountant: User
) -> None:
    client = make_environment(session, name="Client")
    owner = make_admin(session, client)
    _partnership(session, firm, client)
    bakery = make_organisation(session, client, name="Bakery")
    _member(session, accountant, bakery)

    summary = dashboard.dashboard_summary(session, actor=owner)

    assert (summary.active_partnerships, summary.client_organisations, summary.own_organisations) == (1, 0, 1)


def test_own_organisations_users_and_activity_newest_first(
    session: Session, firm: Environment, accountant: User
) -> None:
    make_organisation(session, firm, activated=True)
    make_organisation(session, firm)
    make_user(session, firm, status=UserStatus.INVITED.value)
    now = utcnow()
    for minutes, summary in ((3, "oldest"), (1, "newest"), (2, "middle")):
        session.add(
            ActivityLog(
                environment_id=firm.id,
                action="test",
                summary=summary,
                created_at=now - timedelta(minutes=minutes),
            )
        )
    other = make_environment(session, name="Other")
    session.add(ActivityLog(environment_id=other.id, action="test", summary="someone else's"))
    session.commit()

    summary = dashboard.dashboard_summary(session, actor=accountant, activity_limit=2)

    assert (summary.own_organisations, summary.active_organisations, summary.active_users) == (2, 1, 1)
    assert [item.summary for item in summary.recent_activity] == ["newest", "middle"]


def test_a_blocked_user_gets_no_dashboard(session: Session, firm: Environment) -> None:
    blocked = make_user(session, firm, status=UserStatus.BLOCKED.value)

    with pytest.raises(PermissionDenied):
        dashboard.dashboard_summary(session, actor=blocked)


def _activity(
    session: Session, environment: Environment, summary: str, *, subject: tuple[str, int] | None = None
) -> None:
    subject_type, subject_id = subject or (None, None)
    session.add(
        ActivityLog(
            environment_id=environment.id,
            action="test",
            summary=summary,
            subject_type=subject_type,
            subject_id=subject_id,
        )
    )
    session.commit()


def test_a_plain_user_sees_only_activity_about_organisations_they_are_an_active_member_of(
    session: Session, firm: Environment, accountant: User
) -> None:
    plain = make_user(session, firm, role=Role.USER.value)
    bakery = make_organisation(session, firm, name="Bakery")
    garage = make_organisation(session, firm, name="Garage")
    former = make_organisation(session, firm, name="Former")
    _member(session, plain, bakery)
    session.add(
        Membership(
            organisation_id=former.id,
            user_id=plain.id,
            role=MembershipRole.MEMBER.value,
            status=MembershipStatus.ENDED.value,
        )
    )
    session.commit()
    _activity(session, firm, "Bakery was activated", subject=("organisation", bakery.id))
    _activity(session, firm, "Garage was activated", subject=("organisation", garage.id))
    _activity(session, firm, "Former was activated", subject=("organisation", former.id))
    _activity(session, firm, "Ada changed the plan", subject=("environment", firm.id))
    _activity(session, firm, "Ada blocked Bob", subject=("user", accountant.id))
    _activity(session, firm, "A request was sent", subject=("authorisation_request", bakery.id))
    _activity(session, firm, "Unlabelled")

    plain_feed = [item.summary for item in dashboard.dashboard_summary(session, actor=plain).recent_activity]
    admin_feed = [
        item.summary for item in dashboard.dashboard_summary(session, actor=accountant).recent_activity
    ]

    assert plain_feed == ["Bakery was activated"]
    assert len(admin_feed) == 7  # Administrators (and Advanced users) see the environment's whole feed


def test_an_advanced_user_sees_the_whole_feed(session: Session, firm: Environment) -> None:
    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value)
    _activity(session, firm, "Ada changed the plan", subject=("environment", firm.id))

    summary = dashboard.dashboard_summary(session, actor=advanced)

    assert [item.summary for item in summary.recent_activity] == ["Ada changed the plan"]


def test_shared_reads_hand_the_same_feed_only_to_users_who_see_the_same_rows(
    session: Session, firm: Environment, accountant: User
) -> None:
    """A live push shares reads between the tabs of an environment (state/live_tabs.shared_read):
    Administrators and Advanced users share the whole feed, each plain User keeps their own."""
    from econnect_app.state.live_tabs import SharedReads, pushing, shared_read

    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value)
    plain = make_user(session, firm, role=Role.USER.value)
    other_plain = make_user(session, firm, role=Role.USER.value)
    bakery = make_organisation(session, firm, name="Bakery")
    garage = make_organisation(session, firm, name="Garage")
    _member(session, plain, bakery)
    _member(session, other_plain, garage)
    _activity(session, firm, "Bakery was activated", subject=("organisation", bakery.id))
    _activity(session, firm, "Garage was activated", subject=("organisation", garage.id))
    _activity(session, firm, "Ada changed the plan", subject=("environment", firm.id))
    reads = SharedReads()
    generation = reads.changed(firm.id)  # type: ignore[arg-type]

    with pushing(firm.id, generation, reads):  # type: ignore[arg-type]
        feeds = {
            user.id: [
                item.summary
                for item in dashboard.dashboard_summary(
                    session, actor=user, shared=shared_read
                ).recent_activity
            ]
            for user in (plain, accountant, other_plain, advanced)
        }
        _activity(session, firm, "Later, not yet published")
        again = dashboard.dashboard_summary(session, actor=accountant, shared=shared_read)

    assert feeds[plain.id] == ["Bakery was activated"]
    assert feeds[other_plain.id] == ["Garage was activated"]
    assert len(feeds[accountant.id]) == len(feeds[advanced.id]) == 3
    assert len(again.recent_activity) == 3  # the same change's answer, read once
    reads.changed(firm.id)  # type: ignore[arg-type]  # the next change is read afresh
    with pushing(firm.id, reads.generation(firm.id), reads):  # type: ignore[arg-type]
        fresh = dashboard.dashboard_summary(session, actor=accountant, shared=shared_read)
    assert fresh.recent_activity[0].summary == "Later, not yet published"
