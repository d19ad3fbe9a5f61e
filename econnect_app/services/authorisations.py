"""The accountant's side of authorisation requests: send, import, resend, withdraw, expire, list.

Life of a request: it is created ``Pending`` with one emailed link (``AuthorisationLink``, only the
token's hash is stored). Resending voids every earlier link and emails a fresh one. A new request to
the same client email from the same environment replaces the pending one (the old one becomes
``Withdrawn`` with ``replaced_by_id``). ``Withdraw`` and expiry void the links. The client's answer
(``Accepted`` / ``Declined``) is written by the activation services. Rows are never deleted and
every status change writes an activity row.

Every change of status goes through a conditional ``UPDATE ... WHERE status = 'Pending'``, so a
concurrent accept, a second click or a second worker cannot act on a request that has just left
``Pending``.

Resend rate limit: at least ``resend_min_interval_minutes`` after ``last_sent_at``, and at most
``resend_max_per_day`` sends in any 24 hours, counted from the request's activity rows
(``authorisation.created`` and ``authorisation.resent``), which are never deleted.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import routes, security
from econnect_app.formatting import format_date
from econnect_app.mail import queue_email
from econnect_app.models import (
    ActivityLog,
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Plan,
    SoftwarePackage,
    User,
    UserEmail,
    utcnow,
)
from econnect_app.services import activity
from econnect_app.services.errors import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)
from econnect_app.services.permissions import can_manage_partnerships, load_actor
from econnect_app.services.software_packages import (
    list_software_packages,
    match_software_package,
)
from econnect_app.services.transaction import committing
from econnect_app.services.validation import (
    FieldError,
    FieldErrors,
    clean_email,
    clean_required,
    without_nul,
)
from econnect_app.settings import get_settings

logger = logging.getLogger(__name__)

PENDING = AuthorisationStatus.PENDING.value
STATUS_CHOICES: tuple[str, ...] = tuple(status.value for status in AuthorisationStatus)
SUBJECT_TYPE = "authorisation_request"
SEND_ACTIONS: tuple[str, ...] = ("authorisation.created", "authorisation.resent")
MAX_IMPORT_ROWS = 500
CSV_COLUMNS: tuple[str, ...] = ("client name", "email", "software package", "organisation")

ROLE_MESSAGE = "Only Advanced users and Administrators can send authorisation requests."
VIEW_ROLE_MESSAGE = "Only Advanced users and Administrators can manage authorisation requests."
PLAN_MESSAGE = (
    "Authorisation requests need the Basic or Professional plan. An administrator can upgrade in Settings."
)
OWN_ADDRESS_MESSAGE = "This address belongs to your own environment."
CHOOSE_PACKAGE_MESSAGE = "Choose a software package."
NOT_FOUND_MESSAGE = "This authorisation request does not exist."
ONLY_PENDING_RESEND = "Only pending requests can be resent."
ONLY_PENDING_WITHDRAW = "Only pending requests can be withdrawn."
RACE_MESSAGE = (
    "Another request to this email address was sent at the same moment. Refresh the list and try again."
)
MISSING_COLUMNS_MESSAGE = (
    "The first row must name the columns: client name, email, software package and organisation."
)

# CSV header spellings (lower case, "_" and "-" read as spaces) -> the field they fill.
_HEADER_ALIASES: dict[str, str] = {
    "client name": "client_name",
    "clientname": "client_name",
    "client": "client_name",
    "name": "client_name",
    "client email": "client_email",
    "clientemail": "client_email",
    "client email address": "client_email",
    "email": "client_email",
    "e mail": "client_email",
    "email address": "client_email",
    "e mail address": "client_email",
    "software package": "software_package",
    "softwarepackage": "software_package",
    "software": "software_package",
    "package": "software_package",
    "accounting software": "software_package",
    "organisation": "organisation",
    "organization": "organisation",
    "organisation name": "organisation",
    "organization name": "organisation",
}
_CSV_FIELDS: tuple[str, ...] = ("client_name", "client_email", "software_package", "organisation")
_CSV_FIELD_LABELS = {
    "client_name": "client name",
    "client_email": "email",
    "software_package": "software package",
    "organisation": "organisation",
}


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


@dataclass(frozen=True)
class RowError:
    """Why one CSV line created nothing (``line`` counts from 1, the header being line 1)."""

    line: int
    message: str


@dataclass(frozen=True)
class BulkImportResult:
    """Ids of the requests a CSV import created and the lines it refused."""

    created: list[int]
    errors: list[RowError]


@dataclass(frozen=True)
class _CleanRequest:
    client_name: str
    client_email: str
    package: SoftwarePackage
    organisation_name: str


# --- helpers ------------------------------------------------------------------------------------


def _label(user: User) -> str:
    return user.name or user.email


def _describe(request: AuthorisationRequest) -> str:
    return f"{request.client_name} ({request.client_email}) for {request.organisation_name}"


def _require_manager(session: Session, actor: User, message: str) -> User:
    actor = load_actor(session, actor)
    if not can_manage_partnerships(actor):
        raise PermissionDenied(message)
    return actor


def _require_sender(session: Session, actor: User) -> tuple[User, Environment]:
    """The fresh actor and their environment, if they may send requests (role, then plan)."""
    actor = _require_manager(session, actor, ROLE_MESSAGE)
    environment = session.get(Environment, actor.environment_id)
    assert environment is not None
    if environment.plan not in (Plan.BASIC.value, Plan.PROFESSIONAL.value):
        raise PlanLimitReached(PLAN_MESSAGE)
    return actor, environment


def _get_own_request(session: Session, *, actor: User, request_id: int) -> AuthorisationRequest:
    request = session.get(AuthorisationRequest, request_id, populate_existing=True)
    if request is None or request.environment_id != actor.environment_id:
        raise NotFound(NOT_FOUND_MESSAGE)
    return request


def _is_own_address(session: Session, *, environment_id: int, email: str) -> bool:
    """Whether a user of the environment has this primary or additional address."""
    primary = select(User.id).where(User.environment_id == environment_id, func.lower(User.email) == email)
    if session.exec(primary).first() is not None:
        return True
    additional = (
        select(UserEmail.id)
        .join(User, col(User.id) == col(UserEmail.user_id))
        .where(User.environment_id == environment_id, func.lower(UserEmail.email) == email)
    )
    return session.exec(additional).first() is not None


def _package_by_id_or_name(session: Session, value: int | str) -> SoftwarePackage | None:
    """The package the form chose: its id (int or digits), or else its name or slug."""
    if isinstance(value, int) and not isinstance(value, bool):
        return session.get(SoftwarePackage, value) if 0 < value < 2**31 else None
    text = str(value or "").strip()
    if not text:
        return None
    if text.isdigit():
        return session.get(SoftwarePackage, int(text)) if len(text) < 10 else None
    return match_software_package(list_software_packages(session), text)


def _clean_input(
    session: Session,
    *,
    environment_id: int,
    client_name: str,
    client_email: str,
    package: SoftwarePackage | None,
    package_message: str,
    organisation_name: str,
    extra: dict[str, str] | None = None,
) -> _CleanRequest:
    """The validated fields, or ValidationFailed with every field's message at once."""
    fields = FieldErrors()
    clean_name = fields.check("client_name", clean_required, client_name, label="the client's name")
    clean_address = fields.check("client_email", clean_email, client_email)
    if clean_address and _is_own_address(session, environment_id=environment_id, email=clean_address):
        fields.add("client_email", OWN_ADDRESS_MESSAGE)
    for field, message in (extra or {}).items():
        fields.add(field, message)
    if package is None:
        fields.add("software_package", package_message)
    clean_organisation = fields.check(
        "organisation", clean_required, organisation_name, label="the organisation name"
    )
    fields.raise_if_any()
    assert package is not None
    return _CleanRequest(
        client_name=clean_name,
        client_email=clean_address,
        package=package,
        organisation_name=clean_organisation,
    )


