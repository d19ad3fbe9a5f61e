"""Rows and helpers for the partnership service tests (members, partners, relationship requests,
relationship managers, access): written directly, so each test file depends only on the service
it tests."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conftest_factories import make_admin, make_environment, make_organisation, make_user
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from econnect_app.models import (
    Environment,
    Membership,
    MembershipRole,
    MembershipStatus,
    Notification,
    Organisation,
    OutboxMessage,
    Partnership,
    PartnershipManager,
    PartnershipOrigin,
    Plan,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import partnerships

TIMEOUT = 20
ROLES = (Role.USER.value, Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value)
BLOCKED = "Blocked"  # a parameter value: an Administrator whose account is blocked
RELATIONSHIP_LINK = re.compile(r"http://\S+/relationship-requests/([A-Za-z0-9_\-]+)")


def make_partnership(
    session: Session,
    a: Environment,
    b: Environment,
    *,
    initiator: Environment | None = None,
    created_via: str = PartnershipOrigin.AUTHORISATION_REQUEST.value,
) -> Partnership:
    """The active partnership of ``a`` and ``b`` (``initiator`` = the intermediary, ``a`` by
    default), committed."""
    partnership = partnerships.ensure_partnership(
        session,
        environment_id=a.id,
        partner_environment_id=b.id,
        initiator_environment_id=(initiator or a).id,
        created_via=created_via,
    )
    session.commit()
    return partnership


def end_partnership_row(session: Session, partnership: Partnership) -> None:
    """Mark a partnership Ended directly (without the service's other effects)."""
    partnership.status = "Ended"
    partnership.ended_at = utcnow()
    session.add(partnership)
    session.commit()


def make_membership(
    session: Session,
    user: User,
    organisation: Organisation,
    *,
    role: str = MembershipRole.MEMBER.value,
    status: str = MembershipStatus.ACTIVE.value,
) -> Membership:
    """A membership row of ``user`` in ``organisation``."""
    membership = Membership(
        organisation_id=organisation.id,
        user_id=user.id,
        role=role,
        status=status,
        accepted_at=utcnow() if status == MembershipStatus.ACTIVE.value else None,
    )
    session.add(membership)
    session.commit()
    return membership


def make_relationship_manager(
    session: Session, environment: Environment, *, role: str = Role.ADVANCED_USER.value, **kwargs: Any
) -> User:
    """A user with the Relationship manager role: an Advanced user unless ``role`` says otherwise
    (a partnership gives access, and relationship request emails go, to Advanced users and
    Administrators only, so a plain-User manager is the exception a test asks for)."""
    user = make_user(session, environment, role=role, **kwargs)
    user.is_relationship_manager = True
    session.add(user)
    session.commit()
    return user


def connect_manager_row(session: Session, partnership: Partnership, user: User) -> PartnershipManager:
    """Connect a relationship manager to a partnership directly."""
    link = PartnershipManager(partnership_id=partnership.id, user_id=user.id)
    session.add(link)
    session.commit()
    return link


def make_actor(session: Session, environment: Environment, role: str, **kwargs: Any) -> User:
    """A user of ``environment`` with ``role`` (one of ROLES, or BLOCKED: a blocked Administrator)."""
    if role == BLOCKED:
        return make_user(
            session, environment, role=Role.ADMINISTRATOR.value, status=UserStatus.BLOCKED.value, **kwargs
        )
    return make_user(session, environment, role=role, **kwargs)


@dataclass
class Pair:
    """An accountancy firm and a client environment, both on Basic.

    The firm has an Administrator and an Advanced user (the accountant: a partnership gives access
    to Advanced users and Administrators only); the client has an Administrator who is
    Administrator member of its activated organisation (only activated organisations are reached
    through keys and partnerships). With ``partnered=True`` the two are partners (the firm is the
    intermediary) and (unless ``accountant_member=False``) the accountant is an Active Member of
    the client's organisation.
    """

    firm: Environment
    firm_admin: User
    accountant: User
    client: Environment
    client_admin: User
    client_organisation: Organisation
    client_admin_membership: Membership
    partnership: Partnership | None
    accountant_membership: Membership | None


def make_pair(
    session: Session,
    *,
    partnered: bool = True,
    firm_plan: str = Plan.BASIC.value,
    client_plan: str = Plan.BASIC.value,
    accountant_member: bool = True,
) -> Pair:
    firm = make_environment(session, name="Lovelace Accounting", plan=firm_plan)
    firm_admin = make_admin(session, firm, name="Fiona Firm", email="fiona@lovelace.example")
    accountant = make_user(
        session, firm, role=Role.ADVANCED_USER.value, name="Ada Lovelace", email="ada@lovelace.example"
    )
    client = make_environment(session, name="Korenbloem Holding", plan=client_plan)
    client_admin = make_admin(session, client, name="Kees Koren", email="kees@korenbloem.example")
    organisation = make_organisation(session, client, name="Bakkerij De Korenbloem", activated=True)
    admin_membership = make_membership(
        session, client_admin, organisation, role=MembershipRole.ADMINISTRATOR.value
    )
    partnership = None
    accountant_membership = None
    if partnered:
        partnership = make_partnership(session, firm, client, initiator=firm)
        if accountant_member:
            accountant_membership = make_membership(session, accountant, organisation)
    return Pair(
        firm=firm,
        firm_admin=firm_admin,
        accountant=accountant,
        client=client,
        client_admin=client_admin,
        client_organisation=organisation,
        client_admin_membership=admin_membership,
        partnership=partnership,
        accountant_membership=accountant_membership,
    )


# --- what the database holds ----------------------------------------------------------------------


def snapshot(session: Session, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (by primary key), read on a connection of its own."""
    engine = session.get_bind()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in skip:
                continue
            statement = table.select().order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(statement)]
    return rows


def fresh(session: Session, model: type, row_id: int | None) -> Any:
    """A row as the database holds it now."""
    return session.get(model, row_id, populate_existing=True)


def notifications(
    session: Session, *, environment: Environment | None = None, kind: str | None = None
) -> list[Notification]:
    statement = select(Notification).order_by(col(Notification.id))
    if environment is not None:
        statement = statement.where(Notification.environment_id == environment.id)
    if kind is not None:
        statement = statement.where(Notification.kind == kind)
    return list(session.exec(statement))


def recipients(session: Session, template: str) -> list[str]:
    """The addresses a template was queued to, sorted."""
    statement = select(OutboxMessage.to_address).where(OutboxMessage.template == template)
    return sorted(session.exec(statement))


def relationship_token(message: OutboxMessage) -> str:
    """The raw token of a relationship request email's link (in the text and the HTML part)."""
    match = RELATIONSHIP_LINK.search(message.text_body)
    assert match, message.text_body
    assert match.group(0) in message.html_body
    return match.group(1)


# --- two things at the same moment ----------------------------------------------------------------


def run_together(engine: Engine, *calls: Callable[[Session], Any]) -> list[Any]:
    """Run each call in its own thread with its own Session; each result or raised exception."""
    start = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list[Any] = [None] * len(calls)

    def worker(index: int, call: Callable[[Session], Any]) -> None:
        with Session(engine, expire_on_commit=False) as own_session:
            start.wait()
            try:
                results[index] = call(own_session)
            except Exception as error:  # noqa: BLE001 - the test inspects it
                results[index] = error

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a thread did not finish"
    return results


def hold_until_both_arrive(monkeypatch: Any, module: Any, name: str) -> threading.Barrier:
    """Make ``module.name`` wait until two threads have called it, then run it in both: both
    threads pass every check before either writes, so the database decides."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    original = getattr(module, name)

    def together(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, together)
    return barrier
