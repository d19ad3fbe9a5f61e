"""/authorisations/new: ask a client for access, one at a time or from a CSV file.

The CSV file goes in two steps. Choosing a file uploads it and shows a preview: how many rows are
ready to send and each other row with its problem; nothing is sent yet, and the file's bytes wait in
a backend-only var. ``Send N requests`` then sends the valid rows (the server checks every row again,
whatever the preview said) as a background event: it runs in a worker thread while the page shows its
progress (and stays usable), changing the page's state only inside short ``async with self`` blocks.
``Cancel`` forgets the file. ``Download CSV template`` gives the columns the import reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import (
    app_form,
    field_error,
    field_id,
    file_upload,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, section_card
from econnect_app.components.translated import t
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.services import authorisations, software_packages
from econnect_app.services.authorisations import import_csv as csv_file
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.off_loop import ProgressCallback, ThreadWithProgress, run_off_loop
from econnect_app.state.uploads import SignedOut, Upload, events, for_session_user, read_upload

CSV_UPLOAD_ID = "authorisations-csv"
CSV_MAX_BYTES = 512 * 1024
FILE_FIELD = "file"  # the field_errors key of a file the import refuses as a whole
FILE_TOO_LARGE_MESSAGE = i18n.N_(
    "The file is larger than 512 KB. Split it into files of at most 1,000 rows."
)
FILE_REFUSED_MESSAGE = i18n.N_("Choose one CSV file (.csv or .txt) of at most 512 KB.")
IMPORT_RUNNING_MESSAGE = i18n.N_("An import is already running. Wait until it has finished.")
# In English in the state (``import_encoding_note``), translated where shown (the summaries).
ENCODING_NOTES = {
    csv_file.UTF8: i18n.N_("The file was read as UTF-8."),
    csv_file.UTF16: i18n.N_("The file was read as UTF-16 (Unicode text)."),
    csv_file.WINDOWS_1252: i18n.N_(
        "The file was not UTF-8, so it was read as Windows-1252 (what Excel saves as CSV): check that "
        "letters such as é and ü came through."
    ),
}

T = TypeVar("T")


@dataclasses.dataclass
class CsvRowOutcome:
    """One CSV row in the preview or the import's report: its line(s), its client and its outcome."""

    lines: str
    client: str
    message: str


def _why_not_import(db: Session, actor: User) -> str | None:
    """Before reading the upload: None when the user may import, else why not."""
    return authorisations.why_cannot_send(db, actor=actor)


def _preview_upload(db: Session, actor: User, upload: Upload) -> tuple[authorisations.ImportPreview, str]:
    """What sending the file would do, and the encoding it was read with; writes nothing."""
    decoded = csv_file.decode_csv_file(upload.content or b"", filename=upload.filename)
    return authorisations.preview_import(db, actor=actor, csv_text=decoded.text), decoded.encoding


def _import_upload(
    db: Session, actor: User, upload: Upload, on_progress: ProgressCallback
) -> tuple[authorisations.BulkImportResult, str]:
    """The import of the file (every row checked again), and the encoding it was read with."""
    decoded = csv_file.decode_csv_file(upload.content or b"", filename=upload.filename)
    result = authorisations.import_requests_csv(
        db, actor=actor, csv_text=decoded.text, on_progress=on_progress
    )
    return result, decoded.encoding


def _outcomes(errors: list[authorisations.RowError]) -> list[CsvRowOutcome]:
    return [
        CsvRowOutcome(lines=error.lines, client=error.client or "—", message=error.message)
        for error in errors
    ]


def _thousands(count: int) -> str:
    """A count as the summaries write it: "1,234"."""
    return f"{count:,}"


def _in_language(language: str, work: Callable[[Session, User], T]) -> Callable[[Session, User], T]:
    """``work`` done in ``language`` (in the worker thread of a background event: the refusals and
    row messages it makes are in the tab's language)."""

    def in_language(db: Session, actor: User) -> T:
        with i18n.in_language(language):
            return work(db, actor)

    return in_language


