"""The authorisation request email as an automatic reminder, and the Reminders section of Settings."""

from __future__ import annotations

from typing import Any

import pytest

from econnect_app.mail.messages import render_message

CONTEXT: dict[str, Any] = {
    "client_name": "Piet",
    "firm_name": "De Vries Administratie",
    "requester_name": "Anna de Vries",
    "organisation_name": "Bakkerij Piet BV",
    "software_name": "Exact Online",
    "link": "http://localhost:3000/activate/abc",
    "expires_on": "16 December 2026",
    "expires_days": 14,
    "what_accepting_grants": "Accepting creates a partnership.",
}


@pytest.mark.parametrize("extra", [{}, {"reminder_number": None, "reminder_max": None}])
def test_a_first_send_says_nothing_about_reminders(extra: dict[str, Any]) -> None:
    message = render_message("authorisation_request", {**CONTEXT, **extra})
    assert message.subject == "De Vries Administratie asks for access to Bakkerij Piet BV on eConnect"
    assert "reminder" not in message.text_body.lower()
    assert "reminder" not in message.html_body.lower()


def test_a_reminder_says_which_one_it_is_in_every_part() -> None:
    message = render_message("authorisation_request", {**CONTEXT, "reminder_number": 1, "reminder_max": 2})
    assert message.subject == "Reminder: De Vries Administratie asks for access to Bakkerij Piet BV on eConnect"
    assert "Hello Piet,\n\nThis is reminder 1 of 2. De Vries Administratie has not received your answer yet" in (
        message.text_body
    )
    assert "the link in the earlier email no longer works." in message.text_body
    assert "<strong>This is reminder 1 of 2.</strong>" in message.html_body
    assert "http://localhost:3000/activate/abc" in message.text_body
    assert "http://localhost:3000/activate/abc" in message.html_body


def test_the_settings_page_has_the_reminders_section() -> None:
    from econnect_app.pages.settings import settings_page
    from econnect_app.services import reminders

    page = str(settings_page())
    for text in (
        "Reminders",
        "Remind pending clients every (days)",
        "At most (reminders)",
        "Save reminders",
        "0 turns automatic reminders off.",
        "This is reminder 1 of 2.",
    ):
        assert text in page, text
    assert reminders.EVERY_DAYS_FIELD in page and reminders.MAX_FIELD in page
