"""Bulk authorisation requests from a CSV file, uploaded in the browser: the template to fill in,
the preview (nothing sent yet: the rows ready to send and the rows with errors), then Send or Cancel."""

from __future__ import annotations

import re
from pathlib import Path

from flows import accountant_ready
from held_writes import writes_held
from playwright.sync_api import Page, expect
from sqlmodel import col, select

from econnect_app.models import AuthorisationRequest, OutboxMessage, User
from econnect_app.pages.new_authorisation import FILE_REFUSED_MESSAGE

HEADER = "Client name,Email,Software package,Organisation"


def choose_csv(page: Page, content: bytes, *, name: str = "clients.csv", mime: str = "text/csv") -> None:
    """Choose a file in the upload area (as dropping it there does)."""
    page.locator("#authorisations-csv input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": content}]
    )


def requests_to(app_db, *addresses: str) -> list[AuthorisationRequest]:
    with app_db() as session:
        statement = select(AuthorisationRequest).where(col(AuthorisationRequest.client_email).in_(addresses))
        return list(session.exec(statement))


def mails_to(app_db, *addresses: str) -> list[OutboxMessage]:
    with app_db() as session:
        return list(session.exec(select(OutboxMessage).where(col(OutboxMessage.to_address).in_(addresses))))


def test_the_template_downloads_with_the_columns_the_import_reads(page: Page, unique_email, app_db) -> None:
    accountant = unique_email("fleur")
    accountant_ready(page, email=accountant, name="Fleur Jansen", firm="Jansen Advies", kvk="34567890")
    page.goto("/authorisations/new")
    expect(page.get_by_label("Client name", exact=True)).to_be_enabled()

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV template").click()

    download = download_info.value
    assert download.suggested_filename == "econnect-authorisation-requests.csv"
    template = Path(download.path()).read_bytes()
    header, example = template.decode().splitlines()
    assert header == HEADER
    assert example == "Jan de Boer,jan@example.com,Twinfield,De Boer Installatie BV"

    # The downloaded file, uploaded as it is, is read without a problem; Cancel sends nothing.
    choose_csv(page, template, name=download.suggested_filename)
    preview = page.get_by_role("status")
    expect(preview).to_contain_text("1 row is ready to send.")
    expect(preview).to_contain_text("Nothing has been sent yet.")
    expect(page.locator("#preview-errors")).to_have_count(0)
    page.locator("#import-preview").get_by_role("button", name="Cancel").click()

    expect(page.get_by_role("button", name="Send 1 request")).to_have_count(0)
    expect(page.get_by_role("status")).to_have_count(0)
    with app_db() as session:
        environment_id = session.exec(select(User.environment_id).where(User.email == accountant)).one()
        sent = session.exec(
            select(AuthorisationRequest).where(AuthorisationRequest.environment_id == environment_id)
        ).all()
    assert sent == []


def test_a_csv_file_is_previewed_then_sent(page: Page, unique_email, mailbox, app_db) -> None:
    accountant_ready(page, email=unique_email("lisa"), name="Lisa Mulder", firm="Mulder Fiscaal", kvk="78901234")
    first, second, bad = unique_email("jan"), unique_email("els"), "not-an-email"
    csv_text = (
        f"{HEADER}\n"
        f"Jan de Boer,{first},Twinfield,De Boer Installatie BV\n"
        f"Nobody,{bad},Twinfield,Nothing BV\n"
        f"Els Kok,{second},Moneybird,Kok Catering\n"
    )
    page.goto("/authorisations/new")
    choose_csv(page, csv_text.encode())

    # The preview: what will be sent, and the row with its problem; nothing is sent yet.
    preview = page.get_by_role("status")
    expect(preview).to_contain_text("2 rows are ready to send. 1 row has errors (listed below).")
    expect(preview).to_contain_text("Nothing has been sent yet.")
    problem = page.locator("#preview-errors").get_by_role("row").filter(has_text="Nobody <not-an-email>")
    expect(problem).to_contain_text("3")
    expect(problem).to_contain_text("valid email address")
    send = page.get_by_role("button", name="Send 2 requests")
    expect(send).to_be_enabled()
    assert requests_to(app_db, first, second, bad) == []
    assert mails_to(app_db, first, second) == []
    assert mailbox.messages_to(first) == mailbox.messages_to(second) == []

    send.click()

    status = page.get_by_role("status")
    expect(status).to_contain_text("2 requests sent.")
    expect(status).to_contain_text("1 rows were not sent")
    expect(page.locator("#import-errors").get_by_role("row").filter(has_text="Nobody <not-an-email>")).to_contain_text(
        "valid email address"
    )
    expect(page.locator("#import-saved").get_by_role("row").filter(has_text=first)).to_contain_text("Jan de Boer")
    expect(page.locator("#import-preview")).to_have_count(0)

    assert "Twinfield" in mailbox.wait_for_email(first, subject_contains="Mulder Fiscaal").text
    assert "Moneybird" in mailbox.wait_for_email(second, subject_contains="Mulder Fiscaal").text
    rows = requests_to(app_db, first, second, bad)
    assert sorted(row.client_name for row in rows) == ["Els Kok", "Jan de Boer"]
    assert {row.status for row in rows} == {"Pending"}


