"""Relationship requests: starting a partnership from Find partners, answered by the other side.

Both sides must be on a plan with partnerships (Basic or higher), the sender an Advanced user or
Administrator, and the answer comes from an Advanced user or Administrator of the other
environment. The other environment's Administrators and relationship managers each get an email
with their own accept/decline link (256-bit, only its SHA-256 hash stored, expiring with the
request, void once the request is answered) and see the request in the app. One Pending request
per pair of environments (a partial unique index); none while the two are partners already.
Accepting creates the partnership (reusing one that appeared meanwhile); declining notifies the
requester. Every status change goes through a conditional UPDATE, so a double click or two
browsers answer once. Rows are never deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, routes, security
from econnect_app.formatting import display_name, format_date, sentence
from econnect_app.mail import queue_email
from econnect_app.models import (
    Environment,
    Organisation,
    Partnership,
    PartnershipOrigin,
    RelationshipRequest,
    RelationshipRequestLink,
    RelationshipRequestStatus,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import activity, notifications, partnerships, relationship_managers
from econnect_app.services.errors import (
    Conflict,
    InvalidToken,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)
from econnect_app.services.permissions import can_manage_partnerships, load_actor, plan_has_partnerships
from econnect_app.services.transaction import committing
from econnect_app.services.validation import without_nul
from econnect_app.settings import get_settings

PENDING = RelationshipRequestStatus.PENDING.value
MESSAGE_MAX_LENGTH = 1000

# The messages in English (tests and pages compare them); shown translated with ``i18n.gettext``.
ROLE_MESSAGE = i18n.N_("Only Advanced users and Administrators can send relationship requests.")
ANSWER_ROLE_MESSAGE = i18n.N_(
    "Only Advanced users and Administrators can answer relationship requests. Ask an administrator "
    "of your environment."
)
PLAN_MESSAGE = i18n.N_(
    "Relationship requests need the Basic or Professional plan. An administrator can upgrade in Settings."
)
ORGANISATION_NOT_FOUND = i18n.N_("This organisation cannot be found.")
REQUEST_NOT_FOUND = i18n.N_("This relationship request does not exist or is not addressed to you.")


class RelationshipLinkProblem(InvalidToken):
    """Why a relationship request's link (or the request) can no longer be answered."""

    title: ClassVar[str] = i18n.N_("This link no longer works")  # translated where shown


@dataclass(frozen=True)
class RelationshipRequestRow:
    """A relationship request as either side's list shows it."""

    id: int
    incoming: bool
    other_environment_name: str
    organisation_name: str
    requested_by: str
    message: str
    status: str
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None
    can_answer: bool
    can_withdraw: bool


@dataclass(frozen=True)
class RelationshipRequestView:
    """What the emailed link's page shows."""

    request_id: int
    requester_environment_name: str
    requested_by: str
    target_environment_id: int
    target_environment_name: str
    organisation_name: str
    message: str
    expires_at: datetime


# --- rules ----------------------------------------------------------------------------------------


def _environment(session: Session, environment_id: int) -> Environment:
    environment = session.get(Environment, environment_id)
    assert environment is not None
    return environment


def _can_answer_exists(session: Session, environment_id: int) -> bool:
    statement = select(User.id).where(
        User.environment_id == environment_id,
        User.status == UserStatus.ACTIVE.value,
        col(User.role).in_((Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value)),
    )
    return session.exec(statement).first() is not None


def _pending_between(session: Session, *, environment_a_id: int, environment_b_id: int, now: datetime) -> RelationshipRequest | None:
    low, high = sorted((environment_a_id, environment_b_id))
    statement = select(RelationshipRequest).where(
        RelationshipRequest.environment_low_id == low,
        RelationshipRequest.environment_high_id == high,
        RelationshipRequest.status == PENDING,
        col(RelationshipRequest.expires_at) > now,
    )
    return session.exec(statement.execution_options(populate_existing=True)).first()


def _findable_organisation(session: Session, *, actor: User, organisation_id: int) -> Organisation:
    organisation = session.get(Organisation, organisation_id) if 0 < organisation_id < 2**31 else None
    if (
        organisation is None
        or organisation.environment_id == actor.environment_id
        or organisation.activated_at is None
        or not organisation.findable
    ):
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    return organisation


