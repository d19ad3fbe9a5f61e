"""Build an email (subject, plain text, HTML) from the templates in ``templates/``.

Every email exists in English and Dutch through the one gettext catalogue (``econnect_app.i18n``),
rendered in the language in effect (``queue_email`` sets the recipient's). The templates mark
their texts, subject lines included, with the Jinja2 i18n extension's ``_`` (and ``ngettext``),
with the catalogue's ``{name}`` placeholders filled from keyword arguments::

    {{ _("Hello {name},", name=client_name) }}
    {{ ngettext("Use this link within {count} minute:", "Use this link within {count} minutes:",
                expires_minutes) }}

The extension is installed with ``newstyle=False`` and our own callables (``_gettext`` and
``_ngettext``): Jinja's newstyle wrappers would %-format every translation (``%(name)s``, and a
literal ``%`` would need doubling), while ours fill the ``{braces}`` with ``str.format`` like
``i18n.gettext`` does, after looking the text up in the language in effect (``i18n.gettext`` of
the msgid; for plurals ``i18n.translations(language).ngettext``). They take the msgid(s)
positionally, so any placeholder name works (``message=``); in a plural ``{count}`` is the number.
Do not use ``{% trans %}`` blocks: they produce %-placeholders.

Escaping in HTML templates (autoescape on): the translation is the trusted part and the values
are not. The callables take the translation with its placeholders still in it, escape it unless
the msgid itself contains HTML (a tag or an entity: then the msgstr is HTML too, with the same
tags; ``'`` is left as it is, see ``_text_as_html``), and fill in the values with
``Markup.format``, which escapes each value (a value that is already ``Markup`` -
``email|strong``, a link opened with ``{% set %}`` - goes in as it is). The result is ``Markup``.
In plain-text templates and subject lines nothing is escaped (the same filling as
``i18n.gettext`` / ``i18n.ngettext``).

So that translators see sentences without markup, the HTML templates keep the markup out of the
msgids: a bold value is passed as ``value|strong``, a link inside a sentence as
``{log_in_start}...{log_in_end}`` placeholders holding its ``<a>`` and ``</a>``, and a bold
sentence is wrapped in ``<strong>`` outside the ``_()`` call. The plain-text and HTML bodies
share a msgid wherever their English is the same. A ``{# Translators: ... #}`` comment above a
call reaches the catalogue (``pybabel extract -c Translators:``).

Values the services pass in English and the templates compare (a role) are shown with
``|translated`` (``i18n.gettext`` of the value; marked below with ``N_``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

from econnect_app import i18n
from econnect_app.formatting import format_date, format_datetime

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUBJECT_MAX_LENGTH = 300  # the outbox column's length

# English values from the services that the templates show translated (``|translated``): the roles
# (``membership_invitation`` compares them, so the context keeps them in English) and how a
# password was changed (``password_changed``).
SHOWN_TRANSLATED = (
    i18n.N_("User"),
    i18n.N_("Advanced user"),
    i18n.N_("Administrator"),
    i18n.N_("Member"),
    i18n.N_("reset through an emailed link"),
    i18n.N_("changed on the profile page"),
)

# A msgid holding HTML (a tag or an entity): its translation is HTML too and is not escaped.
_HTML = re.compile(r"<[A-Za-z/!]|&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#[xX][0-9A-Fa-f]+);")


@dataclass(frozen=True)
class RenderedMessage:
    """A message ready for the outbox."""

    subject: str
    text_body: str
    html_body: str


def _date_filter(value: datetime | str) -> str:
    """``{{ moment|format_date }}``: a moment as a date in the time zone in effect (text as it is)."""
    return format_date(value) if isinstance(value, datetime) else value


def _datetime_filter(value: datetime | str | None) -> str:
    """``{{ moment|format_datetime }}``: a moment with its time and zone, in the time zone in effect."""
    return value if isinstance(value, str) else format_datetime(value)


def _strong_filter(value: object) -> Markup:
    """``{{ name|strong }}`` (HTML templates): the value in bold, escaped."""
    return Markup("<strong>{}</strong>").format(value)


def _translated_filter(value: str) -> str:
    """``{{ role|translated }}``: an English value from the context in the language in effect."""
    return i18n.gettext(value)


def _filled(eval_ctx: EvalContext, translation: str, msgid: str, params: dict[str, Any]) -> str:
    """``translation`` with its ``{placeholders}`` filled from ``params``; in an HTML template
    ``Markup`` with the values escaped (the translation too, unless the msgid holds HTML)."""
    template: str = translation
    if eval_ctx.autoescape:
        template = Markup(translation) if _HTML.search(msgid) else _text_as_html(translation)
    return template.format(**params) if params else template


def _text_as_html(text: str) -> Markup:
    """A translation without markup as HTML: ``&``, ``<``, ``>`` and ``"`` escaped. Not ``'``, so
    that an English text reads byte for byte as it did when it was template source ("each
    side's"); the templates put translations in text and double-quoted attributes only."""
    return Markup(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;"))


@pass_eval_context
def _gettext(eval_ctx: EvalContext, message: str, /, **params: Any) -> str:
    """``_("...", name=value)`` in a template: ``message`` in the language in effect, filled."""
    return _filled(eval_ctx, i18n.gettext(message), message, params)


@pass_eval_context
def _ngettext(eval_ctx: EvalContext, singular: str, plural: str, count: int, /, **params: Any) -> str:
    """``ngettext("...", "...", n, name=value)`` in a template: the form for ``n``, ``{count}`` filled."""
    form = i18n.translations(i18n.language_in_effect()).ngettext(singular, plural, count)
    return _filled(eval_ctx, form, singular, {"count": count, **params})


@lru_cache(maxsize=1)
def _jinja() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,  # the templates ship with the code: no look at each file's time per message
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]  (added by the i18n extension)
        gettext=_gettext, ngettext=_ngettext, newstyle=False
    )
    env.globals["language_in_effect"] = i18n.language_in_effect  # <html lang="...">
    env.filters["format_date"] = _date_filter
    env.filters["format_datetime"] = _datetime_filter
    env.filters["strong"] = _strong_filter
    env.filters["translated"] = _translated_filter
    return env


def clean_subject(subject: str) -> str:
    """One line (no header injection through a name with line breaks), at most 300 characters."""
    one_line = " ".join(subject.split())
    if len(one_line) > SUBJECT_MAX_LENGTH:
        return one_line[: SUBJECT_MAX_LENGTH - 1].rstrip() + "\u2026"
    return one_line


def render_message(template: str, context: dict[str, Any]) -> RenderedMessage:
    """Render ``<template>.subject.txt``, ``<template>.txt`` and ``<template>.html``.

    HTML templates extend ``_layout.html``; values are HTML-escaped there (not in text parts).
    Texts are in the language in effect (``i18n.in_language``; ``queue_email`` sets the
    recipient's).
    Moments are passed as datetimes and written with the ``format_date`` / ``format_datetime``
    filters, in the time zone in effect (``formatting.in_time_zone``; ``queue_email`` sets the
    recipient's).
    """
    env = _jinja()
    subject = clean_subject(env.get_template(f"{template}.subject.txt").render(**context))
    text_body = env.get_template(f"{template}.txt").render(**context)
    html_body = env.get_template(f"{template}.html").render(**context)
    return RenderedMessage(subject=subject, text_body=text_body, html_body=html_body)
