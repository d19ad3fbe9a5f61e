"""Lists on a phone (issue 10): at 390 px wide each row is a card with its status and its actions in
view, nothing pushed off the screen to the right."""

from __future__ import annotations

import re

from flows import accountant_ready, log_in, send_authorisation_request
from playwright.sync_api import Locator, Page, expect

PHONE = {"width": 390, "height": 844}


def _within_the_screen(element: Locator) -> None:
    """The element is visible and lies inside the phone's width."""
    expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"off-screen: {box}"


def test_the_requests_list_is_cards_with_status_and_actions_in_view(
    page: Page, new_context, unique_email
) -> None:
    anna_email = unique_email("anna")
    accountant_ready(page, email=anna_email, name="Anna de Vries", firm="Phone Partners", kvk="56781277")
    client_email = unique_email("piet")
    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Korenbloem BV"
    )

    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    log_in(phone, email=anna_email)
    expect(phone).to_have_url(re.compile(r"/dashboard/?$"))
    phone.goto("/authorisations")
    card = phone.locator("#sent-requests tbody tr").filter(has_text="Piet Bakker")
    _within_the_screen(card)
    _within_the_screen(card.get_by_text("Pending", exact=True))
    _within_the_screen(card.get_by_role("button", name=f"Resend to {client_email}"))
    _within_the_screen(card.get_by_role("button", name=f"Withdraw request to {client_email}"))
    # Each value is named in the card; sorting stays at hand above the cards.
    expect(card.locator("[data-label='Expires']")).to_be_visible()
    _within_the_screen(phone.get_by_role("button", name="Sort by Client"))
    # The page as a whole does not scroll sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Organisations and users: cards too, their switches and selects within reach.
    phone.goto("/organisations")
    organisation = phone.locator("#organisations tbody tr").filter(has_text="Phone Partners BV")
    _within_the_screen(organisation)
    _within_the_screen(organisation.get_by_role("switch", name="Findable in Find partners for Phone Partners BV"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.goto("/users")
    anna = phone.locator("tbody tr").filter(has_text=anna_email)
    _within_the_screen(anna)
    _within_the_screen(anna.get_by_label(f"Role for {anna_email}"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
