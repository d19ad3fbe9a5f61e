"""The document store: a file's type is judged by its content alone, XML is parsed without DTDs or
entities, files are written atomically under random keys, and reading verifies the checksum."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from econnect_app.models import Document, DocumentFormat
from econnect_app.services import document_store
from econnect_app.services.document_store import DocumentUnavailable, detect_format, sanitize_filename

UBL = "urn:oasis:names:specification:ubl:schema:xsd"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
UBL_INVOICE = f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="{UBL}:Invoice-2"
         xmlns:cac="{UBL}:CommonAggregateComponents-2"
         xmlns:cbc="{UBL}:CommonBasicComponents-2">
  <cbc:UBLVersionID>2.1</cbc:UBLVersionID>
  <cbc:ID>INV-2025-001</cbc:ID>
  <cbc:IssueDate>2025-03-03</cbc:IssueDate>
  <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Bakkerij De Korenbloem</cbc:Name></cac:PartyName></cac:Party></cac:AccountingSupplierParty>
  <cac:LegalMonetaryTotal><cbc:PayableAmount currencyID="EUR">121.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
</Invoice>
""".encode()
UBL_CREDIT_NOTE = f'<CreditNote xmlns="{UBL}:CreditNote-2"><ID xmlns="{UBL}:CommonBasicComponents-2">C1</ID></CreditNote>'.encode()
PREFIXED_INVOICE = f'<?xml version="1.0"?><inv:Invoice xmlns:inv="{UBL}:Invoice-2"/>'.encode()
UTF16_INVOICE = f'<?xml version="1.0" encoding="UTF-16"?><Invoice xmlns="{UBL}:Invoice-2"/>'.encode("utf-16")
BILLION_LAUGHS = f"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<Invoice xmlns="{UBL}:Invoice-2"><Note>&lol9;</Note></Invoice>
""".encode()
EXTERNAL_ENTITY = f"""<?xml version="1.0"?>
<!DOCTYPE Invoice [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Invoice xmlns="{UBL}:Invoice-2"><Note>&secret;</Note></Invoice>
""".encode()
PLAIN_DOCTYPE = f'<?xml version="1.0"?><!DOCTYPE Invoice><Invoice xmlns="{UBL}:Invoice-2"/>'.encode()


# --- what a file is -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PDF, DocumentFormat.PDF),
        (b"%PDF-", DocumentFormat.PDF),
        (UBL_INVOICE, DocumentFormat.UBL),
        (UBL_CREDIT_NOTE, DocumentFormat.UBL),
        (PREFIXED_INVOICE, DocumentFormat.UBL),
        (b"\xef\xbb\xbf" + UBL_INVOICE, DocumentFormat.UBL),  # a byte order mark
        (UTF16_INVOICE, DocumentFormat.UBL),
    ],
    ids=["pdf", "pdf-magic-only", "ubl-invoice", "ubl-credit-note", "prefixed", "bom", "utf-16"],
)
def test_pdf_and_ubl_documents_are_recognised_by_their_content(
    content: bytes, expected: DocumentFormat
) -> None:
    assert detect_format(content) == expected


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"   \n",
        b"Not a PDF at all, although the file is called invoice.pdf",
        b" %PDF-1.7",  # the magic must open the file
        b"%PDF",  # not the whole magic
        b"PK\x03\x04 a zip file",
        b"\x89PNG\r\n\x1a\n",
        b"<html><body>invoice</body></html>",
        b'<?xml version="1.0"?><Invoice/>',  # no namespace
        b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-1"/>',  # not UBL 2
        f'<Order xmlns="{UBL}:Invoice-2"/>'.encode(),  # the root is not the namespace's document
        f'<cac:Party xmlns:cac="{UBL}:CommonAggregateComponents-2"/>'.encode(),  # a component
        f'<CommonAggregateComponents xmlns="{UBL}:CommonAggregateComponents-2"/>'.encode(),
        f'<Invoice xmlns="{UBL}:Invoice-2">'.encode(),  # not well-formed: never closed
        f'<Invoice xmlns="{UBL}:Invoice-2"/><Invoice xmlns="{UBL}:Invoice-2"/>'.encode(),  # two roots
        f'<?xml version="1.0" encoding="x-unknown"?><Invoice xmlns="{UBL}:Invoice-2"/>'.encode(),
        b"\xff\xfe\x00garbage",
    ],
    ids=[
        "empty", "blank", "text-named-pdf", "space-before-magic", "short-magic", "zip", "png", "html",
        "no-namespace", "ubl-1", "wrong-root", "component", "component-named-root", "unclosed",
        "two-roots", "unknown-encoding", "binary",
    ],
)  # fmt: skip
def test_anything_else_is_refused(content: bytes) -> None:
    assert detect_format(content) is None


@pytest.mark.parametrize(
    "content",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DOCTYPE],
    ids=["entity-bomb", "external-entity", "doctype"],
)
def test_xml_with_a_dtd_or_entities_is_refused_without_expanding_anything(content: bytes) -> None:
    started = time.perf_counter()
    assert detect_format(content) is None
    assert time.perf_counter() - started < 1  # nothing was expanded


def test_a_large_ubl_document_is_checked_quickly() -> None:
    line = b"<cac:InvoiceLine><cbc:ID>1</cbc:ID><cbc:LineExtensionAmount currencyID='EUR'>1</cbc:LineExtensionAmount></cac:InvoiceLine>\n"
    head, tail = UBL_INVOICE.split(b"</Invoice>")
    content = head + line * ((9 * 1024 * 1024) // len(line)) + b"</Invoice>" + tail
    started = time.perf_counter()
    assert detect_format(content) == DocumentFormat.UBL
    assert time.perf_counter() - started < 10


# --- the name shown -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "document_format", "shown"),
    [
        ("invoice-2025-001.pdf", DocumentFormat.PDF, "invoice-2025-001.pdf"),
        ("Factuur März.PDF", DocumentFormat.PDF, "Factuur März.pdf"),
        ("../../etc/passwd", DocumentFormat.PDF, "passwd.pdf"),
        ("C:\\Users\\ann\\Desktop\\bank statement.xml", DocumentFormat.UBL, "bank statement.xml"),
        ("in\x00voice\r\n\t.pdf", DocumentFormat.PDF, "invoice.pdf"),
        ("evil\u202egpj.pdf", DocumentFormat.PDF, "evilgpj.pdf"),  # no right-to-left override
        ("...hidden.pdf", DocumentFormat.PDF, "hidden.pdf"),
        ("invoice.xml", DocumentFormat.PDF, "invoice.xml.pdf"),  # named after what it really is
        ("statement", DocumentFormat.UBL, "statement.xml"),
        ("", DocumentFormat.UBL, "document.xml"),
        ("/", DocumentFormat.PDF, "document.pdf"),
        ("   ", DocumentFormat.PDF, "document.pdf"),
    ],
)
def test_the_shown_filename_is_sanitised(filename: str, document_format: DocumentFormat, shown: str) -> None:
    assert sanitize_filename(filename, document_format) == shown


def test_a_long_filename_is_cut_and_keeps_its_extension() -> None:
    shown = sanitize_filename("é" * 400 + ".pdf", DocumentFormat.PDF)
    assert len(shown) == 255 and shown.endswith("é.pdf")


# --- storing and reading --------------------------------------------------------------------------


def _document(stored: document_store.StoredFile) -> Document:
    return Document(
        id=7, organisation_id=1, kind="invoice", format="pdf", filename="invoice.pdf",
        content_type="application/pdf", size_bytes=stored.size, sha256=stored.sha256, storage_key=stored.storage_key,
    )  # fmt: skip


def test_a_stored_file_is_named_by_a_random_key_and_read_back_byte_for_byte(tmp_path: Path) -> None:
    first = document_store.store_bytes(PDF, root=tmp_path)
    second = document_store.store_bytes(PDF, root=tmp_path)

    assert first.storage_key != second.storage_key
    assert first.sha256 == second.sha256 == hashlib.sha256(PDF).hexdigest()
    assert first.size == len(PDF)
    path = document_store.path_of(first.storage_key, root=tmp_path)
    assert path == tmp_path / first.storage_key[:2] / first.storage_key
    assert path.read_bytes() == PDF
    assert path.stat().st_mode & 0o077 == 0  # readable by the app's user only
    assert document_store.read_document_bytes(_document(first), root=tmp_path) == PDF
    leftovers = [p.name for p in tmp_path.rglob("*") if p.is_file() and p.name.startswith(".incoming-")]
    assert leftovers == []


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(_descriptor: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        document_store.store_bytes(PDF, root=tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_missing_file_is_reported_clearly(tmp_path: Path) -> None:
    stored = document_store.store_bytes(PDF, root=tmp_path)
    document_store.remove(stored.storage_key, root=tmp_path)
    document_store.remove(stored.storage_key, root=tmp_path)  # harmless twice

    with pytest.raises(DocumentUnavailable, match=r"stored file of document 7 \(invoice.pdf\) is missing"):
        document_store.read_document_bytes(_document(stored), root=tmp_path)


@pytest.mark.parametrize("change", [b"%PDF-1.7 altered", PDF[:-5]], ids=["altered", "truncated"])
def test_an_altered_file_is_reported_instead_of_passed_on(tmp_path: Path, change: bytes) -> None:
    stored = document_store.store_bytes(PDF, root=tmp_path)
    document_store.path_of(stored.storage_key, root=tmp_path).write_bytes(change)

    with pytest.raises(DocumentUnavailable, match="does not match its SHA-256 checksum"):
        document_store.read_document_bytes(_document(stored), root=tmp_path)


@pytest.mark.parametrize("key", ["../../etc/passwd", "", "ab", "0" * 31 + "/", "A" * 32, "0" * 33])
def test_only_storage_keys_name_files(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not a document storage key"):
        document_store.path_of(key, root=tmp_path)
