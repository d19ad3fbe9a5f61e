"""When a login ends, the browser keeps nothing of that user on screen: after logging out, Back shows
none of their data, and a tab logged out from another tab leaves for the log-in page at once."""

from __future__ import annotations

import re

from flows import add_and_activate_organisation, finish_onboarding, log_out, sign_up
from playwright.sync_api import Page, expect

SECRET = "Geheime Klant BV"


def _signed_up_with_an_organisation(page: Page, email: str) -> None:
    sign_up(page, email=email, name="Anna de Vries", company="De Vries Administratie")
    add_and_activate_organisation(page, name=SECRET, kvk="34567890")
    finish_onboarding(page)
    page.goto("/organisations")
    expect(page.get_by_text(SECRET).first).to_be_visible()


def test_after_logging_out_back_shows_nothing_of_the_user(page: Page, unique_email) -> None:
    _signed_up_with_an_organisation(page, unique_email("anna"))
    log_out(page)

    # Offline, Back renders the previous page from what the browser holds, without asking the server.
    page.context.set_offline(True)
    page.go_back()
    expect(page).to_have_url(re.compile(r"/organisations/?$"))
    expect(page.get_by_text(SECRET)).to_have_count(0)
    page.context.set_offline(False)
    page.reload()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_text(SECRET)).to_have_count(0)


def test_logging_out_in_one_tab_sends_the_other_to_the_log_in_page_at_once(page: Page, unique_email) -> None:
    _signed_up_with_an_organisation(page, unique_email("bram"))
    other_tab = page.context.new_page()
    other_tab.goto("/dashboard")
    expect(other_tab.get_by_text(SECRET).first).to_be_visible()  # loaded: the activity names it

    log_out(page)

    # Nobody touches the other tab: the server pushes it out, saying why.
    expect(other_tab).to_have_url(re.compile(r"/login"))
    expect(other_tab.get_by_text("You have been logged out.")).to_be_visible()
    expect(other_tab.get_by_text(SECRET)).to_have_count(0)


def test_a_tab_whose_cookies_were_cleared_is_logged_out_on_its_next_page_load(page: Page, unique_email) -> None:
    """The server follows the cookie the browser sends, not what the tab's state held before."""
    _signed_up_with_an_organisation(page, unique_email("joke"))
    page.context.clear_cookies()

    page.goto("/login")

    expect(page.get_by_label("Email", exact=True)).to_be_enabled()  # the page's on_load has run
    expect(page).to_have_url(re.compile(r"/login/?$"))
    page.goto("/organisations")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_text(SECRET)).to_have_count(0)
