"""Documents that really reach the accountant's package (seed 004), end to end: the accountant
creates an SFTP configuration in the browser against a real SFTP server on 127.0.0.1
(tests/support/sftp_server.py), assigns it to a client organisation it manages, activates the
online connection for export invoices, and a PDF uploaded through the API with the connection keys
arrives on the server byte for byte while the open page shows it Delivered. A document uploaded
before the activation is offered and sent with Export earlier documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flows import accountant_ready, client_signs_up_from_link, send_authorisation_request
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import Document, DocumentDelivery, Organisation
from tests.support.sftp_server import SftpTestServer, running_sftp_server

DELIVERY_TIMEOUT_MS = 20_000  # the worker is woken by the upload; SSH login and transfer take a moment
CONFIGURATION_NAME = "Office SFTP"


def pdf(label: str) -> bytes:
    """A small PDF whose bytes differ per label (and include every byte value)."""
    return b"%PDF-1.7\n% " + label.encode() + b"\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"


@pytest.fixture()
def sftp_server(tmp_path: Path) -> Iterator[SftpTestServer]:
    with running_sftp_server(tmp_path / "sftp") as server:
        yield server


def upload(app_server, identifier: str, keys: tuple[str, str], *, filename: str, content: bytes) -> dict:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{app_server.backend_url}/api/v1/organisations/{identifier}/documents",
        auth=keys,
        data={"kind": "invoice"},
        files={"file": (filename, content, "application/pdf")},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()


def create_sftp_configuration(page: Page, server: SftpTestServer) -> None:
    """/configurations: New configuration -> SFTP -> Next, the server's details, Connect (which logs
    in to the server and writes a test file before saving)."""
    page.goto("/configurations")
    page.get_by_role("button", name="New configuration").click()
    page.get_by_label("SFTP", exact=True).check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Name", exact=True).fill(CONFIGURATION_NAME)
    page.get_by_label("Username", exact=True).fill(server.username)
    page.get_by_label("Password", exact=True).fill(server.password)
    page.get_by_label("Host", exact=True).fill(server.host)
    page.get_by_label("Port", exact=True).fill(str(server.port))
    page.get_by_label("I agree to the terms of service").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text(f"\u201c{CONFIGURATION_NAME}\u201d is connected")).to_be_visible()
    expect(page.locator("#configurations").get_by_role("row").filter(has_text=CONFIGURATION_NAME)).to_be_visible()


def test_an_invoice_uploaded_with_the_keys_arrives_on_the_accountants_sftp_server(
    page: Page, new_context, unique_email, mailbox, app_db, app_server, sftp_server: SftpTestServer
) -> None:
    accountant_email, client_email = unique_email("anna"), unique_email("piet")
    accountant_ready(page, email=accountant_email, name="Anna de Vries", firm="De Vries Accountants", kvk="41234561")
    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Export BV"
    )
    link = mailbox.wait_for_email(client_email, subject_contains="De Vries Accountants").link_to("/activate/")
    client = new_context().new_page()
    client_signs_up_from_link(client, link=link, email=client_email, name="Piet Bakker", company="Bakkerij Export")
    client.get_by_label("KvK number", exact=True).fill("51234561")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status")).to_contain_text("You accepted")

    # The accountant's connection keys reach the client's organisation.
    page.goto("/keys")
    page.get_by_role("button", name="Create key set").click()
    keys = (page.get_by_label("App key", exact=True).input_value(), page.get_by_label("Secret", exact=True).input_value())
    client_row = page.locator("#client-organisations").get_by_role("row").filter(has_text="Bakkerij Export BV")
    identifier = client_row.get_by_label("Organisation identifier").input_value()
    earlier = pdf("invoice uploaded before the activation")
    upload(app_server, identifier, keys, filename="earlier.pdf", content=earlier)

    create_sftp_configuration(page, sftp_server)

    with app_db() as session:
        organisation = session.exec(select(Organisation).where(Organisation.identifier == identifier)).one()
    page.goto(f"/organisations/{organisation.id}")
    section = page.get_by_role("region", name="Accounting package connection")
    activate = section.get_by_role("button", name="Activate online connection for export invoices")
    share = section.get_by_role("switch", name="Share documents with accountant")
    expect(share).not_to_be_checked()

    # Activation needs sharing and a configuration first: it says so and changes nothing.
    activate.click()
    expect(page.get_by_text("Turn on Share documents with accountant first.")).to_be_visible()
    share.click()
    expect(share).to_be_checked()
    activate.click()
    expect(page.get_by_text("Choose a configuration first.")).to_be_visible()

    section.get_by_label("Configuration", exact=True).select_option(label=f"{CONFIGURATION_NAME} (SFTP)")
    expect(page.get_by_text("go to the configuration you chose")).to_be_visible()
    activate.click()
    expect(section.get_by_role("button", name="Deactivate online connection for export invoices")).to_be_visible()

    # The invoice from before is offered, not sent by itself.
    offer = section.get_by_text("1 earlier invoice was not exported.")
    expect(offer).to_be_visible()

    # A new invoice through the API arrives on the SFTP server; the open page shows it live.
    content = pdf("invoice after the activation")
    upload(app_server, identifier, keys, filename="Factuur 2026-001.pdf", content=content)
    log = section.locator("#delivery-log")
    row = log.get_by_role("row").filter(has_text="Factuur 2026-001.pdf")
    expect(row.get_by_text("Delivered", exact=True)).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)
    remote_path = delivered_path(app_db, document_name="Factuur 2026-001.pdf")
    assert hashlib.sha256(sftp_server.read(remote_path)).hexdigest() == hashlib.sha256(content).hexdigest()
    expect(row).to_contain_text(remote_path)

    # Export earlier documents sends the one from before, once.
    section.get_by_role("button", name="Export earlier documents").click()
    expect(offer).to_have_count(0)
    earlier_row = log.get_by_role("row").filter(has_text="earlier.pdf")
    expect(earlier_row.get_by_text("Delivered", exact=True)).to_be_visible(timeout=DELIVERY_TIMEOUT_MS)
    earlier_path = delivered_path(app_db, document_name="earlier.pdf")
    assert sftp_server.read(earlier_path) == earlier
    assert len(sftp_server.files()) == 2

    # The client's own page says who receives its documents.
    client.goto(f"/organisations/{organisation.id}")
    shared = client.get_by_role("region", name="Accounting package connection")
    expect(shared).to_contain_text("De Vries Accountants")
    expect(shared).to_contain_text("Online connection for export invoices")
    expect(shared.get_by_role("switch")).to_have_count(0)

    # Deactivating asks first; new invoices then stay in eConnect.
    section.get_by_role("button", name="Deactivate online connection for export invoices").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("are no longer delivered")
    dialog.get_by_role("button", name="Deactivate").click()
    expect(activate).to_be_visible()
    upload(app_server, identifier, keys, filename="after.pdf", content=pdf("after the deactivation"))
    expect(log.get_by_role("row").filter(has_text="after.pdf")).to_have_count(0)
    expect(section.get_by_text("1 earlier invoice was not exported.")).to_have_count(0)  # shown only while active
    assert len(sftp_server.files()) == 2


def delivered_path(app_db, *, document_name: str) -> str:  # type: ignore[no-untyped-def]
    with app_db() as session:
        delivery = session.exec(
            select(DocumentDelivery)
            .join(Document, Document.id == DocumentDelivery.document_id)  # type: ignore[arg-type]
            .where(Document.filename == document_name)
        ).one()
    assert delivery.status == "Delivered", delivery.last_error
    return delivery.remote_path
