"""The accountant sends a request: create (replacing a pending one), resend, withdraw.

Every change of status goes through a conditional ``UPDATE ... WHERE status = 'Pending'`` (and
not yet expired), so a concurrent answer, a second click or a second worker cannot act on a
request that has just left ``Pending``.

Sending to one client is rate-limited, whether by ``Resend`` or by a new request that replaces
the pending one to the same email and organisation: at least ``resend_min_interval_minutes``
after the pending request's ``last_sent_at``, and at most ``resend_max_per_day`` sends to that
email for that organisation in any 24 hours, counted from the activity rows of its requests
(``authorisation.created`` and ``authorisation.resent``), which are never deleted. Besides, every
new request and every resend counts towards the sender's and the environment's
"authorisation_request" limits (``services/throttle.py``).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.formatting import display_name
from econnect_app.models import (
    ActivityLog,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    SoftwarePackage,
    User,
    organisation_key,
    utcnow,
)
from econnect_app.services import throttle
from econnect_app.services.authorisations._common import (
    PENDING,
    SUBJECT_TYPE,
    VIEW_ROLE_MESSAGE,
    describe,
    expire_request,
    is_open,
    record_activity,
    require_manager,
    void_links,
)
from econnect_app.services.authorisations._input import (
    CHOOSE_PACKAGE_MESSAGE,
    CleanRequest,
    clean_input,
    package_by_id_or_name,
)
from econnect_app.services.authorisations.links import issue_link_and_email
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, PlanLimitReached
from econnect_app.services.permissions import plan_has_partnerships
from econnect_app.services.transaction import committing
from econnect_app.settings import get_settings

SEND_ACTIONS: tuple[str, ...] = ("authorisation.created", "authorisation.resent")

# Marked for translation; raised as ``i18n.gettext(...)``.
ROLE_MESSAGE = i18n.N_("Only Advanced users and Administrators can send authorisation requests.")
PLAN_MESSAGE = i18n.N_(
    "Authorisation requests need the Basic or Professional plan. An administrator can upgrade in Settings."
)
NOT_FOUND_MESSAGE = i18n.N_("This authorisation request does not exist.")
ONLY_PENDING_RESEND = i18n.N_("Only pending requests can be resent.")
ONLY_PENDING_WITHDRAW = i18n.N_("Only pending requests can be withdrawn.")
RACE_MESSAGE = i18n.N_(
    "Another request to this email address was sent at the same moment. Refresh the list and try again."
)


# --- checks shared with the CSV import ----------------------------------------------------------


def require_sender(session: Session, actor: User) -> tuple[User, Environment]:
    """The fresh actor and their environment, if they may send requests (role, then plan)."""
    actor = require_manager(session, actor, ROLE_MESSAGE)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    if not plan_has_partnerships(environment.plan):
        raise PlanLimitReached(i18n.gettext(PLAN_MESSAGE))
    return actor, environment


# --- conditional changes of status --------------------------------------------------------------


def _try_transition(session: Session, request: AuthorisationRequest, *, now: datetime, **values: Any) -> bool:
    """Change the request only if it is still Pending, unexpired at ``now`` and unchanged since read.

    ``send_count`` is part of the condition, so two resends of one version cannot both pass.
    """
    result = session.execute(
        update(AuthorisationRequest)
        .where(
            col(AuthorisationRequest.id) == request.id,
            col(AuthorisationRequest.status) == PENDING,
            col(AuthorisationRequest.expires_at) > now,
            col(AuthorisationRequest.send_count) == request.send_count,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(request)
    return True


def _transition(
    session: Session, request: AuthorisationRequest, message: str, *, now: datetime, **values: Any
) -> None:
    """Like ``_try_transition``, but Conflict(message) when the request changed meanwhile
    (``message``: English, marked with ``i18n.N_``, translated here)."""
    if not _try_transition(session, request, now=now, **values):
        raise Conflict(i18n.gettext(message))


def _pending_request_for(
    session: Session, *, environment_id: int, client_email: str, organisation_name: str
) -> AuthorisationRequest | None:
    statement = select(AuthorisationRequest).where(
        AuthorisationRequest.environment_id == environment_id,
        AuthorisationRequest.client_email == client_email,
        AuthorisationRequest.organisation_key == organisation_key(organisation_name),
        AuthorisationRequest.status == PENDING,
    )
    return session.exec(statement.execution_options(populate_existing=True)).first()


def _get_own_request(session: Session, *, actor: User, request_id: int) -> AuthorisationRequest:
    request = session.get(AuthorisationRequest, request_id, populate_existing=True)
    if request is None or request.environment_id != actor.environment_id:
        raise NotFound(i18n.gettext(NOT_FOUND_MESSAGE))
    return request


# --- create -------------------------------------------------------------------------------------


def _set_aside_previous(
    session: Session, *, environment: Environment, client_email: str, organisation_name: str, now: datetime
) -> AuthorisationRequest | None:
    """Make room for a new request to ``client_email`` for the same organisation: the request it
    replaces, if any.

    A pending request becomes Withdrawn (links voided); one already past its expiry is expired
    instead (it is shown as Expired, and stays so). Answered meanwhile: nothing to set aside (the
    unique index guards the rest).
    """
    previous = _pending_request_for(
        session, environment_id=environment.id, client_email=client_email, organisation_name=organisation_name
    )
    if previous is None:
        return None
    if not is_open(previous, now):
        expire_request(session, previous, now=now)
        return None
    _check_send_allowed(session, previous, now, replacing=True)
    if not _try_transition(session, previous, now=now, status=AuthorisationStatus.WITHDRAWN.value):
        return None
    void_links(session, request_id=previous.id, now=now)  # type: ignore[arg-type]
    return previous


def _write_request_rows(
    session: Session, *, actor: User, environment: Environment, clean: CleanRequest, replaces: bool = True
) -> AuthorisationRequest:
    """In the caller's transaction: replace a pending request to the same email and organisation,
    add the new one, issue its link and queue its email, record the activity.

    ``replaces=False``: the caller knows there is no such pending request (one that appeared
    meanwhile makes the insert fail on the unique index)."""
    now = utcnow()
    previous = (
        _set_aside_previous(
            session,
            environment=environment,
            client_email=clean.client_email,
            organisation_name=clean.organisation_name,
            now=now,
        )
        if replaces
        else None
    )
    request = AuthorisationRequest(
        environment_id=environment.id,
        requested_by_id=actor.id,
        client_name=clean.client_name,
        client_email=clean.client_email,
        organisation_name=clean.organisation_name,
        organisation_key=organisation_key(clean.organisation_name),
        software_package_id=clean.package.id,
        status=PENDING,
        expires_at=now + timedelta(days=get_settings().authorisation_link_days),
        created_at=now,
        last_sent_at=now,
        send_count=1,
    )
    session.add(request)
    session.flush()
    if previous is not None:
        previous.replaced_by_id = request.id
        record_activity(
            session,
            previous,
            actor=actor,
            action="authorisation.replaced",
            summary=i18n.gettext(
                "{actor} replaced the pending authorisation request to {request} with a new request.",
                actor=display_name(actor),
                request=describe(previous),
            ),
        )
    issue_link_and_email(
        session, request=request, requester=actor, environment=environment, package=clean.package
    )
    record_activity(
        session,
        request,
        actor=actor,
        action="authorisation.created",
        summary=i18n.gettext(
            "{actor} sent an authorisation request to {request}.",
            actor=display_name(actor),
            request=describe(request),
        ),
    )
    return request


def _write_new_request(
    session: Session, *, actor: User, environment: Environment, clean: CleanRequest
) -> AuthorisationRequest:
    """One transaction: the request and what comes with it (``_write_request_rows``)."""
    with committing(session):
        return _write_request_rows(session, actor=actor, environment=environment, clean=clean)


def create_checked(
    session: Session, *, actor: User, environment: Environment, clean: CleanRequest
) -> AuthorisationRequest:
    """Write the request; on a clash with a concurrent one (unique index) try once more.

    Refused (nothing written) when it would replace a pending request sent too recently or too
    often (``Conflict``), or past the "authorisation_request" rate limits (``throttle.Limited``).
    """
    _check_before_writing(session, environment=environment, clean=clean)
    try:
        return _write_new_request(session, actor=actor, environment=environment, clean=clean)
    except IntegrityError:
        try:
            return _write_new_request(session, actor=actor, environment=environment, clean=clean)
        except IntegrityError:
            raise Conflict(i18n.gettext(RACE_MESSAGE)) from None


def add_checked(
    session: Session,
    *,
    actor: User,
    environment: Environment,
    clean: CleanRequest,
    pending: Collection[tuple[str, str]] | None = None,
    counted: bool = True,
    savepoint: bool = True,
) -> AuthorisationRequest:
    """Like ``create_checked``, but in the caller's transaction, which commits it (a CSV import
    commits its rows in groups): each attempt is a SAVEPOINT, so a refused or clashing request
    leaves nothing behind and the transaction's other requests as they were.

    ``counted=False``: the request is not counted towards the rate limits here; the caller counts
    the requests it wrote together (``count_requests``) before committing them. ``savepoint=False``:
    the rows are written without a SAVEPOINT of their own (two statements fewer); should writing
    them fail, ``WrittenWithoutSavepoint`` is raised and the caller must roll its transaction back.

    ``pending``: the ``pending_pairs`` of the environment read in this transaction for several
    requests at once; a request to a pair not among them is written without looking for one to
    replace (a clash with one sent meanwhile is retried with the full look-up). On SQLite the caller
    must have begun the transaction for real before the first SAVEPOINT (``import_csv._begin_group``):
    a SAVEPOINT that starts it would commit everything when released.
    """
    pair = (clean.client_email, organisation_key(clean.organisation_name))
    replaces = pending is None or pair in pending
    _check_before_writing(session, environment=environment, clean=clean, replaces=replaces, counted=counted)
    if not savepoint:
        try:
            return _write_request_rows(session, actor=actor, environment=environment, clean=clean, replaces=replaces)
        except Exception as exc:
            raise WrittenWithoutSavepoint from exc
    for attempt in (1, 2):
        try:
            with session.begin_nested():
                return _write_request_rows(
                    session, actor=actor, environment=environment, clean=clean, replaces=replaces
                )
        except IntegrityError:
            if attempt == 2:
                raise Conflict(i18n.gettext(RACE_MESSAGE)) from None
            replaces = True
    raise AssertionError("not reached")


def pending_pairs(session: Session, *, environment_id: int, client_emails: Collection[str]) -> set[tuple[str, str]]:
    """(client email, organisation key) of each of the environment's Pending requests to these
    addresses: the requests a new one to the same pair would replace (looked up for many at once)."""
    found: set[tuple[str, str]] = set()
    emails = sorted(set(client_emails))
    for start in range(0, len(emails), 500):
        statement = select(AuthorisationRequest.client_email, AuthorisationRequest.organisation_key).where(
            AuthorisationRequest.environment_id == environment_id,
            col(AuthorisationRequest.client_email).in_(emails[start : start + 500]),
            AuthorisationRequest.status == PENDING,
        )
        found.update((email, key) for email, key in session.exec(statement))
    return found


class WrittenWithoutSavepoint(Exception):
    """Writing a request without a SAVEPOINT of its own failed (``add_checked(savepoint=False)``):
    the transaction may hold part of it and must be rolled back."""


def count_requests(environment: Environment, count: int) -> None:
    """Count ``count`` requests written together (``add_checked(counted=False)``) towards the
    "authorisation_request" rate limits; ``throttle.Limited`` (nothing counted) when they do not
    all fit: the caller then rolls them back."""
    if count:
        throttle.check("authorisation_request", environment_id=environment.id, cost=count)


def _check_before_writing(
    session: Session, *, environment: Environment, clean: CleanRequest, replaces: bool = True, counted: bool = True
) -> None:
    """What ``create_checked`` and ``add_checked`` refuse before writing: a replacement not allowed
    yet (when the request may replace one), then (``counted``) the "authorisation_request" rate
    limits (counted only when the first passed)."""
    if replaces:
        _check_replacement_allowed(session, environment=environment, clean=clean)
    if counted:
        throttle.check("authorisation_request", environment_id=environment.id)


def _check_replacement_allowed(session: Session, *, environment: Environment, clean: CleanRequest) -> None:
    """Refuse before counting towards the rate limits when the request would replace a pending one
    that may not be sent again yet (checked again, race-free, in the transaction that replaces it)."""
    previous = _pending_request_for(
        session,
        environment_id=environment.id,  # type: ignore[arg-type]
        client_email=clean.client_email,
        organisation_name=clean.organisation_name,
    )
    if previous is not None and is_open(previous, utcnow()):
        _check_send_allowed(session, previous, utcnow(), replacing=True)


def why_cannot_send(session: Session, *, actor: User) -> str | None:
    """None when the actor may send authorisation requests, else the sentence to show instead."""
    try:
        require_sender(session, actor)
    except (PermissionDenied, PlanLimitReached) as error:
        return error.message
    return None


def create_request(
    session: Session,
    *,
    actor: User,
    client_name: str,
    client_email: str,
    software_package_id: int | str,
    organisation_name: str,
) -> AuthorisationRequest:
    """Send a client an authorisation request: saved Pending with its email, in one transaction.

    A pending request from this environment to the same email for the same organisation is
    replaced (its link stops working; ``replaced_request`` tells which); one for another
    organisation stays pending beside it.
    """
    actor, environment = require_sender(session, actor)
    clean = clean_input(
        session,
        environment_id=environment.id,
        client_name=client_name,
        client_email=client_email,
        package=package_by_id_or_name(session, software_package_id),
        package_message=i18n.gettext(CHOOSE_PACKAGE_MESSAGE),
        organisation_name=organisation_name,
    )
    return create_checked(session, actor=actor, environment=environment, clean=clean)


def replaced_request(session: Session, *, request: AuthorisationRequest) -> AuthorisationRequest | None:
    """The pending request that ``request`` replaced when it was sent, if any."""
    statement = select(AuthorisationRequest).where(AuthorisationRequest.replaced_by_id == request.id)
    return session.exec(statement).first()


# --- resend and withdraw ------------------------------------------------------------------------


def _sends_since(session: Session, *, request: AuthorisationRequest, since: datetime) -> list[datetime]:
    """When a request to this request's email for its organisation went out from its environment
    since ``since`` (from the activity rows of this request and of those it replaced), oldest first."""
    statement = (
        select(ActivityLog.created_at)
        .join(AuthorisationRequest, col(AuthorisationRequest.id) == col(ActivityLog.subject_id))
        .where(
            ActivityLog.subject_type == SUBJECT_TYPE,
            col(ActivityLog.action).in_(SEND_ACTIONS),
            col(ActivityLog.created_at) > since,
            AuthorisationRequest.environment_id == request.environment_id,
            AuthorisationRequest.client_email == request.client_email,
            AuthorisationRequest.organisation_key == request.organisation_key,
        )
        .order_by(col(ActivityLog.created_at))
    )
    return list(session.exec(statement))


def _check_send_allowed(
    session: Session, request: AuthorisationRequest, now: datetime, *, replacing: bool = False
) -> None:
    """Refuse (Conflict, saying when it will be allowed) to email the pending ``request``'s client
    again, by Resend or by a new request ``replacing`` it, too soon or too often."""
    settings = get_settings()
    interval = timedelta(minutes=settings.resend_min_interval_minutes)
    elapsed = now - request.last_sent_at
    if elapsed < interval:
        ago = int(elapsed.total_seconds() // 60)
        minutes = max(1, math.ceil((interval - elapsed).total_seconds() / 60))
        wait = i18n.ngettext("{count} minute", "{count} minutes", minutes)
        sent = (
            i18n.gettext("less than a minute ago")
            if ago < 1
            else i18n.ngettext("{count} minute ago", "{count} minutes ago", ago)
        )
        raise Conflict(
            i18n.gettext(
                "A pending request to this email address for this organisation was sent {sent}. "
                "You can send a new one after {wait}.",
                sent=sent,
                wait=wait,
            )
            if replacing
            else i18n.gettext(
                "This request was sent {sent}. You can resend it after {wait}.", sent=sent, wait=wait
            )
        )
    sends = _sends_since(session, request=request, since=now - timedelta(hours=24))
    if len(sends) >= settings.resend_max_per_day:
        free_at = sends[len(sends) - settings.resend_max_per_day] + timedelta(hours=24)
        times = i18n.ngettext("{count} time", "{count} times", len(sends))
        hours = max(1, math.ceil((free_at - now).total_seconds() / 3600))
        wait = i18n.ngettext("{count} hour", "{count} hours", hours)
        raise Conflict(
            i18n.gettext(
                "A pending request to this email address for this organisation was sent {times} in the "
                "last 24 hours, the most allowed. You can send a new one after {wait}.",
                times=times,
                wait=wait,
            )
            if replacing
            else i18n.gettext(
                "This request was sent {times} in the last 24 hours, the most allowed. "
                "You can resend it after {wait}.",
                times=times,
                wait=wait,
            )
        )


def send_again(
    session: Session,
    request: AuthorisationRequest,
    *,
    now: datetime,
    requester: User,
    environment: Environment,
    package: SoftwarePackage,
    reminder: tuple[int, int] | None = None,
    **values: Any,
) -> bool:
    """Email a pending request again (caller's transaction): a fresh link and a new expiry, earlier
    links voided, ``values`` written too. The part of Resend shared with automatic reminders
    (``services/reminders.py``), without the rate limits.

    False, with nothing written, when the request is no longer Pending and unexpired at ``now`` or
    was sent again since it was read (``send_count``): of two concurrent sends, one wins.
    """
    if not _try_transition(
        session,
        request,
        now=now,
        expires_at=now + timedelta(days=get_settings().authorisation_link_days),
        last_sent_at=now,
        send_count=request.send_count + 1,
        **values,
    ):
        return False
    void_links(session, request_id=request.id, now=now)  # type: ignore[arg-type]
    issue_link_and_email(
        session,
        request=request,
        requester=requester,
        environment=environment,
        package=package,
        reminder=reminder,
    )
    return True


def resend_request(session: Session, *, actor: User, request_id: int) -> AuthorisationRequest:
    """Email a pending request again with a fresh link; earlier links stop working (rate-limited)."""
    actor, environment = require_sender(session, actor)
    request = _get_own_request(session, actor=actor, request_id=request_id)
    now = utcnow()
    if not is_open(request, now):
        raise Conflict(i18n.gettext(ONLY_PENDING_RESEND))
    _check_send_allowed(session, request, now)
    throttle.check("authorisation_request", environment_id=environment.id)
    package = session.get(SoftwarePackage, request.software_package_id)
    assert package is not None
    with committing(session):
        if not send_again(session, request, now=now, requester=actor, environment=environment, package=package):
            raise Conflict(i18n.gettext(ONLY_PENDING_RESEND))
        record_activity(
            session,
            request,
            actor=actor,
            action="authorisation.resent",
            summary=i18n.gettext(
                "{actor} resent the authorisation request to {request}.",
                actor=display_name(actor),
                request=describe(request),
            ),
        )
    return request


def withdraw_request(session: Session, *, actor: User, request_id: int) -> AuthorisationRequest:
    """Withdraw a pending request: status Withdrawn, its link stops working."""
    actor = require_manager(session, actor, VIEW_ROLE_MESSAGE)
    request = _get_own_request(session, actor=actor, request_id=request_id)
    now = utcnow()
    if not is_open(request, now):
        raise Conflict(i18n.gettext(ONLY_PENDING_WITHDRAW))
    with committing(session):
        _transition(
            session, request, ONLY_PENDING_WITHDRAW, now=now, status=AuthorisationStatus.WITHDRAWN.value
        )
        void_links(session, request_id=request.id, now=now)  # type: ignore[arg-type]
        record_activity(
            session,
            request,
            actor=actor,
            action="authorisation.withdrawn",
            summary=i18n.gettext(
                "{actor} withdrew the authorisation request to {request}.",
                actor=display_name(actor),
                request=describe(request),
            ),
        )
    return request
