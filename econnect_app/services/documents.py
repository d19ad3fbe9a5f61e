"""An organisation's documents: invoices and bank statements, as PDF or UBL 2.1 XML (issue 9).

Who may upload and list them:

- in the app, every user who may open the organisation (``access.user_can_access_organisation``):
  its own environment's users, and users of a partner environment with access (Members and
  Administrators of the organisation, connected relationship managers of the partnership);
- with connection keys (the API), a key set whose environment reaches the organisation
  (``access.environment_can_access_organisation``: activated, own or through an active partnership
  with a member left).

Both are checked here, on every call. Uploads need an activated organisation.

A document is checked before anything is written: its kind (``invoice`` / ``statement``), its size
(at most ``settings.max_document_bytes``, 10 MB) and its type, judged by its content
(``document_store.detect_format``). Its bytes go to the document store first (atomically, under a
random key, with their SHA-256); then one transaction writes the ``document`` row, its activity
rows (in the organisation's environment, and in the uploader's when that is a partner) and the
deliveries its accountants' online connections ask for (``exports.queue_deliveries_for``). When
that transaction fails, the stored file is removed again. Documents are never deleted: ending a
partnership only ends the access.

``read_document_bytes`` gives the export worker a document's bytes, verified against the checksum.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.formatting import display_name
from econnect_app.models import (
    Document,
    DocumentFormat,
    DocumentKind,
    Environment,
    KeySet,
    Organisation,
    User,
)
from econnect_app.services import access, activity, document_store, exports
from econnect_app.services.document_store import DocumentUnavailable, read_document_bytes
from econnect_app.services.errors import NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.permissions import load_actor
from econnect_app.services.transaction import committing
from econnect_app.settings import get_settings

__all__ = [
    "DocumentTooLarge",
    "DocumentUnavailable",
    "UnsupportedDocumentType",
    "documents_page_for_keys",
    "documents_view",
    "organisation_for_keys",
    "read_document_bytes",
    "upload_document",
    "upload_document_with_keys",
    "uploadable_organisation",
]

KIND_LABELS: dict[str, str] = {  # in English, translated where shown (``i18n.gettext(label)``)
    DocumentKind.INVOICE.value: i18n.N_("Invoice"),
    DocumentKind.STATEMENT.value: i18n.N_("Statement"),
}
FORMAT_LABELS: dict[str, str] = {DocumentFormat.PDF.value: "PDF", DocumentFormat.UBL.value: "UBL 2.1 XML"}
FILE_FIELD = "file"
KIND_FIELD = "kind"
PAGE_SIZE = 50  # documents the page shows at first, and how many more "Load more" adds
MAX_PER_PAGE = 100  # the API's largest page

# The messages in English (tests, pages and the API compare them); shown translated with ``i18n.gettext``.
ORGANISATION_NOT_FOUND = i18n.N_("This organisation does not exist or you have no access to it.")
NO_ACCESS_WITH_KEYS = i18n.N_("Your connection keys do not give access to this organisation.")
NOT_ACTIVATED = i18n.N_("Activate this organisation before you upload documents.")
CHOOSE_KIND = i18n.N_("Choose Invoice or Statement.")
CHOOSE_FILE = i18n.N_("Choose a PDF or UBL 2.1 XML file to upload.")
EMPTY_FILE = i18n.N_("This file is empty. Choose a PDF or UBL 2.1 XML document.")
WRONG_TYPE = i18n.N_("This file is not a PDF or UBL 2.1 XML document.")


def max_document_bytes() -> int:
    """The largest document accepted, in bytes (``settings.max_document_bytes``)."""
    return get_settings().max_document_bytes


def size_label(size_bytes: int) -> str:
    """A size as people read it: ``812 bytes``, ``48 KB``, ``2.4 MB``, ``10 MB``."""
    if size_bytes < 1024:
        return f"{size_bytes} bytes" if size_bytes != 1 else "1 byte"
    if size_bytes < 1024 * 1024:
        return f"{round(size_bytes / 1024)} KB"
    megabytes = size_bytes / (1024 * 1024)
    return f"{megabytes:.1f} MB".replace(".0 MB", " MB")


def too_large_message() -> str:
    """What an upload over the limit is told."""
    return i18n.gettext(
        "This file is larger than {size}. Upload documents of at most that size.",
        size=size_label(max_document_bytes()),
    )


class DocumentTooLarge(ValidationFailed):
    """The file is larger than ``settings.max_document_bytes`` (the API answers 413)."""


class UnsupportedDocumentType(ValidationFailed):
    """The file's content is neither a PDF nor a UBL 2.1 document (the API answers 415)."""


