"""Organisations and onboarding: roles, validation, KvK duplicates, the plan limit."""

from __future__ import annotations

import pytest
from conftest_factories import (
    activities,
    count,
    make_admin,
    make_environment,
    make_organisation,
    make_user,
)
from sqlmodel import Session, select

from econnect_app.models import (
    ActivityLog,
    Environment,
    Membership,
    MembershipRole,
    Organisation,
    Plan,
    Role,
    UserStatus,
)
from econnect_app.services import organisations
from econnect_app.services.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PlanLimitReached,
    ValidationFailed,
)

GOOD = {"name": "Bakkerij De Korenbloem", "kvk_number": "12345678"}


def assert_nothing_written(session: Session) -> None:
    assert count(session, Organisation) == 0
    assert count(session, Membership) == 0
    assert count(session, ActivityLog) == 0


# --- add_organisation -------------------------------------------------------------------------


def test_administrator_adds_an_organisation(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)

    organisation = organisations.add_organisation(
        session,
        actor=admin,
        name="  Bakkerij  De Korenbloem ",
        kvk_number="1234 5678",
        vat_number="nl123456782b01",
        street="Dorpsstraat 1",
        postal_code="1234 ab",
        city="Utrecht",
    )

    stored = session.exec(select(Organisation)).one()
    assert stored.id == organisation.id
    assert stored.environment_id == environment.id
    assert stored.name == "Bakkerij De Korenbloem"
    assert stored.kvk_number == "12345678"
    assert stored.vat_number == "NL123456782B01"
    assert (stored.street, stored.postal_code, stored.city) == (
        "Dorpsstraat 1",
        "1234 AB",
        "Utrecht",
    )
    assert stored.activated_at is None
    assert stored.receive_e_invoices is False
    assert len(stored.identifier) >= 16
    assert stored.created_by_id == admin.id
    membership = session.exec(select(Membership)).one()
    assert (membership.organisation_id, membership.user_id) == (stored.id, admin.id)
    assert membership.role == MembershipRole.ADMINISTRATOR.value
    [entry] = activities(session, action="organisation.added")
    assert entry.environment_id == environment.id
    assert entry.actor_user_id == admin.id
    assert "Bakkerij De Korenbloem" in entry.summary


def test_vat_number_and_address_are_optional(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    organisation = organisations.add_organisation(session, actor=admin, **GOOD)
    assert organisation.vat_number is None
    assert (organisation.street, organisation.postal_code, organisation.city) == ("", "", "")


def test_identifiers_differ_per_organisation(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    first = organisations.add_organisation(session, actor=admin, name="One", kvk_number="11111111")
    second = organisations.add_organisation(session, actor=admin, name="Two", kvk_number="22222222")
    assert first.identifier != second.identifier


def test_advanced_user_adds_an_organisation(session: Session) -> None:
    environment = make_environment(session)
    advanced = make_user(session, environment, role=Role.ADVANCED_USER.value)
    organisation = organisations.add_organisation(session, actor=advanced, **GOOD)
    assert organisation.id is not None
    assert session.exec(select(Membership)).one().user_id == advanced.id


def test_plain_user_may_not_add_an_organisation(session: Session) -> None:
    user = make_user(session, make_environment(session), role=Role.USER.value)
    with pytest.raises(PermissionDenied) as raised:
        organisations.add_organisation(session, actor=user, **GOOD)
    assert raised.value.message == "Only Administrators and Advanced users can do this."
    assert_nothing_written(session)


@pytest.mark.parametrize("status", [UserStatus.BLOCKED.value, UserStatus.INVITED.value])
def test_inactive_administrator_may_not_add_an_organisation(session: Session, status: str) -> None:
    admin = make_admin(session, make_environment(session), status=status)
    with pytest.raises(PermissionDenied):
        organisations.add_organisation(session, actor=admin, **GOOD)
    assert_nothing_written(session)


def test_a_role_change_in_the_database_counts_at_once(session: Session) -> None:
    """The service reads the actor's role from the database, not from the object it is given."""
    environment = make_environment(session)
    admin = make_admin(session, environment)
    stale_copy = admin.model_copy()
    admin.role = Role.USER.value
    session.commit()
    with pytest.raises(PermissionDenied):
        organisations.add_organisation(session, actor=stale_copy, **GOOD)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "   ", "Enter the organisation name."),
        ("name", "x" * 201, "Use at most 200 characters."),
        ("kvk_number", "", "Enter the KvK number."),
        ("kvk_number", "1234567", "A KvK number has exactly 8 digits; a Belgian enterprise number has 10."),
        ("kvk_number", "1234567a", "A KvK number has exactly 8 digits; a Belgian enterprise number has 10."),
        ("kvk_number", "123456789", "A KvK number has exactly 8 digits; a Belgian enterprise number has 10."),
        (
            "kvk_number",
            "0403.019.262",
            "The check digits of this Belgian enterprise number do not match: check it for a typo.",
        ),
        ("vat_number", "NL12345678B01", "Enter a valid Dutch or Belgian VAT number, e.g. NL123456782B01 or BE0123456749."),
        ("vat_number", "DE123456789", "Enter a valid Dutch or Belgian VAT number, e.g. NL123456782B01 or BE0123456749."),
        (
            "vat_number",
            "NL123456789B01",
            "The check digits of this VAT number do not match: check it for a typo "
            "(a valid number looks like NL123456782B01 or BE0123456749).",
        ),
        ("street", "s" * 201, "Use at most 200 characters."),
        ("postal_code", "1" * 17, "Use at most 16 characters."),
        ("city", "c" * 101, "Use at most 100 characters."),
    ],
)
def test_each_field_is_validated_and_nothing_is_written(
    session: Session, field: str, value: str, message: str
) -> None:
    admin = make_admin(session, make_environment(session))
    with pytest.raises(ValidationFailed) as raised:
        organisations.add_organisation(session, actor=admin, **{**GOOD, field: value})
    assert raised.value.errors == {field: message}
    assert_nothing_written(session)


