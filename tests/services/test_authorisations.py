"""Authorisation requests, the accountant's side: send, replace, resend, withdraw, expire, list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest_factories import (
    activities,
    count,
    make_admin,
    make_environment,
    make_user,
    outbox,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import live, security, settings
from econnect_app.formatting import format_date
from econnect_app.models import (
    ActivityLog,
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    OutboxMessage,
    Plan,
    Role,
    SoftwarePackage,
    User,
    UserEmail,
    UserStatus,
    utcnow,
)
from econnect_app.services import authorisations
from econnect_app.services.authorisations import links, sending
from econnect_app.services.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)
from econnect_app.services.paging import ListQuery
from econnect_app.settings import get_settings

ACTIVATION_LINK = re.compile(r"(http://\S+/activate/([A-Za-z0-9_\-]+))")
ROLE_MESSAGE = "Only Advanced users and Administrators can send authorisation requests."
PLAN_MESSAGE = (
    "Authorisation requests need the Basic or Professional plan. An administrator can upgrade in Settings."
)
PENDING = AuthorisationStatus.PENDING.value
WITHDRAWN = AuthorisationStatus.WITHDRAWN.value
EXPIRED = AuthorisationStatus.EXPIRED.value


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def packages(session: Session) -> dict[str, SoftwarePackage]:
    """Catalogue rows (the migration seeds them in real databases; create_all does not)."""
    rows = {
        slug: SoftwarePackage(slug=slug, name=name, instructions=f"Set up {name}.", sort_order=order)
        for order, (slug, name) in enumerate(
            [("exact-online", "Exact Online"), ("twinfield", "Twinfield"), ("other", "Other")]
        )
    }
    session.add_all(rows.values())
    session.commit()
    return rows


@pytest.fixture()
def firm(session: Session) -> Environment:
    """An accountancy firm on the Basic plan."""
    return make_environment(session, name="De Vries Administratie", plan=Plan.BASIC.value)


@pytest.fixture()
def anna(session: Session, firm: Environment) -> User:
    """The firm's Administrator."""
    return make_admin(session, firm, name="Anna de Vries", email="anna@devries.example")


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Environment ids passed to live.publish_environment_change."""
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def package_id(session: Session, slug: str = "exact-online") -> int:
    package = session.exec(select(SoftwarePackage).where(SoftwarePackage.slug == slug)).one()
    assert package.id is not None
    return package.id


def send(session: Session, actor: User, **overrides: object) -> AuthorisationRequest:
    values: dict[str, object] = {
        "client_name": "Piet",
        "client_email": "piet@example.com",
        "software_package_id": package_id(session),
        "organisation_name": "Bakkerij Piet BV",
    }
    values.update(overrides)
    return authorisations.create_request(session, actor=actor, **values)  # type: ignore[arg-type]


def activation_link(message: OutboxMessage) -> tuple[str, str]:
    """The full activation URL and its raw token, from the plain-text body (also in the HTML)."""
    match = ACTIVATION_LINK.search(message.text_body)
    assert match, message.text_body
    assert match.group(1) in message.html_body
    return match.group(1), match.group(2)


def links_of(session: Session, request: AuthorisationRequest) -> list[AuthorisationLink]:
    session.expire_all()
    statement = select(AuthorisationLink).where(AuthorisationLink.request_id == request.id)
    return list(session.exec(statement.order_by(AuthorisationLink.id)))


def requests_in_db(session: Session) -> list[AuthorisationRequest]:
    session.expire_all()
    return list(session.exec(select(AuthorisationRequest).order_by(AuthorisationRequest.id)))


def fresh(session: Session, request: AuthorisationRequest) -> AuthorisationRequest:
    session.expire_all()
    row = session.get(AuthorisationRequest, request.id)
    assert row is not None
    return row


def move_back(session: Session, request: AuthorisationRequest, **deltas: timedelta) -> None:
    """Move timestamps of a request into the past (instead of waiting)."""
    row = fresh(session, request)
    for name, delta in deltas.items():
        setattr(row, name, getattr(row, name) - delta)
    session.add(row)
    session.commit()


def move_activity_back(session: Session, request: AuthorisationRequest, delta: timedelta) -> None:
    statement = select(ActivityLog).where(
        ActivityLog.subject_type == "authorisation_request", ActivityLog.subject_id == request.id
    )
    for entry in session.exec(statement):
        entry.created_at = entry.created_at - delta
        session.add(entry)
    session.commit()


def with_settings(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    changed = replace(get_settings(), **changes)
    for module in (sending, links):
        monkeypatch.setattr(module, "get_settings", lambda: changed)


def nothing_written(session: Session) -> bool:
    return (
        count(session, AuthorisationRequest) == 0
        and count(session, AuthorisationLink) == 0
        and count(session, OutboxMessage) == 0
        and count(session, ActivityLog) == 0
    )


# --- create_request -----------------------------------------------------------------------------


def test_create_saves_a_pending_request_with_one_link_email_and_activity(
    session: Session, anna: User, firm: Environment
) -> None:
    request = send(session, anna, client_name="  Piet   Bakker ", client_email=" Piet@Example.COM ")

    row = fresh(session, request)
    assert row.status == PENDING
    assert (row.client_name, row.client_email) == ("Piet Bakker", "piet@example.com")
    assert row.organisation_name == "Bakkerij Piet BV"
    assert row.software_package_id == package_id(session)
    assert (row.environment_id, row.requested_by_id) == (firm.id, anna.id)
    assert row.send_count == 1
    assert row.replaced_by_id is None and row.responded_at is None
    expected_expiry = utcnow() + timedelta(days=14)
    assert abs(row.expires_at - expected_expiry) < timedelta(minutes=1)
    assert abs(row.last_sent_at - utcnow()) < timedelta(minutes=1)

    links = links_of(session, request)
    assert len(links) == 1 and links[0].voided_at is None

    [entry] = activities(session, action="authorisation.created")
    assert entry.summary == (
        "Anna de Vries sent an authorisation request to Piet Bakker (piet@example.com) for Bakkerij Piet BV."
    )
    assert (entry.environment_id, entry.actor_user_id) == (firm.id, anna.id)
    assert (entry.subject_type, entry.subject_id) == ("authorisation_request", request.id)


def test_the_email_says_who_asks_for_what_what_accepting_grants_and_when_it_expires(
    session: Session, anna: User
) -> None:
    request = send(session, anna)

    [message] = outbox(session, template="authorisation_request")
    assert message.to_address == "piet@example.com"
    assert message.environment_id == anna.environment_id
    assert message.subject == "De Vries Administratie asks for access to Bakkerij Piet BV on eConnect"
    url, token = activation_link(message)
    assert url == f"{get_settings().public_url}/activate/{token}"
    assert len(token) >= 43  # 256 bits, URL-safe base64
    [link] = links_of(session, request)
    assert link.token_hash == security.hash_token(token)
    assert token not in link.token_hash

    expires_on = fresh(session, request).expires_at
    expiry_text = format_date(expires_on)  # in the firm's time zone, Europe/Amsterdam by default
    for body in (message.text_body, message.html_body):
        assert "Hello Piet" in body
        assert "Anna de Vries" in body
        assert "De Vries Administratie" in body
        assert "Bakkerij Piet BV" in body
        assert "Exact Online" in body
        assert f"expires on {expiry_text}" in " ".join(re.sub(r"<[^>]+>", "", body).split())
        assert "14 days" in body
        assert "partnership between De Vries Administratie and your environment" in body
        assert "can retrieve the connection keys for your accounting software" in body
        assert "You can end the partnership at any time." in body


def test_the_html_email_escapes_what_people_typed(session: Session, anna: User) -> None:
    send(session, anna, client_name="<b>Piet</b>", organisation_name="Piet & Zn")
    [message] = outbox(session)
    assert "<b>Piet</b>" not in message.html_body
    assert "&lt;b&gt;Piet&lt;/b&gt;" in message.html_body
    assert "Piet &amp; Zn" in message.html_body
    assert "Piet & Zn" in message.text_body


def test_link_lifetime_comes_from_the_settings(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_settings(monkeypatch, authorisation_link_days=3)
    request = send(session, anna)
    assert abs(fresh(session, request).expires_at - (utcnow() + timedelta(days=3))) < timedelta(minutes=1)
    assert "3 days" in outbox(session)[0].text_body


def test_link_lifetime_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECONNECT_AUTHORISATION_LINK_DAYS", "21")
    assert settings.load_settings().authorisation_link_days == 21
    monkeypatch.delenv("ECONNECT_AUTHORISATION_LINK_DAYS")
    assert settings.load_settings().authorisation_link_days == 14


def test_every_field_is_checked_at_once_and_nothing_is_written(session: Session, anna: User) -> None:
    with pytest.raises(ValidationFailed) as caught:
        send(
            session,
            anna,
            client_name="  ",
            client_email="",
            software_package_id="",
            organisation_name="",
        )
    assert caught.value.errors == {
        "client_name": "Enter the client's name.",
        "client_email": "Enter an email address.",
        "software_package": "Choose a software package.",
        "organisation": "Enter the organisation name.",
    }
    assert nothing_written(session)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"client_email": "piet@"}, "client_email", "Enter a valid email address, like name@example.com."),
        (
            {"client_email": "not an email"},
            "client_email",
            "Enter a valid email address, like name@example.com.",
        ),
        ({"client_name": "x" * 201}, "client_name", "Use at most 200 characters."),
        ({"organisation_name": "x" * 201}, "organisation", "Use at most 200 characters."),
        ({"software_package_id": 9999}, "software_package", "Choose a software package."),
        ({"software_package_id": "9999"}, "software_package", "Choose a software package."),
        ({"software_package_id": "9" * 30}, "software_package", "Choose a software package."),
        ({"software_package_id": "Quickbooks"}, "software_package", "Choose a software package."),
        ({"software_package_id": ""}, "software_package", "Choose a software package."),
        ({"software_package_id": "Choose…"}, "software_package", "Choose a software package."),
    ],
)
def test_one_bad_field_is_reported_under_its_key(
    session: Session, anna: User, overrides: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        send(session, anna, **overrides)
    assert caught.value.errors == {field: message}
    assert nothing_written(session)


@pytest.mark.parametrize("choice", ["twinfield", "Twinfield", "id-as-text"])
def test_software_package_may_be_given_as_id_text_or_name(session: Session, anna: User, choice: str) -> None:
    twinfield = package_id(session, "twinfield")
    value = str(twinfield) if choice == "id-as-text" else choice
    request = send(session, anna, software_package_id=value)
    assert fresh(session, request).software_package_id == twinfield


def test_an_address_of_the_own_environment_is_refused(
    session: Session, anna: User, firm: Environment
) -> None:
    colleague = make_user(session, firm, email="colleague@devries.example")
    session.add(UserEmail(user_id=colleague.id, email="second@devries.example", confirmed_at=utcnow()))
    session.commit()

    for address in ("ANNA@devries.example", "colleague@devries.example", "second@devries.example"):
        with pytest.raises(ValidationFailed) as caught:
            send(session, anna, client_email=address)
        assert caught.value.errors == {"client_email": "This address belongs to your own environment."}
    assert count(session, AuthorisationRequest) == 0


def test_an_address_of_another_environment_is_fine(session: Session, anna: User) -> None:
    client_env = make_environment(session, name="Bakkerij Piet")
    make_admin(session, client_env, email="piet@example.com")
    assert send(session, anna).status == PENDING


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value])
def test_advanced_users_and_administrators_may_send(session: Session, firm: Environment, role: str) -> None:
    actor = make_user(session, firm, role=role)
    assert authorisations.why_cannot_send(session, actor=actor) is None
    assert send(session, actor).status == PENDING


def test_a_user_may_not_send_and_is_told_why(session: Session, firm: Environment) -> None:
    actor = make_user(session, firm, role=Role.USER.value)
    assert authorisations.why_cannot_send(session, actor=actor) == ROLE_MESSAGE
    with pytest.raises(PermissionDenied, match=ROLE_MESSAGE):
        send(session, actor)
    assert nothing_written(session)


def test_a_blocked_administrator_may_not_send(session: Session, firm: Environment) -> None:
    actor = make_admin(session, firm)
    actor.status = UserStatus.BLOCKED.value
    session.add(actor)
    session.commit()
    assert authorisations.why_cannot_send(session, actor=actor) is not None
    with pytest.raises(PermissionDenied):
        send(session, actor)
    assert nothing_written(session)


def test_the_role_is_read_fresh_from_the_database(session: Session, anna: User) -> None:
    """The caller's copy of the user says Administrator; the database says User now."""
    cached_copy = User.model_validate(anna.model_dump())
    anna.role = Role.USER.value
    session.add(anna)
    session.commit()
    assert cached_copy.role == Role.ADMINISTRATOR.value
    assert authorisations.why_cannot_send(session, actor=cached_copy) == ROLE_MESSAGE
    with pytest.raises(PermissionDenied, match=ROLE_MESSAGE):
        send(session, cached_copy)


