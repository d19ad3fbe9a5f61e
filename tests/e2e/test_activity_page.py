"""/activity (issue 10): an Administrator opens the log from the sidebar, filters it by What (the
filter stays in the URL across a reload), sees new activity arrive by itself, and exports the
filtered rows as CSV, with a formula someone typed as a name made harmless."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from axe import audit
from flows import add_and_activate_organisation, finish_onboarding, set_plan, sign_up
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import Role, User, utcnow
from econnect_app.services import organisations

FORMULA_NAME = '=HYPERLINK("https://example.invalid/name","Click")'
FORMULA_ORGANISATION = '=HYPERLINK("https://example.invalid/org","Open")'


def _log_rows(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#activity-log").locator("tbody").get_by_role("row")


def test_activity_log_filters_live_rows_and_csv_export(page: Page, unique_email, app_db) -> None:
    anna_email = unique_email("anna")
    sign_up(page, email=anna_email, name="Anna de Vries", company="De Vries Partners")
    add_and_activate_organisation(page, name="De Vries Partners BV", kvk="56781234")
    finish_onboarding(page)
    set_plan(page, "Basic")

    # A colleague whose name is a spreadsheet formula adds an organisation named like one (services).
    with app_db() as session:
        anna = session.exec(select(User).where(User.email == anna_email)).one()
        colleague = User(
            environment_id=anna.environment_id,
            name=FORMULA_NAME,
            email=unique_email("eve"),
            role=Role.ADVANCED_USER.value,
            email_confirmed_at=utcnow(),
        )
        session.add(colleague)
        session.commit()
        organisations.add_organisation(
            session, actor=colleague, name=FORMULA_ORGANISATION, kvk_number="44556677"
        )

    # From the sidebar; the whole log, newest first.
    page.goto("/dashboard")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Activity", exact=True).click()
    expect(page).to_have_url(re.compile(r"/activity/?$"))
    expect(page.get_by_role("heading", level=1, name="Activity")).to_be_visible()
    rows = _log_rows(page)
    expect(rows.first).to_contain_text(f"{FORMULA_NAME} added organisation {FORMULA_ORGANISATION}")
    expect(rows.filter(has_text="Anna de Vries signed up as Administrator")).to_have_count(1)

    # Filter by What: only the organisations' rows; the URL carries the filter.
    page.get_by_label("What", exact=True).select_option(label="Organisations")
    expect(page).to_have_url(re.compile(r"/activity/?\?(.*&)?what=organisation(&|$)"))
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="signed up")).to_have_count(0)
    expect(rows.nth(0)).to_contain_text("Organisation added")
    expect(rows.nth(0)).to_contain_text(FORMULA_ORGANISATION)
    expect(rows.filter(has_text="Organisation activated")).to_have_count(1)
    expect(page.get_by_text("Showing 1–3 of 3 entries")).to_be_visible()

    page.reload()
    expect(page.get_by_label("What", exact=True)).to_have_value("organisation")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text="signed up")).to_have_count(0)
    assert audit(page, "/activity (filtered)") == []

    # New activity appears by itself, in the same filtered view.
    other_tab = page.context.new_page()
    other_tab.goto("/organisations")
    other_tab.get_by_label("Organisation name", exact=True).fill("Bakkerij Korenbloem BV")
    other_tab.get_by_label("KvK number", exact=True).fill("11223344")
    other_tab.get_by_role("button", name="Add organisation").click()
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("Anna de Vries added organisation Bakkerij Korenbloem BV")
    other_tab.close()

    # Export CSV: every matching row, formulas neutralised.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"activity-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text, newline="")))
    assert lines[0] == ["Time", "Who", "What", "Organisation", "Summary"]
    body = lines[1:]
    assert len(body) == 4
    assert {line[2] for line in body} == {"Organisation added", "Organisation activated"}
    assert [line[4] for line in body if line[1] == "Anna de Vries"][0] == (
        "Anna de Vries added organisation Bakkerij Korenbloem BV (KvK 11223344)."
    )
    formula_rows = [line for line in body if FORMULA_ORGANISATION in line[3]]
    assert formula_rows == [
        [
            formula_rows[0][0],
            "'" + FORMULA_NAME,
            "Organisation added",
            "'" + FORMULA_ORGANISATION,
            f"'{FORMULA_NAME} added organisation {FORMULA_ORGANISATION} (KvK 44556677).",
        ]
    ]
    assert formula_rows[0][0].strip() != ""
