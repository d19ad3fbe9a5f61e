"""An administrator invites a user, who accepts through the emailed link in another browser."""

from __future__ import annotations

import re

from flows import add_and_activate_organisation, finish_onboarding, sign_up
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import User


def test_invited_user_accepts_through_the_emailed_link(page: Page, new_context, unique_email, mailbox, app_db) -> None:
    admin_email = unique_email("dirk")
    invitee_email = unique_email("eva")
    sign_up(page, email=admin_email, name="Dirk Bakker", company="Bakker Accountants")
    add_and_activate_organisation(page, name="Bakker Accountants BV", kvk="34567890")
    finish_onboarding(page)

    page.get_by_role("link", name="Users").click()
    expect(page).to_have_url(re.compile(r"/users$"))
    page.get_by_role("button", name="Invite user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email", exact=True).fill("not an email")
    dialog.get_by_role("button", name="Send invitation").click()
    expect(dialog.get_by_text("Enter a valid email address, like name@example.com.")).to_be_visible()
    dialog.get_by_label("Email", exact=True).fill(invitee_email)
    dialog.get_by_label("Role", exact=True).select_option("Advanced user")
    dialog.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {invitee_email}")).to_be_visible()
    invitee_row = page.get_by_role("row").filter(has_text=invitee_email)
    expect(invitee_row).to_contain_text("Invited")

    message = mailbox.wait_for_email(invitee_email, subject_contains="Bakker Accountants")
    assert "Dirk Bakker" in message.text and "Advanced user" in message.text

    invitee = new_context().new_page()
    invitee.goto(message.link_to("/invitation/"))
    expect(invitee.get_by_text(invitee_email)).to_be_visible()
    invitee.get_by_label("Name", exact=True).fill("Eva Visser")
    invitee.get_by_label("Password", exact=True).fill("eva has a long passphrase")
    invitee.get_by_role("button", name="Accept invitation").click()
    expect(invitee).to_have_url(re.compile(r"/dashboard$"))
    expect(invitee.locator("#user-role")).to_have_text("Advanced user")
    expect(invitee.locator("#environment-name")).to_have_text("Bakker Accountants")
    # Navigation shows only what the role may use.
    expect(invitee.get_by_role("navigation", name="Main").get_by_role("link", name="Users")).to_have_count(0)
    invitee.goto("/users")
    expect(invitee.get_by_text(re.compile("Only administrators"))).to_be_visible()

    # The link works once.
    invitee.goto(message.link_to("/invitation/"))
    expect(invitee.get_by_text("This invitation link is invalid or has expired.")).to_be_visible()

    page.reload()
    expect(page.get_by_role("row").filter(has_text=invitee_email)).to_contain_text("Active")
    with app_db() as session:
        user = session.exec(select(User).where(User.email == invitee_email)).one()
    assert (user.name, user.role, user.status) == ("Eva Visser", "Advanced user", "Active")