def _try_transition(session: Session, request: AuthorisationRequest, **values: Any) -> bool:
    """Change the request only if it is still Pending and unchanged since it was read.

    ``send_count`` is part of the condition, so two resends of one version cannot both pass.
    """
    result = session.execute(
        update(AuthorisationRequest)
        .where(
            col(AuthorisationRequest.id) == request.id,
            col(AuthorisationRequest.status) == PENDING,
            col(AuthorisationRequest.send_count) == request.send_count,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(request)
    return True


def _transition(session: Session, request: AuthorisationRequest, message: str, **values: Any) -> None:
    """Like ``_try_transition``, but Conflict(message) when the request changed meanwhile."""
    if not _try_transition(session, request, **values):
        raise Conflict(message)


def _void_links(session: Session, *, request_id: int, now: datetime) -> None:
    session.execute(
        update(AuthorisationLink)
        .where(
            col(AuthorisationLink.request_id) == request_id,
            col(AuthorisationLink.voided_at).is_(None),
        )
        .values(voided_at=now)
        .execution_options(synchronize_session=False)
    )


def _issue_link_and_email(
    session: Session,
    *,
    request: AuthorisationRequest,
    requester: User,
    environment: Environment,
    package: SoftwarePackage,
) -> None:
    """Add a fresh link to the request and queue the email with it (caller's transaction)."""
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
            "requester_name": _label(requester),
            "organisation_name": request.organisation_name,
            "software_name": package.name,
            "link": routes.absolute(routes.activate(raw)),
            "expires_on": format_date(request.expires_at),
            "expires_days": days,
            "what_accepting_grants": (
                f"Accepting creates a partnership between {firm} and your environment on "
                f"eConnect: {firm} becomes a member of {request.organisation_name} and can "
                f"retrieve the connection keys for your accounting software ({package.name}). "
                "You can end the partnership at any time."
            ),
        },
        environment_id=environment.id,
    )


