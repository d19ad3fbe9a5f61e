"""The client's side of an authorisation request: link pages, incoming list, accept and decline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from activation_factories import Scene, add_link, make_request, make_scene, make_software_package
from conftest_factories import (
    activities,
    count,
    make_admin,
    make_environment,
    make_organisation,
    make_user,
    outbox,
)
from sqlmodel import Session, select

from econnect_app import live
from econnect_app.formatting import format_date
from econnect_app.models import (
    ActivityLog,
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Membership,
    MembershipRole,
    Notification,
    Organisation,
    OutboxMessage,
    Partnership,
    Plan,
    Role,
    UserEmail,
    UserStatus,
    utcnow,
)
from econnect_app.services import authorisations
from econnect_app.services.authorisations import (
    LinkAlreadyUsed,
    LinkExpired,
    LinkReplaced,
    LinkUnknown,
    LinkWithdrawn,
    _answer,
)
from econnect_app.services.errors import (
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)

NEW_ORGANISATION = {
    "name": "Bakkerij De Korenbloem B.V.",
    "kvk_number": "1234 5678",
    "vat_number": "NL123456782B01",
    "street": "Dorpsstraat 1",
    "postal_code": "1234 ab",
    "city": "Utrecht",
}


@pytest.fixture()
def scene(session: Session) -> Scene:
    return make_scene(session)


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The environments the services told the live channel about."""
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def reload(session: Session, row):  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.get(type(row), row.id)


def snapshot(session: Session) -> dict[str, object]:
    """Everything an answer may write, to prove a refused answer wrote nothing."""
    session.expire_all()
    return {
        "requests": [(r.id, r.status, r.responded_at) for r in session.exec(select(AuthorisationRequest))],
        "voided_links": [link.id for link in session.exec(select(AuthorisationLink)) if link.voided_at],
        "organisations": [
            (o.id, o.activated_at, o.software_package_id) for o in session.exec(select(Organisation))
        ],
        "memberships": count(session, Membership),
        "partnerships": count(session, Partnership),
        "activity": count(session, ActivityLog),
        "notifications": count(session, Notification),
        "outbox": count(session, OutboxMessage),
    }


# --- look_up_link: the activation page ----------------------------------------------------------


def test_a_working_link_shows_who_asks_for_what(session: Session, scene: Scene) -> None:
    view = authorisations.look_up_link(session, token=scene.token)

    assert view.request_id == scene.request.id
    assert view.firm_name == "Lovelace Accounting"
    assert view.requester_name == "Ada Lovelace"
    assert view.client_name == "Bakkerij De Korenbloem"
    assert view.client_email == "owner@korenbloem.example"
    assert view.organisation_name == "Bakkerij De Korenbloem B.V."
    assert view.software_name == "Exact Online"
    assert view.expires_at == scene.request.expires_at


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 43])
def test_unknown_link_says_to_check_the_link_or_ask_for_a_new_request(
    session: Session, scene: Scene, token: str
) -> None:
    with pytest.raises(LinkUnknown) as caught:
        authorisations.look_up_link(session, token=token)
    assert caught.value.message == (
        "This link is not valid. Check that you copied the whole link from the email, "
        "or ask your accountant to send a new request."
    )
    assert isinstance(caught.value, InvalidToken)


def test_resent_request_old_link_says_use_the_newest_email(session: Session, scene: Scene) -> None:
    new_token = add_link(session, scene.request)

    with pytest.raises(LinkReplaced) as caught:
        authorisations.look_up_link(session, token=scene.token)
    assert "newest email from Lovelace Accounting" in caught.value.message
    assert authorisations.look_up_link(session, token=new_token).request_id == scene.request.id


def test_an_older_link_counts_as_replaced_even_if_not_voided(session: Session, scene: Scene) -> None:
    add_link(session, scene.request, void_others=False)

    with pytest.raises(LinkReplaced):
        authorisations.look_up_link(session, token=scene.token)


def test_link_of_a_request_replaced_by_a_new_request_says_use_the_newest_email(
    session: Session, scene: Scene
) -> None:
    scene.request.status = AuthorisationStatus.WITHDRAWN.value
    session.commit()
    newer, newer_token = make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email=scene.request.client_email,
    )
    scene.request.replaced_by_id = newer.id
    session.commit()

    with pytest.raises(LinkReplaced) as caught:
        authorisations.look_up_link(session, token=scene.token)
    assert "Use the link in the newest email" in caught.value.message
    assert authorisations.look_up_link(session, token=newer_token).request_id == newer.id


