""""Who has access" (the client's dashboard, re-read on every live push) with 300 partnerships:
the same answer as filtering every partnership's full view, and a cost that does not grow with
partnerships that reach nothing. Runs on SQLite and, with ECONNECT_TEST_DB_URL, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conftest_factories import make_admin, make_environment, make_organisation
from sqlalchemy import event
from sqlmodel import Session

from econnect_app.models import (
    Environment,
    Membership,
    MembershipStatus,
    Partnership,
    PartnershipManager,
    PartnershipStatus,
    Plan,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import partners
from econnect_app.services.partners import PartnershipView

PARTNERS = 300
# What partner number i (by i % 10) has; only "member", "admin member" and "manager" reach the hub.
REACHING = {0: "member", 1: "admin member", 6: "manager"}


def _old_answer(session: Session, actor: User) -> list[PartnershipView]:
    """The definition ``who_has_access`` had: every active partnership's full view, filtered."""
    return [
        view for view in partners.list_partnerships(session, actor=actor) if view.our_organisations or view.their_managers
    ]


def _user(environment: Environment, number: int, *, role: str, status: str = UserStatus.ACTIVE.value) -> User:
    return User(
        environment_id=environment.id,
        name=f"Partner {number:03d} {role}",
        email=f"p{number:03d}-{role.lower().replace(' ', '-')}-{status.lower()}@example.com",
        role=role,
        status=status,
        password_hash="not-a-real-hash",
        email_confirmed_at=utcnow(),
    )


def _hub_with_partners(session: Session) -> tuple[User, list[Environment]]:
    """A client environment ("the hub") with PARTNERS partners, each reaching it, or almost, in
    its own way (see the comments); returns the hub's Administrator and the partners."""
    hub = make_environment(session, name="Hub Holding", plan=Plan.BASIC.value)
    hub_admin = make_admin(session, hub, name="Hanna Hub", email="hanna@hub.example")
    hub_manager = _user(hub, PARTNERS, role=Role.ADVANCED_USER.value)  # the hub's own manager
    hub_manager.is_relationship_manager = True
    bakery = make_organisation(session, hub, name="Bakery", activated=True)
    butcher = make_organisation(session, hub, name="Butcher", activated=True)
    draft = make_organisation(session, hub, name="Draft", activated=False)
    # Scrambled names, so the order by name is not the order of creation.
    environments = [
        Environment(name=f"Firm {(number * 7) % PARTNERS:03d}", plan=Plan.BASIC.value) for number in range(PARTNERS)
    ]
    session.add_all([hub_manager, *environments])
    session.commit()
    partnerships = [
        Partnership(
            environment_low_id=min(hub.id, firm.id),  # type: ignore[type-var]
            environment_high_id=max(hub.id, firm.id),  # type: ignore[type-var]
            initiator_environment_id=firm.id,  # type: ignore[arg-type]
            status=PartnershipStatus.ENDED.value if number % 10 == 8 else PartnershipStatus.ACTIVE.value,
        )
        for number, firm in enumerate(environments)
    ]
    users: dict[int, User] = {}
    for number, firm in enumerate(environments):
        kind = number % 10
        if kind == 1:  # an Administrator member reaches; a plain User member alone would not
            users[number] = _user(firm, number, role=Role.ADMINISTRATOR.value)
        elif kind == 2:  # a plain User member only: no reach
            users[number] = _user(firm, number, role=Role.USER.value)
        elif kind == 4:  # a blocked Administrator member: no reach
            users[number] = _user(firm, number, role=Role.ADMINISTRATOR.value, status=UserStatus.BLOCKED.value)
        elif kind in (6, 7):  # a relationship manager (connected, or disconnected)
            users[number] = _user(firm, number, role=Role.ADVANCED_USER.value)
            users[number].is_relationship_manager = True
        else:  # an Advanced user
            users[number] = _user(firm, number, role=Role.ADVANCED_USER.value)
    session.add_all([*partnerships, *users.values()])
    session.commit()
    rows: list[Membership | PartnershipManager] = []
    active, invited = MembershipStatus.ACTIVE.value, MembershipStatus.INVITED.value
    for number, user in users.items():
        kind = number % 10
        partnership = partnerships[number]
        if kind == 0:  # an Active member of an activated organisation: reaches
            rows.append(Membership(organisation_id=bakery.id, user_id=user.id, status=active, accepted_at=utcnow()))
        elif kind == 1:
            rows.append(Membership(organisation_id=butcher.id, user_id=user.id, status=active, accepted_at=utcnow()))
            plain = _user(environments[number], number, role=Role.USER.value)
            session.add(plain)
            session.flush()
            rows.append(Membership(organisation_id=bakery.id, user_id=plain.id, status=active, accepted_at=utcnow()))
        elif kind in (2, 4):
            rows.append(Membership(organisation_id=bakery.id, user_id=user.id, status=active, accepted_at=utcnow()))
        elif kind == 3:  # a member of an organisation not activated: no reach
            rows.append(Membership(organisation_id=draft.id, user_id=user.id, status=active, accepted_at=utcnow()))
        elif kind == 5:  # invited, not yet accepted: no reach
            rows.append(Membership(organisation_id=bakery.id, user_id=user.id, status=invited))
        elif kind == 6:
            rows.append(PartnershipManager(partnership_id=partnership.id, user_id=user.id))  # type: ignore[arg-type]
        elif kind == 7:  # their manager disconnected, ours connected: no reach
            rows.append(
                PartnershipManager(partnership_id=partnership.id, user_id=user.id, disconnected_at=utcnow())  # type: ignore[arg-type]
            )
            rows.append(PartnershipManager(partnership_id=partnership.id, user_id=hub_manager.id))  # type: ignore[arg-type]
        elif kind == 8:  # the partnership ended; the membership is still there: no reach
            rows.append(Membership(organisation_id=bakery.id, user_id=user.id, status=active, accepted_at=utcnow()))
    session.add_all(rows)
    session.commit()
    return hub_admin, environments


