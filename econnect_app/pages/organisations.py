"""/organisations and /onboarding: own organisations and the partner organisations the user
reaches (role, status, identifier, owner, members), invitations from partners, adding and
activating own organisations. The list is paged, sorted and searched by the database, its view
kept in the URL (``state/list_view.py``). Refreshed live: the view the tab shows is read again."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.dialogs import visually_hidden
from econnect_app.components.forms import (
    app_form,
    filter_select,
    is_busy_with,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell, list_search, pager, sortable_header
from econnect_app.components.sections import data_table
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.services import members, organisation_overview, organisations
from econnect_app.state.auth import AuthState, Updates, row_activity
from econnect_app.state.list_view import ListView

ACTIVATE = "activate"
ACCEPT_INVITATION = "accept-invitation"
DECLINE_INVITATION = "decline-invitation"
FINISH_ONBOARDING = "finish-onboarding"
SCOPES = {"All organisations": "all", "Own organisations": "own", "Partner organisations": "partner"}
DEFAULT_SCOPE_LABEL = "All organisations"
SCOPE_PARAMETER = "show"  # in the URL: own / partner (all is the default)
SEARCH_PLACEHOLDER = "Name, KvK number, city, owner or identifier"
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
    environment_name: str
    is_own: bool
    activated: bool
    receive_e_invoices: bool
    findable: bool
    role: str
    identifier: str
    can_configure: bool
    link: str
    members_link: str


@dataclasses.dataclass
class InvitationView:
    """A partner's organisation that invited the user to work with it."""

    membership_id: int
    organisation_name: str
    environment_name: str
    role: str
    invited_by: str
    invited_on: str


def _row(row: organisation_overview.OrganisationRow) -> OrganisationRow:
    return OrganisationRow(
        id=row.id,
        name=row.name,
        kvk_number=row.kvk_number,
        vat_number=row.vat_number,
        city=row.city,
        environment_name=row.environment_name,
        is_own=row.is_own,
        activated=row.activated,
        receive_e_invoices=row.receive_e_invoices,
        findable=row.findable,
        role=row.role,
        identifier=row.identifier,
        can_configure=row.can_configure,
        link=routes.organisation(row.id),
        members_link=routes.organisation_members(row.id),
    )


class OrganisationsState(ListView, AuthState):
    """One page of own and partner organisations (the view in the URL), and open invitations;
    refreshed live. /onboarding shows the own organisations through it too."""

    rows: list[OrganisationRow] = []
    invitations: list[InvitationView] = []
    scope_label: str = DEFAULT_SCOPE_LABEL
    has_activated: bool = False  # an own organisation is activated: onboarding can be finished
    loaded: bool = False
    form_key: int = 0

    def _on_onboarding(self) -> bool:
        return self.router.url.path.rstrip("/") == routes.ONBOARDING

    def _url_filters(self) -> dict[str, str]:
        scope = SCOPES.get(self.scope_label, "all")
        return {} if self._on_onboarding() or scope == "all" else {SCOPE_PARAMETER: scope}

    def _read_url_filters(self, params: Mapping[str, str]) -> None:
        labels = {scope: label for label, scope in SCOPES.items()}
        self.scope_label = labels.get(params.get(SCOPE_PARAMETER, ""), DEFAULT_SCOPE_LABEL)

    def _refresh(self, db: Session, actor: User) -> None:
        """Read the page of organisations the view asks for, and the open invitations."""
        scope = "own" if self._on_onboarding() else SCOPES.get(self.scope_label, "all")
        page = organisation_overview.organisations_page(db, actor=actor, query=self._list_query(), scope=scope)
        self.rows = [_row(row) for row in page.rows]
        self._show_page(page)
        self.has_activated = organisations.has_activated_organisation(db, environment_id=actor.environment_id)
        self.invitations = [
            InvitationView(
                membership_id=row.membership_id,
                organisation_name=row.organisation_name,
                environment_name=row.environment_name,
                role=row.role,
                invited_by=row.invited_by,
                invited_on=format_date(row.invited_at),
            )
            for row in members.list_invitations(db, actor=actor)
        ]
        self.loaded = True

    def _live_refresh(self, db: Session, user: User) -> None:
        self._refresh(db, user)

    @rx.event
    def load(self) -> Updates:
        """Load the view in the URL and follow the environment's changes live."""
        self._read_list_url()
        return self._load_live()

    @rx.event
    async def set_scope(self, label: str) -> Updates:
        """Show all, own or partner organisations (from the first page)."""
        self.scope_label = label if label in SCOPES else DEFAULT_SCOPE_LABEL
        async for update in self._filter_changed():
            yield update

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
    def set_findable(self, organisation_id: int, findable: bool) -> Updates:
        """Choose whether other environments find one organisation in Find partners."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.set_findable(db, actor=actor, organisation_id=organisation_id, findable=findable)
            self._refresh(db, actor)
            what = "can be found" if findable else "can no longer be found"
            return rx.toast.success(f"{organisation.name} {what} in Find partners.")

        return self._act(action)

    def _answer(self, membership_id: int, action_id: str | None, *, accept: bool) -> Updates:
        def action(db: Session, actor: User) -> Any:
            answer = members.accept_invitation if accept else members.decline_invitation
            name = next((row.organisation_name for row in self.invitations if row.membership_id == membership_id), "")
            answer(db, actor=actor, membership_id=membership_id)
            self._refresh(db, actor)
            if accept:
                return rx.toast.success(f"You now have access to {name}.")
            return rx.toast.success(f"You declined to work with {name}. They have been told.")

        activity = ACCEPT_INVITATION if accept else DECLINE_INVITATION
        return self._act(action, busy_with=row_activity(activity, membership_id), action_id=action_id)

    @rx.event
    def accept_invitation(self, membership_id: int, action_id: str | None = None) -> Updates:
        """Accept a partner's invitation to work with one of its organisations."""
        return self._answer(membership_id, action_id, accept=True)

    @rx.event
    def decline_invitation(self, membership_id: int, action_id: str | None = None) -> Updates:
        """Decline a partner's invitation; they are told."""
        return self._answer(membership_id, action_id, accept=False)

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
                text_field("VAT number", "vat_number", errors, hint="Optional, e.g. NL123456782B01 or BE0123456749."),
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


