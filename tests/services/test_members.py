"""Member management of one organisation: adding (own users at once, partner users by invitation),
answering invitations, changing roles, removing, the last Administrator, and who may do what."""

from __future__ import annotations

import itertools

import pytest
from conftest_factories import (
    activities,
    count,
    make_admin,
    make_environment,
    make_organisation,
    make_user,
    outbox,
)
from partnership_factories import (
    BLOCKED,
    ROLES,
    Pair,
    end_partnership_row,
    fresh,
    hold_until_both_arrive,
    make_actor,
    make_membership,
    make_pair,
    make_partnership,
    notifications,
    run_together,
    snapshot,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import live
from econnect_app.models import (
    Membership,
    MembershipEndReason,
    MembershipRole,
    MembershipStatus,
    Organisation,
    Plan,
    Role,
    User,
    UserStatus,
)
from econnect_app.services import access, members, memberships
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

MEMBER = MembershipRole.MEMBER.value
ADMINISTRATOR = MembershipRole.ADMINISTRATOR.value
ACTIVE = MembershipStatus.ACTIVE.value
INVITED = MembershipStatus.INVITED.value
ENDED = MembershipStatus.ENDED.value


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def current_memberships(session: Session, organisation: Organisation) -> list[Membership]:
    statement = (
        select(Membership)
        .where(Membership.organisation_id == organisation.id, Membership.status != ENDED)
        .order_by(Membership.id)
    )
    return list(session.exec(statement.execution_options(populate_existing=True)))


# --- adding an own user ---------------------------------------------------------------------------


def test_a_user_of_the_own_environment_becomes_a_member_at_once(
    session: Session, published: list[int]
) -> None:
    pair = make_pair(session)
    colleague = make_user(session, pair.client, name="Carla Client")
    published.clear()

    membership = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=str(colleague.id),
        role=MEMBER,
    )

    stored = fresh(session, Membership, membership.id)
    assert (stored.user_id, stored.role, stored.status) == (colleague.id, MEMBER, ACTIVE)
    assert stored.accepted_at is not None and stored.created_by_id == pair.client_admin.id
    assert access.user_can_access_organisation(session, user=colleague, organisation=pair.client_organisation)
    [entry] = activities(session, action="membership.added")
    assert entry.environment_id == pair.client.id
    assert entry.summary == "Kees Koren added Carla Client to Bakkerij De Korenbloem as Member."
    assert outbox(session) == []  # no invitation for an own user
    assert notifications(session) == []
    assert published == [pair.client.id]
    view = members.members_view(session, actor=pair.client_admin, organisation_id=pair.client_organisation.id)
    assert [(row.name, row.role, row.status, row.is_partner) for row in view.members] == [
        ("Ada Lovelace", MEMBER, ACTIVE, True),
        ("Carla Client", MEMBER, ACTIVE, False),
        ("Kees Koren", ADMINISTRATOR, ACTIVE, False),
    ]


# --- inviting a partner user ----------------------------------------------------------------------


def test_a_partner_user_is_invited_and_reaches_the_organisation_only_after_accepting(
    session: Session, published: list[int]
) -> None:
    pair = make_pair(session, accountant_member=False)
    organisation = pair.client_organisation
    published.clear()

    invitation = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=organisation.id,
        user_id=pair.accountant.id,
        role=ADMINISTRATOR,
    )

    assert fresh(session, Membership, invitation.id).status == INVITED
    assert not access.user_can_access_organisation(session, user=pair.accountant, organisation=organisation)
    assert not access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=organisation
    )
    [notification] = notifications(session)
    assert (notification.environment_id, notification.user_id) == (pair.firm.id, pair.accountant.id)
    assert notification.message == (
        "Bakkerij De Korenbloem (Korenbloem Holding) wants to work with you as Administrator. "
        "Accept or decline under Organisations."
    )
    [email] = outbox(session, template="membership_invitation")
    assert email.to_address == "ada@lovelace.example"
    assert email.subject == "Bakkerij De Korenbloem wants to work with you on eConnect"
    assert "http://localhost:3000/organisations" in email.text_body
    assert 'href="http://localhost:3000/organisations"' in email.html_body
    assert sorted(
        entry.environment_id for entry in activities(session, action="membership.invited")
    ) == sorted([pair.firm.id, pair.client.id])
    assert sorted(published) == sorted([pair.firm.id, pair.client.id])
    [row] = members.list_invitations(session, actor=pair.accountant)
    assert (row.membership_id, row.organisation_name, row.environment_name, row.role, row.invited_by) == (
        invitation.id,
        "Bakkerij De Korenbloem",
        "Korenbloem Holding",
        ADMINISTRATOR,
        "Kees Koren",
    )

    accepted = members.accept_invitation(session, actor=pair.accountant, membership_id=invitation.id)

    stored = fresh(session, Membership, accepted.id)
    assert (stored.status, stored.role) == (ACTIVE, ADMINISTRATOR)
    assert stored.accepted_at is not None
    assert access.user_can_access_organisation(session, user=pair.accountant, organisation=organisation)
    assert access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=organisation
    )
    assert members.can_manage_members(session, actor=pair.accountant, organisation=organisation)
    assert members.list_invitations(session, actor=pair.accountant) == []
    assert len(activities(session, action="membership.accepted")) == 2
    [told] = notifications(session, kind="membership.accepted")
    assert told.environment_id == pair.client.id and told.user_id is None
    assert told.message == (
        "Ada Lovelace (Lovelace Accounting) accepted the invitation to work with Bakkerij De Korenbloem."
    )
    assert told.link == f"/organisations/{organisation.id}/members"


