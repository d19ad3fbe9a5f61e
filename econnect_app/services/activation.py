"""The client's side of an authorisation request: the activation link, accept and decline.

A request is answered exactly once: accepting or declining first *claims* it with a conditional
UPDATE (Pending -> Accepted/Declined), so two concurrent answers or a double click give one
result and the other gets ``LinkAlreadyUsed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import routes, security
from econnect_app.formatting import format_date
from econnect_app.mail import queue_email
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Organisation,
    SoftwarePackage,
    User,
    UserEmail,
    utcnow,
)
from econnect_app.services import activity, memberships, notifications, organisations, partnerships
from econnect_app.services.errors import (
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from econnect_app.services.permissions import can_manage_partnerships, load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.validation import without_nul

logger = logging.getLogger(__name__)

DECLINE_REASON_MAX_LENGTH = 500
CHOOSE_ORGANISATION_MESSAGE = "Choose one of your organisations or create a new one."
NOT_ALLOWED_MESSAGE = (
    "Only Advanced users and Administrators can accept or decline authorisation requests. "
    "Ask an administrator of your environment to do it, or to give you the Advanced user role."
)
OWN_ENVIRONMENT_MESSAGE = "You cannot accept a request from your own environment."
REQUEST_NOT_FOUND_MESSAGE = "This request does not exist or is not addressed to you."
ACCEPTED_NOTIFICATION_LINK = routes.KEYS
DECLINED_NOTIFICATION_LINK = routes.AUTHORISATIONS


# --- errors: one per reason a link does not work, each saying what to do ---------------------


class LinkUnknown(InvalidToken):
    """No request has this link."""

    title: ClassVar[str] = "This link is not valid"

    def __init__(self) -> None:
        super().__init__(
            "This link is not valid. Check that you copied the whole link from the email, "
            "or ask your accountant to send a new request."
        )


class LinkReplaced(InvalidToken):
    """A newer link was sent (the request was resent or replaced by a new request)."""

    title: ClassVar[str] = "This link has been replaced"

    def __init__(self, firm_name: str) -> None:
        super().__init__(
            f"{firm_name} sent you a newer link for this request. "
            + _sentence(f"Use the link in the newest email from {firm_name}")
        )


class LinkExpired(InvalidToken):
    """The request expired before it was answered."""

    title: ClassVar[str] = "This request has expired"

    def __init__(self, firm_name: str) -> None:
        super().__init__(f"This request has expired. Ask {firm_name} to resend it.")


class LinkWithdrawn(InvalidToken):
    """The accountant withdrew the request."""

    title: ClassVar[str] = "This request was withdrawn"

    def __init__(self, firm_name: str) -> None:
        super().__init__(
            f"{firm_name} withdrew this request. Ask {firm_name} to send a new one if you still "
            "want to connect."
        )


class LinkAlreadyUsed(InvalidToken):
    """The request was accepted or declined already."""

    title: ClassVar[str] = "This request was already answered"

    def __init__(self, status: str, responded_at: datetime | None) -> None:
        verb = "accepted" if status == AuthorisationStatus.ACCEPTED.value else "declined"
        when = f" on {format_date(responded_at)}" if responded_at else ""
        super().__init__(f"This request was already {verb}{when}.")
        self.status = status


# --- what the pages show ------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivationView:
    """What the activation page shows about a request whose link works."""

    request_id: int
    firm_name: str
    requester_name: str
    client_name: str
    client_email: str
    organisation_name: str
    software_name: str
    expires_at: datetime


@dataclass(frozen=True)
class IncomingRequestRow:
    """A pending request addressed to one of the user's email addresses."""

    request_id: int
    firm_name: str
    requester_name: str
    organisation_name: str
    software_name: str
    client_email: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class AcceptOutcome:
    """The result of accepting a request."""

    request_id: int
    partnership_id: int
    organisation_id: int
    organisation_name: str
    firm_name: str


def _shorten(text: str, max_length: int = 500) -> str:
    return text if len(text) <= max_length else text[: max_length - 1].rstrip() + "\u2026"