def test_expired_request_says_ask_the_firm_to_resend(session: Session, scene: Scene) -> None:
    scene.request.status = AuthorisationStatus.EXPIRED.value
    session.commit()

    with pytest.raises(LinkExpired) as caught:
        authorisations.look_up_link(session, token=scene.token)
    assert caught.value.message == "This request has expired. Ask Lovelace Accounting to resend it."


def test_pending_request_past_its_expiry_counts_as_expired(session: Session, scene: Scene) -> None:
    scene.request.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()

    with pytest.raises(LinkExpired):
        authorisations.look_up_link(session, token=scene.token)


def test_withdrawn_request_says_the_firm_withdrew_it(session: Session, scene: Scene) -> None:
    scene.request.status = AuthorisationStatus.WITHDRAWN.value
    session.commit()

    with pytest.raises(LinkWithdrawn) as caught:
        authorisations.look_up_link(session, token=scene.token)
    assert caught.value.message.startswith("Lovelace Accounting withdrew this request.")


def test_accepted_request_says_when_it_was_accepted(session: Session, scene: Scene) -> None:
    organisation = make_organisation(session, scene.client_environment, activated=True)
    authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=organisation.id)
    answered = reload(session, scene.request).responded_at

    with pytest.raises(LinkAlreadyUsed) as caught:
        authorisations.look_up_link(session, token=scene.token)
    assert caught.value.message == (f"This request was already accepted on {format_date(answered)}.")


def test_declined_request_says_when_it_was_declined(session: Session, scene: Scene) -> None:
    authorisations.decline_request(session, user=scene.client, token=scene.token)
    answered = reload(session, scene.request).responded_at

    with pytest.raises(LinkAlreadyUsed) as caught:
        authorisations.look_up_link(session, token=scene.token)
    assert caught.value.message == (f"This request was already declined on {format_date(answered)}.")


# --- accept -------------------------------------------------------------------------------------


def test_accept_for_an_existing_organisation(session: Session, scene: Scene, published: list[int]) -> None:
    organisation = make_organisation(session, scene.client_environment, name="Korenbloem B.V.")
    assert organisation.activated_at is None and organisation.software_package_id is None
    published.clear()

    outcome = authorisations.accept_request(
        session, user=scene.client, token=scene.token, organisation_id=organisation.id
    )

    session.expire_all()
    request = session.get(AuthorisationRequest, scene.request.id)
    partnership = session.exec(select(Partnership)).one()
    assert outcome == authorisations.AcceptOutcome(
        request_id=request.id,
        partnership_id=partnership.id,
        organisation_id=organisation.id,
        organisation_name="Korenbloem B.V.",
        firm_name="Lovelace Accounting",
    )
    assert request.status == AuthorisationStatus.ACCEPTED.value
    assert request.responded_at is not None and request.responded_by_id == scene.client.id
    assert request.client_environment_id == scene.client_environment.id
    assert request.client_organisation_id == organisation.id
    assert request.partnership_id == partnership.id
    assert all(link.voided_at for link in session.exec(select(AuthorisationLink)))

    low, high = sorted((scene.firm.id, scene.client_environment.id))
    assert (partnership.environment_low_id, partnership.environment_high_id) == (low, high)
    assert partnership.initiator_environment_id == scene.firm.id
    assert partnership.created_via == "authorisation_request"
    assert partnership.status == "Active"

    stored = session.get(Organisation, organisation.id)
    assert stored.activated_at is not None
    assert stored.software_package_id == scene.package.id
    membership = session.exec(select(Membership).where(Membership.user_id == scene.accountant.id)).one()
    assert membership.organisation_id == organisation.id
    assert membership.role == MembershipRole.MEMBER.value

    by_environment = {(entry.environment_id, entry.action) for entry in session.exec(select(ActivityLog))}
    for environment in (scene.firm, scene.client_environment):
        assert (environment.id, "authorisation.accepted") in by_environment
        assert (environment.id, "partnership.created") in by_environment
    assert (scene.client_environment.id, "organisation.activated") in by_environment
    assert (scene.client_environment.id, "membership.added") in by_environment

    notification = session.exec(select(Notification)).one()
    assert notification.environment_id == scene.firm.id
    assert notification.user_id is None
    assert notification.message == (
        "Bakkerij De Korenbloem accepted your authorisation request for Korenbloem B.V."
    )
    assert notification.link == "/keys"

    [email] = outbox(session, template="authorisation_accepted")
    assert email.to_address == "ada@lovelace.example"
    assert "accepted your authorisation request for Korenbloem B.V." in email.subject
    assert "/keys" in email.text_body and "/keys" in email.html_body
    assert "Exact Online" in email.text_body
    assert sorted(published) == sorted([scene.firm.id, scene.client_environment.id])


