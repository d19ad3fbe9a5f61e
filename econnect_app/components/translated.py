"""Static text on a page in the tab's language (``AuthState.language``), see ``econnect_app/i18n.py``.

A page is compiled once for every visitor, so its text is compiled in both languages and the
browser shows the one of the tab: ``t("Save")`` is ``"Opslaan"`` in a Dutch tab and ``"Save"`` in
an English one. Placeholders take Python values or Vars: ``t("Showing {first}–{last}", first=...,
last=...)``. Text that comes from the server (a row's status, a toast) is translated there with
``i18n.gettext``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import reflex as rx

from econnect_app import i18n
from econnect_app.state.auth import AuthState, page_title

Text = str | rx.Var


def _in_tab_language(english: str, dutch: str) -> Text:
    """``dutch`` in a Dutch tab, ``english`` otherwise (the plain text when they are the same)."""
    if dutch == english:
        return english
    return rx.cond(AuthState.language == i18n.DUTCH, dutch, english)


def t(message: str, /, **params: Any) -> Text:
    """``message`` in the tab's language, its ``{placeholders}`` filled from ``params`` (Vars too)."""
    dutch = i18n.translations(i18n.DUTCH).gettext(message) if message else message  # "": the header
    return _in_tab_language(message.format(**params) if params else message, dutch.format(**params) if params else dutch)


def tab_title(name: str) -> Text:
    """The browser tab's title of the page ``name`` (English, marked with ``N_``) in the tab's
    language: it changes with the language, as the page's text does."""
    return _in_tab_language(page_title(name, i18n.ENGLISH), page_title(name, i18n.DUTCH))


def t_plural(singular: str, plural: str, count: rx.Var | int, /, **params: Any) -> Text:
    """The form for ``count`` (a Var or a number) in the tab's language; ``{count}`` is filled in."""
    dutch = i18n.translations(i18n.DUTCH)
    values = {"count": count, **params}
    one = _in_tab_language(singular.format(**values), dutch.ngettext(singular, plural, 1).format(**values))
    many = _in_tab_language(plural.format(**values), dutch.ngettext(singular, plural, 2).format(**values))
    if not isinstance(count, rx.Var):
        return one if count == 1 else many
    return rx.cond(count == 1, one, many)


def translated_options(options: list[str] | tuple[str, ...]) -> list[rx.Component]:
    """``<option>``s of a select: the values stay as they are (English, what the server reads),
    each shown in the tab's language."""
    return [rx.el.option(t(option), value=option) for option in options]


def t_choice(value: rx.Var, choices: Iterable[str]) -> rx.Var:
    """A Var holding one of a fixed set of English words (a status, a role: what the server sends
    and compares) shown in the tab's language; anything else is shown as it is."""
    return rx.match(value, *[(choice, t(choice)) for choice in choices], value)
