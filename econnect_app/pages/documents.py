"""/organisations/[organisation_id]/documents: an organisation's invoices and bank statements.

The list (newest first, ``Load more`` past the first 50) is refreshed live: an upload in another tab,
by a partner or through the API shows without a reload. ``Upload document`` sends the chosen file
with its ``Kind``: the browser refuses other types and files over 10 MB at once; the server checks
the session and the right to upload before reading the file, stops reading past 10 MB, and judges
the type by the content (``services/documents.py``). The upload is a background event: the file is
read and stored in worker threads while the page (and every other tab) stays responsive.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import reflex as rx
from reflex_components_core.el.elements.forms import FORM_DATA
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import app_form, field_error, file_upload, submit_button, submitting
from econnect_app.components.layout import app_layout, empty_state, loading_or_problem, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell
from econnect_app.components.translated import t
from econnect_app.formatting import format_datetime, in_time_zone
from econnect_app.models import User
from econnect_app.services import documents, environments
from econnect_app.services.errors import DomainError, NotFound, ValidationFailed
from econnect_app.settings import get_settings
from econnect_app.state.auth import ACTION_ID_FIELD, AuthState, Updates
from econnect_app.state.off_loop import run_off_loop
from econnect_app.state.uploads import SignedOut, Upload, events, for_session_user, read_upload

logger = logging.getLogger(__name__)

UPLOAD_ID = "document-file"
KIND_OPTIONS = [("invoice", i18n.N_("Invoice")), ("statement", i18n.N_("Statement"))]
# What the browser's file picker offers and accepts (the server judges the content again).
ACCEPTED_TYPES = {"application/pdf": [".pdf"], "application/xml": [".xml"], "text/xml": [".xml"]}
UPLOAD_RUNNING_MESSAGE = i18n.N_("An upload is already running. Wait until it has finished.")
STORE_FAILED_MESSAGE = i18n.N_("The document could not be stored. Please try again in a moment.")
ONE_FILE_MESSAGE = i18n.N_("Choose one file at a time.")
CHECKSUM_SHOWN = 12  # characters of the SHA-256 shown in the table (the whole one on hover)


def _max_bytes() -> int:
    return get_settings().max_document_bytes


@dataclasses.dataclass
class DocumentItem:
    """One document as the table shows it."""

    id: int
    filename: str
    kind: str
    format: str
    size: str
    uploaded_by: str
    uploaded_at: str
    sha256: str
    checksum: str


@dataclasses.dataclass(frozen=True)
class _Uploaded:
    """What the worker thread reports: the stored file's name and the refreshed list."""

    filename: str
    view: documents.DocumentsView
    time_zone: str  # the environment's, for the list's times (shown on the event loop)


def _items(view: documents.DocumentsView) -> list[DocumentItem]:
    return [
        DocumentItem(
            id=row.id,
            filename=row.filename,
            kind=i18n.gettext(documents.KIND_LABELS[row.kind])
            if row.kind in documents.KIND_LABELS
            else row.kind,
            format=documents.FORMAT_LABELS.get(row.format, row.format),
            size=documents.size_label(row.size_bytes),
            uploaded_by=row.uploaded_by,
            uploaded_at=format_datetime(row.created_at),
            sha256=row.sha256,
            checksum=row.sha256[:CHECKSUM_SHOWN] + "…",
        )
        for row in view.rows
    ]


def _why_not_upload(db: Session, actor: User, organisation_id: int) -> str | None:
    """Before reading the file: None when the user may upload, else why not."""
    try:
        documents.uploadable_organisation(db, actor=actor, organisation_id=organisation_id)
    except DomainError as error:
        return error.message
    return None


def _store_upload(
    db: Session, actor: User, *, organisation_id: int, kind: object, upload: Upload, shown: int
) -> _Uploaded:
    """Store the document (in a worker thread) and read the list again; DomainError when the
    service refuses it."""
    try:
        document = documents.upload_document(
            db,
            actor=actor,
            organisation_id=organisation_id,
            kind=kind,
            filename=upload.filename,
            content=upload.content,
        )
    except OSError:
        logger.exception("Storing a document of organisation %s failed", organisation_id)
        raise DomainError(i18n.gettext(STORE_FAILED_MESSAGE)) from None
    view = documents.documents_view(db, actor=actor, organisation_id=organisation_id, limit=shown)
    time_zone = environments.time_zone_of(db, environment_id=actor.environment_id)
    return _Uploaded(filename=document.filename, view=view, time_zone=time_zone)


