"""Named key sets on /keys: one per software installation, each rotated with a grace period for
its previous Secret (`Revoke now` ends it) or revoked whole, checked against the real HTTP API."""

from __future__ import annotations

import re

import httpx
from flows import accountant_ready
from playwright.sync_api import Locator, Page, expect


def _secret_of(region: Locator) -> str:
    field = region.get_by_label("Secret", exact=True)
    expect(field).to_have_value(re.compile(r"^sk_"))
    return field.input_value()


def test_two_key_sets_rotate_with_a_grace_period_and_revoke_on_their_own(
    page: Page, unique_email, app_server
) -> None:
    accountant_ready(
        page, email=unique_email("keys"), name="Anna de Vries", firm="Sleutel Accountants", kvk="43456789"
    )
    page.goto("/keys")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Default")  # the first one's name
    page.get_by_role("button", name="Create key set").click()
    default = page.get_by_role("region", name="Key set Default")
    first_secret = _secret_of(default)
    default_key = default.get_by_label("App key", exact=True).input_value()
    identifier = page.get_by_role("region", name="Sleutel Accountants BV").get_by_label(
        "Organisation identifier"
    )
    api = f"{app_server.backend_url}/api/v1/organisations/{identifier.input_value()}"

    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    page.get_by_label("Name", exact=True).fill("Branch office")
    page.get_by_role("button", name="Create key set").click()
    branch = page.get_by_role("region", name="Key set Branch office")
    branch_secret = _secret_of(branch)
    branch_key = branch.get_by_label("App key", exact=True).input_value()
    expect(default.get_by_label("Secret", exact=True)).to_have_count(0)  # one Secret on screen, its set's

    # Rotate asks first, then shows the new Secret; the old one keeps working until the time shown.
    default.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("keeps working for 24 hours")
    dialog.get_by_role("button", name="Rotate").click()
    second_secret = _secret_of(default)
    expect(default).to_contain_text("The previous Secret keeps working until")
    assert httpx.get(api, auth=(default_key, first_secret), timeout=10).status_code == 200
    assert httpx.get(api, auth=(default_key, second_secret), timeout=10).status_code == 200

    # Revoke now ends the grace period at once.
    default.get_by_role("button", name="Revoke now").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke now").click()
    # The toast says the server has done it (the closing dialog hides the page from the
    # accessibility tree for a moment, so the card alone proves nothing yet).
    expect(page.get_by_text("The previous Secret of \u201cDefault\u201d no longer works.")).to_be_visible()
    expect(default).not_to_contain_text("The previous Secret keeps working until")
    assert httpx.get(api, auth=(default_key, first_secret), timeout=10).status_code == 401
    assert httpx.get(api, auth=(default_key, second_secret), timeout=10).status_code == 200

    # Revoking a whole key set stops it at once; the other one keeps working.
    branch.get_by_role("button", name="Revoke key set").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke key set").click()
    expect(page.get_by_text("Key set \u201cBranch office\u201d revoked. Its keys no longer work.")).to_be_visible()
    expect(branch).to_have_count(0)
    assert httpx.get(api, auth=(branch_key, branch_secret), timeout=10).status_code == 401
    assert httpx.get(api, auth=(default_key, second_secret), timeout=10).status_code == 200

    # A name in use is refused next to the field.
    page.get_by_label("Name", exact=True).fill("default")
    page.get_by_role("button", name="Create key set").click()
    expect(page.get_by_text("A key set named “default” already exists. Choose another name.")).to_be_visible()
