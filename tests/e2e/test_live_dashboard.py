"""The live dashboard: a change made in one browser appears in every open dashboard of the same
environment within a second, pushed by the server (no reload, no polling), and nowhere else."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from flows import PASSWORD, add_and_activate_organisation, finish_onboarding, log_in, sign_up
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import col, select

from econnect_app import security
from econnect_app.models import (
    AuthorisationRequest,
    Environment,
    Membership,
    MembershipRole,
    Notification,
    NotificationRead,
    Organisation,
    Partnership,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)

PUSH_TIMEOUT_MS = 2_000  # "within a second", with a margin for a loaded test machine


def _open_dashboard_of_new_firm(
    new_context: Callable[..., BrowserContext],
    *,
    email: str,
    name: str,
    company: str,
    organisation: str,
    kvk: str,
) -> Page:
    page = new_context().new_page()
    sign_up(page, email=email, name=name, company=company)
    add_and_activate_organisation(page, name=organisation, kvk=kvk)
    finish_onboarding(page)
    expect(page.locator("#stat-organisations")).to_have_text("1")
    return page


def _write_rows_behind_the_apps_back(app_db, *, accountant_email: str, colleague_email: str) -> None:
    """A colleague who can log in, and a pending request, a partnership with a client organisation
    the accountant is a member of, and an unread notification: written directly, so nothing is
    published and the open dashboard must not show them until the next pushed change."""
    with app_db() as session:
        accountant = session.exec(select(User).where(User.email == accountant_email)).one()
        firm_id = accountant.environment_id
        session.add(
            User(
                environment_id=firm_id,
                name="Carla Colleague",
                email=colleague_email,
                password_hash=security.hash_password(PASSWORD),
                role=Role.ADVANCED_USER.value,
            )
        )
        package = session.exec(select(SoftwarePackage).where(SoftwarePackage.slug == "exact-online")).one()
        session.add(
            AuthorisationRequest(
                environment_id=firm_id,
                requested_by_id=accountant.id,
                client_name="Bakkerij De Korenbloem",
                client_email=f"bakery-{colleague_email}",
                organisation_name="Bakkerij De Korenbloem B.V.",
                software_package_id=package.id,
                expires_at=utcnow() + timedelta(days=14),
            )
        )
        client = Environment(name="Garage Jansen")
        session.add(client)
        session.flush()
        low, high = sorted((firm_id, client.id))
        session.add(
            Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=firm_id)
        )
        garage = Organisation(
            environment_id=client.id,
            name="Garage Jansen B.V.",
            kvk_number="11223344",
            identifier=security.new_public_identifier(),
            activated_at=utcnow(),
        )
        session.add(garage)
        session.flush()
        session.add(
            Membership(organisation_id=garage.id, user_id=accountant.id, role=MembershipRole.MEMBER.value)
        )
        session.add(
            Notification(environment_id=firm_id, kind="test", message="Garage Jansen accepted your request.")
        )
        session.commit()


def test_a_change_in_another_browser_reaches_every_open_dashboard_of_the_environment_only(
    new_context: Callable[..., BrowserContext], unique_email, app_db
) -> None:
    accountant_email = unique_email("anna")
    colleague_email = unique_email("carla")
    dashboard = _open_dashboard_of_new_firm(
        new_context, email=accountant_email, name="Anna de Vries", company="De Vries Accountants",
        organisation="De Vries Accountants BV", kvk="31415926",
    )  # fmt: skip
    other_firm = _open_dashboard_of_new_firm(
        new_context, email=unique_email("otto"), name="Otto Other", company="Other Firm",
        organisation="Other Firm BV", kvk="27182818",
    )  # fmt: skip
    bell = dashboard.get_by_role("button", name=re.compile(r"^Notifications, \d+ unread$"))
    expect(bell).to_have_accessible_name("Notifications, 0 unread")
    for stat in ("#stat-pending-requests", "#stat-active-partnerships", "#stat-client-organisations"):
        expect(dashboard.locator(stat)).to_have_text("0")

    _write_rows_behind_the_apps_back(
        app_db, accountant_email=accountant_email, colleague_email=colleague_email
    )
    dashboard.evaluate("window.__notReloaded = true")
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("0")  # nothing published yet

    # A colleague, in another browser, adds an organisation: the service publishes the change.
    colleague = new_context().new_page()
    colleague.goto("/login")
    log_in(colleague, email=colleague_email)
    expect(colleague).to_have_url(re.compile(r"/dashboard$"))
    colleague.goto("/organisations")
    colleague.get_by_label("Organisation name", exact=True).fill("De Vries Payroll BV")
    colleague.get_by_label("KvK number", exact=True).fill("16180339")
    colleague.get_by_role("button", name="Add organisation").click()

    # The open dashboard re-read everything from the database, with its own user's rights.
    expect(dashboard.locator("#stat-organisations")).to_have_text("2")
    expect(dashboard.locator("#stat-pending-requests")).to_have_text("1")
    expect(dashboard.locator("#stat-active-partnerships")).to_have_text("1")
    expect(dashboard.locator("#stat-client-organisations")).to_have_text("1")
    expect(dashboard.locator("#activity-feed li").first).to_contain_text(
        "added organisation De Vries Payroll BV"
    )
    expect(bell).to_have_accessible_name("Notifications, 1 unread")

    # Within a second: the next change is timed from the colleague's click.
    colleague.get_by_role("button", name="Activate De Vries Payroll BV").click()
    expect(dashboard.locator("#stat-activated")).to_have_text("2", timeout=PUSH_TIMEOUT_MS)
    expect(dashboard.locator("#activity-feed li").first).to_contain_text(
        "activated organisation De Vries Payroll BV", timeout=PUSH_TIMEOUT_MS
    )

    # No reload happened, and the other firm's open dashboard saw nothing of it.
    assert dashboard.evaluate("window.__notReloaded") is True
    expect(dashboard).to_have_url(re.compile(r"/dashboard$"))
    expect(other_firm.locator("#stat-organisations")).to_have_text("1")
    expect(other_firm.locator("#stat-pending-requests")).to_have_text("0")
    expect(other_firm.locator("#activity-feed")).not_to_contain_text("De Vries")
    expect(other_firm.get_by_role("button", name="Notifications, 0 unread")).to_be_visible()

    # The bell lists the notification; "Mark all as read" clears the count for this user only:
    # the colleague's bell still shows it as unread.
    colleague_bell = colleague.get_by_role("button", name=re.compile(r"^Notifications, \d+ unread$"))
    expect(colleague_bell).to_have_accessible_name("Notifications, 1 unread")
    bell.click()
    expect(dashboard.locator("#notifications-list")).to_contain_text("Garage Jansen accepted your request.")
    dashboard.get_by_role("button", name="Mark all as read").click()
    expect(bell).to_have_accessible_name("Notifications, 0 unread")
    colleague.reload()
    expect(colleague_bell).to_have_accessible_name("Notifications, 1 unread")
    with app_db() as session:
        notification = session.exec(
            select(Notification).where(col(Notification.message) == "Garage Jansen accepted your request.")
        ).one()
        readers = session.exec(
            select(NotificationRead.user_id).where(NotificationRead.notification_id == notification.id)
        ).all()
        assert len(readers) == 1  # the accountant who opened the bell, not the colleague