class NewAuthorisationState(AuthState):
    """The request form and the bulk import (preview, then send)."""

    package_names: list[str] = []
    cannot_send_reason: str = ""
    loaded: bool = False
    form_key: int = 0
    checking: bool = False
    preview_ready: int = -1  # the rows ready to send in the preview shown; -1: no preview
    preview_errors: list[CsvRowOutcome] = []
    preview_filename: str = ""
    import_created: int = -1
    import_saved: list[CsvRowOutcome] = []
    import_errors: list[CsvRowOutcome] = []
    import_encoding_note: str = ""
    importing: bool = False
    import_done: int = 0
    import_total: int = 0

    _package_ids: dict[str, int] = {}
    # The previewed file, kept on the server until it is sent or cancelled (never sent to the browser).
    _csv_filename: str = ""
    _csv_content: bytes = b""

    @rx.var
    def import_progress_text(self) -> str:
        """What the running import has done so far."""
        if self.import_total <= 0:
            return i18n.translate(self.language, "Starting the import…")
        return i18n.translate(
            self.language, "Imported {done} of {total} rows", done=self.import_done, total=self.import_total
        )

    @rx.var
    def import_summary(self) -> str:
        """What the finished import did, in one sentence or three."""
        # English keeps one form whatever the count ("1 requests sent."); Dutch has both.
        parts = [
            i18n.translate_plural(
                self.language, "{count} requests sent.", "{count} requests sent.", self.import_created
            )
        ]
        if self.import_errors:
            parts.append(
                i18n.translate_plural(
                    self.language,
                    "{count} rows were not sent: nothing was sent for them (listed below).",
                    "{count} rows were not sent: nothing was sent for them (listed below).",
                    len(self.import_errors),
                )
            )
        if self.import_encoding_note:
            parts.append(i18n.translate(self.language, self.import_encoding_note))
        return " ".join(parts).strip()

    @rx.var
    def import_percent(self) -> int:
        """The running import's progress, 0 to 100."""
        return self.import_done * 100 // self.import_total if self.import_total > 0 else 0

    @rx.var
    def preview_summary(self) -> str:
        """What sending the previewed file would do; that nothing has been sent yet."""
        language = self.language
        if self.preview_ready > 0:
            ready = i18n.translate_plural(
                language,
                "{count} row is ready to send.",
                "{count} rows are ready to send.",
                self.preview_ready,
                count=_thousands(self.preview_ready),
            )
        else:
            ready = i18n.translate(language, "No row is ready to send.")
        if self.preview_errors:
            errors = len(self.preview_errors)
            ready += " " + i18n.translate_plural(
                language,
                "{count} row has errors (listed below).",
                "{count} rows have errors (listed below).",
                errors,
                count=_thousands(errors),
            )
        summary = i18n.translate(
            language,
            "{filename}: {ready} Nothing has been sent yet.",
            filename=self.preview_filename,
            ready=ready,
        )
        if self.import_encoding_note:
            summary += " " + i18n.translate(language, self.import_encoding_note)
        return summary.strip()

    @rx.var
    def send_label(self) -> str:
        """The send button: "Send 2 requests"."""
        return i18n.translate_plural(
            self.language,
            "Send {count} request",
            "Send {count} requests",
            self.preview_ready,
            count=_thousands(self.preview_ready),
        )

    @rx.event
    def load(self) -> Updates:
        """Read the software catalogue and whether this user may send requests."""

        def action(db: Session, actor: User) -> None:
            packages = software_packages.list_software_packages(db)
            self.package_names = [package.name for package in packages]
            self._package_ids = {package.name: package.id or 0 for package in packages}
            self.cannot_send_reason = authorisations.why_cannot_send(db, actor=actor) or ""
            if not self.importing and not self.checking:
                self._forget_import()
                self._forget_preview()
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
            outcome = i18n.gettext(
                "Request sent to {email}. It is pending until the client answers.", email=request.client_email
            )
            if replaced is not None:
                outcome += " " + i18n.gettext(
                    "Replaced the pending request sent on {date}.", date=format_date(replaced.created_at)
                )
            return [rx.redirect(routes.AUTHORISATIONS), rx.toast.success(outcome)]

        return self._act(action, form=form)

    # --- step 1: the chosen file's preview ------------------------------------------------------

    @rx.event(background=True)
    async def preview_csv(self, chunks: rx.UploadChunkIterator) -> Updates:
        """Read the uploaded CSV file and show what sending it would do; send nothing yet.

        The session and the right to send requests are checked before the upload is read; a file
        larger than ``CSV_MAX_BYTES`` is refused as soon as it passes the limit.
        """
        async with self:
            if self.importing or self.checking:
                yield events(
                    rx.toast.error(i18n.translate(self.language, IMPORT_RUNNING_MESSAGE)), _clear_file()
                )
                return
            self.checking = True
            self._forget_import()
            self._forget_preview()
            self.field_errors = {}
            session_cookie, language = self.session_cookie, self.language
        outcome: Any = None
        try:
            outcome = await self._preview(session_cookie, language, chunks)
        finally:
            async with self:
                self.checking = False
        yield events(outcome, _clear_file())

    async def _preview(self, session_cookie: str, language: str, chunks: rx.UploadChunkIterator) -> Any:
        """Check, read and preview the upload (in the tab's ``language``); the message to send."""
        refusal = await run_off_loop(
            lambda: for_session_user(session_cookie, _in_language(language, _why_not_import))
        )
        if isinstance(refusal, SignedOut):
            async with self:
                return self._login_redirect()
        if refusal:
            return rx.toast.error(refusal)
        upload = await read_upload(chunks, limit=CSV_MAX_BYTES)
        if upload.too_large:
            return rx.toast.error(i18n.translate(language, FILE_TOO_LARGE_MESSAGE))
        try:
            previewed = await run_off_loop(
                lambda: for_session_user(
                    session_cookie,
                    _in_language(language, lambda db, actor: _preview_upload(db, actor, upload)),
                )
            )
        except DomainError as error:
            async with self:
                return self._show_refusal(error)
        async with self:
            if isinstance(previewed, SignedOut):
                return self._login_redirect()
            preview, encoding = previewed
            self._csv_filename, self._csv_content = upload.filename, upload.content or b""
            self.preview_filename = upload.filename
            self.preview_ready = len(preview.ready)
            self.preview_errors = _outcomes(preview.errors)
            self.import_encoding_note = ENCODING_NOTES.get(encoding, "")
        return None

    @rx.event
    def cancel_csv(self) -> Any:
        """Forget the previewed file; nothing is sent."""
        self._forget_preview()
        self.import_encoding_note = ""
        return _clear_file()

    # --- step 2: send the previewed file ----------------------------------------------------------

    @rx.event(background=True)
    async def send_csv(self) -> Updates:
        """Create one request per valid row of the previewed file, showing the progress; report
        exactly which rows were sent and why each other row was not. Every row is checked again."""
        async with self:
            if not self._csv_filename:  # sent or cancelled already (a second click): nothing to do
                return
            if self.importing or self.checking:
                yield rx.toast.error(i18n.translate(self.language, IMPORT_RUNNING_MESSAGE))
                return
            upload = Upload(filename=self._csv_filename, content=self._csv_content)
            self._forget_preview()
            self.importing = True
            self.import_done = self.import_total = 0
            self.field_errors = {}
            session_cookie, language = self.session_cookie, self.language
        outcome: Any = None
        try:
            outcome = await self._send(session_cookie, language, upload)
        finally:
            async with self:
                self.importing = False  # already so, unless the import failed unexpectedly
        yield outcome

    async def _send(self, session_cookie: str, language: str, upload: Upload) -> Any:
        """Import the file (in the tab's ``language``), showing the progress; the message to send."""
        work = ThreadWithProgress(
            lambda on_progress: for_session_user(
                session_cookie,
                _in_language(language, lambda db, actor: _import_upload(db, actor, upload, on_progress)),
            )
        )
        async for done, total in work.progress():
            async with self:
                self.import_done, self.import_total = done, total
        try:
            imported = await work.result()
        except DomainError as error:
            async with self:
                self.importing = False
                self.import_encoding_note = ""
                return self._show_refusal(error)
        async with self:
            self.importing = False  # in the same update as the result: never both on the page
            if isinstance(imported, SignedOut):
                return self._login_redirect()
            return self._show_import_result(*imported)

    def _forget_preview(self) -> None:
        self.preview_ready = -1
        self.preview_errors = []
        self.preview_filename = ""
        self._csv_filename, self._csv_content = "", b""

    def _forget_import(self) -> None:
        self.import_created = -1
        self.import_saved = []
        self.import_errors = []
        self.import_encoding_note = ""

    def _show_refusal(self, refusal: DomainError) -> Any:
        """A file refused as a whole: its message beside the upload area (or as a toast)."""
        if isinstance(refusal, ValidationFailed):
            self.field_errors = refusal.errors
            return None
        return rx.toast.error(refusal.message)

    def _show_import_result(self, result: authorisations.BulkImportResult, encoding: str) -> Any:
        """Show what the finished import did (under the state's lock); the message to send."""
        self.import_created = len(result.saved)
        self.import_encoding_note = ENCODING_NOTES.get(encoding, "")
        sent = i18n.translate(self.language, "Sent")
        self.import_saved = [
            CsvRowOutcome(lines=str(row.line), client=row.client, message=sent) for row in result.saved
        ]
        self.import_errors = _outcomes(result.errors)
        saved = len(result.saved)
        # English keeps one form whatever the counts ("1 requests sent."); Dutch has both.
        if result.errors:
            return rx.toast.warning(
                i18n.translate_plural(
                    self.language,
                    "{saved} requests sent; {count} rows were not sent and need attention.",
                    "{saved} requests sent; {count} rows were not sent and need attention.",
                    len(result.errors),
                    saved=saved,
                )
            )
        return rx.toast.success(
            i18n.translate_plural(self.language, "{count} requests sent.", "{count} requests sent.", saved)
        )