def test_declining_an_invitation_ends_it_keeps_it_and_tells_the_organisation(session: Session) -> None:
    pair = make_pair(session, accountant_member=False)
    invitation = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=pair.accountant.id,
        role=MEMBER,
    )

    members.decline_invitation(session, actor=pair.accountant, membership_id=invitation.id)

    stored = fresh(session, Membership, invitation.id)
    assert (stored.status, stored.end_reason, stored.ended_by_id) == (
        ENDED,
        MembershipEndReason.DECLINED.value,
        pair.accountant.id,
    )
    assert stored.ended_at is not None
    assert not access.user_can_access_organisation(
        session, user=pair.accountant, organisation=pair.client_organisation
    )
    [told] = notifications(session, kind="membership.declined")
    assert told.environment_id == pair.client.id
    assert len(activities(session, action="membership.declined")) == 2
    # Declined, it can be offered again later.
    again = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=pair.accountant.id,
        role=MEMBER,
    )
    assert again.id != invitation.id and fresh(session, Membership, again.id).status == INVITED


def test_an_invitation_is_answered_once_and_only_by_its_user(session: Session) -> None:
    pair = make_pair(session, accountant_member=False)
    invitation = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=pair.accountant.id,
        role=MEMBER,
    )
    before = snapshot(session)

    for actor in (pair.firm_admin, pair.client_admin):
        with pytest.raises(NotFound, match="no longer open"):
            members.accept_invitation(session, actor=actor, membership_id=invitation.id)
        with pytest.raises(NotFound, match="no longer open"):
            members.decline_invitation(session, actor=actor, membership_id=invitation.id)
    with pytest.raises(NotFound):
        members.accept_invitation(session, actor=pair.accountant, membership_id=2**40)
    assert snapshot(session) == before

    members.accept_invitation(session, actor=pair.accountant, membership_id=invitation.id)
    after_accept = snapshot(session)
    with pytest.raises(NotFound, match="no longer open"):
        members.accept_invitation(session, actor=pair.accountant, membership_id=invitation.id)
    with pytest.raises(NotFound, match="no longer open"):
        members.decline_invitation(session, actor=pair.accountant, membership_id=invitation.id)
    assert snapshot(session) == after_accept


def test_an_invitation_cannot_be_accepted_once_the_partnership_is_gone(session: Session) -> None:
    pair = make_pair(session, accountant_member=False)
    invitation = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=pair.accountant.id,
        role=MEMBER,
    )
    end_partnership_row(session, pair.partnership)  # (the service would end the invitation too)
    before = snapshot(session)

    assert members.list_invitations(session, actor=pair.accountant) == []
    with pytest.raises(Conflict, match="no longer have an active partnership"):
        members.accept_invitation(session, actor=pair.accountant, membership_id=invitation.id)
    assert snapshot(session) == before


def test_a_blocked_user_cannot_answer_an_invitation(session: Session) -> None:
    pair = make_pair(session, accountant_member=False)
    invitation = members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=pair.accountant.id,
        role=MEMBER,
    )
    pair.accountant.status = UserStatus.BLOCKED.value
    session.add(pair.accountant)
    session.commit()
    before = snapshot(session)

    with pytest.raises(PermissionDenied, match="not active"):
        members.accept_invitation(session, actor=pair.accountant, membership_id=invitation.id)
    with pytest.raises(PermissionDenied, match="not active"):
        members.list_invitations(session, actor=pair.accountant)
    assert snapshot(session) == before


