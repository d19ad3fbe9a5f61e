"""While the server works on one tab's action, that tab shows it (busy button, disabled form) and
every other tab keeps working; a double click does the action once."""

from __future__ import annotations

import re

from flows import PASSWORD, sign_up
from held_writes import writes_held
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import Organisation, User, UserSession

OTHER_TAB_ROUND_TRIP_MS = 5_000  # far below the 10 s the held action may wait for the database


def test_a_slow_action_in_one_tab_leaves_the_other_tabs_responsive(new_context, app_engine, unique_email) -> None:
    ann = new_context().new_page()
    sign_up(ann, email=unique_email("ann"), name="Ann Bakker", company="Bakker Advies")
    other_tab = new_context().new_page()
    other_tab.goto("/forgot-password")
    other_email = other_tab.get_by_label("Email", exact=True)
    expect(other_email).to_be_enabled()  # hydrated: its state came from the server

    ann.get_by_label("Organisation name", exact=True).fill("Bakker Advies BV")
    ann.get_by_label("KvK number", exact=True).fill("34567890")
    add = ann.get_by_role("button", name="Add organisation")
    with writes_held(app_engine, "organisation"):
        add.click()
        # The server works on it (waiting for the database): the button is busy, the form disabled.
        expect(add).to_be_disabled()
        expect(ann.get_by_label("KvK number", exact=True)).to_be_disabled()
        # Meanwhile another browser's page loads and gets its state from the same server.
        other_tab.reload()
        expect(other_email).to_be_enabled(timeout=OTHER_TAB_ROUND_TRIP_MS)
        expect(add).to_be_disabled()  # ...while the first action was still running
    expect(ann.get_by_text("Bakker Advies BV was added")).to_be_visible()
    expect(ann.get_by_role("button", name="Activate Bakker Advies BV")).to_be_visible()
    expect(add).to_be_enabled()


def test_a_double_click_adds_one_organisation_and_shows_no_error(page: Page, unique_email, app_db) -> None:
    sign_up(page, email=unique_email("piet"), name="Piet Visser", company="Visser Bouw")  # ends on onboarding
    page.get_by_label("Organisation name", exact=True).fill("Visser Bouw BV")
    page.get_by_label("KvK number", exact=True).fill("45678901")

    page.get_by_role("button", name="Add organisation").dblclick()

    expect(page.get_by_text("Visser Bouw BV was added")).to_be_visible()
    # A later action of the tab finishing means the double click's second submission was handled.
    activate = page.get_by_role("button", name="Activate Visser Bouw BV")
    activate.click()
    expect(activate).to_have_count(0)
    expect(page.get_by_text("Visser Bouw BV is activated.")).to_be_visible()

    expect(page.locator("#field-kvk-number-error, #field-name-error")).to_have_count(0)
    expect(page.locator("[data-sonner-toast][data-type=error]")).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="Visser Bouw BV")).to_have_count(1)
    with app_db() as session:
        added = session.exec(select(Organisation).where(Organisation.name == "Visser Bouw BV")).all()
    assert len(added) == 1


def test_a_double_click_on_log_in_logs_in_once(page: Page, new_context, unique_email, app_db) -> None:
    email = unique_email("joke")
    sign_up(page, email=email, name="Joke de Wit", company="De Wit Fiscaal")
    page = new_context().new_page()  # the same person in another browser, not logged in there
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)

    page.get_by_role("button", name="Log in").dblclick()

    expect(page).to_have_url(re.compile(r"/onboarding$"))
    expect(page.get_by_label("Organisation name", exact=True)).to_be_enabled()  # later events were handled
    expect(page.locator("[data-sonner-toast][data-type=error]")).to_have_count(0)
    with app_db() as session:
        user = session.exec(select(User).where(User.email == email)).one()
        logins = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert len(logins) == 2  # the sign-up's and this log-in's: the second click logged in nothing
