"""What the modules of this package share: statuses as of now, activity rows, voiding links, names."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, or_, update
from sqlmodel import Session, col

from econnect_app import i18n
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    User,
)
from econnect_app.services import activity
from econnect_app.services.errors import PermissionDenied
from econnect_app.services.permissions import can_manage_partnerships, load_actor

PENDING = AuthorisationStatus.PENDING.value
EXPIRED = AuthorisationStatus.EXPIRED.value
STATUS_CHOICES: tuple[str, ...] = tuple(status.value for status in AuthorisationStatus)
SUBJECT_TYPE = "authorisation_request"

VIEW_ROLE_MESSAGE = i18n.N_("Only Advanced users and Administrators can manage authorisation requests.")


# --- the status as of now: a Pending request past its expiry is Expired, written or not yet -------


def _past_due(now: datetime) -> ColumnElement[bool]:
    return and_(col(AuthorisationRequest.status) == PENDING, col(AuthorisationRequest.expires_at) <= now)


def current_status(now: datetime) -> ColumnElement[str]:
    """SQL: the request's status as of ``now`` (Expired for a Pending request past its expiry)."""
    return case((_past_due(now), EXPIRED), else_=col(AuthorisationRequest.status))


def has_status(status: str, now: datetime) -> ColumnElement[bool]:
    """SQL condition: the request's status as of ``now`` is ``status`` (plain conditions, indexable)."""
    if status == PENDING:
        return and_(col(AuthorisationRequest.status) == PENDING, col(AuthorisationRequest.expires_at) > now)
    if status == EXPIRED:
        return or_(col(AuthorisationRequest.status) == EXPIRED, _past_due(now))
    return col(AuthorisationRequest.status) == status


def is_open(request: AuthorisationRequest, now: datetime) -> bool:
    """Whether the request is still Pending and unexpired: it may be resent, withdrawn or answered."""
    return request.status == PENDING and request.expires_at > now


# --- names and sentences ------------------------------------------------------------------------


def describe(request: AuthorisationRequest) -> str:
    """The request in an activity summary: client, address and organisation."""
    return i18n.gettext(
        "{client} ({email}) for {organisation}",
        client=request.client_name,
        email=request.client_email,
        organisation=request.organisation_name,
    )


# --- permissions ------------------------------------------------------------------------------


def require_manager(session: Session, actor: User, message: str = VIEW_ROLE_MESSAGE) -> User:
    """The actor re-read from the database, if they may manage partnerships; else PermissionDenied
    (``message``: English, marked with ``i18n.N_``, translated here)."""
    actor = load_actor(session, actor)
    if not can_manage_partnerships(actor):
        raise PermissionDenied(i18n.gettext(message))
    return actor


# --- writes shared by several use cases (caller's transaction) -----------------------------------


def record_activity(
    session: Session,
    request: AuthorisationRequest,
    *,
    actor: User | None,
    action: str,
    summary: str,
    environment_id: int | None = None,
) -> None:
    """An activity row about one request, in the requesting environment's log unless told otherwise."""
    activity.record(
        session,
        environment_id=request.environment_id if environment_id is None else environment_id,
        actor=actor,
        action=action,
        summary=summary,
        subject_type=SUBJECT_TYPE,
        subject_id=request.id,
    )


def void_links(session: Session, *, request_id: int, now: datetime) -> None:
    """Stop every link of the request from working (they are kept, to say why)."""
    session.execute(
        update(AuthorisationLink)
        .where(
            col(AuthorisationLink.request_id) == request_id,
            col(AuthorisationLink.voided_at).is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )


def expire_request(session: Session, request: AuthorisationRequest, *, now: datetime) -> bool:
    """Mark one request Expired if it is still Pending and past due at ``now``; False if not.

    Voids its links and writes its activity row. Conditional, so a concurrent answer or a second
    worker expiring the same request cannot both act.
    """
    result = session.execute(
        update(AuthorisationRequest)
        .where(col(AuthorisationRequest.id) == request.id, _past_due(now))
        .values(status=EXPIRED)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    void_links(session, request_id=request.id, now=now)  # type: ignore[arg-type]
    record_activity(
        session,
        request,
        actor=None,
        action="authorisation.expired",
        summary=i18n.gettext(
            "The authorisation request to {request} expired without an answer.", request=describe(request)
        ),
    )
    return True