def test_the_invoice_portal_plan_may_not_send(session: Session) -> None:
    environment = make_environment(session, plan=Plan.INVOICE_PORTAL.value)
    actor = make_admin(session, environment)
    assert authorisations.why_cannot_send(session, actor=actor) == PLAN_MESSAGE
    with pytest.raises(PlanLimitReached, match=re.escape(PLAN_MESSAGE)):
        send(session, actor)
    assert nothing_written(session)


def test_the_role_message_wins_over_the_plan_message(session: Session) -> None:
    environment = make_environment(session, plan=Plan.INVOICE_PORTAL.value)
    actor = make_user(session, environment, role=Role.USER.value)
    assert authorisations.why_cannot_send(session, actor=actor) == ROLE_MESSAGE


@pytest.mark.parametrize("plan", [Plan.BASIC.value, Plan.PROFESSIONAL.value])
def test_basic_and_professional_may_send(session: Session, plan: str) -> None:
    environment = make_environment(session, plan=plan)
    actor = make_admin(session, environment)
    assert send(session, actor).status == PENDING


# --- replacing a pending request ----------------------------------------------------------------


def test_a_new_request_to_the_same_email_and_organisation_replaces_the_pending_one(
    session: Session, anna: User, firm: Environment
) -> None:
    first = send(session, anna, organisation_name="Old BV")
    _, first_token = activation_link(outbox(session)[0])
    move_back(session, first, last_sent_at=timedelta(minutes=11))  # past the interval Resend has too
    second = send(session, anna, client_email="PIET@example.com", organisation_name="  old   bv ")

    old, new = fresh(session, first), fresh(session, second)
    assert old.status == WITHDRAWN and old.replaced_by_id == new.id
    assert new.status == PENDING and new.replaced_by_id is None
    [old_link] = links_of(session, first)
    assert old_link.token_hash == security.hash_token(first_token)
    assert old_link.voided_at is not None
    [new_link] = links_of(session, second)
    assert new_link.voided_at is None

    pending = [row for row in requests_in_db(session) if row.status == PENDING]
    assert [row.id for row in pending] == [second.id]
    assert len(outbox(session, template="authorisation_request")) == 2
    [replaced] = activities(session, action="authorisation.replaced")
    assert (replaced.subject_id, replaced.environment_id, replaced.actor_user_id) == (
        first.id,
        firm.id,
        anna.id,
    )
    assert replaced.summary == (
        "Anna de Vries replaced the pending authorisation request to Piet (piet@example.com) "
        "for Old BV with a new request."
    )
    assert len(activities(session, action="authorisation.created")) == 2
    assert authorisations.replaced_request(session, request=new).id == first.id
    assert authorisations.replaced_request(session, request=old) is None
    [new_row, old_row] = authorisations.requests_page(session, actor=anna).rows
    assert (old_row.status, old_row.replaced_on) == (WITHDRAWN, new.created_at)
    assert new_row.replaced_on is None


