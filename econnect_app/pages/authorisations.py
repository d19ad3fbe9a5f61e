"""/authorisations: requests sent to clients (paged on the server, sortable, filtered by status and
searched, the view in the URL; Resend, Withdraw, and both in bulk on selected rows or on every row
matching the filter) and requests received from accountants."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_dialog
from econnect_app.components.forms import filter_select, is_busy_with
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell, list_search, pager, sortable_header
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t, t_choice
from econnect_app.db import db_session
from econnect_app.formatting import format_date, format_datetime
from econnect_app.models import AuthorisationStatus, User
from econnect_app.services import authorisations, caller, sessions
from econnect_app.services.errors import DomainError, PermissionDenied, ValidationFailed
from econnect_app.services.paging import Page
from econnect_app.state.auth import AuthState, Updates, row_activity
from econnect_app.state.list_view import ListView
from econnect_app.state.off_loop import ProgressCallback, ThreadWithProgress

ALL_STATUSES = i18n.N_("All statuses")
STATUS_OPTIONS = [ALL_STATUSES] + [status.value for status in AuthorisationStatus]
RESEND = "resend"
WITHDRAW = "withdraw"
DECLINE = "decline"
BULK = "bulk"
STATUS_PARAMETER = "status"
BULK_RUNNING_MESSAGE = i18n.N_("A bulk action is still running on this page.")
# The statuses' names as a person reads them (the values stay English: the server compares them).
STATUS_NAMES = (
    i18n.N_("Pending"),
    i18n.N_("Accepted"),
    i18n.N_("Declined"),
    i18n.N_("Withdrawn"),
    i18n.N_("Expired"),
)
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


@dataclasses.dataclass
class BulkOutcomeView:
    """What a bulk action did with one request."""

    client: str
    done: bool
    message: str


@dataclasses.dataclass(frozen=True)
class _BulkOrder:
    """A bulk action as clicked: the action, the rows (or every row matching the filter), who asks."""

    action: str  # RESEND or WITHDRAW
    request_ids: tuple[int, ...]
    all_matching: bool
    status: str | None
    search: str
    session_cookie: str
    client_address: str
    language: str  # the tab's: the outcomes' messages are in it


def _run_bulk(order: _BulkOrder, on_progress: ProgressCallback) -> list[authorisations.BulkOutcome] | None:
    """The bulk action for the user of a browser session (in a worker thread); None when that
    session is no longer valid. "All matching" is the filter read again now, on the server."""
    with caller.calling_from(order.client_address), db_session() as db, i18n.in_language(order.language):
        actor = sessions.authenticate(db, token=order.session_cookie or None)
        if actor is None:
            return None
        request_ids = list(order.request_ids)
        if order.all_matching:
            request_ids = authorisations.matching_request_ids(
                db, actor=actor, status=order.status, search=order.search
            )
        act = authorisations.resend_each if order.action == RESEND else authorisations.withdraw_each
        return act(db, actor=actor, request_ids=request_ids, on_progress=on_progress)


def _bulk_summary(action: str, outcomes: list[authorisations.BulkOutcome]) -> str:
    """What a bulk action did, in the language in effect: "2 of 3 requests withdrawn; 1 not (see why below)."."""
    done = sum(1 for outcome in outcomes if outcome.done)
    not_done = len(outcomes) - done
    total = len(outcomes)
    if action == RESEND and not_done:
        return i18n.ngettext(
            "{done} of {count} request sent again; {not_done} not (see why below).",
            "{done} of {count} requests sent again; {not_done} not (see why below).",
            total,
            done=done,
            not_done=not_done,
        )
    if action == RESEND:
        return i18n.ngettext(
            "{done} of {count} request sent again.",
            "{done} of {count} requests sent again.",
            total,
            done=done,
        )
    if not_done:
        return i18n.ngettext(
            "{done} of {count} request withdrawn; {not_done} not (see why below).",
            "{done} of {count} requests withdrawn; {not_done} not (see why below).",
            total,
            done=done,
            not_done=not_done,
        )
    return i18n.ngettext(
        "{done} of {count} request withdrawn.", "{done} of {count} requests withdrawn.", total, done=done
    )


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
        return i18n.gettext("Replaced by the request sent on {date}", date=format_date(row.replaced_on))
    if row.paused:
        return i18n.gettext("Paused: clients cannot answer while your plan has no partnerships")
    return ""


class AuthorisationsState(ListView, AuthState):
    """The list of sent requests (one page of it) and received ones."""

    requests: list[RequestView] = []
    incoming: list[IncomingView] = []
    status_filter: str = ALL_STATUSES
    loaded: bool = False
    decline_reason: str = ""
    cannot_send: str = ""
    # The bulk selection: these rows, or (``all_matching``) every row the filter matches.
    selected: list[int] = []
    all_matching: bool = False
    bulk_running: bool = False
    bulk_done: int = 0
    bulk_total: int = 0
    bulk_summary: str = ""
    bulk_outcomes: list[BulkOutcomeView] = []

    def _status(self) -> str | None:
        return None if self.status_filter == ALL_STATUSES else self.status_filter

    def _url_filters(self) -> dict[str, str]:
        return {STATUS_PARAMETER: self._status() or ""}

    def _read_url_filters(self, params: Any) -> None:
        status = params.get(STATUS_PARAMETER, "")
        self.status_filter = status if status in STATUS_OPTIONS else ALL_STATUSES

    def _refresh(self, db: Session, actor: User) -> None:
        self.cannot_send = authorisations.why_cannot_send(db, actor=actor) or ""
        try:  # the history stays visible whatever the plan; plain users have no sent requests
            page = authorisations.requests_page(
                db, actor=actor, query=self._list_query(), status=self._status()
            )
        except PermissionDenied:
            page = Page(rows=[], total=0, query=self._list_query())
        self._show_page(page)
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
            for row in page.rows
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

    @rx.var
    def selected_count(self) -> int:
        """How many requests the bulk actions would take."""
        return self.total if self.all_matching else len(self.selected)

    @rx.var
    def page_selected(self) -> bool:
        """Whether every row of the page shown is selected."""
        return bool(self.requests) and (
            self.all_matching or all(row.id in self.selected for row in self.requests)
        )

    @rx.event
    def load(self) -> Updates:
        """Load both lists (the view from the URL) and follow the environment's changes live."""
        self._read_list_url()
        return self._load_live()

    @rx.event
    def reload(self) -> Updates:
        """Read the page shown again."""
        return self._load(self._refresh)

    @rx.event
    async def set_status_filter(self, value: str) -> Any:
        """Show only requests with this status."""
        self.status_filter = value if value in STATUS_OPTIONS else ALL_STATUSES
        self.all_matching = False
        async for update in self._filter_changed():
            yield update

    # --- the bulk selection and actions ---------------------------------------------------------

    @rx.event
    def toggle_selected(self, request_id: int, checked: bool) -> None:
        """Select one row, or leave it out."""
        if self.all_matching:  # leaving one out of "all matching": the rest of this page stays
            self.all_matching = False
            self.selected = [row.id for row in self.requests]
        rest = [selected for selected in self.selected if selected != request_id]
        self.selected = [*rest, request_id] if checked else rest

    @rx.event
    def toggle_page(self, checked: bool) -> None:
        """Select every row of the page shown, or none."""
        page_ids = [row.id for row in self.requests]
        rest = [selected for selected in self.selected if selected not in page_ids]
        self.all_matching = False
        self.selected = [*rest, *page_ids] if checked else rest

    @rx.event
    def select_all_matching(self) -> None:
        """Select every request the filter matches, on every page."""
        self.all_matching = True

    @rx.event
    def clear_selection(self) -> None:
        """Select nothing."""
        self.all_matching = False
        self.selected = []

    @rx.event
    def dismiss_bulk_summary(self) -> None:
        """Hide what the last bulk action did."""
        self.bulk_summary = ""
        self.bulk_outcomes = []

    @rx.event(background=True)
    async def bulk_resend(self, action_id: str | None = None) -> Updates:
        """Resend every selected request that may be resent, showing the progress and then what
        happened to each."""
        async for update in self._bulk(RESEND, action_id):
            yield update

    @rx.event(background=True)
    async def bulk_withdraw(self, action_id: str | None = None) -> Updates:
        """Withdraw every selected request that is still pending, then say what happened to each."""
        async for update in self._bulk(WITHDRAW, action_id):
            yield update

    async def _bulk(self, action: str, action_id: str | None) -> Updates:
        """Run a bulk action in a worker thread (the page shows its progress), then show its summary."""
        async with self:
            order = self._start_bulk(action, action_id)
        if not isinstance(order, _BulkOrder):
            yield order  # a refusal to start (or None: a double click)
            return
        outcomes: list[authorisations.BulkOutcome] | None = None
        refusal: Any = None
        try:
            work = ThreadWithProgress(lambda on_progress: _run_bulk(order, on_progress))
            async for done, total in work.progress():
                async with self:
                    self.bulk_done, self.bulk_total = done, total
            outcomes = await work.result()
        except ValidationFailed as error:
            refusal = rx.toast.error(next(iter(error.errors.values()), error.message))
        except DomainError as error:
            refusal = rx.toast.error(error.message)
        finally:
            async with self:
                self.bulk_running = False
        if refusal is not None:
            yield refusal
            return
        async with self:
            if outcomes is None:
                finished: Any = self._login_redirect()
            else:
                with i18n.in_language(self.language):
                    self.bulk_summary = _bulk_summary(action, outcomes)
                self.bulk_outcomes = [
                    BulkOutcomeView(client=outcome.client, done=outcome.done, message=outcome.message)
                    for outcome in outcomes
                ]
                self.selected, self.all_matching = [], False
                finished = [rx.toast.success(self.bulk_summary), AuthorisationsState.reload]
        yield finished

    def _start_bulk(self, action: str, action_id: str | None) -> _BulkOrder | Any:
        """The order for a bulk action, marked as running; else what to say (None: a double click)."""
        if self.bulk_running:
            return rx.toast.error(i18n.translate(self.language, BULK_RUNNING_MESSAGE))
        if not self._accept_once(f"{BULK}-{action}", action_id):
            return None
        self.bulk_running = True
        self.bulk_done, self.bulk_total = 0, self.selected_count
        self.bulk_summary, self.bulk_outcomes = "", []
        return _BulkOrder(
            action=action,
            request_ids=tuple(self.selected),
            all_matching=self.all_matching,
            status=self._status(),
            search=self.search,
            session_cookie=self.session_cookie,
            client_address=self.router.session.client_ip,
            language=self.language,
        )

    @rx.event
    def resend(self, request_id: int, action_id: str | None = None) -> Updates:
        """Send a fresh link; the old one stops working."""

        def action(db: Session, actor: User) -> Any:
            request = authorisations.resend_request(db, actor=actor, request_id=request_id)
            self._refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "A new link was sent to {email}. The old link no longer works.",
                    email=request.client_email,
                )
            )

        return self._act(action, busy_with=row_activity(RESEND, request_id), action_id=action_id)

    @rx.event
    def withdraw(self, request_id: int, action_id: str | None = None) -> Updates:
        """Withdraw a pending request; its link stops working."""

        def action(db: Session, actor: User) -> Any:
            request = authorisations.withdraw_request(db, actor=actor, request_id=request_id)
            self._refresh(db, actor)
            return rx.toast.success(
                i18n.gettext("The request to {email} was withdrawn.", email=request.client_email)
            )

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
            return rx.toast.success(i18n.gettext("The request was declined. The accountant has been told."))

        return self._act(action, busy_with=row_activity(DECLINE, request_id), action_id=action_id)


