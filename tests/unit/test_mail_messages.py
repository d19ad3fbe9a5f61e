"""Building emails from the templates (subject, plain text, HTML)."""

from __future__ import annotations

from typing import Any

import pytest

from econnect_app.mail.messages import render_message

LINK = "http://localhost:3000/some/path/tok_en-123?a=1&b=2"

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "password_reset": (
        {"name": "Ann", "link": LINK, "expires_minutes": 30},
        "Reset your eConnect password",
    ),
    "invitation": (
        {
            "inviter_name": "Ann",
            "environment_name": "Acme Accountants",
            "role": "Advanced user",
            "link": LINK,
            "expires_days": 7,
        },
        "Ann invited you to Acme Accountants on eConnect",
    ),
    "email_confirmation": (
        {"name": "Ann", "email": "ann@example.com", "link": LINK, "expires_days": 3},
        "Confirm your email address for eConnect",
    ),
}


@pytest.mark.parametrize("template", sorted(CASES))
def test_subject_text_and_html_carry_the_link(template: str) -> None:
    context, subject = CASES[template]

    message = render_message(template, context)

    assert message.subject == subject
    assert LINK in message.text_body
    assert 'href="http://localhost:3000/some/path/tok_en-123?a=1&amp;b=2"' in message.html_body
    assert "eConnect" in message.html_body
    assert message.html_body.lstrip().startswith("<!DOCTYPE html>")


def test_expiry_is_stated() -> None:
    reset = render_message("password_reset", CASES["password_reset"][0])
    assert "30 minutes" in reset.text_body
    assert "30 minutes" in reset.html_body
    invitation = render_message("invitation", CASES["invitation"][0])
    assert "7 days" in invitation.text_body
    assert "as Advanced user" in invitation.html_body


def test_html_escapes_what_users_typed() -> None:
    context = {
        "inviter_name": "<script>alert(1)</script>",
        "environment_name": 'Smith & "Sons" <b>BV</b>',
        "role": "User",
        "link": LINK,
        "expires_days": 7,
    }

    message = render_message("invitation", context)

    assert "<script>" not in message.html_body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html_body
    assert "Smith &amp; &#34;Sons&#34; &lt;b&gt;BV&lt;/b&gt;" in message.html_body
    # Plain text and subject are not HTML: they keep the name as typed.
    assert "<script>alert(1)</script> invited you" in message.text_body
    assert message.subject.startswith("<script>alert(1)</script> invited you")


def test_names_with_line_breaks_cannot_add_header_lines_to_the_subject() -> None:
    context = dict(CASES["invitation"][0], inviter_name="Ann\r\nBcc: victim@example.com")

    message = render_message("invitation", context)

    assert "\n" not in message.subject
    assert "\r" not in message.subject


def test_very_long_subjects_fit_the_outbox() -> None:
    context = dict(CASES["invitation"][0], environment_name="A" * 500)

    message = render_message("invitation", context)

    assert len(message.subject) == 300


def test_a_missing_context_value_is_an_error_not_a_blank() -> None:
    with pytest.raises(Exception, match="link"):
        render_message("password_reset", {"name": "Ann", "expires_minutes": 30})
