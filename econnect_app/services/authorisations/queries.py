"""Reads: the accountant's list and count, the client's incoming requests. Reads never write.

Expiry is computed as of the moment of reading: a request still stored as Pending but past its
``expires_at`` is listed as Expired (not resendable, not withdrawable), is not counted as pending
and is filtered as Expired, in SQL, so filters, counts and limits agree on every database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from econnect_app.formatting import display_name
from econnect_app.models import AuthorisationRequest, Environment, SoftwarePackage, User, utcnow
from econnect_app.services.authorisations._common import (
    PENDING,
    STATUS_CHOICES,
    current_status,
    has_status,
    require_manager,
)
from econnect_app.services.errors import ValidationFailed
from econnect_app.services.permissions import environment_has_partnerships, load_actor
from econnect_app.services.user_emails import confirmed_addresses
from econnect_app.services.validation import without_nul


@dataclass(frozen=True)
class RequestRow:
    """One line of the requests list, ready to show."""

    id: int
    client_name: str
    client_email: str
    organisation_name: str
    software_name: str
    status: str
    created_at: datetime
    last_sent_at: datetime
    expires_at: datetime
    responded_at: datetime | None
    decline_reason: str | None
    requested_by_name: str
    can_resend: bool
    can_withdraw: bool
    replaced_on: datetime | None = None  # when the request that replaced this one was sent
    paused: bool = False  # Pending, but the plan has no partnerships now: its link does not work


@dataclass(frozen=True)
class IncomingRequestRow:
    """A pending request addressed to one of the user's confirmed email addresses."""

    request_id: int
    firm_name: str
    requester_name: str
    organisation_name: str
    software_name: str
    client_email: str
    created_at: datetime
    expires_at: datetime


def _matches_client(term: str) -> ColumnElement[bool]:
    """Client name, client email or organisation name contains ``term``, case-insensitively.

    Written as ``lower(column) LIKE lower('%term%')`` (not ILIKE) so that on PostgreSQL the GIN
    trigram indexes on ``lower(client_name)`` and ``lower(client_email)`` serve it (migration
    "postgresql search indexes"); SQLite reads it as its ILIKE. ``organisation_name`` has no such
    index yet: within one environment's requests the scan is bounded.
    """
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = func.lower(f"%{escaped}%")
    return or_(
        func.lower(AuthorisationRequest.client_name).like(pattern, escape="\\"),
        func.lower(AuthorisationRequest.client_email).like(pattern, escape="\\"),
        func.lower(AuthorisationRequest.organisation_name).like(pattern, escape="\\"),
    )


def list_requests(
    session: Session,
    *,
    actor: User,
    status: str | None = None,
    search: str = "",
    limit: int = 200,
) -> list[RequestRow]:
    """The environment's requests, newest first, optionally by status and by a search term found in
    the client's name or email or the organisation's name.

    ``status`` and the rows' status are as of now (a Pending request past its expiry is Expired).
    """
    actor = require_manager(session, actor)
    if status and status not in STATUS_CHOICES:
        raise ValidationFailed({"status": "Choose Pending, Accepted, Declined, Withdrawn or Expired."})
    now = utcnow()
    replacement = aliased(AuthorisationRequest)
    statement = (
        select(
            AuthorisationRequest,
            current_status(now),
            SoftwarePackage.name,
            User.name,
            User.email,
            replacement.created_at,
        )
        .join(SoftwarePackage, col(SoftwarePackage.id) == col(AuthorisationRequest.software_package_id))
        .join(User, col(User.id) == col(AuthorisationRequest.requested_by_id))
        .outerjoin(replacement, replacement.id == AuthorisationRequest.replaced_by_id)
        .where(AuthorisationRequest.environment_id == actor.environment_id)
    )
    paused = not environment_has_partnerships(session, environment_id=actor.environment_id)
    if status:
        statement = statement.where(has_status(status, now))
    term = " ".join(without_nul(search or "").split())
    if term:
        statement = statement.where(_matches_client(term))
    statement = statement.order_by(
        col(AuthorisationRequest.created_at).desc(), col(AuthorisationRequest.id).desc()
    ).limit(max(1, min(int(limit), 1000)))
    statement = statement.execution_options(populate_existing=True)

    rows: list[RequestRow] = []
    for request, status_now, software_name, requester_name, requester_email, replaced_on in session.exec(
        statement
    ):
        pending = status_now == PENDING
        rows.append(
            RequestRow(
                id=request.id,
                client_name=request.client_name,
                client_email=request.client_email,
                organisation_name=request.organisation_name,
                software_name=software_name,
                status=status_now,
                created_at=request.created_at,
                last_sent_at=request.last_sent_at,
                expires_at=request.expires_at,
                responded_at=request.responded_at,
                decline_reason=request.decline_reason,
                requested_by_name=requester_name or requester_email,
                can_resend=pending and not paused,
                can_withdraw=pending,
                replaced_on=replaced_on,
                paused=pending and paused,
            )
        )
    return rows


def count_pending(session: Session, *, environment_id: int) -> int:
    """How many of the environment's requests are Pending and not past their expiry."""
    statement = (
        select(func.count())
        .select_from(AuthorisationRequest)
        .where(AuthorisationRequest.environment_id == environment_id, has_status(PENDING, utcnow()))
    )
    return int(session.exec(statement).one())


def incoming_requests(session: Session, *, user: User) -> list[IncomingRequestRow]:
    """Pending, unexpired requests addressed to the user's confirmed addresses, newest first.

    An address nobody confirmed lists nothing: a request to it is reached only through its emailed
    link. Requests from the user's own environment are left out (they cannot be accepted there).
    """
    user = load_actor(session, user)
    statement = (
        select(AuthorisationRequest, Environment, User, SoftwarePackage)
        .join(Environment, col(Environment.id) == col(AuthorisationRequest.environment_id))
        .join(User, col(User.id) == col(AuthorisationRequest.requested_by_id))
        .join(SoftwarePackage, col(SoftwarePackage.id) == col(AuthorisationRequest.software_package_id))
        .where(
            has_status(PENDING, utcnow()),
            func.lower(AuthorisationRequest.client_email).in_(confirmed_addresses(session, user=user)),
            AuthorisationRequest.environment_id != user.environment_id,
        )
        .order_by(col(AuthorisationRequest.created_at).desc(), col(AuthorisationRequest.id).desc())
    )
    return [
        IncomingRequestRow(
            request_id=request.id,  # type: ignore[arg-type]
            firm_name=firm.name,
            requester_name=display_name(requester),
            organisation_name=request.organisation_name,
            software_name=package.name,
            client_email=request.client_email,
            created_at=request.created_at,
            expires_at=request.expires_at,
        )
        for request, firm, requester, package in session.exec(statement)
    ]
