"""How often authorisation requests may be sent (issue 8, point 5): a new request that replaces the
pending one to the same email and organisation obeys the same limits as Resend, and every new
request, resend and CSV row counts towards the sender's and the environment's
"authorisation_request" rate limits (services/throttle.py), each refusal saying when to try again.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest_factories import activities, count, make_admin, make_environment, outbox
from sqlmodel import Session, select

from econnect_app.models import (
    ActivityLog,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Plan,
    SoftwarePackage,
    User,
)
from econnect_app.services import authorisations, throttle
from econnect_app.services.caller import calling_from
from econnect_app.services.errors import Conflict

PENDING, WITHDRAWN = AuthorisationStatus.PENDING.value, AuthorisationStatus.WITHDRAWN.value
CSV_HEADER = "client name,email,software package,organisation"


@pytest.fixture(autouse=True)
def package(session: Session) -> SoftwarePackage:
    row = SoftwarePackage(slug="exact-online", name="Exact Online", instructions="Set up Exact Online.", sort_order=0)
    session.add(row)
    session.commit()
    return row


@pytest.fixture()
def firm(session: Session) -> Environment:
    return make_environment(session, name="De Vries Administratie", plan=Plan.BASIC.value)


@pytest.fixture()
def anna(session: Session, firm: Environment) -> User:
    return make_admin(session, firm, name="Anna de Vries", email="anna@devries.example")


def limit_requests(monkeypatch: pytest.MonkeyPatch, *, per_client: str, per_environment: str) -> None:
    """Replace the "authorisation_request" limits for the test."""
    limits = throttle.ActionLimits(per_client, per_environment, "Too many authorisation requests were sent.")
    monkeypatch.setitem(throttle.LIMITS, "authorisation_request", limits)


@pytest.fixture()
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two authorisation requests an hour per client and three per environment."""
    limit_requests(monkeypatch, per_client="2/hour", per_environment="3/hour")


def send(session: Session, actor: User, package: SoftwarePackage, **overrides: str) -> AuthorisationRequest:
    values = {"client_name": "Piet", "client_email": "piet@example.com", "organisation_name": "Bakkerij Piet BV"}
    values.update(overrides)
    return authorisations.create_request(session, actor=actor, software_package_id=package.id, **values)  # type: ignore[arg-type]


def sent_earlier(session: Session, request: AuthorisationRequest, *, minutes: float) -> None:
    """Move the request's last send (and its send activity) back in time, instead of waiting."""
    session.expire_all()
    row = session.get(AuthorisationRequest, request.id)
    assert row is not None
    row.last_sent_at -= timedelta(minutes=minutes)
    for entry in session.exec(select(ActivityLog).where(ActivityLog.subject_id == request.id)):
        entry.created_at -= timedelta(minutes=minutes)
        session.add(entry)
    session.add(row)
    session.commit()


def statuses(session: Session) -> list[str]:
    session.expire_all()
    return [row.status for row in session.exec(select(AuthorisationRequest).order_by(AuthorisationRequest.id))]


# --- replacing a pending request obeys Resend's limits -----------------------------------------


