"""Building emails from the templates (subject, plain text, HTML)."""

from __future__ import annotations

from datetime import UTC, datetime
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
    "account_confirmation": (
        {"name": "Ann", "email": "ann@example.com", "link": LINK, "expires_days": 3},
        "Confirm your email address to finish signing up for eConnect",
    ),
    "membership_invitation": (
        {
            "name": "Ada",
            "inviter_name": "Kees",
            "environment_name": "Korenbloem Holding",
            "organisation_name": "Bakkerij De Korenbloem",
            "role": "Member",
            "link": LINK,
        },
        "Bakkerij De Korenbloem wants to work with you on eConnect",
    ),
    "partnership_ended": (
        {
            "name": "Fiona",
            "partner_name": "Korenbloem Holding",
            "ended_by": "Kees of Korenbloem Holding",
            "ended_on": "3 March 2025",
            "own_side": False,
            "link": LINK,
        },
        "The partnership with Korenbloem Holding has ended",
    ),
    "relationship_request": (
        {
            "name": "Kees",
            "requester_name": "Ada",
            "requester_environment_name": "Lovelace Accounting",
            "target_environment_name": "Korenbloem Holding",
            "organisation_name": "Bakkerij De Korenbloem",
            "message": "Shall we?",
            "link": LINK,
            "expires_on": "17 March 2025",
        },
        "Lovelace Accounting wants to become partners with Korenbloem Holding on eConnect",
    ),
    "relationship_request_answered": (
        {
            "name": "Ada",
            "accepted": True,
            "answered_by": "Kees",
            "target_environment_name": "Korenbloem Holding",
            "link": LINK,
        },
        "Korenbloem Holding accepted your relationship request",
    ),
}
PARTNERSHIP_TEMPLATES = (
    "membership_invitation",
    "partnership_ended",
    "relationship_request",
    "relationship_request_answered",
)


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


# --- the partnership emails -----------------------------------------------------------------------


HOSTILE = '<script>alert(1)</script> & "Sons"'
HOSTILE_HTML = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Sons&#34;"


@pytest.mark.parametrize("template", PARTNERSHIP_TEMPLATES)
def test_partnership_emails_escape_every_name_and_message_in_html(template: str) -> None:
    context = {
        key: (HOSTILE if isinstance(value, str) and key != "link" else value)
        for key, value in CASES[template][0].items()
    }
    if template == "membership_invitation":
        context["role"] = "Member"  # chosen from a list, not typed

    message = render_message(template, context)

    assert "<script>" not in message.html_body
    assert HOSTILE_HTML in message.html_body
    assert 'href="http://localhost:3000/some/path/tok_en-123?a=1&amp;b=2"' in message.html_body
    # Plain text and subject are not HTML: they keep what was typed (on one subject line).
    assert HOSTILE in message.text_body
    assert LINK in message.text_body
    assert "\n" not in message.subject


def test_membership_invitation_says_what_the_role_allows() -> None:
    context = CASES["membership_invitation"][0]

    member = render_message("membership_invitation", context)
    administrator = render_message("membership_invitation", dict(context, role="Administrator"))

    assert (
        "Kees of Korenbloem Holding invited you to work with Bakkerij De Korenbloem on eConnect as Member."
        in (member.text_body)
    )
    assert "add and remove its members" not in member.text_body
    assert "add and remove its members" in administrator.text_body
    assert "add and remove its members" in administrator.html_body
    assert "You get access once you accept." in member.html_body


@pytest.mark.parametrize("own_side", [True, False])
def test_partnership_ended_says_who_ended_it_and_that_nothing_was_deleted(own_side: bool) -> None:
    message = render_message("partnership_ended", dict(CASES["partnership_ended"][0], own_side=own_side))

    for body in (message.text_body, message.html_body):
        assert "ended the partnership with" in body and "3 March 2025" in body
        assert "Nothing was deleted" in body
    if own_side:
        assert "Their connection keys stop working for your organisations at once." in message.text_body
    else:
        assert "your connection keys stop working for them" in message.text_body
    assert "Kees of Korenbloem Holding ended the partnership with" in message.text_body