def _sentence(text: str) -> str:
    """End ``text`` with a full stop, unless it already ends with one (e.g. "B.V.")."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _display_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.name or user.email


def _firm_name(session: Session, request: AuthorisationRequest) -> str:
    firm = session.get(Environment, request.environment_id)
    return firm.name if firm else "Your accountant"


def _request_problem(session: Session, request: AuthorisationRequest) -> InvalidToken | None:
    """Why a request can no longer be answered (None while it is Pending and unexpired)."""
    status = request.status
    if status in (AuthorisationStatus.ACCEPTED.value, AuthorisationStatus.DECLINED.value):
        return LinkAlreadyUsed(status, request.responded_at)
    firm_name = _firm_name(session, request)
    if request.replaced_by_id is not None:
        return LinkReplaced(firm_name)
    if status == AuthorisationStatus.WITHDRAWN.value:
        return LinkWithdrawn(firm_name)
    if status == AuthorisationStatus.EXPIRED.value or request.expires_at <= utcnow():
        return LinkExpired(firm_name)
    return None


def _newest_link_id(session: Session, *, request_id: int) -> int | None:
    statement = (
        select(AuthorisationLink.id)
        .where(AuthorisationLink.request_id == request_id)
        .order_by(col(AuthorisationLink.created_at).desc(), col(AuthorisationLink.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def _request_for_token(session: Session, *, token: str) -> AuthorisationRequest:
    """The answerable request of a link, or the InvalidToken subclass saying why not."""
    link = None
    if token:
        link = session.exec(
            select(AuthorisationLink).where(AuthorisationLink.token_hash == security.hash_token(token))
        ).first()
    request = session.get(AuthorisationRequest, link.request_id) if link else None
    if link is None or request is None:
        raise LinkUnknown()
    problem = _request_problem(session, request)
    if problem is not None:
        raise problem
    if link.voided_at is not None or _newest_link_id(session, request_id=request.id) != link.id:
        raise LinkReplaced(_firm_name(session, request))
    return request


def look_up_link(session: Session, *, token: str) -> ActivationView:
    """What the activation page shows for a link; a LinkXxx error when the link does not work."""
    request = _request_for_token(session, token=token)
    requester = session.get(User, request.requested_by_id)
    package = session.get(SoftwarePackage, request.software_package_id)
    return ActivationView(
        request_id=request.id,  # type: ignore[arg-type]
        firm_name=_firm_name(session, request),
        requester_name=_display_name(requester),
        client_name=request.client_name,
        client_email=request.client_email,
        organisation_name=request.organisation_name,
        software_name=package.name if package else "",
        expires_at=request.expires_at,
    )


# --- incoming requests --------------------------------------------------------------------------


def _addresses_of(session: Session, user: User) -> list[str]:
    """The user's primary email and confirmed additional emails, lower case."""
    confirmed = session.exec(
        select(UserEmail.email).where(UserEmail.user_id == user.id, col(UserEmail.confirmed_at).is_not(None))
    )
    return sorted({user.email.lower(), *(email.lower() for email in confirmed)})


def incoming_requests(session: Session, *, user: User) -> list[IncomingRequestRow]:
    """Pending, unexpired requests addressed to the user's primary or confirmed emails, newest first.

    Requests from the user's own environment are left out (they cannot be accepted there).
    """
    user = load_actor(session, user)
    statement = (
        select(AuthorisationRequest, Environment, User, SoftwarePackage)
        .join(Environment, col(Environment.id) == col(AuthorisationRequest.environment_id))
        .join(User, col(User.id) == col(AuthorisationRequest.requested_by_id))
        .join(SoftwarePackage, col(SoftwarePackage.id) == col(AuthorisationRequest.software_package_id))
        .where(
            AuthorisationRequest.status == AuthorisationStatus.PENDING.value,
            AuthorisationRequest.expires_at > utcnow(),
            func.lower(AuthorisationRequest.client_email).in_(_addresses_of(session, user)),
            AuthorisationRequest.environment_id != user.environment_id,
        )
        .order_by(col(AuthorisationRequest.created_at).desc(), col(AuthorisationRequest.id).desc())
    )
    return [
        IncomingRequestRow(
            request_id=request.id,  # type: ignore[arg-type]
            firm_name=firm.name,
            requester_name=_display_name(requester),
            organisation_name=request.organisation_name,
            software_name=package.name,
            client_email=request.client_email,
            created_at=request.created_at,
            expires_at=request.expires_at,
        )
        for request, firm, requester, package in session.exec(statement)
    ]


