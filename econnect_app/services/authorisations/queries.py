"""Reads: the accountant's list and count, the client's incoming requests. Reads never write.

Expiry is computed as of the moment of reading: a request still stored as Pending but past its
``expires_at`` is listed as Expired (not resendable, not withdrawable), is not counted as pending
and is filtered as Expired, in SQL, so filters, counts and limits agree on every database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.formatting import display_name
from econnect_app.models import AuthorisationRequest, Environment, SoftwarePackage, User, utcnow
from econnect_app.services import paging
from econnect_app.services.authorisations._common import (
    PENDING,
    STATUS_CHOICES,
    current_status,
    has_status,
    require_manager,
)
from econnect_app.services.errors import ValidationFailed
from econnect_app.services.paging import ListQuery, Page
from econnect_app.services.permissions import environment_has_partnerships, load_actor
from econnect_app.services.user_emails import confirmed_addresses


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


REQUEST_SORT_KEYS = ("client", "organisation", "status", "sent", "sent_by", "last_sent", "expires")
DEFAULT_SORT = "sent"  # newest first


def _requests_statement(
    *, environment_id: int, status: str | None, search: str, now: datetime
) -> Any:
    """The environment's requests with what a row shows, by status as of ``now`` and by a search
    term found in the client's name or email or the organisation's name."""
    if status and status not in STATUS_CHOICES:
        raise ValidationFailed(
            {"status": i18n.gettext("Choose Pending, Accepted, Declined, Withdrawn or Expired.")}
        )
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
        .where(AuthorisationRequest.environment_id == environment_id)
    )
    if status:
        statement = statement.where(has_status(status, now))
    term = paging.search_text(search)
    if term:
        # lower(column) LIKE: the GIN trigram indexes on the three lowered columns serve it on
        # PostgreSQL (migrations "postgresql search indexes" and cafed0a4a24e).
        statement = statement.where(
            paging.contains_text(
                term,
                AuthorisationRequest.client_name,
                AuthorisationRequest.client_email,
                AuthorisationRequest.organisation_name,
            )
        )
    return statement


def _sort_columns(now: datetime) -> dict[str, Any]:
    return {
        "client": func.lower(AuthorisationRequest.client_name),
        "organisation": func.lower(AuthorisationRequest.organisation_name),
        "status": current_status(now),
        "sent": col(AuthorisationRequest.created_at),
        "sent_by": func.lower(func.coalesce(User.name, User.email)),
        "last_sent": col(AuthorisationRequest.last_sent_at),
        "expires": col(AuthorisationRequest.expires_at),
    }


def requests_page(
    session: Session,
    *,
    actor: User,
    query: ListQuery = ListQuery(),
    status: str | None = None,
) -> Page[RequestRow]:
    """One page of the environment's requests (newest first unless ``query`` sorts otherwise),
    optionally by status and by a search term found in the client's name or email or the
    organisation's name.

    ``status`` and the rows' status are as of now (a Pending request past its expiry is Expired).
    """
    actor = require_manager(session, actor)
    now = utcnow()
    statement = _requests_statement(
        environment_id=actor.environment_id, status=status, search=query.search, now=now
    ).execution_options(populate_existing=True)
    page = paging.page_of(
        session,
        statement,
        query=query,
        sort_columns=_sort_columns(now),
        default_sort=DEFAULT_SORT,
        default_descending=True,
        tiebreaker=col(AuthorisationRequest.id),
    )
    paused = not environment_has_partnerships(session, environment_id=actor.environment_id)
    return page.map(lambda row: _request_row(row, paused=paused))


def matching_request_ids(
    session: Session, *, actor: User, status: str | None = None, search: str = ""
) -> list[int]:
    """The ids of every request the list shows with this filter, newest first (for "all matching")."""
    actor = require_manager(session, actor)
    statement = _requests_statement(
        environment_id=actor.environment_id, status=status, search=search, now=utcnow()
    )
    ids = statement.with_only_columns(col(AuthorisationRequest.id)).order_by(
        col(AuthorisationRequest.created_at).desc(), col(AuthorisationRequest.id).desc()
    )
    return [int(row[0]) for row in session.exec(ids)]


def _request_row(row: Any, *, paused: bool) -> RequestRow:
    request, status_now, software_name, requester_name, requester_email, replaced_on = row
    pending = status_now == PENDING
    return RequestRow(
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