def _refusal_message(code: str) -> str:
    """What the browser's refusal of a chosen file (react-dropzone's error code) means, in the
    language in effect."""
    if code == "file-too-large":
        return documents.too_large_message()
    if code == "too-many-files":
        return i18n.gettext(ONE_FILE_MESSAGE)
    return i18n.gettext(documents.WRONG_TYPE)


class DocumentsState(AuthState):
    """The documents of the organisation in the address; refreshed live."""

    organisation_id: int = 0
    organisation_name: str = ""
    owner_name: str = ""
    is_own: bool = False
    activated: bool = False
    rows: list[DocumentItem] = []
    total: int = 0
    shown_limit: int = documents.PAGE_SIZE
    problem: str = ""
    loaded: bool = False
    uploading: bool = False

    @rx.var
    def has_more(self) -> bool:
        """Whether older documents are not shown yet."""
        return len(self.rows) < self.total

    @rx.var
    def count_text(self) -> str:
        """How many documents there are, and how many are shown."""
        if self.total == len(self.rows):
            return i18n.translate_plural(self.language, "{count} document", "{count} documents", self.total)
        return i18n.translate(
            self.language,
            "Showing the newest {shown} of {total} documents",
            shown=len(self.rows),
            total=self.total,
        )

    def _show(self, view: documents.DocumentsView) -> None:
        self.problem = ""
        self.organisation_name = view.organisation_name
        self.owner_name = view.owner_environment_name
        self.is_own = view.is_own
        self.activated = view.activated
        self.rows = _items(view)
        self.total = view.total
        self.loaded = True

    def _live_refresh(self, db: Session, user: User) -> None:
        try:
            view = documents.documents_view(
                db, actor=user, organisation_id=self.organisation_id, limit=self.shown_limit
            )
        except NotFound as error:
            self.problem, self.rows, self.total, self.loaded = error.message, [], 0, True
            return
        self._show(view)

    @rx.event
    def load(self) -> Updates:
        """Read the documents of the organisation in the address and follow changes live."""
        self.organisation_id = routes.organisation_id_in(self.router.url.path)
        self.shown_limit = documents.PAGE_SIZE
        self.loaded = False
        return self._load_live()

    @rx.event
    def load_more(self) -> Updates:
        """Show the next older documents too."""
        self.shown_limit = min(self.shown_limit + documents.PAGE_SIZE, 10_000)
        return self._load(self._live_refresh)

    @rx.event
    def file_refused(self, code: str) -> None:
        """The browser refused the chosen file (wrong type, too large): say why beside the picker."""
        with i18n.in_language(self.language):
            message = _refusal_message(code)
        self.field_errors = {**self.field_errors, documents.FILE_FIELD: message}

    @rx.event(background=True)
    async def upload(self, chunks: rx.UploadChunkIterator, form: dict[str, Any]) -> Updates:
        """Store the chosen file as a document of the chosen kind, then show it in the list.

        The session and the right to upload are checked before the file is read; a file larger
        than the limit is refused as soon as it passes it.
        """
        async with self:
            busy_with, _, action_id = str(form.get(ACTION_ID_FIELD, "")).rpartition(":")
            language = self.language
            if self.uploading:
                yield rx.toast.error(i18n.translate(language, UPLOAD_RUNNING_MESSAGE))
                return
            if not self._accept_once(busy_with, action_id):
                return  # the repeat of an accepted submission (a double click)
            self.uploading = True
            self.busy, self.busy_with = True, busy_with
            self.field_errors = {}
            session_cookie, organisation_id, shown = (
                self.session_cookie,
                self.organisation_id,
                self.shown_limit,
            )
        outcome: Any = None
        try:
            with i18n.in_language(language):  # the worker threads' too: they run in a copy of this context
                outcome = await self._upload(session_cookie, organisation_id, form.get("kind"), chunks, shown)
        finally:
            async with self:
                self.uploading = False
                self._end_busy()
        yield outcome

    async def _upload(
        self,
        session_cookie: str,
        organisation_id: int,
        kind: object,
        chunks: rx.UploadChunkIterator,
        shown: int,
    ) -> Any:
        """Check, read and store the upload; the events to send."""
        refusal = await run_off_loop(
            lambda: for_session_user(
                session_cookie, lambda db, actor: _why_not_upload(db, actor, organisation_id)
            )
        )
        if isinstance(refusal, SignedOut):
            async with self:
                return self._login_redirect()
        if refusal:
            return rx.toast.error(refusal)
        upload = await read_upload(chunks, limit=_max_bytes())

        def store(db: Session, actor: User) -> _Uploaded:
            return _store_upload(
                db, actor, organisation_id=organisation_id, kind=kind, upload=upload, shown=shown
            )

        try:
            done = await run_off_loop(lambda: for_session_user(session_cookie, store))
        except ValidationFailed as error:
            async with self:
                self.field_errors = error.errors
            return events(
                rx.clear_selected_files(UPLOAD_ID) if documents.FILE_FIELD in error.errors else None
            )
        except DomainError as error:
            return rx.toast.error(error.message)
        async with self:
            if isinstance(done, SignedOut):
                return self._login_redirect()
            with in_time_zone(done.time_zone):
                self._show(done.view)
        return [
            rx.clear_selected_files(UPLOAD_ID),
            rx.toast.success(i18n.gettext("{filename} was uploaded.", filename=done.filename)),
        ]


