"""The notifications bell in the header: unread count, the latest notifications, "Mark all as read".

Its state (``NotificationsState`` in state/live.py) loads when the bell mounts and is refreshed
live, pushed from the server, whenever the environment changes.
"""

from __future__ import annotations

import reflex as rx

from econnect_app.state.live import NotificationItem, NotificationsState


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
                    rx.heading("Notifications", size="3", as_="h2"),
                    rx.spacer(),
                    rx.button(
                        "Mark all as read",
                        size="1",
                        variant="soft",
                        on_click=NotificationsState.mark_all_read,
                        disabled=NotificationsState.unread_count == 0,
                    ),
                    align="center",
                    width="100%",
                ),
                rx.cond(
                    NotificationsState.notifications.length() == 0,
                    rx.text("No notifications yet.", size="2", color_scheme="gray", padding_y="8px"),
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
            aria_label="Notifications",
        ),
    )
