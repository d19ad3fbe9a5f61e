"""Relationship requests from Find partners: who may send and answer them (role × plan on both
sides), the emailed links (one per recipient, hashed, single use, expiring), one pending request per
pair, answering once, withdrawing, expiry, and double submits on every database."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from conftest_factories import activities, make_admin, make_environment, make_organisation, make_user, outbox
from partnership_factories import (
    BLOCKED,
    ROLES,
    Pair,
    end_partnership_row,
    fresh,
    hold_until_both_arrive,
    make_actor,
    make_pair,
    make_partnership,
    make_relationship_manager,
    notifications,
    recipients,
    relationship_token,
    run_together,
    snapshot,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from econnect_app import live, security
from econnect_app.models import (
    Environment,
    Partnership,
    PartnershipOrigin,
    Plan,
    RelationshipRequest,
    RelationshipRequestLink,
    RelationshipRequestStatus,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import relationship_requests as rr
from econnect_app.services.errors import (
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)
from econnect_app.services.relationship_requests import RelationshipLinkProblem

PLANS = (Plan.INVOICE_PORTAL.value, Plan.BASIC.value, Plan.PROFESSIONAL.value)
PENDING = RelationshipRequestStatus.PENDING.value
NOT_ACTIVE = "Your account is not active"


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def make_target_people(session: Session, pair: Pair) -> dict[str, User]:
    """Everyone of the client's side that matters to who is emailed."""
    return {
        "second_admin": make_admin(
            session, pair.client, name="Karin Koren", email="karin@korenbloem.example"
        ),
        "plain_manager": make_relationship_manager(
            session, pair.client, role=Role.USER.value, name="Cor Contact", email="cor@korenbloem.example"
        ),
        "advanced_manager": make_relationship_manager(
            session,
            pair.client,
            role=Role.ADVANCED_USER.value,
            name="Rita Relations",
            email="rita@korenbloem.example",
        ),
        "advanced": make_user(
            session,
            pair.client,
            role=Role.ADVANCED_USER.value,
            name="Adam Advanced",
            email="adam@korenbloem.example",
        ),
        "blocked_admin": make_admin(
            session,
            pair.client,
            name="Bea Blocked",
            email="bea@korenbloem.example",
            status=UserStatus.BLOCKED.value,
        ),
    }


def send(session: Session, pair: Pair, *, message: str = "") -> RelationshipRequest:
    return rr.send_relationship_request(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id, message=message
    )


def tokens_by_address(session: Session) -> dict[str, str]:
    return {m.to_address: relationship_token(m) for m in outbox(session, template="relationship_request")}


# --- sending --------------------------------------------------------------------------------------


