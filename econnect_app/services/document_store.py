"""Where the bytes of documents live: files under ``settings.documents_path`` (``ECONNECT_DOCUMENT_DIR``,
by default ``<data folder>/documents``), one file per document.

- **Type by content**, never by name (``detect_format``): a PDF starts with ``%PDF-``; a UBL 2.1
  document is well-formed XML, parsed with defusedxml (a DTD, an entity declaration or an external
  reference is refused, so no entity expansion bomb gets anywhere), whose root element is a UBL
  document in its own namespace (``urn:oasis:names:specification:ubl:schema:xsd:<Name>-2``, e.g.
  ``<Invoice>`` in ``...:Invoice-2``, ``<CreditNote>`` in ``...:CreditNote-2``).
- **Stored atomically** (``store_bytes``): written to a temporary file in the target folder, flushed
  to disk, then renamed into place, so a file is either absent or complete. It is named by a random
  storage key (128 bits, hex), never by anything the user sent; the folder is ``<key[:2]>/``.
- **Checked when read** (``read_document_bytes``): the SHA-256 recorded at upload is compared with
  the bytes read, so a missing, truncated or altered file is reported rather than passed on.

Nothing here touches the database; ``services/documents.py`` owns the rules and the rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from econnect_app.models import DocumentFormat
from econnect_app.services.errors import DomainError
from econnect_app.settings import get_settings

if TYPE_CHECKING:
    from econnect_app.models import Document

PDF_MAGIC = b"%PDF-"
CONTENT_TYPES: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "application/pdf",
    DocumentFormat.UBL: "application/xml",
}
EXTENSIONS: dict[DocumentFormat, str] = {DocumentFormat.PDF: ".pdf", DocumentFormat.UBL: ".xml"}
FILENAME_MAX_LENGTH = 255  # the length of ``document.filename``
# A UBL 2.x document namespace; the root element's local name is the document's name.
UBL_DOCUMENT_NAMESPACE = re.compile(r"urn:oasis:names:specification:ubl:schema:xsd:([A-Za-z]+)-2")
# Namespaces of UBL's building blocks, not of a document (no document is named like them).
UBL_COMPONENT_PREFIXES = ("Common", "Qualified", "Unqualified", "Signature")
STORAGE_KEY_FORM = re.compile(r"[0-9a-f]{32}")
_INCOMING_PREFIX = ".incoming-"


class DocumentUnavailable(DomainError):
    """A document's stored file is missing, or its bytes no longer match the recorded SHA-256."""


@dataclass(frozen=True)
class StoredFile:
    """A file written to the store: its key (what ``document.storage_key`` holds), checksum, size."""

    storage_key: str
    sha256: str
    size: int


def documents_root() -> Path:
    """The folder holding the documents (tests point it elsewhere)."""
    return get_settings().documents_path


# --- what a file is -------------------------------------------------------------------------------


class _RootElement:
    """A parser target that keeps only the root element's name (the rest is checked, not kept)."""

    def __init__(self) -> None:
        self.tag: str | None = None

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        if self.tag is None:
            self.tag = tag

    def close(self) -> str | None:
        return self.tag


def _ubl_root(content: bytes) -> str | None:
    """The root element (``{namespace}name``) of well-formed XML without DTD or entities, or None
    when ``content`` is anything else."""
    target = _RootElement()
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(content)
        return parser.close()
    except (ParseError, DefusedXmlException, ValueError, LookupError):
        # Not well-formed, a DTD / entity / external reference, an unknown encoding.
        return None


def is_ubl_document_root(tag: str) -> bool:
    """Whether ``{namespace}name`` is a UBL 2.x document's root element (``Invoice`` in
    ``...:xsd:Invoice-2``, ``CreditNote`` in ``...:xsd:CreditNote-2``, ...)."""
    namespace, separator, name = tag[1:].partition("}")
    if not tag.startswith("{") or not separator:
        return False
    match = UBL_DOCUMENT_NAMESPACE.fullmatch(namespace)
    return bool(match) and match.group(1) == name and not name.startswith(UBL_COMPONENT_PREFIXES)


def detect_format(content: bytes) -> DocumentFormat | None:
    """What ``content`` is, judged by its bytes alone: PDF, UBL 2.1 XML, or None (anything else)."""
    if content.startswith(PDF_MAGIC):
        return DocumentFormat.PDF
    if not content.strip():
        return None
    root = _ubl_root(content)
    if root is not None and is_ubl_document_root(root):
        return DocumentFormat.UBL
    return None


def content_type_of(document_format: DocumentFormat | str) -> str:
    """The media type a document of this format is stored and delivered with."""
    return CONTENT_TYPES[DocumentFormat(document_format)]


def sanitize_filename(filename: str, document_format: DocumentFormat | str) -> str:
    """The name shown for an uploaded file: its last path segment, printable characters only (no
    control, format or separator characters; whitespace collapsed), no leading dots, at most 255
    characters, ending with the extension of what the file really is (``.pdf`` / ``.xml``)."""
    extension = EXTENSIONS[DocumentFormat(document_format)]
    name = unicodedata.normalize("NFC", str(filename or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(
        " " if character.isspace() else character
        for character in name
        if character.isspace() or not unicodedata.category(character).startswith(("C", "Z"))
    )
    name = " ".join(name.split()).lstrip(". ").rstrip(". ")
    stem = name[: -len(extension)] if name.lower().endswith(extension) else name
    stem = stem.rstrip(". ")[: FILENAME_MAX_LENGTH - len(extension)].rstrip(". ")
    return (stem or "document") + extension


# --- storing and reading --------------------------------------------------------------------------


def sha256_of(content: bytes) -> str:
    """The hex SHA-256 of ``content``."""
    return hashlib.sha256(content).hexdigest()


def path_of(storage_key: str, *, root: Path | None = None) -> Path:
    """Where the file with ``storage_key`` lives (ValueError for anything that is not a key)."""
    if not STORAGE_KEY_FORM.fullmatch(storage_key or ""):
        raise ValueError("not a document storage key")
    return (root or documents_root()) / storage_key[:2] / storage_key


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def store_bytes(content: bytes, *, root: Path | None = None) -> StoredFile:
    """Write ``content`` under a new random storage key, atomically (temporary file, flushed to
    disk, renamed into place); readable by this process's user only."""
    storage_key = secrets.token_hex(16)
    target = path_of(storage_key, root=root)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=_INCOMING_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(target.parent)
    return StoredFile(storage_key=storage_key, sha256=sha256_of(content), size=len(content))


def remove(storage_key: str, *, root: Path | None = None) -> None:
    """Remove a stored file (when the row that would have pointed to it was not written)."""
    with contextlib.suppress(FileNotFoundError):
        path_of(storage_key, root=root).unlink()


def read_document_bytes(document: Document, *, root: Path | None = None) -> bytes:
    """The bytes of ``document``, verified against its SHA-256 checksum.

    DocumentUnavailable (a DomainError whose message names the document) when the file is missing
    or unreadable, or when its bytes differ from what was uploaded (altered, truncated, damaged).
    """
    label = f"document {document.id} ({document.filename})"
    try:
        content = path_of(document.storage_key, root=root).read_bytes()
    except FileNotFoundError:
        raise DocumentUnavailable(f"The stored file of {label} is missing.") from None
    except (OSError, ValueError) as error:
        raise DocumentUnavailable(f"The stored file of {label} cannot be read: {error}.") from None
    if sha256_of(content) != document.sha256:
        raise DocumentUnavailable(
            f"The stored file of {label} does not match its SHA-256 checksum: it was altered or damaged."
        )
    return content
