"""The client organisations of /keys, paged on the server: the next page, sorting by a column
header, searching, and a reload (or a shared link) showing the same view from the URL; /partners'
table with its Show filter in the URL; both pass axe-core."""

from __future__ import annotations

import re
import uuid

from axe import audit
from flows import accountant_ready
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app import security
from econnect_app.models import Environment, Membership, Organisation, Partnership, User, utcnow

CLIENT_ORGANISATIONS = 60


def _client_with_organisations(app_db, accountant_email: str) -> str:  # type: ignore[no-untyped-def]
    """A client environment, partner of the accountant's firm, with CLIENT_ORGANISATIONS activated
    organisations ("<client> 00".."<client> 59") the accountant is a member of; its name."""
    client_name = f"Klant {uuid.uuid4().hex[:6]}"
    with app_db() as session:
        accountant = session.exec(select(User).where(User.email == accountant_email)).one()
        client = Environment(name=client_name)
        session.add(client)
        session.flush()
        low, high = sorted((accountant.environment_id, client.id))
        session.add(Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=low))
        organisations = [
            Organisation(
                environment_id=client.id,
                name=f"{client_name} {number:02d}",
                kvk_number=f"{70000000 + number}",
                identifier=security.new_public_identifier(),
                activated_at=utcnow(),
            )
            for number in range(CLIENT_ORGANISATIONS)
        ]
        session.add_all(organisations)
        session.flush()
        session.add_all(Membership(organisation_id=row.id, user_id=accountant.id) for row in organisations)
        session.commit()
    return client_name


def test_client_organisations_page_sort_search_and_reload(page: Page, unique_email, app_db) -> None:
    email = unique_email("lists")
    accountant_ready(page, email=email, name="Anna de Vries", firm="Lijsten Accountants", kvk="44556677")
    client = _client_with_organisations(app_db, email)
    page.goto("/keys")
    table = page.locator("#client-organisations")
    names = table.get_by_role("rowheader")
    pages = page.get_by_role("navigation", name="Pages of client organisations")

    expect(pages).to_contain_text("Showing 1–50 of 60 client organisations")
    expect(names).to_have_count(50)
    expect(names.first).to_have_text(f"{client} 00")
    first_row = table.get_by_role("row").filter(has_text=f"{client} 00")
    expect(first_row).to_contain_text(client)  # Owned by
    expect(first_row.get_by_label("Organisation identifier")).to_have_value(re.compile(r"\S{8,}"))

    # The next page: the last ten, and the page in the address bar.
    pages.get_by_role("button", name="Next page").click()
    expect(pages).to_contain_text("Showing 51–60 of 60 client organisations")
    expect(names).to_have_text([f"{client} {number:02d}" for number in range(50, 60)])
    expect(page).to_have_url(re.compile(r"/keys/?\?(sort=organisation&)?page=2$"))

    # A column header sorts (from the first page); again turns the order around.
    sort_button = table.get_by_role("button", name="Sort by Organisation")
    header = table.get_by_role("columnheader", name="Sort by Organisation")
    expect(header).to_have_attribute("aria-sort", "ascending")
    sort_button.click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(pages).to_contain_text("Showing 1–50 of 60 client organisations")
    expect(names.first).to_have_text(f"{client} 59")
    pages.get_by_role("button", name="Next page").click()
    expect(names).to_have_text([f"{client} {number:02d}" for number in range(9, -1, -1)])
    expect(page).to_have_url(re.compile(r"sort=-organisation&page=2$"))

    # A reload (or the link shared) shows that same view.
    page.reload()
    expect(pages).to_contain_text("Showing 51–60 of 60 client organisations")
    expect(names).to_have_text([f"{client} {number:02d}" for number in range(9, -1, -1)])
    expect(header).to_have_attribute("aria-sort", "descending")

    # Searching starts from the first page, keeps the sort, and is in the URL too.
    page.get_by_label("Search", exact=True).fill(f"{client} 1")
    expect(pages).to_contain_text("Showing 1–10 of 10 client organisations")
    expect(names).to_have_text([f"{client} {number:02d}" for number in range(19, 9, -1)])
    expect(page).to_have_url(re.compile(r"\?q=Klant\+\w+\+1&sort=-organisation$"))
    page.reload()
    expect(page.get_by_label("Search", exact=True)).to_have_value(f"{client} 1")
    expect(pages).to_contain_text("Showing 1–10 of 10 client organisations")
    expect(names).to_have_text([f"{client} {number:02d}" for number in range(19, 9, -1)])

    # Nothing found says so; the key sets above are untouched by the list's view.
    page.get_by_label("Search", exact=True).fill("no such organisation")
    expect(page.get_by_text("No client organisations match your search.")).to_be_visible()
    expect(page.get_by_role("button", name="Create key set")).to_be_visible()
    assert audit(page, "/keys (client organisations searched)") == []

    # /partners: the partnership in its table, the Show filter in the URL and kept on reload.
    page.goto("/partners")
    partnership = page.get_by_role("region", name=client)
    expect(partnership.get_by_label("Cost allocation")).to_have_value("Client")
    expect(page.locator("#partnerships").get_by_role("rowheader")).to_have_text([client])
    page.get_by_label("Show", exact=True).select_option("Ended")
    expect(page.get_by_text("No partnerships match this filter.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/partners/?\?status=Ended(&sort=partner)?$"))
    page.reload()
    expect(page.get_by_label("Show", exact=True)).to_have_value("Ended")
    expect(page.get_by_text("No partnerships match this filter.")).to_be_visible()
    page.get_by_label("Show", exact=True).select_option("All")
    page.get_by_role("button", name="Sort by Partner", exact=True).click()
    expect(page.get_by_role("columnheader", name="Sort by Partner", exact=True)).to_have_attribute("aria-sort", "descending")
    expect(partnership).to_be_visible()
    assert audit(page, "/partners (paged)") == []
