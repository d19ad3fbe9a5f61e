"""Steps that several end-to-end tests take, written as a person does them."""

from __future__ import annotations

import re

from mail_catcher import MailCatcher
from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery staple"


def sign_up(
    page: Page,
    *,
    email: str,
    name: str = "Anna de Vries",
    company: str = "De Vries Administratie",
    mailbox: MailCatcher | None = None,
) -> None:
    """Create an account through /signup and confirm its address through the emailed link (open it,
    log in, Confirm); ends on the onboarding page. Mail is read from ``mailbox`` (default: the
    test session's mail catcher)."""
    page.goto("/signup")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Company name", exact=True).fill(company)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text(f"We sent an email to {email}")
    confirm_address(page, email=email, mailbox=mailbox)
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/onboarding$"))


def confirm_address(page: Page, *, email: str, mailbox: MailCatcher | None = None) -> None:
    """Open the confirmation link emailed to ``email``, log in if asked, and click Confirm."""
    mailbox = mailbox or MailCatcher.latest
    assert mailbox is not None, "no mail catcher is running"
    message = mailbox.wait_for_email(email, subject_contains="Confirm your email address")
    page.goto(message.link_to("/confirm-email/"))
    log_in_first = page.get_by_role("link", name="Log in")
    confirm = page.get_by_role("button", name="Confirm")
    expect(log_in_first.or_(confirm)).to_be_visible()
    if log_in_first.is_visible():
        log_in_first.click()
        expect(page.get_by_label("Email", exact=True)).to_have_value(email)  # prefilled from the link
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/confirm-email/"))
    confirm.click()
    expect(page.get_by_role("status").filter(has_text="is confirmed").first).to_be_visible()


def add_and_activate_organisation(page: Page, *, name: str, kvk: str) -> None:
    """Add an organisation on the current page (onboarding or organisations) and activate it."""
    page.get_by_label("Organisation name", exact=True).fill(name)
    page.get_by_label("KvK number", exact=True).fill(kvk)
    page.get_by_role("button", name="Add organisation").click()
    activate = page.get_by_role("button", name=f"Activate {name}")
    activate.click()
    expect(activate).to_have_count(0)


def finish_onboarding(page: Page) -> None:
    """Leave onboarding for the dashboard."""
    page.get_by_role("button", name="Continue to dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def log_in(page: Page, *, email: str, password: str = PASSWORD) -> None:
    """Log in through /login (the page may carry a ?next= path)."""
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    """Log out through the account menu."""
    page.get_by_role("button", name="Account menu").click()
    page.get_by_role("menuitem", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))


def set_plan(page: Page, plan: str) -> None:
    """An administrator chooses a subscription plan in Settings."""
    page.goto("/settings")
    page.get_by_label("Subscription plan", exact=True).select_option(plan)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()


def accountant_ready(page: Page, *, email: str, name: str, firm: str, kvk: str) -> None:
    """A firm on the Basic plan with its own organisation, onboarding done."""
    sign_up(page, email=email, name=name, company=firm)
    add_and_activate_organisation(page, name=f"{firm} BV", kvk=kvk)
    finish_onboarding(page)
    set_plan(page, "Basic")


def send_authorisation_request(
    page: Page, *, client_name: str, client_email: str, organisation: str, software: str = "Exact Online"
) -> None:
    """Fill in /authorisations/new and send it; ends on the list."""
    page.goto("/authorisations/new")
    page.get_by_label("Client name", exact=True).fill(client_name)
    page.get_by_label("Client email", exact=True).fill(client_email)
    page.get_by_label("Software package", exact=True).select_option(software)
    page.get_by_label("Organisation", exact=True).fill(organisation)
    page.get_by_role("button", name="Send request").click()
    expect(page).to_have_url(re.compile(r"/authorisations$"))


def client_signs_up_from_link(page: Page, *, link: str, email: str, name: str, company: str) -> None:
    """A new client opens the emailed link, creates an account and comes back to the request."""
    page.goto(link)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/signup\?next="))
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Company name", exact=True).fill(company)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/activate/"))
