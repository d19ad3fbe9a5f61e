"""Partnerships between two environments, and the client organisations they give access to.

The only home of partnership queries: the dashboard, the access rules, the keys page and the API
all ask these functions.

A partnership is symmetric. It is stored as an ordered pair (``environment_low_id`` <
``environment_high_id``); a partial unique index allows one Active partnership per pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app.models import (
    Environment,
    Organisation,
    Partnership,
    PartnershipStatus,
    Role,
    User,
)
from econnect_app.services import memberships
from econnect_app.services.errors import Conflict
from econnect_app.services.permissions import load_actor, require_role


@dataclass(frozen=True)
class PartnershipRow:
    """One line of the partnerships list, seen from the actor's environment."""

    id: int
    partner_environment_id: int
    partner_name: str
    status: str
    created_at: datetime
    cost_allocation: str
    client_organisation_count: int


def _ordered_pair(environment_id: int, partner_environment_id: int) -> tuple[int, int]:
    if environment_id == partner_environment_id:
        raise Conflict("An environment cannot be its own partner.")
    low, high = sorted((environment_id, partner_environment_id))
    return low, high


def active_partnership(
    session: Session, *, environment_id: int, partner_environment_id: int
) -> Partnership | None:
    """The active partnership of the two environments (either order), if any."""
    if environment_id == partner_environment_id:
        return None
    low, high = _ordered_pair(environment_id, partner_environment_id)
    statement = select(Partnership).where(
        Partnership.environment_low_id == low,
        Partnership.environment_high_id == high,
        Partnership.status == PartnershipStatus.ACTIVE.value,
    )
    return session.exec(statement).first()