def test_an_owner_with_two_companies_gets_two_pending_requests(session: Session, anna: User) -> None:
    first = send(session, anna, organisation_name="Bakkerij Piet BV")
    second = send(session, anna, organisation_name="Piet Catering BV")

    assert {row.id: row.status for row in requests_in_db(session)} == {first.id: PENDING, second.id: PENDING}
    assert authorisations.replaced_request(session, request=second) is None
    assert all(link.voided_at is None for link in links_of(session, first) + links_of(session, second))


def test_requests_to_other_emails_and_from_other_environments_are_not_replaced(
    session: Session, anna: User
) -> None:
    other_firm = make_environment(session, name="Jansen Boekhouding", plan=Plan.PROFESSIONAL.value)
    jansen = make_admin(session, other_firm)
    theirs = send(session, jansen)
    other_client = send(session, anna, client_email="klaas@example.com")
    mine = send(session, anna)

    assert {row.id: row.status for row in requests_in_db(session)} == {
        theirs.id: PENDING,
        other_client.id: PENDING,
        mine.id: PENDING,
    }
    assert activities(session, action="authorisation.replaced") == []


def test_a_withdrawn_request_is_not_touched_by_a_new_one(session: Session, anna: User) -> None:
    first = send(session, anna)
    authorisations.withdraw_request(session, actor=anna, request_id=first.id)
    second = send(session, anna)
    assert fresh(session, first).replaced_by_id is None
    assert fresh(session, second).status == PENDING


