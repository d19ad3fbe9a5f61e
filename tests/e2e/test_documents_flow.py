"""Documents in the browser: a logged-in user uploads a PDF on an organisation's documents page and
sees it in the list (in another open tab too, without a reload); a file that is not a PDF or UBL
2.1 XML, a missing kind and a refused file type each get their message and store nothing."""

from __future__ import annotations

import hashlib

from flows import accountant_ready
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import select

from econnect_app.models import Document, Organisation
from econnect_app.services import documents

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
FILE_INPUT = "#document-file input[type=file]"


def _choose_file(page: Page, name: str, content: bytes, mime: str) -> None:
    page.locator(FILE_INPUT).set_input_files(files=[{"name": name, "mimeType": mime, "buffer": content}])


def test_a_user_uploads_a_pdf_and_sees_it_in_the_list(
    page: Page, context: BrowserContext, unique_email, app_db, app_server
) -> None:
    accountant_ready(
        page, email=unique_email("noor"), name="Noor Visser", firm="Visser Boekhouding", kvk="45678912"
    )
    with app_db() as session:
        organisation = session.exec(
            select(Organisation).where(Organisation.name == "Visser Boekhouding BV")
        ).one()
    path = f"/organisations/{organisation.id}/documents"
    other_tab = context.new_page()  # the same user's other tab, left open on the list
    other_tab.goto(path)
    expect(other_tab.get_by_text("No documents yet")).to_be_visible()

    page.goto(path)
    expect(page.get_by_role("heading", name="Documents of Visser Boekhouding BV")).to_be_visible()
    expect(page.get_by_text("No documents yet")).to_be_visible()
    page.get_by_label("Kind", exact=True).select_option("Invoice")
    _choose_file(page, "factuur-2025-001.pdf", PDF, "application/pdf")
    expect(page.locator("#chosen-file")).to_have_text("factuur-2025-001.pdf")
    page.get_by_role("button", name="Upload document").click()

    expect(page.get_by_text("factuur-2025-001.pdf was uploaded.")).to_be_visible()
    row = page.locator("#documents").get_by_role("row").filter(has_text="factuur-2025-001.pdf")
    expect(row).to_contain_text("Invoice")
    expect(row).to_contain_text("PDF")
    expect(row).to_contain_text("Noor Visser")
    expect(row).to_contain_text(hashlib.sha256(PDF).hexdigest()[:12])
    expect(page.locator("#chosen-file")).to_have_count(0)  # the picker is ready for the next file
    expect(
        other_tab.locator("#documents").get_by_role("row").filter(has_text="factuur-2025-001.pdf")
    ).to_be_visible()

    with app_db() as session:
        [document] = session.exec(select(Document).where(Document.organisation_id == organisation.id)).all()
    assert (document.kind, document.format, document.sha256) == (
        "invoice",
        "pdf",
        hashlib.sha256(PDF).hexdigest(),
    )
    stored = app_server.data_dir / "documents" / document.storage_key[:2] / document.storage_key
    assert stored.read_bytes() == PDF


def test_wrong_files_and_a_missing_kind_get_their_messages(page: Page, unique_email, app_db) -> None:
    accountant_ready(
        page, email=unique_email("bram"), name="Bram de Wit", firm="De Wit Advies", kvk="56789123"
    )
    with app_db() as session:
        organisation = session.exec(select(Organisation).where(Organisation.name == "De Wit Advies BV")).one()
    page.goto(f"/organisations/{organisation.id}/documents")
    expect(page.get_by_text("No documents yet")).to_be_visible()
    upload = page.get_by_role("button", name="Upload document")

    # Named like a PDF, but it is not one: the server judges the content.
    page.get_by_label("Kind", exact=True).select_option("Statement")
    _choose_file(page, "statement.pdf", b"Just some text, whatever the name says.", "application/pdf")
    upload.click()
    expect(page.get_by_text(documents.WRONG_TYPE)).to_be_visible()

    # A valid file without a kind.
    page.get_by_label("Kind", exact=True).select_option("")
    _choose_file(page, "statement.pdf", PDF, "application/pdf")
    upload.click()
    expect(page.get_by_text(documents.CHOOSE_KIND)).to_be_visible()

    # A type the browser refuses before anything is sent.
    _choose_file(page, "notes.txt", b"notes", "text/plain")
    expect(page.get_by_text(documents.WRONG_TYPE)).to_be_visible()
    expect(page.locator("#chosen-file")).to_have_count(0)

    # Nothing chosen at all.
    page.get_by_label("Kind", exact=True).select_option("Invoice")
    upload.click()
    expect(page.get_by_text(documents.CHOOSE_FILE)).to_be_visible()

    expect(page.get_by_text("No documents yet")).to_be_visible()
    with app_db() as session:
        assert session.exec(select(Document).where(Document.organisation_id == organisation.id)).all() == []
