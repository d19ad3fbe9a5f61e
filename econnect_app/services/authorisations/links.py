"""The emailed link of a request: issuing it with its email, and looking a token up.

Only a token's hash is stored (``AuthorisationLink``). Links are kept after they stop working, so
an old link can say why: each reason has its own ``InvalidToken`` subclass with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlmodel import Session, col, select

from econnect_app import i18n, routes, security
from econnect_app.formatting import display_name, format_date, sentence
from econnect_app.mail import queue_email
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.services.errors import InvalidToken
from econnect_app.services.permissions import environment_has_partnerships
from econnect_app.services.user_emails import confirmed_addresses
from econnect_app.settings import get_settings

# --- errors: one per reason a link does not work, each saying what to do ---------------------
# (``title``: English, marked with ``i18n.N_``; show it as ``i18n.gettext(error.title)``.)


class LinkUnknown(InvalidToken):
    """No request has this link."""

    title: ClassVar[str] = i18n.N_("This link is not valid")

    def __init__(self) -> None:
        super().__init__(
            i18n.gettext(
                "This link is not valid. Check that you copied the whole link from the email, "
                "or ask your accountant to send a new request."
            )
        )


class LinkReplaced(InvalidToken):
    """A newer link was sent (the request was resent or replaced by a new request)."""

    title: ClassVar[str] = i18n.N_("This link has been replaced")

    def __init__(self, firm_name: str) -> None:
        super().__init__(
            i18n.gettext("{firm} sent you a newer link for this request.", firm=firm_name)
            + " "
            + sentence(i18n.gettext("Use the link in the newest email from {firm}", firm=firm_name))
        )


class LinkExpired(InvalidToken):
    """The request expired before it was answered."""

    title: ClassVar[str] = i18n.N_("This request has expired")

    def __init__(self, firm_name: str) -> None:
        super().__init__(i18n.gettext("This request has expired. Ask {firm} to resend it.", firm=firm_name))


class LinkWithdrawn(InvalidToken):
    """The accountant withdrew the request."""

    title: ClassVar[str] = i18n.N_("This request was withdrawn")

    def __init__(self, firm_name: str) -> None:
        super().__init__(
            i18n.gettext(
                "{firm} withdrew this request. Ask {firm} to send a new one if you still want to connect.",
                firm=firm_name,
            )
        )


class LinkPaused(InvalidToken):
    """The requesting environment's plan no longer includes partnerships."""

    title: ClassVar[str] = i18n.N_("This request cannot be answered now")

    def __init__(self, firm_name: str) -> None:
        super().__init__(
            i18n.gettext(
                "{firm} cannot receive answers to authorisation requests at the moment. Ask "
                "{firm} to send the request again later.",
                firm=firm_name,
            )
        )


class LinkAlreadyUsed(InvalidToken):
    """The request was accepted or declined already."""

    title: ClassVar[str] = i18n.N_("This request was already answered")

    def __init__(self, status: str, responded_at: datetime | None) -> None:
        accepted = status == AuthorisationStatus.ACCEPTED.value
        if responded_at:
            on = format_date(responded_at)
            message = (
                i18n.gettext("This request was already accepted on {date}.", date=on)
                if accepted
                else i18n.gettext("This request was already declined on {date}.", date=on)
            )
        else:
            message = (
                i18n.gettext("This request was already accepted.")
                if accepted
                else i18n.gettext("This request was already declined.")
            )
        super().__init__(message)
        self.status = status


# The form field of "I am allowed to answer for <address>" (see ``for_another_address``).
ANSWER_FOR_ADDRESS_FIELD = "answer_for_address"


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
    # The viewer is logged in and ``client_email`` is none of their confirmed addresses (a forwarded
    # link, or their own address not confirmed yet): answering needs an explicit confirmation.
    for_another_address: bool = False


# --- issuing a link -----------------------------------------------------------------------------


