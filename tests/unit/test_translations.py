"""The Dutch catalogue covers every text marked for translation, with the same placeholders.

The texts are extracted from the code and the email templates as ``make messages`` extracts them
(``babel.cfg``); a text added without its Dutch translation fails here, naming it.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from econnect_app import i18n

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _keywords() -> dict[str, tuple[int, ...] | None]:
    """Babel's default keywords and the project's (the Makefile's MESSAGE_KEYWORDS)."""
    from babel.messages.extract import DEFAULT_KEYWORDS

    keywords = dict(DEFAULT_KEYWORDS)
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("MESSAGE_KEYWORDS"))
    for spec in shlex.split(line.partition("=")[2])[1::2]:
        name, _, positions = spec.partition(":")
        keywords[name] = tuple(int(position) for position in positions.split(",")) if positions else None
    return keywords


def _marked_texts() -> dict[str | tuple[str, str], str]:
    """Every marked text (a plural as its pair), with where it was found."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str | tuple[str, str], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_keywords(), strip_comment_tags=True
    ):
        if not message:
            continue
        key = message if isinstance(message, str) else (message[0], message[1])
        if isinstance(key, tuple) and not all(key):
            continue
        found.setdefault(key, f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def dutch() -> dict[str | tuple[str, str], list[str]]:
    with i18n.catalogue_path(i18n.DUTCH).open("rb") as source:
        catalogue = read_po(source, locale=i18n.DUTCH)
    entries: dict[str | tuple[str, str], list[str]] = {}
    for message in catalogue:
        if not message.id or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else (message.id[0], message.id[1])
        strings = list(message.string) if isinstance(message.string, tuple | list) else [message.string]
        entries[key] = strings
    return entries


def test_the_code_marks_texts_in_pages_services_and_emails() -> None:
    places = set(_marked_texts().values())
    for part in ("econnect_app/pages/", "econnect_app/services/", "econnect_app/mail/templates/"):
        assert any(part in place for place in places), part


def test_every_marked_text_has_a_dutch_translation(dutch: dict) -> None:
    missing = [
        f"{place}: {text!r}"
        for text, place in sorted(_marked_texts().items(), key=lambda item: item[1])
        if not all(dutch.get(text, [""]))
    ]
    assert not missing, "Run `make messages` and translate in messages.po:\n" + "\n".join(missing)


def test_translations_keep_every_placeholder(dutch: dict) -> None:
    """A translation uses exactly the msgid's placeholders (a plural form may leave out ``{count}``)."""
    wrong = []
    for text, strings in dutch.items():
        sources = [text] if isinstance(text, str) else list(text)
        wanted = set().union(*(PLACEHOLDER.findall(source) for source in sources))
        may_omit = {"count"} if len(sources) > 1 else set()
        for string in strings:
            used = set(PLACEHOLDER.findall(string))
            if string and not (wanted - may_omit <= used <= wanted):
                wrong.append(f"{text!r} -> {string!r}")
    assert not wrong, "\n".join(wrong)


def test_the_language_in_effect_chooses_the_translation() -> None:
    assert i18n.gettext("Save") == "Save"
    with i18n.in_language("nl"):
        assert i18n.gettext("Save") == "Opslaan"
        with i18n.in_language("fr"):  # not offered: English
            assert i18n.gettext("Save") == "Save"
    assert i18n.translate("nl-BE", "Save") == "Opslaan"


def test_placeholders_are_filled_after_translation() -> None:
    assert i18n.translate("en", "{name} was added.", name="Bakkerij {De Gouden} Korst") == (
        "Bakkerij {De Gouden} Korst was added."
    )


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7", "nl"),
        ("en-GB,en;q=0.9,nl;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,nl;q=0.8,en;q=0.7", "nl"),
        ("de-DE, en;q=0.5, nl;q=0.6", "nl"),
        ("nl;q=0", "en"),
        ("", "en"),
        (None, "en"),
        ("*", "en"),
        ("nl;q=abc, en", "en"),
    ],
)
def test_the_browser_language_is_the_first_supported_by_weight(header: str | None, language: str) -> None:
    assert i18n.browser_language(header) == language
