"""/authorisations: requests sent to clients (filter, search, Resend, Withdraw) and requests
received from accountants."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.dialogs import confirm_dialog
from econnect_app.components.forms import filter_select, is_busy_with
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.formatting import format_date, format_datetime
from econnect_app.models import AuthorisationStatus, User
from econnect_app.services import authorisations
from econnect_app.services.errors import PermissionDenied
from econnect_app.state.auth import AuthState, Updates, row_activity

ALL_STATUSES = "All statuses"
STATUS_OPTIONS = [ALL_STATUSES] + [status.value for status in AuthorisationStatus]
RESEND = "resend"
WITHDRAW = "withdraw"
DECLINE = "decline"
STATUS_COLOURS = {
    "Pending": "amber",
    "Accepted": "green",
    "Declined": "red",
    "Withdrawn": "gray",
    "Expired": "gray",
}


@dataclasses.dataclass
class RequestView:
    """One sent request as the table shows it."""

    id: int
    client_name: str
    client_email: str
    organisation_name: str
    software_name: str
    status: str
    colour: str
    sent: str
    sent_by: str
    last_sent: str
    expires: str
    note: str
    can_resend: bool
    can_withdraw: bool


@dataclasses.dataclass
class IncomingView:
    """One request received from an accountant."""

    request_id: int
    firm_name: str
    requester_name: str
    organisation_name: str
    software_name: str
    expires: str


def _expires(row: authorisations.RequestRow) -> str:
    """When the link stops (or stopped) working; a dash once the request was answered or closed."""
    if row.status in (AuthorisationStatus.PENDING.value, AuthorisationStatus.EXPIRED.value):
        return format_datetime(row.expires_at)
    return format_datetime(None)


def _note(row: authorisations.RequestRow) -> str:
    """What the status alone does not say: the decline reason, the replacement, a paused link."""
    if row.status == AuthorisationStatus.DECLINED.value:
        return row.decline_reason or ""
    if row.replaced_on is not None:
        return f"Replaced by the request sent on {format_date(row.replaced_on)}"
    if row.paused:
        return "Paused: clients cannot answer while your plan has no partnerships"
    return ""


class AuthorisationsState(AuthState):
    """The list of sent requests and received ones."""

    requests: list[RequestView] = []
    incoming: list[IncomingView] = []
    status_filter: str = ALL_STATUSES
    search: str = ""
    loaded: bool = False
    decline_reason: str = ""
    cannot_send: str = ""

    def _refresh(self, db: Session, actor: User) -> None:
        self.cannot_send = authorisations.why_cannot_send(db, actor=actor) or ""
        status = None if self.status_filter == ALL_STATUSES else self.status_filter
        try:  # the history stays visible whatever the plan; plain users have no sent requests
            rows = authorisations.list_requests(db, actor=actor, status=status, search=self.search)
        except PermissionDenied:
            rows = []
        self.requests = [
            RequestView(
                id=row.id,
                client_name=row.client_name,
                client_email=row.client_email,
                organisation_name=row.organisation_name,
                software_name=row.software_name,
                status=row.status,
                colour=STATUS_COLOURS.get(row.status, "gray"),
                sent=format_datetime(row.created_at),
                sent_by=row.requested_by_name,
                last_sent=format_datetime(row.last_sent_at),
                expires=_expires(row),
                note=_note(row),
                can_resend=row.can_resend,
                can_withdraw=row.can_withdraw,
            )
            for row in rows
        ]
        self.incoming = [
            IncomingView(
                request_id=row.request_id,
                firm_name=row.firm_name,
                requester_name=row.requester_name,
                organisation_name=row.organisation_name,
                software_name=row.software_name,
                expires=format_datetime(row.expires_at),
            )
            for row in authorisations.incoming_requests(db, user=actor)
        ]
        self.loaded = True

    def _live_refresh(self, db: Session, user: User) -> None:
        self._refresh(db, user)

    @rx.event
    def load(self) -> Updates:
        """Load both lists and follow the environment's changes live."""

        return self._load_live()

    @rx.event
    def set_status_filter(self, value: str) -> Updates:
        """Show only requests with this status."""
        self.status_filter = value if value in STATUS_OPTIONS else ALL_STATUSES
        return self._load(self._refresh)

    @rx.event
    def set_search(self, value: str) -> Updates:
        """Search by client name or email, or by organisation name."""
        self.search = value.strip()[:200]
        return self._load(self._refresh)

    @rx.event
    def resend(self, request_id: int, action_id: str | None = None) -> Updates:
        """Send a fresh link; the old one stops working."""

        def action(db: Session, actor: User) -> Any:
            request = authorisations.resend_request(db, actor=actor, request_id=request_id)
            self._refresh(db, actor)
            return rx.toast.success(f"A new link was sent to {request.client_email}. The old link no longer works.")

        return self._act(action, busy_with=row_activity(RESEND, request_id), action_id=action_id)

    @rx.event
    def withdraw(self, request_id: int, action_id: str | None = None) -> Updates:
        """Withdraw a pending request; its link stops working."""

        def action(db: Session, actor: User) -> Any:
            request = authorisations.withdraw_request(db, actor=actor, request_id=request_id)
            self._refresh(db, actor)
            return rx.toast.success(f"The request to {request.client_email} was withdrawn.")

        return self._act(action, busy_with=row_activity(WITHDRAW, request_id), action_id=action_id)

    @rx.event
    def accept_incoming(self, request_id: int) -> Any:
        """Accepting from the list goes to the activation choices (which organisation)."""
        return rx.redirect(f"{routes.AUTHORISATIONS}/incoming/{request_id}")

    @rx.event
    def set_decline_reason(self, value: str) -> None:
        """The optional reason typed in the decline dialog."""
        self.decline_reason = value[:500]

    @rx.event
    def decline_incoming(self, request_id: int, action_id: str | None = None) -> Updates:
        """Decline a received request; the accountant is notified."""

        def action(db: Session, actor: User) -> Any:
            authorisations.decline_request(db, user=actor, request_id=request_id, reason=self.decline_reason)
            self.decline_reason = ""
            self._refresh(db, actor)
            return rx.toast.success("The request was declined. The accountant has been told.")

        return self._act(action, busy_with=row_activity(DECLINE, request_id), action_id=action_id)