@contextmanager
def _counted_statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session's engine runs meanwhile."""
    statements: list[str] = []
    engine = session.get_bind()

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_who_has_access_with_many_partnerships_is_the_filtered_full_list(session: Session) -> None:
    hub_admin, environments = _hub_with_partners(session)

    views = partners.who_has_access(session, actor=hub_admin)

    assert views == _old_answer(session, hub_admin)
    expected = sorted(environments[number].name for number in range(PARTNERS) if number % 10 in REACHING)
    assert [view.partner_name for view in views] == expected
    by_name = {view.partner_name: view for view in views}
    member, admin_member, manager = (by_name[environments[number].name] for number in (0, 1, 6))
    assert [shared.name for shared in member.our_organisations] == ["Bakery"]
    assert [shared.name for shared in admin_member.our_organisations] == ["Butcher"]
    assert manager.our_organisations == []
    assert [row.name for row in manager.their_managers] == ["Partner 006 Advanced user"]


def test_partnerships_that_reach_nothing_are_not_read(session: Session) -> None:
    """The firm's side: none of its partners reaches its organisations, so the answer is empty,
    read in as many statements with 300 partnerships as with one."""
    _, environments = _hub_with_partners(session)
    firm = environments[0]  # a partner of the hub only, so far
    firm_admin = make_admin(session, firm, name="Frank Firm", email="frank@firm.example")
    make_organisation(session, firm, name="Firm's own books", activated=True)
    with _counted_statements(session) as with_one:
        assert partners.who_has_access(session, actor=firm_admin) == []
    for other in environments[1:]:
        session.add(
            Partnership(
                environment_low_id=min(firm.id, other.id),  # type: ignore[type-var]
                environment_high_id=max(firm.id, other.id),  # type: ignore[type-var]
                initiator_environment_id=firm.id,  # type: ignore[arg-type]
            )
        )
    session.commit()
    assert len(partners.list_partnerships(session, actor=firm_admin)) == PARTNERS

    with _counted_statements(session) as with_many:
        assert partners.who_has_access(session, actor=firm_admin) == []

    assert _old_answer(session, firm_admin) == []
    assert len(with_many) == len(with_one) <= 3, with_many
