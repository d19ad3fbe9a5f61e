"""The notifications bell in the header: unread count, the latest notifications, "Mark all as read".

Its state loads when the bell mounts and is refreshed live, pushed from the server, whenever the
environment changes: it is on every signed-in page, so every watched tab refreshes it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.translated import t
from econnect_app.formatting import format_datetime
from econnect_app.models import User
from econnect_app.services import notifications
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.live_tabs import live_sessions

NOTIFICATION_LIST_LIMIT = 20
MARK_ALL_READ = "mark-all-read"


@dataclasses.dataclass
class NotificationItem:
    """One notification as the browser shows it."""

    id: int
    message: str
    link: str
    when: str
    unread: bool


class NotificationsState(AuthState):
    """The bell in the header: unread count and the latest notifications; refreshed live."""

    unread_count: int = 0
    notifications: list[NotificationItem] = []

    @rx.var
    def bell_label(self) -> str:
        """The bell's accessible name (in the tab's language)."""
        return i18n.translate(self.language, "Notifications, {count} unread", count=self.unread_count)

    @rx.var
    def unread_badge(self) -> str:
        """The number on the bell ("9+" above nine)."""
        return "9+" if self.unread_count > 9 else str(self.unread_count)

    def _live_refresh(self, db: Session, user: User) -> None:
        self.unread_count = notifications.count_unread(db, user=user)
        self.notifications = [
            NotificationItem(
                id=item.id or 0,
                message=item.message,
                link=item.link,
                when=format_datetime(item.created_at),
                unread=not read,
            )
            for item, read in notifications.list_notifications(db, user=user, limit=NOTIFICATION_LIST_LIMIT)
        ]

    @rx.event
    def load(self) -> Updates:
        """Read the notifications and follow them live (on_mount of the bell)."""

        def action(db: Session, actor: User) -> None:
            self._live_refresh(db, actor)
            self._follow_live_changes(actor)

        return self._load(action)

    @rx.event
    def mark_all_read(self, action_id: str | None = None) -> Updates:
        """Mark every notification of the user as read."""

        def action(db: Session, actor: User) -> Any:
            notifications.mark_all_read(db, user=actor)
            self._live_refresh(db, actor)

        return self._act(action, busy_with=MARK_ALL_READ, action_id=action_id)


# The bell is on every signed-in page: every tab that follows live changes refreshes it.
live_sessions.watch_everywhere(NotificationsState)


def _notification_row(item: rx.Var[NotificationItem]) -> rx.Component:
    body = rx.vstack(
        rx.text(item.message, size="2", weight=rx.cond(item.unread, "medium", "regular")),
        rx.text(item.when, size="1", color_scheme="gray"),
        spacing="1",
        align="start",
    )
    return rx.el.li(
        rx.hstack(
            rx.box(
                width="8px",
                min_width="8px",
                height="8px",
                margin_top="6px",
                border_radius="50%",
                background=rx.cond(item.unread, rx.color("accent", 9), "transparent"),
                aria_hidden="true",
            ),
            rx.cond(item.link != "", rx.link(body, href=item.link, underline="none", color="inherit"), body),
            spacing="2",
            align="start",
            width="100%",
        ),
        list_style="none",
        padding_y="8px",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
    )


def notification_bell() -> rx.Component:
    """The bell with its unread badge and a popover listing the latest notifications."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.icon_button(
                rx.icon("bell", size=18),
                rx.cond(
                    NotificationsState.unread_count > 0,
                    rx.badge(
                        NotificationsState.unread_badge,
                        color_scheme="red",
                        variant="solid",
                        radius="full",
                        size="1",
                        position="absolute",
                        top="-6px",
                        right="-8px",
                        aria_hidden="true",
                        id="notifications-unread",
                    ),
                ),
                variant="ghost",
                position="relative",
                aria_label=NotificationsState.bell_label,
                id="notifications-bell",
                on_mount=NotificationsState.load,
            ),
        ),
        rx.popover.content(
            rx.vstack(
                rx.hstack(
                    rx.heading(t("Notifications"), size="3", as_="h2"),
                    rx.spacer(),
                    rx.button(
                        t("Mark all as read"),
                        size="1",
                        variant="soft",
                        on_click=NotificationsState.mark_all_read(AuthState.action_id),
                        disabled=NotificationsState.unread_count == 0,
                        loading=AuthState.busy_with == MARK_ALL_READ,
                    ),
                    align="center",
                    width="100%",
                ),
                rx.cond(
                    NotificationsState.notifications.length() == 0,
                    rx.text(t("No notifications yet."), size="2", color_scheme="gray", padding_y="8px"),
                    rx.el.ul(
                        rx.foreach(NotificationsState.notifications, _notification_row),
                        id="notifications-list",
                        padding="0",
                        margin="0",
                        width="100%",
                        max_height="360px",
                        overflow_y="auto",
                    ),
                ),
                spacing="3",
                width="100%",
            ),
            width="360px",
            max_width="90vw",
            aria_label=t("Notifications"),
        ),
    )