# --- who may manage members: environment role × organisation role × side --------------------------


OPERATIONS = ("add", "change role", "remove")


def _operate(
    session: Session, operation: str, *, actor: User, pair: Pair, target: Membership, newcomer: User
):  # type: ignore[no-untyped-def]
    if operation == "add":
        return members.add_member(
            session,
            actor=actor,
            organisation_id=pair.client_organisation.id,
            user_id=newcomer.id,
            role=MEMBER,
        )
    if operation == "change role":
        return members.change_member_role(session, actor=actor, membership_id=target.id, role=ADMINISTRATOR)
    return members.remove_member(session, actor=actor, membership_id=target.id)


@pytest.mark.parametrize(
    ("side", "role", "organisation_role", "operation"),
    list(itertools.product(("own", "partner"), (*ROLES, BLOCKED), (None, MEMBER, ADMINISTRATOR), OPERATIONS)),
)
def test_who_may_manage_members(
    session: Session, side: str, role: str, organisation_role: str | None, operation: str
) -> None:
    pair = make_pair(session)
    environment = pair.client if side == "own" else pair.firm
    actor = make_actor(session, environment, role, name="Actor")
    if organisation_role is not None:
        make_membership(session, actor, pair.client_organisation, role=organisation_role)
    target = make_membership(
        session, make_user(session, pair.client, name="Target"), pair.client_organisation
    )
    newcomer = make_user(session, pair.client, name="Newcomer")
    before = snapshot(session)

    # A partner user gets in only as an Advanced user or Administrator with a membership.
    may_open = role != BLOCKED and (
        side == "own" or (organisation_role is not None and role != Role.USER.value)
    )
    allowed = may_open and (
        organisation_role == ADMINISTRATOR or (side == "own" and role == Role.ADMINISTRATOR.value)
    )
    # A partner's Administrator member manages the members, but adds users of their own environment
    # only: not the newcomer of the owning environment (see test_who_may_add_whom).
    adds_foreign_user = operation == "add" and side == "partner"
    if allowed and not adds_foreign_user:
        _operate(session, operation, actor=actor, pair=pair, target=target, newcomer=newcomer)
        assert snapshot(session) != before
        return
    if role == BLOCKED:
        expected, message = PermissionDenied, "not active"
    elif not may_open:
        expected, message = NotFound, "does not exist or you have no access"
    elif not allowed:
        expected, message = PermissionDenied, "Only administrators of this organisation"
    else:
        expected, message = ValidationFailed, "Please correct the highlighted fields"
    with pytest.raises(expected, match=message) as caught:
        _operate(session, operation, actor=actor, pair=pair, target=target, newcomer=newcomer)
    if expected is ValidationFailed:  # a partner's manager adds users of their own environment only
        assert caught.value.errors == {"user": members.CHOOSE_OWN_USER}
    assert snapshot(session) == before
    if role != BLOCKED:
        if may_open:
            view = members.members_view(session, actor=actor, organisation_id=pair.client_organisation.id)
            assert view.can_manage is allowed
            # A partner's Administrator member is offered users of their own environment only.
            assert newcomer.id not in {c.user_id for c in view.candidates}
            assert all(c.is_partner for c in view.candidates)
            if not allowed:
                assert view.candidates == []
        else:
            with pytest.raises(NotFound):
                members.members_view(session, actor=actor, organisation_id=pair.client_organisation.id)


CANDIDATES = (
    "client User",
    "client Advanced user",
    "firm User",
    "firm Advanced user",
    "firm Administrator",
    "blocked firm Advanced user",
    "second partner's Advanced user",
    "stranger's Administrator",
)
# Whom each manager may add. The owning environment's managers: any active user of their own
# environment and the Advanced users and Administrators of its partners. A partner's Administrator
# member: the Advanced users and Administrators of their own environment only.
MAY_ADD = {
    "client Administrator": {
        "client User",
        "client Advanced user",
        "firm Advanced user",
        "firm Administrator",
        "second partner's Advanced user",
    },
    "firm's Administrator member": {"firm Advanced user", "firm Administrator"},
}


