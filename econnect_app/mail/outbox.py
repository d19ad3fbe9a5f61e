"""Queue emails in the outbox table, in the caller's transaction.

Bodies are stored encrypted (``stored_bodies``); an ``OutboxMessage`` loaded through the ORM
holds them in plain text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.formatting import in_time_zone
from econnect_app.mail import stored_bodies  # noqa: F401  (stores bodies encrypted)
from econnect_app.mail.messages import render_message
from econnect_app.models import Environment, OutboxMessage, User
from econnect_app.settings import Settings, get_settings


def sending_window(settings: Settings | None = None) -> timedelta:
    """How long a message may wait to be sent: the longest any emailed link stays valid.

    A message not sent by then is not sent at all (its links no longer work); its link tokens
    are removed from the stored copy.
    """
    settings = settings or get_settings()
    return max(
        timedelta(days=settings.authorisation_link_days),
        timedelta(days=settings.invitation_days),
        timedelta(days=settings.email_confirmation_days),
        timedelta(minutes=settings.password_reset_minutes),
    )


def queue_email(
    session: Session,
    *,
    template: str,
    to: str,
    context: dict[str, Any],
    cc: Sequence[str] = (),
    environment_id: int | None = None,
) -> OutboxMessage:
    """Render a template and add the message to the outbox (committed with the caller's change).

    ``environment_id``: the recipient's environment, or the sending one for a recipient outside
    the app (a client); the message's dates and times are written in its time zone. The message is
    written in the language the recipient chose (``User.language``), else in the language in
    effect (the sender's: a firm writes to its clients in its own language).
    """
    zone = _time_zone_of(session, environment_id) if environment_id is not None else None
    language = _language_chosen_by(session, to) or i18n.language_in_effect()
    with in_time_zone(zone) if zone else nullcontext(), i18n.in_language(language):  # else: the zone in effect
        rendered = render_message(template, context)
    message = OutboxMessage(
        template=template,
        to_address=to,
        cc=",".join(cc),
        subject=rendered.subject,
        text_body=rendered.text_body,
        html_body=rendered.html_body,
        environment_id=environment_id,
    )
    session.add(message)
    return message


_LANGUAGES_READ_AHEAD = "econnect.outbox.languages"


@contextmanager
def languages_read_ahead(session: Session, addresses: Collection[str]) -> Iterator[None]:
    """Within the block, messages to these addresses take their recipient's language from one query
    made now (e.g. for a CSV import's group of rows) instead of one query per message."""
    keys = sorted({address.strip().lower() for address in addresses})
    known: dict[str, str | None] = dict.fromkeys(keys)
    with session.no_autoflush:
        for start in range(0, len(keys), 500):
            chosen = select(User.email, User.language).where(col(User.email).in_(keys[start : start + 500]))
            known.update(session.exec(chosen).all())
    session.info[_LANGUAGES_READ_AHEAD] = known
    try:
        yield
    finally:
        session.info.pop(_LANGUAGES_READ_AHEAD, None)


def _language_chosen_by(session: Session, address: str) -> str | None:
    """The language the user with this (primary) address chose, if any."""
    key = address.strip().lower()
    read_ahead = session.info.get(_LANGUAGES_READ_AHEAD)
    if read_ahead is not None and key in read_ahead:
        return read_ahead[key]
    with session.no_autoflush:
        return session.exec(select(User.language).where(User.email == key)).first()


def _time_zone_of(session: Session, environment_id: int) -> str | None:
    """The environment's time zone (None without one: ``in_time_zone`` then uses the default)."""
    with session.no_autoflush:
        environment = session.get(Environment, environment_id)
    return environment.time_zone if environment else None


def list_recent_messages(session: Session, *, limit: int = 50) -> list[OutboxMessage]:
    """The newest outbox messages first, bodies decrypted (read-only; the development mailbox)."""
    statement = (
        select(OutboxMessage)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement).all())