# --- the page -------------------------------------------------------------------------------------


def _rejected_code(files: rx.Var) -> rx.Var:
    """react-dropzone's error code for the first refused file (e.g. ``file-too-large``)."""
    first = files.to(list[dict[str, Any]])[0].to(dict[str, Any])
    return first["errors"].to(list[dict[str, Any]])[0].to(dict[str, Any])["code"].to(str)


def _document_row(row: rx.Var[DocumentItem]) -> rx.Component:
    return rx.table.row(
        card_cell(t("Name"), rx.text(row.filename, weight="medium", word_break="break-all"), header=True),
        card_cell(t("Kind"), rx.badge(row.kind, variant="soft")),
        card_cell(t("Format"), rx.text(row.format, size="2")),
        card_cell(t("Size"), rx.text(row.size, size="2", white_space="nowrap")),
        card_cell(t("Uploaded by"), rx.text(row.uploaded_by, size="2")),
        card_cell(t("Uploaded"), rx.text(row.uploaded_at, size="2", white_space="nowrap")),
        card_cell(
            t("Checksum"),
            rx.code(
                row.checksum, title="SHA-256 " + row.sha256, aria_label="SHA-256 " + row.sha256, size="1"
            ),
        ),
        align="center",
    )


def _document_table() -> rx.Component:
    state = DocumentsState
    return rx.cond(
        state.rows.length() > 0,
        rx.vstack(
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell(t("Name")),
                            rx.table.column_header_cell(t("Kind")),
                            rx.table.column_header_cell(t("Format")),
                            rx.table.column_header_cell(t("Size")),
                            rx.table.column_header_cell(t("Uploaded by")),
                            rx.table.column_header_cell(t("Uploaded")),
                            rx.table.column_header_cell(t("Checksum")),
                        )
                    ),
                    rx.table.body(rx.foreach(state.rows, _document_row)),
                    variant="surface",
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
                id="documents",
                class_name=LIST_CARDS,
            ),
            rx.hstack(
                rx.text(state.count_text, size="2", color_scheme="gray", id="documents-count"),
                rx.cond(
                    state.has_more,
                    rx.button(
                        t("Load more"), variant="soft", on_click=DocumentsState.load_more, disabled=state.busy
                    ),
                ),
                align="center",
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        empty_state(
            "file-text",
            t("No documents yet"),
            t(
                "Upload the first invoice or bank statement below: a PDF or UBL 2.1 XML file of at most {size}.",
                size=documents.size_label(_max_bytes()),
            ),
        ),
    )