def _request_row(row: rx.Var[RequestView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(row.client_name, weight="medium"),
                rx.text(row.client_email, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.text(row.organisation_name),
                rx.text(row.software_name, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.vstack(
                rx.badge(row.status, color_scheme=row.colour),
                rx.cond(row.note != "", rx.text(row.note, size="1", color_scheme="gray")),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(row.sent, size="2")),
        rx.table.cell(rx.text(row.sent_by, size="2")),
        rx.table.cell(rx.text(row.last_sent, size="2")),
        rx.table.cell(rx.text(row.expires, size="2")),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    row.can_resend,
                    rx.button(
                        "Resend",
                        size="1",
                        variant="soft",
                        on_click=AuthorisationsState.resend(row.id, AuthState.action_id),
                        loading=is_busy_with(row_activity(RESEND, row.id)),
                        aria_label="Resend to " + row.client_email,
                    ),
                ),
                rx.cond(
                    row.can_withdraw,
                    confirm_dialog(
                        rx.button(
                            "Withdraw",
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            loading=is_busy_with(row_activity(WITHDRAW, row.id)),
                            aria_label="Withdraw request to " + row.client_email,
                        ),
                        title="Withdraw this request?",
                        description="The link in the client's email stops working. The request stays in this "
                        "list as Withdrawn.",
                        confirm_label="Withdraw",
                        on_confirm=AuthorisationsState.withdraw(row.id, AuthState.action_id),
                    ),
                ),
                spacing="2",
            )
        ),
        align="center",
    )


def _filters() -> rx.Component:
    return rx.hstack(
        filter_select(
            "Status", "status-filter", STATUS_OPTIONS, AuthorisationsState.status_filter, AuthorisationsState.set_status_filter
        ),
        rx.vstack(
            rx.el.label(rx.text("Search", size="2", weight="medium"), html_for="request-search"),
            rx.input(
                id="request-search",
                placeholder="Client, email or organisation",
                value=AuthorisationsState.search,
                on_change=AuthorisationsState.set_search.debounce(300),
                type="search",
                width="100%",
            ),
            spacing="1",
            flex="1",
        ),
        rx.spacer(),
        rx.link(rx.button(rx.icon("plus"), "New authorisation request", size="3"), href=routes.NEW_AUTHORISATION),
        align="end",
        spacing="4",
        width="100%",
        flex_wrap="wrap",
    )


