"""/dashboard: the environment at a glance."""

from __future__ import annotations

import dataclasses

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.translated import Text, t
from econnect_app.formatting import format_datetime
from econnect_app.models import User
from econnect_app.pages.partners import who_has_access_section
from econnect_app.services import dashboard
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.live_tabs import shared_read


@dataclasses.dataclass
class FeedItem:
    """One activity line as the browser shows it."""

    summary: str
    when: str


class DashboardState(AuthState):
    """Counts and the recent-activity feed; refreshed live from the server (state/live.py)."""

    pending_requests: int = 0
    active_partnerships: int = 0
    client_organisations: int = 0
    own_organisations: int = 0
    active_organisations: int = 0
    active_users: int = 0
    feed: list[FeedItem] = []
    loaded: bool = False

    def _live_refresh(self, db: Session, user: User) -> None:
        """Re-read the figures for ``user`` (on load, and when the environment changes)."""
        # In a live push, the tabs of the environment share the reads (see live_tabs.shared_read).
        summary = dashboard.dashboard_summary(db, actor=user, shared=shared_read)
        self.pending_requests = summary.pending_requests
        self.active_partnerships = summary.active_partnerships
        self.client_organisations = summary.client_organisations
        self.own_organisations = summary.own_organisations
        self.active_organisations = summary.active_organisations
        self.active_users = summary.active_users
        self.feed = [
            FeedItem(summary=item.summary, when=format_datetime(item.created_at))
            for item in summary.recent_activity
        ]
        self.loaded = True

    @rx.event
    def load(self) -> Updates:
        """Read the figures from the database and follow the environment's changes live."""

        return self._load_live()


def _stat(label: Text, value: rx.Var, icon: str, stat_id: str, *, size: str = "7") -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(icon, size=28 if size == "7" else 22, color=rx.color("accent", 9)),
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray"),
                rx.text(value, size=size, weight="bold", id=stat_id, as_="p"),  # a figure, not a heading
                spacing="0",
            ),
            spacing="4",
            align="center",
        ),
        role="group",
        aria_label=label,
    )


def _stat_grid(*stats: rx.Component) -> rx.Component:
    return rx.grid(*stats, columns=rx.breakpoints(initial="1", sm="3"), spacing="4", width="100%")


def _activity_feed() -> rx.Component:
    return section_card(
        t("Recent activity"),
        rx.cond(
            ~DashboardState.loaded,
            rx.center(rx.spinner(), padding="16px", aria_label=t("Loading activity")),
            rx.cond(
                DashboardState.feed.length() == 0,
                empty_state(
                    "activity",
                    t("Nothing has happened yet"),
                    t("Add your organisations to get started."),
                    rx.link(rx.button(t("Go to organisations"), variant="soft"), href=routes.ORGANISATIONS),
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
        rx.link(t("View all activity"), href=routes.ACTIVITY, size="2"),
        description=t("Newest first; updates by itself."),
    )


def _accountant_figures() -> rx.Component:
    return _stat_grid(
        _stat(t("Pending requests"), DashboardState.pending_requests, "hourglass", "stat-pending-requests"),
        _stat(
            t("Active partnerships"),
            DashboardState.active_partnerships,
            "handshake",
            "stat-active-partnerships",
        ),
        _stat(
            t("Client organisations"),
            DashboardState.client_organisations,
            "briefcase",
            "stat-client-organisations",
        ),
    )


def _client_figures() -> rx.Component:
    """A client's environment (it never sent a request): its partners, not accountant figures."""
    return rx.vstack(
        _stat_grid(
            _stat(
                t("Active partnerships"),
                DashboardState.active_partnerships,
                "handshake",
                "stat-active-partnerships",
            ),
        ),
        rx.text(
            t(
                "Accountants you accepted appear under Who has access. Sending authorisation requests to your own "
                "clients? Use "
            ),
            rx.link(t("Authorisations"), href=routes.AUTHORISATIONS),
            ".",
            size="2",
            color_scheme="gray",
        ),
        spacing="2",
        width="100%",
    )


def dashboard_page() -> rx.Component:
    """The dashboard: client work first (for a client: who has access), then the environment
    itself, then recent activity.

    Every figure updates live (pushed from the server), so the region is polite-live.
    """
    return app_layout(
        "Dashboard",
        rx.box(
            rx.vstack(
                rx.cond(AuthState.client_only, _client_figures(), _accountant_figures()),
                _stat_grid(
                    _stat(
                        t("Organisations"),
                        DashboardState.own_organisations,
                        "building-2",
                        "stat-organisations",
                        size="5",
                    ),
                    _stat(
                        t("Activated organisations"),
                        DashboardState.active_organisations,
                        "badge-check",
                        "stat-activated",
                        size="5",
                    ),
                    _stat(t("Active users"), DashboardState.active_users, "users", "stat-users", size="5"),
                ),
                spacing="4",
                width="100%",
            ),
            aria_live="polite",
            width="100%",
        ),
        who_has_access_section(),
        _activity_feed(),
    )
