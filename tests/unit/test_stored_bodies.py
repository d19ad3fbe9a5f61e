"""Outbox bodies at rest: encrypted with a key derived from ECONNECT_SECRET_KEY (crypto.py), and
redacted of their link tokens once not needed (mail/stored_bodies.py)."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from econnect_app import crypto
from econnect_app.mail import stored_bodies
from econnect_app.mail.messages import render_message
from econnect_app.settings import get_settings


def test_encrypted_text_reads_back_and_shows_nothing_of_the_plain_text() -> None:
    plain = "Hello Ann, http://localhost:3000/activate/abc123"

    stored = crypto.encrypt_text(plain, purpose="outbox message body")

    assert stored.startswith("fernet:")
    assert "abc123" not in stored and "Ann" not in stored
    assert crypto.decrypt_text(stored, purpose="outbox message body") == plain
    assert crypto.encrypt_text(plain, purpose="outbox message body") != stored  # a fresh IV each time


def test_plain_text_from_before_encryption_reads_as_it_is() -> None:
    assert crypto.decrypt_text("Hello Ann", purpose="outbox message body") == "Hello Ann"
    assert stored_bodies.open_stored("Hello Ann") == "Hello Ann"


def test_each_purpose_and_each_secret_key_has_its_own_key(monkeypatch: pytest.MonkeyPatch) -> None:
    stored = crypto.encrypt_text("secret", purpose="outbox message body")
    with pytest.raises(crypto.UnreadableText):
        crypto.decrypt_text(stored, purpose="something else")

    other = dataclasses.replace(get_settings(), secret_key=secrets.token_urlsafe(48))
    monkeypatch.setattr(crypto, "get_settings", lambda: other)
    with pytest.raises(crypto.UnreadableText, match="ECONNECT_SECRET_KEY"):
        crypto.decrypt_text(stored, purpose="outbox message body")


def test_damaged_text_is_unreadable_not_a_crash() -> None:
    with pytest.raises(crypto.UnreadableText):
        crypto.decrypt_text("fernet:not a token \u00e9", purpose="outbox message body")


def test_redaction_removes_every_link_token_and_keeps_the_rest_readable() -> None:
    token = secrets.token_urlsafe(32)
    message = render_message(
        "password_reset",
        {"name": "Ann", "link": f"http://localhost:3000/reset-password/{token}", "expires_minutes": 30},
    )

    for body in (message.text_body, message.html_body):
        assert token in body
        redacted = stored_bodies.redact_link_tokens(body)
        assert token not in redacted
        assert "http://localhost:3000/reset-password/removed" in redacted
        assert "Hello Ann," in redacted and "30 minutes" in redacted


@pytest.mark.parametrize(
    "link",
    [
        "https://econnect.example.com/activate/short-1",
        "https://econnect.example.com/invitation/abc",
        "https://econnect.example.com/confirm-email/abc_DEF-123",
        "https://econnect.example.com/relationship-requests/xyz",
        # a token-like run in any link, whatever the route
        "https://econnect.example.com/some/new/route/" + "aB3_" * 10 + "?step=2",
    ],
)
def test_the_token_of_any_token_route_or_a_token_like_run_is_removed(link: str) -> None:
    redacted = stored_bodies.redact_link_tokens(f"Open {link} now.")

    assert "removed" in redacted
    assert redacted.startswith("Open https://econnect.example.com/") and redacted.endswith(" now.")
    assert link not in redacted


@pytest.mark.parametrize(
    "link",
    [
        "https://econnect.example.com/partners/find",
        "https://econnect.example.com/organisations/12/members",
        "https://long-company-name-with-many-words.example.com/relationship-requests-overview",
    ],
)
def test_links_without_a_token_stay_as_they_are(link: str) -> None:
    assert stored_bodies.redact_link_tokens(f"Open {link} now.") == f"Open {link} now."


def test_sealed_bodies_say_whether_their_tokens_were_removed() -> None:
    body = "Use http://localhost:3000/invitation/tok-42 within 7 days."

    full, redacted = stored_bodies.seal(body), stored_bodies.seal(body, redacted=True)

    assert not stored_bodies.is_redacted(full) and stored_bodies.is_redacted(redacted)
    assert stored_bodies.open_stored(full) == body
    assert (
        stored_bodies.open_stored(redacted) == "Use http://localhost:3000/invitation/removed within 7 days."
    )
    assert stored_bodies.open_stored(stored_bodies.redacted_copy(full)) == stored_bodies.open_stored(redacted)
