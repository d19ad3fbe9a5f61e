"""Partnerships between two environments, and the client organisations they give access to.

The only home of partnership queries: the dashboard, the access rules, the keys page and the API
all ask these functions.

A partnership is symmetric. It is stored as an ordered pair (``environment_low_id`` <
``environment_high_id``); a partial unique index allows one Active partnership per pair.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.models import (
    Organisation,
    Partnership,
    PartnershipStatus,
)
from econnect_app.services import memberships
from econnect_app.services.errors import Conflict, NotFound

PARTNERSHIP_NOT_FOUND = i18n.N_("This partnership does not exist or is not one of yours.")


def _ordered_pair(environment_id: int, partner_environment_id: int) -> tuple[int, int]:
    if environment_id == partner_environment_id:
        raise Conflict(i18n.gettext("An environment cannot be its own partner."))
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


def partner_of(partnership: Partnership, environment_id: int) -> int:
    """The other side of a partnership, seen from ``environment_id``."""
    if partnership.environment_low_id == environment_id:
        return partnership.environment_high_id
    return partnership.environment_low_id


def intermediary_of(partnership: Partnership) -> int:
    """The intermediary side: the environment that started the partnership (sent the
    authorisation or relationship request). The other side is the client."""
    return partnership.initiator_environment_id


def partnership_of(session: Session, *, environment_id: int, partnership_id: int) -> Partnership:
    """A partnership (active or ended) that ``environment_id`` is a side of; NotFound otherwise."""
    partnership = (
        session.get(Partnership, partnership_id, populate_existing=True) if 0 < partnership_id < 2**31 else None
    )
    if partnership is None or environment_id not in (
        partnership.environment_low_id,
        partnership.environment_high_id,
    ):
        raise NotFound(i18n.gettext(PARTNERSHIP_NOT_FOUND))
    return partnership


def partnerships_of(session: Session, *, environment_id: int, status: str | None = None) -> list[Partnership]:
    """The partnerships ``environment_id`` is a side of (``status``: Active, Ended or all), newest
    first."""
    statement = select(Partnership).where(
        or_(
            col(Partnership.environment_low_id) == environment_id,
            col(Partnership.environment_high_id) == environment_id,
        )
    )
    if status:
        statement = statement.where(Partnership.status == status)
    statement = statement.order_by(col(Partnership.created_at).desc(), col(Partnership.id).desc())
    return list(session.exec(statement.execution_options(populate_existing=True)))


def _client_organisations_statement(environment_id: int, partner_ids: list[int]):  # type: ignore[no-untyped-def]
    """Activated organisations of ``partner_ids`` with an Active member who is an active Advanced
    user or Administrator of the environment (the organisations its keys reach)."""
    return select(Organisation).where(
        col(Organisation.environment_id).in_(partner_ids),
        col(Organisation.activated_at).is_not(None),
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
