"""Small things seen in use (issue 10): the requests list shows who sent each request and when its
link expires, and searches organisation names; the software package starts at "Choose…"; the
plan notice says where the plan is changed; toasts do not cover the page title."""

from __future__ import annotations

import re

from flows import (
    PASSWORD,
    add_and_activate_organisation,
    finish_onboarding,
    log_in,
    send_authorisation_request,
    sign_up,
)
from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from econnect_app import security
from econnect_app.formatting import format_datetime
from econnect_app.models import AuthorisationRequest, Role, User, utcnow


def _cell(page: Page, row: Locator, header: str) -> Locator:
    """The cell of ``row`` under the column headed ``header`` in the sent-requests table."""
    headers = page.locator("#sent-requests").get_by_role("columnheader").all_inner_texts()
    return row.locator("td, th").nth(headers.index(header))


def _overlaps(first: dict[str, float] | None, second: dict[str, float] | None) -> bool:
    assert first is not None and second is not None
    return not (
        first["x"] + first["width"] <= second["x"]
        or second["x"] + second["width"] <= first["x"]
        or first["y"] + first["height"] <= second["y"]
        or second["y"] + second["height"] <= first["y"]
    )


def test_requests_list_package_choice_plan_notice_and_toasts(
    page: Page, new_context, unique_email, app_db
) -> None:
    anna_email = unique_email("anna")
    carla_email = unique_email("carla")
    sign_up(page, email=anna_email, name="Anna de Vries", company="De Vries Partners")
    add_and_activate_organisation(page, name="De Vries Partners BV", kvk="56781234")
    finish_onboarding(page)
    page.goto("/settings")
    page.get_by_label("Subscription plan", exact=True).select_option("Basic")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()

    # The plan notice: an Administrator gets the link to Settings.
    page.goto("/organisations")
    notice = page.locator("#plan-notice")
    expect(notice).to_contain_text("The Invoice Portal plan allows two organisations; Basic and higher allow more.")
    notice.get_by_role("link", name="Change the plan in Settings").click()
    expect(page).to_have_url(re.compile(r"/settings/?$"))

    # The software package starts at "Choose…"; sending without a choice says so beside the field.
    page.goto("/authorisations/new")
    package = page.get_by_label("Software package", exact=True)
    expect(package).to_have_value("")
    expect(package.locator("option:checked")).to_have_text("Choose…")
    page.get_by_label("Client name", exact=True).fill("Piet Bakker")
    page.get_by_label("Client email", exact=True).fill(unique_email("piet"))
    page.get_by_label("Organisation", exact=True).fill("Bakkerij Korenbloem BV")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#field-software-package-error")).to_have_text("Choose a software package.")
    expect(package).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/authorisations/new/?$"))

    # Chosen, it is sent; the toast does not cover the page title.
    package.select_option("Twinfield")
    page.get_by_role("button", name="Send request").click()
    expect(page).to_have_url(re.compile(r"/authorisations/?$"))
    toast = page.locator("[data-sonner-toast]").filter(has_text="Request sent to")
    expect(toast).to_be_visible()
    title = page.get_by_role("heading", level=1, name="Authorisations")
    assert not _overlaps(toast.bounding_box(), title.bounding_box())

    # A colleague (Advanced user) sends another request.
    with app_db() as session:
        anna = session.exec(select(User).where(User.email == anna_email)).one()
        session.add(
            User(
                environment_id=anna.environment_id,
                name="Carla Colleague",
                email=carla_email,
                password_hash=security.hash_password(PASSWORD),
                role=Role.ADVANCED_USER.value,
                email_confirmed_at=utcnow(),
            )
        )
        session.commit()
    carla = new_context().new_page()
    log_in(carla, email=carla_email)
    expect(carla).to_have_url(re.compile(r"/dashboard/?$"))
    send_authorisation_request(
        carla, client_name="Klaas Vos", client_email=unique_email("klaas"), organisation="Vos Transport BV"
    )

    # Someone who is not an Administrator is told who can change the plan.
    carla.goto("/organisations")
    expect(carla.locator("#plan-notice")).to_contain_text(
        "An Administrator of your environment can change the plan in Settings."
    )
    expect(carla.locator("#plan-notice").get_by_role("link")).to_have_count(0)

    # The list: who sent each request and when its link expires.
    page.goto("/authorisations")
    table = page.locator("#sent-requests")
    piet_row = table.get_by_role("row").filter(has_text="Piet Bakker")
    klaas_row = table.get_by_role("row").filter(has_text="Klaas Vos")
    expect(piet_row).to_be_visible()
    expect(klaas_row).to_be_visible()
    expect(_cell(page, piet_row, "Sent by")).to_have_text("Anna de Vries")
    expect(_cell(page, klaas_row, "Sent by")).to_have_text("Carla Colleague")
    with app_db() as session:
        expires = session.exec(
            select(AuthorisationRequest.expires_at).where(AuthorisationRequest.client_name == "Piet Bakker")
            .where(AuthorisationRequest.environment_id == anna.environment_id)
        ).one()
    expect(_cell(page, piet_row, "Expires")).to_contain_text(format_datetime(expires))

    # The search finds organisation names.
    page.get_by_label("Search", exact=True).fill("korenbloem")
    expect(table.get_by_role("row").filter(has_text="Piet Bakker")).to_have_count(1)
    expect(table.get_by_role("row").filter(has_text="Klaas Vos")).to_have_count(0)
    page.get_by_label("Search", exact=True).fill("VOS TRANSPORT")
    expect(table.get_by_role("row").filter(has_text="Klaas Vos")).to_have_count(1)
    expect(table.get_by_role("row").filter(has_text="Piet Bakker")).to_have_count(0)