@dataclass(frozen=True)
class DocumentRow:
    """One document as the page and the API show it (newest first)."""

    id: int
    kind: str
    format: str
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    uploaded_by: str


@dataclass(frozen=True)
class DocumentsView:
    """The documents page of one organisation, for one viewer."""

    organisation_id: int
    organisation_name: str
    owner_environment_name: str
    is_own: bool
    activated: bool
    rows: list[DocumentRow]
    total: int


@dataclass(frozen=True)
class DocumentPage:
    """One page of an organisation's documents for the API (``page`` counts from 1)."""

    rows: list[DocumentRow]
    total: int
    page: int
    per_page: int

    @property
    def has_more(self) -> bool:
        """Whether a later page holds documents."""
        return self.page * self.per_page < self.total


# --- who may ------------------------------------------------------------------------------------


def _organisation_for_user(
    session: Session, *, actor: User, organisation_id: int | str
) -> tuple[User, Organisation]:
    """The actor as stored now and the organisation, if they may open it (NotFound otherwise:
    nothing is revealed about organisations one cannot open)."""
    actor = load_actor(session, actor)
    try:
        number = int(organisation_id)
    except (TypeError, ValueError):
        number = 0
    organisation = session.get(Organisation, number) if 0 < number < 2**31 else None
    if organisation is None or not access.user_can_access_organisation(
        session, user=actor, organisation=organisation
    ):
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    return actor, organisation


def uploadable_organisation(session: Session, *, actor: User, organisation_id: int | str) -> Organisation:
    """The organisation, if the actor may upload documents to it now (checked before the page
    reads an upload): NotFound without access, PermissionDenied when it is not activated."""
    _actor, organisation = _organisation_for_user(session, actor=actor, organisation_id=organisation_id)
    if organisation.activated_at is None:
        raise PermissionDenied(i18n.gettext(NOT_ACTIVATED))
    return organisation


def _current_key_set(session: Session, key_set_id: int) -> KeySet:
    key_set = session.get(KeySet, key_set_id)
    if key_set is None or key_set.revoked_at is not None:
        raise PermissionDenied(i18n.gettext(NO_ACCESS_WITH_KEYS))
    return key_set


def organisation_for_keys(session: Session, *, key_set_id: int, identifier: str) -> Organisation:
    """The organisation with this identifier, if the key set's environment reaches it: NotFound
    when no organisation has the identifier, PermissionDenied when the keys do not reach it."""
    key_set = _current_key_set(session, key_set_id)
    organisation = session.exec(select(Organisation).where(Organisation.identifier == identifier)).first()
    if organisation is None:
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    if not access.environment_can_access_organisation(
        session, environment_id=key_set.environment_id, organisation=organisation
    ):
        raise PermissionDenied(i18n.gettext(NO_ACCESS_WITH_KEYS))
    return organisation


# --- what may be uploaded -----------------------------------------------------------------------


def parse_kind(kind: object) -> DocumentKind | None:
    """``invoice`` / ``statement`` (as the API sends it; the labels too, in any case), else None."""
    if not isinstance(kind, str):
        return None
    try:
        return DocumentKind(kind.strip().lower())
    except ValueError:
        return None


def check_document(kind: object, content: bytes | None) -> tuple[DocumentKind, DocumentFormat]:
    """The kind and the format of an upload, or why it is refused, every field at once:
    DocumentTooLarge (413), UnsupportedDocumentType (415), else ValidationFailed (a missing or
    unknown kind, no file, an empty file)."""
    errors: dict[str, str] = {}
    document_kind = parse_kind(kind)
    if document_kind is None:
        errors[KIND_FIELD] = i18n.gettext(CHOOSE_KIND)
    if content is None:
        errors[FILE_FIELD] = i18n.gettext(CHOOSE_FILE)
        raise ValidationFailed(errors)
    if len(content) > max_document_bytes():
        raise DocumentTooLarge({**errors, FILE_FIELD: too_large_message()})
    if not content:
        raise ValidationFailed({**errors, FILE_FIELD: i18n.gettext(EMPTY_FILE)})
    document_format = document_store.detect_format(content)
    if document_format is None:
        raise UnsupportedDocumentType({**errors, FILE_FIELD: i18n.gettext(WRONG_TYPE)})
    if document_kind is None:
        raise ValidationFailed(errors)
    return document_kind, document_format