@pytest.mark.parametrize(
    ("written", "stored"),
    [("12345678", "12345678"), ("1234 5678", "12345678"), ("0403.019.261", "0403019261"), ("BE 0403 019 261", "0403019261")],
)
def test_a_dutch_kvk_number_or_a_belgian_enterprise_number_is_stored_as_its_digits(
    session: Session, written: str, stored: str
) -> None:
    admin = make_admin(session, make_environment(session))
    organisation = organisations.add_organisation(session, actor=admin, **{**GOOD, "kvk_number": written})
    assert session.get(type(organisation), organisation.id).kvk_number == stored


def test_all_field_errors_come_at_once(session: Session) -> None:
    admin = make_admin(session, make_environment(session))
    with pytest.raises(ValidationFailed) as raised:
        organisations.add_organisation(
            session, actor=admin, name="", kvk_number="12", vat_number="NL1"
        )
    assert set(raised.value.errors) == {"name", "kvk_number", "vat_number"}
    assert_nothing_written(session)


def test_kvk_number_already_in_the_environment_is_refused(session: Session) -> None:
    environment = make_environment(session, plan=Plan.BASIC.value)
    admin = make_admin(session, environment)
    organisations.add_organisation(session, actor=admin, **GOOD)

    with pytest.raises(ValidationFailed) as raised:
        organisations.add_organisation(
            session, actor=admin, name="Other name", kvk_number="1234 5678"
        )

    assert raised.value.errors == {
        "kvk_number": "This organisation is already in your environment."
    }
    assert count(session, Organisation) == 1
    assert count(session, Membership) == 1


def test_the_same_kvk_number_may_exist_in_another_environment(session: Session) -> None:
    other_admin = make_admin(session, make_environment(session, name="Other"))
    organisations.add_organisation(session, actor=other_admin, **GOOD)
    admin = make_admin(session, make_environment(session))

    organisation = organisations.add_organisation(session, actor=admin, **GOOD)

    assert organisation.environment_id == admin.environment_id
    assert count(session, Organisation) == 2