def _status_cell(row: rx.Var[OrganisationRow]) -> rx.Component:
    return rx.cond(
        row.activated,
        rx.badge("Active", color_scheme="green"),
        rx.cond(
            row.can_configure,
            rx.button(
                "Activate",
                size="1",
                on_click=OrganisationsState.activate(row.id, AuthState.action_id),
                loading=is_busy_with(row_activity(ACTIVATE, row.id)),
                aria_label="Activate " + row.name,
            ),
            rx.badge("Not activated", color_scheme="gray"),
        ),
    )


def _identifier_cell(row: rx.Var[OrganisationRow]) -> rx.Component:
    return rx.cond(
        row.identifier != "",
        rx.hstack(
            rx.code(row.identifier, size="1", id="identifier-" + row.id.to_string()),
            rx.icon_button(
                rx.icon("copy", size=14),
                visually_hidden("Copy organisation identifier for ", row.name),
                size="1",
                variant="ghost",
                type="button",
                on_click=[rx.set_clipboard(row.identifier), rx.toast.success("Copied")],
            ),
            spacing="1",
            align="center",
        ),
        rx.text("—", color_scheme="gray"),
    )


def _switch(row: rx.Var[OrganisationRow], checked: rx.Var, on_change: Any, label: rx.Var) -> rx.Component:
    return rx.cond(
        row.is_own,
        rx.switch(
            checked=checked,
            on_change=on_change,
            disabled=AuthState.busy | ~row.can_configure,
            aria_label=label,
        ),
        rx.text("—", color_scheme="gray"),
    )


def _organisation_row(row: rx.Var[OrganisationRow]) -> rx.Component:
    return rx.table.row(
        card_cell(
            "Organisation",
            rx.vstack(
                rx.link(row.name, href=row.link, weight="medium"),
                rx.text(row.kvk_number, rx.cond(row.city != "", " · " + row.city, ""), size="1", color_scheme="gray"),
                spacing="0",
            ),
            header=True,
        ),
        card_cell(
            "Owner",
            rx.vstack(
                rx.text(row.environment_name, size="2"),
                rx.cond(~row.is_own, rx.badge("Partner", variant="outline", size="1")),
                spacing="1",
            )
        ),
        card_cell("Your role", rx.text(rx.cond(row.role != "", row.role, "—"), size="2")),
        card_cell("Status", _status_cell(row)),
        card_cell("Organisation identifier", _identifier_cell(row)),
        rx.table.cell(rx.link("Members", href=row.members_link, size="2", aria_label="Members of " + row.name)),
        card_cell(
            "Receive e-invoices",
            _switch(
                row,
                row.receive_e_invoices,
                lambda enabled: OrganisationsState.set_receive_e_invoices(row.id, enabled),
                "Receive e-invoices for " + row.name,
            )
        ),
        card_cell(
            "Findable in Find partners",
            _switch(
                row,
                row.findable,
                lambda findable: OrganisationsState.set_findable(row.id, findable),
                "Findable in Find partners for " + row.name,
            )
        ),
        align="center",
    )


