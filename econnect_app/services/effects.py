"""What a committed write causes, by construction rather than by each service remembering it.

- **Live change.** Every flush notes which environments the written rows belong to (an
  organisation's environment, both sides of a partnership, the requester and the client of an
  authorisation request, ...). When the transaction commits, each of them is published once on
  ``econnect_app.live``; a rollback forgets them. No service calls ``live`` itself.
- **Activity.** A use case (``transaction.committing``) that writes product data (every table
  but the bookkeeping ones below) must add an ``ActivityLog`` row in the same transaction,
  otherwise ``MissingActivity`` is raised before anything is committed: a forgotten log line
  fails the tests instead of going unnoticed.

A bulk ``UPDATE``/``INSERT`` statement bypasses the flush; a use case that writes only that way
names the environment itself with ``changed(session, environment_id)``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from econnect_app import live
from econnect_app.models import (
    AccountingConfiguration,
    ActivityLog,
    AppConnection,
    AuthorisationLink,
    AuthorisationRequest,
    ClientConnectLink,
    Document,
    DocumentDelivery,
    Environment,
    ExportSetting,
    LoginAttempt,
    Membership,
    Notification,
    NotificationRead,
    OAuthAuthorisation,
    OneTimeToken,
    Organisation,
    OutboxMessage,
    Partnership,
    PartnershipManager,
    RelationshipRequest,
    RelationshipRequestLink,
    SoftwarePackage,
    User,
    UserEmail,
    UserSession,
)

logger = logging.getLogger(__name__)

_INFO_KEY = "econnect.effects"

# Rows that record or support what happened rather than being what happened: no activity needed.
BOOKKEEPING_TABLES: frozenset[type] = frozenset(
    {
        ActivityLog,
        AuthorisationLink,
        DocumentDelivery,
        LoginAttempt,
        Notification,
        NotificationRead,
        OAuthAuthorisation,
        OneTimeToken,
        OutboxMessage,
        RelationshipRequestLink,
        SoftwarePackage,
        UserSession,
    }
)
# Rows nobody's open page shows: writing them publishes nothing.
UNSEEN_TABLES: frozenset[type] = frozenset(
    {
        AuthorisationLink,
        LoginAttempt,
        OAuthAuthorisation,
        OneTimeToken,
        OutboxMessage,
        RelationshipRequestLink,
        SoftwarePackage,
        UserSession,
    }
)
# Attributes whose change alone is neither product data nor anything a page shows.
QUIET_ATTRIBUTES: dict[type, frozenset[str]] = {
    User: frozenset({"last_login_at", "password_hash", "password_changed_at"}),
}


class MissingActivity(RuntimeError):
    """A use case changed product data without recording it in the activity log (a bug)."""


@dataclass
class _Pending:
    """What the session's current transaction has written so far."""

    environments: set[int] = field(default_factory=set)
    audited_tables: set[str] = field(default_factory=set)
    activity_rows: int = 0


def _pending(session: Session) -> _Pending:
    pending = session.info.get(_INFO_KEY)
    if pending is None:
        pending = session.info[_INFO_KEY] = _Pending()
    return pending


def _environment_of_user(connection: Connection, user_id: int | None) -> Iterable[int | None]:
    if user_id is None:
        return ()
    return (connection.execute(select(User.environment_id).where(User.id == user_id)).scalar(),)


def _environment_of_organisation(connection: Connection, organisation_id: int | None) -> Iterable[int | None]:
    if organisation_id is None:
        return ()
    statement = select(Organisation.environment_id).where(Organisation.id == organisation_id)
    return (connection.execute(statement).scalar(),)


def _environments_of_partnership(connection: Connection, partnership_id: int | None) -> Iterable[int | None]:
    if partnership_id is None:
        return ()
    statement = select(Partnership.environment_low_id, Partnership.environment_high_id).where(
        Partnership.id == partnership_id
    )
    return tuple(connection.execute(statement).first() or ())


def _environments_seeing_organisation(connection: Connection, organisation_id: int | None) -> Iterable[int | None]:
    """An organisation's own environment and every environment with an Active member of it."""
    if organisation_id is None:
        return ()
    members = (
        select(User.environment_id)
        .join(Membership, Membership.user_id == User.id)  # type: ignore[arg-type]
        .where(Membership.organisation_id == organisation_id, Membership.status == "Active")
        .distinct()
    )
    return (*_environment_of_organisation(connection, organisation_id), *connection.execute(members).scalars())