def test_accept_keeps_an_organisations_own_software_package(session: Session, scene: Scene) -> None:
    other_package = make_software_package(session, name="Twinfield")
    organisation = make_organisation(session, scene.client_environment, activated=True)
    organisation.software_package_id = other_package.id
    session.commit()

    authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=organisation.id)

    assert reload(session, organisation).software_package_id == other_package.id
    assert not activities(session, action="organisation.activated")


def test_accept_creating_a_new_organisation(session: Session, scene: Scene) -> None:
    outcome = authorisations.accept_request(
        session, user=scene.client, token=scene.token, new_organisation=NEW_ORGANISATION
    )

    session.expire_all()
    organisation = session.exec(select(Organisation)).one()
    assert outcome.organisation_id == organisation.id
    assert organisation.environment_id == scene.client_environment.id
    assert organisation.name == "Bakkerij De Korenbloem B.V."
    assert organisation.kvk_number == "12345678"
    assert organisation.vat_number == "NL123456782B01"
    assert organisation.postal_code == "1234 AB"
    assert organisation.activated_at is not None
    assert organisation.software_package_id == scene.package.id
    assert organisation.created_by_id == scene.client.id
    roles = {
        membership.user_id: membership.role
        for membership in session.exec(
            select(Membership).where(Membership.organisation_id == organisation.id)
        )
    }
    assert roles == {
        scene.client.id: MembershipRole.ADMINISTRATOR.value,
        scene.accountant.id: MembershipRole.MEMBER.value,
    }
    assert reload(session, scene.request).client_organisation_id == organisation.id
    assert [entry.environment_id for entry in activities(session, action="organisation.added")] == [
        scene.client_environment.id
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "  "}, {"name"}),
        ({"kvk_number": "123"}, {"kvk_number"}),
        ({"vat_number": "NL12"}, {"vat_number"}),
        ({"name": "", "kvk_number": "abc", "postal_code": "x" * 17}, {"name", "kvk_number", "postal_code"}),
    ],
)
def test_invalid_new_organisation_changes_nothing_and_the_link_still_works(
    session: Session, scene: Scene, changes: dict[str, str], expected: set[str]
) -> None:
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as caught:
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, new_organisation={**NEW_ORGANISATION, **changes}
        )

    assert set(caught.value.errors) == expected
    assert snapshot(session) == before
    assert authorisations.look_up_link(session, token=scene.token).request_id == scene.request.id
    authorisations.accept_request(
        session, user=scene.client, token=scene.token, new_organisation=NEW_ORGANISATION
    )
    assert reload(session, scene.request).status == AuthorisationStatus.ACCEPTED.value


def test_new_organisation_with_a_kvk_number_already_in_the_environment_is_refused(
    session: Session, scene: Scene
) -> None:
    make_organisation(session, scene.client_environment, kvk_number="12345678")
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as caught:
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, new_organisation=NEW_ORGANISATION
        )

    assert caught.value.errors == {"kvk_number": "This organisation is already in your environment."}
    assert snapshot(session) == before


@pytest.mark.parametrize("choice", ["neither", "both", "foreign"])
def test_accept_needs_exactly_one_own_organisation_choice(
    session: Session, scene: Scene, choice: str
) -> None:
    own = make_organisation(session, scene.client_environment)
    foreign = make_organisation(session, make_environment(session, name="Someone Else"))
    options = {
        "neither": {},
        "both": {"organisation_id": own.id, "new_organisation": NEW_ORGANISATION},
        "foreign": {"organisation_id": foreign.id},
    }[choice]
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as caught:
        authorisations.accept_request(session, user=scene.client, token=scene.token, **options)

    assert caught.value.errors == {"organisation": "Choose one of your organisations or create a new one."}
    assert snapshot(session) == before


