"""``POST`` and ``GET /api/v1/organisations/{organisation_identifier}/documents``.

The key guard has checked the keys (401) and the rate limit (429) before routing. Then, in order:

- ``404`` for an identifier no organisation has (or that cannot be one), ``403`` when the keys do
  not reach the organisation: checked before a byte of the body is read;
- ``POST`` only: ``415`` unless the body is ``multipart/form-data``; ``413`` when ``Content-Length``
  already says the body is larger than a document may be (nothing is read), or as soon as the file
  passes ``settings.max_document_bytes`` while the body streams in (the rest is not read);
  ``422`` for a missing or unknown ``kind`` or a missing or empty ``file``; ``415`` when the file
  is neither a PDF nor a UBL 2.1 document (judged by its content); ``201`` with the document;
- ``GET``: ``422`` for a ``page`` / ``per_page`` out of range; ``200`` with one page, newest first.

The database and the file store are used off the event loop (``run_in_threadpool``; the ``GET``
handler is a plain function run in a worker thread). ``services/documents.py``
checks access again in the upload's own transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from econnect_app.api import responses
from econnect_app.api.guard import api_call
from econnect_app.api.organisations import IDENTIFIER_FORM
from econnect_app.models import Document
from econnect_app.services import documents
from econnect_app.services.documents import DocumentRow, DocumentTooLarge, UnsupportedDocumentType
from econnect_app.services.errors import DomainError, NotFound, PermissionDenied, ValidationFailed

FILE_FIELD = "file"
KIND_FIELD = "kind"
# What a multipart body may hold besides the file: part headers, boundaries, the kind field.
MULTIPART_ALLOWANCE = 64 * 1024
KIND_MAX_BYTES = 100
MAX_PAGE = 1_000_000


def _kind_message() -> str:
    return f'{documents.CHOOSE_KIND.rstrip(".")}: send the field "{KIND_FIELD}" as "invoice" or "statement".'


def _file_message() -> str:
    return f'Send the document in the multipart field "{FILE_FIELD}" (a PDF or UBL 2.1 XML file).'


def body_allowance() -> int:
    """The largest body an upload may send: a document of the maximum size plus the rest of the form."""
    return documents.max_document_bytes() + MULTIPART_ALLOWANCE


def document_json(row: DocumentRow | Document) -> dict[str, Any]:
    """A document as the API returns it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "format": row.format,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size_bytes,
        "sha256": row.sha256,
        "created_at": row.created_at.isoformat(),
    }


def _refusal(error: DomainError) -> JSONResponse:
    """A service's refusal as the API answers it."""
    if isinstance(error, NotFound):
        return responses.json_error(404, responses.NOT_FOUND_MESSAGE)
    if isinstance(error, PermissionDenied):
        return responses.json_error(403, responses.FORBIDDEN_MESSAGE)
    if isinstance(error, ValidationFailed):
        errors = error.errors
        if isinstance(error, DocumentTooLarge):
            return responses.json_error(413, errors.get(documents.FILE_FIELD, documents.too_large_message()))
        if isinstance(error, UnsupportedDocumentType):
            return responses.json_error(415, documents.WRONG_TYPE)
        if KIND_FIELD in errors:
            return responses.json_error(422, _kind_message())
        if errors.get(documents.FILE_FIELD) == documents.EMPTY_FILE:
            return responses.json_error(422, documents.EMPTY_FILE)
        if documents.FILE_FIELD in errors:
            return responses.json_error(422, _file_message())
        return responses.json_error(422, " ".join(errors.values()) or error.message)
    return responses.json_error(422, error.message)


def _with_session(
    engine_factory: Callable[[], Engine], work: Callable[[Session], JSONResponse | None]
) -> JSONResponse | None:
    """``work`` with a database session; a service's refusal as its JSON answer."""
    with Session(engine_factory(), expire_on_commit=False) as session:
        try:
            return work(session)
        except DomainError as error:
            session.rollback()
            return _refusal(error)


def _organisation_identifier(request: Request) -> str | None:
    """The identifier in the path (noted for the access log), or None when it cannot be one."""
    identifier = request.path_params["organisation_identifier"]
    if not IDENTIFIER_FORM.fullmatch(identifier):
        return None
    api_call(request).organisation_identifier = identifier
    return identifier


# --- GET ------------------------------------------------------------------------------------------


def _whole_number(raw: str | None, *, default: int, lowest: int, highest: int) -> int | None:
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        return None
    number = int(raw)
    return number if lowest <= number <= highest else None


def list_documents(request: Request) -> JSONResponse:
    """One page of the organisation's documents, newest first (a plain function, run in a worker
    thread)."""
    identifier = _organisation_identifier(request)
    if identifier is None:
        return responses.json_error(404, responses.NOT_AN_IDENTIFIER_MESSAGE)
    page = _whole_number(request.query_params.get("page"), default=1, lowest=1, highest=MAX_PAGE)
    per_page = _whole_number(
        request.query_params.get("per_page"),
        default=documents.PAGE_SIZE,
        lowest=1,
        highest=documents.MAX_PER_PAGE,
    )
    key_set_id = api_call(request).key_set_id
    assert key_set_id is not None, "the key guard runs first"

    def work(session: Session) -> JSONResponse:
        organisation = documents.organisation_for_keys(session, key_set_id=key_set_id, identifier=identifier)
        if page is None or per_page is None:
            return responses.json_error(422, responses.PAGING_MESSAGE)
        found = documents.documents_page_for_keys(
            session, key_set_id=key_set_id, identifier=organisation.identifier, page=page, per_page=per_page
        )
        return responses.json_data(
            {
                "documents": [document_json(row) for row in found.rows],
                "page": found.page,
                "per_page": found.per_page,
                "total": found.total,
                "has_more": found.has_more,
                "next_page": found.page + 1 if found.has_more else None,
            }
        )

    answer = _with_session(request.app.state.engine_factory, work)
    assert answer is not None
    return answer


