"""Bulk authorisation requests from a CSV file, uploaded in the browser."""

from __future__ import annotations

import re

from flows import accountant_ready
from held_writes import writes_held
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app.models import AuthorisationRequest
from econnect_app.pages.new_authorisation import FILE_REFUSED_MESSAGE


def test_csv_upload_sends_valid_rows_and_reports_the_others(page: Page, unique_email, mailbox, app_db) -> None:
    accountant_ready(page, email=unique_email("lisa"), name="Lisa Mulder", firm="Mulder Fiscaal", kvk="78901234")
    first, second = unique_email("jan"), unique_email("els")
    csv_text = (
        "Client name,Email,Software package,Organisation\n"
        f"Jan de Boer,{first},Twinfield,De Boer Installatie BV\n"
        "Nobody,not-an-email,Twinfield,Nothing BV\n"
        f"Els Kok,{second},Moneybird,Kok Catering\n"
    )
    page.goto("/authorisations/new")
    page.locator("#authorisations-csv input[type=file]").set_input_files(
        files=[{"name": "clients.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}]
    )
    expect(page.get_by_role("status")).to_contain_text("2 requests sent.")
    expect(page.get_by_role("status")).to_contain_text("1 rows were not sent")
    problems = page.locator("#import-errors")
    expect(problems.get_by_role("row").filter(has_text="Nobody <not-an-email>")).to_contain_text("valid email address")
    expect(page.locator("#import-saved").get_by_role("row").filter(has_text=first)).to_contain_text("Jan de Boer")

    assert "Twinfield" in mailbox.wait_for_email(first, subject_contains="Mulder Fiscaal").text
    assert "Moneybird" in mailbox.wait_for_email(second, subject_contains="Mulder Fiscaal").text
    with app_db() as session:
        rows = session.exec(select(AuthorisationRequest).where(AuthorisationRequest.client_name.in_(["Jan de Boer", "Els Kok", "Nobody"]))).all()  # type: ignore[attr-defined]
    assert sorted(row.client_name for row in rows) == ["Els Kok", "Jan de Boer"]
    assert {row.status for row in rows} == {"Pending"}


def test_csv_import_shows_its_progress_while_it_runs_then_its_result(page: Page, unique_email, app_engine) -> None:
    accountant_ready(page, email=unique_email("kees"), name="Kees Smit", firm="Smit Boekhouding", kvk="89012345")
    rows = [f"Client {number},{unique_email(f'client{number}')},Twinfield,Client {number} BV" for number in range(1, 4)]
    csv_text = "Client name,Email,Software package,Organisation\n" + "\n".join(rows) + "\n"
    page.goto("/authorisations/new")
    expect(page.get_by_label("Client name", exact=True)).to_be_enabled()
    upload = page.locator("#authorisations-csv input[type=file]")
    progress = page.get_by_role("progressbar", name="Import progress")

    with writes_held(app_engine, "authorisation_request"):  # the import waits at its first row
        upload.set_input_files(files=[{"name": "clients.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}])
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
    page.locator("#authorisations-csv input[type=file]").set_input_files(
        files=[{"name": "klanten.txt", "mimeType": "text/plain", "buffer": csv_text.encode("cp1252")}]
    )

    status = page.get_by_role("status")
    expect(status).to_contain_text("1 requests sent.")
    expect(status).to_contain_text("Windows-1252")
    expect(page.locator("#import-errors").get_by_role("row").filter(has_text="3")).to_contain_text("not closed")
    with app_db() as session:
        [request] = session.exec(select(AuthorisationRequest).where(AuthorisationRequest.client_email == client)).all()
    assert (request.client_name, request.organisation_name) == ("José Müller", "Café Müller")


def test_a_file_over_the_size_limit_is_refused_in_the_browser(page: Page, unique_email, app_db) -> None:
    accountant_ready(page, email=unique_email("wim"), name="Wim Smit", firm="Smit Advies", kvk="56789012")
    page.goto("/authorisations/new")
    expect(page.get_by_label("Client name", exact=True)).to_be_enabled()
    too_large = b"Client name,Email,Software package,Organisation\n" + b"x" * (600 * 1024)

    page.locator("#authorisations-csv input[type=file]").set_input_files(
        files=[{"name": "clients.csv", "mimeType": "text/csv", "buffer": too_large}]
    )

    expect(page.get_by_text(FILE_REFUSED_MESSAGE)).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)
