"""Accounts end to end: sign-up and onboarding, log-out and log-in, password recovery."""

from __future__ import annotations

import re

from flows import PASSWORD, add_and_activate_organisation, finish_onboarding, log_in, log_out, sign_up
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import Environment, Organisation, Role, User, UserSession


def test_sign_up_then_onboarding_then_dashboard(page: Page, unique_email, app_db) -> None:
    email = unique_email("anna")
    name = email.split("@")[0]  # unique too: other tests sign up people called Anna
    page.goto("/signup")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("too short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Enter a valid email address, like name@example.com.")).to_be_visible()
    expect(page.get_by_text("Use at least 12 characters.")).to_be_visible()
    expect(page.get_by_text("Enter your company name.")).to_be_visible()
    with app_db() as session:
        assert session.exec(select(User).where(User.name == name)).first() is None

    sign_up(page, email=email)
    expect(page.get_by_role("heading", name="Welcome to eConnect")).to_be_visible()
    expect(page.get_by_text("Administrator", exact=True)).to_be_visible()

    # Onboarding: a bad KvK number is explained next to the field and nothing is added.
    page.get_by_label("Organisation name", exact=True).fill("De Vries Administratie BV")
    page.get_by_label("KvK number", exact=True).fill("1234567")
    page.get_by_role("button", name="Add organisation").click()
    expect(page.get_by_text("A KvK number has exactly 8 digits; a Belgian enterprise number has 10.")).to_be_visible()
    expect(page.get_by_role("button", name="Continue to dashboard")).to_be_disabled()

    page.get_by_label("VAT number", exact=True).fill("NL123456782B01")
    add_and_activate_organisation(page, name="De Vries Administratie BV", kvk="12345678")
    receive = page.get_by_role("switch", name="Receive e-invoices for De Vries Administratie BV")
    expect(receive).not_to_be_checked()
    receive.click()
    expect(receive).to_be_checked()

    finish_onboarding(page)
    expect(page.locator("#stat-organisations")).to_have_text("1")
    # The sidebar marks where the user is (production serves the page as /dashboard/).
    main_navigation = page.get_by_role("navigation", name="Main")
    expect(main_navigation.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    expect(main_navigation.get_by_role("link", name="Organisations")).to_have_attribute("aria-current", "false")
    expect(page.locator("#activity-feed")).to_contain_text("activated organisation De Vries Administratie BV")

    with app_db() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        environment = session.get(Environment, user.environment_id)
        organisation = session.exec(select(Organisation).where(Organisation.environment_id == user.environment_id)).one()
    assert user.role == Role.ADMINISTRATOR.value
    assert environment.plan == "Invoice Portal" and environment.onboarding_completed_at is not None
    assert organisation.vat_number == "NL123456782B01"
    assert organisation.activated_at is not None and organisation.receive_e_invoices


def test_log_out_then_log_in(page: Page, unique_email, app_db) -> None:
    email = unique_email("bram")
    sign_up(page, email=email, name="Bram Jansen", company="Jansen Boekhouding")
    add_and_activate_organisation(page, name="Jansen Boekhouding BV", kvk="23456789")
    finish_onboarding(page)

    log_out(page)
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login\?next="))

    log_in(page, email=email, password="not the right password")
    expect(page.get_by_text("The email address or password is incorrect.")).to_be_visible()
    log_in(page, email=unique_email("nobody"), password="not the right password")
    expect(page.get_by_text("The email address or password is incorrect.")).to_be_visible()

    log_in(page, email=email)
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("#environment-name")).to_have_text("Jansen Boekhouding")

    with app_db() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        sessions = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
    # One session from sign-up (revoked by logging out), one from the final log-in; none for failures.
    assert len(sessions) == 2
    assert [s.revoked_at is None for s in sorted(sessions, key=lambda s: s.id)] == [False, True]


def test_forgot_password_through_the_emailed_link(page: Page, unique_email, mailbox, app_db) -> None:
    email = unique_email("carla")
    sign_up(page, email=email, name="Carla Smit", company="Smit & Co")
    log_out(page)

    page.goto("/forgot-password")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account exists for")

    # The same answer for an address without an account, and no email goes out for it.
    unknown = unique_email("unknown")
    page.goto("/forgot-password")
    page.get_by_label("Email", exact=True).fill(unknown)
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account exists for")

    message = mailbox.wait_for_email(email, subject_contains="Reset your eConnect password")
    assert "30 minutes" in message.text
    reset_link = message.link_to("/reset-password/")

    page.goto(reset_link)
    page.get_by_label("New password", exact=True).fill("password")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("Use at least 12 characters.")).to_be_visible()
    new_password = "a brand new passphrase for carla"
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_role("button", name="Set new password").click()
    expect(page).to_have_url(re.compile(r"/(dashboard|onboarding)$"))

    # The link works once.
    page.goto(reset_link)
    expect(page.get_by_text("This password reset link is invalid or has expired.")).to_be_visible()

    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/onboarding$"))  # not onboarded yet: sent there first
    log_out(page)
    log_in(page, email=email, password=PASSWORD)
    expect(page.get_by_text("The email address or password is incorrect.")).to_be_visible()
    log_in(page, email=email, password=new_password)
    expect(page).to_have_url(re.compile(r"/(dashboard|onboarding)$"))
    assert mailbox.messages_to(unknown) == []
