"""/organisations: own and partner organisations with the user's role, status and identifier."""

from __future__ import annotations

import pytest
from conftest_factories import activities, make_admin, make_environment, make_organisation, make_user
from sqlmodel import Session

from econnect_app.models import Membership, MembershipRole, Partnership, Role, UserStatus
from econnect_app.services import organisation_overview, organisations
from econnect_app.services.errors import NotFound, PermissionDenied, ValidationFailed


def _partner(session: Session, firm, client) -> None:  # type: ignore[no-untyped-def]
    low, high = sorted((firm.id, client.id))
    session.add(Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=firm.id))
    session.commit()


def _member(session: Session, organisation, user, role: str = MembershipRole.MEMBER.value) -> Membership:  # type: ignore[no-untyped-def]
    membership = Membership(organisation_id=organisation.id, user_id=user.id, role=role)
    session.add(membership)
    session.commit()
    return membership


@pytest.fixture()
def scene(session: Session) -> dict:
    firm = make_environment(session, name="Lovelace Accounting")
    client = make_environment(session, name="Bakkerij")
    accountant = make_admin(session, firm, name="Ada")
    own = make_organisation(session, firm, name="Lovelace B.V.", activated=True)
    _member(session, own, accountant, MembershipRole.ADMINISTRATOR.value)
    shared = make_organisation(session, client, name="Korenbloem B.V.", activated=True)
    make_organisation(session, client, name="Not shared B.V.", activated=True)
    _partner(session, firm, client)
    _member(session, shared, accountant)
    return {"firm": firm, "client": client, "accountant": accountant, "own": own, "shared": shared}


def test_own_then_partner_organisations_with_role_owner_and_identifier(session: Session, scene: dict) -> None:
    rows = organisation_overview.list_organisations(session, actor=scene["accountant"])

    assert [(row.name, row.is_own, row.environment_name, row.role) for row in rows] == [
        ("Lovelace B.V.", True, "Lovelace Accounting", "Administrator"),
        ("Korenbloem B.V.", False, "Bakkerij", "Member"),
    ]
    assert rows[1].identifier == scene["shared"].identifier
    assert rows[0].can_configure and not rows[1].can_configure
    assert [r.name for r in organisation_overview.list_organisations(session, actor=scene["accountant"], scope="own")] == [
        "Lovelace B.V."
    ]
    assert [
        r.name for r in organisation_overview.list_organisations(session, actor=scene["accountant"], scope="partner")
    ] == ["Korenbloem B.V."]
    with pytest.raises(ValidationFailed):
        organisation_overview.list_organisations(session, actor=scene["accountant"], scope="everything")


def test_a_plain_user_sees_no_identifiers(session: Session, scene: dict) -> None:
    plain = make_user(session, scene["firm"], role=Role.USER.value)

    [row] = organisation_overview.list_organisations(session, actor=plain)

    assert row.name == "Lovelace B.V." and row.identifier == "" and row.role == ""


def test_a_partner_organisation_without_membership_or_after_the_end_is_not_found(session: Session, scene: dict) -> None:
    other = make_organisation(session, scene["client"], name="Other", activated=True)
    with pytest.raises(NotFound):
        organisation_overview.organisation_detail(session, actor=scene["accountant"], organisation_id=other.id)
    detail = organisation_overview.organisation_detail(
        session, actor=scene["accountant"], organisation_id=scene["shared"].id
    )
    assert detail.row.name == "Korenbloem B.V."

    partnership = session.get(Partnership, 1)
    partnership.status = "Ended"
    session.add(partnership)
    session.commit()
    with pytest.raises(NotFound):
        organisation_overview.organisation_detail(session, actor=scene["accountant"], organisation_id=scene["shared"].id)
    for unknown in (0, -1, 10**12):
        with pytest.raises(NotFound):
            organisation_overview.organisation_detail(session, actor=scene["accountant"], organisation_id=unknown)


def test_a_blocked_user_sees_nothing(session: Session, scene: dict) -> None:
    blocked = make_user(session, scene["firm"], status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        organisation_overview.list_organisations(session, actor=blocked)


def test_findable_is_on_by_default_and_switched_by_those_who_configure(session: Session, scene: dict) -> None:
    own = scene["own"]
    assert own.findable

    organisations.set_findable(session, actor=scene["accountant"], organisation_id=own.id, findable=False)

    session.expire_all()
    assert session.get(type(own), own.id).findable is False
    [entry] = activities(session, action="organisation.findable_changed")
    assert entry.summary == "Ada made Lovelace B.V. not findable in Find partners."
    plain = make_user(session, scene["firm"], role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        organisations.set_findable(session, actor=plain, organisation_id=own.id, findable=True)
    with pytest.raises(NotFound):
        organisations.set_findable(session, actor=scene["accountant"], organisation_id=scene["shared"].id, findable=False)
