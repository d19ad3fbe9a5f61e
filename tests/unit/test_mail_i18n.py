"""Emails in Dutch and English through the one catalogue (``mail/messages.py`` explains how)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import NullTranslations, Translations

from econnect_app import i18n
from econnect_app.mail.messages import _jinja, render_message

LINK = "http://localhost:3000/activate/abc?a=1&b=2"
HOSTILE = '<script>alert(1)</script> & "Sons" {name} %(name)s'
HOSTILE_HTML = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Sons&#34; {name} %(name)s"

REQUEST: dict[str, Any] = {
    "client_name": "Piet",
    "firm_name": "De Vries Administratie",
    "requester_name": "Anna de Vries",
    "organisation_name": "Bakkerij Piet BV",
    "software_name": "Exact Online",
    "link": LINK,
    "expires_on": "16 December 2026",
    "expires_days": 14,
    "what_accepting_grants": "Accepting creates a partnership.",
}


def _translations(entries: dict[str | tuple[str, str], str | tuple[str, str]]) -> Translations:
    catalogue = Catalog(locale="nl", domain=i18n.DOMAIN)
    for msgid, msgstr in entries.items():
        catalogue.add(msgid, msgstr)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=i18n.DOMAIN)


@pytest.fixture
def fake_dutch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A small Dutch catalogue instead of the real one (for how texts are filled and escaped)."""
    dutch = _translations(
        {
            "Hello {name},": "Hallo {name},",
            "Q&A for {name}": "V&A voor {name}",
            "Hello <strong>{name}</strong>": "Hallo <strong>{name}</strong>",
            ("{count} day", "{count} days"): ("{count} dag", "{count} dagen"),
        }
    )
    monkeypatch.setattr(
        i18n, "translations", lambda language: dutch if language == i18n.DUTCH else NullTranslations()
    )
    yield


# --- values stay escaped in HTML, in every language -------------------------------------------------


@pytest.mark.parametrize("language", [i18n.ENGLISH, i18n.DUTCH])
def test_a_name_with_a_script_is_escaped_in_the_html_body(language: str) -> None:
    context = dict(REQUEST, client_name=HOSTILE, firm_name=HOSTILE, organisation_name=HOSTILE)

    with i18n.in_language(language):
        message = render_message("authorisation_request", context)

    assert "<script>" not in message.html_body
    assert HOSTILE_HTML in message.html_body
    assert f"<strong>{HOSTILE_HTML}</strong>" in message.html_body  # bold, still escaped
    # Plain text and subject are not HTML: the name as typed, braces and percent signs left alone.
    assert HOSTILE in message.text_body
    assert HOSTILE in message.subject


@pytest.mark.parametrize("language", [i18n.ENGLISH, i18n.DUTCH])
def test_a_placeholder_called_message_takes_a_hostile_message(language: str) -> None:
    context = {
        "name": "Kees",
        "requester_name": "Ada",
        "requester_environment_name": "Lovelace Accounting",
        "target_environment_name": "Korenbloem Holding",
        "organisation_name": "Bakkerij De Korenbloem",
        "message": HOSTILE,
        "link": LINK,
        "expires_on": "17 March 2025",
    }

    with i18n.in_language(language):
        message = render_message("relationship_request", context)

    assert "<script>" not in message.html_body
    assert HOSTILE_HTML in message.html_body
    assert HOSTILE in message.text_body


def test_values_are_escaped_and_the_translation_is_kept_as_text(fake_dutch: None) -> None:
    template = _jinja().from_string('{{ _("Hello {name},", name=who) }} {{ _("Q&A for {name}", name=who) }}')

    assert (
        template.render(who="<b>Ann</b>")
        == "Hello &lt;b&gt;Ann&lt;/b&gt;, Q&amp;A for &lt;b&gt;Ann&lt;/b&gt;"
    )
    with i18n.in_language(i18n.DUTCH):
        assert (
            template.render(who="<b>Ann</b>")
            == "Hallo &lt;b&gt;Ann&lt;/b&gt;, V&amp;A voor &lt;b&gt;Ann&lt;/b&gt;"
        )


