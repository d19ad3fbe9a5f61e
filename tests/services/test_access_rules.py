"""The access rules as tables: environment role × organisation role × partnership state, and the
relationship managers' way in. One answer (``services/access.py``) for pages, keys and the API.

A partnership gives access to Advanced users and Administrators only (a plain User reaches no
partner organisation, and their membership gives their environment's keys nothing); only activated
organisations are reached through keys (an own non-activated one can still be opened, to activate
it)."""

from __future__ import annotations

import itertools

import pytest
from conftest_factories import make_admin, make_environment, make_organisation, make_user
from partnership_factories import (
    BLOCKED,
    ROLES,
    connect_manager_row,
    end_partnership_row,
    make_actor,
    make_membership,
    make_partnership,
    make_relationship_manager,
)
from sqlmodel import Session

from econnect_app.models import MembershipRole, MembershipStatus, Plan, Role, User, UserStatus, utcnow
from econnect_app.services import access, members

ORGANISATION_ROLES = (None, MembershipRole.MEMBER.value, MembershipRole.ADMINISTRATOR.value, "Invited")
PARTNERSHIP_STATES = ("none", "active", "ended")
PARTNERSHIP_ROLES = (Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value)


def _membership(session: Session, user: User, organisation, organisation_role: str | None) -> None:  # type: ignore[no-untyped-def]
    if organisation_role == "Invited":
        make_membership(session, user, organisation, status=MembershipStatus.INVITED.value)
    elif organisation_role is not None:
        make_membership(session, user, organisation, role=organisation_role)


@pytest.mark.parametrize(
    ("role", "organisation_role", "partnership_state"),
    list(itertools.product((*ROLES, BLOCKED), ORGANISATION_ROLES, PARTNERSHIP_STATES)),
)
def test_a_partner_organisation(
    session: Session, role: str, organisation_role: str | None, partnership_state: str
) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    viewer = make_actor(session, firm, role)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    client_admin = make_admin(session, client)
    organisation = make_organisation(session, client, name="Bakkerij", activated=True)
    make_membership(session, client_admin, organisation, role=MembershipRole.ADMINISTRATOR.value)
    if partnership_state != "none":
        partnership = make_partnership(session, firm, client)
        if partnership_state == "ended":
            end_partnership_row(session, partnership)
    _membership(session, viewer, organisation, organisation_role)

    active_member = organisation_role in (MembershipRole.MEMBER.value, MembershipRole.ADMINISTRATOR.value)
    # Only an active Advanced user or Administrator gets in: a plain User does not, whatever their
    # membership (and a blocked Administrator does not either).
    reaches = role in PARTNERSHIP_ROLES and active_member and partnership_state == "active"
    assert access.user_can_access_organisation(session, user=viewer, organisation=organisation) is reaches
    assert access.user_can_see_keys(session, user=viewer, organisation=organisation) is reaches
    # The environment (its key set) reaches the organisation through the membership of an active
    # Advanced user or Administrator: the viewer is the firm's only user, so a plain User's
    # membership gives the firm nothing.
    assert (
        access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
        is reaches
    )
    assert (
        organisation.id in {o.id for o in access.accessible_organisations(session, user=viewer)}
    ) is reaches
    # Managing its members takes an Administrator membership on top of access.
    assert members.can_manage_members(session, actor=viewer, organisation=organisation) is (
        reaches and organisation_role == MembershipRole.ADMINISTRATOR.value
    )
    # The client always reaches its own organisation.
    assert access.user_can_access_organisation(session, user=client_admin, organisation=organisation)


