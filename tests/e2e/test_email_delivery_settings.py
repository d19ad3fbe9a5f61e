"""Email delivery in Settings: an Administrator sees an email that could not be sent and sends it
again; the recipient gets it."""

from __future__ import annotations

import random

from flows import add_and_activate_organisation, finish_onboarding, sign_up
from mail_catcher import MailCatcher
from playwright.sync_api import Page, expect
from sqlalchemy import insert
from sqlmodel import select

from econnect_app.mail.messages import render_message
from econnect_app.models import OutboxMessage, User, utcnow
from econnect_app.pages.settings import ALL_SENT_TEXT


def test_an_administrator_sends_an_email_that_could_not_be_sent_again(
    page: Page, unique_email, app_db, mailbox: MailCatcher
) -> None:
    admin_email, client_email = unique_email("ada"), unique_email("client")
    sign_up(page, email=admin_email, name="Ada Lovelace", company="Lovelace Accounting")
    add_and_activate_organisation(page, name="Lovelace Accounting BV", kvk=f"{random.randrange(10**7, 10**8)}")
    finish_onboarding(page)

    # An email the mail server refused until the worker gave up (stored in plain text, as rows
    # from before encryption are: the app reads both forms).
    link = "http://localhost:3000/partners"
    rendered = render_message(
        "relationship_request_answered",
        {
            "name": "Ada Lovelace", "accepted": True, "answered_by": "Kees",
            "target_environment_name": "Korenbloem Holding", "link": link,
        },
    )  # fmt: skip
    with app_db() as session:
        environment_id = session.exec(select(User.environment_id).where(User.email == admin_email)).one()
        session.execute(
            insert(OutboxMessage).values(
                template="relationship_request_answered", to_address=client_email, cc="",
                subject=rendered.subject, text_body=rendered.text_body, html_body=rendered.html_body,
                status="failed", attempts=8, last_error="SMTPRecipientsRefused: 550 Mailbox unavailable",
                environment_id=environment_id, next_attempt_at=utcnow(), created_at=utcnow(),
            )  # fmt: skip
        )
        session.commit()

    page.goto("/settings")
    expect(page.get_by_role("heading", name="Email delivery")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("1 email could not be sent. Check the address, then send it again.")
    expect(page.get_by_role("rowheader", name=client_email)).to_be_visible()
    expect(page.get_by_text("SMTPRecipientsRefused: 550 Mailbox unavailable")).to_be_visible()

    page.get_by_role("button", name=f"Retry the email to {client_email}").click()

    expect(page.get_by_text(f"The email to {client_email} will be sent again.")).to_be_visible()
    expect(page.get_by_text(ALL_SENT_TEXT)).to_be_visible()
    received = mailbox.wait_for_email(client_email, subject_contains=rendered.subject)
    assert link in received.links