def test_replacing_a_pending_request_right_away_is_refused_and_says_when(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    send(session, anna, package)
    with pytest.raises(Conflict) as refused:
        send(session, anna, package, client_name="Piet Bakker")
    assert refused.value.message == (
        "A pending request to this email address for this organisation was sent less than a minute ago. "
        "You can send a new one after 10 minutes."
    )
    assert statuses(session) == [PENDING]  # nothing replaced, nothing written
    assert len(outbox(session)) == 1


def test_replacing_after_the_interval_replaces(session: Session, anna: User, package: SoftwarePackage) -> None:
    first = send(session, anna, package)
    sent_earlier(session, first, minutes=11)
    send(session, anna, package, client_name="Piet Bakker")
    assert statuses(session) == [WITHDRAWN, PENDING]
    assert len(outbox(session)) == 2


def test_replacing_counts_towards_the_same_daily_limit_as_resend(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    latest = send(session, anna, package)
    for _ in range(4):  # four replacements: five emails to Piet within 24 hours
        sent_earlier(session, latest, minutes=11)
        latest = send(session, anna, package)
    sent_earlier(session, latest, minutes=11)

    with pytest.raises(Conflict) as replacing:
        send(session, anna, package)
    assert replacing.value.message == (
        "A pending request to this email address for this organisation was sent 5 times in the last 24 hours, "
        "the most allowed. You can send a new one after 24 hours."
    )
    with pytest.raises(Conflict) as resending:  # Resend counts the requests it replaced as well
        authorisations.resend_request(session, actor=anna, request_id=latest.id)  # type: ignore[arg-type]
    assert resending.value.message.startswith("This request was sent 5 times in the last 24 hours")
    assert len(outbox(session)) == 5


def test_a_request_to_another_organisation_of_the_same_client_is_not_held_back(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    send(session, anna, package)
    send(session, anna, package, organisation_name="Piet Catering BV")
    assert statuses(session) == [PENDING, PENDING]


def test_a_csv_row_that_would_replace_too_soon_is_an_error_row(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    send(session, anna, package)
    result = authorisations.import_requests_csv(
        session, actor=anna, csv_text=f"{CSV_HEADER}\nPiet,piet@example.com,Exact Online,Bakkerij Piet BV\n"
    )
    assert result.saved == []
    [error] = result.errors
    assert (error.line, error.client) == (2, "Piet <piet@example.com>")
    assert error.message.endswith("You can send a new one after 10 minutes.")


# --- the "authorisation_request" rate limits -----------------------------------------------------


@pytest.mark.usefixtures("small_limits")
def test_a_sender_past_the_limit_is_told_when_to_try_again_and_nothing_is_written(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    with calling_from("203.0.113.7"):
        send(session, anna, package, client_email="one@example.com")
        send(session, anna, package, client_email="two@example.com")
        with pytest.raises(throttle.Limited) as refused:
            send(session, anna, package, client_email="three@example.com")
    assert refused.value.message == "Too many authorisation requests were sent. Try again in 60 minutes."
    assert count(session, AuthorisationRequest) == 2
    assert len(outbox(session)) == 2
    assert len(activities(session, action="authorisation.created")) == 2


@pytest.mark.usefixtures("small_limits")
def test_the_environment_is_limited_whichever_address_sends(
    session: Session, anna: User, firm: Environment, package: SoftwarePackage
) -> None:
    colleague = make_admin(session, firm, name="Bram", email="bram@devries.example")
    with calling_from("203.0.113.7"):
        send(session, anna, package, client_email="one@example.com")
        send(session, anna, package, client_email="two@example.com")
    with calling_from("198.51.100.4"):
        send(session, colleague, package, client_email="three@example.com")
        with pytest.raises(throttle.Limited):
            send(session, colleague, package, client_email="four@example.com")
    other_firm = make_environment(session, name="Jansen", plan=Plan.BASIC.value)
    with calling_from("198.51.100.4"):  # the address has one left; another environment has all of its own
        send(session, make_admin(session, other_firm, email="jan@jansen.example"), package)


@pytest.mark.usefixtures("small_limits")
def test_resend_counts_too(session: Session, anna: User, package: SoftwarePackage) -> None:
    with calling_from("203.0.113.7"):
        request = send(session, anna, package)
        sent_earlier(session, request, minutes=11)
        authorisations.resend_request(session, actor=anna, request_id=request.id)  # type: ignore[arg-type]
        sent_earlier(session, request, minutes=11)
        with pytest.raises(throttle.Limited, match="Too many authorisation requests were sent"):
            authorisations.resend_request(session, actor=anna, request_id=request.id)  # type: ignore[arg-type]
    assert len(outbox(session)) == 2


@pytest.mark.usefixtures("small_limits")
def test_each_csv_row_counts_and_the_rows_past_the_limit_are_reported(
    session: Session, anna: User, package: SoftwarePackage
) -> None:
    rows = "\n".join(f"Client {n},client{n}@example.com,Exact Online,Client {n} BV" for n in range(1, 5))
    with calling_from("203.0.113.7"):
        result = authorisations.import_requests_csv(session, actor=anna, csv_text=f"{CSV_HEADER}\n{rows}\n")
    assert [row.line for row in result.saved] == [2, 3]
    assert [(error.line, error.message) for error in result.errors] == [
        (4, "Too many authorisation requests were sent. Try again in 60 minutes."),
        (5, "Too many authorisation requests were sent. Try again in 60 minutes."),
    ]
    assert count(session, AuthorisationRequest) == 2


@pytest.fixture()
def five_per_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five authorisation requests an hour per client address, ten per environment."""
    limit_requests(monkeypatch, per_client="5/hour", per_environment="10/hour")


def csv_rows(*emails: str) -> str:
    rows = [f"Client {n},{email},Exact Online,Client {n} BV" for n, email in enumerate(emails, start=1)]
    return "\n".join([CSV_HEADER, *rows]) + "\n"


@pytest.mark.usefixtures("five_per_client")
def test_a_csv_group_counts_its_saved_rows_together_and_its_refused_rows_not_at_all(
    session: Session, anna: User, package: SoftwarePackage, monkeypatch: pytest.MonkeyPatch
) -> None:
    hits: list[int] = []
    real_hit = throttle.MovingWindowRateLimiter.hit

    def counting_hit(self, item, *identifiers, cost=1):  # type: ignore[no-untyped-def]
        hits.append(cost)
        return real_hit(self, item, *identifiers, cost=cost)

    monkeypatch.setattr(throttle.MovingWindowRateLimiter, "hit", counting_hit)
    with calling_from("203.0.113.7"):
        result = authorisations.import_requests_csv(
            session, actor=anna, csv_text=csv_rows("a@example.com", "not-an-email", "b@example.com", "c@example.com")
        )
        assert [row.line for row in result.saved] == [2, 4, 5]
        assert hits == [3, 3]  # the per-client and per-environment limits, once each, for the three saved
        send(session, anna, package, client_email="d@example.com")
        send(session, anna, package, client_email="e@example.com")  # the refused row left room for this one
        with pytest.raises(throttle.Limited):
            send(session, anna, package, client_email="f@example.com")
    assert count(session, AuthorisationRequest) == 5


@pytest.mark.usefixtures("five_per_client")
def test_a_group_that_does_not_fit_the_limits_is_imported_again_row_by_row(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(authorisations.import_csv, "GROUP_ROWS", 2)
    emails = [f"client{n}@example.com" for n in range(1, 8)]
    progress: list[int] = []

    with calling_from("203.0.113.7"):
        result = authorisations.import_requests_csv(
            session, actor=anna, csv_text=csv_rows(*emails), on_progress=lambda done, _total: progress.append(done)
        )

    # Groups of two: the first two fit, the third (rows 6 and 7 of the limit of five) does not and
    # is imported row by row, as is the rest of the file: exactly five are sent.
    assert [row.line for row in result.saved] == [2, 3, 4, 5, 6]
    assert [(error.line, error.message) for error in result.errors] == [
        (7, "Too many authorisation requests were sent. Try again in 60 minutes."),
        (8, "Too many authorisation requests were sent. Try again in 60 minutes."),
    ]
    assert count(session, AuthorisationRequest) == 5
    assert len(outbox(session)) == 5
    assert progress == [1, 2, 3, 4, 5, 6, 7]  # each row once, though a group was imported twice