def issue_link_and_email(
    session: Session,
    *,
    request: AuthorisationRequest,
    requester: User,
    environment: Environment,
    package: SoftwarePackage,
    reminder: tuple[int, int] | None = None,
) -> None:
    """Add a fresh link to the request and queue the email with it (caller's transaction).

    ``reminder`` (number, most): an automatic reminder, which the email states ("This is reminder
    1 of 2.").
    """
    raw, token_hash = security.new_token()
    session.add(AuthorisationLink(request_id=request.id, token_hash=token_hash))
    days = get_settings().authorisation_link_days
    firm = environment.name
    queue_email(
        session,
        template="authorisation_request",
        to=request.client_email,
        context={
            "client_name": request.client_name,
            "firm_name": firm,
            "requester_name": display_name(requester),
            "organisation_name": request.organisation_name,
            "software_name": package.name,
            "link": routes.absolute(routes.activate(raw)),
            "expires_on": request.expires_at,
            "expires_days": days,
            "what_accepting_grants": i18n.gettext(
                "Accepting creates a partnership between {firm} and your environment on "
                "eConnect: {firm} becomes a member of {organisation} and can "
                "retrieve the connection keys for your accounting software ({software}). "
                "You can end the partnership at any time.",
                firm=firm,
                organisation=request.organisation_name,
                software=package.name,
            ),
            "reminder_number": reminder[0] if reminder else None,
            "reminder_max": reminder[1] if reminder else None,
        },
        environment_id=environment.id,
    )


# --- looking a link up --------------------------------------------------------------------------


def firm_name(session: Session, request: AuthorisationRequest) -> str:
    """The name of the requesting environment, as the client sees it."""
    firm = session.get(Environment, request.environment_id)
    return firm.name if firm else i18n.gettext("Your accountant")


def request_problem(session: Session, request: AuthorisationRequest) -> InvalidToken | None:
    """Why a request can no longer be answered (None while it is Pending and unexpired)."""
    status = request.status
    if status in (AuthorisationStatus.ACCEPTED.value, AuthorisationStatus.DECLINED.value):
        return LinkAlreadyUsed(status, request.responded_at)
    firm = firm_name(session, request)
    if request.replaced_by_id is not None:
        return LinkReplaced(firm)
    if status == AuthorisationStatus.WITHDRAWN.value:
        return LinkWithdrawn(firm)
    if status == AuthorisationStatus.EXPIRED.value or request.expires_at <= utcnow():
        return LinkExpired(firm)
    if not environment_has_partnerships(session, environment_id=request.environment_id):
        return LinkPaused(firm)
    return None


def _newest_link_id(session: Session, *, request_id: int) -> int | None:
    statement = (
        select(AuthorisationLink.id)
        .where(AuthorisationLink.request_id == request_id)
        .order_by(col(AuthorisationLink.created_at).desc(), col(AuthorisationLink.id).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def request_for_token(session: Session, *, token: str) -> AuthorisationRequest:
    """The answerable request of a link, or the InvalidToken subclass saying why not."""
    link = None
    if token:
        link = session.exec(
            select(AuthorisationLink).where(AuthorisationLink.token_hash == security.hash_token(token))
        ).first()
    request = session.get(AuthorisationRequest, link.request_id) if link else None
    if link is None or request is None:
        raise LinkUnknown()
    problem = request_problem(session, request)
    if problem is not None:
        raise problem
    if link.voided_at is not None or _newest_link_id(session, request_id=request.id) != link.id:
        raise LinkReplaced(firm_name(session, request))
    return request


def for_another_address(session: Session, *, user: User, client_email: str) -> bool:
    """Whether a request sent to ``client_email`` is for an address the user has not confirmed: whoever
    holds its link may answer it, after saying they are allowed to answer for that address."""
    return client_email.strip().lower() not in confirmed_addresses(session, user=user)


def look_up_link(session: Session, *, token: str, user: User | None = None) -> ActivationView:
    """What the activation page shows for a link (to ``user``, when logged in); a LinkXxx error when
    the link does not work."""
    request = request_for_token(session, token=token)
    requester = session.get(User, request.requested_by_id)
    package = session.get(SoftwarePackage, request.software_package_id)
    return ActivationView(
        request_id=request.id,  # type: ignore[arg-type]
        firm_name=firm_name(session, request),
        requester_name=display_name(requester),
        client_name=request.client_name,
        client_email=request.client_email,
        organisation_name=request.organisation_name,
        software_name=package.name if package else "",
        expires_at=request.expires_at,
        for_another_address=user is not None
        and for_another_address(session, user=user, client_email=request.client_email),
    )