def _check_can_request(session: Session, *, actor: User, organisation_id: int) -> tuple[Organisation, Environment]:
    """The target organisation and its environment, if the actor may send it a request now."""
    if not can_manage_partnerships(actor):
        raise PermissionDenied(i18n.gettext(ROLE_MESSAGE))
    if not plan_has_partnerships(_environment(session, actor.environment_id).plan):
        raise PlanLimitReached(i18n.gettext(PLAN_MESSAGE))
    organisation = _findable_organisation(session, actor=actor, organisation_id=organisation_id)
    target = _environment(session, organisation.environment_id)
    if partnerships.has_active_partnership(
        session, environment_a_id=actor.environment_id, environment_b_id=target.id  # type: ignore[arg-type]
    ):
        raise Conflict(i18n.gettext("{partner} is your partner already.", partner=target.name))
    pending = _pending_between(
        session, environment_a_id=actor.environment_id, environment_b_id=target.id, now=utcnow()  # type: ignore[arg-type]
    )
    if pending is not None:
        if pending.requester_environment_id == actor.environment_id:
            waiting = i18n.gettext(
                "A relationship request between you and {partner} is already waiting for an answer "
                "(you sent it on {date}).",
                partner=target.name,
                date=format_date(pending.created_at),
            )
        else:
            waiting = i18n.gettext(
                "A relationship request between you and {partner} is already waiting for an answer "
                "(they sent it on {date}).",
                partner=target.name,
                date=format_date(pending.created_at),
            )
        raise Conflict(waiting)
    if not plan_has_partnerships(target.plan):
        raise Conflict(
            i18n.gettext(
                "{partner} is on a plan without partnerships, so it cannot accept a request.",
                partner=target.name,
            )
        )
    if not _can_answer_exists(session, target.id):  # type: ignore[arg-type]
        raise Conflict(
            i18n.gettext(
                "{partner} has nobody who can accept a relationship request yet.", partner=target.name
            )
        )
    return organisation, target


def why_cannot_request(session: Session, *, actor: User, organisation_id: int) -> str | None:
    """None when the actor may send this organisation's environment a relationship request, else
    the reason to show next to the disabled button."""
    try:
        _check_can_request(session, actor=load_actor(session, actor), organisation_id=organisation_id)
    except (PermissionDenied, PlanLimitReached, Conflict, NotFound) as error:
        return error.message
    return None


def _record(session: Session, request: RelationshipRequest, *, actor: User | None, action: str, summaries: dict[int, str]) -> None:
    activity.record_each(
        session, summaries, actor=actor, action=action, subject_type="relationship_request", subject_id=request.id
    )


