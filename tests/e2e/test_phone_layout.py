"""Lists on a phone (issue 10): at 390 px wide each row is a card with its status and its actions in
view, nothing pushed off the screen to the right: the requests, organisations and users lists, the
partnerships with their details, an organisation's members and documents, and the configurations."""

from __future__ import annotations

import re
import uuid

import asyncssh
from flows import accountant_ready, log_in, send_authorisation_request
from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from econnect_app import security
from econnect_app.models import (
    AccountingConfiguration,
    ConfigurationTarget,
    Environment,
    Membership,
    Organisation,
    Partnership,
    Role,
    User,
    utcnow,
)

PHONE = {"width": 390, "height": 844}


def _within_the_screen(element: Locator) -> None:
    """The element is visible and lies inside the phone's width."""
    expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"off-screen: {box}"


def _no_sideways_scroll(phone: Page) -> None:
    """The page as a whole does not scroll sideways."""
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_the_requests_list_is_cards_with_status_and_actions_in_view(
    page: Page, new_context, unique_email
) -> None:
    anna_email = unique_email("anna")
    accountant_ready(page, email=anna_email, name="Anna de Vries", firm="Phone Partners", kvk="56781277")
    client_email = unique_email("piet")
    send_authorisation_request(
        page, client_name="Piet Bakker", client_email=client_email, organisation="Bakkerij Korenbloem BV"
    )

    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    log_in(phone, email=anna_email)
    expect(phone).to_have_url(re.compile(r"/dashboard/?$"))
    phone.goto("/authorisations")
    card = phone.locator("#sent-requests tbody tr").filter(has_text="Piet Bakker")
    _within_the_screen(card)
    _within_the_screen(card.get_by_text("Pending", exact=True))
    _within_the_screen(card.get_by_role("button", name=f"Resend to {client_email}"))
    _within_the_screen(card.get_by_role("button", name=f"Withdraw request to {client_email}"))
    # Each value is named in the card; sorting stays at hand above the cards.
    expect(card.locator("[data-label='Expires']")).to_be_visible()
    _within_the_screen(phone.get_by_role("button", name="Sort by Client"))
    # The page as a whole does not scroll sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Organisations and users: cards too, their switches and selects within reach.
    phone.goto("/organisations")
    organisation = phone.locator("#organisations tbody tr").filter(has_text="Phone Partners BV")
    _within_the_screen(organisation)
    _within_the_screen(
        organisation.get_by_role("switch", name="Findable in Find partners for Phone Partners BV")
    )
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.goto("/users")
    anna = phone.locator("tbody tr").filter(has_text=anna_email)
    _within_the_screen(anna)
    _within_the_screen(anna.get_by_label(f"Role for {anna_email}"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _partner_with_a_member_and_a_configuration(app_db, accountant_email: str) -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    """A client environment in partnership with the accountant's firm: its Advanced user is an
    Active member of the firm's organisation, and the accountant of the client's organisation; the
    firm has a connected SFTP configuration "Office SFTP". Returns the client's name, its user's
    name and the firm's organisation's id."""
    client_name = f"Klant {uuid.uuid4().hex[:6]}"
    with app_db() as session:
        accountant = session.exec(select(User).where(User.email == accountant_email)).one()
        own = session.exec(
            select(Organisation).where(Organisation.environment_id == accountant.environment_id)
        ).one()
        client = Environment(name=client_name)
        session.add(client)
        session.flush()
        low, high = sorted((accountant.environment_id, client.id))
        session.add(
            Partnership(environment_low_id=low, environment_high_id=high, initiator_environment_id=low)
        )
        piet = User(
            environment_id=client.id,
            name="Piet Klant",
            email=f"piet-{uuid.uuid4().hex[:8]}@example.com",
            role=Role.ADVANCED_USER.value,
            email_confirmed_at=utcnow(),
        )
        theirs = Organisation(
            environment_id=client.id,
            name=f"{client_name} Holding BV",
            kvk_number="71234567",
            identifier=security.new_public_identifier(),
            activated_at=utcnow(),
        )
        session.add_all([piet, theirs])
        session.flush()
        session.add_all(
            [
                Membership(organisation_id=own.id, user_id=piet.id, accepted_at=utcnow()),
                Membership(organisation_id=theirs.id, user_id=accountant.id, accepted_at=utcnow()),
                AccountingConfiguration(
                    environment_id=accountant.environment_id,
                    name="Office SFTP",
                    target=ConfigurationTarget.SFTP.value,
                    sftp_host="sftp.kaart-accountants-voorbeeld.example.com",
                    sftp_port=2222,
                    sftp_username="kaart-accountants-export",
                    sftp_host_key=asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode(),
                    credentials_encrypted="sealed-password",
                    terms_accepted_at=utcnow(),
                    created_by_id=accountant.id,
                ),
            ]
        )
        session.commit()
        return client_name, piet.name, own.id  # type: ignore[return-value]


def test_partnerships_members_documents_and_configurations_are_cards_with_actions_in_view(
    page: Page, new_context, unique_email, app_db
) -> None:
    anna_email = unique_email("anna")
    accountant_ready(page, email=anna_email, name="Anna de Vries", firm="Kaart Accountants", kvk="56781288")
    client, piet, organisation_id = _partner_with_a_member_and_a_configuration(app_db, anna_email)

    phone = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    log_in(phone, email=anna_email)
    expect(phone).to_have_url(re.compile(r"/dashboard/?$"))

    # /partners: the partnership's columns and its details are one card; its status, who pays,
    # End partnership and the Remove of a member they reach are all in view.
    phone.goto("/partners")
    columns = phone.locator("#partnerships tbody tr").filter(has=phone.get_by_role("rowheader", name=client))
    _within_the_screen(columns)
    _within_the_screen(columns.get_by_text("Active", exact=True))
    expect(columns.locator("[data-label='Who pays']")).to_contain_text("Client")
    details = phone.get_by_role("region", name=client)
    _within_the_screen(details)
    _within_the_screen(details.get_by_role("button", name="End partnership"))
    _within_the_screen(details.get_by_label("Cost allocation"))
    _within_the_screen(details.get_by_role("button", name=f"Remove {piet} from Kaart Accountants BV"))
    _within_the_screen(phone.get_by_role("button", name="Sort by Partner", exact=True))
    _no_sideways_scroll(phone)

    # The organisation's members: the status, the role and Remove in each card.
    phone.goto(f"/organisations/{organisation_id}/members")
    member = phone.locator("#members tbody tr").filter(has_text=piet)
    _within_the_screen(member)
    expect(member.locator("[data-label='Environment']")).to_contain_text(client)
    _within_the_screen(member.get_by_text("Active", exact=True))
    _within_the_screen(member.get_by_label(f"Role of {piet}"))
    _within_the_screen(member.get_by_role("button", name=f"Remove {piet}"))
    _no_sideways_scroll(phone)

    # Its documents: a document uploaded from the phone is a card, each value under its name.
    phone.goto(f"/organisations/{organisation_id}/documents")
    phone.get_by_label("Kind", exact=True).select_option("Invoice")
    phone.locator("#document-file input[type=file]").set_input_files(
        files=[{"name": "factuur-telefoon-2026-0001.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    phone.get_by_role("button", name="Upload document").click()
    document = phone.locator("#documents tbody tr").filter(has_text="factuur-telefoon-2026-0001.pdf")
    _within_the_screen(document)
    _within_the_screen(document.get_by_text("Invoice", exact=True))
    _within_the_screen(document.locator("[data-label='Checksum']"))
    expect(document.locator("[data-label='Uploaded by']")).to_contain_text("Anna de Vries")
    _no_sideways_scroll(phone)

    # The configurations: the status and Modify and Archive in view.
    phone.goto("/configurations")
    configuration = phone.locator("#configurations tbody tr").filter(has_text="Office SFTP")
    _within_the_screen(configuration)
    _within_the_screen(configuration.get_by_text("Connected", exact=True))
    expect(configuration.locator("[data-label='Details']")).to_contain_text("kaart-accountants-export")
    _within_the_screen(configuration.get_by_text(re.compile(r"^Host key SHA256:")))
    _within_the_screen(configuration.get_by_role("button", name="Modify Office SFTP"))
    _within_the_screen(configuration.get_by_role("button", name="Archive Office SFTP"))
    _no_sideways_scroll(phone)