def _clear_file() -> Any:
    """Forget the chosen file in the upload area."""
    return rx.clear_selected_files(CSV_UPLOAD_ID)


CHOOSE_PACKAGE_PLACEHOLDER = i18n.N_("Choose…")


def _package_select(errors: rx.Var) -> rx.Component:
    """The software package, starting at "Choose…" (value ""): a request sent without a choice
    gets "Choose a software package." beside the field, from the service."""
    element_id = field_id("software_package")
    return rx.vstack(
        rx.el.label(rx.text(t("Software package"), size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            rx.el.option(t(CHOOSE_PACKAGE_PLACEHOLDER), value="", disabled=True),
            rx.foreach(NewAuthorisationState.package_names, lambda name: rx.el.option(name, value=name)),
            id=element_id,
            name="software_package",
            default_value="",
            required=True,
            aria_describedby=f"{element_id}-error {element_id}-hint",
            aria_invalid=rx.cond(errors["software_package"].to(str), "true", "false"),
            class_name="econnect-select",
        ),
        rx.text(
            t("The accounting software the client uses."),
            id=f"{element_id}-hint",
            size="1",
            color_scheme="gray",
        ),
        field_error(errors, "software_package"),
        spacing="1",
        width="100%",
        align="stretch",
    )


def _request_form() -> rx.Component:
    errors = NewAuthorisationState.field_errors
    return app_form(
        rx.vstack(
            rx.grid(
                text_field(
                    t("Client name"), "client_name", errors, hint=t("The person you ask, e.g. the owner.")
                ),
                text_field(t("Client email"), "client_email", errors, type="email"),
                _package_select(errors),
                text_field(
                    t("Organisation"),
                    "organisation",
                    errors,
                    hint=t("The client's company you need access to."),
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.hstack(
                submit_button(t("Send request"), submitting(NewAuthorisationState.send_request)),
                rx.link(
                    rx.button(t("Cancel"), variant="soft", color_scheme="gray", type="button"),
                    href=routes.AUTHORISATIONS,
                ),
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
            aria_label=t("Import progress"),
            aria_valuetext=NewAuthorisationState.import_progress_text,
            width="100%",
        ),
        rx.text(NewAuthorisationState.import_progress_text, size="2", role="status", id="import-progress"),
        spacing="2",
        width="100%",
    )


def _rows_table(rows: rx.Var, *, element_id: str, caption: Any, outcome_header: Any) -> rx.Component:
    """A table of report rows: line, client and what happened."""
    return rx.box(
        rx.text(caption, size="2", weight="medium"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(t("Line")),
                    rx.table.column_header_cell(t("Client")),
                    rx.table.column_header_cell(outcome_header),
                )
            ),
            rx.table.body(
                rx.foreach(
                    rows,
                    lambda row: rx.table.row(
                        rx.table.cell(row.lines), rx.table.cell(row.client), rx.table.cell(row.message)
                    ),
                )
            ),
            variant="surface",
            width="100%",
        ),
        id=element_id,
        width="100%",
    )


def _template_download() -> rx.Component:
    """The CSV file to fill in, with the columns the import reads and one example row."""
    return rx.button(
        rx.icon("download", size=16),
        t("Download CSV template"),
        type="button",
        variant="soft",
        on_click=rx.download(
            data=authorisations.csv_template(),
            filename=authorisations.TEMPLATE_FILENAME,
            mime_type="text/csv",
        ),
    )


def _preview() -> rx.Component:
    """The chosen file before anything is sent: how many rows are ready, the rows with errors, and
    ``Send N requests`` / ``Cancel``."""
    state = NewAuthorisationState
    return rx.vstack(
        rx.callout(
            state.preview_summary,
            icon="info",
            color_scheme=rx.cond(state.preview_errors.length() > 0, "amber", "blue"),
            role="status",
            width="100%",
        ),
        rx.cond(
            state.preview_errors.length() > 0,
            _rows_table(
                state.preview_errors,
                element_id="preview-errors",
                caption=t("Rows with errors (these will not be sent)"),
                outcome_header=t("Problem"),
            ),
        ),
        rx.hstack(
            rx.cond(
                state.preview_ready > 0,
                rx.button(state.send_label, type="button", on_click=state.send_csv, disabled=state.importing),
            ),
            rx.button(
                t("Cancel"), type="button", variant="soft", color_scheme="gray", on_click=state.cancel_csv
            ),
            spacing="3",
        ),
        id="import-preview",
        spacing="3",
        width="100%",
    )


def _bulk_import() -> rx.Component:
    state = NewAuthorisationState
    return rx.vstack(
        rx.text(
            t(
                "A CSV file (.csv or .txt, at most 512 KB and 1,000 rows) with a header row naming the columns "
                "client name, email, software package and organisation (in English or Dutch: naam, e-mail, "
                "softwarepakket, organisatie). After choosing the file you see which rows are ready to send "
                "and which have errors; nothing is sent until you click Send. Each valid row is sent on its "
                "own, whatever the other rows hold; afterwards you see exactly which rows were sent."
            ),
            size="2",
            color_scheme="gray",
        ),
        _template_download(),
        file_upload(
            t("CSV file"),
            rx.vstack(
                rx.icon("file-up", size=28, color=rx.color("accent", 9)),
                rx.text(t("Drop a CSV file here, or click to choose one"), size="2"),
                align="center",
                spacing="2",
            ),
            id=CSV_UPLOAD_ID,
            accept={"text/csv": [".csv"], "text/plain": [".csv", ".txt"]},
            max_files=1,
            max_size=CSV_MAX_BYTES,
            multiple=False,
            on_drop=state.preview_csv(rx.upload_files_chunk(upload_id=CSV_UPLOAD_ID)),
            on_drop_rejected=lambda _files: rx.toast.error(t(FILE_REFUSED_MESSAGE)),
            disabled=state.importing | state.checking,
            border=f"1px dashed {rx.color('accent', 7)}",
            border_radius="var(--radius-3)",
            padding="24px",
            width="100%",
            cursor="pointer",
            aria_label=t("Upload CSV file"),
        ),
        field_error(state.field_errors, FILE_FIELD),
        rx.cond(
            state.checking,
            rx.hstack(
                rx.spinner(size="2"), rx.text(t("Checking the file…"), size="2"), align="center", spacing="2"
            ),
        ),
        rx.cond(state.preview_ready >= 0, _preview()),
        rx.cond(state.importing, _import_progress()),
        rx.cond(
            state.import_created >= 0,
            rx.callout(
                state.import_summary,
                icon="circle_check",
                color_scheme=rx.cond(state.import_errors.length() > 0, "amber", "green"),
                role="status",
                width="100%",
            ),
        ),
        rx.cond(
            state.import_errors.length() > 0,
            _rows_table(
                state.import_errors,
                element_id="import-errors",
                caption=t("Not sent"),
                outcome_header=t("Problem"),
            ),
        ),
        rx.cond(
            state.import_saved.length() > 0,
            _rows_table(
                state.import_saved, element_id="import-saved", caption=t("Sent"), outcome_header=t("Result")
            ),
        ),
        spacing="3",
        width="100%",
    )


def new_authorisation_page() -> rx.Component:
    """The page."""
    return app_layout(
        t("New authorisation request"),
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
                        t("Ask a client for access"),
                        _request_form(),
                        description=t(
                            "The client receives an email with a link that works for 14 days. When they "
                            "accept, a partnership is created and you can retrieve the connection keys."
                        ),
                    ),
                    section_card(t("Send many requests at once"), _bulk_import()),
                ),
            ),
        ),
    )