def _request_row(row: rx.Var[RequestView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.checkbox(
                checked=AuthorisationsState.all_matching | AuthorisationsState.selected.contains(row.id),
                on_change=lambda checked: AuthorisationsState.toggle_selected(row.id, checked),
                aria_label=t("Select request to {email}", email=row.client_email),
            )
        ),
        card_cell(
            t("Client"),
            rx.vstack(
                rx.text(row.client_name, weight="medium"),
                rx.text(row.client_email, size="1", color_scheme="gray"),
                spacing="0",
            ),
            header=True,
        ),
        card_cell(
            t("Organisation"),
            rx.vstack(
                rx.text(row.organisation_name),
                rx.text(row.software_name, size="1", color_scheme="gray"),
                spacing="0",
            ),
        ),
        card_cell(
            t("Status"),
            rx.vstack(
                rx.badge(t_choice(row.status, STATUS_NAMES), color_scheme=row.colour),
                rx.cond(row.note != "", rx.text(row.note, size="1", color_scheme="gray")),
                spacing="1",
            ),
        ),
        card_cell(t("Sent"), rx.text(row.sent, size="2")),
        card_cell(t("Sent by"), rx.text(row.sent_by, size="2")),
        card_cell(t("Last sent"), rx.text(row.last_sent, size="2")),
        card_cell(t("Expires"), rx.text(row.expires, size="2")),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    row.can_resend,
                    rx.button(
                        t("Resend"),
                        size="1",
                        variant="soft",
                        on_click=AuthorisationsState.resend(row.id, AuthState.action_id),
                        loading=is_busy_with(row_activity(RESEND, row.id)),
                        aria_label=t("Resend to {email}", email=row.client_email),
                    ),
                ),
                rx.cond(
                    row.can_withdraw,
                    confirm_dialog(
                        rx.button(
                            t("Withdraw"),
                            size="1",
                            variant="soft",
                            color_scheme="red",
                            loading=is_busy_with(row_activity(WITHDRAW, row.id)),
                            aria_label=t("Withdraw request to {email}", email=row.client_email),
                        ),
                        title=t("Withdraw this request?"),
                        description=t(
                            "The link in the client's email stops working. The request stays in this "
                            "list as Withdrawn."
                        ),
                        confirm_label=t("Withdraw"),
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
            t("Status"),
            "status-filter",
            STATUS_OPTIONS,
            AuthorisationsState.status_filter,
            AuthorisationsState.set_status_filter,
        ),
        list_search(
            AuthorisationsState, element_id="request-search", placeholder=t("Client, email or organisation")
        ),
        rx.spacer(),
        rx.link(
            rx.button(rx.icon("plus"), t("New authorisation request"), size="3"),
            href=routes.NEW_AUTHORISATION,
        ),
        align="end",
        spacing="4",
        width="100%",
        flex_wrap="wrap",
    )


