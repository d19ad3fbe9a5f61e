"""The test SMTP server keeps what it receives and hands each message out once."""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage

import pytest
from mail_catcher import MailCatcher, find_links


def _send(catcher: MailCatcher, *, to: str, subject: str, text: str, html: str) -> None:
    message = EmailMessage()
    message["From"] = "eConnect <no-reply@econnect.local>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as smtp:
        smtp.send_message(message)


def test_a_received_message_has_its_parts_and_links(smtp_server: MailCatcher) -> None:
    _send(
        smtp_server,
        to="Ann <Ann-catcher@example.com>",
        subject="Reset your eConnect password",
        text="Open http://localhost:3999/reset-password/abc123. It works once.",
        html='<p><a href="http://localhost:3999/reset-password/abc123?x=1&amp;y=2">Reset</a></p>',
    )

    received = smtp_server.wait_for_email("ann-catcher@example.com", subject_contains="reset", timeout=10)

    assert received.subject == "Reset your eConnect password"
    assert "It works once." in received.text
    assert "<a href=" in received.html
    assert received.links == (
        "http://localhost:3999/reset-password/abc123",
        "http://localhost:3999/reset-password/abc123?x=1&y=2",
    )
    assert received.link_to("/reset-password/") == "http://localhost:3999/reset-password/abc123"
    with pytest.raises(AssertionError, match="No link starting with '/invitation/'"):
        received.link_to("/invitation/")


def test_wait_for_email_waits_for_the_next_message(smtp_server: MailCatcher) -> None:
    to = "bob-catcher@example.com"
    _send(smtp_server, to=to, subject="Invitation 1", text="one", html="<p>one</p>")
    assert smtp_server.wait_for_email(to, timeout=10).subject == "Invitation 1"

    later = threading.Thread(
        target=_send, kwargs={"catcher": smtp_server, "to": to, "subject": "Invitation 2", "text": "2", "html": "2"}
    )
    later.start()
    assert smtp_server.wait_for_email(to, subject_contains="invitation", timeout=10).subject == "Invitation 2"
    later.join()

    with pytest.raises(AssertionError, match="No email to 'bob-catcher@example.com'"):
        smtp_server.wait_for_email(to, timeout=0.2)
    assert [m.subject for m in smtp_server.messages_to(to)] == ["Invitation 1", "Invitation 2"]


def test_find_links_strips_sentence_punctuation() -> None:
    assert find_links("See https://example.com/a), or http://x.test/b.") == (
        "https://example.com/a",
        "http://x.test/b",
    )
