"""Partnerships whole, as people use them: ending one while the other side watches, Find partners
with a relationship request accepted by email, and inviting a partner's user as a member.

With two backend workers (make test-scale) each person's browser is on another worker, so every
live change crosses workers through Redis.
"""

from __future__ import annotations

import re
import uuid

import httpx
from flows import accountant_ready, client_signs_up_from_link, send_authorisation_request
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import AuthorisationRequest, Membership, Organisation, Partnership, User

LIVE_TIMEOUT_MS = 5_000  # a pushed change shows within a second; the margin is for busy CI machines


def test_the_client_ends_the_partnership_while_the_accountant_watches(
    page: Page, new_context, unique_email, mailbox, app_db, app_server
) -> None:
    accountant_email, client_email = unique_email("anna"), unique_email("piet")
    accountant_ready(page, email=accountant_email, name="Anna de Vries", firm="De Vries Accountants", kvk="41234567")
    send_authorisation_request(page, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Piet BV")
    link = mailbox.wait_for_email(client_email, subject_contains="De Vries Accountants").link_to("/activate/")

    client = new_context().new_page()
    client_signs_up_from_link(client, link=link, email=client_email, name="Piet Bakker", company="Bakkerij Piet")
    client.get_by_label("KvK number", exact=True).fill("51234567")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status")).to_contain_text("You accepted")

    # The accountant's keys page and dashboard stay open, never reloaded, from here on.
    page.goto("/keys")
    page.get_by_role("button", name="Create key set").click()
    secret = page.get_by_label("Secret", exact=True).input_value()
    app_key = page.get_by_label("App key", exact=True).input_value()
    bakery = page.locator("#client-organisations").get_by_role("row").filter(has_text="Bakkerij Piet BV")
    identifier = bakery.get_by_label("Organisation identifier").input_value()
    api = f"{app_server.backend_url}/api/v1/organisations/{identifier}"
    assert httpx.get(api, auth=(app_key, secret), timeout=10).status_code == 200
    dashboard = page.context.new_page()
    dashboard.goto("/dashboard")
    expect(dashboard.locator("#stat-client-organisations")).to_have_text("1")

    # The client is onboarded by accepting; its dashboard says who has access, not accountant figures.
    client.get_by_role("link", name="Go to my dashboard").click()
    expect(client).to_have_url(re.compile(r"/dashboard$"))
    who = client.get_by_role("region", name="Access of De Vries Accountants")
    expect(who).to_contain_text("Bakkerij Piet BV")
    expect(who).to_contain_text("Anna de Vries")
    expect(client.get_by_role("navigation", name="Main").get_by_role("link", name="Connection keys")).to_have_count(0)

    client.goto("/partners")
    card = client.get_by_role("region", name="De Vries Accountants")
    expect(card.get_by_label("Cost allocation")).to_have_value("Client")
    card.get_by_role("button", name="End partnership").click()
    dialog = client.get_by_role("alertdialog")
    expect(dialog).to_contain_text("loses access to your organisations at once")
    dialog.get_by_role("button", name="End partnership").click()
    expect(client.get_by_text("The partnership with De Vries Accountants has ended.")).to_be_visible()

    # Pushed to the accountant's open pages; the keys answer 403 at once.
    expect(bakery).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
    expect(dashboard.locator("#stat-client-organisations")).to_have_text("0", timeout=LIVE_TIMEOUT_MS)
    expect(dashboard.locator("#stat-active-partnerships")).to_have_text("0", timeout=LIVE_TIMEOUT_MS)
    forbidden = httpx.get(api, auth=(app_key, secret), timeout=10)
    assert forbidden.status_code == 403, forbidden.text

    # Both sides are told by email; nothing was deleted.
    assert "has ended" in mailbox.wait_for_email(accountant_email, subject_contains="partnership").subject
    assert "De Vries Accountants" in mailbox.wait_for_email(client_email, subject_contains="partnership").subject
    with app_db() as session:
        accountant = session.exec(select(User).where(User.email == accountant_email)).one()
        request = session.exec(select(AuthorisationRequest).where(AuthorisationRequest.client_email == client_email)).one()
        partnership = session.get(Partnership, request.partnership_id)
        membership = session.exec(
            select(Membership).where(
                Membership.user_id == accountant.id, Membership.organisation_id == request.client_organisation_id
            )
        ).one()
        assert session.get(Organisation, request.client_organisation_id) is not None
    assert partnership.status == "Ended" and partnership.ended_by_id is not None
    assert (membership.status, membership.end_reason) == ("Ended", "partnership_ended")
    client.get_by_label("Show", exact=True).select_option("Ended")
    expect(client.get_by_role("region", name="De Vries Accountants")).to_contain_text("Ended on")


def test_two_firms_find_each_other_and_share_an_organisation(
    page: Page, new_context, unique_email, mailbox, app_db
) -> None:
    anna_email, jan_email = unique_email("anna"), unique_email("jan")
    # Names of their own: the database is shared with the other tests of the run.
    anna_firm, jan_firm = f"De Vries {uuid.uuid4().hex[:6]} Accountants", f"Jansen {uuid.uuid4().hex[:6]} Boekhouding"
    accountant_ready(page, email=anna_email, name="Anna de Vries", firm=anna_firm, kvk="42345678")
    jan = new_context().new_page()
    accountant_ready(jan, email=jan_email, name="Jan Jansen", firm=jan_firm, kvk="52345678")
    jan.goto("/partners")  # stays open: the partnership appears by itself
    expect(jan.get_by_text("No partners yet")).to_be_visible()

    # Anna finds Jansen Boekhouding by the start of a word, and sends a relationship request.
    page.goto("/partners/find")
    page.get_by_label("Search", exact=True).fill("boekh")
    result = page.locator("#search-results").get_by_role("row").filter(has_text=f"{jan_firm} BV")
    expect(result).to_be_visible()
    expect(page.locator("#search-results")).not_to_contain_text(f"{anna_firm} BV")  # not her own
    result.get_by_role("button", name=f"Send relationship request to {jan_firm}").click()
    page.get_by_label("Message (optional)").fill("We would like to work together on our shared clients.")
    page.get_by_role("dialog").get_by_role("button", name="Send relationship request").click()
    expect(page.get_by_text(f"Relationship request sent to {jan_firm}")).to_be_visible()
    # A second request while this one is pending is refused, with the reason shown.
    expect(result).to_contain_text("already waiting for an answer")

    # Jan accepts through the emailed link.
    message = mailbox.wait_for_email(jan_email, subject_contains="wants to become partners")
    assert "We would like to work together" in message.text
    answer = jan.context.new_page()
    answer.goto(message.link_to("/relationship-requests/"))
    expect(answer.get_by_text(anna_firm).first).to_be_visible()
    answer.get_by_role("button", name="Accept").click()
    expect(answer.get_by_role("status")).to_contain_text("are partners now")
    expect(jan.get_by_role("region", name=anna_firm)).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    assert "accepted" in mailbox.wait_for_email(anna_email, subject_contains="relationship request").subject

    # Anna invites Jan as Member of her own organisation; Jan accepts and then sees it.
    page.goto("/organisations")
    page.get_by_role("link", name=f"Members of {anna_firm} BV").click()
    expect(page).to_have_url(re.compile(r"/organisations/\d+/members$"))
    page.get_by_label("User", exact=True).select_option(label=f"Jan Jansen ({jan_email}) · {jan_firm}, partner")
    page.get_by_label("Role", exact=True).select_option("Member")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("Jan Jansen is invited")).to_be_visible()
    expect(page.locator("#members").get_by_role("row").filter(has_text="Jan Jansen")).to_contain_text("Invited")

    assert "wants to work with you" in mailbox.wait_for_email(jan_email, subject_contains=f"{anna_firm} BV").subject
    jan.goto("/organisations")
    invitation = jan.get_by_role("region", name=f"Invitation of {anna_firm} BV")
    invitation.get_by_role("button", name=f"Accept the invitation of {anna_firm} BV").click()
    expect(jan.get_by_text(f"You now have access to {anna_firm} BV.")).to_be_visible()
    jan.get_by_role("link", name=f"{anna_firm} BV", exact=True).click()
    expect(jan.get_by_text("Partner organisation")).to_be_visible()
    expect(jan.get_by_text("Member", exact=True)).to_be_visible()
    expect(page.locator("#members").get_by_role("row").filter(has_text="Jan Jansen")).to_contain_text(
        "Active", timeout=LIVE_TIMEOUT_MS
    )

    with app_db() as session:
        jan_user = session.exec(select(User).where(User.email == jan_email)).one()
        memberships = session.exec(select(Membership).where(Membership.user_id == jan_user.id)).all()
        partnerships = session.exec(select(Partnership).where(Partnership.created_via == "relationship_request")).all()
    assert [m.status for m in memberships if m.role == "Member"] == ["Active"]
    assert any(p.status == "Active" for p in partnerships)