def _sent_requests() -> rx.Component:
    return section_card(
        t("Sent requests"),
        rx.cond(
            AuthorisationsState.cannot_send != "",
            rx.callout(
                AuthorisationsState.cannot_send, icon="info", color_scheme="amber", size="1", width="100%"
            ),
        ),
        _filters(),
        rx.cond(
            ~AuthorisationsState.loaded,
            rx.center(rx.spinner(), padding="24px", aria_label=t("Loading requests")),
            rx.cond(
                (AuthorisationsState.total == 0)
                & (AuthorisationsState.search == "")
                & (AuthorisationsState.status_filter == ALL_STATUSES),
                empty_state(
                    "send",
                    t("No requests here"),
                    t(
                        "Send an authorisation request to a client; when they accept, the partnership appears "
                        "on your dashboard."
                    ),
                    rx.link(
                        rx.button(t("New authorisation request"), variant="soft"),
                        href=routes.NEW_AUTHORISATION,
                    ),
                ),
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell(
                                    rx.checkbox(
                                        checked=AuthorisationsState.page_selected,
                                        on_change=AuthorisationsState.toggle_page,
                                        aria_label=t("Select all requests on this page"),
                                    ),
                                    width="36px",
                                ),
                                sortable_header(AuthorisationsState, t("Client"), "client"),
                                sortable_header(AuthorisationsState, t("Organisation"), "organisation"),
                                sortable_header(AuthorisationsState, t("Status"), "status"),
                                sortable_header(AuthorisationsState, t("Sent"), "sent"),
                                sortable_header(AuthorisationsState, t("Sent by"), "sent_by"),
                                sortable_header(AuthorisationsState, t("Last sent"), "last_sent"),
                                sortable_header(AuthorisationsState, t("Expires"), "expires"),
                                rx.table.column_header_cell(t("Actions")),
                            )
                        ),
                        rx.table.body(rx.foreach(AuthorisationsState.requests, _request_row)),
                        variant="surface",
                        width="100%",
                    ),
                    rx.cond(
                        AuthorisationsState.total == 0,
                        rx.text(
                            t("No requests match this filter."), size="2", color_scheme="gray", padding="16px"
                        ),
                    ),
                    overflow_x="auto",
                    width="100%",
                    id="sent-requests",
                    class_name=LIST_CARDS,
                ),
            ),
        ),
        _bulk_bar(),
        _bulk_progress(),
        _bulk_result(),
        pager(AuthorisationsState, noun=t("requests"), element_id="requests-page-size"),
    )


