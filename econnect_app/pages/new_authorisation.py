"""/authorisations/new: ask a client for access, one at a time or from a CSV file.

The CSV import is a background event: it runs in a worker thread while the page shows its progress
(and stays usable), changing the page's state only inside short ``async with self`` blocks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.forms import (
    app_form,
    field_error,
    select_field,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, section_card
from econnect_app.db import db_session
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.services import authorisations, sessions, software_packages
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.off_loop import ProgressCallback, ThreadWithProgress

CSV_UPLOAD_ID = "authorisations-csv"
CSV_MAX_BYTES = 512 * 1024
FILE_FIELD = "file"  # the field_errors key of a file the import refuses as a whole


@dataclasses.dataclass
class CsvRowProblem:
    """One refused CSV row."""

    line: int
    message: str


def _import_for_session(
    session_cookie: str, csv_text: str, on_progress: ProgressCallback
) -> authorisations.BulkImportResult | None:
    """The import, for the user of a browser session (in a worker thread); None when that session
    is no longer valid."""
    with db_session() as db:
        actor = sessions.authenticate(db, token=session_cookie or None)
        if actor is None:
            return None
        return authorisations.import_requests_csv(db, actor=actor, csv_text=csv_text, on_progress=on_progress)


async def _read_upload(chunks: rx.UploadChunkIterator, *, limit: int) -> bytes | None:
    """The uploaded file's bytes (the first file only); None when it is larger than ``limit``.

    Every chunk is consumed, so the upload request ends normally either way.
    """
    content = bytearray()
    first_file: str | None = None
    too_large = False
    async for chunk in chunks:
        first_file = chunk.filename if first_file is None else first_file
        if chunk.filename != first_file or too_large:
            continue
        content.extend(chunk.data)
        too_large = len(content) > limit
    return None if too_large else bytes(content)


class NewAuthorisationState(AuthState):
    """The request form and the bulk import."""

    package_names: list[str] = []
    cannot_send_reason: str = ""
    loaded: bool = False
    form_key: int = 0
    import_created: int = -1
    import_errors: list[CsvRowProblem] = []
    importing: bool = False
    import_done: int = 0
    import_total: int = 0

    _package_ids: dict[str, int] = {}

    @rx.var
    def import_progress_text(self) -> str:
        """What the running import has done so far."""
        if self.import_total <= 0:
            return "Starting the import…"
        return f"Imported {self.import_done} of {self.import_total} rows"

    @rx.var
    def import_percent(self) -> int:
        """The running import's progress, 0 to 100."""
        return self.import_done * 100 // self.import_total if self.import_total > 0 else 0

    @rx.event
    def load(self) -> Updates:
        """Read the software catalogue and whether this user may send requests."""

        def action(db: Session, actor: User) -> None:
            packages = software_packages.list_software_packages(db)
            self.package_names = [package.name for package in packages]
            self._package_ids = {package.name: package.id or 0 for package in packages}
            self.cannot_send_reason = authorisations.why_cannot_send(db, actor=actor) or ""
            if not self.importing:
                self.import_created = -1
                self.import_errors = []
            self.loaded = True

        return self._load(action)

    @rx.event
    def send_request(self, form: dict[str, Any]) -> Updates:
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
            replaced = authorisations.replaced_request(db, request=request)
            outcome = f"Request sent to {request.client_email}. It is pending until the client answers."
            if replaced is not None:
                outcome += f" Replaced the pending request sent on {format_date(replaced.created_at)}."
            return [rx.redirect(routes.AUTHORISATIONS), rx.toast.success(outcome)]

        return self._act(action, form=form)

    @rx.event(background=True)
    async def import_csv(self, chunks: rx.UploadChunkIterator) -> Updates:
        """Create one request per valid row of the uploaded CSV file, showing the progress; report
        the rows that were refused."""
        content = await _read_upload(chunks, limit=CSV_MAX_BYTES)
        if content is None:
            yield [rx.toast.error("The file is too large. Split it into files of at most 500 rows."), _clear_file()]
            return
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            yield [rx.toast.error("Save the file as CSV with UTF-8 encoding and try again."), _clear_file()]
            return
        async with self:
            if self.importing:
                yield [rx.toast.error("An import is already running. Wait until it has finished."), _clear_file()]
                return
            self.importing = True
            self.import_done = self.import_total = 0
            self.import_created = -1
            self.import_errors = []
            self.field_errors = {}
            session_cookie = self.session_cookie
        try:
            result, refusal = await self._run_import(session_cookie, text)
        except BaseException:
            async with self:
                self.importing = False
            raise
        async with self:
            self.importing = False
            outcome = self._show_import_result(result, refusal)
        yield [outcome, _clear_file()]

    async def _run_import(
        self, session_cookie: str, text: str
    ) -> tuple[authorisations.BulkImportResult | None, DomainError | None]:
        """Run the import in a worker thread, showing its progress; (its result, or its refusal)."""
        work = ThreadWithProgress(lambda on_progress: _import_for_session(session_cookie, text, on_progress))
        async for done, total in work.progress():
            async with self:
                self.import_done, self.import_total = done, total
        try:
            return await work.result(), None
        except DomainError as error:
            return None, error

    def _show_import_result(
        self, result: authorisations.BulkImportResult | None, refusal: DomainError | None
    ) -> Any:
        """Show what the finished import did (under the state's lock); the message to send."""
        if isinstance(refusal, ValidationFailed):
            self.field_errors = refusal.errors
            return None
        if refusal is not None:
            return rx.toast.error(refusal.message)
        if result is None:
            return self._login_redirect()
        self.import_created = len(result.created)
        self.import_errors = [CsvRowProblem(line=error.line, message=error.message) for error in result.errors]
        if result.errors:
            return rx.toast.warning(f"{len(result.created)} requests sent; {len(result.errors)} rows need attention.")
        return rx.toast.success(f"{len(result.created)} requests sent.")


def _clear_file() -> Any:
    """Forget the chosen file in the upload area."""
    return rx.clear_selected_files(CSV_UPLOAD_ID)


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
                submit_button("Send request", submitting(NewAuthorisationState.send_request)),
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


def _import_progress() -> rx.Component:
    """The running import: a progress bar and how many rows are done."""
    return rx.vstack(
        rx.progress(
            value=NewAuthorisationState.import_percent,
            max=100,
            aria_label="Import progress",
            aria_valuetext=NewAuthorisationState.import_progress_text,
            width="100%",
        ),
        rx.text(NewAuthorisationState.import_progress_text, size="2", role="status", id="import-progress"),
        spacing="2",
        width="100%",
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
            on_drop=NewAuthorisationState.import_csv(rx.upload_files_chunk(upload_id=CSV_UPLOAD_ID)),
            disabled=NewAuthorisationState.importing,
            border=f"1px dashed {rx.color('accent', 7)}",
            border_radius="var(--radius-3)",
            padding="24px",
            width="100%",
            cursor="pointer",
            aria_label="Upload CSV file",
        ),
        field_error(NewAuthorisationState.field_errors, FILE_FIELD),
        rx.cond(NewAuthorisationState.importing, _import_progress()),
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