@pytest.mark.parametrize(
    ("role", "organisation_role", "activated"),
    list(itertools.product((*ROLES, BLOCKED), ORGANISATION_ROLES, (True, False))),
)
def test_an_own_organisation(
    session: Session, role: str, organisation_role: str | None, activated: bool
) -> None:
    environment = make_environment(session, name="Own", plan=Plan.BASIC.value)
    viewer = make_actor(session, environment, role)
    organisation = make_organisation(session, environment, activated=activated)
    _membership(session, viewer, organisation, organisation_role)

    active = role != BLOCKED
    # Own users open their own organisation, activated or not (a new one is opened to activate it) ...
    assert access.user_can_access_organisation(session, user=viewer, organisation=organisation) is active
    assert (
        organisation.id in {o.id for o in access.accessible_organisations(session, user=viewer)}
    ) is active
    # ... but keys (shown to Advanced users and Administrators, used by the environment) reach only
    # an activated one.
    assert access.user_can_see_keys(session, user=viewer, organisation=organisation) is (
        active and activated and role in PARTNERSHIP_ROLES
    )
    assert (
        access.environment_can_access_organisation(
            session, environment_id=environment.id, organisation=organisation
        )
        is activated
    )
    assert members.can_manage_members(session, actor=viewer, organisation=organisation) is (
        active
        and (role == Role.ADMINISTRATOR.value or organisation_role == MembershipRole.ADMINISTRATOR.value)
    )


@pytest.mark.parametrize(
    ("connected", "has_role", "colleague_is_member", "partnership_active", "colleague_role"),
    list(itertools.product((True, False), (True, False), (True, False), (True, False), ROLES)),
)
def test_a_relationship_manager_reaches_what_their_environment_reaches_through_the_partnership(
    session: Session,
    connected: bool,
    has_role: bool,
    colleague_is_member: bool,
    partnership_active: bool,
    colleague_role: str,
) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    manager = make_relationship_manager(session, firm, role=Role.ADVANCED_USER.value)
    if not has_role:
        manager.is_relationship_manager = False
        session.add(manager)
        session.commit()
    colleague = make_user(session, firm, role=colleague_role)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    shared = make_organisation(session, client, name="Shared", activated=True)
    not_shared = make_organisation(session, client, name="Not shared", activated=True)
    partnership = make_partnership(session, firm, client)
    if connected:
        connect_manager_row(session, partnership, manager)
    if colleague_is_member:
        make_membership(session, colleague, shared)
    if not partnership_active:
        end_partnership_row(session, partnership)

    # The environment reaches ``shared`` only through an Advanced user's or Administrator's
    # membership: a plain User colleague's membership opens nothing, not even for the manager.
    reaches = (
        connected
        and has_role
        and colleague_is_member
        and partnership_active
        and colleague_role in PARTNERSHIP_ROLES
    )
    assert access.user_can_access_organisation(session, user=manager, organisation=shared) is reaches
    assert access.user_can_see_keys(session, user=manager, organisation=shared) is reaches
    assert (shared.id in {o.id for o in access.accessible_organisations(session, user=manager)}) is reaches
    # An organisation none of the firm's users is a member of stays out of reach, connected or not.
    assert not access.user_can_access_organisation(session, user=manager, organisation=not_shared)
    assert not_shared.id not in {o.id for o in access.accessible_organisations(session, user=manager)}


def test_a_relationship_manager_who_is_a_plain_user_reaches_nothing_of_the_partner(session: Session) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    manager = make_relationship_manager(session, firm, role=Role.USER.value)
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value)
    own = make_organisation(session, firm, name="Own", activated=True)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    organisation = make_organisation(session, client, activated=True)
    partnership = make_partnership(session, firm, client)
    connect_manager_row(session, partnership, manager)
    make_membership(session, colleague, organisation)
    make_membership(session, manager, organisation)  # not even as a member of it
    # The firm reaches the organisation (through the Advanced colleague) ...
    assert access.environment_can_access_organisation(
        session, environment_id=firm.id, organisation=organisation
    )
    assert access.user_can_access_organisation(session, user=colleague, organisation=organisation)

    # ... its plain-User relationship manager does not: only the own organisations.
    assert not access.user_can_access_organisation(session, user=manager, organisation=organisation)
    assert not access.user_can_see_keys(session, user=manager, organisation=organisation)
    assert [o.id for o in access.accessible_organisations(session, user=manager)] == [own.id]
    assert access.user_can_access_organisation(session, user=manager, organisation=own)

    # Made an Advanced user, the same connected manager gets in.
    manager.role = Role.ADVANCED_USER.value
    session.add(manager)
    session.commit()
    assert access.user_can_access_organisation(session, user=manager, organisation=organisation)
    assert access.user_can_see_keys(session, user=manager, organisation=organisation)

    manager.status = UserStatus.BLOCKED.value
    session.add(manager)
    session.commit()
    assert not access.user_can_access_organisation(session, user=manager, organisation=organisation)
    assert access.accessible_organisations(session, user=manager) == []


