"""/partners/find: Find partners (search by name, KvK number or city) and Send relationship request."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import app_form, field_error, submitting
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.translated import t
from econnect_app.models import User
from econnect_app.services import find_partners, relationship_requests
from econnect_app.services.errors import PermissionDenied
from econnect_app.state.auth import AuthState, Updates

DENIED_MESSAGE = i18n.N_("Only Advanced users and Administrators can look for partners.")
PAGE_SIZE = 20


@dataclasses.dataclass
class ResultRow:
    """One organisation found, with why a request cannot be sent to it (if so)."""

    organisation_id: int
    name: str
    kvk_number: str
    city: str
    environment_name: str
    reason: str


class FindPartnersState(AuthState):
    """The search box, one page of results, and the relationship request dialog."""

    query: str = ""
    rows: list[ResultRow] = []
    page: int = 1
    has_more: bool = False
    hint: str = ""
    searched: bool = False
    denied: bool = False
    dialog_for: int = 0  # the organisation whose request dialog is open

    def _search(self, db: Session, actor: User) -> None:
        try:
            found = find_partners.search_organisations(
                db, actor=actor, query=self.query, page=self.page, page_size=PAGE_SIZE
            )
        except PermissionDenied:
            self.denied, self.rows = True, []
            return
        self.denied = False
        self.rows = [
            ResultRow(
                organisation_id=row.organisation_id,
                name=row.name,
                kvk_number=row.kvk_number,
                city=row.city,
                environment_name=row.environment_name,
                reason=relationship_requests.why_cannot_request(
                    db, actor=actor, organisation_id=row.organisation_id
                )
                or "",
            )
            for row in found.rows
        ]
        self.has_more = found.has_more
        self.hint = found.hint
        self.searched = bool(self.query.strip())

    @rx.event
    def load(self) -> Updates:
        """Start with an empty search (or the previous one, after a reload)."""
        self.dialog_for = 0
        return self._load(self._search)

    @rx.event
    def set_query(self, value: str) -> Updates:
        """Search as the user types (the input is debounced)."""
        self.query = value[:100]
        self.page = 1
        return self._load(self._search)

    @rx.event
    def next_page(self) -> Updates:
        """The next page of results."""
        if self.has_more:
            self.page += 1
        return self._load(self._search)

    @rx.event
    def previous_page(self) -> Updates:
        """The previous page of results."""
        self.page = max(1, self.page - 1)
        return self._load(self._search)

    @rx.event
    def toggle_dialog(self, organisation_id: int, is_open: bool) -> None:
        """Open (or close) the relationship request dialog of one result."""
        self.dialog_for = organisation_id if is_open else 0
        self.field_errors = {}

    @rx.event
    def send_request(self, form: dict[str, Any]) -> Updates:
        """Send the relationship request of the open dialog."""
        organisation_id = self.dialog_for

        def action(db: Session, actor: User) -> Any:
            relationship_requests.send_relationship_request(
                db, actor=actor, organisation_id=organisation_id, message=str(form.get("message") or "")
            )
            name = next(
                (row.environment_name for row in self.rows if row.organisation_id == organisation_id), ""
            )
            self.dialog_for = 0
            self._search(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "Relationship request sent to {name}. You will hear when they answer.", name=name
                )
            )

        return self._act(action, form=form)


def _send_dialog(row: rx.Var[ResultRow]) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(
                rx.icon("send", size=14),
                t("Send relationship request"),
                size="2",
                aria_label=t("Send relationship request to {name}", name=row.environment_name),
            )
        ),
        rx.dialog.content(
            rx.dialog.title(t("Send a relationship request to {name}", name=row.environment_name)),
            rx.dialog.description(
                t(
                    "They found as {name}. Their Administrators and relationship managers get an email to accept "
                    "or decline; a partnership lets both sides give each other access to organisations.",
                    name=row.name,
                ),
                size="2",
            ),
            app_form(
                rx.vstack(
                    rx.el.label(
                        rx.text(t("Message (optional)"), size="2", weight="medium"),
                        html_for="relationship-message",
                    ),
                    rx.text_area(id="relationship-message", name="message", max_length=1000, width="100%"),
                    field_error(FindPartnersState.field_errors, "message"),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(t("Cancel"), type="button", variant="soft", color_scheme="gray")
                        ),
                        rx.button(
                            t("Send relationship request"),
                            type="submit",
                            loading=submitting(FindPartnersState.send_request),
                        ),
                        justify="end",
                        spacing="3",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=FindPartnersState.send_request,
            ),
            max_width="480px",
        ),
        open=FindPartnersState.dialog_for == row.organisation_id,
        on_open_change=lambda is_open: FindPartnersState.toggle_dialog(row.organisation_id, is_open),
    )


def _result(row: rx.Var[ResultRow]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(row.name, weight="medium"),
                rx.text(row.environment_name, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(row.kvk_number),
        rx.table.cell(rx.cond(row.city != "", row.city, "—")),
        rx.table.cell(
            rx.cond(
                row.reason == "",
                _send_dialog(row),
                rx.vstack(
                    rx.button(
                        t("Send relationship request"),
                        size="2",
                        disabled=True,
                        aria_label=t("Send relationship request to {name}", name=row.environment_name),
                        aria_describedby="reason-" + row.organisation_id.to_string(),
                    ),
                    rx.text(
                        row.reason,
                        id="reason-" + row.organisation_id.to_string(),
                        size="1",
                        color_scheme="gray",
                    ),
                    spacing="1",
                    max_width="320px",
                ),
            )
        ),
        align="center",
    )


def _results() -> rx.Component:
    table = rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(t("Organisation")),
                    rx.table.column_header_cell(t("KvK number")),
                    rx.table.column_header_cell(t("City")),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(FindPartnersState.rows, _result)),
            variant="surface",
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
        id="search-results",
    )
    pager = rx.hstack(
        rx.button(
            t("Previous"),
            variant="soft",
            disabled=FindPartnersState.page <= 1,
            on_click=FindPartnersState.previous_page,
        ),
        rx.text(t("Page {page}", page=FindPartnersState.page), size="2", color_scheme="gray"),
        rx.button(
            t("Next"),
            variant="soft",
            disabled=~FindPartnersState.has_more,
            on_click=FindPartnersState.next_page,
        ),
        align="center",
        spacing="3",
    )
    return rx.cond(
        FindPartnersState.rows.length() > 0,
        rx.vstack(table, pager, spacing="3", width="100%"),
        rx.cond(
            FindPartnersState.hint != "",
            rx.text(FindPartnersState.hint, size="2", color_scheme="gray", role="status"),
            rx.cond(
                FindPartnersState.searched,
                empty_state(
                    "search-x",
                    t("No organisations found"),
                    t(
                        "Try the start of the name, a word of it, the 8-digit KvK number or the city. "
                        "Organisations that are not activated, or chose not to be findable, are not listed."
                    ),
                ),
            ),
        ),
    )


def find_partners_page() -> rx.Component:
    """/partners/find."""
    return app_layout(
        t("Find partners"),
        rx.cond(
            FindPartnersState.denied,
            rx.callout(t(DENIED_MESSAGE), icon="lock", color_scheme="amber", role="alert", width="100%"),
            section_card(
                t("Find partners"),
                rx.vstack(
                    rx.el.label(rx.text(t("Search"), size="2", weight="medium"), html_for="partner-search"),
                    rx.input(
                        id="partner-search",
                        type="search",
                        placeholder=t("Name, KvK number or city"),
                        default_value=FindPartnersState.query,
                        on_change=FindPartnersState.set_query.debounce(300),
                        size="3",
                        width="100%",
                        auto_complete="off",
                    ),
                    spacing="1",
                    width="100%",
                ),
                _results(),
                rx.link(t("Back to partners"), href=routes.PARTNERS, size="2"),
                description=t(
                    "Organisations of other environments, by name, KvK number or city. Send one a "
                    "relationship request to become partners."
                ),
            ),
        ),
    )