# --- uploading ----------------------------------------------------------------------------------


def _environment_name(session: Session, environment_id: int) -> str:
    environment = session.get(Environment, environment_id)
    return environment.name if environment else ""


def _store_and_record(
    session: Session,
    *,
    organisation: Organisation,
    kind: DocumentKind,
    document_format: DocumentFormat,
    filename: str,
    content: bytes,
    user: User | None,
    key_set: KeySet | None,
    uploader: str,
    uploader_environment_id: int,
) -> Document:
    """Store the bytes, then write the row, its activity and its deliveries in one transaction;
    the stored file is removed when that transaction fails."""
    stored = document_store.store_bytes(content)
    try:
        with committing(session):
            document = Document(
                organisation_id=organisation.id,  # type: ignore[arg-type]
                kind=kind.value,
                format=document_format.value,
                filename=document_store.sanitize_filename(filename, document_format),
                content_type=document_store.content_type_of(document_format),
                size_bytes=stored.size,
                sha256=stored.sha256,
                storage_key=stored.storage_key,
                uploaded_by_user_id=user.id if user else None,
                uploaded_by_key_set_id=key_set.id if key_set else None,
            )
            session.add(document)
            session.flush()
            what = f"{i18n.gettext(KIND_LABELS[kind.value]).lower()} {document.filename} ({FORMAT_LABELS[document_format.value]}, {size_label(stored.size)})"
            summaries = {
                organisation.environment_id: i18n.gettext(
                    "{uploader} uploaded {document} to {organisation}.",
                    uploader=uploader,
                    document=what,
                    organisation=organisation.name,
                )
            }
            if uploader_environment_id != organisation.environment_id:
                owner = _environment_name(session, organisation.environment_id)
                summaries[uploader_environment_id] = i18n.gettext(
                    "{uploader} uploaded {document} to {organisation} ({owner}).",
                    uploader=uploader,
                    document=what,
                    organisation=organisation.name,
                    owner=owner,
                )
            activity.record_each(
                session,
                summaries,
                actor=user,
                action="document.uploaded",
                subject_type=activity.ORGANISATION_SUBJECT,
                subject_id=organisation.id,
            )
            exports.queue_deliveries_for(session, document)
    except BaseException:
        document_store.remove(stored.storage_key)
        raise
    return document


def upload_document(
    session: Session,
    *,
    actor: User,
    organisation_id: int | str,
    kind: object,
    filename: str,
    content: bytes | None,
) -> Document:
    """Upload a document to an organisation the actor may open (``content`` None: no file chosen)."""
    actor, organisation = _organisation_for_user(session, actor=actor, organisation_id=organisation_id)
    if organisation.activated_at is None:
        raise PermissionDenied(i18n.gettext(NOT_ACTIVATED))
    document_kind, document_format = check_document(kind, content)
    assert content is not None
    uploader = display_name(actor)
    if actor.environment_id != organisation.environment_id:
        uploader += f" ({_environment_name(session, actor.environment_id)})"
    return _store_and_record(
        session,
        organisation=organisation,
        kind=document_kind,
        document_format=document_format,
        filename=filename,
        content=content,
        user=actor,
        key_set=None,
        uploader=uploader,
        uploader_environment_id=actor.environment_id,
    )


