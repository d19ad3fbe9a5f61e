"""Automatic reminders: an administrator sets them in Settings; a client who has not answered gets a
reminder email whose new link works, while the first link says it was replaced.

The backend runs the reminder pass every 10 minutes; rather than wait, the test moves the request's
last send back in the app's database and runs the same pass (``send_due_reminders``) on it, with
the app's settings (public URL and secret key, so the link and the encrypted outbox are the app's).
The app's own delivery then sends the email to the mail catcher.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from flows import accountant_ready, client_signs_up_from_link, send_authorisation_request
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import ActivityLog, AuthorisationRequest
from econnect_app.services import reminders
from econnect_app.settings import get_settings

_APP_VARIABLES = ("ECONNECT_DATA_DIR", "ECONNECT_PUBLIC_URL", "ECONNECT_SECRET_KEY")


@contextmanager
def with_the_apps_settings(app_server) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """This test process uses the app's data folder, public URL and secret key meanwhile."""
    if app_server.scaled:
        secret_key = next(iter(app_server.backends.values())).env["ECONNECT_SECRET_KEY"]
    else:  # dev mode: generated into the app's data folder
        secret_key = (app_server.data_dir / "secret_key").read_text().strip()
    saved = {name: os.environ.get(name) for name in _APP_VARIABLES}
    os.environ.update(
        ECONNECT_DATA_DIR=str(app_server.data_dir),
        ECONNECT_PUBLIC_URL=app_server.base_url,
        ECONNECT_SECRET_KEY=secret_key,
    )
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def test_a_reminder_arrives_with_a_working_link(
    page: Page, new_context, unique_email, mailbox, app_db, app_server
) -> None:
    accountant_email = unique_email("anna")
    client_email = unique_email("piet")
    accountant_ready(page, email=accountant_email, name="Anna de Vries", firm="De Vries Herinnering", kvk="45678123")

    # Settings: the Reminders section, checked by the server, saved.
    page.goto("/settings")
    every = page.get_by_label("Remind pending clients every (days)", exact=True)
    most = page.get_by_label("At most (reminders)", exact=True)
    expect(every).to_have_value("7")
    expect(most).to_have_value("2")
    expect(page.get_by_text("0 turns automatic reminders off.")).to_be_visible()
    every.fill("61")
    page.get_by_role("button", name="Save reminders").click()
    expect(page.get_by_text(reminders.EVERY_DAYS_MESSAGE)).to_be_visible()
    every.fill("3")
    page.get_by_role("button", name="Save reminders").click()
    expect(page.get_by_text("Reminders saved.")).to_be_visible()
    expect(page.get_by_text(reminders.EVERY_DAYS_MESSAGE)).to_have_count(0)
    expect(page.get_by_text("emailed it again every 3 days, at most 2 times")).to_be_visible()

    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Herinnering BV"
    )
    first = mailbox.wait_for_email(client_email, subject_contains="De Vries Herinnering")
    assert "This is reminder" not in first.text
    first_link = first.link_to("/activate/")

    # Four days without an answer; the backend's reminder pass runs.
    with app_db() as session:
        request = session.exec(
            select(AuthorisationRequest).where(AuthorisationRequest.client_email == client_email)
        ).one()
        request.last_sent_at -= timedelta(days=4)
        session.add(request)
        session.commit()
    with with_the_apps_settings(app_server), app_db() as session:
        assert reminders.send_due_reminders(session) >= 1
        assert reminders.send_due_reminders(session) == 0  # sent once only

    reminder = mailbox.wait_for_email(client_email, subject_contains="Reminder: De Vries Herinnering")
    assert "This is reminder 1 of 2." in reminder.text
    assert "This is reminder 1 of 2." in reminder.html
    reminder_link = reminder.link_to("/activate/")
    assert reminder_link != first_link and reminder_link.startswith(app_server.base_url)

    client = new_context().new_page()
    # The first link was replaced by the reminder's.
    client.goto(first_link)
    expect(client.get_by_role("alert")).to_contain_text("sent you a newer link for this request")
    # The reminder's link works: the client signs up from it and accepts.
    client.goto(reminder_link)
    expect(client.get_by_text("Bakkerij Herinnering BV").first).to_be_visible()
    client_signs_up_from_link(
        client, link=reminder_link, email=client_email, name="Piet Bakker", company="Bakkerij Herinnering"
    )
    client.get_by_label("KvK number", exact=True).fill("56789123")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status")).to_contain_text("You accepted")

    with app_db() as session:
        request = session.exec(
            select(AuthorisationRequest).where(AuthorisationRequest.client_email == client_email)
        ).one()
        summaries = session.exec(
            select(ActivityLog.summary).where(
                ActivityLog.subject_type == "authorisation_request", ActivityLog.subject_id == request.id
            )
        ).all()
    assert (request.status, request.reminders_sent, request.send_count) == ("Accepted", 1, 2)
    assert any(re.match(r"Automatic reminder 1 of 2 sent to Piet Bakker \(", summary) for summary in summaries)

    # The accountant's activity feed shows the reminder.
    page.goto("/dashboard")
    expect(page.locator("#activity-feed")).to_contain_text("Automatic reminder 1 of 2 sent to Piet Bakker")