def _bulk_bar() -> rx.Component:
    """What is selected, the way to select every matching row, and the bulk Resend and Withdraw."""
    state = AuthorisationsState
    count = state.selected_count.to_string()
    return rx.cond(
        state.selected_count > 0,
        rx.hstack(
            rx.text(
                rx.cond(
                    state.all_matching,
                    t("All {count} requests matching the filter are selected.", count=count),
                    t("{count} selected.", count=count),
                ),
                size="2",
                weight="medium",
            ),
            rx.cond(
                state.page_selected & ~state.all_matching & (state.total > state.requests.length()),
                rx.button(
                    t("Select all {count} matching requests", count=state.total.to_string()),
                    variant="ghost",
                    size="2",
                    on_click=state.select_all_matching,
                ),
            ),
            rx.button(
                t("Clear selection"),
                variant="ghost",
                color_scheme="gray",
                size="2",
                on_click=state.clear_selection,
            ),
            rx.spacer(),
            rx.button(
                t("Resend"),
                size="2",
                on_click=state.bulk_resend(AuthState.action_id),
                loading=state.bulk_running,
            ),
            confirm_dialog(
                rx.button(
                    t("Withdraw"), size="2", color_scheme="red", variant="soft", loading=state.bulk_running
                ),
                title=t("Withdraw {count} requests?", count=count),
                description=t(
                    "Each pending request is withdrawn and its link stops working; requests that are no "
                    "longer pending are left as they are. The summary says what happened to each."
                ),
                confirm_label=t("Withdraw"),
                on_confirm=state.bulk_withdraw(AuthState.action_id),
            ),
            align="center",
            spacing="3",
            width="100%",
            flex_wrap="wrap",
            padding="8px 12px",
            border_radius="var(--radius-3)",
            background="var(--accent-3)",
            role="toolbar",
            aria_label=t("Selected requests"),
        ),
    )