def test_invoice_portal_client_with_two_organisations_cannot_create_a_third(
    session: Session, scene: Scene
) -> None:
    assert scene.client_environment.plan == Plan.INVOICE_PORTAL.value
    existing = make_organisation(session, scene.client_environment)
    make_organisation(session, scene.client_environment)
    before = snapshot(session)

    with pytest.raises(PlanLimitReached):
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, new_organisation=NEW_ORGANISATION
        )

    assert snapshot(session) == before
    # Choosing one of the two organisations still works.
    authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=existing.id)
    assert count(session, Organisation) == 2


def test_second_request_from_the_same_firm_reuses_the_partnership_and_the_membership(
    session: Session, scene: Scene
) -> None:
    organisation = make_organisation(session, scene.client_environment, activated=True)
    first = authorisations.accept_request(
        session, user=scene.client, token=scene.token, organisation_id=organisation.id
    )
    second_request, second_token = make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email=scene.client.email,
        organisation_name="Korenbloem again",
    )

    second = authorisations.accept_request(
        session, user=scene.client, token=second_token, organisation_id=organisation.id
    )

    assert second.partnership_id == first.partnership_id
    assert count(session, Partnership) == 1
    assert reload(session, second_request).partnership_id == first.partnership_id
    accountant_memberships = session.exec(
        select(Membership).where(Membership.user_id == scene.accountant.id)
    ).all()
    assert len(accountant_memberships) == 1
    assert len(activities(session, action="partnership.created")) == 2  # one per side, first time only
    assert len(activities(session, action="membership.added")) == 1
    assert len(activities(session, action="authorisation.accepted")) == 4


def test_second_request_for_another_organisation_adds_a_membership_there(
    session: Session, scene: Scene
) -> None:
    first_org = make_organisation(session, scene.client_environment, activated=True)
    second_org = make_organisation(session, scene.client_environment, activated=True)
    authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=first_org.id)
    _, second_token = make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email=scene.client.email,
    )

    authorisations.accept_request(session, user=scene.client, token=second_token, organisation_id=second_org.id)

    organisation_ids = {
        m.organisation_id
        for m in session.exec(select(Membership).where(Membership.user_id == scene.accountant.id))
    }
    assert organisation_ids == {first_org.id, second_org.id}
    assert count(session, Partnership) == 1


def test_accepting_twice_in_a_row_gives_one_result(session: Session, scene: Scene) -> None:
    organisation = make_organisation(session, scene.client_environment, activated=True)
    authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=organisation.id)
    after_first = snapshot(session)

    with pytest.raises(LinkAlreadyUsed) as caught:
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, organisation_id=organisation.id
        )

    assert "already accepted" in caught.value.message
    assert snapshot(session) == after_first
    assert count(session, Partnership) == 1
    assert count(session, Membership) == 1


def test_decline_after_accept_is_refused(session: Session, scene: Scene) -> None:
    organisation = make_organisation(session, scene.client_environment, activated=True)
    authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=organisation.id)

    with pytest.raises(LinkAlreadyUsed):
        authorisations.decline_request(session, user=scene.client, token=scene.token)
    assert reload(session, scene.request).status == AuthorisationStatus.ACCEPTED.value