@pytest.mark.parametrize(("adder", "candidate"), list(itertools.product(MAY_ADD, CANDIDATES)))
def test_who_may_add_whom(session: Session, adder: str, candidate: str) -> None:
    pair = make_pair(session)
    second = make_environment(session, name="Second Firm", plan=Plan.BASIC.value)
    make_partnership(session, second, pair.client)
    stranger = make_environment(session, name="Stranger", plan=Plan.BASIC.value)
    people = {
        "client User": make_user(session, pair.client, role=Role.USER.value),
        "client Advanced user": make_user(session, pair.client, role=Role.ADVANCED_USER.value),
        "firm User": make_user(session, pair.firm, role=Role.USER.value),
        "firm Advanced user": make_user(session, pair.firm, role=Role.ADVANCED_USER.value),
        "firm Administrator": make_admin(session, pair.firm),
        "blocked firm Advanced user": make_user(
            session, pair.firm, role=Role.ADVANCED_USER.value, status=UserStatus.BLOCKED.value
        ),
        "second partner's Advanced user": make_user(session, second, role=Role.ADVANCED_USER.value),
        "stranger's Administrator": make_admin(session, stranger),
    }
    if adder == "client Administrator":
        actor = pair.client_admin
    else:  # the accountant, an Administrator member of the client's organisation
        pair.accountant_membership.role = ADMINISTRATOR
        session.add(pair.accountant_membership)
        session.commit()
        actor = pair.accountant
    user = people[candidate]
    organisation_id = pair.client_organisation.id
    may_add = candidate in MAY_ADD[adder]

    view = members.members_view(session, actor=actor, organisation_id=organisation_id)
    assert view.can_manage
    assert (user.id in {c.user_id for c in view.candidates}) is may_add
    before = snapshot(session)

    if may_add:
        membership = members.add_member(
            session, actor=actor, organisation_id=organisation_id, user_id=user.id, role=MEMBER
        )
        partner = user.environment_id != pair.client.id
        assert fresh(session, Membership, membership.id).status == (INVITED if partner else ACTIVE)
        return
    with pytest.raises(ValidationFailed) as caught:
        members.add_member(
            session, actor=actor, organisation_id=organisation_id, user_id=user.id, role=MEMBER
        )
    own_only = actor.environment_id != pair.client.id
    assert caught.value.errors == {"user": members.CHOOSE_OWN_USER if own_only else members.CHOOSE_USER}
    assert snapshot(session) == before


def test_a_partners_administrator_member_is_offered_their_own_environments_advanced_users(
    session: Session,
) -> None:
    pair = make_pair(session)
    pair.accountant_membership.role = ADMINISTRATOR
    session.add(pair.accountant_membership)
    session.commit()
    make_user(session, pair.client, name="Olga Own")
    make_user(session, pair.firm, name="Uma User", role=Role.USER.value)
    make_user(session, pair.firm, name="Alex Advanced", role=Role.ADVANCED_USER.value)
    second = make_environment(session, name="Second Firm", plan=Plan.BASIC.value)
    make_partnership(session, second, pair.client)
    make_admin(session, second, name="Sara Second")

    view = members.members_view(session, actor=pair.accountant, organisation_id=pair.client_organisation.id)

    assert (view.is_own, view.can_manage) == (False, True)
    assert [(c.name, c.environment_name, c.is_partner) for c in view.candidates] == [
        ("Alex Advanced", "Lovelace Accounting", True),
        ("Fiona Firm", "Lovelace Accounting", True),
    ]


@pytest.mark.parametrize("state", ["none", "active", "ended"])
def test_a_partner_user_can_be_invited_only_during_an_active_partnership(
    session: Session, state: str
) -> None:
    client = make_environment(session, name="Client", plan=Plan.BASIC.value)
    admin = make_admin(session, client)
    organisation = make_organisation(session, client, activated=True)
    make_membership(session, admin, organisation, role=ADMINISTRATOR)
    firm = make_environment(session, name="Firm", plan=Plan.BASIC.value)
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value)
    if state != "none":
        partnership = make_partnership(session, firm, client)
        if state == "ended":
            end_partnership_row(session, partnership)
    before = snapshot(session)

    if state == "active":
        invitation = members.add_member(
            session, actor=admin, organisation_id=organisation.id, user_id=accountant.id, role=MEMBER
        )
        assert fresh(session, Membership, invitation.id).status == INVITED
        return
    candidates = members.members_view(session, actor=admin, organisation_id=organisation.id).candidates
    assert accountant.id not in {candidate.user_id for candidate in candidates}
    with pytest.raises(ValidationFailed) as caught:
        members.add_member(
            session, actor=admin, organisation_id=organisation.id, user_id=accountant.id, role=MEMBER
        )
    assert caught.value.errors == {"user": members.CHOOSE_USER}
    assert snapshot(session) == before


