"""The client declines; the accountant is told in the app and by email."""

from __future__ import annotations

from flows import accountant_ready, client_signs_up_from_link, send_authorisation_request
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import AuthorisationRequest, Partnership, User


def test_decline_notifies_the_accountant(page: Page, new_context, unique_email, mailbox, app_db) -> None:
    accountant_email = unique_email("bram")
    client_email = unique_email("klaas")
    accountant_ready(page, email=accountant_email, name="Bram Jansen", firm="Jansen Boekhouding", kvk="67890123")
    send_authorisation_request(page, client_name="Klaas Vos", client_email=client_email, organisation="Vos Transport BV")
    page.goto("/dashboard")

    link = mailbox.wait_for_email(client_email, subject_contains="Jansen Boekhouding").link_to("/activate/")
    client = new_context().new_page()
    client_signs_up_from_link(client, link=link, email=client_email, name="Klaas Vos", company="Vos Transport")
    client.get_by_role("button", name="Decline").click()
    dialog = client.get_by_role("alertdialog")
    dialog.get_by_label("Reason (optional)").fill("We already work with another accountant.")
    dialog.get_by_role("button", name="Decline").click()
    expect(client.get_by_role("status")).to_contain_text("You declined")

    # In the app: the accountant's open dashboard shows the notification without a reload.
    expect(page.get_by_role("button", name="Notifications, 1 unread")).to_be_visible()
    expect(page.locator("#activity-feed")).to_contain_text("declined")
    # By email.
    notice = mailbox.wait_for_email(accountant_email, subject_contains="declined")
    assert "We already work with another accountant." in notice.text

    page.goto("/authorisations")
    row = page.locator("#sent-requests").get_by_role("row").filter(has_text=client_email)
    expect(row).to_contain_text("Declined")
    expect(row).to_contain_text("We already work with another accountant.")

    # The link is used up: a clear page, nothing else changes.
    client.goto(link)
    expect(client.get_by_role("alert")).to_contain_text("declined")
    with app_db() as session:
        request = session.exec(select(AuthorisationRequest).where(AuthorisationRequest.client_email == client_email)).one()
        client_user = session.exec(select(User).where(User.email == client_email)).one()
        pair = sorted([request.environment_id, client_user.environment_id])
        partnership = session.exec(
            select(Partnership).where(
                Partnership.environment_low_id == pair[0], Partnership.environment_high_id == pair[1]
            )
        ).first()
    assert request.status == "Declined" and request.partnership_id is None
    assert partnership is None
