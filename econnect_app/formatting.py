"""How the product writes dates, times, names and sentences, in pages and emails alike (no Reflex).

Times are UTC.
"""

from __future__ import annotations

from datetime import datetime

from econnect_app.models import User

MISSING = "—"


def format_date(moment: datetime) -> str:
    """A date as people write it in a sentence: ``3 March 2025``."""
    return f"{moment.day} {moment:%B %Y}"


def format_datetime(moment: datetime | None, *, missing: str = MISSING) -> str:
    """A moment in a list or a feed: ``3 Mar 2025, 14:05 UTC`` (``missing`` when there is none)."""
    if moment is None:
        return missing
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def display_name(user: User | None, *, missing: str = "") -> str:
    """How a person is named in messages: their name, else their email address."""
    if user is None:
        return missing
    return user.name or user.email


def sentence(text: str) -> str:
    """``text`` ending with a full stop, unless it already ends with one (e.g. "B.V.")."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 member``, ``2 members`` (``words`` for an irregular plural)."""
    return f"{count} {word if count == 1 else (words or word + 's')}"
