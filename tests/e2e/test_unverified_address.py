"""An unverified address unlocks nothing (issue 8, points 1 and 1b): a stranger who signs up with a
client's address before the client does sees nothing of the pending request, while the real client,
following the emailed link, signs up from it and accepts; a forwarded link says whom it was for."""

from __future__ import annotations

import re

from flows import (
    PASSWORD,
    accountant_ready,
    add_and_activate_organisation,
    finish_onboarding,
    log_in,
    send_authorisation_request,
    sign_up,
)
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import AuthorisationRequest, User, UserStatus


def test_a_stranger_with_the_clients_address_sees_nothing_and_the_client_accepts_through_the_link(
    page: Page, new_context, unique_email, mailbox, app_db
) -> None:
    client_email = unique_email("piet")
    accountant_ready(page, email=unique_email("anna"), name="Anna de Vries", firm="Vries Accountants", kvk="45678901")
    send_authorisation_request(page, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Piet BV")
    link = mailbox.wait_for_email(client_email, subject_contains="Vries Accountants").link_to("/activate/")
    with app_db() as session:
        request = session.exec(select(AuthorisationRequest).where(AuthorisationRequest.client_email == client_email)).one()

    # A stranger signs up with the client's address first: the same answer as any sign-up.
    stranger_name = client_email.split("@")[0] + " stranger"
    stranger = new_context().new_page()
    stranger.goto("/signup")
    stranger.get_by_label("Name", exact=True).fill(stranger_name)
    stranger.get_by_label("Email", exact=True).fill(client_email)
    stranger.get_by_label("Password", exact=True).fill(PASSWORD)
    stranger.get_by_label("Company name", exact=True).fill("Mallory Holding")
    stranger.get_by_role("button", name="Create account").click()
    expect(stranger.get_by_role("status")).to_contain_text(f"We sent an email to {client_email}")
    # The stranger can log in, but the address is unconfirmed and unlocks nothing.
    log_in(stranger, email=client_email)
    expect(stranger).to_have_url(re.compile(r"/onboarding$"))
    add_and_activate_organisation(stranger, name="Mallory Holding BV", kvk="99887766")
    finish_onboarding(stranger)
    notice = stranger.locator("#email-confirmation-notice")
    expect(notice).to_contain_text(f"Confirm your email address {client_email}")
    stranger.goto("/authorisations")
    # "Send the email again" is handled after the page's own loading: its answer means the list is in.
    stranger.locator("#email-confirmation-notice").get_by_role("button", name="Send the email again").click()
    expect(stranger.get_by_text(f"We sent the email again to {client_email}.")).to_be_visible()
    expect(stranger.get_by_text("Requests for you")).to_have_count(0)
    expect(stranger.get_by_text("Bakkerij Piet BV")).to_have_count(0)
    stranger.goto(f"/authorisations/incoming/{request.id}")
    expect(stranger.get_by_text("This request is no longer waiting for an answer.")).to_be_visible()
    expect(stranger.get_by_role("button", name="Accept")).to_have_count(0)
    expect(stranger.get_by_text("Bakkerij Piet BV")).to_have_count(0)

    # The real client follows the emailed link: the page names the address, Create account prefills it.
    client = new_context().new_page()
    client.goto(link)
    expect(client.locator("#request-sent-to")).to_have_text(client_email)
    client.get_by_role("button", name="Create account").click()
    expect(client).to_have_url(re.compile(r"/signup\?next="))
    expect(client.get_by_label("Email", exact=True)).to_have_value(client_email)
    client.get_by_label("Name", exact=True).fill("Piet Bakker")
    client.get_by_label("Password", exact=True).fill("piet has his own passphrase")
    client.get_by_label("Company name", exact=True).fill("Bakkerij Piet")
    client.get_by_role("button", name="Create account").click()
    # Signed up from the link sent to this address: confirmed at once, back on the request.
    expect(client).to_have_url(re.compile(r"/activate/"))
    expect(client.get_by_label(re.compile("I am allowed to answer for"))).to_have_count(0)
    client.get_by_label("KvK number", exact=True).fill("56789012")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status").filter(has_text="You accepted")).to_be_visible()
    client.goto("/dashboard")
    expect(client.locator("#email-confirmation-notice")).to_have_count(0)

    # The stranger's account gave the address way: closed, logged out, its history kept.
    stranger.goto("/authorisations")
    expect(stranger).to_have_url(re.compile(r"/login"))
    with app_db() as session:
        owner = session.exec(select(User).where(User.email == client_email)).one()
        closed = session.exec(select(User).where(User.name == stranger_name)).one()
        accepted = session.get(AuthorisationRequest, request.id)
    assert accepted.status == "Accepted" and accepted.responded_by_id == owner.id
    assert owner.name == "Piet Bakker" and owner.email_confirmed_at is not None
    assert closed.status == UserStatus.BLOCKED.value and closed.email.endswith("@released.invalid")


def test_a_forwarded_link_names_its_address_and_asks_before_answering(
    page: Page, new_context, unique_email, mailbox
) -> None:
    client_email = unique_email("joke")
    colleague_email = unique_email("wim")
    accountant_ready(page, email=unique_email("bram"), name="Bram Jansen", firm="Jansen Fiscaal", kvk="23456789")
    send_authorisation_request(page, client_name="Joke de Wit", client_email=client_email, organisation="De Wit BV")
    link = mailbox.wait_for_email(client_email, subject_contains="Jansen Fiscaal").link_to("/activate/")

    # Someone else, logged in with their own confirmed account, opens the forwarded link.
    colleague = new_context().new_page()
    sign_up(colleague, email=colleague_email, name="Wim de Wit", company="De Wit Holding")
    colleague.goto(link)
    expect(colleague.locator("#request-sent-to")).to_have_text(client_email)
    expect(colleague.get_by_role("alert").filter(has_text="not a confirmed address of your account")).to_be_visible()
    allowed = colleague.get_by_label(f"I am allowed to answer for {client_email}")
    colleague.get_by_label("KvK number", exact=True).fill("34567890")
    colleague.get_by_role("button", name="Accept").click()
    expect(colleague.get_by_text(f"Confirm that you are allowed to answer for {client_email}.")).to_be_visible()
    expect(colleague.get_by_role("status").filter(has_text="You accepted")).to_have_count(0)

    allowed.click()
    colleague.get_by_role("button", name="Accept").click()
    expect(colleague.get_by_role("status").filter(has_text="You accepted")).to_be_visible()
