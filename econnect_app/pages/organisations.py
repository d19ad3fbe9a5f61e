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

from econnect_app import i18n, routes
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
from econnect_app.components.translated import t, t_choice
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.services import members, organisation_overview, organisations
from econnect_app.state.auth import AuthState, Updates, row_activity
from econnect_app.state.list_view import ListView

ACTIVATE = "activate"
ACCEPT_INVITATION = "accept-invitation"
DECLINE_INVITATION = "decline-invitation"
FINISH_ONBOARDING = "finish-onboarding"
SCOPES = {
    i18n.N_("All organisations"): "all",
    i18n.N_("Own organisations"): "own",
    i18n.N_("Partner organisations"): "partner",
}
DEFAULT_SCOPE_LABEL = "All organisations"
SCOPE_PARAMETER = "show"  # in the URL: own / partner (all is the default)
SEARCH_PLACEHOLDER = i18n.N_("Name, KvK number, city, owner or identifier")
E_INVOICE_NOTE = i18n.N_(
    "Receiving e-invoices costs money, so it is off by default. Switch it on per organisation "
    "when that organisation should receive e-invoices."
)
MEMBERSHIP_ROLES = (i18n.N_("Member"), i18n.N_("Administrator"))  # models.MembershipRole, shown translated


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
        page = organisation_overview.organisations_page(
            db, actor=actor, query=self._list_query(), scope=scope
        )
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
            return rx.toast.success(
                i18n.gettext("{name} was added. Activate it to start using it.", name=organisation.name)
            )

        return self._act(action, form=form)

    @rx.event
    def activate(self, organisation_id: int, action_id: str | None = None) -> Updates:
        """Activate one organisation."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.activate_organisation(
                db, actor=actor, organisation_id=organisation_id
            )
            self._refresh(db, actor)
            return rx.toast.success(i18n.gettext("{name} is activated.", name=organisation.name))

        return self._act(action, busy_with=row_activity(ACTIVATE, organisation_id), action_id=action_id)

    @rx.event
    def set_receive_e_invoices(self, organisation_id: int, enabled: bool) -> Updates:
        """Switch receiving e-invoices on or off for one organisation."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.set_receive_e_invoices(
                db, actor=actor, organisation_id=organisation_id, enabled=enabled
            )
            self._refresh(db, actor)
            if enabled:
                return rx.toast.success(
                    i18n.gettext("Receiving e-invoices is on for {name}.", name=organisation.name)
                )
            return rx.toast.success(
                i18n.gettext("Receiving e-invoices is off for {name}.", name=organisation.name)
            )

        return self._act(action)

    @rx.event
    def set_findable(self, organisation_id: int, findable: bool) -> Updates:
        """Choose whether other environments find one organisation in Find partners."""

        def action(db: Session, actor: User) -> Any:
            organisation = organisations.set_findable(
                db, actor=actor, organisation_id=organisation_id, findable=findable
            )
            self._refresh(db, actor)
            if findable:
                return rx.toast.success(
                    i18n.gettext("{name} can be found in Find partners.", name=organisation.name)
                )
            return rx.toast.success(
                i18n.gettext("{name} can no longer be found in Find partners.", name=organisation.name)
            )

        return self._act(action)

    def _answer(self, membership_id: int, action_id: str | None, *, accept: bool) -> Updates:
        def action(db: Session, actor: User) -> Any:
            answer = members.accept_invitation if accept else members.decline_invitation
            name = next(
                (row.organisation_name for row in self.invitations if row.membership_id == membership_id), ""
            )
            answer(db, actor=actor, membership_id=membership_id)
            self._refresh(db, actor)
            if accept:
                return rx.toast.success(i18n.gettext("You now have access to {name}.", name=name))
            return rx.toast.success(
                i18n.gettext("You declined to work with {name}. They have been told.", name=name)
            )

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
            return [rx.redirect(routes.DASHBOARD), rx.toast.success(i18n.gettext("You are all set."))]

        return self._act(action, busy_with=FINISH_ONBOARDING, action_id=action_id)