def _void_links(session: Session, *, request_id: int, now: datetime) -> None:
    session.execute(
        update(RelationshipRequestLink)
        .where(
            col(RelationshipRequestLink.request_id) == request_id,
            col(RelationshipRequestLink.voided_at).is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )


def _transition(session: Session, request: RelationshipRequest, *, to_status: str, now: datetime, actor: User | None) -> bool:
    """Pending -> ``to_status`` only if still Pending (and unexpired, unless expiring); voids links."""
    condition = [col(RelationshipRequest.id) == request.id, col(RelationshipRequest.status) == PENDING]
    if to_status != RelationshipRequestStatus.EXPIRED.value:
        condition.append(col(RelationshipRequest.expires_at) > now)
    values: dict[str, object] = {"status": to_status}
    if to_status in (RelationshipRequestStatus.ACCEPTED.value, RelationshipRequestStatus.DECLINED.value):
        values.update(responded_at=now, responded_by_id=actor.id if actor else None)
    result = session.execute(
        update(RelationshipRequest).where(*condition).values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(request)
    _void_links(session, request_id=request.id, now=now)  # type: ignore[arg-type]
    return True


# --- sending --------------------------------------------------------------------------------------


def _expire_stale_between(session: Session, *, environment_a_id: int, environment_b_id: int, now: datetime) -> None:
    """Mark a past-due Pending request of the pair Expired (it would block the unique index)."""
    low, high = sorted((environment_a_id, environment_b_id))
    stale = session.exec(
        select(RelationshipRequest).where(
            RelationshipRequest.environment_low_id == low,
            RelationshipRequest.environment_high_id == high,
            RelationshipRequest.status == PENDING,
            col(RelationshipRequest.expires_at) <= now,
        )
    ).all()
    for request in stale:
        _expire(session, request, now=now)


def send_relationship_request(
    session: Session, *, actor: User, organisation_id: int, message: str = ""
) -> RelationshipRequest:
    """Ask the environment of an organisation found in Find partners to become partners."""
    actor = load_actor(session, actor)
    clean_message = without_nul(message or "").strip()
    if len(clean_message) > MESSAGE_MAX_LENGTH:
        raise ValidationFailed(
            {"message": i18n.gettext("Use at most {count} characters.", count=MESSAGE_MAX_LENGTH)}
        )
    organisation, target = _check_can_request(session, actor=actor, organisation_id=organisation_id)
    requester = _environment(session, actor.environment_id)
    recipients = relationship_managers.email_recipients(session, environment_id=target.id)  # type: ignore[arg-type]
    now = utcnow()
    low, high = sorted((requester.id, target.id))  # type: ignore[type-var]
    request = RelationshipRequest(
        requester_environment_id=requester.id,  # type: ignore[arg-type]
        requested_by_id=actor.id,  # type: ignore[arg-type]
        target_environment_id=target.id,  # type: ignore[arg-type]
        target_organisation_id=organisation.id,  # type: ignore[arg-type]
        environment_low_id=low,
        environment_high_id=high,
        message=clean_message,
        created_at=now,
        expires_at=now + timedelta(days=get_settings().authorisation_link_days),
    )
    try:
        with committing(session):
            _expire_stale_between(session, environment_a_id=requester.id, environment_b_id=target.id, now=now)  # type: ignore[arg-type]
            session.add(request)
            session.flush()
            for recipient in recipients:
                raw, token_hash = security.new_token()
                session.add(RelationshipRequestLink(request_id=request.id, user_id=recipient.id, token_hash=token_hash))  # type: ignore[arg-type]
                queue_email(
                    session,
                    template="relationship_request",
                    to=recipient.email,
                    context={
                        "name": display_name(recipient),
                        "requester_name": display_name(actor),
                        "requester_environment_name": requester.name,
                        "target_environment_name": target.name,
                        "organisation_name": organisation.name,
                        "message": clean_message,
                        "link": routes.absolute(routes.relationship_request(raw)),
                        "expires_on": request.expires_at,
                    },
                    environment_id=target.id,
                )
            notifications.notify(
                session,
                environment_id=target.id,  # type: ignore[arg-type]
                kind="relationship_request.received",
                message=sentence(
                    i18n.gettext("{partner} sent you a relationship request", partner=requester.name)
                ),
                link=routes.PARTNERS,
            )
            _record(
                session,
                request,
                actor=actor,
                action="relationship_request.sent",
                summaries={
                    requester.id: sentence(  # type: ignore[dict-item]
                        i18n.gettext(
                            "{actor} sent a relationship request to {partner} (found as {organisation})",
                            actor=display_name(actor),
                            partner=target.name,
                            organisation=organisation.name,
                        )
                    ),
                    target.id: sentence(  # type: ignore[dict-item]
                        i18n.gettext(
                            "{actor} of {partner} sent you a relationship request",
                            actor=display_name(actor),
                            partner=requester.name,
                        )
                    ),
                },
            )
    except IntegrityError:  # another request between the two was sent at the same moment
        raise Conflict(
            i18n.gettext(
                "A relationship request between you and {partner} is already waiting for an answer.",
                partner=target.name,
            )
        ) from None
    return request


# --- links ----------------------------------------------------------------------------------------


def _problem(session: Session, request: RelationshipRequest) -> RelationshipLinkProblem | None:
    requester = _environment(session, request.requester_environment_id).name
    if request.status == RelationshipRequestStatus.ACCEPTED.value:
        if request.responded_at:
            return RelationshipLinkProblem(
                i18n.gettext(
                    "This relationship request was already accepted on {date}.",
                    date=format_date(request.responded_at),
                )
            )
        return RelationshipLinkProblem(i18n.gettext("This relationship request was already accepted."))
    if request.status == RelationshipRequestStatus.DECLINED.value:
        if request.responded_at:
            return RelationshipLinkProblem(
                i18n.gettext(
                    "This relationship request was already declined on {date}.",
                    date=format_date(request.responded_at),
                )
            )
        return RelationshipLinkProblem(i18n.gettext("This relationship request was already declined."))
    if request.status == RelationshipRequestStatus.WITHDRAWN.value:
        return RelationshipLinkProblem(
            i18n.gettext("{partner} withdrew this relationship request.", partner=requester)
        )
    if request.status == RelationshipRequestStatus.EXPIRED.value or request.expires_at <= utcnow():
        return RelationshipLinkProblem(
            i18n.gettext(
                "This relationship request has expired. Ask {partner} to send a new one, or send one "
                "yourself from Find partners.",
                partner=requester,
            )
        )
    return None


def _request_for_token(session: Session, *, token: str) -> RelationshipRequest:
    link = None
    if token and "\x00" not in token:
        link = session.exec(
            select(RelationshipRequestLink).where(RelationshipRequestLink.token_hash == security.hash_token(token))
        ).first()
    request = session.get(RelationshipRequest, link.request_id, populate_existing=True) if link else None
    if link is None or request is None:
        raise RelationshipLinkProblem(
            i18n.gettext("This link is not valid. Check that you copied the whole link from the email.")
        )
    problem = _problem(session, request)
    if problem is not None:
        raise problem
    if link.voided_at is not None:
        raise RelationshipLinkProblem(i18n.gettext("This link no longer works."))
    return request


def look_up_relationship_link(session: Session, *, token: str) -> RelationshipRequestView:
    """What the emailed link's page shows; RelationshipLinkProblem when it no longer works."""
    request = _request_for_token(session, token=token)
    requester = session.get(User, request.requested_by_id)
    organisation = session.get(Organisation, request.target_organisation_id)
    return RelationshipRequestView(
        request_id=request.id,  # type: ignore[arg-type]
        requester_environment_name=_environment(session, request.requester_environment_id).name,
        requested_by=display_name(requester),
        target_environment_id=request.target_environment_id,
        target_environment_name=_environment(session, request.target_environment_id).name,
        organisation_name=organisation.name if organisation else "",
        message=request.message,
        expires_at=request.expires_at,
    )


# --- answering ------------------------------------------------------------------------------------


def _request_to_answer(session: Session, *, actor: User, token: str | None, request_id: int | None) -> RelationshipRequest:
    if (token is None) == (request_id is None):
        raise ValueError("Pass exactly one of token or request_id.")
    if token is not None:
        request = _request_for_token(session, token=token)
    else:
        request = session.get(RelationshipRequest, request_id, populate_existing=True) if 0 < request_id < 2**31 else None
        if request is None or request.target_environment_id != actor.environment_id:
            raise NotFound(i18n.gettext(REQUEST_NOT_FOUND))
        problem = _problem(session, request)
        if problem is not None:
            raise problem
    if request.target_environment_id != actor.environment_id:
        raise PermissionDenied(
            i18n.gettext(
                "This request is for {environment}. Log in with an account of that environment to answer it.",
                environment=_environment(session, request.target_environment_id).name,
            )
        )
    if not can_manage_partnerships(actor):
        raise PermissionDenied(i18n.gettext(ANSWER_ROLE_MESSAGE))
    return request


def _lost(session: Session, request: RelationshipRequest) -> InvalidToken:
    session.refresh(request)
    return _problem(session, request) or RelationshipLinkProblem(
        i18n.gettext("This relationship request was answered already.")
    )


@dataclass(frozen=True)
class _Answer:
    """Who answers which request, and who asked."""

    actor: User
    request: RelationshipRequest
    target: Environment
    requester_environment: Environment
    requester: User


def _begin_answer(session: Session, *, actor: User, token: str | None, request_id: int | None) -> _Answer:
    actor = load_actor(session, actor)
    request = _request_to_answer(session, actor=actor, token=token, request_id=request_id)
    requester = session.get(User, request.requested_by_id)
    assert requester is not None
    return _Answer(
        actor=actor,
        request=request,
        target=_environment(session, actor.environment_id),
        requester_environment=_environment(session, request.requester_environment_id),
        requester=requester,
    )


def _answer_summaries(
    actor: User, target: Environment, requester_env: Environment, *, accepted: bool
) -> dict[int, str]:
    """The activity line of an answer for each side: the requester's and the answering one's."""
    names = {"actor": display_name(actor), "partner": target.name, "requester": requester_env.name}
    if accepted:
        theirs = i18n.gettext("{actor} of {partner} accepted your relationship request", **names)
        ours = i18n.gettext("{actor} accepted the relationship request of {requester}", **names)
    else:
        theirs = i18n.gettext("{actor} of {partner} declined your relationship request", **names)
        ours = i18n.gettext("{actor} declined the relationship request of {requester}", **names)
    return {requester_env.id: sentence(theirs), target.id: sentence(ours)}  # type: ignore[dict-item]


def _claim_and_tell(session: Session, answer: _Answer, *, accepted: bool) -> None:
    """In the caller's transaction: the answer is claimed (once), both logs record it, the
    requester is notified in the app and by email."""
    verb = "accepted" if accepted else "declined"
    status = RelationshipRequestStatus.ACCEPTED.value if accepted else RelationshipRequestStatus.DECLINED.value
    actor, target, requester_env = answer.actor, answer.target, answer.requester_environment
    if not _transition(session, answer.request, to_status=status, now=utcnow(), actor=actor):
        raise _lost(session, answer.request)
    _record(
        session,
        answer.request,
        actor=actor,
        action=f"relationship_request.{verb}",
        summaries=_answer_summaries(actor, target, requester_env, accepted=accepted),
    )
    notifications.notify(
        session,
        environment_id=requester_env.id,  # type: ignore[arg-type]
        kind=f"relationship_request.{verb}",
        message=sentence(
            i18n.gettext(
                "{partner} accepted your relationship request. You are partners now", partner=target.name
            )
            if accepted
            else i18n.gettext("{partner} declined your relationship request", partner=target.name)
        ),
        link=routes.PARTNERS,
    )
    queue_email(
        session,
        template="relationship_request_answered",
        to=answer.requester.email,
        context={
            "name": display_name(answer.requester),
            "accepted": accepted,
            "answered_by": display_name(actor),
            "target_environment_name": target.name,
            "link": routes.absolute(routes.PARTNERS if accepted else routes.FIND_PARTNERS),
        },
        environment_id=requester_env.id,
    )


def accept_relationship_request(
    session: Session, *, actor: User, token: str | None = None, request_id: int | None = None
) -> Partnership:
    """Accept: the two environments become partners (one active partnership per pair)."""
    answer = _begin_answer(session, actor=actor, token=token, request_id=request_id)
    target, requester_env = answer.target, answer.requester_environment
    if not plan_has_partnerships(target.plan):
        raise PlanLimitReached(i18n.gettext(PLAN_MESSAGE))
    # Both sides need the plan when the partnership starts, not only when the request was sent.
    if not plan_has_partnerships(requester_env.plan):
        raise Conflict(
            i18n.gettext(
                "{partner} is no longer on a plan with partnerships, so this request cannot be "
                "accepted now. You can decline it, or accept it once they have upgraded.",
                partner=requester_env.name,
            )
        )
    with committing(session):
        _claim_and_tell(session, answer, accepted=True)
        partnership, created = partnerships.get_or_create_partnership(
            session,
            environment_id=target.id,  # type: ignore[arg-type]
            partner_environment_id=requester_env.id,  # type: ignore[arg-type]
            initiator_environment_id=requester_env.id,  # type: ignore[arg-type]
            created_via=PartnershipOrigin.RELATIONSHIP_REQUEST.value,
        )
        answer.request.partnership_id = partnership.id
        session.add(answer.request)
        if created:
            activity.record_each(
                session,
                {
                    requester_env.id: sentence(  # type: ignore[dict-item]
                        i18n.gettext("Partnership with {partner} started", partner=target.name)
                    ),
                    target.id: sentence(  # type: ignore[dict-item]
                        i18n.gettext("Partnership with {partner} started", partner=requester_env.name)
                    ),
                },
                actor=answer.actor,
                action="partnership.created",
                subject_type="partnership",
                subject_id=partnership.id,
            )
    return partnership


def decline_relationship_request(
    session: Session, *, actor: User, token: str | None = None, request_id: int | None = None
) -> RelationshipRequest:
    """Decline: the requester is notified in the app and by email."""
    answer = _begin_answer(session, actor=actor, token=token, request_id=request_id)
    with committing(session):
        _claim_and_tell(session, answer, accepted=False)
    return answer.request


def withdraw_relationship_request(session: Session, *, actor: User, request_id: int) -> RelationshipRequest:
    """Withdraw a Pending request the actor's environment sent; its links stop working."""
    actor = load_actor(session, actor)
    if not can_manage_partnerships(actor):
        raise PermissionDenied(i18n.gettext(ROLE_MESSAGE))
    request = session.get(RelationshipRequest, request_id, populate_existing=True) if 0 < request_id < 2**31 else None
    if request is None or request.requester_environment_id != actor.environment_id:
        raise NotFound(i18n.gettext(REQUEST_NOT_FOUND))
    problem = _problem(session, request)
    if problem is not None:
        raise Conflict(problem.message)
    target = _environment(session, request.target_environment_id)
    with committing(session):
        if not _transition(session, request, to_status=RelationshipRequestStatus.WITHDRAWN.value, now=utcnow(), actor=actor):
            raise Conflict(_lost(session, request).message)
        _record(
            session,
            request,
            actor=actor,
            action="relationship_request.withdrawn",
            summaries={
                actor.environment_id: sentence(
                    i18n.gettext(
                        "{actor} withdrew the relationship request to {partner}",
                        actor=display_name(actor),
                        partner=target.name,
                    )
                ),
                target.id: sentence(  # type: ignore[dict-item]
                    i18n.gettext(
                        "{partner} withdrew its relationship request",
                        partner=_environment(session, actor.environment_id).name,
                    )
                ),
            },
        )
    return request


# --- listing and expiry ---------------------------------------------------------------------------


def _shown_status(request: RelationshipRequest, now: datetime) -> str:
    if request.status == PENDING and request.expires_at <= now:
        return RelationshipRequestStatus.EXPIRED.value
    return request.status


def list_relationship_requests(session: Session, *, actor: User, limit: int = 100) -> list[RelationshipRequestRow]:
    """Requests the actor's environment sent or received, newest first (Advanced users and
    Administrators see the buttons; a past-due Pending request shows as Expired)."""
    actor = load_actor(session, actor)
    own = actor.environment_id
    statement = (
        select(RelationshipRequest)
        .where(
            or_(
                RelationshipRequest.requester_environment_id == own,
                RelationshipRequest.target_environment_id == own,
            )
        )
        .order_by(col(RelationshipRequest.created_at).desc(), col(RelationshipRequest.id).desc())
        .limit(limit)
    )
    now = utcnow()
    rows: list[RelationshipRequestRow] = []
    manager = can_manage_partnerships(actor)
    for request in session.exec(statement.execution_options(populate_existing=True)):
        incoming = request.target_environment_id == own
        other = request.requester_environment_id if incoming else request.target_environment_id
        organisation = session.get(Organisation, request.target_organisation_id)
        sender = session.get(User, request.requested_by_id)
        status = _shown_status(request, now)
        rows.append(
            RelationshipRequestRow(
                id=request.id,  # type: ignore[arg-type]
                incoming=incoming,
                other_environment_name=_environment(session, other).name,
                organisation_name=organisation.name if organisation else "",
                requested_by=display_name(sender),
                message=request.message,
                status=status,
                created_at=request.created_at,
                expires_at=request.expires_at,
                responded_at=request.responded_at,
                can_answer=manager and incoming and status == PENDING,
                can_withdraw=manager and not incoming and status == PENDING,
            )
        )
    return rows


def _expire(session: Session, request: RelationshipRequest, *, now: datetime) -> bool:
    """Pending -> Expired with its activity rows; False when another worker got there first."""
    if not _transition(session, request, to_status=RelationshipRequestStatus.EXPIRED.value, now=now, actor=None):
        return False
    _record(
        session,
        request,
        actor=None,
        action="relationship_request.expired",
        summaries={
            environment_id: i18n.gettext("A relationship request expired without an answer.")
            for environment_id in (request.requester_environment_id, request.target_environment_id)
        },
    )
    return True


def expire_due_relationship_requests(session: Session, *, now: datetime | None = None) -> int:
    """Mark every Pending request past its expiry Expired (idempotent; safe on several workers)."""
    now = now or utcnow()
    due = session.exec(
        select(RelationshipRequest).where(
            and_(RelationshipRequest.status == PENDING, col(RelationshipRequest.expires_at) <= now)
        )
    ).all()
    if not due:
        return 0
    with committing(session):
        expired = sum(_expire(session, request, now=now) for request in due)
    return expired
