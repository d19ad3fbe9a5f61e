"""/authorisations/new: ask a client for access, one at a time or from a CSV file."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.forms import app_form, select_field, submit_button, text_field
from econnect_app.components.layout import app_layout, section_card
from econnect_app.models import User
from econnect_app.services import authorisations, software_packages
from econnect_app.state.auth import AuthState

CSV_UPLOAD_ID = "authorisations-csv"
CSV_MAX_BYTES = 512 * 1024


@dataclasses.dataclass
class CsvRowProblem:
    """One refused CSV row."""

    line: int
    message: str


class NewAuthorisationState(AuthState):
    """The request form and the bulk import."""

    package_names: list[str] = []
    cannot_send_reason: str = ""
    loaded: bool = False
    form_key: int = 0
    import_created: int = -1
    import_errors: list[CsvRowProblem] = []
    importing: bool = False

    _package_ids: dict[str, int] = {}

    @rx.event
    def load(self) -> Any:
        """Read the software catalogue and whether this user may send requests."""

        def action(db: Session, actor: User) -> None:
            packages = software_packages.list_software_packages(db)
            self.package_names = [package.name for package in packages]
            self._package_ids = {package.name: package.id or 0 for package in packages}
            self.cannot_send_reason = authorisations.why_cannot_send(db, actor=actor) or ""
            self.import_created = -1
            self.import_errors = []
            self.loaded = True

        return self._run(action)

    @rx.event
    def send_request(self, form: dict[str, Any]) -> Any:
        """Save the request as Pending and email the client."""

        def action(db: Session, actor: User) -> Any:
            package_name = form.get("software_package", "")
            request = authorisations.create_request(
                db,
                actor=actor,
                client_name=form.get("client_name", ""),
                client_email=form.get("client_email", ""),
                software_package_id=self._package_ids.get(package_name, package_name),
                organisation_name=form.get("organisation", ""),
            )
            self.form_key += 1
            return [
                rx.redirect(routes.AUTHORISATIONS),
                rx.toast.success(f"Request sent to {request.client_email}. It is pending until the client answers."),
            ]

        return self._run(action)

    @rx.event
    async def import_csv(self, files: list[rx.UploadFile]) -> Any:
        """Create one request per valid row of the uploaded CSV file; report the others."""
        if not files:
            return rx.toast.error("Choose a CSV file first.")
        upload = files[0]
        content = await upload.read()
        if len(content) > CSV_MAX_BYTES:
            return rx.toast.error("The file is too large. Split it into files of at most 500 rows.")
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return rx.toast.error("Save the file as CSV with UTF-8 encoding and try again.")

        def action(db: Session, actor: User) -> Any:
            result = authorisations.import_requests_csv(db, actor=actor, csv_text=text)
            self.import_created = len(result.created)
            self.import_errors = [CsvRowProblem(line=error.line, message=error.message) for error in result.errors]
            if result.errors:
                return rx.toast.warning(
                    f"{len(result.created)} requests sent; {len(result.errors)} rows need attention."
                )
            return rx.toast.success(f"{len(result.created)} requests sent.")

        return [self._run(action), rx.clear_selected_files(CSV_UPLOAD_ID)]


def _request_form() -> rx.Component:
    errors = NewAuthorisationState.field_errors
    return app_form(
        rx.vstack(
            rx.grid(
                text_field("Client name", "client_name", errors, hint="The person you ask, e.g. the owner."),
                text_field("Client email", "client_email", errors, type="email"),
                select_field(
                    "Software package",
                    "software_package",
                    NewAuthorisationState.package_names,
                    errors,
                    hint="The accounting software the client uses.",
                ),
                text_field("Organisation", "organisation", errors, hint="The client's company you need access to."),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.hstack(
                submit_button("Send request", NewAuthorisationState.busy),
                rx.link(rx.button("Cancel", variant="soft", color_scheme="gray", type="button"), href=routes.AUTHORISATIONS),
                spacing="3",
            ),
            spacing="4",
            width="100%",
            align="start",
        ),
        key=NewAuthorisationState.form_key,
        on_submit=NewAuthorisationState.send_request,
    )


def _bulk_import() -> rx.Component:
    return rx.vstack(
        rx.text(
            "A CSV file with a header row and the columns client name, email, software package and "
            "organisation. Each valid row sends one request; rows with problems are listed below and "
            "nothing is sent for them.",
            size="2",
            color_scheme="gray",
        ),
        rx.upload(
            rx.vstack(
                rx.icon("file-up", size=28, color=rx.color("accent", 9)),
                rx.text("Drop a CSV file here, or click to choose one", size="2"),
                align="center",
                spacing="2",
            ),
            id=CSV_UPLOAD_ID,
            accept={"text/csv": [".csv"], "text/plain": [".csv", ".txt"]},
            max_files=1,
            multiple=False,
            on_drop=NewAuthorisationState.import_csv(rx.upload_files(upload_id=CSV_UPLOAD_ID)),
            border=f"1px dashed {rx.color('accent', 7)}",
            border_radius="var(--radius-3)",
            padding="24px",
            width="100%",
            cursor="pointer",
            aria_label="Upload CSV file",
        ),
        rx.cond(
            NewAuthorisationState.import_created >= 0,
            rx.callout(
                NewAuthorisationState.import_created.to_string() + " requests sent.",
                icon="circle_check",
                color_scheme="green",
                role="status",
                width="100%",
            ),
        ),
        rx.cond(
            NewAuthorisationState.import_errors.length() > 0,
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Line"),
                            rx.table.column_header_cell("Problem"),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            NewAuthorisationState.import_errors,
                            lambda error: rx.table.row(
                                rx.table.cell(error.line), rx.table.cell(error.message)
                            ),
                        )
                    ),
                    variant="surface",
                    width="100%",
                ),
                id="import-errors",
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
    )


def new_authorisation_page() -> rx.Component:
    """The page."""
    return app_layout(
        "New authorisation request",
        rx.cond(
            ~NewAuthorisationState.loaded,
            rx.center(rx.spinner(), padding="24px"),
            rx.cond(
                NewAuthorisationState.cannot_send_reason != "",
                rx.callout(
                    NewAuthorisationState.cannot_send_reason, icon="lock", color_scheme="amber", role="alert"
                ),
                rx.fragment(
                    section_card(
                        "Ask a client for access",
                        _request_form(),
                        description=(
                            "The client receives an email with a link that works for 14 days. When they "
                            "accept, a partnership is created and you can retrieve the connection keys."
                        ),
                    ),
                    section_card("Send many requests at once", _bulk_import()),
                ),
            ),
        ),
    )
