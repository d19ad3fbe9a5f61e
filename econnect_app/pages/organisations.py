"""/organisations and /onboarding: add, activate and configure the environment's organisations."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.forms import app_form, is_busy_with, submit_button, submitting, text_field
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.models import Organisation, User
from econnect_app.services import organisations
from econnect_app.state.auth import AuthState, Updates, row_activity

ACTIVATE = "activate"
FINISH_ONBOARDING = "finish-onboarding"
E_INVOICE_NOTE = (
    "Receiving e-invoices costs money, so it is off by default. Switch it on per organisation "
    "when that organisation should receive e-invoices."
)


@dataclasses.dataclass
class OrganisationRow:
    """What the list shows of one organisation."""

    id: int
    name: str
    kvk_number: str
    vat_number: str
    city: str
    activated: bool
    receive_e_invoices: bool


def _row(organisation: Organisation) -> OrganisationRow:
    return OrganisationRow(
        id=organisation.id or 0,
        name=organisation.name,
        kvk_number=organisation.kvk_number,
        vat_number=organisation.vat_number or "",
        city=organisation.city,
        activated=organisation.activated_at is not None,
        receive_e_invoices=organisation.receive_e_invoices,
    )


class OrganisationsState(AuthState):
    """The environment's own organisations."""

    rows: list[OrganisationRow] = []
    loaded: bool = False
    form_key: int = 0

    def _refresh(self, db: Session, actor: User) -> None:
        self.rows = [_row(o) for o in organisations.list_own_organisations(db, actor=actor)]
        self.loaded = True

    @rx.var
    def has_activated(self) -> bool:
        """Whether onboarding can be finished."""
        return any(row.activated for row in self.rows)

    @rx.event
    def load(self) -> Updates:
        """Load the list."""
        return self._load(self._refresh)

    @rx.event
    def add_organisation(self, form: dict[str, Any]) -> Updates:
        """Add an organisation from the form."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.add_organisation(
                db,
                actor=actor,
                name=form.get("name", ""),
                kvk_number=form.get("kvk_number", ""),
                vat_number=form.get("vat_number", ""),
                street=form.get("street", ""),
                postal_code=form.get("postal_code", ""),
                city=form.get("city", ""),
            )
            self._refresh(db, actor)
            self.form_key += 1
            return rx.toast.success(f"{organisation.name} was added. Activate it to start using it.")

        return self._act(action, form=form)

    @rx.event
    def activate(self, organisation_id: int, action_id: str | None = None) -> Updates:
        """Activate one organisation."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.activate_organisation(db, actor=actor, organisation_id=organisation_id)
            self._refresh(db, actor)
            return rx.toast.success(f"{organisation.name} is activated.")

        return self._act(action, busy_with=row_activity(ACTIVATE, organisation_id), action_id=action_id)

    @rx.event
    def set_receive_e_invoices(self, organisation_id: int, enabled: bool) -> Updates:
        """Switch receiving e-invoices on or off for one organisation."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.set_receive_e_invoices(
                db, actor=actor, organisation_id=organisation_id, enabled=enabled
            )
            self._refresh(db, actor)
            state = "on" if enabled else "off"
            return rx.toast.success(f"Receiving e-invoices is {state} for {organisation.name}.")

        return self._act(action)

    @rx.event
    def finish_onboarding(self, action_id: str | None = None) -> Updates:
        """Leave onboarding for the dashboard."""

        def action(db: Session, actor: User) -> Any:
            organisations.complete_onboarding(db, actor=actor)
            return [rx.redirect(routes.DASHBOARD), rx.toast.success("You are all set.")]

        return self._act(action, busy_with=FINISH_ONBOARDING, action_id=action_id)


def _add_form() -> rx.Component:
    errors = OrganisationsState.field_errors
    return app_form(
        rx.vstack(
            rx.grid(
                text_field("Organisation name", "name", errors, autocomplete="organization"),
                text_field("KvK number", "kvk_number", errors, hint="8 digits, from the Chamber of Commerce.", input_mode="numeric"),
                text_field("VAT number", "vat_number", errors, hint="Optional, e.g. NL123456789B01."),
                text_field("Street", "street", errors, autocomplete="address-line1"),
                text_field("Postal code", "postal_code", errors, autocomplete="postal-code"),
                text_field("City", "city", errors, autocomplete="address-level2"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            submit_button("Add organisation", submitting(OrganisationsState.add_organisation)),
            spacing="4",
            width="100%",
            align="start",
        ),
        key=OrganisationsState.form_key,
        on_submit=OrganisationsState.add_organisation,
        width="100%",
    )


def _organisation_row(row: rx.Var[OrganisationRow]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.text(row.name, weight="medium"),
                rx.text(row.city, size="1", color_scheme="gray"),
                spacing="0",
            )
        ),
        rx.table.cell(row.kvk_number),
        rx.table.cell(rx.cond(row.vat_number != "", row.vat_number, "—")),
        rx.table.cell(
            rx.cond(
                row.activated,
                rx.badge("Active", color_scheme="green"),
                rx.button(
                    "Activate",
                    size="1",
                    on_click=OrganisationsState.activate(row.id, AuthState.action_id),
                    loading=is_busy_with(row_activity(ACTIVATE, row.id)),
                    aria_label="Activate " + row.name,
                ),
            )
        ),
        rx.table.cell(
            rx.switch(
                checked=row.receive_e_invoices,
                on_change=lambda enabled: OrganisationsState.set_receive_e_invoices(row.id, enabled),
                disabled=AuthState.busy,
                aria_label="Receive e-invoices for " + row.name,
            )
        ),
        align="center",
    )


def organisation_list() -> rx.Component:
    """The table of organisations, with its loading and empty states."""
    return rx.cond(
        ~OrganisationsState.loaded,
        rx.center(rx.spinner(), padding="24px", aria_label="Loading organisations"),
        rx.cond(
            OrganisationsState.rows.length() == 0,
            empty_state(
                "building-2",
                "No organisations yet",
                "Add your company with its KvK number, then activate it here.",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Organisation"),
                            rx.table.column_header_cell("KvK number"),
                            rx.table.column_header_cell("VAT number"),
                            rx.table.column_header_cell("Status"),
                            rx.table.column_header_cell("Receive e-invoices"),
                        )
                    ),
                    rx.table.body(rx.foreach(OrganisationsState.rows, _organisation_row)),
                    width="100%",
                    variant="surface",
                ),
                overflow_x="auto",
                width="100%",
            ),
        ),
    )


def _e_invoice_note() -> rx.Component:
    return rx.callout(E_INVOICE_NOTE, icon="info", color_scheme="gray", size="1")


def organisations_page() -> rx.Component:
    """/organisations."""
    return app_layout(
        "Organisations",
        section_card("Your organisations", organisation_list(), _e_invoice_note()),
        section_card(
            "Add organisation",
            _add_form(),
            description="The Invoice Portal plan allows two organisations; Basic and higher allow more.",
        ),
    )


def onboarding_page() -> rx.Component:
    """/onboarding: the first organisation after sign-up."""
    return app_layout(
        "Welcome to eConnect",
        rx.text(
            "Start by adding your own organisation. Activate it before you use it, and choose whether it "
            "should receive e-invoices.",
            color_scheme="gray",
        ),
        section_card("1. Add your organisation", _add_form()),
        section_card("2. Activate and choose e-invoice receiving", organisation_list(), _e_invoice_note()),
        rx.hstack(
            rx.button(
                "Continue to dashboard",
                size="3",
                on_click=OrganisationsState.finish_onboarding(AuthState.action_id),
                disabled=~OrganisationsState.has_activated,
                loading=is_busy_with(FINISH_ONBOARDING),
            ),
            rx.cond(
                ~OrganisationsState.has_activated,
                rx.text("Activate at least one organisation to continue.", size="2", color_scheme="gray"),
            ),
            align="center",
            spacing="3",
        ),
    )