def _sent_requests() -> rx.Component:
    return section_card(
        "Sent requests",
        rx.cond(
            AuthorisationsState.cannot_send != "",
            rx.callout(AuthorisationsState.cannot_send, icon="info", color_scheme="amber", size="1", width="100%"),
        ),
        _filters(),
        rx.cond(
            ~AuthorisationsState.loaded,
            rx.center(rx.spinner(), padding="24px", aria_label="Loading requests"),
            rx.cond(
                AuthorisationsState.requests.length() == 0,
                empty_state(
                    "send",
                    "No requests here",
                    "Send an authorisation request to a client; when they accept, the partnership appears "
                    "on your dashboard.",
                    rx.link(rx.button("New authorisation request", variant="soft"), href=routes.NEW_AUTHORISATION),
                ),
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Client"),
                                rx.table.column_header_cell("Organisation"),
                                rx.table.column_header_cell("Status"),
                                rx.table.column_header_cell("Sent"),
                                rx.table.column_header_cell("Sent by"),
                                rx.table.column_header_cell("Last sent"),
                                rx.table.column_header_cell("Expires"),
                                rx.table.column_header_cell("Actions"),
                            )
                        ),
                        rx.table.body(rx.foreach(AuthorisationsState.requests, _request_row)),
                        variant="surface",
                        width="100%",
                    ),
                    overflow_x="auto",
                    width="100%",
                    id="sent-requests",
                ),
            ),
        ),
    )


def _incoming_card(row: rx.Var[IncomingView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(row.firm_name, weight="bold"),
            rx.text(
                row.requester_name + " asks for access to " + row.organisation_name + " (" + row.software_name + ").",
                size="2",
            ),
            rx.text("The link expires on " + row.expires + ".", size="1", color_scheme="gray"),
            rx.hstack(
                rx.button(
                    "Accept",
                    on_click=AuthorisationsState.accept_incoming(row.request_id),
                    aria_label="Accept request from " + row.firm_name,
                ),
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button(
                            "Decline",
                            variant="soft",
                            color_scheme="red",
                            loading=is_busy_with(row_activity(DECLINE, row.request_id)),
                            aria_label="Decline request from " + row.firm_name,
                        )
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Decline this request?"),
                        rx.alert_dialog.description(row.firm_name + " will be told that you declined."),
                        rx.el.label(rx.text("Reason (optional)", size="2"), html_for="decline-reason-list"),
                        rx.text_area(
                            id="decline-reason-list",
                            value=AuthorisationsState.decline_reason,
                            on_change=AuthorisationsState.set_decline_reason,
                            max_length=500,
                        ),
                        rx.hstack(
                            rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                            rx.alert_dialog.action(
                                rx.button(
                                    "Decline",
                                    color_scheme="red",
                                    on_click=AuthorisationsState.decline_incoming(
                                        row.request_id, AuthState.action_id
                                    ),
                                )
                            ),
                            justify="end",
                            spacing="3",
                            margin_top="16px",
                        ),
                    ),
                ),
                spacing="3",
            ),
            spacing="2",
        ),
        role="region",
        aria_label="Request from " + row.firm_name,
    )


def authorisations_page() -> rx.Component:
    """The page."""
    return app_layout(
        "Authorisations",
        rx.cond(
            AuthorisationsState.incoming.length() > 0,
            section_card(
                "Requests for you",
                rx.grid(
                    rx.foreach(AuthorisationsState.incoming, _incoming_card),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                    width="100%",
                ),
                description="Accountants who ask for access to one of your organisations.",
            ),
        ),
        rx.cond(
            AuthState.client_only & (AuthorisationsState.requests.length() == 0),
            rx.text(
                "You have not sent authorisation requests yourself. Accountants send them to link their clients: ",
                rx.link("New authorisation request", href=routes.NEW_AUTHORISATION),
                ".",
                size="2",
                color_scheme="gray",
            ),
            _sent_requests(),
        ),
    )