def test_sending_emails_each_administrator_and_relationship_manager_their_own_link(
    session: Session, published: list[int]
) -> None:
    pair = make_pair(session, partnered=False)
    people = make_target_people(session, pair)
    published.clear()

    request = send(session, pair, message="  We would like to work with you.  ")

    stored = fresh(session, RelationshipRequest, request.id)
    assert (stored.status, stored.requester_environment_id, stored.requested_by_id) == (
        PENDING,
        pair.firm.id,
        pair.accountant.id,
    )
    assert (stored.target_environment_id, stored.target_organisation_id) == (
        pair.client.id,
        pair.client_organisation.id,
    )
    assert (stored.environment_low_id, stored.environment_high_id) == tuple(
        sorted((pair.firm.id, pair.client.id))
    )
    assert stored.message == "We would like to work with you."
    assert timedelta(days=13, hours=23) < stored.expires_at - stored.created_at <= timedelta(days=14)
    # One link per recipient: the target's active Administrators and its relationship managers who
    # may answer (Advanced users and Administrators); not a plain-User relationship manager.
    expected = sorted(
        [
            "kees@korenbloem.example",
            "karin@korenbloem.example",
            "rita@korenbloem.example",
        ]
    )
    assert recipients(session, "relationship_request") == expected
    tokens = tokens_by_address(session)
    assert len(set(tokens.values())) == 3
    links = session.exec(
        select(RelationshipRequestLink).where(RelationshipRequestLink.request_id == request.id)
    ).all()
    by_user = {link.user_id: link.token_hash for link in links}
    users = {u.email: u.id for u in session.exec(select(User))}
    for address, token in tokens.items():
        assert len(token) >= 43  # 256 bits, URL-safe
        assert by_user[users[address]] == security.hash_token(token)  # only the SHA-256 hash is stored
    # The raw tokens are nowhere in the database but in the outgoing emails themselves.
    stored_rows = repr(snapshot(session, skip=("outbox_message",)))
    assert not any(token in stored_rows for token in tokens.values())
    [email] = [
        m
        for m in outbox(session, template="relationship_request")
        if m.to_address == "kees@korenbloem.example"
    ]
    assert email.subject == "Lovelace Accounting wants to become partners with Korenbloem Holding on eConnect"
    assert (
        "Ada Lovelace of Lovelace Accounting found Bakkerij De Korenbloem in Find partners" in email.text_body
    )
    assert "Their message: We would like to work with you." in email.text_body
    assert "Their message: We would like to work with you." in email.html_body
    assert email.environment_id == pair.client.id
    # Seen in the app, logged on both sides, both sides' pages refresh.
    [notification] = notifications(session, kind="relationship_request.received")
    assert (notification.environment_id, notification.message, notification.link) == (
        pair.client.id,
        "Lovelace Accounting sent you a relationship request.",
        "/partners",
    )
    assert {
        (a.environment_id, a.summary) for a in activities(session, action="relationship_request.sent")
    } == {
        (
            pair.firm.id,
            "Ada Lovelace sent a relationship request to Korenbloem Holding (found as Bakkerij De Korenbloem).",
        ),
        (pair.client.id, "Ada Lovelace of Lovelace Accounting sent you a relationship request."),
    }
    assert set(published) == {pair.firm.id, pair.client.id}
    for nobody in ("advanced", "plain_manager", "blocked_admin"):
        assert people[nobody].email not in recipients(session, "relationship_request"), nobody
    assert {link.user_id for link in links} == {
        pair.client_admin.id,
        people["second_admin"].id,
        people["advanced_manager"].id,
    }


@pytest.mark.parametrize(
    ("role", "sender_plan", "target_plan"), list(itertools.product((*ROLES, BLOCKED), PLANS, PLANS))
)
def test_who_may_send_role_and_plan_on_both_sides(
    session: Session, role: str, sender_plan: str, target_plan: str
) -> None:
    pair = make_pair(session, partnered=False, firm_plan=sender_plan, client_plan=target_plan)
    sender = make_actor(session, pair.firm, role)
    before = snapshot(session)

    reason = rr.why_cannot_request(session, actor=sender, organisation_id=pair.client_organisation.id)

    if role == BLOCKED:
        expected: tuple[type[Exception], str] | None = (PermissionDenied, NOT_ACTIVE)
    elif role == Role.USER.value:
        expected = (PermissionDenied, rr.ROLE_MESSAGE)
    elif sender_plan == Plan.INVOICE_PORTAL.value:
        expected = (PlanLimitReached, rr.PLAN_MESSAGE)
    elif target_plan == Plan.INVOICE_PORTAL.value:
        expected = (
            Conflict,
            "Korenbloem Holding is on a plan without partnerships, so it cannot accept a request.",
        )
    else:
        expected = None
    if expected is None:
        assert reason is None
        request = rr.send_relationship_request(
            session, actor=sender, organisation_id=pair.client_organisation.id
        )
        assert fresh(session, RelationshipRequest, request.id).status == PENDING
        return
    error, message = expected
    assert reason is not None and reason.startswith(message)
    with pytest.raises(error) as caught:
        rr.send_relationship_request(session, actor=sender, organisation_id=pair.client_organisation.id)
    assert caught.value.message.startswith(message)
    assert snapshot(session) == before