def _add_form() -> rx.Component:
    errors = OrganisationsState.field_errors
    return app_form(
        rx.vstack(
            rx.grid(
                text_field(t("Organisation name"), "name", errors, autocomplete="organization"),
                text_field(
                    t("KvK number"),
                    "kvk_number",
                    errors,
                    hint=t("8 digits, from the Chamber of Commerce; a Belgian enterprise number has 10."),
                    input_mode="numeric",
                ),
                text_field(
                    t("VAT number"),
                    "vat_number",
                    errors,
                    hint=t("Optional, e.g. NL123456782B01 or BE0123456749."),
                ),
                text_field(t("Street"), "street", errors, autocomplete="address-line1"),
                text_field(t("Postal code"), "postal_code", errors, autocomplete="postal-code"),
                text_field(t("City"), "city", errors, autocomplete="address-level2"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            submit_button(t("Add organisation"), submitting(OrganisationsState.add_organisation)),
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
        rx.badge(t("Active"), color_scheme="green"),
        rx.cond(
            row.can_configure,
            rx.button(
                t("Activate"),
                size="1",
                on_click=OrganisationsState.activate(row.id, AuthState.action_id),
                loading=is_busy_with(row_activity(ACTIVATE, row.id)),
                aria_label=t("Activate {name}", name=row.name),
            ),
            rx.badge(t("Not activated"), color_scheme="gray"),
        ),
    )


def _identifier_cell(row: rx.Var[OrganisationRow]) -> rx.Component:
    return rx.cond(
        row.identifier != "",
        rx.hstack(
            rx.code(row.identifier, size="1", id="identifier-" + row.id.to_string()),
            rx.icon_button(
                rx.icon("copy", size=14),
                visually_hidden(t("Copy organisation identifier for {name}", name=row.name)),
                size="1",
                variant="ghost",
                type="button",
                on_click=[rx.set_clipboard(row.identifier), rx.toast.success(t("Copied"))],
            ),
            spacing="1",
            align="center",
        ),
        rx.text("—", color_scheme="gray"),
    )


def _switch(row: rx.Var[OrganisationRow], checked: rx.Var, on_change: Any, label: Any) -> rx.Component:
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
            t("Organisation"),
            rx.vstack(
                rx.link(row.name, href=row.link, weight="medium"),
                rx.text(
                    row.kvk_number,
                    rx.cond(row.city != "", " · " + row.city, ""),
                    size="1",
                    color_scheme="gray",
                ),
                spacing="0",
            ),
            header=True,
        ),
        card_cell(
            t("Owner"),
            rx.vstack(
                rx.text(row.environment_name, size="2"),
                rx.cond(~row.is_own, rx.badge(t("Partner"), variant="outline", size="1")),
                spacing="1",
            ),
        ),
        card_cell(
            t("Your role"),
            rx.text(rx.cond(row.role != "", t_choice(row.role, MEMBERSHIP_ROLES), "—"), size="2"),
        ),
        card_cell(t("Status"), _status_cell(row)),
        card_cell(t("Organisation identifier"), _identifier_cell(row)),
        rx.table.cell(
            rx.link(
                t("Members"),
                href=row.members_link,
                size="2",
                aria_label=t("Members of {organisation}", organisation=row.name),
            )
        ),
        card_cell(
            t("Receive e-invoices"),
            _switch(
                row,
                row.receive_e_invoices,
                lambda enabled: OrganisationsState.set_receive_e_invoices(row.id, enabled),
                t("Receive e-invoices for {name}", name=row.name),
            ),
        ),
        card_cell(
            t("Findable in Find partners"),
            _switch(
                row,
                row.findable,
                lambda findable: OrganisationsState.set_findable(row.id, findable),
                t("Findable in Find partners for {name}", name=row.name),
            ),
        ),
        align="center",
    )


def _nothing_found() -> rx.Component:
    return rx.cond(
        OrganisationsState.search != "",
        rx.text(t("No organisations match your search."), color_scheme="gray", size="2", padding_y="12px"),
        empty_state(
            "building-2",
            t("No organisations here"),
            t(
                "Add your company with its KvK number, then activate it here. Organisations of partners "
                "appear once someone adds you as a member."
            ),
        ),
    )


def organisation_list() -> rx.Component:
    """The table of one page of organisations (sortable columns), with its loading and empty states."""
    state = OrganisationsState
    return rx.cond(
        ~OrganisationsState.loaded,
        rx.center(rx.spinner(), padding="24px", aria_label=t("Loading organisations")),
        rx.cond(
            OrganisationsState.rows.length() == 0,
            _nothing_found(),
            data_table(
                [
                    sortable_header(state, "Organisation", "name"),
                    sortable_header(state, "Owner", "owner"),
                    sortable_header(state, "Your role", "role"),
                    sortable_header(state, "Status", "status"),
                    t("Organisation identifier"),
                    t("Members"),
                    t("Receive e-invoices"),
                    t("Findable in Find partners"),
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
                t(
                    " ({environment}) wants to work with you as {role}.",
                    environment=row.environment_name,
                    role=t_choice(row.role, MEMBERSHIP_ROLES),
                ),
                size="2",
            ),
            rx.text(
                t("Invited by {name} on {date}.", name=row.invited_by, date=row.invited_on),
                size="1",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.button(
                    t("Accept"),
                    size="2",
                    aria_label=t(
                        "Accept the invitation of {organisation}", organisation=row.organisation_name
                    ),
                    loading=is_busy_with(row_activity(ACCEPT_INVITATION, row.membership_id)),
                    on_click=OrganisationsState.accept_invitation(row.membership_id, AuthState.action_id),
                ),
                rx.button(
                    t("Decline"),
                    size="2",
                    variant="soft",
                    color_scheme="red",
                    aria_label=t(
                        "Decline the invitation of {organisation}", organisation=row.organisation_name
                    ),
                    loading=is_busy_with(row_activity(DECLINE_INVITATION, row.membership_id)),
                    on_click=OrganisationsState.decline_invitation(row.membership_id, AuthState.action_id),
                ),
                spacing="2",
            ),
            spacing="2",
        ),
        role="region",
        aria_label=t("Invitation of {organisation}", organisation=row.organisation_name),
    )


def _invitations() -> rx.Component:
    return rx.cond(
        OrganisationsState.invitations.length() > 0,
        section_card(
            t("Invitations"),
            rx.grid(
                rx.foreach(OrganisationsState.invitations, _invitation_card),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="3",
                width="100%",
            ),
            description=t(
                "Partners who want you to work with their organisations. You get access once you accept."
            ),
        ),
    )


def _list_filters() -> rx.Component:
    return rx.hstack(
        filter_select(
            t("Show"),
            "organisation-scope",
            list(SCOPES),
            OrganisationsState.scope_label,
            OrganisationsState.set_scope,
            min_width="200px",
        ),
        list_search(
            OrganisationsState,
            element_id="organisation-search",
            placeholder=t(SEARCH_PLACEHOLDER),
            label=t("Search"),
        ),
        align="end",
        spacing="4",
        width="100%",
        flex_wrap="wrap",
    )


def _pager() -> rx.Component:
    return pager(OrganisationsState, noun="organisations", element_id="organisations-page-size")


def _e_invoice_note() -> rx.Component:
    return rx.callout(t(E_INVOICE_NOTE), icon="info", color_scheme="gray", size="1")


PLAN_NOTICE = i18n.N_("The Invoice Portal plan allows two organisations; Basic and higher allow more.")
CHANGE_PLAN_LINK = i18n.N_("Change the plan in Settings")
ASK_ADMINISTRATOR = i18n.N_("An Administrator of your environment can change the plan in Settings.")


def _plan_notice() -> rx.Component:
    """How many organisations the plan allows, with the way to change it: a link to Settings for
    Administrators (the only ones who may change the plan), who to ask for anyone else."""
    return rx.text(
        t(PLAN_NOTICE),
        " ",
        rx.cond(
            AuthState.is_admin,
            rx.link(t(CHANGE_PLAN_LINK), href=routes.SETTINGS, weight="medium"),
            rx.fragment(t(ASK_ADMINISTRATOR)),
        ),
        color_scheme="gray",
        size="2",
        id="plan-notice",
    )


def organisations_page() -> rx.Component:
    """/organisations."""
    return app_layout(
        t("Organisations"),
        _invitations(),
        section_card(t("Organisations"), _list_filters(), organisation_list(), _pager(), _e_invoice_note()),
        rx.cond(
            AuthState.can_manage_partnerships,
            section_card(t("Add organisation"), _plan_notice(), _add_form()),
        ),
    )


def onboarding_page() -> rx.Component:
    """/onboarding: the first organisation after sign-up."""
    return app_layout(
        t("Welcome to eConnect"),
        rx.text(
            t(
                "Start by adding your own organisation. Activate it before you use it, and choose whether it "
                "should receive e-invoices."
            ),
            color_scheme="gray",
        ),
        section_card(t("1. Add your organisation"), _add_form()),
        section_card(
            t("2. Activate and choose e-invoice receiving"),
            organisation_list(),
            rx.cond(OrganisationsState.page_count > 1, _pager()),
            _e_invoice_note(),
        ),
        rx.hstack(
            rx.button(
                t("Continue to dashboard"),
                size="3",
                on_click=OrganisationsState.finish_onboarding(AuthState.action_id),
                disabled=~OrganisationsState.has_activated,
                loading=is_busy_with(FINISH_ONBOARDING),
            ),
            rx.cond(
                ~OrganisationsState.has_activated,
                rx.text(t("Activate at least one organisation to continue."), size="2", color_scheme="gray"),
            ),
            align="center",
            spacing="3",
        ),
    )
