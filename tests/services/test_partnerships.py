"""Partnerships: one active per pair, race-safe creation, and the client organisations they open."""

from __future__ import annotations

import pytest
from conftest_factories import count, make_admin, make_environment, make_organisation, make_user
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app.models import (
    ActivityLog,
    CostAllocation,
    Environment,
    Membership,
    Partnership,
    PartnershipStatus,
    Plan,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import partners, partnerships
from econnect_app.services.errors import Conflict, PermissionDenied


def ensure(
    session: Session, a: Environment, b: Environment, *, initiator: Environment | None = None
) -> Partnership:
    return partnerships.ensure_partnership(
        session,
        environment_id=a.id,
        partner_environment_id=b.id,
        initiator_environment_id=(initiator or a).id,
        created_via="authorisation_request",
    )


def add_member(session: Session, user: User, organisation_id: int) -> None:
    session.add(Membership(organisation_id=organisation_id, user_id=user.id))
    session.commit()


def end(session: Session, partnership: Partnership) -> None:
    partnership.status = PartnershipStatus.ENDED.value
    partnership.ended_at = utcnow()
    session.commit()


# --- ensure_partnership / active_partnership ------------------------------------------------------


def test_ensure_creates_an_ordered_pair_without_committing(session: Session, engine: Engine) -> None:
    firm = make_environment(session, name="Firm")
    client = make_environment(session, name="Client")

    partnership = ensure(session, client, firm, initiator=firm)

    assert partnership.id is not None
    assert (partnership.environment_low_id, partnership.environment_high_id) == tuple(
        sorted((firm.id, client.id))
    )
    assert partnership.initiator_environment_id == firm.id
    assert partnership.created_via == "authorisation_request"
    assert partnership.status == PartnershipStatus.ACTIVE.value
    assert partnership.cost_allocation == CostAllocation.CLIENT.value
    with Session(engine) as other:
        assert other.exec(select(Partnership)).all() == []  # not committed
    session.rollback()
    assert count(session, Partnership) == 0


def test_ensure_as_the_first_write_of_a_transaction_still_rolls_back(
    session: Session, engine: Engine
) -> None:
    """The SAVEPOINT must not become the (committing) outer transaction on SQLite."""
    firm = make_environment(session, name="Firm")
    client = make_environment(session, name="Client")

    with Session(engine) as fresh:
        ensure(fresh, firm, client)
        fresh.add(ActivityLog(environment_id=firm.id, action="test", summary="test"))
        fresh.rollback()

    assert count(session, Partnership) == 0
    assert count(session, ActivityLog) == 0


def test_ensure_reuses_the_active_partnership_in_either_order(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    client = make_environment(session, name="Client")
    first = ensure(session, firm, client)
    session.commit()

    again = ensure(session, client, firm, initiator=client)

    assert again.id == first.id
    assert again.initiator_environment_id == firm.id
    assert count(session, Partnership) == 1
    assert (
        partnerships.active_partnership(session, environment_id=client.id, partner_environment_id=firm.id).id
        == first.id
    )


def test_an_ended_partnership_is_not_reused(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    client = make_environment(session, name="Client")
    old = ensure(session, firm, client)
    session.commit()
    end(session, old)

    assert (
        partnerships.active_partnership(session, environment_id=firm.id, partner_environment_id=client.id)
        is None
    )
    new = ensure(session, firm, client)
    session.commit()

    assert new.id != old.id
    assert count(session, Partnership) == 2


def test_a_partnership_created_meanwhile_by_another_transaction_is_returned(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique index refuses our insert; the savepoint keeps the rest of our transaction."""
    firm = make_environment(session, name="Firm")
    client = make_environment(session, name="Client")
    with Session(engine) as other:
        theirs = ensure(other, firm, client)
        other.commit()
        theirs_id = theirs.id

    real_lookup = partnerships.active_partnership
    lookups: list[int] = []

    def stale_first_lookup(session: Session, **kwargs: int) -> Partnership | None:
        lookups.append(1)
        return None if len(lookups) == 1 else real_lookup(session, **kwargs)

    monkeypatch.setattr(partnerships, "active_partnership", stale_first_lookup)
    session.add(ActivityLog(environment_id=firm.id, action="earlier.write", summary="kept"))
    session.flush()

    partnership, created = partnerships.get_or_create_partnership(
        session,
        environment_id=client.id,
        partner_environment_id=firm.id,
        initiator_environment_id=firm.id,
        created_via="authorisation_request",
    )
    session.commit()

    assert (partnership.id, created) == (theirs_id, False)
    assert count(session, Partnership) == 1
    assert [entry.action for entry in session.exec(select(ActivityLog))] == ["earlier.write"]


def test_an_environment_cannot_partner_with_itself(session: Session) -> None:
    environment = make_environment(session)

    with pytest.raises(Conflict):
        ensure(session, environment, environment)
    assert (
        partnerships.active_partnership(
            session, environment_id=environment.id, partner_environment_id=environment.id
        )
        is None
    )


# --- counts and client organisations --------------------------------------------------------------


def test_count_active_partnerships_counts_both_sides_and_not_ended_ones(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    clients = [make_environment(session, name=f"Client {n}") for n in range(3)]
    made = [ensure(session, firm, client) for client in clients]
    session.commit()
    end(session, made[2])

    assert partnerships.count_active_partnerships(session, environment_id=firm.id) == 2
    assert partnerships.count_active_partnerships(session, environment_id=clients[0].id) == 1
    assert partnerships.count_active_partnerships(session, environment_id=clients[2].id) == 0


def test_client_organisations_are_partner_organisations_with_a_member_of_ours(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    colleague = make_user(session, firm, role=Role.ADMINISTRATOR.value)
    plain = make_user(session, firm, role=Role.USER.value)
    client = make_environment(session, name="Client")
    stranger = make_environment(session, name="Stranger")
    only_plain = make_organisation(session, client, name="Only a plain user", activated=True)
    zeta = make_organisation(session, client, name="Zeta B.V.", activated=True)
    alpha = make_organisation(session, client, name="alpha bakery", activated=True)
    no_member = make_organisation(session, client, name="Not shared", activated=True)
    strangers_org = make_organisation(session, stranger, name="Stranger org", activated=True)
    own_org = make_organisation(session, firm, name="Our own", activated=True)
    ensure(session, firm, client)
    session.commit()
    add_member(session, accountant, zeta.id)
    add_member(session, colleague, alpha.id)
    add_member(session, plain, only_plain.id)  # a partnership gives access to Advanced users and Administrators
    add_member(session, accountant, strangers_org.id)  # no partnership with Stranger
    add_member(session, accountant, own_org.id)

    found = partnerships.client_organisations(session, environment_id=firm.id)

    assert [organisation.id for organisation in found] == [alpha.id, zeta.id]
    assert no_member.id not in {organisation.id for organisation in found}
    assert partnerships.count_client_organisations(session, environment_id=firm.id) == 2
    # Seen from the client's side, the firm's organisations are not "client organisations".
    assert partnerships.client_organisations(session, environment_id=client.id) == []


def test_client_organisations_go_when_the_partnership_ends_or_the_member_is_blocked(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    client = make_environment(session, name="Client")
    organisation = make_organisation(session, client, activated=True)
    partnership = ensure(session, firm, client)
    session.commit()
    add_member(session, accountant, organisation.id)
    assert partnerships.count_client_organisations(session, environment_id=firm.id) == 1

    accountant.status = UserStatus.BLOCKED.value
    session.commit()
    assert partnerships.count_client_organisations(session, environment_id=firm.id) == 0

    accountant.status = UserStatus.ACTIVE.value
    session.commit()
    end(session, partnership)
    assert partnerships.client_organisations(session, environment_id=firm.id) == []
    assert partnerships.count_client_organisations(session, environment_id=firm.id) == 0


# --- list_partnerships --------------------------------------------------------------------------


def test_list_partnerships_shows_active_ones_by_partner_name(session: Session) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    admin = make_admin(session, firm)
    zulu = make_environment(session, name="Zulu Trading")
    alpha = make_environment(session, name="alpha Bakery")
    ended = make_environment(session, name="Gone Ltd")
    zulu_partnership = ensure(session, firm, zulu)
    alpha_partnership = ensure(session, alpha, firm, initiator=firm)
    ended_partnership = ensure(session, firm, ended)
    session.commit()
    end(session, ended_partnership)
    zulu_org = make_organisation(session, zulu, activated=True)
    make_organisation(session, zulu, activated=True)
    add_member(session, admin, zulu_org.id)

    rows = partners.list_partnerships(session, actor=admin)

    assert [row.partner_name for row in rows] == ["alpha Bakery", "Zulu Trading"]
    alpha_row, zulu_row = rows
    assert (alpha_row.id, alpha_row.partner_environment_id, alpha_row.status) == (
        alpha_partnership.id,
        alpha.id,
        "Active",
    )
    assert (alpha_row.since, alpha_row.cost_allocation, alpha_row.their_organisations) == (
        alpha_partnership.created_at,
        "Client",
        [],
    )
    assert zulu_row.id == zulu_partnership.id
    assert [shared.name for shared in zulu_row.their_organisations] == [zulu_org.name]
    assert [row.partner_name for row in partners.list_partnerships(session, actor=admin, status="Ended")] == [
        "Gone Ltd"
    ]


def test_list_partnerships_from_the_other_side(session: Session) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    client = make_environment(session, name="Client")
    client_admin = make_admin(session, client)
    ensure(session, firm, client)
    session.commit()

    [row] = partners.list_partnerships(session, actor=client_admin)

    assert (row.partner_environment_id, row.partner_name) == (firm.id, "Firm")


def test_list_partnerships_is_for_advanced_users_and_administrators(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value)
    plain = make_user(session, firm, role=Role.USER.value)
    blocked = make_admin(session, firm, status=UserStatus.BLOCKED.value)

    assert partners.list_partnerships(session, actor=advanced) == []
    with pytest.raises(PermissionDenied):
        partners.list_partnerships(session, actor=plain)
    with pytest.raises(PermissionDenied):
        partners.list_partnerships(session, actor=blocked)