def test_a_target_without_anyone_who_can_answer_is_refused(session: Session) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    sender = make_admin(session, firm)
    target = make_environment(session, name="Only Users", plan=Plan.BASIC.value)
    make_user(session, target, role=Role.USER.value)
    make_relationship_manager(session, target, role=Role.USER.value)  # a plain User cannot answer
    make_admin(session, target, status=UserStatus.BLOCKED.value)
    organisation = make_organisation(session, target, activated=True)
    before = snapshot(session)

    message = "Only Users has nobody who can accept a relationship request yet."
    assert rr.why_cannot_request(session, actor=sender, organisation_id=organisation.id) == message
    with pytest.raises(Conflict, match=message):
        rr.send_relationship_request(session, actor=sender, organisation_id=organisation.id)
    assert snapshot(session) == before


def test_unknown_own_inactive_or_hidden_organisations_cannot_be_asked(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    own = make_organisation(session, pair.firm, activated=True)
    inactive = make_organisation(session, pair.client, name="Not activated")
    hidden = make_organisation(session, pair.client, name="Hidden", activated=True)
    hidden.findable = False
    session.add(hidden)
    session.commit()
    before = snapshot(session)

    for organisation_id in (999_999, 0, -1, 2**40, own.id, inactive.id, hidden.id):
        assert rr.why_cannot_request(session, actor=pair.accountant, organisation_id=organisation_id) == (
            "This organisation cannot be found."
        )
        with pytest.raises(NotFound, match="This organisation cannot be found."):
            rr.send_relationship_request(session, actor=pair.accountant, organisation_id=organisation_id)
    with pytest.raises(ValidationFailed) as caught:
        send(session, pair, message="x" * 1001)
    assert caught.value.errors == {"message": "Use at most 1000 characters."}
    assert snapshot(session) == before


def test_a_request_is_refused_while_one_is_pending_either_way_or_when_already_partners(
    session: Session,
) -> None:
    pair = make_pair(session, partnered=False)
    firm_organisation = make_organisation(session, pair.firm, name="Lovelace B.V.", activated=True)
    send(session, pair)
    before = snapshot(session)

    with pytest.raises(Conflict, match=r"already waiting for an answer \(you sent it on "):
        send(session, pair)
    with pytest.raises(Conflict, match=r"already waiting for an answer \(they sent it on "):
        rr.send_relationship_request(session, actor=pair.client_admin, organisation_id=firm_organisation.id)
    assert rr.why_cannot_request(
        session, actor=pair.firm_admin, organisation_id=pair.client_organisation.id
    ).startswith("A relationship request between you and Korenbloem Holding is already waiting")
    assert snapshot(session) == before

    tokens = tokens_by_address(session)
    rr.accept_relationship_request(session, actor=pair.client_admin, token=tokens["kees@korenbloem.example"])
    partners_now = snapshot(session)
    with pytest.raises(Conflict, match="Korenbloem Holding is your partner already."):
        send(session, pair)
    with pytest.raises(Conflict, match="Lovelace Accounting is your partner already."):
        rr.send_relationship_request(session, actor=pair.client_admin, organisation_id=firm_organisation.id)
    assert snapshot(session) == partners_now


def test_after_a_partnership_ended_a_new_request_makes_a_new_partnership(session: Session) -> None:
    pair = make_pair(session)
    end_partnership_row(session, pair.partnership)

    send(session, pair)
    partnership = rr.accept_relationship_request(
        session, actor=pair.client_admin, token=tokens_by_address(session)["kees@korenbloem.example"]
    )

    assert partnership.id != pair.partnership.id
    assert partnership.created_via == PartnershipOrigin.RELATIONSHIP_REQUEST.value
    assert [p.status for p in session.exec(select(Partnership).order_by(col(Partnership.id)))] == [
        "Ended",
        "Active",
    ]


# --- answering ------------------------------------------------------------------------------------


def test_accepting_by_the_emailed_link_starts_the_partnership(session: Session, published: list[int]) -> None:
    pair = make_pair(session, partnered=False)
    people = make_target_people(session, pair)
    request = send(session, pair)
    tokens = tokens_by_address(session)
    view = rr.look_up_relationship_link(session, token=tokens["rita@korenbloem.example"])
    assert (
        view.request_id,
        view.requester_environment_name,
        view.requested_by,
        view.target_environment_name,
    ) == (request.id, "Lovelace Accounting", "Ada Lovelace", "Korenbloem Holding")
    assert (view.organisation_name, view.target_environment_id) == ("Bakkerij De Korenbloem", pair.client.id)
    published.clear()

    partnership = rr.accept_relationship_request(
        session, actor=people["advanced_manager"], token=tokens["rita@korenbloem.example"]
    )

    stored = fresh(session, Partnership, partnership.id)
    assert (stored.status, stored.created_via, stored.initiator_environment_id) == (
        "Active",
        PartnershipOrigin.RELATIONSHIP_REQUEST.value,
        pair.firm.id,
    )
    answered = fresh(session, RelationshipRequest, request.id)
    assert (answered.status, answered.responded_by_id, answered.partnership_id) == (
        RelationshipRequestStatus.ACCEPTED.value,
        people["advanced_manager"].id,
        partnership.id,
    )
    assert answered.responded_at is not None
    links = session.exec(select(RelationshipRequestLink)).all()
    assert links and all(link.voided_at is not None for link in links)
    [told] = notifications(session, kind="relationship_request.accepted")
    assert (told.environment_id, told.message) == (
        pair.firm.id,
        "Korenbloem Holding accepted your relationship request. You are partners now.",
    )
    [email] = outbox(session, template="relationship_request_answered")
    assert (email.to_address, email.subject) == (
        "ada@lovelace.example",
        "Korenbloem Holding accepted your relationship request",
    )
    assert "http://localhost:3000/partners" in email.text_body
    assert {a.environment_id for a in activities(session, action="relationship_request.accepted")} == {
        pair.firm.id,
        pair.client.id,
    }
    assert {a.environment_id for a in activities(session, action="partnership.created")} == {
        pair.firm.id,
        pair.client.id,
    }
    assert set(published) == {pair.firm.id, pair.client.id}
    assert "cor@korenbloem.example" not in tokens  # a plain-User relationship manager got no link
    # Every other recipient's link now says why it no longer works.
    for address in ("kees@korenbloem.example", "karin@korenbloem.example", "rita@korenbloem.example"):
        with pytest.raises(RelationshipLinkProblem, match="already accepted on "):
            rr.look_up_relationship_link(session, token=tokens[address])
    before = snapshot(session)
    with pytest.raises(RelationshipLinkProblem, match="already accepted"):
        rr.accept_relationship_request(
            session, actor=pair.client_admin, token=tokens["kees@korenbloem.example"]
        )
    with pytest.raises(RelationshipLinkProblem, match="already accepted"):
        rr.decline_relationship_request(session, actor=pair.client_admin, request_id=request.id)
    assert snapshot(session) == before


def test_accepting_reuses_a_partnership_that_appeared_meanwhile(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    existing = make_partnership(session, pair.firm, pair.client)  # an authorisation request was accepted

    partnership = rr.accept_relationship_request(session, actor=pair.client_admin, request_id=request.id)

    assert partnership.id == existing.id
    assert fresh(session, RelationshipRequest, request.id).partnership_id == existing.id
    assert len(session.exec(select(Partnership)).all()) == 1
    assert activities(session, action="partnership.created") == []


@pytest.mark.parametrize(
    ("answer", "role", "target_plan"),
    list(itertools.product(("accept", "decline"), (*ROLES, BLOCKED), PLANS)),
)
def test_who_may_answer_role_and_plan(session: Session, answer: str, role: str, target_plan: str) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    target = fresh(session, Environment, pair.client.id)
    target.plan = target_plan  # changed since the request was sent
    session.add(target)
    session.commit()
    actor = make_actor(session, pair.client, role)
    before = snapshot(session)

    def act():  # type: ignore[no-untyped-def]
        if answer == "accept":
            return rr.accept_relationship_request(session, actor=actor, request_id=request.id)
        return rr.decline_relationship_request(session, actor=actor, request_id=request.id)

    if role == BLOCKED:
        expected: tuple[type[Exception], str] | None = (PermissionDenied, NOT_ACTIVE)
    elif role == Role.USER.value:
        expected = (
            PermissionDenied,
            "Only Advanced users and Administrators can answer relationship requests",
        )
    elif answer == "accept" and target_plan == Plan.INVOICE_PORTAL.value:
        expected = (PlanLimitReached, rr.PLAN_MESSAGE)
    else:
        expected = None
    if expected is None:
        act()
        status = fresh(session, RelationshipRequest, request.id).status
        assert status == ("Accepted" if answer == "accept" else "Declined")
        assert len(session.exec(select(Partnership)).all()) == (1 if answer == "accept" else 0)
        return
    error, message = expected
    with pytest.raises(error, match=message):
        act()
    assert snapshot(session) == before


def test_a_requester_no_longer_on_a_partnership_plan_cannot_be_accepted(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    firm = fresh(session, Environment, pair.firm.id)
    firm.plan = Plan.INVOICE_PORTAL.value
    session.add(firm)
    session.commit()
    before = snapshot(session)

    with pytest.raises(Conflict, match="Lovelace Accounting is no longer on a plan with partnerships"):
        rr.accept_relationship_request(session, actor=pair.client_admin, request_id=request.id)
    assert snapshot(session) == before
    rr.decline_relationship_request(session, actor=pair.client_admin, request_id=request.id)
    assert fresh(session, RelationshipRequest, request.id).status == "Declined"


def test_only_the_target_environment_answers(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    token = tokens_by_address(session)["kees@korenbloem.example"]
    stranger = make_environment(session, name="Stranger", plan=Plan.BASIC.value)
    stranger_admin = make_admin(session, stranger)
    before = snapshot(session)

    for actor in (pair.firm_admin, pair.accountant, stranger_admin):
        with pytest.raises(
            PermissionDenied, match="This request is for Korenbloem Holding. Log in with an account"
        ):
            rr.accept_relationship_request(session, actor=actor, token=token)
        with pytest.raises(PermissionDenied, match="This request is for Korenbloem Holding"):
            rr.decline_relationship_request(session, actor=actor, token=token)
        with pytest.raises(NotFound, match="does not exist or is not addressed to you"):
            rr.accept_relationship_request(session, actor=actor, request_id=request.id)
    for request_id in (999_999, -1, 2**40):
        with pytest.raises(NotFound):
            rr.accept_relationship_request(session, actor=pair.client_admin, request_id=request_id)
    with pytest.raises(ValueError):
        rr.accept_relationship_request(session, actor=pair.client_admin)
    assert snapshot(session) == before


def test_declining_tells_the_requester_and_frees_the_pair(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    tokens = tokens_by_address(session)

    rr.decline_relationship_request(session, actor=pair.client_admin, token=tokens["kees@korenbloem.example"])

    stored = fresh(session, RelationshipRequest, request.id)
    assert (stored.status, stored.responded_by_id, stored.partnership_id) == (
        "Declined",
        pair.client_admin.id,
        None,
    )
    assert session.exec(select(Partnership)).all() == []
    [told] = notifications(session, kind="relationship_request.declined")
    assert (told.environment_id, told.message) == (
        pair.firm.id,
        "Korenbloem Holding declined your relationship request.",
    )
    [email] = outbox(session, template="relationship_request_answered")
    assert (email.to_address, email.subject) == (
        "ada@lovelace.example",
        "Korenbloem Holding declined your relationship request",
    )
    assert "http://localhost:3000/partners/find" in email.text_body
    assert 'href="http://localhost:3000/partners/find"' in email.html_body
    assert {a.environment_id for a in activities(session, action="relationship_request.declined")} == {
        pair.firm.id,
        pair.client.id,
    }
    with pytest.raises(RelationshipLinkProblem, match="already declined on "):
        rr.look_up_relationship_link(session, token=tokens["kees@korenbloem.example"])
    assert (
        rr.why_cannot_request(session, actor=pair.accountant, organisation_id=pair.client_organisation.id)
        is None
    )


# --- links that no longer work --------------------------------------------------------------------


def _answer_every_way(session: Session, actor: User, token: str, message: str) -> None:
    with pytest.raises(RelationshipLinkProblem, match=message):
        rr.look_up_relationship_link(session, token=token)
    with pytest.raises(RelationshipLinkProblem, match=message):
        rr.accept_relationship_request(session, actor=actor, token=token)
    with pytest.raises(RelationshipLinkProblem, match=message):
        rr.decline_relationship_request(session, actor=actor, token=token)


def test_unknown_links_say_so(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    send(session, pair)
    token = tokens_by_address(session)["kees@korenbloem.example"]
    before = snapshot(session)

    for bad in ("", "nonsense", token[:-1], token + "x", "a\x00b", token.upper()):
        _answer_every_way(session, pair.client_admin, bad, "This link is not valid")
    assert issubclass(RelationshipLinkProblem, InvalidToken)
    assert snapshot(session) == before


def test_a_withdrawn_request_says_so_and_changes_nothing(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    token = tokens_by_address(session)["kees@korenbloem.example"]

    withdrawn = rr.withdraw_relationship_request(session, actor=pair.accountant, request_id=request.id)

    assert withdrawn.status == RelationshipRequestStatus.WITHDRAWN.value
    assert all(link.voided_at is not None for link in session.exec(select(RelationshipRequestLink)))
    assert {a.environment_id for a in activities(session, action="relationship_request.withdrawn")} == {
        pair.firm.id,
        pair.client.id,
    }
    before = snapshot(session)
    _answer_every_way(
        session, pair.client_admin, token, "Lovelace Accounting withdrew this relationship request."
    )
    with pytest.raises(Conflict, match="withdrew this relationship request"):
        rr.withdraw_relationship_request(session, actor=pair.accountant, request_id=request.id)
    assert snapshot(session) == before
    # The pair is free again.
    assert (
        rr.why_cannot_request(session, actor=pair.accountant, organisation_id=pair.client_organisation.id)
        is None
    )


def test_an_expired_request_says_so_before_and_after_the_expiry_task(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    token = tokens_by_address(session)["kees@korenbloem.example"]
    stored = fresh(session, RelationshipRequest, request.id)
    stored.expires_at = utcnow() - timedelta(minutes=1)
    session.add(stored)
    session.commit()
    before = snapshot(session)

    message = "This relationship request has expired. Ask Lovelace Accounting to send a new one"
    _answer_every_way(session, pair.client_admin, token, message)
    [row] = rr.list_relationship_requests(session, actor=pair.client_admin)
    assert (row.status, row.can_answer) == ("Expired", False)
    assert snapshot(session) == before  # reads never write

    assert rr.expire_due_relationship_requests(session) == 1
    assert fresh(session, RelationshipRequest, request.id).status == RelationshipRequestStatus.EXPIRED.value
    assert all(link.voided_at is not None for link in session.exec(select(RelationshipRequestLink)))
    assert {a.environment_id for a in activities(session, action="relationship_request.expired")} == {
        pair.firm.id,
        pair.client.id,
    }
    _answer_every_way(session, pair.client_admin, token, message)
    assert rr.expire_due_relationship_requests(session) == 0
    # Expiry frees the pair for a new request.
    assert send(session, pair).id != request.id


def test_sending_again_after_the_expiry_date_expires_the_old_request_in_the_same_transaction(
    session: Session,
) -> None:
    pair = make_pair(session, partnered=False)
    old = send(session, pair)
    stored = fresh(session, RelationshipRequest, old.id)
    stored.expires_at = utcnow() - timedelta(seconds=1)
    session.add(stored)
    session.commit()

    new = send(session, pair)

    assert fresh(session, RelationshipRequest, old.id).status == RelationshipRequestStatus.EXPIRED.value
    assert fresh(session, RelationshipRequest, new.id).status == PENDING


def test_expiry_leaves_requests_that_are_not_due(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    before = snapshot(session)

    assert rr.expire_due_relationship_requests(session) == 0
    assert snapshot(session) == before
    assert rr.expire_due_relationship_requests(session, now=utcnow() + timedelta(days=15)) == 1
    assert fresh(session, RelationshipRequest, request.id).status == RelationshipRequestStatus.EXPIRED.value


def test_a_voided_link_of_a_pending_request_no_longer_works(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    send(session, pair)
    token = tokens_by_address(session)["kees@korenbloem.example"]
    link = session.exec(
        select(RelationshipRequestLink).where(
            RelationshipRequestLink.token_hash == security.hash_token(token)
        )
    ).one()
    link.voided_at = utcnow()
    session.add(link)
    session.commit()
    before = snapshot(session)

    _answer_every_way(session, pair.client_admin, token, "This link no longer works.")
    assert snapshot(session) == before


# --- withdrawing and listing ----------------------------------------------------------------------


def test_only_the_sending_sides_advanced_users_and_administrators_withdraw(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    plain = make_user(session, pair.firm, role=Role.USER.value)
    request = send(session, pair)
    before = snapshot(session)

    with pytest.raises(PermissionDenied, match=rr.ROLE_MESSAGE):
        rr.withdraw_relationship_request(session, actor=plain, request_id=request.id)
    for actor in (pair.client_admin,):
        with pytest.raises(NotFound):
            rr.withdraw_relationship_request(session, actor=actor, request_id=request.id)
    for request_id in (999_999, 0, -1, 2**40):
        with pytest.raises(NotFound):
            rr.withdraw_relationship_request(session, actor=pair.firm_admin, request_id=request_id)
    assert snapshot(session) == before

    rr.accept_relationship_request(session, actor=pair.client_admin, request_id=request.id)
    accepted = snapshot(session)
    with pytest.raises(Conflict, match="already accepted"):
        rr.withdraw_relationship_request(session, actor=pair.firm_admin, request_id=request.id)
    assert snapshot(session) == accepted


def test_both_sides_list_the_request_with_the_buttons_they_may_use(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    plain_sender_side = make_user(session, pair.firm)
    request = send(session, pair, message="Hello")

    [outgoing] = rr.list_relationship_requests(session, actor=pair.firm_admin)
    [incoming] = rr.list_relationship_requests(session, actor=pair.client_admin)
    [seen_by_plain] = rr.list_relationship_requests(session, actor=plain_sender_side)

    assert (outgoing.id, outgoing.incoming, outgoing.other_environment_name, outgoing.organisation_name) == (
        request.id,
        False,
        "Korenbloem Holding",
        "Bakkerij De Korenbloem",
    )
    assert (outgoing.can_answer, outgoing.can_withdraw, outgoing.message, outgoing.requested_by) == (
        False,
        True,
        "Hello",
        "Ada Lovelace",
    )
    assert (
        incoming.incoming,
        incoming.other_environment_name,
        incoming.can_answer,
        incoming.can_withdraw,
    ) == (True, "Lovelace Accounting", True, False)
    assert (seen_by_plain.can_answer, seen_by_plain.can_withdraw) == (False, False)


# --- two things at the same moment ----------------------------------------------------------------


def test_two_requests_between_the_same_pair_at_once_give_one(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session, partnered=False)
    firm_organisation = make_organisation(session, pair.firm, activated=True)
    hold_until_both_arrive(monkeypatch, rr, "_expire_stale_between")

    results = run_together(
        engine,
        lambda own: rr.send_relationship_request(
            own, actor=pair.accountant, organisation_id=pair.client_organisation.id
        ),
        lambda own: rr.send_relationship_request(
            own, actor=pair.client_admin, organisation_id=firm_organisation.id
        ),
    )

    assert sum(isinstance(r, RelationshipRequest) for r in results) == 1, results
    [refused] = [r for r in results if isinstance(r, Conflict)]
    assert "already waiting for an answer" in refused.message
    session.expire_all()
    assert len(session.exec(select(RelationshipRequest)).all()) == 1
    assert len(activities(session, action="relationship_request.sent")) == 2  # one request, both sides


def test_a_double_submitted_request_gives_one(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session, partnered=False)
    hold_until_both_arrive(monkeypatch, rr, "_expire_stale_between")

    results = run_together(engine, *(lambda own: send(own, pair) for _ in range(2)))

    assert sum(isinstance(r, RelationshipRequest) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    session.expire_all()
    assert len(session.exec(select(RelationshipRequest)).all()) == 1
    assert len(outbox(session, template="relationship_request")) == 1


def test_two_accepts_at_once_give_one_partnership(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session, partnered=False)
    people = make_target_people(session, pair)
    send(session, pair)
    tokens = tokens_by_address(session)
    hold_until_both_arrive(monkeypatch, rr, "_transition")

    results = run_together(
        engine,
        lambda own: rr.accept_relationship_request(
            own, actor=pair.client_admin, token=tokens["kees@korenbloem.example"]
        ),
        lambda own: rr.accept_relationship_request(
            own, actor=people["second_admin"], token=tokens["karin@korenbloem.example"]
        ),
    )

    assert sum(isinstance(r, Partnership) for r in results) == 1, results
    [lost] = [r for r in results if isinstance(r, RelationshipLinkProblem)]
    assert "already accepted" in lost.message
    session.expire_all()
    assert len(session.exec(select(Partnership)).all()) == 1
    assert len(outbox(session, template="relationship_request_answered")) == 1
    assert len(notifications(session, kind="relationship_request.accepted")) == 1
    assert len(activities(session, action="partnership.created")) == 2


def test_accept_and_decline_at_once_give_one_answer(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    hold_until_both_arrive(monkeypatch, rr, "_transition")

    results = run_together(
        engine,
        lambda own: rr.accept_relationship_request(own, actor=pair.client_admin, request_id=request.id),
        lambda own: rr.decline_relationship_request(own, actor=pair.client_admin, request_id=request.id),
    )

    assert sum(isinstance(r, RelationshipLinkProblem) for r in results) == 1, results
    session.expire_all()
    status = fresh(session, RelationshipRequest, request.id).status
    assert len(session.exec(select(Partnership)).all()) == (1 if status == "Accepted" else 0)
    assert len(outbox(session, template="relationship_request_answered")) == 1


def test_two_workers_expiring_at_once_expire_each_request_once(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session, partnered=False)
    request = send(session, pair)
    later = utcnow() + timedelta(days=15)
    hold_until_both_arrive(monkeypatch, rr, "_transition")

    results = run_together(
        engine, *(lambda own: rr.expire_due_relationship_requests(own, now=later) for _ in range(2))
    )

    assert sorted(results) == [0, 1], results
    assert fresh(session, RelationshipRequest, request.id).status == RelationshipRequestStatus.EXPIRED.value
    assert len(activities(session, action="relationship_request.expired")) == 2  # one per side, once
