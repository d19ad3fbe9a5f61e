"""Times in the user's zone (issue 10): the app shows dates and times in Europe/Amsterdam, named
(CET / CEST), until an Administrator chooses another time zone in Settings; open pages follow."""

from __future__ import annotations

import re

from flows import accountant_ready, send_authorisation_request
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.formatting import format_datetime, in_time_zone
from econnect_app.models import ActivityLog, AuthorisationRequest, Environment, User

CENTRAL_EUROPEAN = re.compile(r"\bCES?T\b")
BRITISH = re.compile(r"\b(GMT|BST)\b")


def test_an_administrator_chooses_the_time_zone_and_the_requests_list_follows(
    page: Page, unique_email, app_db
) -> None:
    anna_email = unique_email("anna")
    accountant_ready(page, email=anna_email, name="Anna de Vries", firm="De Vries Partners", kvk="56781234")
    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=unique_email("piet"), organisation="Bakkerij Piet BV"
    )
    with app_db() as session:
        anna = session.exec(select(User).where(User.email == anna_email)).one()
        sent_at = session.exec(
            select(AuthorisationRequest.created_at).where(AuthorisationRequest.environment_id == anna.environment_id)
        ).one()
    in_amsterdam = format_datetime(sent_at)
    with in_time_zone("Europe/London"):
        in_london = format_datetime(sent_at)
    assert CENTRAL_EUROPEAN.search(in_amsterdam) and BRITISH.search(in_london)

    # By default: Amsterdam time, named CET or CEST.
    row = page.locator("#sent-requests").get_by_role("row").filter(has_text="Piet Bakker")
    expect(row).to_contain_text(in_amsterdam)
    expect(row).not_to_contain_text(BRITISH)

    # A second tab keeps the list open meanwhile.
    other_tab = page.context.new_page()
    other_tab.goto("/authorisations")
    other_row = other_tab.locator("#sent-requests").get_by_role("row").filter(has_text="Piet Bakker")
    expect(other_row).to_contain_text(in_amsterdam)

    # The Administrator chooses Europe/London in Settings.
    page.goto("/settings")
    time_zone = page.get_by_label("Time zone", exact=True)
    expect(time_zone).to_have_value("Europe/Amsterdam")
    expect(time_zone.locator("option").first).to_have_text("Europe/Amsterdam")
    time_zone.select_option("Europe/London")
    page.get_by_role("button", name="Save time zone", exact=True).click()
    expect(page.get_by_text("Time zone saved")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Time zone", exact=True)).to_have_value("Europe/London")

    # The list shows London time, named GMT or BST; the open tab changes without a reload.
    page.goto("/authorisations")
    expect(row).to_contain_text(in_london)
    expect(row).not_to_contain_text(CENTRAL_EUROPEAN)
    expect(other_row).to_contain_text(in_london)
    expect(other_row).not_to_contain_text(CENTRAL_EUROPEAN)

    with app_db() as session:
        environment = session.get(Environment, anna.environment_id)
        assert environment is not None and environment.time_zone == "Europe/London"
        [entry] = session.exec(
            select(ActivityLog)
            .where(ActivityLog.environment_id == anna.environment_id)
            .where(ActivityLog.action == "environment.time_zone_changed")
        ).all()
        assert entry.summary == "Anna de Vries changed the time zone from Europe/Amsterdam to Europe/London."