# --- POST -----------------------------------------------------------------------------------------


class _TooLarge(Exception):
    """The file passed the largest document size: stop reading."""


class _NotOneFile(Exception):
    """The form holds more than one file."""


@dataclasses.dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    disposition: bytes = b""
    header_name: bytes = b""
    header_value: bytes = b""


class UploadForm:
    """The fields of a streamed ``multipart/form-data`` upload: ``kind`` (short text) and ``file``
    (its name and bytes, no more than ``file_limit`` + 1 bytes are kept: ``_TooLarge`` past the
    limit). Other fields are skipped."""

    def __init__(self, boundary: bytes, *, file_limit: int) -> None:
        self.file_limit = file_limit
        self.kind: str | None = None
        self.filename = ""
        self.content: bytearray | None = None
        self._kind = bytearray()
        self._part = _Part()
        self._parser = MultipartParser(
            boundary,
            {  # type: ignore[arg-type]
                "on_part_begin": self._begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._end,
            },
        )

    def write(self, chunk: bytes) -> None:
        """Parse the next piece of the body (``_TooLarge``, ``_NotOneFile``, MultipartParseError)."""
        self._parser.write(chunk)

    def finish(self) -> None:
        """The whole body was parsed (MultipartParseError when it ended early)."""
        self._parser.finalize()

    def _begin(self) -> None:
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._part.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._part.header_value += data[start:end]

    def _header_end(self) -> None:
        if self._part.header_name.lower() == b"content-disposition":
            self._part.disposition = self._part.header_value
        self._part.header_name = self._part.header_value = b""

    def _headers_finished(self) -> None:
        _disposition, options = parse_options_header(self._part.disposition)
        self._part.name = options.get(b"name", b"").decode("utf-8", errors="replace")
        filename = options.get(b"filename")
        self._part.filename = filename.decode("utf-8", errors="replace") if filename is not None else None
        if self._part.name == FILE_FIELD:
            if self.content is not None:
                raise _NotOneFile
            self.content = bytearray()
            self.filename = self._part.filename or ""
        elif self._part.name == KIND_FIELD:
            self._kind = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part.name == FILE_FIELD and self.content is not None:
            self.content += data[start:end]
            if len(self.content) > self.file_limit:
                raise _TooLarge
        elif self._part.name == KIND_FIELD and len(self._kind) <= KIND_MAX_BYTES:
            self._kind += data[start:end]

    def _end(self) -> None:
        if self._part.name == KIND_FIELD:
            self.kind = (
                self._kind.decode("utf-8", errors="replace") if len(self._kind) <= KIND_MAX_BYTES else ""
            )


def _multipart_boundary(request: Request) -> bytes | None:
    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary or len(boundary) > 200:
        return None
    return boundary


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length", "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


async def documents_endpoint(request: Request) -> Response:
    """``GET`` (a page of documents) and ``POST`` (an upload) on one path, so a wrong method's
    ``405`` names both in ``Allow``."""
    if request.method == "POST":
        return await upload_document(request)
    return await run_in_threadpool(list_documents, request)


async def upload_document(request: Request) -> Response:
    """Upload one document (multipart: ``file`` and ``kind``)."""
    identifier = _organisation_identifier(request)
    if identifier is None:
        return responses.json_error(404, responses.NOT_AN_IDENTIFIER_MESSAGE)
    key_set_id = api_call(request).key_set_id
    assert key_set_id is not None, "the key guard runs first"
    engine_factory = request.app.state.engine_factory

    def reachable(session: Session) -> None:
        documents.organisation_for_keys(session, key_set_id=key_set_id, identifier=identifier)

    refusal = await run_in_threadpool(_with_session, engine_factory, reachable)
    if refusal is not None:
        return refusal  # 404 / 403 before a byte of the body is read
    boundary = _multipart_boundary(request)
    if boundary is None:
        return responses.json_error(415, responses.NOT_MULTIPART_MESSAGE)
    declared = _declared_length(request)
    if declared is not None and declared > body_allowance():
        return responses.json_error(413, documents.too_large_message())

    form = UploadForm(boundary, file_limit=documents.max_document_bytes())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_allowance():
                raise _TooLarge
            form.write(chunk)
        form.finish()
    except _TooLarge:
        return responses.json_error(413, documents.too_large_message())
    except _NotOneFile:
        return responses.json_error(422, responses.ONE_FILE_MESSAGE)
    except MultipartParseError:
        return responses.json_error(422, responses.BAD_MULTIPART_MESSAGE)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is listening any more

    content = bytes(form.content) if form.content is not None else None
    form.content = None  # the bytes are in `content` now: one copy in memory

    def store(session: Session) -> JSONResponse:
        document = documents.upload_document_with_keys(
            session,
            key_set_id=key_set_id,
            identifier=identifier,
            kind=form.kind,
            filename=form.filename,
            content=content,
        )
        return responses.json_data(document_json(document), status_code=201)

    answer = await run_in_threadpool(_with_session, engine_factory, store)
    assert answer is not None
    return answer