def _bulk_progress() -> rx.Component:
    state = AuthorisationsState
    text = t(
        "Working… {done} of {total} requests done",
        done=state.bulk_done.to_string(),
        total=state.bulk_total.to_string(),
    )
    return rx.cond(
        state.bulk_running,
        rx.vstack(
            rx.progress(
                value=rx.cond(state.bulk_total > 0, state.bulk_done * 100 / state.bulk_total, 0),
                aria_label=t("Bulk action progress"),
                aria_valuetext=text,
            ),
            rx.text(text, size="2", role="status"),
            width="100%",
            spacing="1",
        ),
    )


def _bulk_outcome_row(outcome: rx.Var[BulkOutcomeView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(outcome.client),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    outcome.done,
                    rx.icon("circle-check", size=16, color="var(--green-11)"),
                    rx.icon("circle-minus", size=16, color="var(--gray-11)"),
                ),
                rx.text(outcome.message, size="2"),
                spacing="2",
                align="center",
            )
        ),
    )


def _bulk_result() -> rx.Component:
    """What the last bulk action did with each request."""
    state = AuthorisationsState
    return rx.cond(
        state.bulk_summary != "",
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.text(state.bulk_summary, weight="medium", size="2"),
                    rx.spacer(),
                    rx.button(
                        t("Dismiss"),
                        variant="ghost",
                        color_scheme="gray",
                        size="1",
                        on_click=state.dismiss_bulk_summary,
                    ),
                    width="100%",
                    align="center",
                ),
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell(t("Client")),
                                rx.table.column_header_cell(t("Outcome")),
                            )
                        ),
                        rx.table.body(rx.foreach(state.bulk_outcomes, _bulk_outcome_row)),
                        size="1",
                        width="100%",
                    ),
                    max_height="320px",
                    overflow_y="auto",
                    width="100%",
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
            role="region",
            aria_label=t("What the bulk action did"),
        ),
    )


