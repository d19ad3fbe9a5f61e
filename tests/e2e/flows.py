"""Steps that several end-to-end tests take, written as a person does them."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

PASSWORD = "correct horse battery staple"


def sign_up(page: Page, *, email: str, name: str = "Anna de Vries", company: str = "De Vries Administratie") -> None:
    """Create an account through /signup; ends on the onboarding page."""
    page.goto("/signup")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Company name", exact=True).fill(company)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/onboarding$"))


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