@pytest.mark.parametrize("member_role", [*ROLES, BLOCKED, "demoted"])
def test_the_environment_reaches_a_partner_organisation_only_through_an_advanced_user_or_administrator(
    session: Session, member_role: str
) -> None:
    """The firm's keys reach a client's organisation while an active Advanced user or Administrator
    of the firm is an Active member: a plain User's (or a blocked user's) membership gives nothing."""
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    role = Role.ADVANCED_USER.value if member_role == "demoted" else member_role
    member = make_actor(session, firm, role)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    organisation = make_organisation(session, client, activated=True)
    make_partnership(session, firm, client)
    make_membership(session, member, organisation)
    if member_role == "demoted":  # an Advanced user made a plain User: the access goes at once
        assert access.environment_can_access_organisation(
            session, environment_id=firm.id, organisation=organisation
        )
        member.role = Role.USER.value
        session.add(member)
        session.commit()

    gives_access = member_role in PARTNERSHIP_ROLES
    assert (
        access.environment_can_access_organisation(session, environment_id=firm.id, organisation=organisation)
        is gives_access
    )
    assert (
        access.user_can_access_organisation(session, user=member, organisation=organisation) is gives_access
    )
    # A second, Advanced member of the firm gives the environment access whatever the first one is.
    make_membership(session, make_user(session, firm, role=Role.ADVANCED_USER.value), organisation)
    assert access.environment_can_access_organisation(
        session, environment_id=firm.id, organisation=organisation
    )
    assert (
        access.user_can_access_organisation(session, user=member, organisation=organisation) is gives_access
    )


@pytest.mark.parametrize("role", [*ROLES, "manager"])
def test_a_partner_organisation_that_is_not_activated_is_reached_by_nobody_of_the_partner(
    session: Session, role: str
) -> None:
    """Only activated organisations are reached through keys and partnerships: a membership of a
    non-activated organisation (and a connected manager) gives the partner nothing; its own
    environment still opens it (to activate it), without keys."""
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    client_admin = make_admin(session, client)
    organisation = make_organisation(session, client, name="Not activated", activated=False)
    partnership = make_partnership(session, firm, client)
    make_membership(session, accountant, organisation)
    if role == "manager":
        viewer = make_relationship_manager(session, firm)
        connect_manager_row(session, partnership, viewer)
    else:
        viewer = make_actor(session, firm, role)
        make_membership(session, viewer, organisation, role=MembershipRole.ADMINISTRATOR.value)

    assert not access.environment_can_access_organisation(
        session, environment_id=firm.id, organisation=organisation
    )
    for user in (viewer, accountant):
        assert not access.user_can_access_organisation(session, user=user, organisation=organisation)
        assert not access.user_can_see_keys(session, user=user, organisation=organisation)
    assert not members.can_manage_members(session, actor=viewer, organisation=organisation)
    assert access.user_can_access_organisation(session, user=client_admin, organisation=organisation)
    assert not access.user_can_see_keys(session, user=client_admin, organisation=organisation)
    assert not access.environment_can_access_organisation(
        session, environment_id=client.id, organisation=organisation
    )

    # Activated, it is reached (by the viewer too when they are an Advanced user or Administrator).
    organisation.activated_at = utcnow()
    session.add(organisation)
    session.commit()
    assert access.environment_can_access_organisation(
        session, environment_id=firm.id, organisation=organisation
    )
    assert access.user_can_access_organisation(session, user=accountant, organisation=organisation)
    assert access.user_can_access_organisation(session, user=viewer, organisation=organisation) is (
        viewer.role in PARTNERSHIP_ROLES
    )
    assert access.user_can_see_keys(session, user=client_admin, organisation=organisation)


def test_accessible_organisations_leaves_out_a_partners_organisation_that_is_not_activated(
    session: Session,
) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    organisation = make_organisation(session, client, name="Not activated", activated=False)
    make_partnership(session, firm, client)
    make_membership(session, accountant, organisation)

    assert not access.user_can_access_organisation(session, user=accountant, organisation=organisation)
    assert organisation.id not in {o.id for o in access.accessible_organisations(session, user=accountant)}


