"""Dutch and English: the message catalogues and the language in effect (no Reflex).

English is the source language: every text in the code is English, marked for translation, and
``locale/nl/LC_MESSAGES/messages.po`` (a gettext catalogue, read with Babel) holds its Dutch.
``make messages`` extracts the marked texts and updates the catalogue; a unit test fails when a
marked text has no Dutch translation or the translation drops one of its ``{placeholders}``.

Three ways a text is marked, one per place it is shown:

- ``gettext("...")`` / ``ngettext(...)`` (here): on the server, in the language in effect (a
  message a service refuses with, a toast, a row label, an email). Placeholders are ``{name}``
  fields filled from keyword arguments *after* translation: ``gettext("{name} was added.",
  name=organisation.name)``.
- ``t("...")`` / ``t_plural(...)`` (``components/translated.py``): static text on a page, compiled
  into the frontend in both languages and shown in the tab's language (``AuthState.language``).
- ``N_("...")``: a text defined once at import (a label in a table of kinds) and translated where
  it is shown, with ``gettext(label)`` or ``t(label)``.

The language in effect is context-local like the time zone (``formatting.in_time_zone``): the
page states set the user's (``User.language``, else the browser's) around their work, and
``queue_email`` sets the recipient's around rendering an email.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

ENGLISH = "en"
DUTCH = "nl"
DEFAULT_LANGUAGE = ENGLISH
LANGUAGES: dict[str, str] = {ENGLISH: "English", DUTCH: "Nederlands"}  # each in its own words
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

_language_in_effect: ContextVar[str] = ContextVar("language_in_effect", default=DEFAULT_LANGUAGE)


def supported_language(code: str | None) -> str | None:
    """``code`` ("nl", "nl-BE", "EN_gb") as one of ``LANGUAGES``, or None."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def browser_language(accept_language: str | None) -> str:
    """The first supported language of a browser's ``Accept-Language`` header, by its weights
    ("nl-NL,nl;q=0.9,en;q=0.8" is Dutch); English when it names none."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        code, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        language = supported_language(code)
        if language and weight > 0:
            choices.append((-weight, position, language))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE


def language_in_effect() -> str:
    """The language texts are translated into here (English unless ``in_language`` says otherwise)."""
    return _language_in_effect.get()


@contextmanager
def in_language(code: str | None) -> Iterator[str]:
    """Translate the texts produced inside into ``code`` (English when it is not supported).
    Context-local: each thread and task has its own."""
    token = _language_in_effect.set(supported_language(code) or DEFAULT_LANGUAGE)
    try:
        yield language_in_effect()
    finally:
        _language_in_effect.reset(token)


def catalogue_path(language: str) -> Path:
    """Where the catalogue of ``language`` lives (English has none: it is the source)."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """The gettext translations of ``language``, read from its ``.po`` catalogue once (no compiled
    ``.mo`` file to keep in step: Babel compiles it in memory). Fuzzy entries are not used."""
    path = catalogue_path(language)
    if language == ENGLISH or not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalogue = read_po(source, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def _filled(text: str, params: dict[str, object]) -> str:
    return text.format(**params) if params else text


def translate(language: str, message: str, /, **params: object) -> str:
    """``message`` in ``language``, its ``{placeholders}`` filled from ``params`` (an empty message
    stays empty: gettext would answer it with the catalogue's header)."""
    catalogue = translations(supported_language(language) or DEFAULT_LANGUAGE)
    return _filled(catalogue.gettext(message) if message else message, params)


def translate_plural(language: str, singular: str, plural: str, count: int, /, **params: object) -> str:
    """The form for ``count`` in ``language``; ``{count}`` and ``params`` filled in."""
    catalogue = translations(supported_language(language) or DEFAULT_LANGUAGE)
    return _filled(catalogue.ngettext(singular, plural, count), {"count": count, **params})


def gettext(message: str, /, **params: object) -> str:
    """``message`` in the language in effect, its ``{placeholders}`` filled from ``params``."""
    return translate(language_in_effect(), message, **params)


def ngettext(singular: str, plural: str, count: int, /, **params: object) -> str:
    """The singular or plural form for ``count`` in the language in effect (``{count}`` filled)."""
    return translate_plural(language_in_effect(), singular, plural, count, **params)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark ``message`` for translation where it is defined; translate it where it is shown."""
    return message

