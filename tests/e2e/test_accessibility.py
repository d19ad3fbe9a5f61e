"""Every page of the app, logged out and logged in (as the Administrator of an accountant firm with
a client, a partner and a pending invitation), passes axe-core without a serious or critical
violation, and has one main landmark and one h1 (see axe.py).

The emailed-link pages are opened through the real emailed links. Problems are collected page by
page and reported together, so one run lists everything that is wrong.
"""

from __future__ import annotations

import re
import uuid

from axe import audit
from flows import (
    PASSWORD,
    add_and_activate_organisation,
    client_signs_up_from_link,
    finish_onboarding,
    send_authorisation_request,
    sign_up,
)
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import Organisation


def _organisation_id(app_db, name: str) -> int:
    with app_db() as session:
        return session.exec(select(Organisation.id).where(Organisation.name == name)).one()


def _basic_plan(page: Page) -> None:
    """The administrator chooses the Basic plan in Settings (partnerships need it)."""
    page.goto("/settings")
    page.get_by_label("Subscription plan", exact=True).select_option("Basic")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()


def test_every_page_passes_axe_without_serious_or_critical_violations(
    page: Page, new_context, unique_email, mailbox, app_db
) -> None:
    problems: list[str] = []

    def check(on: Page, name: str) -> None:
        found = audit(on, name)
        print("\n".join(found))  # shown with -s even if a later step fails
        problems.extend(found)

    suffix = uuid.uuid4().hex[:6]
    firm, partner_firm = f"Visser {suffix} Accountants", f"Jansen {suffix} Boekhouding"
    client_organisation = f"Bakkerij {suffix} BV"
    anna_email, jan_email, piet_email, eva_email = (
        unique_email("anna"),
        unique_email("jan"),
        unique_email("piet"),
        unique_email("eva"),
    )

    # --- logged out ------------------------------------------------------------------------------
    visitor = new_context().new_page()
    visitor.goto("/")
    expect(visitor).to_have_url(re.compile(r"/login"))
    check(visitor, "/ (sends to log in)")
    visitor.goto("/login")
    visitor.get_by_role("button", name="Log in").click()  # empty: the messages beside the fields
    check(visitor, "/login with field errors")
    visitor.goto("/signup")
    check(visitor, "/signup")
    visitor.goto("/forgot-password")
    check(visitor, "/forgot-password")

    # --- an administrator (Anna) whose firm has its own organisation -----------------------------
    sign_up(page, email=anna_email, name="Anna Visser", company=firm)
    add_and_activate_organisation(page, name=f"{firm} BV", kvk="48456781")
    finish_onboarding(page)
    _basic_plan(page)

    # --- a second firm (Jan) signs up: the confirmation pages and onboarding ---------------------
    jan = new_context().new_page()
    jan.goto("/signup")
    jan.get_by_label("Name", exact=True).fill("Jan Jansen")
    jan.get_by_label("Email", exact=True).fill(jan_email)
    jan.get_by_label("Password", exact=True).fill(PASSWORD)
    jan.get_by_label("Company name", exact=True).fill(partner_firm)
    jan.get_by_role("button", name="Create account").click()
    expect(jan.get_by_role("status")).to_contain_text(f"We sent an email to {jan_email}")
    check(jan, "/signup (check your email)")
    confirmation = mailbox.wait_for_email(jan_email, subject_contains="Confirm your email address")
    visitor.goto(confirmation.link_to("/confirm-email/"))
    expect(visitor.get_by_role("link", name="Log in")).to_be_visible()
    check(visitor, "/confirm-email/<token> (logged out)")
    jan.goto(confirmation.link_to("/confirm-email/"))
    jan.get_by_role("link", name="Log in").click()
    jan.get_by_label("Password", exact=True).fill(PASSWORD)
    jan.get_by_role("button", name="Log in").click()
    expect(jan.get_by_role("button", name="Confirm")).to_be_visible()
    check(jan, "/confirm-email/<token> (logged in)")
    jan.get_by_role("button", name="Confirm").click()
    expect(jan.get_by_role("status").filter(has_text="is confirmed").first).to_be_visible()
    check(jan, "/confirm-email/<token> (confirmed)")
    jan.get_by_role("link", name="Continue").click()
    expect(jan).to_have_url(re.compile(r"/onboarding/?$"))
    check(jan, "/onboarding")
    add_and_activate_organisation(jan, name=f"{partner_firm} BV", kvk="58456781")
    check(jan, "/onboarding (organisation activated)")
    finish_onboarding(jan)
    _basic_plan(jan)

    # --- Anna asks a client (Piet) for access: the activation page --------------------------------
    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=piet_email, organisation=client_organisation
    )
    activation_link = mailbox.wait_for_email(piet_email, subject_contains=firm).link_to("/activate/")
    visitor.goto(activation_link)
    expect(visitor.get_by_role("button", name="Create account")).to_be_visible()
    check(visitor, "/activate/<token> (logged out)")
    piet = new_context().new_page()
    client_signs_up_from_link(
        piet, link=activation_link, email=piet_email, name="Piet Bakker", company=f"Piet {suffix}"
    )
    expect(piet.get_by_label("KvK number", exact=True)).to_be_visible()
    check(piet, "/activate/<token> (logged in)")
    piet.get_by_label("KvK number", exact=True).fill("68456781")
    piet.get_by_role("button", name="Accept").click()
    expect(piet.get_by_role("status")).to_contain_text("You accepted")
    check(piet, "/activate/<token> (accepted)")

    # --- the Client Connect link of the client's organisation ------------------------------------
    client_organisation_id = _organisation_id(app_db, client_organisation)
    page.goto(f"/organisations/{client_organisation_id}")
    client_connect = page.get_by_role("region", name="Client Connect")
    expect(client_connect.get_by_text("No Client Connect link yet")).to_be_visible()
    check(page, "/organisations/<client organisation> (no link yet)")
    client_connect.get_by_role("button", name="Create link").click()
    link_field = client_connect.get_by_label("Client Connect link", exact=True)
    expect(link_field).to_have_value(re.compile(r"/connect/"))
    check(page, "/organisations/<client organisation>")
    visitor.goto(link_field.input_value())
    expect(visitor.get_by_label("Software package")).to_be_visible()
    check(visitor, "/connect/<token>")

    # --- Anna finds Jan's firm and sends a relationship request -----------------------------------
    page.goto("/partners/find")
    check(page, "/partners/find")
    page.get_by_label("Search", exact=True).fill(partner_firm)
    result = page.locator("#search-results").get_by_role("row").filter(has_text=f"{partner_firm} BV")
    expect(result).to_be_visible()
    check(page, "/partners/find (results)")
    result.get_by_role("button", name=f"Send relationship request to {partner_firm}").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    check(page, "/partners/find (request dialog)")
    page.get_by_label("Message (optional)").fill("Shall we work together?")
    page.get_by_role("dialog").get_by_role("button", name="Send relationship request").click()
    expect(page.get_by_text(f"Relationship request sent to {partner_firm}")).to_be_visible()
    request_link = mailbox.wait_for_email(jan_email, subject_contains="wants to become partners").link_to(
        "/relationship-requests/"
    )
    visitor.goto(request_link)
    expect(visitor.get_by_text(firm).first).to_be_visible()
    check(visitor, "/relationship-requests/<token> (logged out)")
    jan.goto(request_link)
    expect(jan.get_by_role("button", name="Accept")).to_be_visible()
    check(jan, "/relationship-requests/<token> (logged in)")
    jan.get_by_role("button", name="Accept").click()
    expect(jan.get_by_role("status")).to_contain_text("are partners now")
    check(jan, "/relationship-requests/<token> (accepted)")

    # --- Anna invites a user: the invitation page -------------------------------------------------
    page.goto("/users")
    page.get_by_role("button", name="Invite user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Send invitation").click()  # empty: the message beside the field
    expect(dialog.get_by_role("alert").first).to_be_visible()
    check(page, "/users (invite dialog with a field error)")
    dialog.get_by_label("Email", exact=True).fill(eva_email)
    dialog.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"Invitation sent to {eva_email}")).to_be_visible()
    invitation_link = mailbox.wait_for_email(eva_email, subject_contains=firm).link_to("/invitation/")
    visitor.goto(invitation_link)
    expect(visitor.get_by_role("button", name="Accept invitation")).to_be_visible()
    check(visitor, "/invitation/<token>")

    # --- a password reset link ----------------------------------------------------------------------
    visitor.goto("/forgot-password")
    visitor.get_by_label("Email", exact=True).fill(anna_email)
    visitor.get_by_role("button", name="Send reset link").click()
    expect(visitor.get_by_role("status")).to_contain_text("If an account exists for")
    check(visitor, "/forgot-password (sent)")
    reset_link = mailbox.wait_for_email(anna_email, subject_contains="Reset your eConnect password").link_to(
        "/reset-password/"
    )
    visitor.goto(reset_link)
    expect(visitor.get_by_label("New password", exact=True)).to_be_visible()
    check(visitor, "/reset-password/<token>")

    # --- every page of the signed-in app, with that data ------------------------------------------
    own_organisation_id = _organisation_id(app_db, f"{firm} BV")
    for path in (
        "/dashboard",
        "/activity",
        "/organisations",
        f"/organisations/{own_organisation_id}",
        f"/organisations/{own_organisation_id}/members",
        f"/organisations/{own_organisation_id}/documents",
        f"/organisations/{client_organisation_id}/members",
        f"/organisations/{client_organisation_id}/documents",
        "/partners",
        "/authorisations",
        "/authorisations/new",
        "/keys",
        "/configurations",
        "/users",
        "/settings",
        "/profile",
    ):
        page.goto(path)
        check(page, path)
    # The client's own view.
    for path in ("/dashboard", "/activity", "/organisations", "/partners"):
        piet.goto(path)
        check(piet, f"{path} (client)")

    assert not problems, "Accessibility problems (axe-core, serious or critical):\n" + "\n".join(problems)
