"""How outbox bodies are kept at rest: encrypted, and without their links' tokens once not needed.

An email's links carry single-use tokens (activation, password reset, invitation, ...), so the
stored copy of an email must not be usable to anyone reading the database or a backup. The
columns ``OutboxMessage.text_body`` and ``html_body`` hold one of:

- ``fernet:<token>``: the whole body, encrypted with a key derived from ``ECONNECT_SECRET_KEY``
  (``econnect_app.crypto``);
- ``redacted:fernet:<token>``: the body with every link token replaced by ``removed``, encrypted;
  written once the message is sent (the recipient has the link) or too old to be sent;
- anything else: plain text queued before encryption existed, read as it is.

Importing this module installs mapper events on ``OutboxMessage`` (``econnect_app.mail`` imports
it): an object written through the ORM is stored encrypted, and one loaded through the ORM holds
the plain bodies, so the code that queues, sends and shows emails works with plain text while the
database never holds it. SQL that selects or updates the columns itself sees the stored forms and
uses :func:`seal` / :func:`open_stored` / :func:`redacted_copy`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm.attributes import set_committed_value

from econnect_app import crypto, routes
from econnect_app.models import OutboxMessage

BODY_COLUMNS: tuple[str, ...] = ("text_body", "html_body")
PURPOSE = "outbox message body"
REDACTED_MARK = "redacted:"
REMOVED = "removed"
UNREADABLE_TEXT = "The text of this email cannot be shown: it was stored with another ECONNECT_SECRET_KEY."
# A URL in a text or HTML body (up to white space, a quote or a tag).
_URL = re.compile(r"https?://[^\s\"'<>]+")
# A run of URL-safe base64 as long as a token, with a capital, a digit or "_" (not a path word).
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*[A-Z0-9_])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")


@lru_cache(maxsize=1)
def _token_in_link() -> re.Pattern[str]:
    """The token segment of every route of the app that takes a ``[token]`` (``/activate/<token>``)."""
    prefixes = sorted(
        {
            value.split("[token]", 1)[0]
            for name, value in vars(routes).items()
            if name.isupper() and isinstance(value, str) and "[token]" in value
        }
    )
    alternatives = "|".join(re.escape(prefix) for prefix in prefixes) or r"(?!x)x"
    return re.compile(rf"(?P<route>{alternatives})[A-Za-z0-9_-]+")


def redact_link_tokens(body: str) -> str:
    """``body`` with the token of every link replaced by ``removed`` (the rest stays readable).

    Tokens are the segment after a ``[token]`` route of the app (``/activate/``, ``/reset-password/``,
    ...) and, in any link, a token-like run of 32 or more URL-safe characters.
    """
    without_route_tokens = _token_in_link().sub(rf"\g<route>{REMOVED}", body)
    return _URL.sub(lambda url: _LONG_TOKEN.sub(REMOVED, url.group(0)), without_route_tokens)


def is_redacted(stored: str) -> bool:
    """Whether a stored body has had its link tokens removed."""
    return stored.startswith(REDACTED_MARK)


def is_sealed(stored: str) -> bool:
    """Whether a stored body is in one of the encrypted forms (not legacy plain text)."""
    return is_redacted(stored) or crypto.is_encrypted(stored)


def seal(plain: str, *, redacted: bool = False) -> str:
    """The stored form of a body: encrypted; with ``redacted``, its link tokens removed first."""
    if redacted:
        return REDACTED_MARK + crypto.encrypt_text(redact_link_tokens(plain), purpose=PURPOSE)
    return crypto.encrypt_text(plain, purpose=PURPOSE)


def open_stored(stored: str) -> str:
    """The plain body of a stored one; raises ``crypto.UnreadableText`` for another secret key."""
    if is_redacted(stored):
        stored = stored[len(REDACTED_MARK) :]
    return crypto.decrypt_text(stored, purpose=PURPOSE)


def redacted_copy(stored: str) -> str:
    """A stored body turned into its redacted stored form (raises ``crypto.UnreadableText``)."""
    return seal(open_stored(stored), redacted=True)


def is_readable(message: OutboxMessage) -> bool:
    """Whether a message loaded through the ORM holds plain bodies (False: another secret key)."""
    return not any(is_sealed(getattr(message, column) or "") for column in BODY_COLUMNS)


# --- the ORM stores bodies sealed and loads them open -----------------------------------------


def _seal_changed_bodies(_mapper: Any, _connection: Any, target: OutboxMessage) -> None:
    state = inspect(target)
    for column in BODY_COLUMNS:
        if state.has_identity and not state.attrs[column].history.has_changes():
            continue  # an UPDATE of other columns: the stored body stays as it is
        value = getattr(target, column)
        if isinstance(value, str) and not is_sealed(value):
            setattr(target, column, seal(value))


def _open_bodies(target: OutboxMessage, columns: Iterable[str]) -> None:
    loaded = target.__dict__
    for column in columns:
        stored = loaded.get(column)
        if isinstance(stored, str) and is_sealed(stored):
            try:
                set_committed_value(target, column, open_stored(stored))
            except crypto.UnreadableText:
                pass  # stays sealed: is_readable() says so, and nothing sends or shows it


def _open_after_load(target: OutboxMessage, _context: Any) -> None:
    _open_bodies(target, BODY_COLUMNS)


def _open_after_refresh(target: OutboxMessage, _context: Any, attrs: Iterable[str] | None) -> None:
    _open_bodies(target, BODY_COLUMNS if attrs is None else [a for a in attrs if a in BODY_COLUMNS])


def _open_after_write(_mapper: Any, _connection: Any, target: OutboxMessage) -> None:
    _open_bodies(target, BODY_COLUMNS)


event.listen(OutboxMessage, "before_insert", _seal_changed_bodies)
event.listen(OutboxMessage, "before_update", _seal_changed_bodies)
event.listen(OutboxMessage, "after_insert", _open_after_write)
event.listen(OutboxMessage, "after_update", _open_after_write)
event.listen(OutboxMessage, "load", _open_after_load)
event.listen(OutboxMessage, "refresh", _open_after_refresh)