def test_relationship_request_states_the_expiry_and_the_optional_message() -> None:
    context = CASES["relationship_request"][0]

    with_message = render_message("relationship_request", context)
    without = render_message("relationship_request", dict(context, message=""))

    for body in (with_message.text_body, with_message.html_body):
        assert "valid until 17 March 2025" in body
        assert "Their message: Shall we?" in body
    assert "Their message" not in without.text_body
    assert "Their message" not in without.html_body
    assert (
        "Ada of Lovelace Accounting found Bakkerij De Korenbloem in Find partners" in with_message.text_body
    )


def test_relationship_request_answered_accepted_and_declined() -> None:
    context = CASES["relationship_request_answered"][0]

    accepted = render_message("relationship_request_answered", context)
    declined = render_message("relationship_request_answered", dict(context, accepted=False))

    assert "Kees (Korenbloem Holding) accepted your relationship request." in accepted.text_body
    assert "You are partners now." in accepted.html_body
    assert declined.subject == "Korenbloem Holding declined your relationship request"
    assert "Kees (Korenbloem Holding) declined your relationship request." in declined.text_body
    assert "Find partners" in declined.text_body and "Open Find partners" in declined.html_body
    assert LINK in declined.text_body
    assert 'href="http://localhost:3000/some/path/tok_en-123?a=1&amp;b=2"' in declined.html_body


@pytest.mark.parametrize("template", PARTNERSHIP_TEMPLATES)
def test_partnership_emails_need_every_value(template: str) -> None:
    context = dict(CASES[template][0])
    del context["link"]
    with pytest.raises(Exception, match="link"):
        render_message(template, context)


# --- accounts and addresses (issue 8) -------------------------------------------------------------

ATTEMPT = {
    "email": "ann@example.com",
    "proven": True,
    "invitation": False,
    "claim_link": "",
    "expires_days": 3,
    "log_in_link": "http://localhost:3000/login",
    "reset_link": "http://localhost:3000/forgot-password",
}


def test_a_sign_up_attempt_tells_the_owner_to_log_in_or_reset() -> None:
    message = render_message("sign_up_attempt", ATTEMPT)

    assert message.subject == "Someone tried to sign up for eConnect with your email address"
    for body in (message.text_body, message.html_body):
        assert "ann@example.com" in body
        assert "http://localhost:3000/login" in body
        assert "http://localhost:3000/forgot-password" in body
        assert "claim" not in body


@pytest.mark.parametrize(("invitation", "closes"), [(False, "the account that holds it"), (True, "the invitation")])
def test_a_sign_up_attempt_on_an_unconfirmed_address_offers_the_claim_link(invitation: bool, closes: str) -> None:
    context = dict(ATTEMPT, proven=False, invitation=invitation, claim_link=LINK)

    message = render_message("sign_up_attempt", context)

    assert LINK in message.text_body
    assert 'href="http://localhost:3000/some/path/tok_en-123?a=1&amp;b=2"' in message.html_body
    assert "valid for 3 days" in message.text_body
    assert closes in message.text_body


def test_address_has_account_says_what_was_asked_and_that_nothing_changed() -> None:
    context = {
        "email": "ann@example.com",
        "what": "add ann@example.com to another eConnect account",
        "log_in_link": "http://localhost:3000/login",
        "reset_link": "http://localhost:3000/forgot-password",
    }

    message = render_message("address_has_account", context)

    assert message.subject == "Your email address already has an eConnect account"
    assert "Someone asked to add ann@example.com to another eConnect account. Nothing was changed" in message.text_body
    assert "http://localhost:3000/forgot-password" in message.html_body


def test_password_changed_says_when_and_what_to_do_if_it_was_not_you() -> None:
    context = {
        "name": "Ann",
        "email": "ann@example.com",
        "how": "reset through an emailed link",
        "when": datetime(2025, 3, 3, 14, 5, tzinfo=UTC),
        "reset_link": "http://localhost:3000/forgot-password",
    }

    message = render_message("password_changed", context)

    assert message.subject == "Your eConnect password was changed"
    assert "was reset through an emailed link on 3 Mar 2025, 15:05 CET" in message.text_body
    assert "If this was not you" in message.text_body and "If this was not you" in message.html_body
    assert 'href="http://localhost:3000/forgot-password"' in message.html_body
