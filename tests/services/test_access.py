"""Who reaches which organisation: own organisations, and client organisations through an active
partnership plus a membership of an active user."""

from __future__ import annotations

from conftest_factories import make_admin, make_environment, make_organisation, make_user
from sqlmodel import Session

from econnect_app.models import (
    Environment,
    Membership,
    Organisation,
    Partnership,
    PartnershipStatus,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import access


def partner(session: Session, a: Environment, b: Environment) -> Partnership:
    """An active partnership between two environments, stored as the ordered pair."""
    low, high = sorted((a.id, b.id))
    partnership = Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=a.id)
    session.add(partnership)
    session.commit()
    return partnership


def end(session: Session, partnership: Partnership) -> None:
    partnership.status = PartnershipStatus.ENDED.value
    partnership.ended_at = utcnow()
    session.add(partnership)
    session.commit()


def add_member(session: Session, user: User, organisation: Organisation) -> Membership:
    membership = Membership(organisation_id=organisation.id, user_id=user.id)
    session.add(membership)
    session.commit()
    return membership


def setup_client(session: Session) -> tuple[Environment, User, Environment, Organisation, Partnership, Membership]:
    """An accountant environment with an advanced user who is a member of a client's
    organisation, the two environments in an active partnership."""
    firm = make_environment(session, name="Firm")
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    client_env = make_environment(session, name="Client")
    make_admin(session, client_env)
    organisation = make_organisation(session, client_env, name="Bakkerij", activated=True)
    partnership = partner(session, client_env, firm)  # the client side is the lower id here
    membership = add_member(session, accountant, organisation)
    return firm, accountant, client_env, organisation, partnership, membership


def test_an_environment_reaches_its_own_organisations(session: Session) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment, activated=True)
    assert access.environment_can_access_organisation(
        session, environment_id=environment.id, organisation=organisation
    )


def test_a_partner_with_a_member_reaches_the_client_organisation(session: Session) -> None:
    firm, accountant, client_env, organisation, _, _ = setup_client(session)
    assert access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
    assert access.user_can_see_keys(session, user=accountant, organisation=organisation)
    # The client still reaches its own organisation, of course.
    assert access.environment_can_access_organisation(session, environment_id=client_env.id, organisation=organisation)


def test_the_partnership_works_whichever_side_has_the_lower_id(session: Session) -> None:
    client_env = make_environment(session, name="Client first")
    organisation = make_organisation(session, client_env, activated=True)
    firm = make_environment(session, name="Firm second")
    accountant = make_user(session, firm, role=Role.ADMINISTRATOR.value)
    partner(session, firm, client_env)
    add_member(session, accountant, organisation)
    assert access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)


def test_no_partnership_no_access_even_with_a_membership(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    accountant = make_user(session, firm, role=Role.ADMINISTRATOR.value)
    stranger = make_environment(session, name="Stranger")
    organisation = make_organisation(session, stranger, activated=True)
    add_member(session, accountant, organisation)
    assert not access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
    assert not access.user_can_see_keys(session, user=accountant, organisation=organisation)
    assert organisation not in access.accessible_organisations(session, user=accountant)


def test_a_partnership_without_a_membership_gives_no_access(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    make_user(session, firm, role=Role.ADMINISTRATOR.value)
    client_env = make_environment(session, name="Client")
    organisation = make_organisation(session, client_env, activated=True)
    partner(session, firm, client_env)
    assert not access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)


def test_ending_the_partnership_takes_access_away(session: Session) -> None:
    firm, accountant, _, organisation, partnership, _ = setup_client(session)
    end(session, partnership)
    assert not access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
    assert not access.user_can_see_keys(session, user=accountant, organisation=organisation)
    assert organisation not in access.accessible_organisations(session, user=accountant)


def test_a_new_partnership_after_an_ended_one_gives_access_again(session: Session) -> None:
    firm, _, client_env, organisation, partnership, _ = setup_client(session)
    end(session, partnership)
    partner(session, firm, client_env)
    assert access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)


