"""How the product writes dates, times, names and sentences, in pages and emails alike (no Reflex).

Times are stored in UTC and shown in the time zone in effect, named after the time
("3 Mar 2025, 15:05 CET"): the zone of the environment whose user or recipient reads them
(``Environment.time_zone``), set around the work with ``in_time_zone``; Europe/Amsterdam by default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import get_month_names

from econnect_app import i18n
from econnect_app.models import User

MISSING = "—"
DEFAULT_TIME_ZONE = "Europe/Amsterdam"

_zone_in_effect: ContextVar[ZoneInfo | None] = ContextVar("zone_in_effect", default=None)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a time zone this machine knows (an IANA name such as "Europe/London")."""
    return bool(name) and "/" not in (name[0], name[-1]) and _zone(name) is not None


def time_zone_in_effect() -> ZoneInfo:
    """The zone dates and times are shown in right now (``in_time_zone``, else the default)."""
    zone = _zone_in_effect.get()
    if zone is None:
        zone = _zone(DEFAULT_TIME_ZONE)
        assert zone is not None
    return zone


def time_zone(name: str | None) -> ZoneInfo:
    """The zone named ``name`` (the default when it is empty or unknown)."""
    zone = _zone(name) if name and is_time_zone(name) else _zone(DEFAULT_TIME_ZONE)
    assert zone is not None
    return zone


@contextmanager
def in_time_zone(name: str | None) -> Iterator[ZoneInfo]:
    """Show the dates and times formatted inside in zone ``name`` (the default when it is empty or
    unknown). Context-local: each thread and task has its own."""
    token = _zone_in_effect.set(time_zone(name))
    try:
        yield time_zone_in_effect()
    finally:
        _zone_in_effect.reset(token)


def local_time(moment: datetime) -> datetime:
    """``moment`` in the zone in effect (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(time_zone_in_effect())


def zone_name(local_moment: datetime) -> str:
    """How a local time names its zone: the abbreviation ("CET", "BST", "UTC"), or the zone's key
    where the zone has no letter abbreviation ("+04" becomes "Asia/Dubai")."""
    abbreviation = local_moment.tzname() or ""
    if abbreviation[:1].isalpha():
        return abbreviation
    zone = local_moment.tzinfo
    return getattr(zone, "key", None) or abbreviation


@lru_cache(maxsize=8)
def _month_names(language: str, width: str) -> dict[int, str]:
    return dict(get_month_names(width, locale=language))


def _month(moment: datetime, width: str) -> str:
    """The month of ``moment`` in the language in effect ("March" / "maart", "Mar" / "mrt")."""
    language = i18n.language_in_effect()
    if language == i18n.ENGLISH:
        return f"{moment:%B}" if width == "wide" else f"{moment:%b}"
    return _month_names(language, width)[moment.month]


def format_date(moment: datetime) -> str:
    """A date as people write it in a sentence: ``3 March 2025`` / ``3 maart 2025`` (the day in the
    zone in effect, the month in the language in effect)."""
    moment = local_time(moment)
    return f"{moment.day} {_month(moment, 'wide')} {moment:%Y}"


def format_datetime(moment: datetime | None, *, missing: str = MISSING) -> str:
    """A moment in a list or a feed, in the zone in effect and naming it: ``3 Mar 2025, 15:05 CET``
    (``missing`` when there is none)."""
    if moment is None:
        return missing
    moment = local_time(moment)
    return f"{moment.day} {_month(moment, 'abbreviated')} {moment:%Y, %H:%M} {zone_name(moment)}"


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