def test_a_msgid_with_html_keeps_its_tags_and_escapes_its_values(fake_dutch: None) -> None:
    template = _jinja().from_string('{{ _("Hello <strong>{name}</strong>", name=who) }}')

    assert template.render(who="<i>Ann</i>") == "Hello <strong>&lt;i&gt;Ann&lt;/i&gt;</strong>"
    with i18n.in_language(i18n.DUTCH):
        assert template.render(who="<i>Ann</i>") == "Hallo <strong>&lt;i&gt;Ann&lt;/i&gt;</strong>"


def test_plain_text_is_filled_without_escaping(fake_dutch: None) -> None:
    template = _jinja().from_string(
        '{% autoescape false %}{{ _("Q&A for {name}", name=who) }}, '
        '{{ ngettext("{count} day", "{count} days", n) }}{% endautoescape %}'
    )

    with i18n.in_language(i18n.DUTCH):
        assert template.render(who="<b>{x}</b>", n=1) == "V&A voor <b>{x}</b>, 1 dag"
        assert template.render(who="Ann", n=3) == "V&A voor Ann, 3 dagen"
    assert template.render(who="Ann", n=1) == "Q&A for Ann, 1 day"


def test_an_apostrophe_in_a_text_is_written_as_it_is() -> None:
    context = {
        "name": "Fiona",
        "partner_name": "Korenbloem Holding",
        "ended_by": "Kees",
        "ended_on": "3 March 2025",
        "own_side": True,
        "link": LINK,
    }

    message = render_message("partnership_ended", context)

    assert "stay in each side's own environment." in message.html_body


# --- the language in effect -------------------------------------------------------------------------


def test_english_is_the_default_and_the_html_says_which_language_it_is_in() -> None:
    default = render_message("authorisation_request", REQUEST)
    with i18n.in_language(i18n.ENGLISH):
        english = render_message("authorisation_request", REQUEST)
    with i18n.in_language(i18n.DUTCH):
        dutch = render_message("authorisation_request", REQUEST)

    assert english == default
    assert '<html lang="en">' in english.html_body
    assert '<html lang="nl">' in dutch.html_body


def test_the_number_of_days_takes_the_singular_for_one() -> None:
    context = {"name": "Ann", "email": "ann@example.com", "link": LINK, "expires_days": 1}

    message = render_message("email_confirmation", context)

    assert "(valid for 1 day):" in message.text_body
    assert (
        "(valid for 3 days):" in render_message("email_confirmation", dict(context, expires_days=3)).text_body
    )


# --- the Dutch catalogue (locale/nl/LC_MESSAGES/messages.po) -----------------------------------------


def test_an_authorisation_request_in_dutch() -> None:
    with i18n.in_language(i18n.DUTCH):
        first = render_message("authorisation_request", REQUEST)
        reminder = render_message("authorisation_request", dict(REQUEST, reminder_number=1, reminder_max=2))

    assert first.subject == "De Vries Administratie vraagt toegang tot Bakkerij Piet BV op eConnect"
    assert (
        reminder.subject
        == "Herinnering: De Vries Administratie vraagt toegang tot Bakkerij Piet BV op eConnect"
    )
    assert first.text_body.startswith(
        "Hallo Piet,\n\nAnna de Vries van De Vries Administratie vraagt toegang tot"
    )
    assert "(14 dagen na verzending):" in first.text_body
    assert "<strong>Dit is herinnering 1 van 2.</strong>" in reminder.html_body
    assert "Verzoek bekijken" in first.html_body
    assert "Je ontvangt deze e-mail vanwege een actie op eConnect." in first.text_body
    assert LINK in first.text_body


def test_a_role_is_compared_in_english_and_shown_in_dutch() -> None:
    context = {
        "name": "Ada",
        "inviter_name": "Kees",
        "environment_name": "Korenbloem Holding",
        "organisation_name": "Bakkerij De Korenbloem",
        "role": "Administrator",
        "link": LINK,
    }

    with i18n.in_language(i18n.DUTCH):
        message = render_message("membership_invitation", context)

    assert message.subject == "Bakkerij De Korenbloem wil met je samenwerken op eConnect"
    assert (
        "Als Beheerder kun je Bakkerij De Korenbloem en de documenten ervan bekijken, "
        "en leden toevoegen en verwijderen." in message.text_body
    )