# --- bad input ------------------------------------------------------------------------------------


def test_adding_to_an_unknown_a_foreign_or_an_inactive_organisation(session: Session) -> None:
    pair = make_pair(session)
    stranger = make_environment(session, name="Stranger")
    strangers_organisation = make_organisation(session, stranger, activated=True)
    inactive = make_organisation(session, pair.client, name="Not activated yet")
    colleague = make_user(session, pair.client)
    before = snapshot(session)

    for organisation_id in (999_999, 0, -1, 2**40, strangers_organisation.id):
        with pytest.raises(NotFound, match="does not exist or you have no access"):
            members.add_member(
                session,
                actor=pair.client_admin,
                organisation_id=organisation_id,
                user_id=colleague.id,
                role=MEMBER,
            )
    with pytest.raises(Conflict, match="Activate this organisation before you add members"):
        members.add_member(
            session, actor=pair.client_admin, organisation_id=inactive.id, user_id=colleague.id, role=MEMBER
        )
    assert snapshot(session) == before


def test_adding_an_unknown_or_unsuitable_user_or_role_says_which_field(session: Session) -> None:
    pair = make_pair(session)
    stranger_environment = make_environment(session, name="Stranger", plan=Plan.BASIC.value)
    stranger = make_admin(session, stranger_environment)
    partner_plain_user = make_user(session, pair.firm, role=Role.USER.value)
    blocked = make_user(session, pair.client, status=UserStatus.BLOCKED.value)
    not_signed_up = make_user(session, pair.client, status=UserStatus.INVITED.value, password_hash=None)
    colleague = make_user(session, pair.client)
    organisation_id = pair.client_organisation.id
    before = snapshot(session)

    for user_id in (
        "999999",
        "abc",
        "",
        "  ",
        "-3",
        "12345678901234",
        "\u00b2",  # a digit to str.isdigit(), not to int()
        "2\u00b2",
        None,
        stranger.id,
        partner_plain_user.id,  # a partnership gives access to Advanced users and Administrators only
        blocked.id,
        not_signed_up.id,
    ):
        with pytest.raises(ValidationFailed) as caught:
            members.add_member(
                session,
                actor=pair.client_admin,
                organisation_id=organisation_id,
                user_id=user_id,
                role=MEMBER,
            )
        assert caught.value.errors == {"user": members.CHOOSE_USER}, user_id
    for role in ("Owner", "", "member"):
        with pytest.raises(ValidationFailed) as caught:
            members.add_member(
                session,
                actor=pair.client_admin,
                organisation_id=organisation_id,
                user_id=colleague.id,
                role=role,
            )
        assert caught.value.errors == {"role": members.CHOOSE_ROLE}
    with pytest.raises(ValidationFailed) as caught:
        members.add_member(
            session, actor=pair.client_admin, organisation_id=organisation_id, user_id="x", role="x"
        )
    assert set(caught.value.errors) == {"user", "role"}
    assert snapshot(session) == before


def test_adding_the_same_user_twice_gives_one_membership_and_a_clear_message(session: Session) -> None:
    pair = make_pair(session)
    colleague = make_user(session, pair.client, name="Carla Client")
    partner_user = make_user(session, pair.firm, name="Pieter Partner", role=Role.ADVANCED_USER.value)
    organisation_id = pair.client_organisation.id
    members.add_member(
        session, actor=pair.client_admin, organisation_id=organisation_id, user_id=colleague.id, role=MEMBER
    )
    members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=organisation_id,
        user_id=partner_user.id,
        role=MEMBER,
    )
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as caught:
        members.add_member(
            session,
            actor=pair.client_admin,
            organisation_id=organisation_id,
            user_id=colleague.id,
            role=ADMINISTRATOR,
        )
    assert caught.value.errors == {"user": "Carla Client is already a member."}
    with pytest.raises(ValidationFailed) as caught:
        members.add_member(
            session,
            actor=pair.client_admin,
            organisation_id=organisation_id,
            user_id=partner_user.id,
            role=MEMBER,
        )
    assert caught.value.errors == {"user": "Pieter Partner has been invited already."}
    assert snapshot(session) == before


