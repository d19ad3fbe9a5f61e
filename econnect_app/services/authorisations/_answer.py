"""The steps that accepting and declining a request share (``answering.py`` holds the two use cases).

``_Answer.begin`` finds the request (by link, or by id from the incoming list: only requests sent
to a confirmed address of the responder) and checks the responder (answering through a link sent
to another address needs the responder's word that they may answer for it); ``claimed`` is the use case's transaction, which first claims the request with a
conditional UPDATE and turns a lost claim into the error saying why; ``record`` writes the activity
row on both sides and ``tell_requester`` notifies the requesting environment and emails the
requester. What differs between the answers is in an ``AnswerWording``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from econnect_app import i18n, routes
from econnect_app.formatting import display_name, sentence
from econnect_app.mail import queue_email
from econnect_app.models import AuthorisationRequest, Environment, User, utcnow
from econnect_app.services import notifications
from econnect_app.services.authorisations._common import (
    PENDING,
    record_activity,
    void_links,
)
from econnect_app.services.authorisations.links import (
    ANSWER_FOR_ADDRESS_FIELD,
    LinkUnknown,
    for_another_address,
    request_for_token,
    request_problem,
)
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.permissions import can_manage_partnerships, load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.user_emails import confirm_through_link, confirmed_addresses

# Marked for translation; raised as ``i18n.gettext(...)``.
NOT_ALLOWED_MESSAGE = i18n.N_(
    "Only Advanced users and Administrators can accept or decline authorisation requests. "
    "Ask an administrator of your environment to do it, or to give you the Advanced user role."
)
OWN_ENVIRONMENT_MESSAGE = i18n.N_("You cannot accept a request from your own environment.")
REQUEST_NOT_FOUND_MESSAGE = i18n.N_("This request does not exist or is not addressed to you.")


def answer_for_address_message(address: str) -> str:
    """What a responder must confirm before answering a request sent to an address not theirs."""
    return i18n.gettext(
        "This request was sent to {address}. Confirm that you are allowed to answer for {address}.",
        address=address,
    )


@dataclass(frozen=True)
class AnswerWording:
    """What one kind of answer writes: its status, its sentences, its action and email.

    The sentences are English, marked with ``i18n.N_`` and translated where they are written; their
    placeholders: ``{actor}``, ``{client_environment}``, ``{email}``, ``{firm}``, ``{client}`` and
    ``{organisation}``."""

    status: str  # the request's new status
    firm_summary: str  # the activity row in the requesting environment
    client_summary: str  # the activity row in the client's environment
    notification: str  # the notification of the requesting environment
    action: str  # activity action and notification kind
    template: str  # the email to the requester
    link: str  # the page the notification and the email point to


def _find_request(
    session: Session, *, actor: User, token: str | None, request_id: int | None
) -> AuthorisationRequest:
    """The request being answered, by link or from the incoming list (addressed to a confirmed
    address of the actor: an unconfirmed address is answered only through the emailed link)."""
    if (token is None) == (request_id is None):
        raise ValueError("Pass exactly one of token or request_id.")
    if token is not None:
        return request_for_token(session, token=token)
    request = session.get(AuthorisationRequest, request_id)
    if request is None or request.client_email.lower() not in confirmed_addresses(session, user=actor):
        raise NotFound(i18n.gettext(REQUEST_NOT_FOUND_MESSAGE))
    problem = request_problem(session, request)
    if problem is not None:
        raise problem
    return request


def _require_responder(actor: User, request: AuthorisationRequest) -> None:
    if actor.environment_id == request.environment_id:
        raise Conflict(i18n.gettext(OWN_ENVIRONMENT_MESSAGE))
    if not can_manage_partnerships(actor):
        raise PermissionDenied(i18n.gettext(NOT_ALLOWED_MESSAGE))


def _require_word_for_address(session: Session, *, actor: User, request: AuthorisationRequest, given: bool) -> None:
    """Through a link sent to an address the actor has not confirmed, the actor must say they may
    answer for it (a forwarded link is not answered unawares)."""
    if not given and for_another_address(session, user=actor, client_email=request.client_email):
        raise ValidationFailed({ANSWER_FOR_ADDRESS_FIELD: answer_for_address_message(request.client_email)})


class _ClaimLost(Exception):
    """Another transaction answered (or withdrew, or expired) the request first."""


def _claim(session: Session, *, request: AuthorisationRequest, status: str, actor: User) -> None:
    """Move the request from Pending to ``status``, only if it is still Pending and unexpired.

    This is the first write of the use case: a concurrent answer waits on it (row lock, or
    SQLite's write lock) and then finds no Pending row.
    """
    now = utcnow()
    result = session.exec(
        update(AuthorisationRequest)
        .where(
            col(AuthorisationRequest.id) == request.id,
            col(AuthorisationRequest.status) == PENDING,
            col(AuthorisationRequest.expires_at) > now,
        )
        .values(status=status, responded_at=now, responded_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _ClaimLost()
    session.refresh(request)
    void_links(session, request_id=request.id, now=now)  # type: ignore[arg-type]


@dataclass
class Answer:
    """One answer being given: who answers which request, both environments, and the shared steps."""

    session: Session
    wording: AnswerWording
    actor: User
    request: AuthorisationRequest
    firm: Environment
    client_environment: Environment
    requester: User
    by_link: bool = False

    @classmethod
    def begin(
        cls,
        session: Session,
        wording: AnswerWording,
        *,
        user: User,
        token: str | None,
        request_id: int | None,
        answer_for_address: bool = False,
    ) -> Answer:
        """Find the request (link or id) and check that the user may answer it; writes nothing.

        ``answer_for_address``: the user said they may answer for the address the request was sent
        to (needed through a link when it is not one of their confirmed addresses).
        """
        actor = load_actor(session, user)
        request = _find_request(session, actor=actor, token=token, request_id=request_id)
        _require_responder(actor, request)
        if token is not None:
            _require_word_for_address(session, actor=actor, request=request, given=answer_for_address)
        firm = session.get(Environment, request.environment_id)
        client_environment = session.get(Environment, actor.environment_id)
        requester = session.get(User, request.requested_by_id)
        assert firm is not None and client_environment is not None and requester is not None
        return cls(session, wording, actor, request, firm, client_environment, requester, by_link=token is not None)

    @property
    def actor_name(self) -> str:
        return display_name(self.actor)

    @contextmanager
    def claimed(self) -> Iterator[None]:
        """The use case's transaction, claiming the request first; a lost claim raises why it was lost."""
        request_key = self.request.id
        try:
            with committing(self.session):
                _claim(self.session, request=self.request, status=self.wording.status, actor=self.actor)
                self.request.client_environment_id = self.client_environment.id
                if self.by_link:  # the emailed link proves the address: confirm it if it is the actor's
                    confirm_through_link(
                        self.session,
                        user=self.actor,
                        address=self.request.client_email,
                        how=i18n.N_("the activation link of a request sent to it"),
                        now=self.request.responded_at or utcnow(),
                    )
                yield
        except _ClaimLost:
            request = self.session.get(AuthorisationRequest, request_key)
            problem = request_problem(self.session, request) if request is not None else None
            raise (problem or LinkUnknown()) from None

    def record(self, *, organisation_name: str, reason_sentence: str = "") -> None:
        """The answer's activity row in the requesting and in the client environment."""
        wording, request = self.wording, self.request
        record_activity(
            self.session,
            request,
            actor=self.actor,
            action=wording.action,
            summary=sentence(
                i18n.gettext(
                    wording.firm_summary,
                    actor=self.actor_name,
                    client_environment=self.client_environment.name,
                    email=request.client_email,
                    organisation=organisation_name,
                )
            )
            + reason_sentence,
        )
        record_activity(
            self.session,
            request,
            actor=self.actor,
            action=wording.action,
            summary=sentence(
                i18n.gettext(
                    wording.client_summary,
                    actor=self.actor_name,
                    firm=self.firm.name,
                    organisation=organisation_name,
                )
            ),
            environment_id=self.client_environment.id,
        )

    def tell_requester(
        self, *, organisation_name: str, email_context: dict[str, Any], reason_sentence: str = ""
    ) -> None:
        """Notify the requesting environment in the app and queue the email to the requester."""
        request, wording = self.request, self.wording
        notifications.notify(
            self.session,
            environment_id=self.firm.id,  # type: ignore[arg-type]
            kind=wording.action,
            message=sentence(
                i18n.gettext(wording.notification, client=request.client_name, organisation=organisation_name)
            )
            + reason_sentence,
            link=wording.link,
        )
        queue_email(
            self.session,
            template=wording.template,
            to=self.requester.email,
            context={
                "requester_name": display_name(self.requester),
                "client_name": request.client_name,
                "client_environment_name": self.client_environment.name,
                "organisation_name": organisation_name,
                "link": routes.absolute(wording.link),
                **email_context,
            },
            environment_id=self.firm.id,
        )
