"""Client Connect (seed 003) as people use it: the accountant finds no link yet (opening the page
writes nothing), creates it, regenerates it and asks the owner to connect by email (the accountant
in Cc of that same email); the owner opens the emailed link in a browser without an account and
connects Exact Online; the organisation's administrator is emailed; the accountant's page, open all
along and never reloaded, shows the connection, which the accountant then disconnects.

With two backend workers (make test-scale) the accountant and the owner are on different workers,
so the live change crosses workers through Redis.
"""

from __future__ import annotations

import re
import uuid

from flows import accountant_ready, client_signs_up_from_link, send_authorisation_request
from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from econnect_app.models import ActivityLog, AppConnection, ClientConnectLink, Organisation

LIVE_TIMEOUT_MS = 5_000  # a pushed change shows within a second; the margin is for busy CI machines


def _links_and_their_activity(
    session: Session, organisation_id: int
) -> tuple[list[ClientConnectLink], list[str]]:
    """The organisation's Client Connect links, and the activity rows that say one was created."""
    links = session.exec(
        select(ClientConnectLink).where(ClientConnectLink.organisation_id == organisation_id)
    ).all()
    created = session.exec(
        select(ActivityLog.action).where(
            ActivityLog.subject_id == organisation_id, ActivityLog.action == "client_connect.link_created"
        )
    ).all()
    return list(links), list(created)