def _ensure_transaction_begun(session: Session) -> None:
    """Make sure the database transaction really began before a SAVEPOINT (pysqlite only).

    Python's sqlite3 module issues BEGIN lazily, before the first INSERT/UPDATE/DELETE. A SAVEPOINT
    sent before that starts the transaction itself, and releasing it would COMMIT everything.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")


def get_or_create_partnership(
    session: Session,
    *,
    environment_id: int,
    partner_environment_id: int,
    initiator_environment_id: int,
    created_via: str,
) -> tuple[Partnership, bool]:
    """Like ``ensure_partnership``, also telling whether this call created it."""
    low, high = _ordered_pair(environment_id, partner_environment_id)
    existing = active_partnership(
        session, environment_id=environment_id, partner_environment_id=partner_environment_id
    )
    if existing is not None:
        return existing, False
    partnership = Partnership(
        environment_low_id=low,
        environment_high_id=high,
        initiator_environment_id=initiator_environment_id,
        status=PartnershipStatus.ACTIVE.value,
        created_via=created_via,
    )
    _ensure_transaction_begun(session)
    try:
        with session.begin_nested():
            session.add(partnership)
            session.flush()
    except IntegrityError:
        # Another transaction created the active partnership of this pair meanwhile.
        existing = active_partnership(
            session, environment_id=environment_id, partner_environment_id=partner_environment_id
        )
        if existing is None:
            raise
        return existing, False
    return partnership, True


def ensure_partnership(
    session: Session,
    *,
    environment_id: int,
    partner_environment_id: int,
    initiator_environment_id: int,
    created_via: str,
) -> Partnership:
    """The active partnership of the pair, created if there is none (does not commit).

    Safe against a concurrent creation of the same pair: the insert runs in a SAVEPOINT and, when
    the unique index refuses it, the partnership the other transaction created is returned.
    """
    partnership, _ = get_or_create_partnership(
        session,
        environment_id=environment_id,
        partner_environment_id=partner_environment_id,
        initiator_environment_id=initiator_environment_id,
        created_via=created_via,
    )
    return partnership


def _partner_of(partnership: Partnership, environment_id: int) -> int:
    if partnership.environment_low_id == environment_id:
        return partnership.environment_high_id
    return partnership.environment_low_id


def _client_organisations_statement(environment_id: int, partner_ids: list[int]):  # type: ignore[no-untyped-def]
    """Organisations of ``partner_ids`` with a member who is an active user of the environment."""
    return select(Organisation).where(
        col(Organisation.environment_id).in_(partner_ids),
        col(Organisation.id).in_(memberships.organisations_with_member_from(environment_id)),
    )


def _involving(environment_id: int) -> ColumnElement[bool]:
    """Active partnerships with ``environment_id`` on either side."""
    return (col(Partnership.status) == PartnershipStatus.ACTIVE.value) & or_(
        col(Partnership.environment_low_id) == environment_id,
        col(Partnership.environment_high_id) == environment_id,
    )


def _active_partnerships(session: Session, *, environment_id: int) -> list[Partnership]:
    return list(session.exec(select(Partnership).where(_involving(environment_id))))


def count_active_partnerships(session: Session, *, environment_id: int) -> int:
    """How many active partnerships an environment has."""
    statement = select(func.count()).select_from(Partnership).where(_involving(environment_id))
    return int(session.exec(statement).one())


def partner_environment_ids(session: Session, *, environment_id: int) -> list[int]:
    """The environments that hold an active partnership with ``environment_id``."""
    statement = select(Partnership.environment_low_id, Partnership.environment_high_id).where(
        _involving(environment_id)
    )
    return [high if low == environment_id else low for low, high in session.exec(statement)]


def has_active_partnership(session: Session, *, environment_a_id: int, environment_b_id: int) -> bool:
    """Whether the two environments hold an active partnership (in either order)."""
    return (
        active_partnership(session, environment_id=environment_a_id, partner_environment_id=environment_b_id)
        is not None
    )


def client_organisations(session: Session, *, environment_id: int) -> list[Organisation]:
    """Client organisations the environment reaches through its active partnerships, by name.

    That is: organisations of a partner environment in which at least one (active) user of
    ``environment_id`` is a member (the same rule as ``access.environment_can_access_organisation``).
    """
    partner_ids = partner_environment_ids(session, environment_id=environment_id)
    if not partner_ids:
        return []
    statement = _client_organisations_statement(environment_id, partner_ids).order_by(
        func.lower(Organisation.name), col(Organisation.id)
    )
    return list(session.exec(statement))


def _count_client_organisations(session: Session, *, environment_id: int, partner_ids: list[int]) -> int:
    if not partner_ids:
        return 0
    subquery = _client_organisations_statement(environment_id, partner_ids).subquery()
    return int(session.exec(select(func.count()).select_from(subquery)).one())


def count_client_organisations(session: Session, *, environment_id: int) -> int:
    """How many client organisations the environment reaches through its partnerships."""
    return _count_client_organisations(
        session,
        environment_id=environment_id,
        partner_ids=partner_environment_ids(session, environment_id=environment_id),
    )


def list_partnerships(session: Session, *, actor: User) -> list[PartnershipRow]:
    """The active partnerships of the actor's environment, by partner name.

    Advanced users and Administrators only.
    """
    actor = require_role(load_actor(session, actor), Role.ADMINISTRATOR, Role.ADVANCED_USER)
    environment_id = actor.environment_id
    rows: list[PartnershipRow] = []
    for partnership in _active_partnerships(session, environment_id=environment_id):
        partner_id = _partner_of(partnership, environment_id)
        partner = session.get(Environment, partner_id)
        client_count = _count_client_organisations(
            session, environment_id=environment_id, partner_ids=[partner_id]
        )
        rows.append(
            PartnershipRow(
                id=partnership.id,  # type: ignore[arg-type]
                partner_environment_id=partner_id,
                partner_name=partner.name if partner else "",
                status=partnership.status,
                created_at=partnership.created_at,
                cost_allocation=partnership.cost_allocation,
                client_organisation_count=client_count,
            )
        )
    rows.sort(key=lambda row: (row.partner_name.lower(), row.id))
    return rows
