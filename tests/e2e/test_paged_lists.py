"""Long lists come a page at a time, sort by their column headers and search, and keep that view in
the address bar: a reload (or a shared link) shows the same view (issue 10 part B)."""

from __future__ import annotations

import re

from flows import add_and_activate_organisation, finish_onboarding, sign_up
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import Role, User, UserStatus, utcnow

COLLEAGUES = 59  # with the Administrator: 60 users, two pages of 50


def _first_cells(page: Page) -> list[str]:
    """The name column (the row headers) of the users table, top to bottom."""
    return page.get_by_role("table").get_by_role("rowheader").all_inner_texts()


def test_users_list_pages_sorts_searches_and_keeps_its_view_on_reload(page: Page, unique_email, app_db) -> None:
    admin_email = unique_email("anna")
    sign_up(page, email=admin_email, name="Anna de Vries", company="De Vries Paging")
    add_and_activate_organisation(page, name="De Vries Paging BV", kvk="24681357")
    finish_onboarding(page)
    with app_db() as session:
        admin = session.exec(select(User).where(User.email == admin_email)).one()
        session.add_all(
            User(
                environment_id=admin.environment_id,
                name=f"Member {number:02d}",
                email=unique_email(f"member{number:02d}"),
                role=Role.USER.value,
                status=UserStatus.ACTIVE.value,
                password_hash="not-a-real-hash",
                email_confirmed_at=utcnow(),
            )
            for number in range(1, COLLEAGUES + 1)
        )
        session.commit()

    page.goto("/users")
    pages = page.get_by_role("navigation", name="Pages of users")
    expect(pages).to_contain_text("Showing 1–50 of 60 users")
    expect(page.get_by_role("table").get_by_role("rowheader")).to_have_count(50)
    expect(page.get_by_role("table").get_by_role("rowheader").first).to_contain_text("Anna de Vries")
    assert _first_cells(page)[1:3] == ["Member 01", "Member 02"]

    # Page 2 holds the last ten; the address says so.
    pages.get_by_role("button", name="Next page").click()
    expect(pages).to_contain_text("Showing 51–60 of 60 users")
    expect(page).to_have_url(re.compile(r"/users/?\?page=2$"))
    expect(page.get_by_role("table").get_by_role("rowheader")).to_have_count(10)
    assert _first_cells(page) == [f"Member {number}" for number in range(50, 60)]
    expect(pages.get_by_role("button", name="Next page")).to_be_disabled()

    # Sorting by name starts at the first page; again turns the order around.
    sort_by_name = page.get_by_role("button", name="Sort by Name")
    sort_by_name.click()
    expect(page).to_have_url(re.compile(r"/users/?\?sort=name$"))
    expect(page.get_by_role("columnheader", name="Sort by Name")).to_have_attribute("aria-sort", "ascending")
    sort_by_name.click()
    expect(page.get_by_role("columnheader", name="Sort by Name")).to_have_attribute("aria-sort", "descending")
    expect(page.get_by_role("table").get_by_role("rowheader").first).to_have_text("Member 59")
    expect(pages).to_contain_text("Showing 1–50 of 60 users")

    # The search finds names (and emails) as one types.
    page.get_by_label("Search", exact=True).fill("member 4")
    expect(pages).to_contain_text("Showing 1–10 of 10 users")
    expect(page).to_have_url(re.compile(r"/users/?\?q=member\+4&sort=-name$"))
    assert _first_cells(page) == [f"Member {number}" for number in range(49, 39, -1)]
    page.get_by_label("Search", exact=True).fill("nobody like this")
    expect(page.get_by_text("No users match your search.")).to_be_visible()
    expect(pages).to_contain_text("No users")
    page.get_by_label("Search", exact=True).fill("member 4")
    expect(pages).to_contain_text("Showing 1–10 of 10 users")

    # A reload shows the same view, from the address alone.
    page.reload()
    expect(page.get_by_label("Search", exact=True)).to_have_value("member 4")
    expect(pages).to_contain_text("Showing 1–10 of 10 users")
    expect(page.get_by_role("columnheader", name="Sort by Name")).to_have_attribute("aria-sort", "descending")
    expect(page.get_by_role("table").get_by_role("rowheader").first).to_have_text("Member 49")
    expect(page.get_by_role("table").get_by_role("rowheader")).to_have_count(10)

    # The organisations list keeps its filter in the address the same way.
    page.goto("/organisations")
    page.get_by_label("Show", exact=True).select_option("Partner organisations")
    expect(page).to_have_url(re.compile(r"/organisations/?\?show=partner$"))
    expect(page.get_by_text("No organisations here")).to_be_visible()
    page.get_by_label("Show", exact=True).select_option("Own organisations")
    expect(page.get_by_role("link", name="De Vries Paging BV", exact=True)).to_be_visible()
    page.reload()
    expect(page.get_by_label("Show", exact=True)).to_have_value("Own organisations")
    expect(page.get_by_role("navigation", name="Pages of organisations")).to_contain_text(
        "Showing 1–1 of 1 organisations"
    )