# --- answering a request --------------------------------------------------------------------------


def _find_request(
    session: Session, *, actor: User, token: str | None, request_id: int | None
) -> AuthorisationRequest:
    """The request being answered, by link or from the incoming list (addressed to the actor)."""
    if (token is None) == (request_id is None):
        raise ValueError("Pass exactly one of token or request_id.")
    if token is not None:
        return _request_for_token(session, token=token)
    request = session.get(AuthorisationRequest, request_id)
    if request is None or request.client_email.lower() not in _addresses_of(session, actor):
        raise NotFound(REQUEST_NOT_FOUND_MESSAGE)
    problem = _request_problem(session, request)
    if problem is not None:
        raise problem
    return request


def _require_responder(actor: User, request: AuthorisationRequest) -> None:
    if actor.environment_id == request.environment_id:
        raise Conflict(OWN_ENVIRONMENT_MESSAGE)
    if not can_manage_partnerships(actor):
        raise PermissionDenied(NOT_ALLOWED_MESSAGE)


class _ClaimLost(Exception):
    """Another transaction answered (or withdrew, or expired) the request first."""


def _claim(session: Session, *, request: AuthorisationRequest, status: str, actor: User) -> datetime:
    """Move the request from Pending to ``status``, only if it is still Pending and unexpired.

    This is the first write of the use case: a concurrent answer waits on it (row lock, or
    SQLite's write lock) and then finds no Pending row.
    """
    now = utcnow()
    result = session.exec(
        update(AuthorisationRequest)
        .where(
            col(AuthorisationRequest.id) == request.id,
            col(AuthorisationRequest.status) == AuthorisationStatus.PENDING.value,
            col(AuthorisationRequest.expires_at) > now,
        )
        .values(status=status, responded_at=now, responded_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _ClaimLost()
    session.refresh(request)
    session.exec(
        update(AuthorisationLink)
        .where(
            col(AuthorisationLink.request_id) == request.id,
            col(AuthorisationLink.voided_at).is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )
    return now


def _claim_lost_error(session: Session, *, request_id: int) -> InvalidToken:
    request = session.get(AuthorisationRequest, request_id)
    problem = _request_problem(session, request) if request is not None else None
    return problem or LinkUnknown()


def _choose_organisation(
    session: Session,
    *,
    actor: User,
    organisation_id: int | None,
    new_organisation: dict[str, Any] | None,
) -> Organisation | organisations.OrganisationInput:
    """The chosen own organisation, or the validated fields of the one to create (no writes)."""
    if (organisation_id is None) == (new_organisation is None):
        raise ValidationFailed({"organisation": CHOOSE_ORGANISATION_MESSAGE})
    if organisation_id is not None:
        organisation = session.get(Organisation, organisation_id)
        if organisation is None or organisation.environment_id != actor.environment_id:
            raise ValidationFailed({"organisation": CHOOSE_ORGANISATION_MESSAGE})
        return organisation
    assert new_organisation is not None
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    organisations.require_room_for_organisation(session, environment=environment)
    return organisations.clean_organisation_input(
        session,
        environment_id=actor.environment_id,
        name=str(new_organisation.get("name") or ""),
        kvk_number=str(new_organisation.get("kvk_number") or ""),
        vat_number=str(new_organisation.get("vat_number") or ""),
        street=str(new_organisation.get("street") or ""),
        postal_code=str(new_organisation.get("postal_code") or ""),
        city=str(new_organisation.get("city") or ""),
    )


def accept_request(
    session: Session,
    *,
    user: User,
    token: str | None = None,
    request_id: int | None = None,
    organisation_id: int | None = None,
    new_organisation: dict[str, Any] | None = None,
) -> AcceptOutcome:
    """Accept a request for an own organisation (chosen or created), in one transaction.

    The partnership of the two environments is created or reused, the organisation is activated,
    the requesting accountant becomes a Member of it, both environments get activity rows, the
    requesting environment a notification and the requester an email.
    """
    actor = load_actor(session, user)
    request = _find_request(session, actor=actor, token=token, request_id=request_id)
    _require_responder(actor, request)
    choice = _choose_organisation(
        session, actor=actor, organisation_id=organisation_id, new_organisation=new_organisation
    )
    firm = session.get(Environment, request.environment_id)
    client_environment = session.get(Environment, actor.environment_id)
    requester = session.get(User, request.requested_by_id)
    package = session.get(SoftwarePackage, request.software_package_id)
    assert firm is not None and client_environment is not None and requester is not None
    request_key = request.id
    actor_name = _display_name(actor)

    try:
        with committing(session):
            _claim(session, request=request, status=AuthorisationStatus.ACCEPTED.value, actor=actor)

            if isinstance(choice, Organisation):
                organisation = choice
                if organisation.activated_at is None:
                    organisation.activated_at = utcnow()
                    activity.record(
                        session,
                        environment_id=client_environment.id,
                        actor=actor,
                        action="organisation.activated",
                        summary=_sentence(f"{actor_name} activated organisation {organisation.name}"),
                        subject_type="organisation",
                        subject_id=organisation.id,
                    )
            else:
                organisation = organisations.add_organisation_rows(
                    session,
                    actor=actor,
                    data=choice,
                    activated=True,
                    software_package_id=request.software_package_id,
                )
            if organisation.software_package_id is None:
                organisation.software_package_id = request.software_package_id

            partnership, partnership_created = partnerships.get_or_create_partnership(
                session,
                environment_id=client_environment.id,  # type: ignore[arg-type]
                partner_environment_id=firm.id,  # type: ignore[arg-type]
                initiator_environment_id=firm.id,  # type: ignore[arg-type]
                created_via="authorisation_request",
            )
            request.client_environment_id = client_environment.id
            request.client_organisation_id = organisation.id
            request.partnership_id = partnership.id

            member_added = memberships.ensure_membership(
                session,
                organisation_id=organisation.id,  # type: ignore[arg-type]
                user_id=requester.id,  # type: ignore[arg-type]
                created_by_id=actor.id,  # type: ignore[arg-type]
            )

            _record_acceptance(
                session,
                actor=actor,
                request=request,
                firm=firm,
                client_environment=client_environment,
                organisation=organisation,
                requester=requester,
                partnership_id=partnership.id,  # type: ignore[arg-type]
                partnership_created=partnership_created,
                member_added=member_added,
            )
            notifications.notify(
                session,
                environment_id=firm.id,  # type: ignore[arg-type]
                kind="authorisation.accepted",
                message=_sentence(
                    f"{request.client_name} accepted your authorisation request for {organisation.name}"
                ),
                link=ACCEPTED_NOTIFICATION_LINK,
            )
            queue_email(
                session,
                template="authorisation_accepted",
                to=requester.email,
                context={
                    "requester_name": _display_name(requester),
                    "client_name": request.client_name,
                    "accepted_by": actor_name,
                    "client_environment_name": client_environment.name,
                    "firm_name": firm.name,
                    "organisation_name": organisation.name,
                    "software_name": package.name if package else "your accounting software",
                    "link": routes.absolute(routes.KEYS),
                },
                environment_id=firm.id,
            )
            outcome = AcceptOutcome(
                request_id=request.id,  # type: ignore[arg-type]
                partnership_id=partnership.id,  # type: ignore[arg-type]
                organisation_id=organisation.id,  # type: ignore[arg-type]
                organisation_name=organisation.name,
                firm_name=firm.name,
            )
    except _ClaimLost:
        raise _claim_lost_error(session, request_id=request_key) from None  # type: ignore[arg-type]
    except IntegrityError:
        if not isinstance(choice, Organisation) and organisations.is_duplicate_kvk(
            session, environment_id=actor.environment_id, kvk_number=choice.kvk_number
        ):
            raise ValidationFailed({"kvk_number": organisations.DUPLICATE_KVK_MESSAGE}) from None
        raise

    return outcome


def _record_acceptance(
    session: Session,
    *,
    actor: User,
    request: AuthorisationRequest,
    firm: Environment,
    client_environment: Environment,
    organisation: Organisation,
    requester: User,
    partnership_id: int,
    partnership_created: bool,
    member_added: bool,
) -> None:
    actor_name = _display_name(actor)
    activity.record(
        session,
        environment_id=firm.id,
        actor=actor,
        action="authorisation.accepted",
        summary=_shorten(
            _sentence(
                f"{actor_name} of {client_environment.name} accepted the authorisation request "
                f"to {request.client_email} for {organisation.name}"
            )
        ),
        subject_type="authorisation_request",
        subject_id=request.id,
    )
    activity.record(
        session,
        environment_id=client_environment.id,
        actor=actor,
        action="authorisation.accepted",
        summary=_shorten(
            _sentence(
                f"{actor_name} accepted the authorisation request from {firm.name} for {organisation.name}"
            )
        ),
        subject_type="authorisation_request",
        subject_id=request.id,
    )
    if partnership_created:
        for environment_id, partner in ((firm.id, client_environment), (client_environment.id, firm)):
            activity.record(
                session,
                environment_id=environment_id,
                actor=actor,
                action="partnership.created",
                summary=_shorten(_sentence(f"Partnership with {partner.name} started")),
                subject_type="partnership",
                subject_id=partnership_id,
            )
    if member_added:
        activity.record(
            session,
            environment_id=client_environment.id,
            actor=actor,
            action="membership.added",
            summary=_shorten(
                _sentence(f"{_display_name(requester)} of {firm.name} became a Member of {organisation.name}")
            ),
            subject_type="organisation",
            subject_id=organisation.id,
        )


def decline_request(
    session: Session,
    *,
    user: User,
    token: str | None = None,
    request_id: int | None = None,
    reason: str = "",
) -> None:
    """Decline a request (optionally saying why); the requester is notified in the app and by email."""
    actor = load_actor(session, user)
    request = _find_request(session, actor=actor, token=token, request_id=request_id)
    _require_responder(actor, request)
    clean_reason = without_nul(reason or "").strip()
    if len(clean_reason) > DECLINE_REASON_MAX_LENGTH:
        raise ValidationFailed({"reason": f"Use at most {DECLINE_REASON_MAX_LENGTH} characters."})
    firm = session.get(Environment, request.environment_id)
    client_environment = session.get(Environment, actor.environment_id)
    requester = session.get(User, request.requested_by_id)
    assert firm is not None and client_environment is not None and requester is not None
    request_key = request.id
    actor_name = _display_name(actor)
    reason_sentence = f" Reason: {clean_reason}" if clean_reason else ""

    try:
        with committing(session):
            _claim(session, request=request, status=AuthorisationStatus.DECLINED.value, actor=actor)
            request.decline_reason = clean_reason or None
            request.client_environment_id = client_environment.id
            activity.record(
                session,
                environment_id=firm.id,
                actor=actor,
                action="authorisation.declined",
                summary=_shorten(
                    _sentence(
                        f"{actor_name} of {client_environment.name} declined the authorisation "
                        f"request to {request.client_email} for {request.organisation_name}"
                    )
                    + reason_sentence
                ),
                subject_type="authorisation_request",
                subject_id=request.id,
            )
            activity.record(
                session,
                environment_id=client_environment.id,
                actor=actor,
                action="authorisation.declined",
                summary=_shorten(
                    _sentence(
                        f"{actor_name} declined the authorisation request from {firm.name} "
                        f"for {request.organisation_name}"
                    )
                ),
                subject_type="authorisation_request",
                subject_id=request.id,
            )
            notifications.notify(
                session,
                environment_id=firm.id,  # type: ignore[arg-type]
                kind="authorisation.declined",
                message=_sentence(
                    f"{request.client_name} declined your authorisation request for "
                    f"{request.organisation_name}"
                )
                + reason_sentence,
                link=DECLINED_NOTIFICATION_LINK,
            )
            queue_email(
                session,
                template="authorisation_declined",
                to=requester.email,
                context={
                    "requester_name": _display_name(requester),
                    "client_name": request.client_name,
                    "declined_by": actor_name,
                    "client_environment_name": client_environment.name,
                    "organisation_name": request.organisation_name,
                    "reason": clean_reason,
                    "link": routes.absolute(routes.AUTHORISATIONS),
                },
                environment_id=firm.id,
            )
    except _ClaimLost:
        raise _claim_lost_error(session, request_id=request_key) from None  # type: ignore[arg-type]