def _pending_request_for(
    session: Session, *, environment_id: int, client_email: str
) -> AuthorisationRequest | None:
    statement = select(AuthorisationRequest).where(
        AuthorisationRequest.environment_id == environment_id,
        AuthorisationRequest.client_email == client_email,
        AuthorisationRequest.status == PENDING,
    )
    return session.exec(statement.execution_options(populate_existing=True)).first()


def _record_activity(
    session: Session, request: AuthorisationRequest, *, actor: User | None, action: str, summary: str
) -> None:
    """An activity row about one request, in the requesting environment's log."""
    activity.record(
        session,
        environment_id=request.environment_id,
        actor=actor,
        action=action,
        summary=summary,
        subject_type=SUBJECT_TYPE,
        subject_id=request.id,
    )


def _write_new_request(
    session: Session, *, actor: User, environment: Environment, clean: _CleanRequest
) -> AuthorisationRequest:
    """One transaction: replace a pending request to the same email, add the new one, email it."""
    now = utcnow()
    with committing(session):
        previous = _pending_request_for(
            session, environment_id=environment.id, client_email=clean.client_email
        )
        if previous is not None and _try_transition(
            session, previous, status=AuthorisationStatus.WITHDRAWN.value
        ):
            _void_links(session, request_id=previous.id, now=now)
        else:
            previous = None  # answered meanwhile: nothing to replace (the index guards the rest)
        request = AuthorisationRequest(
            environment_id=environment.id,
            requested_by_id=actor.id,
            client_name=clean.client_name,
            client_email=clean.client_email,
            organisation_name=clean.organisation_name,
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
            _record_activity(
                session,
                previous,
                actor=actor,
                action="authorisation.replaced",
                summary=(
                    f"{_label(actor)} replaced the pending authorisation request to "
                    f"{_describe(previous)} with a new request."
                ),
            )
        _issue_link_and_email(
            session, request=request, requester=actor, environment=environment, package=clean.package
        )
        _record_activity(
            session,
            request,
            actor=actor,
            action="authorisation.created",
            summary=f"{_label(actor)} sent an authorisation request to {_describe(request)}.",
        )
    return request


def _create_checked(
    session: Session,
    *,
    actor: User,
    environment: Environment,
    clean: _CleanRequest,
) -> AuthorisationRequest:
    """Write the request; on a clash with a concurrent one (unique index) try once more."""
    try:
        request = _write_new_request(session, actor=actor, environment=environment, clean=clean)
    except IntegrityError:
        try:
            request = _write_new_request(session, actor=actor, environment=environment, clean=clean)
        except IntegrityError:
            raise Conflict(RACE_MESSAGE) from None
    return request


# --- use cases ----------------------------------------------------------------------------------


def why_cannot_send(session: Session, *, actor: User) -> str | None:
    """None when the actor may send authorisation requests, else the sentence to show instead."""
    try:
        _require_sender(session, actor)
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

    A pending request from this environment to the same email is replaced (its link stops working).
    """
    actor, environment = _require_sender(session, actor)
    clean = _clean_input(
        session,
        environment_id=environment.id,
        client_name=client_name,
        client_email=client_email,
        package=_package_by_id_or_name(session, software_package_id),
        package_message=CHOOSE_PACKAGE_MESSAGE,
        organisation_name=organisation_name,
    )
    return _create_checked(session, actor=actor, environment=environment, clean=clean)


def _csv_rows(csv_text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of every non-blank record; ";", "," or tab separated, BOM ok."""
    text = (csv_text or "").lstrip("\ufeff")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous_line = 0
    for row in reader:
        line = previous_line + 1
        previous_line = reader.line_num
        if any(cell.strip() for cell in row):
            yield line, row


def _header_columns(header: list[str]) -> dict[str, int]:
    """Field name -> column index, from the header row (first spelling of a field wins)."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = " ".join(cell.replace("_", " ").replace("-", " ").lower().split())
        field = _HEADER_ALIASES.get(key)
        if field and field not in columns:
            columns[field] = index
    return columns


def import_requests_csv(session: Session, *, actor: User, csv_text: str) -> BulkImportResult:
    """Create one request per valid CSV row; report every invalid row with its line and reasons.

    Columns (header row required, in any order, ";" or "," separated): client name, email,
    software package (name or slug), organisation. Each row is its own transaction, so valid rows
    are kept whatever the other rows hold. At most ``MAX_IMPORT_ROWS`` rows are read.
    A file without the four columns raises ValidationFailed({"file": ...}).
    """
    actor, environment = _require_sender(session, actor)
    rows = _csv_rows(csv_text)
    first = next(rows, None)
    if first is None:
        raise ValidationFailed({"file": "The file is empty. " + MISSING_COLUMNS_MESSAGE})
    columns = _header_columns(first[1])
    missing = [_CSV_FIELD_LABELS[field] for field in _CSV_FIELDS if field not in columns]
    if missing:
        raise ValidationFailed({"file": f"{MISSING_COLUMNS_MESSAGE} Missing: {', '.join(missing)}."})

    packages = list_software_packages(session)
    package_names = ", ".join(package.name for package in packages)
    created: list[int] = []
    errors: list[RowError] = []
    created_lines: dict[str, int] = {}  # client email -> line that created its request
    for number, (line, row) in enumerate(rows, start=1):
        if number > MAX_IMPORT_ROWS:
            later = sum(1 for _ in rows)
            errors.append(
                RowError(
                    line=line,
                    message=(
                        f"A file can hold at most {MAX_IMPORT_ROWS} requests: this row and the "
                        f"{later} after it were not imported. Upload them in another file."
                    ),
                )
            )
            break
        values = {field: row[index] if index < len(row) else "" for field, index in columns.items()}
        package_text = values["software_package"].strip()
        if package_text:
            package = match_software_package(packages, package_text)
            package_message = f'Unknown software package "{package_text}". Use one of: {package_names}.'
        else:
            package, package_message = None, "Enter the software package."
        extra: dict[str, str] = {}
        try:
            address = clean_email(values["client_email"])
        except FieldError:
            address = ""
        if address in created_lines:
            extra["client_email"] = f"Duplicate of line {created_lines[address]}."
        try:
            clean = _clean_input(
                session,
                environment_id=environment.id,
                client_name=values["client_name"],
                client_email=values["client_email"],
                package=package,
                package_message=package_message,
                organisation_name=values["organisation"],
                extra=extra,
            )
            request = _create_checked(session, actor=actor, environment=environment, clean=clean)
        except ValidationFailed as error:
            errors.append(RowError(line=line, message=" ".join(error.errors.values())))
            continue
        except DomainError as error:
            errors.append(RowError(line=line, message=error.message))
            continue
        created.append(request.id)
        created_lines[clean.client_email] = line
    return BulkImportResult(created=created, errors=errors)


def _sends_since(session: Session, *, request_id: int, since: datetime) -> list[datetime]:
    """When this request's email went out since ``since`` (from its activity rows), oldest first."""
    statement = (
        select(ActivityLog.created_at)
        .where(
            ActivityLog.subject_type == SUBJECT_TYPE,
            ActivityLog.subject_id == request_id,
            col(ActivityLog.action).in_(SEND_ACTIONS),
            col(ActivityLog.created_at) > since,
        )
        .order_by(col(ActivityLog.created_at))
    )
    return list(session.exec(statement))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _check_resend_allowed(session: Session, request: AuthorisationRequest, now: datetime) -> None:
    settings = get_settings()
    interval = timedelta(minutes=settings.resend_min_interval_minutes)
    elapsed = now - request.last_sent_at
    if elapsed < interval:
        ago = int(elapsed.total_seconds() // 60)
        wait = max(1, math.ceil((interval - elapsed).total_seconds() / 60))
        sent = "less than a minute ago" if ago < 1 else f"{_plural(ago, 'minute')} ago"
        raise Conflict(f"This request was sent {sent}. You can resend it after {_plural(wait, 'minute')}.")
    sends = _sends_since(session, request_id=request.id, since=now - timedelta(hours=24))
    if len(sends) >= settings.resend_max_per_day:
        free_at = sends[len(sends) - settings.resend_max_per_day] + timedelta(hours=24)
        hours = max(1, math.ceil((free_at - now).total_seconds() / 3600))
        raise Conflict(
            f"This request was sent {_plural(len(sends), 'time')} in the last 24 hours, the most "
            f"allowed. You can resend it after {_plural(hours, 'hour')}."
        )


def resend_request(session: Session, *, actor: User, request_id: int) -> AuthorisationRequest:
    """Email a pending request again with a fresh link; earlier links stop working (rate-limited)."""
    actor, environment = _require_sender(session, actor)
    request = _get_own_request(session, actor=actor, request_id=request_id)
    if request.status != PENDING:
        raise Conflict(ONLY_PENDING_RESEND)
    now = utcnow()
    _check_resend_allowed(session, request, now)
    package = session.get(SoftwarePackage, request.software_package_id)
    assert package is not None
    with committing(session):
        _transition(
            session,
            request,
            ONLY_PENDING_RESEND,
            expires_at=now + timedelta(days=get_settings().authorisation_link_days),
            last_sent_at=now,
            send_count=request.send_count + 1,
        )
        _void_links(session, request_id=request.id, now=now)
        _issue_link_and_email(
            session, request=request, requester=actor, environment=environment, package=package
        )
        _record_activity(
            session,
            request,
            actor=actor,
            action="authorisation.resent",
            summary=f"{_label(actor)} resent the authorisation request to {_describe(request)}.",
        )
    return request


def withdraw_request(session: Session, *, actor: User, request_id: int) -> AuthorisationRequest:
    """Withdraw a pending request: status Withdrawn, its link stops working."""
    actor = _require_manager(session, actor, VIEW_ROLE_MESSAGE)
    request = _get_own_request(session, actor=actor, request_id=request_id)
    if request.status != PENDING:
        raise Conflict(ONLY_PENDING_WITHDRAW)
    now = utcnow()
    with committing(session):
        _transition(session, request, ONLY_PENDING_WITHDRAW, status=AuthorisationStatus.WITHDRAWN.value)
        _void_links(session, request_id=request.id, now=now)
        _record_activity(
            session,
            request,
            actor=actor,
            action="authorisation.withdrawn",
            summary=f"{_label(actor)} withdrew the authorisation request to {_describe(request)}.",
        )
    return request


def expire_due_requests(session: Session, *, now: datetime | None = None) -> int:
    """Mark every Pending request past its expiry as Expired (links voided, one activity row each).

    Idempotent and safe to run concurrently: a row expires only while it is still Pending. With
    nothing due it is one indexed query and commits nothing.
    """
    now = now or utcnow()
    due = list(
        session.exec(
            select(AuthorisationRequest).where(
                AuthorisationRequest.status == PENDING,
                col(AuthorisationRequest.expires_at) <= now,
            )
        )
    )
    if not due:
        return 0
    expired: list[AuthorisationRequest] = []
    with committing(session):
        for request in due:
            result = session.execute(
                update(AuthorisationRequest)
                .where(
                    col(AuthorisationRequest.id) == request.id,
                    col(AuthorisationRequest.status) == PENDING,
                    col(AuthorisationRequest.expires_at) <= now,
                )
                .values(status=AuthorisationStatus.EXPIRED.value)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                continue
            _void_links(session, request_id=request.id, now=now)
            _record_activity(
                session,
                request,
                actor=None,
                action="authorisation.expired",
                summary=(f"The authorisation request to {_describe(request)} expired without an answer."),
            )
            expired.append(request)
        for request in expired:
            session.refresh(request)
    return len(expired)


def _matches_client(term: str) -> ColumnElement[bool]:
    """Client name or email contains ``term``, case-insensitively.

    Written as ``lower(column) LIKE lower('%term%')`` (not ILIKE) so that on PostgreSQL the GIN
    trigram indexes on ``lower(client_name)`` and ``lower(client_email)`` serve it (migration
    "postgresql search indexes"); SQLite reads it as its ILIKE.
    """
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = func.lower(f"%{escaped}%")
    return or_(
        func.lower(AuthorisationRequest.client_name).like(pattern, escape="\\"),
        func.lower(AuthorisationRequest.client_email).like(pattern, escape="\\"),
    )


def list_requests(
    session: Session,
    *,
    actor: User,
    status: str | None = None,
    search: str = "",
    limit: int = 200,
) -> list[RequestRow]:
    """The environment's requests, newest first, optionally by status and client name or email."""
    actor = _require_manager(session, actor, VIEW_ROLE_MESSAGE)
    if status and status not in STATUS_CHOICES:
        raise ValidationFailed({"status": "Choose Pending, Accepted, Declined, Withdrawn or Expired."})
    expire_due_requests(session)

    statement = (
        select(AuthorisationRequest, SoftwarePackage.name, User.name, User.email)
        .join(SoftwarePackage, col(SoftwarePackage.id) == col(AuthorisationRequest.software_package_id))
        .join(User, col(User.id) == col(AuthorisationRequest.requested_by_id))
        .where(AuthorisationRequest.environment_id == actor.environment_id)
    )
    if status:
        statement = statement.where(AuthorisationRequest.status == status)
    term = " ".join(without_nul(search or "").split())
    if term:
        statement = statement.where(_matches_client(term))
    statement = statement.order_by(
        col(AuthorisationRequest.created_at).desc(), col(AuthorisationRequest.id).desc()
    ).limit(max(1, min(int(limit), 1000)))
    statement = statement.execution_options(populate_existing=True)

    rows: list[RequestRow] = []
    for request, software_name, requester_name, requester_email in session.exec(statement):
        pending = request.status == PENDING
        rows.append(
            RequestRow(
                id=request.id,
                client_name=request.client_name,
                client_email=request.client_email,
                organisation_name=request.organisation_name,
                software_name=software_name,
                status=request.status,
                created_at=request.created_at,
                last_sent_at=request.last_sent_at,
                expires_at=request.expires_at,
                responded_at=request.responded_at,
                decline_reason=request.decline_reason,
                requested_by_name=requester_name or requester_email,
                can_resend=pending,
                can_withdraw=pending,
            )
        )
    return rows


def count_pending(session: Session, *, environment_id: int) -> int:
    """How many of the environment's requests are Pending (after expiring due ones)."""
    expire_due_requests(session)
    statement = (
        select(func.count())
        .select_from(AuthorisationRequest)
        .where(
            AuthorisationRequest.environment_id == environment_id,
            AuthorisationRequest.status == PENDING,
        )
    )
    return int(session.exec(statement).one())