@pytest.mark.parametrize("partner", [False, True], ids=["own user", "partner user"])
def test_two_administrators_adding_the_same_user_at_once_give_one_membership(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch, partner: bool
) -> None:
    pair = make_pair(session)
    second_admin = make_admin(session, pair.client, name="Second Admin")
    newcomer = make_user(
        session, pair.firm if partner else pair.client, name="Nina New", role=Role.ADVANCED_USER.value
    )
    hold_until_both_arrive(monkeypatch, memberships, "add_membership_row")

    def add(actor: User):  # type: ignore[no-untyped-def]
        return lambda own: members.add_member(
            own, actor=actor, organisation_id=pair.client_organisation.id, user_id=newcomer.id, role=MEMBER
        )

    results = run_together(engine, add(pair.client_admin), add(second_admin))

    added = [r for r in results if isinstance(r, Membership)]
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(added) == 1 and len(refused) == 1, results
    what = "has been invited already" if partner else "is already a member"
    assert refused[0].errors == {"user": f"Nina New {what}."}
    session.expire_all()
    rows = session.exec(select(Membership).where(Membership.user_id == newcomer.id)).all()
    assert len(rows) == 1
    action = "membership.invited" if partner else "membership.added"
    assert len(activities(session, action=action)) == (2 if partner else 1)
    assert len(outbox(session)) == (1 if partner else 0)


# --- changing a role ------------------------------------------------------------------------------


def test_promoting_and_demoting_a_member(session: Session) -> None:
    pair = make_pair(session)
    membership = pair.accountant_membership

    members.change_member_role(
        session, actor=pair.client_admin, membership_id=membership.id, role=ADMINISTRATOR
    )
    assert fresh(session, Membership, membership.id).role == ADMINISTRATOR
    assert members.can_manage_members(session, actor=pair.accountant, organisation=pair.client_organisation)
    [entry, other_side] = activities(session, action="membership.role_changed")
    assert {entry.environment_id, other_side.environment_id} == {pair.firm.id, pair.client.id}
    assert entry.summary == (
        "Kees Koren made Ada Lovelace Administrator of Bakkerij De Korenbloem (was Member)."
    )

    # With two Administrators, either may step down.
    members.change_member_role(
        session, actor=pair.accountant, membership_id=pair.client_admin_membership.id, role=MEMBER
    )
    assert fresh(session, Membership, pair.client_admin_membership.id).role == MEMBER

    # Choosing the role a member has already changes nothing.
    before = snapshot(session)
    members.change_member_role(
        session, actor=pair.accountant, membership_id=membership.id, role=ADMINISTRATOR
    )
    assert snapshot(session) == before


def test_the_last_administrator_cannot_be_demoted_or_removed(session: Session) -> None:
    pair = make_pair(session)
    environment_admin = make_admin(session, pair.client, name="Env Admin")  # manages without a membership
    last = pair.client_admin_membership
    before = snapshot(session)

    for actor in (pair.client_admin, environment_admin):
        with pytest.raises(Conflict, match="needs at least one Administrator"):
            members.change_member_role(session, actor=actor, membership_id=last.id, role=MEMBER)
        with pytest.raises(Conflict, match="needs at least one Administrator"):
            members.remove_member(session, actor=actor, membership_id=last.id)
    assert snapshot(session) == before
    assert fresh(session, Membership, last.id).status == ACTIVE


def test_an_invited_administrator_is_not_counted_as_one(session: Session) -> None:
    pair = make_pair(session)
    members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=pair.firm_admin.id,
        role=ADMINISTRATOR,
    )
    before = snapshot(session)

    with pytest.raises(Conflict, match="needs at least one Administrator"):
        members.remove_member(session, actor=pair.client_admin, membership_id=pair.client_admin_membership.id)
    assert snapshot(session) == before


