"""The requests list of a firm with many clients (issue 10): paged on the server with the view in the
URL, sorted by a column, and the bulk Resend and Withdraw with a summary per request."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from flows import accountant_ready
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from econnect_app.models import (
    AuthorisationRequest,
    AuthorisationStatus,
    SoftwarePackage,
    User,
    organisation_key,
    utcnow,
)

REQUESTS = 60


def _add_requests(app_db, anna_email: str, run: str) -> list[str]:
    """60 pending requests sent an hour ago or earlier (the rate limits allow a resend) and one
    accepted; the clients' addresses, newest first."""
    now = utcnow()
    addresses = [f"client{number:03d}-{run}@example.com" for number in range(REQUESTS)]
    with app_db() as session:
        anna = session.exec(select(User).where(User.email == anna_email)).one()
        package = session.exec(select(SoftwarePackage).where(SoftwarePackage.slug == "exact-online")).one()
        for number, (address, status) in enumerate(
            [*((address, AuthorisationStatus.PENDING.value) for address in addresses),
             (f"done-{run}@example.com", AuthorisationStatus.ACCEPTED.value)]
        ):  # fmt: skip
            organisation = f"Organisation {number:03d} BV"
            session.add(
                AuthorisationRequest(
                    environment_id=anna.environment_id,
                    requested_by_id=anna.id,
                    client_name=f"Client {number:03d}",
                    client_email=address,
                    organisation_name=organisation,
                    organisation_key=organisation_key(organisation),
                    software_package_id=package.id,
                    status=status,
                    created_at=now - timedelta(hours=1, minutes=number),
                    last_sent_at=now - timedelta(hours=1, minutes=number),
                    expires_at=now + timedelta(days=10),
                )
            )
        session.commit()
    return addresses


def test_a_long_list_is_paged_sorted_and_acted_on_in_bulk(page: Page, unique_email, app_db, mailbox) -> None:
    anna_email = unique_email("anna")
    accountant_ready(page, email=anna_email, name="Anna de Vries", firm="De Vries Partners", kvk="56781299")
    addresses = _add_requests(app_db, anna_email, uuid.uuid4().hex[:6])

    page.goto("/authorisations")
    table = page.locator("#sent-requests")
    pages = page.get_by_role("navigation", name="Pages of requests")
    expect(pages).to_contain_text("Showing 1–50 of 61 requests")
    expect(table.get_by_role("row")).to_have_count(51)  # the header row and 50 requests

    # The next page, kept in the URL: a reload shows the same page.
    pages.get_by_role("button", name="Next page").click()
    expect(pages).to_contain_text("Showing 51–61 of 61 requests")
    expect(page).to_have_url(re.compile(r"[?&]page=2"))
    page.reload()
    expect(pages).to_contain_text("Showing 51–61 of 61 requests")
    expect(table.get_by_role("row").filter(has_text="Client 060")).to_be_visible()

    # Sorted by client name, A to Z, then Z to A.
    page.get_by_role("button", name="Sort by Client").click()
    expect(pages).to_contain_text("Showing 1–50 of 61 requests")
    expect(table.get_by_role("row").nth(1)).to_contain_text("Client 000")
    expect(page.get_by_role("columnheader", name="Sort by Client")).to_have_attribute("aria-sort", "ascending")
    page.get_by_role("button", name="Sort by Client").click()
    expect(table.get_by_role("row").nth(1)).to_contain_text("Client 060")
    expect(page).to_have_url(re.compile(r"[?&]sort=-client"))

    # Two rows resent in bulk: each client gets a fresh link, the summary says so per request.
    page.get_by_role("button", name="Sort by Client").click()
    expect(table.get_by_role("row").nth(1)).to_contain_text("Client 000")
    page.get_by_role("checkbox", name=f"Select request to {addresses[0]}").click()
    page.get_by_role("checkbox", name=f"Select request to {addresses[1]}").click()
    toolbar = page.get_by_role("toolbar", name="Selected requests")
    expect(toolbar).to_contain_text("2 selected.")
    toolbar.get_by_role("button", name="Resend", exact=True).click()
    result = page.get_by_role("region", name="What the bulk action did")
    expect(result).to_contain_text("2 of 2 requests sent again.")
    expect(result.get_by_role("row").filter(has_text=addresses[1])).to_contain_text("Sent again with a new link")
    for address in addresses[:2]:
        email = mailbox.wait_for_email(address)
        assert email.link_to("/activate/")
    expect(toolbar).to_have_count(0)  # the selection is cleared

    # Every request matching the filter withdrawn in bulk, after a confirmation.
    page.get_by_role("checkbox", name="Select all requests on this page").click()
    expect(toolbar).to_contain_text("50 selected.")
    toolbar.get_by_role("button", name="Select all 61 matching requests").click()
    expect(toolbar).to_contain_text("All 61 requests matching the filter are selected.")
    toolbar.get_by_role("button", name="Withdraw", exact=True).click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Withdraw 61 requests?")
    dialog.get_by_role("button", name="Withdraw").click()
    expect(result).to_contain_text("60 of 61 requests withdrawn; 1 not (see why below).", timeout=30_000)
    expect(result.get_by_role("row").filter(has_text="Client 060")).to_contain_text(
        "Only pending requests can be withdrawn."
    )
    with app_db() as session:
        statuses = session.exec(
            select(AuthorisationRequest.status).where(col(AuthorisationRequest.client_email).in_(addresses))
        ).all()
    assert set(statuses) == {AuthorisationStatus.WITHDRAWN.value}
    page.get_by_label("Status", exact=True).select_option("Pending")
    expect(table).to_contain_text("No requests match this filter.")
    expect(page).to_have_url(re.compile(r"[?&]status=Pending"))

