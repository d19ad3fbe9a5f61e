"""The Email delivery section of /settings: an Administrator sees the emails that could not be sent
and sends them again (the page state driven as Reflex drives it, on a real database)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import reflex as rx
from reflex_base.event import Event
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import econnect_app.db as db_module
from econnect_app.mail.outbox import queue_email
from econnect_app.models import Environment, OutboxMessage, Role, User
from econnect_app.pages.settings import SettingsState
from econnect_app.services import sessions
from econnect_app.state.payloads import REFUSED_MESSAGE


@pytest.fixture()
def page(session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> SettingsState:
    """/settings in the tab of a logged-in Administrator."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    environment = Environment(name="Lovelace Accounting")
    session.add(environment)
    session.commit()
    admin = User(
        environment_id=environment.id, name="Ada", email="ada@example.com", role=Role.ADMINISTRATOR.value
    )
    session.add(admin)
    session.commit()
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(SettingsState.get_full_name().split("."))
    assert isinstance(state, SettingsState)
    state.session_cookie = sessions.start_session(session, user=admin)
    return state


def failed_email(session: Session, *, to: str) -> int:
    """An email of the Administrator's environment that failed for good."""
    environment_id = session.exec(select(Environment.id)).one()
    message = queue_email(
        session,
        template="password_reset",
        to=to,
        context={"name": "Bob", "link": "http://localhost:3000/reset-password/tok", "expires_minutes": 30},
        environment_id=environment_id,
    )
    session.commit()
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)  # type: ignore[arg-type]
        .values(status="failed", attempts=8, last_error="SMTPRecipientsRefused: 550 No such mailbox")
    )
    session.commit()
    assert message.id is not None
    return message.id


async def _all(updates: AsyncIterator[Any]) -> list[Any]:
    return [update async for update in updates]


def run(page: SettingsState, handler: str, *args: Any) -> str:
    """Run one event handler; the events the browser gets, as text."""
    result = SettingsState.event_handlers[handler].fn(page, *args)
    updates = asyncio.run(_all(result)) if hasattr(result, "__aiter__") else [result]
    return " ".join(
        str(event) for update in updates if update is not None for event in Event.from_event_type(update)
    )


def test_an_administrator_sees_the_failed_email_and_sends_it_again(
    session: Session, page: SettingsState
) -> None:
    run(page, "load")
    assert page.failed_notice == "" and page.waiting_notice == ""  # the page says ALL_SENT_TEXT

    message_id = failed_email(session, to="bob@example.com")
    run(page, "load")

    assert page.failed_notice == "1 email could not be sent. Check the address, then send it again."
    (row,) = page.failed_emails
    assert (row.id, row.to_address, row.subject) == (
        message_id,
        "bob@example.com",
        "Reset your eConnect password",
    )
    assert "No such mailbox" in row.problem

    events = run(page, "retry_email", message_id, page.action_id)

    assert "The email to bob@example.com will be sent again." in events
    assert page.failed_notice == "" and page.failed_emails == []
    session.expire_all()
    assert session.get(OutboxMessage, message_id).status == "queued"  # type: ignore[union-attr]


def test_retry_all_and_a_payload_that_is_not_a_message_id(session: Session, page: SettingsState) -> None:
    ids = [failed_email(session, to=f"user{n}@example.com") for n in range(2)]
    run(page, "load")
    assert page.failed_notice.startswith("2 emails could not be sent.")

    refused = run(page, "retry_email", "1 OR 1=1", page.action_id)  # any payload may arrive
    assert REFUSED_MESSAGE in refused
    assert len(page.failed_emails) == 2

    events = run(page, "retry_all_emails", page.action_id)

    assert "2 emails will be sent again." in events
    assert page.failed_emails == []
    session.expire_all()
    statuses = [session.get(OutboxMessage, message_id).status for message_id in ids]  # type: ignore[union-attr]
    assert statuses == ["queued", "queued"]
