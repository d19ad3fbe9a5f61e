"""How the product writes dates and times, in pages and emails alike (UTC; no Reflex here)."""

from __future__ import annotations

from datetime import datetime

MISSING = "—"


def format_date(moment: datetime) -> str:
    """A date as people write it in a sentence: ``3 March 2025``."""
    return f"{moment.day} {moment:%B %Y}"


def format_datetime(moment: datetime | None, *, missing: str = MISSING) -> str:
    """A moment in a list or a feed: ``3 Mar 2025, 14:05 UTC`` (``missing`` when there is none)."""
    if moment is None:
        return missing
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"