def test_a_concurrent_pending_request_is_replaced_on_the_retry(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check misses a request sent at the same moment: the unique index refuses, we retry."""
    first = send(session, anna)
    move_back(session, first, last_sent_at=timedelta(minutes=11))
    real_lookup = sending._pending_request_for
    calls: list[int] = []

    def miss_once(*args: object, **kwargs: object) -> AuthorisationRequest | None:
        calls.append(1)
        return None if len(calls) == 1 else real_lookup(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sending, "_pending_request_for", miss_once)
    second = send(session, anna)

    assert len(calls) == 2
    assert fresh(session, first).status == WITHDRAWN
    assert fresh(session, first).replaced_by_id == second.id
    assert [row.id for row in requests_in_db(session) if row.status == PENDING] == [second.id]
    assert len(outbox(session)) == 2  # the failed attempt queued nothing


def test_a_lasting_clash_is_a_conflict_and_writes_nothing(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = send(session, anna)
    monkeypatch.setattr(sending, "_pending_request_for", lambda *a, **k: None)
    with pytest.raises(Conflict, match="at the same moment"):
        send(session, anna)
    assert [row.id for row in requests_in_db(session)] == [first.id]
    assert fresh(session, first).status == PENDING
    assert len(outbox(session)) == 1
    assert len(activities(session)) == 1


# --- resend -------------------------------------------------------------------------------------


def test_resend_voids_earlier_links_and_emails_a_fresh_one(
    session: Session, anna: User, firm: Environment
) -> None:
    request = send(session, anna)
    _, first_token = activation_link(outbox(session)[0])
    move_back(session, request, last_sent_at=timedelta(minutes=11), expires_at=timedelta(days=5))

    authorisations.resend_request(session, actor=anna, request_id=request.id)

    row = fresh(session, request)
    assert row.status == PENDING and row.send_count == 2
    assert abs(row.last_sent_at - utcnow()) < timedelta(minutes=1)
    assert abs(row.expires_at - (utcnow() + timedelta(days=14))) < timedelta(minutes=1)
    old_link, new_link = links_of(session, request)
    assert old_link.token_hash == security.hash_token(first_token)
    assert old_link.voided_at is not None
    assert new_link.voided_at is None
    first_message, second_message = outbox(session, template="authorisation_request")
    _, second_token = activation_link(second_message)
    assert second_token != first_token
    assert new_link.token_hash == security.hash_token(second_token)
    assert second_message.to_address == "piet@example.com"
    [entry] = activities(session, action="authorisation.resent")
    assert entry.summary == (
        "Anna de Vries resent the authorisation request to Piet (piet@example.com) for Bakkerij Piet BV."
    )
    assert (entry.environment_id, entry.actor_user_id, entry.subject_id) == (
        firm.id,
        anna.id,
        request.id,
    )


def test_resend_twice_keeps_only_the_newest_link(session: Session, anna: User) -> None:
    request = send(session, anna)
    for _ in range(2):
        move_back(session, request, last_sent_at=timedelta(minutes=11))
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    links = links_of(session, request)
    assert [link.voided_at is None for link in links] == [False, False, True]
    assert fresh(session, request).send_count == 3


def test_resend_too_soon_is_refused_with_the_waiting_time(session: Session, anna: User) -> None:
    request = send(session, anna)
    move_back(session, request, last_sent_at=timedelta(minutes=3, seconds=10))
    with pytest.raises(Conflict) as caught:
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert caught.value.message == ("This request was sent 3 minutes ago. You can resend it after 7 minutes.")
    assert len(links_of(session, request)) == 1
    assert len(outbox(session)) == 1
    assert fresh(session, request).send_count == 1


def test_resend_right_after_sending_is_refused(session: Session, anna: User) -> None:
    request = send(session, anna)
    with pytest.raises(Conflict) as caught:
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert caught.value.message == (
        "This request was sent less than a minute ago. You can resend it after 10 minutes."
    )


def test_the_minimum_interval_comes_from_the_settings(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_settings(monkeypatch, resend_min_interval_minutes=2)
    request = send(session, anna)
    move_back(session, request, last_sent_at=timedelta(minutes=2, seconds=1))
    authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).send_count == 2


def test_at_most_five_sends_per_24_hours(session: Session, anna: User) -> None:
    request = send(session, anna)
    for _ in range(4):
        move_back(session, request, last_sent_at=timedelta(minutes=11))
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).send_count == 5

    move_back(session, request, last_sent_at=timedelta(hours=3))
    with pytest.raises(Conflict) as caught:
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert caught.value.message == (
        "This request was sent 5 times in the last 24 hours, the most allowed. "
        "You can resend it after 24 hours."
    )
    assert len(outbox(session)) == 5

    # A day later the earlier sends no longer count.
    move_activity_back(session, request, timedelta(hours=24, minutes=1))
    authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).send_count == 6


def test_the_daily_limit_comes_from_the_settings(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_settings(monkeypatch, resend_max_per_day=2)
    request = send(session, anna)
    move_back(session, request, last_sent_at=timedelta(minutes=11))
    authorisations.resend_request(session, actor=anna, request_id=request.id)
    move_activity_back(session, request, timedelta(hours=20))  # both sends 20 hours ago
    move_back(session, request, last_sent_at=timedelta(minutes=11))
    with pytest.raises(Conflict, match="sent 2 times in the last 24 hours.*after 4 hours"):
        authorisations.resend_request(session, actor=anna, request_id=request.id)


@pytest.mark.parametrize("status", ["Accepted", "Declined", "Withdrawn", "Expired"])
def test_only_pending_requests_can_be_resent(session: Session, anna: User, status: str) -> None:
    request = send(session, anna)
    row = fresh(session, request)
    row.status = status
    session.add(row)
    session.commit()
    move_back(session, request, last_sent_at=timedelta(hours=1))
    with pytest.raises(Conflict, match="Only pending requests can be resent."):
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert len(links_of(session, request)) == 1


def test_resend_loses_against_a_concurrent_answer(session: Session, engine: Engine, anna: User) -> None:
    """The client accepts in another process after this session read the request."""
    request = send(session, anna)
    move_back(session, request, last_sent_at=timedelta(minutes=11))
    session.get(AuthorisationRequest, request.id)  # cached in this session as Pending
    with Session(engine) as other:
        row = other.get(AuthorisationRequest, request.id)
        assert row is not None
        row.status = AuthorisationStatus.ACCEPTED.value
        other.add(row)
        other.commit()
    with pytest.raises(Conflict, match="Only pending requests can be resent."):
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).status == AuthorisationStatus.ACCEPTED.value
    assert len(outbox(session)) == 1
    assert activities(session, action="authorisation.resent") == []


def test_resend_needs_the_role_and_the_plan(session: Session, anna: User, firm: Environment) -> None:
    request = send(session, anna)
    move_back(session, request, last_sent_at=timedelta(minutes=11))
    plain_user = make_user(session, firm, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        authorisations.resend_request(session, actor=plain_user, request_id=request.id)
    firm.plan = Plan.INVOICE_PORTAL.value
    session.add(firm)
    session.commit()
    with pytest.raises(PlanLimitReached):
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).send_count == 1


# --- withdraw -----------------------------------------------------------------------------------


def test_withdraw_voids_the_link_and_is_logged(session: Session, anna: User, firm: Environment) -> None:
    request = send(session, anna)
    result = authorisations.withdraw_request(session, actor=anna, request_id=request.id)

    assert result.status == WITHDRAWN
    row = fresh(session, request)
    assert row.status == WITHDRAWN and row.replaced_by_id is None
    [link] = links_of(session, request)
    assert link.voided_at is not None
    [entry] = activities(session, action="authorisation.withdrawn")
    assert entry.summary == (
        "Anna de Vries withdrew the authorisation request to Piet (piet@example.com) for Bakkerij Piet BV."
    )
    assert (entry.environment_id, entry.actor_user_id, entry.subject_id) == (
        firm.id,
        anna.id,
        request.id,
    )
    assert count(session, AuthorisationRequest) == 1  # never deleted


def test_withdraw_twice_is_a_conflict(session: Session, anna: User) -> None:
    request = send(session, anna)
    authorisations.withdraw_request(session, actor=anna, request_id=request.id)
    with pytest.raises(Conflict, match="Only pending requests can be withdrawn."):
        authorisations.withdraw_request(session, actor=anna, request_id=request.id)
    assert len(activities(session, action="authorisation.withdrawn")) == 1


def test_an_advanced_user_may_withdraw_a_colleagues_request(
    session: Session, anna: User, firm: Environment
) -> None:
    request = send(session, anna)
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value, name="Bas")
    authorisations.withdraw_request(session, actor=colleague, request_id=request.id)
    assert fresh(session, request).status == WITHDRAWN
    assert activities(session, action="authorisation.withdrawn")[0].summary.startswith("Bas withdrew")


def test_a_user_may_not_withdraw(session: Session, anna: User, firm: Environment) -> None:
    request = send(session, anna)
    plain_user = make_user(session, firm, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        authorisations.withdraw_request(session, actor=plain_user, request_id=request.id)
    assert fresh(session, request).status == PENDING


def test_withdraw_still_works_after_a_downgrade(session: Session, anna: User, firm: Environment) -> None:
    request = send(session, anna)
    firm.plan = Plan.INVOICE_PORTAL.value
    session.add(firm)
    session.commit()
    authorisations.withdraw_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).status == WITHDRAWN


# --- other environments -------------------------------------------------------------------------


def test_requests_of_another_environment_are_not_found(session: Session, anna: User) -> None:
    other_firm = make_environment(session, name="Jansen Boekhouding", plan=Plan.BASIC.value)
    jansen = make_admin(session, other_firm)
    theirs = send(session, jansen)
    move_back(session, theirs, last_sent_at=timedelta(hours=1))

    for action in (authorisations.resend_request, authorisations.withdraw_request):
        with pytest.raises(NotFound, match="This authorisation request does not exist."):
            action(session, actor=anna, request_id=theirs.id)
    with pytest.raises(NotFound):
        authorisations.withdraw_request(session, actor=anna, request_id=99999)
    assert authorisations.requests_page(session, actor=anna).rows == []
    assert fresh(session, theirs).status == PENDING and fresh(session, theirs).send_count == 1


# --- expiry -------------------------------------------------------------------------------------


def test_due_requests_expire_once(session: Session, anna: User, firm: Environment) -> None:
    due = send(session, anna)
    not_due = send(session, anna, client_email="klaas@example.com", client_name="Klaas")
    move_back(session, due, expires_at=timedelta(days=14, seconds=1))

    assert authorisations.expire_due_requests(session) == 1
    assert fresh(session, due).status == EXPIRED
    assert fresh(session, not_due).status == PENDING
    [link] = links_of(session, due)
    assert link.voided_at is not None
    assert links_of(session, not_due)[0].voided_at is None
    [entry] = activities(session, action="authorisation.expired")
    assert entry.summary == (
        "The authorisation request to Piet (piet@example.com) for Bakkerij Piet BV expired without an answer."
    )
    assert (entry.environment_id, entry.actor_user_id, entry.subject_id) == (firm.id, None, due.id)

    assert authorisations.expire_due_requests(session) == 0
    assert len(activities(session, action="authorisation.expired")) == 1


def test_expiry_accepts_a_reference_time(session: Session, anna: User) -> None:
    request = send(session, anna)
    assert authorisations.expire_due_requests(session, now=utcnow() + timedelta(days=13)) == 0
    assert authorisations.expire_due_requests(session, now=utcnow() + timedelta(days=15)) == 1
    assert fresh(session, request).status == EXPIRED


def test_only_pending_requests_expire(session: Session, anna: User) -> None:
    request = send(session, anna)
    authorisations.withdraw_request(session, actor=anna, request_id=request.id)
    move_back(session, request, expires_at=timedelta(days=30))
    assert authorisations.expire_due_requests(session) == 0
    assert fresh(session, request).status == WITHDRAWN


def test_expiry_covers_every_environment(session: Session, anna: User) -> None:
    other_firm = make_environment(session, name="Jansen Boekhouding", plan=Plan.BASIC.value)
    jansen = make_admin(session, other_firm)
    mine, theirs = send(session, anna), send(session, jansen)
    for request in (mine, theirs):
        move_back(session, request, expires_at=timedelta(days=15))
    assert authorisations.expire_due_requests(session) == 2
    by_environment = {entry.environment_id for entry in activities(session, action="authorisation.expired")}
    assert by_environment == {anna.environment_id, jansen.environment_id}


@contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    statements: list[str] = []

    def note(_connection, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_reads_show_a_past_due_request_as_expired_and_write_nothing(
    session: Session, engine: Engine, anna: User, firm: Environment, published: list[int]
) -> None:
    request = send(session, anna)
    assert authorisations.count_pending(session, environment_id=firm.id) == 1
    move_back(session, request, expires_at=timedelta(days=15))
    published.clear()

    with statements_run(engine) as statements:
        assert authorisations.count_pending(session, environment_id=firm.id) == 0
        [row] = authorisations.requests_page(session, actor=anna).rows
    assert (row.id, row.status, row.can_resend, row.can_withdraw) == (request.id, EXPIRED, False, False)

    assert statements and all(statement.lstrip().upper().startswith("SELECT") for statement in statements)
    assert fresh(session, request).status == PENDING  # as stored until the expiry task runs
    assert links_of(session, request)[0].voided_at is None
    assert activities(session, action="authorisation.expired") == []
    assert published == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [("Pending", ["Klaas"]), ("Expired", ["Piet"]), ("Withdrawn", []), (None, ["Klaas", "Piet"])],
)
def test_the_status_filter_goes_by_the_status_as_of_now(
    session: Session, anna: User, status: str | None, expected: list[str]
) -> None:
    piet = send(session, anna, client_name="Piet")
    move_back(session, piet, expires_at=timedelta(days=15), created_at=timedelta(minutes=1))
    send(session, anna, client_name="Klaas", client_email="klaas@example.com")
    rows = authorisations.requests_page(session, actor=anna, status=status).rows
    assert [row.client_name for row in rows] == expected


def test_a_past_due_request_can_be_neither_resent_nor_withdrawn(session: Session, anna: User) -> None:
    request = send(session, anna)
    move_back(session, request, expires_at=timedelta(days=15), last_sent_at=timedelta(days=1))
    with pytest.raises(Conflict, match="Only pending requests can be resent."):
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    with pytest.raises(Conflict, match="Only pending requests can be withdrawn."):
        authorisations.withdraw_request(session, actor=anna, request_id=request.id)
    assert fresh(session, request).status == PENDING and fresh(session, request).send_count == 1
    assert len(outbox(session)) == 1
    assert len(activities(session)) == 1


def test_a_new_request_expires_a_past_due_one_instead_of_replacing_it(session: Session, anna: User) -> None:
    first = send(session, anna)
    move_back(session, first, expires_at=timedelta(days=15))
    second = send(session, anna)
    assert fresh(session, first).status == EXPIRED and fresh(session, first).replaced_by_id is None
    assert links_of(session, first)[0].voided_at is not None
    assert fresh(session, second).status == PENDING
    assert [entry.action for entry in activities(session)] == [
        "authorisation.created",
        "authorisation.expired",
        "authorisation.created",
    ]


def test_an_expired_request_can_be_sent_again_as_a_new_one(session: Session, anna: User) -> None:
    first = send(session, anna)
    move_back(session, first, expires_at=timedelta(days=15))
    authorisations.expire_due_requests(session)
    second = send(session, anna)
    assert fresh(session, first).status == EXPIRED and fresh(session, first).replaced_by_id is None
    assert fresh(session, second).status == PENDING
    with pytest.raises(Conflict, match="Only pending requests can be resent."):
        authorisations.resend_request(session, actor=anna, request_id=first.id)


# --- list and count -----------------------------------------------------------------------------


@pytest.fixture()
def three_requests(session: Session, anna: User) -> list[AuthorisationRequest]:
    """Piet (pending, oldest), Klaas (withdrawn), Marie (pending, newest)."""
    piet = send(session, anna, client_name="Piet Bakker", client_email="piet@example.com")
    klaas = send(
        session,
        anna,
        client_name="Klaas Vos",
        client_email="klaas@vos.example",
        organisation_name="Vos & Zn",
        software_package_id=package_id(session, "twinfield"),
    )
    marie = send(session, anna, client_name="Marie 100% Jansen", client_email="marie@jansen.example")
    move_back(session, piet, created_at=timedelta(hours=2))
    move_back(session, klaas, created_at=timedelta(hours=1))
    authorisations.withdraw_request(session, actor=anna, request_id=klaas.id)
    return [piet, klaas, marie]


def test_list_shows_newest_first_with_everything_the_page_needs(
    session: Session, anna: User, three_requests: list[AuthorisationRequest]
) -> None:
    piet, klaas, marie = three_requests
    rows = authorisations.requests_page(session, actor=anna).rows
    assert [row.id for row in rows] == [marie.id, klaas.id, piet.id]
    klaas_row = rows[1]
    assert klaas_row.client_name == "Klaas Vos"
    assert klaas_row.client_email == "klaas@vos.example"
    assert klaas_row.organisation_name == "Vos & Zn"
    assert klaas_row.software_name == "Twinfield"
    assert klaas_row.status == WITHDRAWN
    assert klaas_row.requested_by_name == "Anna de Vries"
    assert (klaas_row.can_resend, klaas_row.can_withdraw) == (False, False)
    assert klaas_row.responded_at is None and klaas_row.decline_reason is None
    assert (rows[0].can_resend, rows[0].can_withdraw) == (True, True)
    assert rows[0].created_at <= rows[0].last_sent_at < rows[0].expires_at
    with pytest.raises(AttributeError):
        rows[0].status = "Accepted"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ["Marie", "Klaas", "Piet"]),
        ("", ["Marie", "Klaas", "Piet"]),
        ("Pending", ["Marie", "Piet"]),
        ("Withdrawn", ["Klaas"]),
        ("Accepted", []),
        ("Declined", []),
        ("Expired", []),
    ],
)
def test_list_filters_by_status(
    session: Session,
    anna: User,
    three_requests: list[AuthorisationRequest],
    status: str | None,
    expected: list[str],
) -> None:
    rows = authorisations.requests_page(session, actor=anna, status=status).rows
    assert [row.client_name.split()[0] for row in rows] == expected


def test_an_unknown_status_filter_is_refused(session: Session, anna: User) -> None:
    with pytest.raises(ValidationFailed) as caught:
        authorisations.requests_page(session, actor=anna, status="pending-ish")
    assert set(caught.value.errors) == {"status"}


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("piet", ["Marie", "Piet"]),  # Piet Bakker, and Marie's organisation Bakkerij Piet BV
        ("PIET", ["Marie", "Piet"]),
        ("piet bakker", ["Piet"]),
        ("  bakker ", ["Marie", "Piet"]),
        ("vos.example", ["Klaas"]),
        ("KLAAS@", ["Klaas"]),
        ("example", ["Marie", "Klaas", "Piet"]),
        ("100%", ["Marie"]),
        ("%", ["Marie"]),
        ("_", []),
        ("nobody", []),
        ("Vos & Zn", ["Klaas"]),  # the organisation's name
        ("  bakkerij PIET bv ", ["Marie", "Piet"]),
        ("& zn", ["Klaas"]),
    ],
)
def test_list_searches_client_name_email_and_organisation_ignoring_case(
    session: Session,
    anna: User,
    three_requests: list[AuthorisationRequest],
    search: str,
    expected: list[str],
) -> None:
    rows = authorisations.requests_page(session, actor=anna, query=ListQuery(search=search)).rows
    assert [row.client_name.split()[0] for row in rows] == expected


@pytest.mark.parametrize("search", ["éva", "ÉVA", "MÜLLER", "müller"])
def test_search_ignores_case_beyond_ascii_on_every_database(session: Session, anna: User, search: str) -> None:
    send(session, anna, client_name="Éva Müller", client_email="eva@mueller.example")
    send(session, anna, client_name="Eva Muller", client_email="eva@muller.example")
    rows = authorisations.requests_page(session, actor=anna, query=ListQuery(search=search)).rows
    assert [row.client_name for row in rows] == ["Éva Müller"]


def test_search_finds_the_organisation_name_only_in_the_own_environment(
    session: Session, anna: User
) -> None:
    send(session, anna, client_name="Piet", organisation_name="Korenbloem Holding B.V.")
    send(session, anna, client_name="Klaas", organisation_name="Bakkerij Vos")
    other_firm = make_environment(session, name="Other Firm", plan=Plan.BASIC.value)
    send(session, make_admin(session, other_firm), client_name="Elsewhere", organisation_name="Korenbloem")

    rows = authorisations.requests_page(session, actor=anna, query=ListQuery(search="KORENBLOEM")).rows

    assert [(row.client_name, row.organisation_name) for row in rows] == [("Piet", "Korenbloem Holding B.V.")]


def test_each_row_says_who_sent_it_and_when_its_link_expires(
    session: Session, anna: User, firm: Environment
) -> None:
    bram = make_user(session, firm, role=Role.ADVANCED_USER.value, name="Bram Smit", email="bram@devries.example")
    nameless = make_user(session, firm, role=Role.ADVANCED_USER.value, name="", email="desk@devries.example")
    by_anna = send(session, anna, client_email="a@example.com")
    by_bram = send(session, bram, client_email="b@example.com")
    by_desk = send(session, nameless, client_email="c@example.com")

    rows = {row.id: row for row in authorisations.requests_page(session, actor=anna).rows}

    assert rows[by_anna.id].requested_by_name == "Anna de Vries"
    assert rows[by_bram.id].requested_by_name == "Bram Smit"
    assert rows[by_desk.id].requested_by_name == "desk@devries.example"  # no name: the address
    days = get_settings().authorisation_link_days
    for request in (by_anna, by_bram, by_desk):
        stored = fresh(session, request)
        assert rows[request.id].expires_at == stored.expires_at == stored.created_at + timedelta(days=days)


def test_filter_and_search_combine(
    session: Session, anna: User, three_requests: list[AuthorisationRequest]
) -> None:
    rows = authorisations.requests_page(
        session, actor=anna, status="Pending", query=ListQuery(search="example")
    ).rows
    assert [row.client_name.split()[0] for row in rows] == ["Marie", "Piet"]
    assert authorisations.requests_page(session, actor=anna, query=ListQuery(page_size=25)).rows[0].client_name.startswith("Marie")


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value])
def test_advanced_users_and_administrators_see_the_list(
    session: Session, anna: User, firm: Environment, role: str
) -> None:
    send(session, anna)
    actor = make_user(session, firm, role=role)
    assert len(authorisations.requests_page(session, actor=actor).rows) == 1


def test_a_user_may_not_see_the_list(session: Session, anna: User, firm: Environment) -> None:
    send(session, anna)
    actor = make_user(session, firm, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        authorisations.requests_page(session, actor=actor)


def test_the_list_is_kept_after_a_downgrade(session: Session, anna: User, firm: Environment) -> None:
    send(session, anna)
    firm.plan = Plan.INVOICE_PORTAL.value
    session.add(firm)
    session.commit()
    assert len(authorisations.requests_page(session, actor=anna).rows) == 1


def test_count_pending_counts_one_environment(session: Session, anna: User, firm: Environment) -> None:
    other_firm = make_environment(session, name="Jansen Boekhouding", plan=Plan.BASIC.value)
    send(session, make_admin(session, other_firm))
    send(session, anna)
    withdrawn = send(session, anna, client_email="klaas@example.com")
    authorisations.withdraw_request(session, actor=anna, request_id=withdrawn.id)
    assert authorisations.count_pending(session, environment_id=firm.id) == 1
    assert authorisations.count_pending(session, environment_id=other_firm.id) == 1


# --- activity and live updates ------------------------------------------------------------------


def test_every_status_change_is_in_the_activity_log(session: Session, anna: User) -> None:
    first = send(session, anna)
    move_back(session, first, last_sent_at=timedelta(minutes=11))
    second = send(session, anna)  # replaces the first
    move_back(session, second, last_sent_at=timedelta(minutes=11))
    authorisations.resend_request(session, actor=anna, request_id=second.id)
    authorisations.withdraw_request(session, actor=anna, request_id=second.id)
    third = send(session, anna)
    move_back(session, third, expires_at=timedelta(days=15))
    authorisations.expire_due_requests(session)

    log = [(entry.action, entry.subject_id) for entry in activities(session)]
    assert log == [
        ("authorisation.created", first.id),
        ("authorisation.replaced", first.id),
        ("authorisation.created", second.id),
        ("authorisation.resent", second.id),
        ("authorisation.withdrawn", second.id),
        ("authorisation.created", third.id),
        ("authorisation.expired", third.id),
    ]
    assert count(session, AuthorisationRequest) == 3


def test_committed_changes_are_published_to_the_environment(
    session: Session, anna: User, firm: Environment, published: list[int]
) -> None:
    request = send(session, anna)
    assert published == [firm.id]
    move_back(session, request, last_sent_at=timedelta(minutes=11))
    published.clear()
    authorisations.resend_request(session, actor=anna, request_id=request.id)
    authorisations.withdraw_request(session, actor=anna, request_id=request.id)
    assert published == [firm.id] * 2

    expiring = send(session, anna, client_email="klaas@example.com")
    move_back(session, expiring, expires_at=timedelta(days=15))
    published.clear()
    authorisations.expire_due_requests(session)
    assert published == [firm.id]
    published.clear()
    authorisations.expire_due_requests(session)
    assert published == []


def test_refused_changes_are_not_published(session: Session, anna: User, published: list[int]) -> None:
    with pytest.raises(ValidationFailed):
        send(session, anna, client_email="")
    request = send(session, anna)
    published.clear()
    with pytest.raises(Conflict):
        authorisations.resend_request(session, actor=anna, request_id=request.id)
    assert published == []


def test_a_failing_live_channel_does_not_undo_the_change(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenBroker:
        def publish(self, environment_id: int) -> None:
            raise RuntimeError("push channel down")

    monkeypatch.setattr(live, "get_broker", lambda: BrokenBroker())
    request = send(session, anna)
    assert fresh(session, request).status == PENDING