def test_the_send_shows_its_progress_while_it_runs_then_its_result(page: Page, unique_email, app_engine) -> None:
    accountant_ready(page, email=unique_email("kees"), name="Kees Smit", firm="Smit Boekhouding", kvk="89012345")
    rows = [f"Client {number},{unique_email(f'client{number}')},Twinfield,Client {number} BV" for number in range(1, 4)]
    csv_text = f"{HEADER}\n" + "\n".join(rows) + "\n"
    page.goto("/authorisations/new")
    expect(page.get_by_label("Client name", exact=True)).to_be_enabled()
    choose_csv(page, csv_text.encode())
    send = page.get_by_role("button", name="Send 3 requests")
    progress = page.get_by_role("progressbar", name="Import progress")

    with writes_held(app_engine, "authorisation_request"):  # the send waits at its first row
        send.click()
        expect(progress).to_be_visible()
        expect(page.locator("#import-progress")).to_have_text(re.compile(r"Starting the import|Imported \d+ of 3 rows"))
        # The page stays usable while the import runs (it is a background event).
        page.get_by_label("Client name", exact=True).fill("Still typing")

    expect(page.get_by_role("status")).to_contain_text("3 requests sent.")
    expect(progress).to_have_count(0)
    expect(page.get_by_label("Client name", exact=True)).to_have_value("Still typing")


def test_a_dutch_excel_file_is_read_and_says_how(page: Page, unique_email, app_db) -> None:
    """Dutch column names, Windows-1252 (what Excel saves as CSV in the Netherlands), a .txt name."""
    accountant_ready(page, email=unique_email("sanne"), name="Sanne Bos", firm="Bos Advies", kvk="67890123")
    client = unique_email("jose")
    csv_text = (
        "Naam;E-mail;Softwarepakket;Organisatie\r\n"
        f"José Müller;{client};Twinfield;Café Müller\r\n"
        '"Piet;piet@example.com;Twinfield;Piet BV\r\n'  # a quote that is never closed
    )
    page.goto("/authorisations/new")
    choose_csv(page, csv_text.encode("cp1252"), name="klanten.txt", mime="text/plain")

    expect(page.get_by_role("status")).to_contain_text("Windows-1252")
    expect(page.locator("#preview-errors").get_by_role("row").filter(has_text="3")).to_contain_text("not closed")
    page.get_by_role("button", name="Send 1 request").click()

    status = page.get_by_role("status")
    expect(status).to_contain_text("1 requests sent.")
    expect(status).to_contain_text("Windows-1252")
    expect(page.locator("#import-errors").get_by_role("row").filter(has_text="3")).to_contain_text("not closed")
    [request] = requests_to(app_db, client)
    assert (request.client_name, request.organisation_name) == ("José Müller", "Café Müller")


def test_a_file_over_the_size_limit_is_refused_in_the_browser(page: Page, unique_email, app_db) -> None:
    accountant_ready(page, email=unique_email("wim"), name="Wim Smit", firm="Smit Advies", kvk="56789012")
    page.goto("/authorisations/new")
    expect(page.get_by_label("Client name", exact=True)).to_be_enabled()
    too_large = HEADER.encode() + b"\n" + b"x" * (600 * 1024)

    choose_csv(page, too_large)

    expect(page.get_by_text(FILE_REFUSED_MESSAGE)).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)
