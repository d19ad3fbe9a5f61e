"""The main flow (SPEC.md, five steps): request, email, accept in another browser, the live
dashboard, connection keys that work against the HTTP API."""

from __future__ import annotations

import re

import httpx
from flows import accountant_ready, client_signs_up_from_link, send_authorisation_request
from playwright.sync_api import Page, WebSocket, expect
from sqlmodel import select

from econnect_app import security
from econnect_app.models import (
    AuthorisationRequest,
    Environment,
    KeySet,
    Membership,
    Organisation,
    Partnership,
    User,
)


def _record_frames(page: Page, frames: list[str]) -> None:
    def on_socket(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_socket)


def test_accept_creates_a_partnership_live_and_keys_work(
    page: Page, new_context, unique_email, mailbox, app_db, app_server
) -> None:
    frames: list[str] = []
    accountant_email = unique_email("anna")
    client_email = unique_email("piet")
    accountant_ready(page, email=accountant_email, name="Anna de Vries", firm="De Vries Accountants", kvk="45678901")

    # The dashboard stays open, never reloaded, for the whole test.
    page.goto("/dashboard")
    expect(page.locator("#stat-active-partnerships")).to_have_text("0")
    expect(page.locator("#stat-client-organisations")).to_have_text("0")

    work = page.context.new_page()
    _record_frames(work, frames)
    send_authorisation_request(
        work, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Piet BV"
    )
    expect(work.locator("#sent-requests").get_by_role("row").filter(has_text=client_email)).to_contain_text("Pending")
    expect(page.locator("#stat-pending-requests")).to_have_text("1")

    message = mailbox.wait_for_email(client_email, subject_contains="De Vries Accountants")
    assert "Bakkerij Piet BV" in message.text and "Exact Online" in message.text
    assert "14 days" in message.text or "until" in message.text
    link = message.link_to("/activate/")

    client = new_context().new_page()
    _record_frames(client, frames)
    client.goto(link)
    expect(client.get_by_text("De Vries Accountants").first).to_be_visible()
    expect(client.get_by_role("button", name="Log in")).to_be_visible()
    client_signs_up_from_link(client, link=link, email=client_email, name="Piet Bakker", company="Bakkerij Piet")
    client.get_by_label("KvK number", exact=True).fill("56789012")
    expect(client.get_by_label("Organisation name", exact=True)).to_have_value("Bakkerij Piet BV")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status")).to_contain_text("You accepted")

    # Pushed to the open dashboard, without a reload.
    expect(page.locator("#stat-active-partnerships")).to_have_text("1")
    expect(page.locator("#stat-client-organisations")).to_have_text("1")
    expect(page.locator("#stat-pending-requests")).to_have_text("0")

    with app_db() as session:
        request = session.exec(select(AuthorisationRequest).where(AuthorisationRequest.client_email == client_email)).one()
        accountant = session.exec(select(User).where(User.email == accountant_email)).one()
        organisation = session.get(Organisation, request.client_organisation_id)
        memberships = session.exec(
            select(Membership).where(Membership.organisation_id == organisation.id, Membership.user_id == accountant.id)
        ).all()
        partnerships = session.exec(select(Partnership).where(Partnership.id == request.partnership_id)).all()
    assert request.status == "Accepted"
    assert len(memberships) == 1 and len(partnerships) == 1 and partnerships[0].status == "Active"

    # Connection keys: create a key set, copy the App key, the Secret and the identifier.
    work.goto("/keys")
    work.get_by_role("button", name="Create key set").click()
    secret_field = work.get_by_label("Secret", exact=True)
    expect(secret_field).to_have_value(re.compile(r"^sk_"))
    secret = secret_field.input_value()
    app_key = work.get_by_label("App key", exact=True).input_value()
    region = work.locator("#client-organisations").get_by_role("row").filter(has_text="Bakkerij Piet BV")
    identifier = region.get_by_label("Organisation identifier").input_value()
    assert identifier == organisation.identifier
    expect(region).to_contain_text("Exact Online")

    api = f"{app_server.backend_url}/api/v1/organisations"
    answer = httpx.get(f"{api}/{identifier}", auth=(app_key, secret), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == "Bakkerij Piet BV"
    assert answer.json()["kvk_number"] == "56789012"

    with app_db() as session:
        other_environment = Environment(name="Somebody Else")
        session.add(other_environment)
        session.flush()
        stranger = Organisation(
            environment_id=other_environment.id,
            name="Stranger BV",
            kvk_number="99999999",
            identifier=security.new_public_identifier(),
        )
        session.add(stranger)
        session.commit()
        stranger_identifier = stranger.identifier
        key_set = session.exec(select(KeySet).where(KeySet.environment_id == accountant.environment_id)).one()
    forbidden = httpx.get(f"{api}/{stranger_identifier}", auth=(app_key, secret), timeout=10)
    assert forbidden.status_code == 403 and "error" in forbidden.json()
    assert httpx.get(f"{api}/{identifier}", auth=(app_key, "sk_wrong"), timeout=10).status_code == 401

    # The Secret is shown once: after a reload it is gone from the page and from the state.
    frames_before_reload = len(frames)
    work.reload()
    expect(work.get_by_label("App key", exact=True)).to_have_value(app_key)
    expect(work.get_by_label("Secret", exact=True)).to_have_count(0)
    assert not any(secret in frame for frame in frames[frames_before_reload:])
    # No hash of any secret or token ever reaches a browser.
    assert frames, "the websocket traffic was recorded"
    for stored_hash in (key_set.secret_hash, accountant.password_hash):
        assert not any(stored_hash in frame for frame in frames)
    assert not any(security.hash_token(link.rsplit("/", 1)[-1]) in frame for frame in frames)
