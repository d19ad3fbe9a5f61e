"""/dev/mailbox: the outbox as a mailbox, for following email flows locally (dev, no SMTP).

The outbox stores bodies encrypted (mail/stored_bodies.py); this page is one of the two places
that reads them decrypted (the other is sending), and only in development.
"""

from __future__ import annotations

import dataclasses

import reflex as rx
from sqlmodel import Session

from econnect_app.formatting import format_datetime
from econnect_app.mail import stored_bodies
from econnect_app.mail.outbox import list_recent_messages
from econnect_app.models import OutboxMessage
from econnect_app.settings import get_settings
from econnect_app.state.auth import AuthState, Updates

MAILBOX_SIZE = 50
UNAVAILABLE_TEXT = "The mailbox is only available in development without an SMTP server."
EMPTY_TEXT = "No emails yet. Emails the app sends appear here."
UNREADABLE_HTML = f"<p>{stored_bodies.UNREADABLE_TEXT}</p>"


@dataclasses.dataclass
class MailboxEntry:
    """One email as the page shows it."""

    id: int
    recipient: str
    cc: str
    subject: str
    time: str
    status: str
    html_body: str


def mailbox_available() -> bool:
    """Only in development, and only when mail is not really sent."""
    settings = get_settings()
    return settings.dev_mode and not settings.mail_enabled


def mailbox_entry(message: OutboxMessage) -> MailboxEntry:
    """The page's view of an outbox row."""
    return MailboxEntry(
        id=message.id or 0,
        recipient=message.to_address,
        cc=message.cc.replace(",", ", "),
        subject=message.subject,
        time=format_datetime(message.created_at),
        status=message.status,
        html_body=message.html_body if stored_bodies.is_readable(message) else UNREADABLE_HTML,
    )


class DevMailboxState(AuthState):
    """The newest outbox messages (loaded only when the mailbox is available; no login needed)."""

    available: bool = False
    loaded: bool = False
    loading: bool = False
    messages: list[MailboxEntry] = []

    def _read_messages(self, db: Session) -> None:
        self.messages = [mailbox_entry(message) for message in list_recent_messages(db, limit=MAILBOX_SIZE)]
        self.loaded = True

    @rx.event
    async def load(self) -> Updates:
        """on_load and Refresh: read the newest messages, checking availability on the server."""
        self.available = mailbox_available()
        if not self.available:
            self.messages = []
            self.loaded = True
            return
        self.loading = True
        try:
            async for update in self._load_public(self._read_messages):
                yield update
        finally:
            self.loading = False


def _status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(
            status,
            ("sent", "green"),
            ("failed", "red"),
            ("sending", "blue"),
            "gray",
        ),
        variant="soft",
    )


def _message_card(entry: MailboxEntry) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(entry.subject, as_="h2", size="4", weight="medium"),
                rx.spacer(),
                _status_badge(entry.status),
                align="center",
                width="100%",
            ),
            rx.data_list.root(
                rx.data_list.item(
                    rx.data_list.label("To"),
                    rx.data_list.value(entry.recipient),
                ),
                rx.cond(
                    entry.cc != "",
                    rx.data_list.item(
                        rx.data_list.label("Cc"),
                        rx.data_list.value(entry.cc),
                    ),
                ),
                rx.data_list.item(
                    rx.data_list.label("Time"),
                    rx.data_list.value(entry.time),
                ),
                size="2",
            ),
            rx.separator(size="4"),
            rx.box(
                rx.html(entry.html_body),
                width="100%",
                overflow_x="auto",
                border_radius="var(--radius-3)",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _mailbox() -> rx.Component:
    return rx.cond(
        DevMailboxState.messages.length() > 0,  # type: ignore[attr-defined]
        rx.vstack(
            rx.foreach(DevMailboxState.messages, _message_card),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            DevMailboxState.loaded,
            rx.callout(EMPTY_TEXT, icon="inbox", color_scheme="gray", role="status"),
            rx.hstack(rx.spinner(), rx.text("Loading emails…"), align="center", role="status"),
        ),
    )


def dev_mailbox_page() -> rx.Component:
    """The development mailbox page (self-contained, no sign-in)."""
    return rx.container(
        rx.vstack(
            rx.hstack(
                rx.vstack(
                    rx.heading("Dev mailbox", as_="h1", size="7"),
                    rx.text(
                        f"The newest {MAILBOX_SIZE} emails in the outbox. Links open in this browser.",
                        color_scheme="gray",
                        size="2",
                    ),
                    spacing="1",
                ),
                rx.spacer(),
                rx.cond(
                    DevMailboxState.available,
                    rx.button(
                        rx.icon("refresh-cw", size=16),
                        "Refresh",
                        on_click=DevMailboxState.load,
                        loading=DevMailboxState.loading,
                        variant="soft",
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.cond(
                DevMailboxState.available,
                _mailbox(),
                rx.cond(
                    DevMailboxState.loaded,
                    rx.callout(UNAVAILABLE_TEXT, icon="info", color_scheme="amber", role="status"),
                    rx.spinner(),
                ),
            ),
            spacing="5",
            width="100%",
            padding_y="var(--space-6)",
        ),
        size="3",
    )