def test_removing_the_membership_takes_access_away(session: Session) -> None:
    firm, accountant, _, organisation, _, membership = setup_client(session)
    session.delete(membership)
    session.commit()
    assert not access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
    assert not access.user_can_see_keys(session, user=accountant, organisation=organisation)
    assert organisation not in access.accessible_organisations(session, user=accountant)


def test_another_active_member_of_the_firm_keeps_the_environment_connected(session: Session) -> None:
    firm, accountant, _, organisation, _, membership = setup_client(session)
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value)
    add_member(session, colleague, organisation)
    session.delete(membership)
    session.commit()
    assert access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
    # ...but the accountant who is no longer a member does not see it.
    assert not access.user_can_see_keys(session, user=accountant, organisation=organisation)
    assert access.user_can_see_keys(session, user=colleague, organisation=organisation)


def test_a_blocked_members_membership_does_not_count(session: Session) -> None:
    firm, accountant, _, organisation, _, _ = setup_client(session)
    accountant.status = UserStatus.BLOCKED.value
    session.add(accountant)
    session.commit()
    assert not access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
    assert not access.user_can_see_keys(session, user=accountant, organisation=organisation)
    assert access.accessible_organisations(session, user=accountant) == []


def test_a_membership_held_by_a_third_environment_does_not_count(session: Session) -> None:
    firm, _, client_env, organisation, partnership, membership = setup_client(session)
    other_firm = make_environment(session, name="Other firm")
    partner(session, other_firm, client_env)
    # Only the first firm's accountant is a member: the other firm gets nothing from it.
    assert not access.environment_can_access_organisation(
        session, environment_id=other_firm.id, organisation=organisation
    )


def test_plain_users_do_not_see_keys(session: Session) -> None:
    firm, _, _, organisation, _, _ = setup_client(session)
    plain = make_user(session, firm, role=Role.USER.value)
    add_member(session, plain, organisation)
    own = make_organisation(session, firm, activated=True)
    assert not access.user_can_see_keys(session, user=plain, organisation=organisation)
    assert not access.user_can_see_keys(session, user=plain, organisation=own)


def test_advanced_users_see_keys_of_own_organisations_without_membership(session: Session) -> None:
    firm = make_environment(session)
    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value)
    own = make_organisation(session, firm, activated=True)
    assert access.user_can_see_keys(session, user=advanced, organisation=own)


def test_a_member_from_a_non_partner_environment_is_not_enough_to_see_keys(session: Session) -> None:
    firm = make_environment(session, name="Firm")
    accountant = make_admin(session, firm)
    stranger = make_environment(session, name="Stranger")
    organisation = make_organisation(session, stranger, activated=True)
    add_member(session, accountant, organisation)
    assert not access.user_can_see_keys(session, user=accountant, organisation=organisation)


def test_accessible_organisations_lists_own_then_clients_each_once(session: Session) -> None:
    firm, accountant, client_env, client_org, _, _ = setup_client(session)
    own_b = make_organisation(session, firm, name="B own", activated=True)
    own_a = make_organisation(session, firm, name="a own", activated=True)
    second_client_org = make_organisation(session, client_env, name="Aardappel", activated=True)
    add_member(session, accountant, second_client_org)
    not_a_member = make_organisation(session, client_env, name="Zuivel", activated=True)
    stranger_org = make_organisation(session, make_environment(session, name="Stranger"), activated=True)
    add_member(session, accountant, stranger_org)  # no partnership with that environment

    found = access.accessible_organisations(session, user=accountant)

    assert [organisation.id for organisation in found] == [own_a.id, own_b.id, second_client_org.id, client_org.id]
    assert not_a_member not in found


def test_a_second_partnership_row_that_ended_does_not_duplicate_organisations(session: Session) -> None:
    firm, accountant, client_env, client_org, partnership, _ = setup_client(session)
    end(session, partnership)
    partner(session, client_env, firm)
    found = access.accessible_organisations(session, user=accountant)
    assert [organisation.id for organisation in found] == [client_org.id]
