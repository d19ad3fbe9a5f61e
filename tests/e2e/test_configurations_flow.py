"""/configurations in the browser: an Administrator creates an SFTP configuration against a real
SFTP server on 127.0.0.1 started by the test (tests/support/sftp_server.py). Connect refuses a
missing consent and a wrong password with their messages and saves nothing; with the right
password the server is checked (log-in, host key recorded, test file written and removed) and the
configuration is listed. `Modify` offers the two exports for accounting.

The e2e app has no Dropbox or Octopus settings, so those options say they are not configured.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flows import accountant_ready
from playwright.sync_api import Page, expect
from sqlmodel import select

from econnect_app import crypto
from econnect_app.exports import credentials
from econnect_app.models import AccountingConfiguration, ActivityLog
from econnect_app.settings import get_settings
from tests.support.sftp_server import SftpTestServer, running_sftp_server


@pytest.fixture()
def sftp_server(tmp_path: Path) -> Iterator[SftpTestServer]:
    with running_sftp_server(tmp_path / "sftp") as server:
        yield server


def test_an_administrator_connects_an_sftp_server_and_modifies_its_exports(
    page: Page, unique_email, app_db, app_server, sftp_server: SftpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    accountant_ready(
        page, email=unique_email("cfg"), name="Carla Smit", firm="Smit Accountants", kvk="47654321"
    )
    page.goto("/configurations")
    expect(page.get_by_text("No configurations yet")).to_be_visible()

    page.get_by_role("button", name="New configuration").click()
    expect(page.get_by_text("Dropbox is not configured on this server.")).to_be_visible()
    expect(page.get_by_text("Octopus is not configured on this server.")).to_be_visible()
    expect(page.get_by_label("Dropbox", exact=True)).to_be_disabled()
    page.get_by_label("SFTP", exact=True).check()
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_label("Port", exact=True)).to_have_value("22")
    page.get_by_label("Name", exact=True).fill("Office SFTP")
    page.get_by_label("Username", exact=True).fill(sftp_server.username)
    page.get_by_label("Password", exact=True).fill("not the password")
    page.get_by_label("Host", exact=True).fill(sftp_server.host)
    page.get_by_label("Port", exact=True).fill(str(sftp_server.port))

    # No consent: refused next to the checkbox, before any server is contacted.
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text("Agree to the terms of service to connect.")).to_be_visible()
    assert sftp_server.logins == []

    # A wrong password: the server's refusal, next to the password; nothing saved.
    page.get_by_label("I agree to the terms of service").check()
    page.get_by_role("button", name="Connect").click()
    expect(page.locator("#field-password-error")).to_have_text(
        f"The SFTP server at 127.0.0.1:{sftp_server.port} refused the username or password."
    )
    with app_db() as session:
        assert session.exec(select(AccountingConfiguration)).all() == []

    # The right password: checked, saved, listed.
    page.get_by_label("Password", exact=True).fill(sftp_server.password)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_text(re.compile("is connected"))).to_be_visible()
    listed = page.locator("#configurations").get_by_role("row").filter(has_text="Office SFTP")
    expect(listed).to_contain_text(f"{sftp_server.username}@127.0.0.1, port {sftp_server.port}")
    expect(listed).to_contain_text("Connected")
    expect(listed).to_contain_text("Invoices")
    assert sftp_server.logins[-1] == (sftp_server.username, True)
    assert sftp_server.files() == []  # the test file was removed
    with app_db() as session:
        configuration = session.exec(select(AccountingConfiguration)).one()
        assert configuration.sftp_host_key == sftp_server.host_key
        assert configuration.credentials_encrypted.startswith("fernet:")
        assert sftp_server.password not in configuration.credentials_encrypted
    # Encrypted with the app's ECONNECT_SECRET_KEY.
    app_settings = dataclasses.replace(get_settings(), secret_key=app_server.secret_key)
    monkeypatch.setattr(crypto, "get_settings", lambda: app_settings)
    assert credentials.unseal(configuration.credentials_encrypted) == {"password": sftp_server.password}

    # Modify: the two exports for accounting.
    listed.get_by_role("button", name="Modify").click()
    dialog = page.get_by_role("dialog")
    invoices = dialog.get_by_role("switch", name="Invoices export for accounting")
    statements = dialog.get_by_role("switch", name="Bank statements export for accounting")
    expect(invoices).to_be_checked()
    expect(statements).not_to_be_checked()
    statements.click()
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    expect(listed).to_contain_text("Invoices and bank statements")
    with app_db() as session:
        stored = session.exec(select(AccountingConfiguration)).one()
        assert (stored.exports_invoices, stored.exports_statements) == (True, True)
        actions = session.exec(
            select(ActivityLog.action)
            .where(ActivityLog.subject_type == "accounting_configuration")
            .order_by(ActivityLog.id)
        ).all()
        assert actions == ["configurations.created", "configurations.modified"]
