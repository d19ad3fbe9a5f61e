"""The Client Connect emails: "Ask owner to connect" (the owner, the accountant in Cc) and "an app
was connected" (each administrator of the organisation)."""

from __future__ import annotations

from typing import Any

import pytest

from econnect_app.mail.messages import render_message

LINK = "http://localhost:3000/connect/tok_en-123?app=exact-online&x=1"
LINK_HTML = 'href="http://localhost:3000/connect/tok_en-123?app=exact-online&amp;x=1"'
HOSTILE = '<script>alert(1)</script> & "Sons"'
HOSTILE_HTML = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Sons&#34;"

CASES: dict[str, tuple[dict[str, Any], str]] = {
    "client_connect_invitation": (
        {
            "inviter_name": "Ada Lovelace",
            "inviter_email": "ada@lovelace.example",
            "firm_name": "Lovelace Accounting",
            "organisation_name": "Bakkerij De Korenbloem",
            "package_name": "Exact Online",
            "field_label": "division number",
            "link": LINK,
        },
        "Lovelace Accounting asks you to connect Exact Online for Bakkerij De Korenbloem",
    ),
    "app_connected": (
        {
            "name": "Kees Koren",
            "package_name": "Exact Online",
            "organisation_name": "Bakkerij De Korenbloem",
            "connected_by_name": "Olga Owner",
            "connected_by_email": "olga@korenbloem.example",
            "firm_name": "Lovelace Accounting",
            "detail": "Division number 1234567",
            "connected_on": "3 March 2025",
            "link": LINK,
        },
        "Exact Online was connected to Bakkerij De Korenbloem",
    ),
}


@pytest.mark.parametrize("template", sorted(CASES))
def test_subject_text_and_html_carry_the_link(template: str) -> None:
    context, subject = CASES[template]
    message = render_message(template, context)
    assert message.subject == subject
    assert LINK in message.text_body
    assert LINK_HTML in message.html_body
    assert message.html_body.lstrip().startswith("<!DOCTYPE html>")


def test_the_invitation_says_what_to_do_and_who_is_in_copy() -> None:
    message = render_message("client_connect_invitation", CASES["client_connect_invitation"][0])
    for body in (message.text_body, message.html_body):
        assert "enter your division number" in body
        assert "You do not need an eConnect account." in body
        assert "Ada Lovelace (ada@lovelace.example) receives a copy of this email." in body
        assert "nothing is connected until you click Connect" in body


def test_the_connection_email_says_who_connected_what_and_with_which_number() -> None:
    message = render_message("app_connected", CASES["app_connected"][0])
    for body in (message.text_body, message.html_body):
        assert "Olga Owner (olga@korenbloem.example) connected" in body
        assert "on 3 March 2025, through the Client Connect link of Lovelace Accounting" in body
        assert "Division number 1234567" in body
        assert "as an administrator of Bakkerij De Korenbloem" in body


@pytest.mark.parametrize("template", sorted(CASES))
def test_names_people_typed_are_escaped_in_html_and_kept_on_one_subject_line(template: str) -> None:
    context = {
        key: (value if key == "link" else HOSTILE + "\r\nBcc: x@example.com")
        for key, value in CASES[template][0].items()
    }
    message = render_message(template, context)
    assert "<script>" not in message.html_body
    assert HOSTILE_HTML in message.html_body
    assert HOSTILE in message.text_body
    assert "\n" not in message.subject and "\r" not in message.subject


@pytest.mark.parametrize("template", sorted(CASES))
def test_every_value_is_needed(template: str) -> None:
    for missing in CASES[template][0]:
        context = {key: value for key, value in CASES[template][0].items() if key != missing}
        with pytest.raises(Exception, match=missing):
            render_message(template, context)
