"""/organisations/[organisation_id]: one organisation's details, identifier and members link."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import copy_field
from econnect_app.components.layout import app_layout, loading_or_problem, section_card
from econnect_app.components.translated import Text, t, t_choice
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.pages.organisation_accounting import accounting_connection_section
from econnect_app.pages.organisation_client_connect import client_connect_section
from econnect_app.services import organisation_overview
from econnect_app.services.errors import NotFound
from econnect_app.state.auth import AuthState, Updates

STATUSES = (i18n.N_("Active"), i18n.N_("Not activated"))  # ``OrganisationState.status``, shown translated
MEMBERSHIP_ROLES = (i18n.N_("Member"), i18n.N_("Administrator"))  # models.MembershipRole


class OrganisationState(AuthState):
    """One organisation; refreshed live (losing access shows at once)."""

    organisation_id: int = 0
    name: str = ""
    kvk_number: str = ""
    vat_number: str = ""
    address: str = ""
    owner_name: str = ""
    is_own: bool = False
    status: str = ""
    role: str = ""
    identifier: str = ""
    software_name: str = ""
    since: str = ""
    problem: str = ""
    loaded: bool = False

    def _live_refresh(self, db: Session, user: User) -> None:
        try:
            detail = organisation_overview.organisation_detail(
                db, actor=user, organisation_id=self.organisation_id
            )
        except NotFound as error:
            self.problem, self.identifier, self.loaded = error.message, "", True
            return
        row = detail.row
        self.problem = ""
        self.name, self.kvk_number, self.vat_number = row.name, row.kvk_number, row.vat_number
        self.address = ", ".join(
            part for part in (detail.street, f"{detail.postal_code} {row.city}".strip()) if part
        )
        self.owner_name, self.is_own = row.environment_name, row.is_own
        self.status = "Active" if row.activated else "Not activated"
        self.role = row.role
        self.identifier = row.identifier
        self.software_name = detail.software_name
        self.since = format_date(detail.activated_at) if detail.activated_at else ""
        self.loaded = True

    @rx.event
    def load(self) -> Updates:
        """Read the organisation in the address and follow changes live."""
        self.organisation_id = routes.organisation_id_in(self.router.url.path)
        self.loaded = False

        return self._load_live()


def _fact(label: Text, value: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(rx.cond(value != "", value, "—"), size="2"),
        spacing="0",
    )


def _details() -> rx.Component:
    state = OrganisationState
    return section_card(
        state.name,
        rx.hstack(
            rx.badge(
                t_choice(state.status, STATUSES),
                color_scheme=rx.cond(state.status == "Active", "green", "gray"),
            ),
            rx.cond(~state.is_own, rx.badge(t("Partner organisation"), variant="outline")),
            spacing="2",
        ),
        rx.grid(
            _fact(t("KvK number"), state.kvk_number),
            _fact(t("VAT number"), state.vat_number),
            _fact(t("Address"), state.address),
            _fact(t("Owned by"), state.owner_name),
            _fact(t("Your role"), t_choice(state.role, MEMBERSHIP_ROLES)),
            _fact(t("Accounting software"), state.software_name),
            _fact(t("Active since"), state.since),
            columns=rx.breakpoints(initial="1", sm="2", md="3"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            state.identifier != "",
            copy_field(
                t("Organisation identifier"),
                "organisation-identifier",
                state.identifier,
                t("organisation identifier"),
            ),
        ),
        rx.hstack(
            rx.link(
                rx.button(rx.icon("users", size=16), t("Members"), variant="soft"),
                href=routes.ORGANISATIONS + "/" + state.organisation_id.to_string() + "/members",
            ),
            rx.link(
                rx.button(rx.icon("file-text", size=16), t("Documents"), variant="soft"),
                href=routes.ORGANISATIONS + "/" + state.organisation_id.to_string() + "/documents",
            ),
            rx.link(t("All organisations"), href=routes.ORGANISATIONS, size="2"),
            spacing="4",
            align="center",
        ),
    )


def organisation_page() -> rx.Component:
    """/organisations/[organisation_id]."""
    return app_layout(
        t("Organisation"),
        loading_or_problem(
            OrganisationState.loaded,
            OrganisationState.problem,
            rx.vstack(
                _details(),
                client_connect_section(),
                accounting_connection_section(),
                spacing="4",
                width="100%",
            ),
            loading_label=t("Loading the organisation"),
            back_label=t("Go to organisations"),
            back_href=routes.ORGANISATIONS,
        ),
    )