def test_an_invitation_as_administrator_can_be_withdrawn_or_changed_without_an_active_administrator(
    session: Session,
) -> None:
    """An organisation may have no Administrator member (its environment's Administrators manage
    it); withdrawing or changing an *invitation* does not touch the active Administrators."""
    pair = make_pair(session)
    environment_admin = make_admin(session, pair.client, name="Env Admin")
    bare = make_organisation(session, pair.client, name="No administrator member", activated=True)
    first = members.add_member(
        session,
        actor=environment_admin,
        organisation_id=bare.id,
        user_id=pair.accountant.id,
        role=ADMINISTRATOR,
    )
    second = members.add_member(
        session,
        actor=environment_admin,
        organisation_id=bare.id,
        user_id=pair.firm_admin.id,
        role=ADMINISTRATOR,
    )

    members.change_member_role(session, actor=environment_admin, membership_id=first.id, role=MEMBER)
    members.remove_member(session, actor=environment_admin, membership_id=second.id)

    assert fresh(session, Membership, first.id).role == MEMBER
    withdrawn = fresh(session, Membership, second.id)
    assert (withdrawn.status, withdrawn.end_reason) == (ENDED, MembershipEndReason.REMOVED.value)
    assert activities(session, action="membership.removed")[-1].summary == (
        f"Env Admin withdrew the invitation of {pair.firm_admin.name} from No administrator member."
    )


def test_two_administrators_demoting_each_other_at_once_leave_one(
    session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session)
    other = make_admin(session, pair.client, name="Other Admin")
    other_membership = make_membership(session, other, pair.client_organisation, role=ADMINISTRATOR)
    hold_until_both_arrive(monkeypatch, members, "_lock_organisation")

    results = run_together(
        engine,
        lambda own: members.change_member_role(
            own, actor=pair.client_admin, membership_id=other_membership.id, role=MEMBER
        ),
        lambda own: members.change_member_role(
            own, actor=other, membership_id=pair.client_admin_membership.id, role=MEMBER
        ),
    )

    assert sum(isinstance(r, Membership) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    session.expire_all()
    roles = [fresh(session, Membership, m.id).role for m in (other_membership, pair.client_admin_membership)]
    assert sorted(roles) == [ADMINISTRATOR, MEMBER]


def test_changing_a_role_of_an_unknown_ended_or_foreign_membership(session: Session) -> None:
    pair = make_pair(session)
    stranger = make_environment(session, name="Stranger")
    stranger_admin = make_admin(session, stranger)
    strangers_membership = make_membership(session, stranger_admin, make_organisation(session, stranger))
    gone = make_membership(session, make_user(session, pair.client), pair.client_organisation)
    members.remove_member(session, actor=pair.client_admin, membership_id=gone.id)
    before = snapshot(session)

    for membership_id in (999_999, 0, -5, 2**40, gone.id):
        with pytest.raises(NotFound, match="does not exist"):
            members.change_member_role(
                session, actor=pair.client_admin, membership_id=membership_id, role=ADMINISTRATOR
            )
        with pytest.raises(NotFound, match="does not exist"):
            members.remove_member(session, actor=pair.client_admin, membership_id=membership_id)
    with pytest.raises(NotFound, match="no access"):
        members.change_member_role(
            session, actor=pair.client_admin, membership_id=strangers_membership.id, role=MEMBER
        )
    with pytest.raises(NotFound, match="no access"):
        members.remove_member(session, actor=pair.client_admin, membership_id=strangers_membership.id)
    with pytest.raises(ValidationFailed) as caught:
        members.change_member_role(
            session, actor=pair.client_admin, membership_id=pair.accountant_membership.id, role="Owner"
        )
    assert caught.value.errors == {"role": members.CHOOSE_ROLE}
    assert snapshot(session) == before


# --- removing -------------------------------------------------------------------------------------


def test_removing_ends_the_membership_and_keeps_it(session: Session, published: list[int]) -> None:
    pair = make_pair(session)
    memberships_before = count(session, Membership)
    published.clear()

    members.remove_member(session, actor=pair.client_admin, membership_id=pair.accountant_membership.id)

    stored = fresh(session, Membership, pair.accountant_membership.id)
    assert (stored.status, stored.end_reason, stored.ended_by_id) == (
        ENDED,
        MembershipEndReason.REMOVED.value,
        pair.client_admin.id,
    )
    assert stored.ended_at is not None
    assert count(session, Membership) == memberships_before  # kept as history
    assert sorted(published) == sorted([pair.firm.id, pair.client.id])  # both sides' open pages refresh
    [told] = notifications(session, kind="membership.removed")
    assert (told.environment_id, told.user_id) == (pair.firm.id, pair.accountant.id)
    assert told.message == "You no longer have access to Bakkerij De Korenbloem."
    assert sorted(
        entry.environment_id for entry in activities(session, action="membership.removed")
    ) == sorted([pair.firm.id, pair.client.id])
    before = snapshot(session)
    with pytest.raises(NotFound):
        members.remove_member(session, actor=pair.client_admin, membership_id=pair.accountant_membership.id)
    assert snapshot(session) == before


def test_removing_the_last_member_of_a_partner_environment_takes_its_access_away(session: Session) -> None:
    pair = make_pair(session)
    colleague = make_user(session, pair.firm, role=Role.ADVANCED_USER.value)
    colleague_membership = make_membership(session, colleague, pair.client_organisation)
    plain = make_user(session, pair.firm, role=Role.USER.value)
    make_membership(session, plain, pair.client_organisation)  # stays; gives the firm nothing
    organisation = pair.client_organisation

    members.remove_member(session, actor=pair.client_admin, membership_id=pair.accountant_membership.id)
    # Another member of the firm remains: the firm (its keys) still reaches the organisation,
    # the removed accountant does not.
    assert access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=organisation
    )
    assert not access.user_can_access_organisation(session, user=pair.accountant, organisation=organisation)
    assert not access.user_can_see_keys(session, user=pair.accountant, organisation=organisation)

    members.remove_member(session, actor=pair.client_admin, membership_id=colleague_membership.id)
    # Only a plain User of the firm remains a member: a partnership gives access to Advanced users
    # and Administrators only, so the firm (its keys) no longer reaches the organisation.
    assert not access.environment_can_access_organisation(
        session, environment_id=pair.firm.id, organisation=organisation
    )
    assert not access.user_can_access_organisation(session, user=plain, organisation=organisation)
    assert organisation.id not in {o.id for o in access.accessible_organisations(session, user=colleague)}
    # The client keeps its organisation.
    assert access.user_can_access_organisation(session, user=pair.client_admin, organisation=organisation)