def upload_document_with_keys(
    session: Session,
    *,
    key_set_id: int,
    identifier: str,
    kind: object,
    filename: str,
    content: bytes | None,
) -> Document:
    """Upload a document through the API, for a key set whose environment reaches the organisation."""
    organisation = organisation_for_keys(session, key_set_id=key_set_id, identifier=identifier)
    key_set = _current_key_set(session, key_set_id)
    document_kind, document_format = check_document(kind, content)
    assert content is not None
    uploader = i18n.gettext('Accounting software (key set "{key_set}")', key_set=key_set.name)
    if key_set.environment_id != organisation.environment_id:
        uploader = i18n.gettext(
            'Accounting software of {environment} (key set "{key_set}")',
            environment=_environment_name(session, key_set.environment_id),
            key_set=key_set.name,
        )
    return _store_and_record(
        session,
        organisation=organisation,
        kind=document_kind,
        document_format=document_format,
        filename=filename,
        content=content,
        user=None,
        key_set=key_set,
        uploader=uploader,
        uploader_environment_id=key_set.environment_id,
    )


# --- listing ------------------------------------------------------------------------------------


def _rows(session: Session, organisation: Organisation, *, offset: int, limit: int) -> list[DocumentRow]:
    """The organisation's documents, newest first, with who uploaded each."""
    statement = (
        select(Document, User, KeySet)
        .outerjoin(User, col(User.id) == col(Document.uploaded_by_user_id))
        .outerjoin(KeySet, col(KeySet.id) == col(Document.uploaded_by_key_set_id))
        .where(Document.organisation_id == organisation.id)
        .order_by(col(Document.created_at).desc(), col(Document.id).desc())
        .offset(offset)
        .limit(limit)
    )
    found = list(session.exec(statement))
    others = {
        uploader.environment_id
        for _document, user, key_set in found
        for uploader in (user, key_set)
        if uploader is not None and uploader.environment_id != organisation.environment_id
    }
    names = (
        dict(
            session.exec(
                select(Environment.id, Environment.name).where(col(Environment.id).in_(others))
            ).all()
        )
        if others
        else {}
    )
    rows = []
    for document, user, key_set in found:
        if user is not None:
            uploaded_by = display_name(user)
            if user.environment_id != organisation.environment_id:
                uploaded_by += f" ({names.get(user.environment_id, '')})"
        elif key_set is not None:
            uploaded_by = i18n.gettext("Accounting software ({key_set})", key_set=key_set.name)
            if key_set.environment_id != organisation.environment_id:
                uploaded_by = i18n.gettext(
                    "Accounting software of {environment} ({key_set})",
                    environment=names.get(key_set.environment_id, ""),
                    key_set=key_set.name,
                )
        else:
            uploaded_by = "—"
        rows.append(
            DocumentRow(
                id=document.id,  # type: ignore[arg-type]
                kind=document.kind,
                format=document.format,
                filename=document.filename,
                content_type=document.content_type,
                size_bytes=document.size_bytes,
                sha256=document.sha256,
                created_at=document.created_at,
                uploaded_by=uploaded_by,
            )
        )
    return rows


def _count(session: Session, organisation: Organisation) -> int:
    statement = select(func.count()).select_from(Document).where(Document.organisation_id == organisation.id)
    return int(session.exec(statement).one())


def documents_view(
    session: Session, *, actor: User, organisation_id: int | str, limit: int = PAGE_SIZE
) -> DocumentsView:
    """The newest ``limit`` documents of an organisation the actor may open, and how many it has."""
    actor, organisation = _organisation_for_user(session, actor=actor, organisation_id=organisation_id)
    limit = max(1, min(int(limit), 10_000))
    return DocumentsView(
        organisation_id=organisation.id,  # type: ignore[arg-type]
        organisation_name=organisation.name,
        owner_environment_name=_environment_name(session, organisation.environment_id),
        is_own=organisation.environment_id == actor.environment_id,
        activated=organisation.activated_at is not None,
        rows=_rows(session, organisation, offset=0, limit=limit),
        total=_count(session, organisation),
    )


def documents_page_for_keys(
    session: Session, *, key_set_id: int, identifier: str, page: int = 1, per_page: int = PAGE_SIZE
) -> DocumentPage:
    """One page of an organisation's documents, newest first, for a key set that reaches it."""
    organisation = organisation_for_keys(session, key_set_id=key_set_id, identifier=identifier)
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed({"page": i18n.gettext("Pages count from 1 and hold 1 to 100 documents.")})
    return DocumentPage(
        rows=_rows(session, organisation, offset=(page - 1) * per_page, limit=per_page),
        total=_count(session, organisation),
        page=page,
        per_page=per_page,
    )