def test_a_duplicate_kvk_number_that_slips_past_the_check_is_still_refused(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests at once: the unique constraint catches what the first look did not see."""
    environment = make_environment(session)
    admin = make_admin(session, environment)
    make_organisation(session, environment, kvk_number="12345678")
    real_check = organisations._kvk_taken
    calls: list[str] = []

    def first_look_misses_it(session: Session, *, environment_id: int, kvk_number: str) -> bool:
        calls.append(kvk_number)
        return (
            False
            if len(calls) == 1
            else real_check(session, environment_id=environment_id, kvk_number=kvk_number)
        )

    monkeypatch.setattr(organisations, "_kvk_taken", first_look_misses_it)
    with pytest.raises(ValidationFailed) as raised:
        organisations.add_organisation(session, actor=admin, **GOOD)

    assert raised.value.errors == {
        "kvk_number": "This organisation is already in your environment."
    }
    assert len(calls) == 2  # the constraint fired, then the second look found the duplicate
    assert count(session, Organisation) == 1
    assert count(session, Membership) == 0
    assert count(session, ActivityLog) == 0


def test_invoice_portal_allows_two_organisations_not_three(session: Session) -> None:
    environment = make_environment(session, plan=Plan.INVOICE_PORTAL.value)
    admin = make_admin(session, environment)
    organisations.add_organisation(session, actor=admin, name="One", kvk_number="11111111")
    organisations.add_organisation(session, actor=admin, name="Two", kvk_number="22222222")

    with pytest.raises(PlanLimitReached) as raised:
        organisations.add_organisation(session, actor=admin, name="Three", kvk_number="33333333")

    assert raised.value.message == (
        "The Invoice Portal plan allows at most two organisations. "
        "Upgrade to Basic in Settings to add more."
    )
    assert count(session, Organisation) == 2


@pytest.mark.parametrize("plan", [Plan.BASIC.value, Plan.PROFESSIONAL.value])
def test_paid_plans_have_no_organisation_limit(session: Session, plan: str) -> None:
    environment = make_environment(session, plan=plan)
    admin = make_admin(session, environment)
    for number in range(1, 6):
        organisations.add_organisation(
            session, actor=admin, name=f"Org {number}", kvk_number=f"{number:08d}"
        )
    assert count(session, Organisation) == 5


def test_plan_limit_counts_only_this_environment(session: Session) -> None:
    other = make_environment(session, name="Other")
    make_organisation(session, other)
    make_organisation(session, other)
    admin = make_admin(session, make_environment(session))
    organisations.add_organisation(session, actor=admin, name="One", kvk_number="11111111")
    organisations.add_organisation(session, actor=admin, name="Two", kvk_number="22222222")
    assert count(session, Organisation) == 4


# --- activate and e-invoices ------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR.value, Role.ADVANCED_USER.value])
def test_administrators_and_advanced_users_activate(session: Session, role: str) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment)
    actor = make_user(session, environment, role=role)

    result = organisations.activate_organisation(
        session, actor=actor, organisation_id=organisation.id
    )

    assert result.activated_at is not None
    assert session.get(Organisation, organisation.id).activated_at is not None
    [entry] = activities(session, action="organisation.activated")
    assert entry.subject_id == organisation.id


def test_activating_twice_changes_nothing(session: Session) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment)
    admin = make_admin(session, environment)
    first = organisations.activate_organisation(
        session, actor=admin, organisation_id=organisation.id
    )
    activated_at = first.activated_at

    again = organisations.activate_organisation(
        session, actor=admin, organisation_id=organisation.id
    )

    assert again.activated_at == activated_at
    assert len(activities(session, action="organisation.activated")) == 1


def test_plain_user_may_not_activate(session: Session) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment)
    user = make_user(session, environment, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        organisations.activate_organisation(session, actor=user, organisation_id=organisation.id)
    with pytest.raises(PermissionDenied):
        organisations.set_receive_e_invoices(
            session, actor=user, organisation_id=organisation.id, enabled=True
        )
    stored = session.get(Organisation, organisation.id)
    assert stored.activated_at is None
    assert stored.receive_e_invoices is False


def test_plain_user_who_administers_the_organisation_may_activate(session: Session) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment)
    user = make_user(session, environment, role=Role.USER.value)
    session.add(
        Membership(
            organisation_id=organisation.id,
            user_id=user.id,
            role=MembershipRole.ADMINISTRATOR.value,
        )
    )
    session.commit()

    organisations.activate_organisation(session, actor=user, organisation_id=organisation.id)
    organisations.set_receive_e_invoices(
        session, actor=user, organisation_id=organisation.id, enabled=True
    )

    stored = session.get(Organisation, organisation.id)
    assert stored.activated_at is not None
    assert stored.receive_e_invoices is True


def test_plain_member_may_not_activate(session: Session) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment)
    user = make_user(session, environment, role=Role.USER.value)
    session.add(
        Membership(
            organisation_id=organisation.id, user_id=user.id, role=MembershipRole.MEMBER.value
        )
    )
    session.commit()
    with pytest.raises(PermissionDenied):
        organisations.activate_organisation(session, actor=user, organisation_id=organisation.id)


def test_blocked_administrator_may_not_activate(session: Session) -> None:
    environment = make_environment(session)
    organisation = make_organisation(session, environment)
    admin = make_admin(session, environment, status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        organisations.activate_organisation(session, actor=admin, organisation_id=organisation.id)


def test_organisation_of_another_environment_is_not_found(session: Session) -> None:
    foreign = make_organisation(session, make_environment(session, name="Other"))
    admin = make_admin(session, make_environment(session))
    with pytest.raises(NotFound):
        organisations.activate_organisation(session, actor=admin, organisation_id=foreign.id)
    with pytest.raises(NotFound):
        organisations.set_receive_e_invoices(
            session, actor=admin, organisation_id=foreign.id, enabled=True
        )
    with pytest.raises(NotFound):
        organisations.activate_organisation(session, actor=admin, organisation_id=999_999)
    stored = session.get(Organisation, foreign.id)
    assert stored.activated_at is None
    assert stored.receive_e_invoices is False


def test_receiving_e_invoices_is_off_by_default_and_set_per_organisation(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    first = organisations.add_organisation(session, actor=admin, name="One", kvk_number="11111111")
    second = organisations.add_organisation(session, actor=admin, name="Two", kvk_number="22222222")

    organisations.set_receive_e_invoices(
        session, actor=admin, organisation_id=first.id, enabled=True
    )

    assert session.get(Organisation, first.id).receive_e_invoices is True
    assert session.get(Organisation, second.id).receive_e_invoices is False
    assert len(activities(session, action="organisation.e_invoices_changed")) == 1

    organisations.set_receive_e_invoices(
        session, actor=admin, organisation_id=first.id, enabled=False
    )
    assert session.get(Organisation, first.id).receive_e_invoices is False


# --- listing ----------------------------------------------------------------------------------


def test_list_own_organisations_by_name(session: Session) -> None:
    environment = make_environment(session)
    make_organisation(session, environment, name="zeta")
    make_organisation(session, environment, name="Alpha")
    make_organisation(session, environment, name="beta")
    make_organisation(session, make_environment(session, name="Other"), name="Aardvark")
    user = make_user(session, environment, role=Role.USER.value)

    names = [o.name for o in organisations.list_own_organisations(session, actor=user)]

    assert names == ["Alpha", "beta", "zeta"]


# --- onboarding -------------------------------------------------------------------------------


def test_onboarding_needs_an_activated_organisation(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    assert organisations.needs_onboarding(session, user=admin) is True

    with pytest.raises(Conflict) as raised:
        organisations.complete_onboarding(session, actor=admin)
    assert raised.value.message == "Add and activate at least one organisation to continue."

    organisation = organisations.add_organisation(session, actor=admin, **GOOD)
    with pytest.raises(Conflict):
        organisations.complete_onboarding(session, actor=admin)
    assert session.get(Environment, environment.id).onboarding_completed_at is None

    organisations.activate_organisation(session, actor=admin, organisation_id=organisation.id)
    result = organisations.complete_onboarding(session, actor=admin)

    assert result.onboarding_completed_at is not None
    assert session.get(Environment, environment.id).onboarding_completed_at is not None
    assert organisations.needs_onboarding(session, user=admin) is False
    assert len(activities(session, action="environment.onboarded")) == 1


def test_completing_onboarding_twice_keeps_the_first_time(session: Session) -> None:
    environment = make_environment(session)
    make_organisation(session, environment, activated=True)
    admin = make_admin(session, environment)
    first = organisations.complete_onboarding(session, actor=admin).onboarding_completed_at

    again = organisations.complete_onboarding(session, actor=admin).onboarding_completed_at

    assert again == first
    assert len(activities(session, action="environment.onboarded")) == 1


def test_an_activated_organisation_elsewhere_does_not_count(session: Session) -> None:
    make_organisation(session, make_environment(session, name="Other"), activated=True)
    admin = make_admin(session, make_environment(session))
    with pytest.raises(Conflict):
        organisations.complete_onboarding(session, actor=admin)


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_only_administrators_complete_onboarding(session: Session, role: str) -> None:
    environment = make_environment(session)
    make_organisation(session, environment, activated=True)
    actor = make_user(session, environment, role=role)
    with pytest.raises(PermissionDenied):
        organisations.complete_onboarding(session, actor=actor)
    assert session.get(Environment, environment.id).onboarding_completed_at is None


def test_blocked_administrator_may_not_complete_onboarding(session: Session) -> None:
    environment = make_environment(session)
    make_organisation(session, environment, activated=True)
    admin = make_admin(session, environment, status=UserStatus.BLOCKED.value)
    with pytest.raises(PermissionDenied):
        organisations.complete_onboarding(session, actor=admin)
