"""/dashboard: the environment at a glance."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.models import User
from econnect_app.services import dashboard
from econnect_app.state.auth import AuthState


@dataclasses.dataclass
class FeedItem:
    """One activity line as the browser shows it."""

    summary: str
    when: str


class DashboardState(AuthState):
    """Counts and the recent-activity feed."""

    own_organisations: int = 0
    active_organisations: int = 0
    active_users: int = 0
    feed: list[FeedItem] = []
    loaded: bool = False

    @rx.event
    def load(self) -> Any:
        """Read the figures from the database."""

        def action(db: Session, actor: User) -> None:
            summary = dashboard.dashboard_summary(db, actor=actor)
            self.own_organisations = summary.own_organisations
            self.active_organisations = summary.active_organisations
            self.active_users = summary.active_users
            self.feed = [
                FeedItem(summary=item.summary, when=item.created_at.strftime("%d %b %Y %H:%M UTC"))
                for item in summary.recent_activity
            ]
            self.loaded = True

        return self._run(action)


def _stat(label: str, value: rx.Var, icon: str, stat_id: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(icon, size=28, color=rx.color("accent", 9)),
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray"),
                rx.heading(value, size="7", id=stat_id),
                spacing="0",
            ),
            spacing="4",
            align="center",
        ),
        role="group",
        aria_label=label,
    )


def dashboard_page() -> rx.Component:
    """The dashboard."""
    return app_layout(
        "Dashboard",
        rx.grid(
            _stat("Organisations", DashboardState.own_organisations, "building-2", "stat-organisations"),
            _stat("Activated organisations", DashboardState.active_organisations, "badge-check", "stat-activated"),
            _stat("Active users", DashboardState.active_users, "users", "stat-users"),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        section_card(
            "Recent activity",
            rx.cond(
                ~DashboardState.loaded,
                rx.center(rx.spinner(), padding="16px", aria_label="Loading activity"),
                rx.cond(
                    DashboardState.feed.length() == 0,
                    empty_state(
                        "activity",
                        "Nothing has happened yet",
                        "Add your organisations to get started.",
                        rx.link(rx.button("Go to organisations", variant="soft"), href=routes.ORGANISATIONS),
                    ),
                    rx.el.ul(
                        rx.foreach(
                            DashboardState.feed,
                            lambda item: rx.el.li(
                                rx.hstack(
                                    rx.text(item.summary, size="2"),
                                    rx.spacer(),
                                    rx.text(item.when, size="1", color_scheme="gray", white_space="nowrap"),
                                    width="100%",
                                    padding_y="8px",
                                    border_bottom=f"1px solid {rx.color('gray', 4)}",
                                ),
                                list_style="none",
                            ),
                        ),
                        id="activity-feed",
                        padding="0",
                        margin="0",
                        width="100%",
                    ),
                ),
            ),
        ),
    )