def test_a_member_may_remove_themselves_unless_they_are_the_last_administrator(session: Session) -> None:
    pair = make_pair(session)
    members.change_member_role(
        session, actor=pair.client_admin, membership_id=pair.accountant_membership.id, role=ADMINISTRATOR
    )

    members.remove_member(session, actor=pair.accountant, membership_id=pair.accountant_membership.id)

    assert fresh(session, Membership, pair.accountant_membership.id).status == ENDED
    with pytest.raises(Conflict):
        members.remove_member(session, actor=pair.client_admin, membership_id=pair.client_admin_membership.id)


# --- the members page -----------------------------------------------------------------------------


def test_members_view_for_an_administrator_offers_own_and_partner_users(session: Session) -> None:
    pair = make_pair(session)
    own_user = make_user(session, pair.client, name="Olga Own")
    make_user(session, pair.client, name="Bob Blocked", status=UserStatus.BLOCKED.value)
    invited_partner = make_user(session, pair.firm, name="Ivo Invited", role=Role.ADVANCED_USER.value)
    # A partner's plain User is not offered (partnerships give access to Advanced users and up).
    make_user(session, pair.firm, name="Paul Plain", role=Role.USER.value)
    stranger = make_environment(session, name="Stranger")
    make_admin(session, stranger, name="Sam Stranger")
    members.add_member(
        session,
        actor=pair.client_admin,
        organisation_id=pair.client_organisation.id,
        user_id=invited_partner.id,
        role=MEMBER,
    )

    view = members.members_view(session, actor=pair.client_admin, organisation_id=pair.client_organisation.id)

    assert (
        view.organisation_name,
        view.owner_environment_name,
        view.is_own,
        view.activated,
        view.can_manage,
    ) == ("Bakkerij De Korenbloem", "Korenbloem Holding", True, True, True)
    assert [(row.name, row.status, row.is_self) for row in view.members] == [
        ("Ada Lovelace", ACTIVE, False),
        ("Kees Koren", ACTIVE, True),
        ("Ivo Invited", INVITED, False),
    ]
    assert [(c.name, c.is_partner) for c in view.candidates] == [
        ("Olga Own", False),
        ("Fiona Firm", True),
    ]
    assert own_user.id in {c.user_id for c in view.candidates}

    partner_view = members.members_view(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )
    assert (partner_view.is_own, partner_view.can_manage, partner_view.candidates) == (False, False, [])
    with pytest.raises(NotFound):
        members.members_view(session, actor=invited_partner, organisation_id=pair.client_organisation.id)
    with pytest.raises(NotFound):
        members.members_view(session, actor=pair.firm_admin, organisation_id=pair.client_organisation.id)