def _nothing_found() -> rx.Component:
    return rx.cond(
        OrganisationsState.search != "",
        rx.text("No organisations match your search.", color_scheme="gray", size="2", padding_y="12px"),
        empty_state(
            "building-2",
            "No organisations here",
            "Add your company with its KvK number, then activate it here. Organisations of partners "
            "appear once someone adds you as a member.",
        ),
    )


def organisation_list() -> rx.Component:
    """The table of one page of organisations (sortable columns), with its loading and empty states."""
    state = OrganisationsState
    return rx.cond(
        ~OrganisationsState.loaded,
        rx.center(rx.spinner(), padding="24px", aria_label="Loading organisations"),
        rx.cond(
            OrganisationsState.rows.length() == 0,
            _nothing_found(),
            data_table(
                [
                    sortable_header(state, "Organisation", "name"),
                    sortable_header(state, "Owner", "owner"),
                    sortable_header(state, "Your role", "role"),
                    sortable_header(state, "Status", "status"),
                    "Organisation identifier",
                    "Members",
                    "Receive e-invoices",
                    "Findable in Find partners",
                ],
                OrganisationsState.rows,
                _organisation_row,
                element_id="organisations",
                class_name=LIST_CARDS,
            ),
        ),
    )


def _invitation_card(row: rx.Var[InvitationView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(
                rx.text.strong(row.organisation_name),
                " (",
                row.environment_name,
                ") wants to work with you as ",
                row.role,
                ".",
                size="2",
            ),
            rx.text("Invited by " + row.invited_by + " on " + row.invited_on + ".", size="1", color_scheme="gray"),
            rx.hstack(
                rx.button(
                    "Accept",
                    size="2",
                    aria_label="Accept the invitation of " + row.organisation_name,
                    loading=is_busy_with(row_activity(ACCEPT_INVITATION, row.membership_id)),
                    on_click=OrganisationsState.accept_invitation(row.membership_id, AuthState.action_id),
                ),
                rx.button(
                    "Decline",
                    size="2",
                    variant="soft",
                    color_scheme="red",
                    aria_label="Decline the invitation of " + row.organisation_name,
                    loading=is_busy_with(row_activity(DECLINE_INVITATION, row.membership_id)),
                    on_click=OrganisationsState.decline_invitation(row.membership_id, AuthState.action_id),
                ),
                spacing="2",
            ),
            spacing="2",
        ),
        role="region",
        aria_label="Invitation of " + row.organisation_name,
    )


def _invitations() -> rx.Component:
    return rx.cond(
        OrganisationsState.invitations.length() > 0,
        section_card(
            "Invitations",
            rx.grid(
                rx.foreach(OrganisationsState.invitations, _invitation_card),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="3",
                width="100%",
            ),
            description="Partners who want you to work with their organisations. You get access once you accept.",
        ),
    )


def _list_filters() -> rx.Component:
    return rx.hstack(
        filter_select(
            "Show",
            "organisation-scope",
            list(SCOPES),
            OrganisationsState.scope_label,
            OrganisationsState.set_scope,
            min_width="200px",
        ),
        list_search(OrganisationsState, element_id="organisation-search", placeholder=SEARCH_PLACEHOLDER),
        align="end",
        spacing="4",
        width="100%",
        flex_wrap="wrap",
    )


def _pager() -> rx.Component:
    return pager(OrganisationsState, noun="organisations", element_id="organisations-page-size")


def _e_invoice_note() -> rx.Component:
    return rx.callout(E_INVOICE_NOTE, icon="info", color_scheme="gray", size="1")


PLAN_NOTICE = "The Invoice Portal plan allows two organisations; Basic and higher allow more."
CHANGE_PLAN_LINK = "Change the plan in Settings"
ASK_ADMINISTRATOR = "An Administrator of your environment can change the plan in Settings."


def _plan_notice() -> rx.Component:
    """How many organisations the plan allows, with the way to change it: a link to Settings for
    Administrators (the only ones who may change the plan), who to ask for anyone else."""
    return rx.text(
        PLAN_NOTICE + " ",
        rx.cond(
            AuthState.is_admin,
            rx.link(CHANGE_PLAN_LINK, href=routes.SETTINGS, weight="medium"),
            rx.fragment(ASK_ADMINISTRATOR),
        ),
        color_scheme="gray",
        size="2",
        id="plan-notice",
    )


def organisations_page() -> rx.Component:
    """/organisations."""
    return app_layout(
        "Organisations",
        _invitations(),
        section_card("Organisations", _list_filters(), organisation_list(), _pager(), _e_invoice_note()),
        rx.cond(
            AuthState.can_manage_partnerships,
            section_card("Add organisation", _plan_notice(), _add_form()),
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
        section_card(
            "2. Activate and choose e-invoice receiving",
            organisation_list(),
            rx.cond(OrganisationsState.page_count > 1, _pager()),
            _e_invoice_note(),
        ),
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