# Tables whose rows concern more (or other) environments than their own ``environment_id``.
_ENVIRONMENTS_OF: dict[type, Callable[[Connection, Any], Iterable[int | None]]] = {
    Environment: lambda _c, row: (row.id,),
    Partnership: lambda _c, row: (row.environment_low_id, row.environment_high_id),
    AuthorisationRequest: lambda _c, row: (row.environment_id, row.client_environment_id),
    Membership: lambda c, row: (
        *_environment_of_organisation(c, row.organisation_id),
        *_environment_of_user(c, row.user_id),
    ),
    NotificationRead: lambda c, row: _environment_of_user(c, row.user_id),
    UserEmail: lambda c, row: _environment_of_user(c, row.user_id),
    PartnershipManager: lambda c, row: _environments_of_partnership(c, row.partnership_id),
    RelationshipRequest: lambda _c, row: (row.requester_environment_id, row.target_environment_id),
    UserSession: lambda c, row: _environment_of_user(c, row.user_id),
    Document: lambda c, row: _environments_seeing_organisation(c, row.organisation_id),
    AppConnection: lambda c, row: (row.environment_id, *_environment_of_organisation(c, row.organisation_id)),
    ExportSetting: lambda c, row: (row.environment_id, *_environment_of_organisation(c, row.organisation_id)),
    ClientConnectLink: lambda _c, row: (row.environment_id,),
    AccountingConfiguration: lambda _c, row: (row.environment_id,),
    DocumentDelivery: lambda _c, row: (row.environment_id,),
}


def environments_of(connection: Connection, row: Any) -> set[int]:
    """The environments whose pages may show ``row``."""
    finder = _ENVIRONMENTS_OF.get(type(row))
    if finder is not None:
        found = finder(connection, row)
    else:
        found = (getattr(row, "environment_id", None),)
    return {int(environment_id) for environment_id in found if environment_id is not None}


def _really_changed(session: Session, row: Any) -> bool:
    """Whether a dirty row has a net change outside its quiet attributes."""
    if not session.is_modified(row, include_collections=False):
        return False
    quiet = QUIET_ATTRIBUTES.get(type(row), frozenset())
    state = inspect(row)
    return any(
        attribute.key not in quiet and attribute.history.has_changes() for attribute in state.attrs
    )


def _is_revocation(row: Any) -> bool:
    """A login session just revoked (log-out, password change, block): though no page shows
    sessions, the user's open pages must leave at once, so its environment is published."""
    return (
        isinstance(row, UserSession)
        and row.revoked_at is not None
        and inspect(row).attrs.revoked_at.history.has_changes()
    )


def _after_flush(session: Session, _flush_context: Any) -> None:
    pending = _pending(session)
    connection = session.connection()
    changed = [*session.new, *session.deleted]
    changed += [row for row in session.dirty if _really_changed(session, row)]
    for row in changed:
        table = type(row)
        if table is ActivityLog:
            pending.activity_rows += 1
        elif table not in BOOKKEEPING_TABLES:
            pending.audited_tables.add(getattr(table, "__tablename__", table.__name__))
        if table not in UNSEEN_TABLES or _is_revocation(row):
            pending.environments |= environments_of(connection, row)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT was released: the transaction goes on
        return
    pending = session.info.pop(_INFO_KEY, None)
    if pending is None:
        return
    for environment_id in sorted(pending.environments):
        live.publish_environment_change(environment_id)


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a SAVEPOINT
        session.info.pop(_INFO_KEY, None)


event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "after_commit", _after_commit)
event.listen(Session, "after_soft_rollback", _after_soft_rollback)


def changed(session: Session, environment_id: int | None) -> None:
    """Publish ``environment_id`` after this transaction commits (for bulk statements)."""
    if environment_id is not None:
        _pending(session).environments.add(int(environment_id))


def require_activity(session: Session) -> None:
    """MissingActivity when the transaction wrote product data but no activity row (flushes first)."""
    session.flush()
    pending = session.info.get(_INFO_KEY)
    if pending is not None and pending.audited_tables and not pending.activity_rows:
        tables = ", ".join(sorted(pending.audited_tables))
        raise MissingActivity(f"A use case wrote {tables} without recording its activity.")