def test_the_owner_connects_an_app_through_the_emailed_link_while_the_accountant_watches(
    page: Page, new_context, unique_email, mailbox, app_db, app_server
) -> None:
    accountant_email, client_email, owner_email = (
        unique_email("anna"),
        unique_email("piet"),
        unique_email("olga"),
    )
    suffix = uuid.uuid4().hex[:6]
    firm, organisation = f"De Vries {suffix} Accountants", f"Bakkerij {suffix} BV"

    # A firm and its client, partners through an accepted authorisation request; the client's
    # administrator (Piet) made the organisation, so he is its Administrator.
    accountant_ready(page, email=accountant_email, name="Anna de Vries", firm=firm, kvk="43456789")
    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=client_email, organisation=organisation
    )
    link = mailbox.wait_for_email(client_email, subject_contains=firm).link_to("/activate/")
    client = new_context().new_page()
    client_signs_up_from_link(
        client, link=link, email=client_email, name="Piet Bakker", company=f"Piet {suffix}"
    )
    client.get_by_label("KvK number", exact=True).fill("53456789")
    client.get_by_role("button", name="Accept").click()
    expect(client.get_by_role("status")).to_contain_text("You accepted")

    # The accountant opens the client's organisation: no link yet, and opening made none.
    page.goto("/organisations")
    page.get_by_role("link", name=organisation, exact=True).click()
    expect(page).to_have_url(re.compile(r"/organisations/\d+$"))
    section = page.get_by_role("region", name="Client Connect")
    expect(section.get_by_text("No Client Connect link yet")).to_be_visible()
    expect(section.get_by_role("button", name="Regenerate")).to_have_count(0)
    with app_db() as session:
        organisation_row = session.exec(select(Organisation).where(Organisation.name == organisation)).one()
        assert _links_and_their_activity(session, organisation_row.id) == ([], [])

    # Create link: the link to share, recorded once.
    section.get_by_role("button", name="Create link", exact=True).click()
    link_field = section.get_by_label("Client Connect link", exact=True)
    expect(link_field).to_have_value(re.compile(r"^http://.+/connect/[A-Za-z0-9_-]{43}$"))
    expect(section.get_by_text("No Client Connect link yet")).to_have_count(0)
    with app_db() as session:
        links, created = _links_and_their_activity(session, organisation_row.id)
        assert (len(links), created) == (1, ["client_connect.link_created"])
    first_link = link_field.input_value()
    expect(section.get_by_role("button", name="Copy link", exact=True)).to_be_visible()
    expect(section.get_by_text("No apps connected yet")).to_be_visible()

    # Regenerate (confirmed): the old link stops working at once and says only that.
    section.get_by_role("button", name="Regenerate").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("The current link stops working at once")
    confirm.get_by_role("button", name="Regenerate").click()
    expect(link_field).not_to_have_value(first_link)
    current_link = link_field.input_value()
    stranger = new_context().new_page()
    stranger.goto(first_link)
    expect(stranger.get_by_role("alert")).to_have_text("This link no longer works.")
    expect(stranger.get_by_label("Software package")).to_have_count(0)
    expect(stranger.get_by_text(organisation)).to_have_count(0)

    # Ask owner to connect: one email to the owner, the accountant in Cc.
    apps = section.get_by_role("group", name="Exact Online")
    apps.get_by_role("button", name="Ask owner to connect").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Link for the owner", exact=True)).to_have_value(
        f"{current_link}?app=exact-online"
    )
    dialog.get_by_label("Owner email", exact=True).fill("not-an-address")
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(dialog.get_by_text("Enter a valid email address, like name@example.com.")).to_be_visible()
    dialog.get_by_label("Owner email", exact=True).fill(owner_email)
    dialog.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text(f"Email sent to {owner_email}, with you in Cc.")).to_be_visible()
    expect(dialog).to_have_count(0)

    invitation = mailbox.wait_for_email(owner_email, subject_contains="asks you to connect Exact Online")
    assert invitation.subject == f"{firm} asks you to connect Exact Online for {organisation}"
    assert invitation.is_for(accountant_email)  # the same message: an envelope recipient and in Cc
    assert accountant_email in str(invitation.message["Cc"])
    assert owner_email in str(invitation.message["To"]) and accountant_email not in str(
        invitation.message["To"]
    )
    copies = [m for m in mailbox.messages_to(accountant_email) if "asks you to connect" in m.subject]
    assert copies == [invitation]
    owner_link = invitation.link_to("/connect/")
    assert owner_link == f"{current_link}?app=exact-online"

    # The owner opens it in a fresh browser, without an account: who asks, for which organisation.
    owner = new_context().new_page()
    owner.goto(owner_link)
    expect(owner.locator("#connect-firm")).to_have_text(firm)
    expect(owner.locator("#connect-organisation")).to_have_text(organisation)
    expect(owner.get_by_role("list", name="Available apps")).to_contain_text("Twinfield")
    expect(owner.get_by_label("Software package", exact=True)).to_have_value(
        "exact-online"
    )  # chosen by the link

    # Bad input: messages next to the fields, nothing connected.
    owner.get_by_label("Division number", exact=True).fill("12ab")
    owner.get_by_role("button", name="Connect", exact=True).click()
    expect(owner.get_by_text("A division number has digits only, e.g. 1234567.")).to_be_visible()
    expect(owner.get_by_text("Enter your name.")).to_be_visible()
    expect(owner.get_by_text("Agree to the terms to connect.")).to_be_visible()
    with app_db() as session:
        assert (
            session.exec(
                select(AppConnection).where(AppConnection.organisation_id == organisation_row.id)
            ).all()
            == []
        )

    # Another package asks for its own number.
    owner.get_by_label("Software package", exact=True).select_option("Twinfield")
    expect(owner.get_by_label("Office code", exact=True)).to_be_visible()
    owner.get_by_label("Software package", exact=True).select_option("Exact Online")
    owner.get_by_label("Division number", exact=True).fill("1234567")
    owner.get_by_label("Your name", exact=True).fill("Olga Owner")
    owner.get_by_label("Your email", exact=True).fill(owner_email)
    owner.get_by_role("checkbox", name="I agree to the terms").check()
    owner.get_by_role("button", name="Connect", exact=True).click()
    expect(owner.get_by_role("status")).to_contain_text(f"Exact Online is now connected to {organisation}.")

    # The accountant's page, never reloaded, shows the connection.
    row = section.locator("#client-connect-connections").get_by_role("row").filter(has_text="Exact Online")
    expect(row).to_contain_text("Connected", timeout=LIVE_TIMEOUT_MS)
    expect(row).to_contain_text("Olga Owner")
    expect(row).to_contain_text(owner_email)
    expect(row).to_contain_text("Division number 1234567")

    # The organisation's administrator is emailed.
    alert = mailbox.wait_for_email(client_email, subject_contains="was connected")
    assert alert.subject == f"Exact Online was connected to {organisation}"
    assert f"Olga Owner ({owner_email}) connected Exact Online" in alert.text
    assert "Division number 1234567" in alert.text

    # Disconnect (confirmed): kept as history, shown as Disconnected.
    row.get_by_role("button", name="Disconnect Exact Online").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Disconnect").click()
    expect(row).to_contain_text("Disconnected")
    expect(row).to_contain_text("by Anna de Vries")
    expect(row.get_by_role("button", name="Disconnect Exact Online")).to_have_count(0)

    with app_db() as session:
        [connection] = session.exec(
            select(AppConnection).where(AppConnection.organisation_id == organisation_row.id)
        ).all()
        links = session.exec(
            select(ClientConnectLink).where(ClientConnectLink.organisation_id == organisation_row.id)
        ).all()
    assert (connection.status, connection.connected_by_email) == ("Disconnected", owner_email)
    assert connection.disconnected_at is not None and connection.disconnected_by_id is not None
    assert sorted(link.revoked_at is None for link in links) == [False, True]
    assert all(
        current_link.rsplit("/", 1)[1] not in (link.token_hash, link.token_encrypted) for link in links
    )