def test_a_manager_connected_to_one_partnership_does_not_reach_another_partner(session: Session) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    manager = make_relationship_manager(session, firm)
    colleague = make_user(session, firm, role=Role.ADVANCED_USER.value)
    first = make_environment(session, name="First client")
    second = make_environment(session, name="Second client")
    first_organisation = make_organisation(session, first, activated=True)
    second_organisation = make_organisation(session, second, activated=True)
    connect_manager_row(session, make_partnership(session, firm, first), manager)
    make_partnership(session, firm, second)
    make_membership(session, colleague, first_organisation)
    make_membership(session, colleague, second_organisation)

    assert access.user_can_access_organisation(session, user=manager, organisation=first_organisation)
    assert not access.user_can_access_organisation(session, user=manager, organisation=second_organisation)


def test_a_manager_of_the_client_side_does_not_reach_the_firms_organisations_without_a_member(
    session: Session,
) -> None:
    """The way in is through the manager's own environment's memberships, never the other way round."""
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    firm_user = make_user(session, firm, role=Role.ADVANCED_USER.value)
    firm_organisation = make_organisation(session, firm, activated=True)
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    client_manager = make_relationship_manager(session, client, role=Role.ADVANCED_USER.value)
    client_organisation = make_organisation(session, client, activated=True)
    partnership = make_partnership(session, firm, client)
    connect_manager_row(session, partnership, client_manager)
    make_membership(session, firm_user, client_organisation)  # the firm reaches the client

    assert not access.user_can_access_organisation(
        session, user=client_manager, organisation=firm_organisation
    )
    assert not access.environment_can_access_organisation(
        session, environment_id=client.id, organisation=firm_organisation
    )


def test_accessible_organisations_agrees_with_the_one_by_one_answer(session: Session) -> None:
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    admin = make_admin(session, firm)
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    manager = make_relationship_manager(session, firm)
    plain = make_user(session, firm)
    own = [make_organisation(session, firm, name=f"Own {n}", activated=n % 2 == 0) for n in range(2)]
    client = make_environment(session, name="Client")
    other_client = make_environment(session, name="Other client")
    stranger = make_environment(session, name="Stranger")
    # Partner organisations in use are activated (only activated organisations are reached).
    client_orgs = [make_organisation(session, client, name=f"Client {n}", activated=True) for n in range(3)]
    other_orgs = [
        make_organisation(session, other_client, name=f"Other {n}", activated=True) for n in range(2)
    ]
    stranger_org = make_organisation(session, stranger, name="Stranger org", activated=True)
    partnership = make_partnership(session, firm, client)
    ended = make_partnership(session, other_client, firm, initiator=firm)
    connect_manager_row(session, partnership, manager)
    make_membership(session, accountant, client_orgs[0])
    make_membership(session, plain, client_orgs[1], role=MembershipRole.ADMINISTRATOR.value)
    make_membership(session, accountant, client_orgs[2], status=MembershipStatus.INVITED.value)
    make_membership(session, accountant, other_orgs[0])
    make_membership(session, admin, stranger_org)
    end_partnership_row(session, ended)
    everything = [*own, *client_orgs, *other_orgs, stranger_org]

    for user in (admin, accountant, manager, plain):
        listed = [o.id for o in access.accessible_organisations(session, user=user)]
        one_by_one = [
            o.id
            for o in everything
            if access.user_can_access_organisation(session, user=user, organisation=o)
        ]
        assert sorted(listed) == sorted(one_by_one), user.email
        assert len(listed) == len(set(listed))
    assert {o.id for o in access.accessible_organisations(session, user=accountant)} == {
        own[0].id,
        own[1].id,
        client_orgs[0].id,
    }
    # The manager reaches what the firm reaches through the accountant; the plain User's
    # Administrator membership of Client 1 gives neither them nor the firm (nor the manager) access.
    assert {o.id for o in access.accessible_organisations(session, user=manager)} == {
        own[0].id,
        own[1].id,
        client_orgs[0].id,
    }
    assert {o.id for o in access.accessible_organisations(session, user=plain)} == {own[0].id, own[1].id}
    assert {o.id for o in access.accessible_organisations(session, user=admin)} == {own[0].id, own[1].id}
    assert not access.environment_can_access_organisation(
        session, environment_id=firm.id, organisation=client_orgs[1]
    )