def _kind_select() -> rx.Component:
    errors = DocumentsState.field_errors
    return rx.vstack(
        rx.el.label(rx.text(t("Kind"), size="2", weight="medium"), html_for="field-kind"),
        rx.el.select(
            rx.el.option(t("Choose invoice or statement"), value=""),
            *[rx.el.option(t(label), value=value) for value, label in KIND_OPTIONS],
            id="field-kind",
            name="kind",
            default_value="",
            aria_describedby="field-kind-error",
            aria_invalid=rx.cond(errors["kind"].to(str), "true", "false"),
            class_name="econnect-select",
        ),
        field_error(errors, "kind"),
        spacing="1",
        width="100%",
        max_width="320px",
    )


def _file_picker() -> rx.Component:
    state = DocumentsState
    chosen = rx.selected_files(UPLOAD_ID)
    limit = documents.size_label(_max_bytes())
    return rx.vstack(
        rx.text(t("File"), size="2", weight="medium", id="document-file-label"),
        file_upload(
            t("File"),
            rx.vstack(
                rx.icon("file-up", size=28, color=rx.color("accent", 9)),
                rx.cond(
                    chosen.length() > 0,
                    rx.foreach(
                        chosen, lambda name: rx.text(name, weight="medium", size="2", id="chosen-file")
                    ),
                    rx.text(t("Drop a PDF or UBL 2.1 XML file here, or click to choose one"), size="2"),
                ),
                rx.text(t("At most {size}.", size=limit), size="1", color_scheme="gray"),
                align="center",
                spacing="2",
            ),
            id=UPLOAD_ID,
            accept=ACCEPTED_TYPES,
            max_files=1,
            max_size=_max_bytes(),
            multiple=False,
            on_drop_rejected=lambda files: DocumentsState.file_refused(_rejected_code(files)),
            disabled=state.busy,
            border=f"1px dashed {rx.color('accent', 7)}",
            border_radius="var(--radius-3)",
            padding="24px",
            width="100%",
            cursor="pointer",
            aria_label=t("Choose a file"),
            aria_describedby="field-file-error",
        ),
        field_error(state.field_errors, documents.FILE_FIELD),
        spacing="1",
        width="100%",
    )


def _upload_form() -> rx.Component:
    on_submit = DocumentsState.upload(rx.upload_files_chunk(upload_id=UPLOAD_ID), FORM_DATA)
    return app_form(
        rx.vstack(
            _kind_select(),
            _file_picker(),
            submit_button(t("Upload document"), submitting(on_submit)),
            spacing="4",
            width="100%",
            align="start",
        ),
        on_submit=on_submit,
    )


def _content() -> rx.Component:
    state = DocumentsState
    organisation_href = routes.ORGANISATIONS + "/" + state.organisation_id.to_string()
    return rx.vstack(
        rx.hstack(
            rx.link("← " + state.organisation_name, href=organisation_href),
            rx.text(t("· owned by {owner}", owner=state.owner_name), size="2", color_scheme="gray"),
            spacing="2",
            align="center",
        ),
        section_card(
            t("Documents of {organisation}", organisation=state.organisation_name), _document_table()
        ),
        section_card(
            t("Upload document"),
            rx.cond(
                state.activated,
                _upload_form(),
                rx.callout(t(documents.NOT_ACTIVATED), icon="info", color_scheme="amber"),
            ),
            description=t(
                "Invoices and bank statements as PDF or UBL 2.1 XML. The type is checked by the "
                "file's content; each document is kept with its SHA-256 checksum."
            ),
        ),
        spacing="5",
        width="100%",
    )


def documents_page() -> rx.Component:
    """/organisations/[organisation_id]/documents."""
    return app_layout(
        t("Documents"),
        loading_or_problem(
            DocumentsState.loaded,
            DocumentsState.problem,
            _content(),
            loading_label=t("Loading documents"),
            back_label=t("Go to organisations"),
            back_href=routes.ORGANISATIONS,
        ),
    )
