"""Dutch (issue 10): a browser that prefers Dutch gets eConnect in Dutch, pages and emails; the
user switches to English on My profile and it sticks, whatever the browser prefers.

The Dutch texts are read from the catalogue (``nl``), each checked to differ from the English, so a
text that lost its translation fails here as it would look to a Dutch user.
"""

from __future__ import annotations

import re

from flows import PASSWORD
from playwright.sync_api import expect
from sqlmodel import select

from econnect_app import i18n
from econnect_app.models import User


def nl(text: str, **params: object) -> str:
    """``text`` as a Dutch user reads it."""
    dutch = i18n.translate(i18n.DUTCH, text, **params)
    assert dutch != i18n.translate(i18n.ENGLISH, text, **params), f"no Dutch for {text!r}"
    return dutch


def test_a_dutch_browser_gets_dutch_until_the_user_chooses_english(
    new_context, unique_email, mailbox, app_db
) -> None:
    page = new_context(locale="nl-NL").new_page()
    email = unique_email("jan")

    # Sign-up, in Dutch (and the page says so to screen readers).
    page.goto("/signup")
    expect(page.get_by_role("heading", name=nl("Create your account"))).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.get_by_label(nl("Name"), exact=True).fill("Jan Jansen")
    page.get_by_label(nl("Email"), exact=True).fill(email)
    page.get_by_label(nl("Password"), exact=True).fill(PASSWORD)
    page.get_by_label(nl("Company name"), exact=True).fill("Jansen Administratie")
    page.get_by_role("button", name=nl("Create account")).click()
    expect(page.get_by_role("status")).to_contain_text(email)

    # The confirmation email is Dutch too; its link confirms the address, in Dutch.
    message = mailbox.wait_for_email(email, subject_contains=nl("Confirm your email address to finish signing up for eConnect"))
    assert "Hello" not in message.text
    page.goto(message.link_to("/confirm-email/"))
    log_in_first = page.get_by_role("link", name=nl("Log in"))
    confirm = page.get_by_role("button", name=nl("Confirm"))
    expect(log_in_first.or_(confirm)).to_be_visible()
    if log_in_first.is_visible():
        log_in_first.click()
        page.get_by_label(nl("Password"), exact=True).fill(PASSWORD)
        page.get_by_role("button", name=nl("Log in")).click()
        expect(page).to_have_url(re.compile(r"/confirm-email/"))
    confirm.click()
    confirmed = nl("{address} is confirmed and can now be used with your account.", address="").strip()
    expect(page.get_by_role("status").filter(has_text=email).first).to_contain_text(confirmed)

    # My profile, in Dutch: the language follows the browser until the user chooses.
    page.goto("/profile")
    expect(page.get_by_role("heading", name=nl("My profile"), exact=True)).to_be_visible()
    expect(page).to_have_title(f"{nl('My profile')} · eConnect")
    language = page.get_by_label(nl("Language"), exact=True)
    expect(language).to_have_value("")
    language.select_option("en")
    page.get_by_role("button", name=nl("Save language")).click()

    # English from now on, in this tab and after a reload, although the browser prefers Dutch.
    expect(page.get_by_text("Your language was saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="My profile", exact=True)).to_be_visible()
    expect(page).to_have_title("My profile · eConnect")
    page.reload()
    expect(page.get_by_role("heading", name="My profile", exact=True)).to_be_visible()
    expect(page.get_by_label("Language", exact=True)).to_have_value("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    with app_db() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        assert user.language == "en"