def test_a_claim_lost_inside_the_transaction_rolls_everything_back(
    session: Session, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request was answered between the checks and the claim (another browser tab)."""
    organisation = make_organisation(session, scene.client_environment)
    original_claim = _answer._claim

    def answered_meanwhile(session: Session, **kwargs):  # type: ignore[no-untyped-def]
        session.connection().exec_driver_sql(
            "UPDATE authorisation_request SET status = 'Declined', responded_at = '2025-03-03 10:00:00'"
        )
        session.commit()
        return original_claim(session, **kwargs)

    monkeypatch.setattr(_answer, "_claim", answered_meanwhile)
    with pytest.raises(LinkAlreadyUsed) as caught:
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, organisation_id=organisation.id
        )

    assert caught.value.message == "This request was already declined on 3 March 2025."
    assert reload(session, organisation).activated_at is None
    assert count(session, Partnership) == 0
    assert count(session, Membership) == 0
    assert count(session, OutboxMessage) == 0


def test_expired_pending_request_cannot_be_accepted(session: Session, scene: Scene) -> None:
    organisation = make_organisation(session, scene.client_environment)
    scene.request.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    before = snapshot(session)

    with pytest.raises(LinkExpired):
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, organisation_id=organisation.id
        )
    assert snapshot(session) == before


def test_withdrawn_request_cannot_be_accepted(session: Session, scene: Scene) -> None:
    organisation = make_organisation(session, scene.client_environment)
    scene.request.status = AuthorisationStatus.WITHDRAWN.value
    session.commit()

    with pytest.raises(LinkWithdrawn):
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, organisation_id=organisation.id
        )
    assert count(session, Partnership) == 0


# --- who may answer -----------------------------------------------------------------------------


def test_user_role_may_not_accept_or_decline(session: Session, scene: Scene) -> None:
    plain_user = make_user(session, scene.client_environment, role=Role.USER.value)
    organisation = make_organisation(session, scene.client_environment)
    before = snapshot(session)

    with pytest.raises(PermissionDenied) as caught:
        authorisations.accept_request(
            session, user=plain_user, token=scene.token, organisation_id=organisation.id
        )
    assert "Ask an administrator" in caught.value.message
    with pytest.raises(PermissionDenied):
        authorisations.decline_request(session, user=plain_user, token=scene.token)

    assert snapshot(session) == before
    assert authorisations.look_up_link(session, token=scene.token).request_id == scene.request.id


def test_advanced_user_may_accept(session: Session, scene: Scene) -> None:
    advanced = make_user(session, scene.client_environment, role=Role.ADVANCED_USER.value)
    organisation = make_organisation(session, scene.client_environment)

    authorisations.accept_request(
        session, user=advanced, token=scene.token, organisation_id=organisation.id, answer_for_address=True
    )

    assert reload(session, scene.request).responded_by_id == advanced.id


def test_blocked_user_may_not_accept(session: Session, scene: Scene) -> None:
    organisation = make_organisation(session, scene.client_environment)
    scene.client.status = UserStatus.BLOCKED.value
    session.commit()

    with pytest.raises(PermissionDenied):
        authorisations.accept_request(
            session, user=scene.client, token=scene.token, organisation_id=organisation.id
        )
    assert count(session, Partnership) == 0


def test_the_requesting_environment_cannot_accept_its_own_request(session: Session, scene: Scene) -> None:
    colleague = make_admin(session, scene.firm)
    own_organisation = make_organisation(session, scene.firm)
    before = snapshot(session)

    with pytest.raises(Conflict) as caught:
        authorisations.accept_request(
            session, user=colleague, token=scene.token, organisation_id=own_organisation.id
        )
    assert caught.value.message == "You cannot accept a request from your own environment."
    with pytest.raises(Conflict):
        authorisations.decline_request(session, user=scene.accountant, token=scene.token)
    assert snapshot(session) == before


# --- incoming requests --------------------------------------------------------------------------


def test_incoming_requests_via_primary_and_confirmed_additional_emails(
    session: Session, scene: Scene
) -> None:
    session.add(UserEmail(user_id=scene.client.id, email="books@korenbloem.example", confirmed_at=utcnow()))
    session.add(UserEmail(user_id=scene.client.id, email="unconfirmed@korenbloem.example"))
    session.commit()
    other_firm = make_environment(session, name="Babbage Bookkeeping", plan=Plan.BASIC.value)
    other_accountant = make_admin(session, other_firm, name="Charles Babbage")
    via_additional, _ = make_request(
        session,
        firm=other_firm,
        requester=other_accountant,
        package=scene.package,
        client_email="Books@Korenbloem.example",
        organisation_name="Korenbloem Books",
    )
    make_request(
        session,
        firm=other_firm,
        requester=other_accountant,
        package=scene.package,
        client_email="unconfirmed@korenbloem.example",
    )
    make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email="books@korenbloem.example",
        status=AuthorisationStatus.WITHDRAWN.value,
    )
    make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email="someone-else@example.com",
    )

    rows = authorisations.incoming_requests(session, user=scene.client)

    assert [row.request_id for row in rows] == [via_additional.id, scene.request.id]
    newest = rows[0]
    assert newest.firm_name == "Babbage Bookkeeping"
    assert newest.requester_name == "Charles Babbage"
    assert newest.organisation_name == "Korenbloem Books"
    assert newest.software_name == "Exact Online"
    assert newest.client_email == "Books@Korenbloem.example"
    assert rows[1].firm_name == "Lovelace Accounting"


def test_incoming_requests_leave_out_expired_and_answered_ones(session: Session, scene: Scene) -> None:
    expired, _ = make_request(
        session,
        firm=make_environment(session, name="Late Firm"),
        requester=scene.accountant,
        package=scene.package,
        client_email=scene.client.email,
        expires_in=timedelta(seconds=-1),
    )
    organisation = make_organisation(session, scene.client_environment)
    assert [row.request_id for row in authorisations.incoming_requests(session, user=scene.client)] == [
        scene.request.id
    ]

    authorisations.accept_request(
        session, user=scene.client, request_id=scene.request.id, organisation_id=organisation.id
    )

    assert authorisations.incoming_requests(session, user=scene.client) == []
    assert expired.status == AuthorisationStatus.PENDING.value


def test_unconfirmed_additional_email_sees_nothing(session: Session) -> None:
    scene = make_scene(session, client_email="owner@korenbloem.example")
    other = make_admin(session, scene.client_environment, email="other@korenbloem.example")
    session.add(UserEmail(user_id=other.id, email="owner2@korenbloem.example"))
    session.commit()
    make_request(
        session,
        firm=scene.firm,
        requester=scene.accountant,
        package=scene.package,
        client_email="owner2@korenbloem.example",
    )

    assert authorisations.incoming_requests(session, user=other) == []


def test_answer_by_request_id_must_be_addressed_to_the_user(session: Session, scene: Scene) -> None:
    colleague = make_admin(session, scene.client_environment, email="colleague@korenbloem.example")
    organisation = make_organisation(session, scene.client_environment)

    with pytest.raises(NotFound):
        authorisations.accept_request(
            session, user=colleague, request_id=scene.request.id, organisation_id=organisation.id
        )
    with pytest.raises(NotFound):
        authorisations.decline_request(session, user=colleague, request_id=scene.request.id)
    with pytest.raises(NotFound):
        authorisations.decline_request(session, user=colleague, request_id=987654)
    assert reload(session, scene.request).status == AuthorisationStatus.PENDING.value


def test_accept_from_the_incoming_list_via_a_confirmed_additional_email(session: Session) -> None:
    scene = make_scene(session, client_email="books@korenbloem.example")
    colleague = make_admin(session, scene.client_environment, email="kees@korenbloem.example")
    session.add(
        UserEmail(user_id=colleague.id, email="books-alias@korenbloem.example", confirmed_at=utcnow())
    )
    session.commit()
    request, _ = make_request(
        session,
        firm=make_environment(session, name="Other Firm", plan=Plan.BASIC.value),
        requester=scene.accountant,
        package=scene.package,
        client_email="books-alias@korenbloem.example",
    )

    outcome = authorisations.accept_request(
        session, user=colleague, request_id=request.id, new_organisation=NEW_ORGANISATION
    )

    assert reload(session, request).status == AuthorisationStatus.ACCEPTED.value
    assert outcome.firm_name == "Other Firm"


# --- decline ------------------------------------------------------------------------------------


def test_decline_with_a_reason_notifies_the_requester(
    session: Session, scene: Scene, published: list[int]
) -> None:
    authorisations.decline_request(
        session, user=scene.client, token=scene.token, reason="  We already work with another firm.  "
    )

    request = reload(session, scene.request)
    assert request.status == AuthorisationStatus.DECLINED.value
    assert request.decline_reason == "We already work with another firm."
    assert request.responded_by_id == scene.client.id and request.responded_at is not None
    assert request.partnership_id is None and request.client_organisation_id is None
    assert all(link.voided_at for link in session.exec(select(AuthorisationLink)))
    assert count(session, Partnership) == 0
    assert count(session, Membership) == 0

    notification = session.exec(select(Notification)).one()
    assert notification.environment_id == scene.firm.id
    assert notification.kind == "authorisation.declined"
    assert notification.message == (
        "Bakkerij De Korenbloem declined your authorisation request for Bakkerij De Korenbloem B.V. "
        "Reason: We already work with another firm."
    )
    assert notification.link == "/authorisations"

    [email] = outbox(session, template="authorisation_declined")
    assert email.to_address == "ada@lovelace.example"
    assert email.subject == (
        "Bakkerij De Korenbloem declined your authorisation request for Bakkerij De Korenbloem B.V."
    )
    assert "We already work with another firm." in email.text_body
    assert "We already work with another firm." in email.html_body
    assert email.environment_id == scene.firm.id

    declined = activities(session, action="authorisation.declined")
    assert {entry.environment_id for entry in declined} == {scene.firm.id, scene.client_environment.id}
    assert all(entry.actor_user_id == scene.client.id for entry in declined)
    assert sorted(published) == sorted([scene.firm.id, scene.client_environment.id])


def test_decline_without_a_reason(session: Session, scene: Scene) -> None:
    authorisations.decline_request(session, user=scene.client, request_id=scene.request.id)

    assert reload(session, scene.request).decline_reason is None
    notification = session.exec(select(Notification)).one()
    assert "Reason" not in notification.message
    [email] = outbox(session, template="authorisation_declined")
    assert "reason" not in email.text_body.lower()


def test_decline_reason_longer_than_500_characters_is_refused(session: Session, scene: Scene) -> None:
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as caught:
        authorisations.decline_request(session, user=scene.client, token=scene.token, reason="x" * 501)

    assert caught.value.errors == {"reason": "Use at most 500 characters."}
    assert snapshot(session) == before
    authorisations.decline_request(session, user=scene.client, token=scene.token, reason="x" * 500)
    assert reload(session, scene.request).status == AuthorisationStatus.DECLINED.value


def test_declining_twice_gives_one_result(session: Session, scene: Scene) -> None:
    authorisations.decline_request(session, user=scene.client, token=scene.token, reason="No thanks")
    after_first = snapshot(session)

    with pytest.raises(LinkAlreadyUsed):
        authorisations.decline_request(session, user=scene.client, token=scene.token)

    assert snapshot(session) == after_first




# --- an unconfirmed address unlocks nothing; a forwarded link is answered knowingly ------------


def unconfirm(session: Session, user) -> None:  # type: ignore[no-untyped-def]
    user.email_confirmed_at = None
    session.commit()


def test_an_unconfirmed_primary_address_lists_nothing_and_answers_nothing_by_id(
    session: Session, scene: Scene
) -> None:
    unconfirm(session, scene.client)
    organisation = make_organisation(session, scene.client_environment)
    before = snapshot(session)

    assert authorisations.incoming_requests(session, user=scene.client) == []
    with pytest.raises(NotFound):
        authorisations.accept_request(
            session, user=scene.client, request_id=scene.request.id, organisation_id=organisation.id
        )
    with pytest.raises(NotFound):
        authorisations.decline_request(session, user=scene.client, request_id=scene.request.id)
    assert snapshot(session) == before


def test_the_link_itself_still_answers_for_an_unconfirmed_address_and_confirms_it(
    session: Session, scene: Scene
) -> None:
    unconfirm(session, scene.client)
    organisation = make_organisation(session, scene.client_environment)
    assert authorisations.look_up_link(session, token=scene.token, user=scene.client).for_another_address

    with pytest.raises(ValidationFailed) as raised:
        authorisations.accept_request(session, user=scene.client, token=scene.token, organisation_id=organisation.id)
    assert raised.value.errors == {
        "answer_for_address": "This request was sent to owner@korenbloem.example. Confirm that you are "
        "allowed to answer for owner@korenbloem.example."
    }

    authorisations.accept_request(
        session, user=scene.client, token=scene.token, organisation_id=organisation.id, answer_for_address=True
    )

    assert reload(session, scene.request).status == AuthorisationStatus.ACCEPTED.value
    assert reload(session, scene.client).email_confirmed_at is not None
    [confirmed] = activities(session, action="user.email_confirmed")
    assert "through the activation link" in confirmed.summary


def test_the_activation_page_says_when_the_request_is_for_another_address(session: Session, scene: Scene) -> None:
    stranger = make_admin(session, make_environment(session, name="Somebody"), email="someone@example.com")

    assert not authorisations.look_up_link(session, token=scene.token).for_another_address  # logged out
    assert not authorisations.look_up_link(session, token=scene.token, user=scene.client).for_another_address
    view = authorisations.look_up_link(session, token=scene.token, user=stranger)
    assert view.for_another_address and view.client_email == "owner@korenbloem.example"


def test_a_forwarded_link_needs_the_word_of_who_answers_it(session: Session, scene: Scene) -> None:
    stranger = make_admin(session, make_environment(session, name="Somebody"), email="someone@example.com")
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as raised:
        authorisations.decline_request(session, user=stranger, token=scene.token)
    assert list(raised.value.errors) == ["answer_for_address"]
    assert snapshot(session) == before

    authorisations.decline_request(session, user=stranger, token=scene.token, answer_for_address=True)

    assert reload(session, scene.request).status == AuthorisationStatus.DECLINED.value
    assert reload(session, stranger).email == "someone@example.com"
    assert activities(session, action="user.email_confirmed") == []