def _incoming_card(row: rx.Var[IncomingView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(row.firm_name, weight="bold"),
            rx.text(
                t(
                    "{requester} asks for access to {organisation} ({software}).",
                    requester=row.requester_name,
                    organisation=row.organisation_name,
                    software=row.software_name,
                ),
                size="2",
            ),
            rx.text(t("The link expires on {date}.", date=row.expires), size="1", color_scheme="gray"),
            rx.hstack(
                rx.button(
                    t("Accept"),
                    on_click=AuthorisationsState.accept_incoming(row.request_id),
                    aria_label=t("Accept request from {firm}", firm=row.firm_name),
                ),
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button(
                            t("Decline"),
                            variant="soft",
                            color_scheme="red",
                            loading=is_busy_with(row_activity(DECLINE, row.request_id)),
                            aria_label=t("Decline request from {firm}", firm=row.firm_name),
                        )
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title(t("Decline this request?")),
                        rx.alert_dialog.description(
                            t("{firm} will be told that you declined.", firm=row.firm_name)
                        ),
                        rx.el.label(
                            rx.text(t("Reason (optional)"), size="2"), html_for="decline-reason-list"
                        ),
                        rx.text_area(
                            id="decline-reason-list",
                            value=AuthorisationsState.decline_reason,
                            on_change=AuthorisationsState.set_decline_reason,
                            max_length=500,
                        ),
                        rx.hstack(
                            rx.alert_dialog.cancel(
                                rx.button(t("Cancel"), variant="soft", color_scheme="gray")
                            ),
                            rx.alert_dialog.action(
                                rx.button(
                                    t("Decline"),
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
        aria_label=t("Request from {firm}", firm=row.firm_name),
    )


def authorisations_page() -> rx.Component:
    """The page."""
    return app_layout(
        t("Authorisations"),
        rx.cond(
            AuthorisationsState.incoming.length() > 0,
            section_card(
                t("Requests for you"),
                rx.grid(
                    rx.foreach(AuthorisationsState.incoming, _incoming_card),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                    width="100%",
                ),
                description=t("Accountants who ask for access to one of your organisations."),
            ),
        ),
        rx.cond(
            AuthState.client_only & (AuthorisationsState.requests.length() == 0),
            rx.text(
                t_rich(
                    i18n.N_(
                        "You have not sent authorisation requests yourself. Accountants send them to link "
                        "their clients: {link}."
                    ),
                    link=rx.link(t("New authorisation request"), href=routes.NEW_AUTHORISATION),
                ),
                size="2",
                color_scheme="gray",
            ),
            _sent_requests(),
        ),
    )
