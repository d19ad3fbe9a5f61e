"""Queue emails in the outbox table, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from econnect_app.mail.messages import render_message
from econnect_app.models import OutboxMessage


def queue_email(
    session: Session,
    *,
    template: str,
    to: str,
    context: dict[str, Any],
    cc: Sequence[str] = (),
    environment_id: int | None = None,
) -> OutboxMessage:
    """Render a template and add the message to the outbox (committed with the caller's change)."""
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


def list_recent_messages(session: Session, *, limit: int = 50) -> list[OutboxMessage]:
    """The newest outbox messages first (read-only)."""
    statement = (
        select(OutboxMessage)
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return list(session.exec(statement).all())
