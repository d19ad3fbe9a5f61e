"""/partners: partnerships (cost allocation, relationship managers, shared organisations, End
partnership), server-paged, sortable and searchable with the view in the URL, and relationship
requests; its "Who has access" view is on the client's dashboard (the same state, loaded there
with every partner that reaches the client's organisations)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_dialog
from econnect_app.components.forms import app_form, filter_select, is_busy_with, submitting
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.paged_list import (
    CARD_CONTINUED,
    LIST_CARDS,
    card_cell,
    list_search,
    pager,
    sortable_header,
)
from econnect_app.components.translated import Text, t, t_choice
from econnect_app.formatting import format_date, format_datetime
from econnect_app.models import CostAllocation, User
from econnect_app.services import members, partners, relationship_managers, relationship_requests
from econnect_app.services.errors import PermissionDenied
from econnect_app.state.auth import AuthState, Updates, row_activity
from econnect_app.state.list_view import ListView

DENIED_MESSAGE = i18n.N_(
    "Only Advanced users and Administrators can see the partnerships of this environment."
)
STATUS_FILTERS = [i18n.N_("Active"), i18n.N_("Ended"), i18n.N_("All")]
DEFAULT_STATUS_FILTER = "Active"
STATUS_PARAMETER = "status"  # the Show filter in the URL
END, DISCONNECT, REMOVE, ACCEPT, DECLINE, WITHDRAW = (
    "end-partnership",
    "disconnect-manager",
    "remove-member",
    "accept-relationship",
    "decline-relationship",
    "withdraw-relationship",
)
REQUEST_COLOURS = {
    "Pending": "amber",
    "Accepted": "green",
    "Declined": "red",
    "Withdrawn": "gray",
    "Expired": "gray",
}
# The English values the server sends, shown translated (models.*Status, services/partners.ORIGIN_LABELS, ...).
REQUEST_STATUSES = (
    i18n.N_("Pending"),
    i18n.N_("Accepted"),
    i18n.N_("Declined"),
    i18n.N_("Withdrawn"),
    i18n.N_("Expired"),
)
PARTNERSHIP_STATUSES = (i18n.N_("Active"), i18n.N_("Ended"))
ORIGINS = (i18n.N_("Authorisation request"), i18n.N_("Relationship request"))
COST_ALLOCATIONS = (i18n.N_("Client"), i18n.N_("Intermediary"))
MEMBERSHIP_ROLES = (i18n.N_("Member"), i18n.N_("Administrator"))


@dataclasses.dataclass
class MemberAccessView:
    """A user of one side who reaches an organisation of the other side."""

    membership_id: int
    user_name: str
    user_email: str
    role: str
    since: str


@dataclasses.dataclass
class SharedOrganisationView:
    """An organisation reached across the partnership, with who reaches it."""

    organisation_id: int
    name: str
    members_link: str
    members: list[MemberAccessView]


@dataclasses.dataclass
class ManagerView:
    """A connected relationship manager."""

    link_id: int
    name: str
    email: str


@dataclasses.dataclass
class Choice:
    """An option of a select."""

    value: str
    label: str


@dataclasses.dataclass
class PartnershipCard:
    """One partnership as this side's page shows it."""

    id: int
    partner_name: str
    status: str
    since: str
    origin: str
    ended: str
    cost_allocation: str
    cost_options: list[Choice]
    cost_editable: bool
    cost_hint: str
    can_end: bool
    can_connect: bool
    our_managers: list[ManagerView]
    their_managers: list[ManagerView]
    manager_candidates: list[Choice]
    their_organisations: list[SharedOrganisationView]
    our_organisations: list[SharedOrganisationView]


@dataclasses.dataclass
class RelationshipRequestView:
    """A relationship request sent or received."""

    id: int
    incoming: bool
    other_name: str
    organisation_name: str
    requested_by: str
    message: str
    status: str
    colour: str
    sent: str
    expires: str
    can_answer: bool
    can_withdraw: bool


def _shared(rows: list[partners.SharedOrganisation], *, own: bool) -> list[SharedOrganisationView]:
    return [
        SharedOrganisationView(
            organisation_id=row.organisation_id,
            name=row.name,
            members_link=routes.organisation_members(row.organisation_id)
            if own
            else routes.organisation(row.organisation_id),
            members=[
                MemberAccessView(
                    membership_id=member.membership_id,
                    user_name=member.user_name,
                    user_email=member.user_email,
                    role=member.role,
                    since=format_date(member.since),
                )
                for member in row.members
            ],
        )
        for row in rows
    ]


def _cost_hint(view: partners.PartnershipView) -> str:
    if view.status != "Active":
        return ""
    if view.cost_choices_allowed:
        return ""
    payer = (
        view.intermediary_name if view.cost_allocation == CostAllocation.CLIENT.value else view.client_name
    )
    return i18n.gettext("Only an Administrator of {payer} can change this: that side would pay.", payer=payer)


def _card(view: partners.PartnershipView) -> PartnershipCard:
    managers = [ManagerView(link_id=row.link_id, name=row.name, email=row.email) for row in view.our_managers]
    theirs = [ManagerView(link_id=row.link_id, name=row.name, email=row.email) for row in view.their_managers]
    ended = ""
    if view.ended_at is not None:
        date = format_date(view.ended_at)
        if view.ended_by:
            ended = i18n.gettext("Ended on {date} by {name}", date=date, name=view.ended_by)
        else:
            ended = i18n.gettext("Ended on {date}", date=date)
    return PartnershipCard(
        id=view.id,
        partner_name=view.partner_name,
        status=view.status,
        since=format_date(view.since),
        origin=view.origin,
        ended=ended,
        cost_allocation=view.cost_allocation,
        cost_options=[
            Choice(
                value=CostAllocation.CLIENT.value,
                label=i18n.gettext("The client pays ({name})", name=view.client_name),
            ),
            Choice(
                value=CostAllocation.INTERMEDIARY.value,
                label=i18n.gettext(
                    "The intermediary takes on the costs ({name})", name=view.intermediary_name
                ),
            ),
        ],
        cost_editable=bool(view.cost_choices_allowed),
        cost_hint=_cost_hint(view),
        can_end=view.can_end,
        can_connect=bool(view.manager_candidates),
        our_managers=managers,
        their_managers=theirs,
        manager_candidates=[
            Choice(value=str(user_id), label=label) for user_id, label in view.manager_candidates
        ],
        their_organisations=_shared(view.their_organisations, own=False),
        our_organisations=_shared(view.our_organisations, own=True),
    )


def _request_view(row: relationship_requests.RelationshipRequestRow) -> RelationshipRequestView:
    return RelationshipRequestView(
        id=row.id,
        incoming=row.incoming,
        other_name=row.other_environment_name,
        organisation_name=row.organisation_name,
        requested_by=row.requested_by,
        message=row.message,
        status=row.status,
        colour=REQUEST_COLOURS.get(row.status, "gray"),
        sent=format_datetime(row.created_at),
        expires=format_date(row.expires_at),
        can_answer=row.can_answer,
        can_withdraw=row.can_withdraw,
    )


class PartnersState(ListView, AuthState):
    """The partnerships (one page of them) and relationship requests of the environment, or, on
    the dashboard, who has access to the client's organisations; refreshed live."""

    cards: list[PartnershipCard] = []
    who_has_access: list[PartnershipCard] = []  # the dashboard's view: partners that reach us
    requests: list[RelationshipRequestView] = []
    status_filter: str = DEFAULT_STATUS_FILTER
    loaded: bool = False
    denied: bool = False
    _on_dashboard: bool = False  # which page the state serves in this tab (set by ``load``)

    @rx.var
    def incoming_requests(self) -> list[RelationshipRequestView]:
        """Received requests still waiting for an answer."""
        return [row for row in self.requests if row.incoming and row.status == "Pending"]

    @rx.var
    def other_requests(self) -> list[RelationshipRequestView]:
        """Sent requests, and received ones that were answered."""
        return [row for row in self.requests if not (row.incoming and row.status == "Pending")]

    def _url_filters(self) -> dict[str, str]:
        return {STATUS_PARAMETER: self.status_filter if self.status_filter != DEFAULT_STATUS_FILTER else ""}

    def _read_url_filters(self, params: Mapping[str, str]) -> None:
        status = params.get(STATUS_PARAMETER, DEFAULT_STATUS_FILTER)
        self.status_filter = status if status in STATUS_FILTERS else DEFAULT_STATUS_FILTER

    def _refresh(self, db: Session, actor: User) -> None:
        """Re-read what this tab shows: the current view of the partnerships (page, sort, search,
        filter) and the requests, or, on the dashboard, who has access."""
        try:
            if self._on_dashboard:
                self.who_has_access = [_card(view) for view in partners.who_has_access(db, actor=actor)]
            else:
                page = partners.partnerships_page(
                    db, actor=actor, query=self._list_query(), status=self.status_filter
                )
                self.cards = [_card(view) for view in page.rows]
                self._show_page(page)
                self.requests = [
                    _request_view(row)
                    for row in relationship_requests.list_relationship_requests(db, actor=actor)
                ]
        except PermissionDenied:
            self.denied, self.cards, self.who_has_access, self.requests, self.loaded = True, [], [], [], True
            return
        self.denied = False
        self.loaded = True

    def _live_refresh(self, db: Session, user: User) -> None:
        self._refresh(db, user)

    @rx.event
    def load(self) -> Updates:
        """Read the partnerships in the view the URL asks for (on the dashboard: who has access)
        and follow the environment's changes live."""
        self._on_dashboard = self.router.url.path.rstrip("/") == routes.DASHBOARD
        if not self._on_dashboard:
            self._read_list_url()
        return self._load_live()

    @rx.event
    async def set_status_filter(self, value: str) -> Any:
        """Show active, ended or all partnerships, from the first page."""
        self.status_filter = value if value in STATUS_FILTERS else DEFAULT_STATUS_FILTER
        async for update in self._filter_changed():
            yield update

    def _then_refresh(self, message: str) -> Any:
        def after(db: Session, actor: User) -> Any:
            self._refresh(db, actor)
            return rx.toast.success(message)

        return after

    @rx.event
    def end_partnership(self, partnership_id: int, action_id: str | None = None) -> Updates:
        """End a partnership (Administrators; confirmed in a dialog first)."""

        def action(db: Session, actor: User) -> Any:
            partnership = partners.end_partnership(db, actor=actor, partnership_id=partnership_id)
            shown = [*self.cards, *self.who_has_access]
            name = next(
                (card.partner_name for card in shown if card.id == partnership.id),
                i18n.gettext("your partner"),
            )
            return self._then_refresh(i18n.gettext("The partnership with {name} has ended.", name=name))(
                db, actor
            )

        return self._act(action, busy_with=row_activity(END, partnership_id), action_id=action_id)

    @rx.event
    def set_cost_allocation(self, partnership_id: int, value: str) -> Updates:
        """Choose who pays for the client connection."""

        def action(db: Session, actor: User) -> Any:
            partners.set_cost_allocation(
                db, actor=actor, partnership_id=partnership_id, cost_allocation=value
            )
            return self._then_refresh(i18n.gettext("Cost allocation saved. Your partner has been told."))(
                db, actor
            )

        def refresh_after_refusal(db: Session, actor: User) -> Any:
            outcome = self._outcome(db, lambda: action(db, actor))
            self._refresh(db, actor)  # a refused choice shows the saved value again
            return outcome

        return self._act(refresh_after_refusal, busy_with=row_activity("cost", partnership_id))

    @rx.event
    def connect_manager(self, form: dict[str, Any]) -> Updates:
        """Connect a relationship manager of this environment to a partnership."""

        def action(db: Session, actor: User) -> Any:
            relationship_managers.connect_manager(
                db,
                actor=actor,
                partnership_id=int(str(form.get("partnership_id") or 0)),
                user_id=str(form.get("manager") or ""),
            )
            return self._then_refresh(i18n.gettext("Relationship manager connected."))(db, actor)

        return self._act(action, form=form)

    @rx.event
    def disconnect_manager(self, link_id: int, action_id: str | None = None) -> Updates:
        """Disconnect a relationship manager of this environment from a partnership."""

        def action(db: Session, actor: User) -> Any:
            relationship_managers.disconnect_manager(db, actor=actor, manager_link_id=link_id)
            return self._then_refresh(i18n.gettext("Relationship manager disconnected."))(db, actor)

        return self._act(action, busy_with=row_activity(DISCONNECT, link_id), action_id=action_id)

    @rx.event
    def remove_member(self, membership_id: int, action_id: str | None = None) -> Updates:
        """Take a partner user's access to one of our organisations away (confirmed first)."""

        def action(db: Session, actor: User) -> Any:
            members.remove_member(db, actor=actor, membership_id=membership_id)
            return self._then_refresh(i18n.gettext("Access removed."))(db, actor)

        return self._act(action, busy_with=row_activity(REMOVE, membership_id), action_id=action_id)

    @rx.event
    def accept_request(self, request_id: int, action_id: str | None = None) -> Updates:
        """Accept a relationship request: the two environments become partners."""

        def action(db: Session, actor: User) -> Any:
            relationship_requests.accept_relationship_request(db, actor=actor, request_id=request_id)
            return self._then_refresh(i18n.gettext("You are partners now."))(db, actor)

        return self._act(action, busy_with=row_activity(ACCEPT, request_id), action_id=action_id)

    @rx.event
    def decline_request(self, request_id: int, action_id: str | None = None) -> Updates:
        """Decline a relationship request; the requester is told."""

        def action(db: Session, actor: User) -> Any:
            relationship_requests.decline_relationship_request(db, actor=actor, request_id=request_id)
            return self._then_refresh(i18n.gettext("The relationship request was declined."))(db, actor)

        return self._act(action, busy_with=row_activity(DECLINE, request_id), action_id=action_id)

    @rx.event
    def withdraw_request(self, request_id: int, action_id: str | None = None) -> Updates:
        """Withdraw a relationship request this environment sent."""

        def action(db: Session, actor: User) -> Any:
            relationship_requests.withdraw_relationship_request(db, actor=actor, request_id=request_id)
            return self._then_refresh(i18n.gettext("The relationship request was withdrawn."))(db, actor)

        return self._act(action, busy_with=row_activity(WITHDRAW, request_id), action_id=action_id)


# --- components -----------------------------------------------------------------------------------


def _managers(card: rx.Var[PartnershipCard]) -> rx.Component:
    def manager(row: rx.Var[ManagerView], *, own: bool) -> rx.Component:
        return rx.hstack(
            rx.text(row.name, size="2", weight="medium"),
            rx.text(row.email, size="1", color_scheme="gray"),
            rx.cond(
                own & AuthState.is_admin & (card.status == "Active"),
                rx.button(
                    t("Disconnect"),
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    aria_label=t("Disconnect {name}", name=row.name),
                    loading=is_busy_with(row_activity(DISCONNECT, row.link_id)),
                    on_click=PartnersState.disconnect_manager(row.link_id, AuthState.action_id),
                ),
            ),
            align="center",
            spacing="2",
            wrap="wrap",
        )

    connect_form = app_form(
        rx.hstack(
            rx.el.input(type="hidden", name="partnership_id", value=card.id.to_string()),
            rx.vstack(
                rx.el.label(
                    rx.text(t("Relationship manager"), size="1", weight="medium"),
                    html_for="manager-" + card.id.to_string(),
                ),
                rx.el.select(
                    rx.foreach(
                        card.manager_candidates, lambda choice: rx.el.option(choice.label, value=choice.value)
                    ),
                    id="manager-" + card.id.to_string(),
                    name="manager",
                    class_name="econnect-select",
                ),
                spacing="1",
            ),
            rx.button(
                t("Connect"), type="submit", size="2", loading=submitting(PartnersState.connect_manager)
            ),
            align="end",
            spacing="2",
            wrap="wrap",
        ),
        on_submit=PartnersState.connect_manager,
    )
    return rx.vstack(
        rx.heading(t("Relationship managers"), size="3", as_="h4"),
        rx.grid(
            rx.vstack(
                rx.text(t("Yours"), size="1", color_scheme="gray"),
                rx.cond(
                    card.our_managers.length() > 0,
                    rx.foreach(card.our_managers, lambda row: manager(row, own=True)),
                    rx.text(t("None connected."), size="2", color_scheme="gray"),
                ),
                spacing="1",
            ),
            rx.vstack(
                rx.text(t("Theirs ({partner})", partner=card.partner_name), size="1", color_scheme="gray"),
                rx.cond(
                    card.their_managers.length() > 0,
                    rx.foreach(card.their_managers, lambda row: manager(row, own=False)),
                    rx.text(t("None connected."), size="2", color_scheme="gray"),
                ),
                spacing="1",
            ),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            card.can_connect,
            connect_form,
            rx.cond(
                AuthState.is_admin & (card.status == "Active"),
                rx.text(
                    t("To connect someone, give them the Relationship manager role in Users."),
                    size="1",
                    color_scheme="gray",
                ),
            ),
        ),
        spacing="2",
        width="100%",
        role="group",
        aria_label=t("Relationship managers"),
    )


def _shared_list(
    organisations: rx.Var[list[SharedOrganisationView]], *, removable: bool, empty: Text
) -> rx.Component:
    def member(row: rx.Var[MemberAccessView], organisation: rx.Var[SharedOrganisationView]) -> rx.Component:
        remove = confirm_dialog(
            rx.button(
                t("Remove"),
                size="1",
                variant="soft",
                color_scheme="red",
                aria_label=t(
                    "Remove {name} from {organisation}", name=row.user_name, organisation=organisation.name
                ),
                loading=is_busy_with(row_activity(REMOVE, row.membership_id)),
            ),
            title=t("Remove {name}?", name=row.user_name),
            description=t(
                "{name} loses access to {organisation} at once. The membership is kept in the history.",
                name=row.user_name,
                organisation=organisation.name,
            ),
            confirm_label=t("Remove"),
            on_confirm=PartnersState.remove_member(row.membership_id, AuthState.action_id),
        )
        return rx.hstack(
            rx.text(row.user_name, size="2"),
            rx.badge(t_choice(row.role, MEMBERSHIP_ROLES), variant="soft", size="1"),
            rx.text(t("since {date}", date=row.since), size="1", color_scheme="gray"),
            remove if removable else rx.fragment(),
            align="center",
            spacing="2",
            wrap="wrap",
        )

    return rx.cond(
        organisations.length() > 0,
        rx.vstack(
            rx.foreach(
                organisations,
                lambda organisation: rx.box(
                    rx.link(organisation.name, href=organisation.members_link, weight="medium", size="2"),
                    rx.vstack(
                        rx.foreach(organisation.members, lambda row: member(row, organisation)),
                        spacing="1",
                        padding_left="12px",
                    ),
                    width="100%",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        rx.text(empty, size="2", color_scheme="gray"),
    )


def _cost_allocation(card: rx.Var[PartnershipCard]) -> rx.Component:
    select_id = "cost-allocation-" + card.id.to_string()
    return rx.vstack(
        rx.el.label(rx.text(t("Cost allocation"), size="2", weight="medium"), html_for=select_id),
        rx.el.select(
            rx.foreach(card.cost_options, lambda choice: rx.el.option(choice.label, value=choice.value)),
            id=select_id,
            value=card.cost_allocation,
            disabled=~card.cost_editable | AuthState.busy,
            on_change=lambda value: PartnersState.set_cost_allocation(card.id, value),
            class_name="econnect-select",
            aria_describedby=select_id + "-hint",
        ),
        rx.cond(
            card.cost_hint != "",
            rx.text(card.cost_hint, id=select_id + "-hint", size="1", color_scheme="gray"),
        ),
        spacing="1",
        width="100%",
        max_width="420px",
    )


def _end_button(card: rx.Var[PartnershipCard]) -> rx.Component:
    return confirm_dialog(
        rx.button(
            rx.icon("unlink", size=16),
            t("End partnership"),
            color_scheme="red",
            variant="soft",
            loading=is_busy_with(row_activity(END, card.id)),
        ),
        title=t("End the partnership with {partner}?", partner=card.partner_name),
        description=t(
            "{partner} loses access to your organisations at once, and you lose access to theirs: every membership "
            "across the two environments ends and connection keys stop working for those organisations. "
            "Nothing is deleted: documents, requests and the activity log stay in each environment. Both "
            "sides are told in the app and by email.",
            partner=card.partner_name,
        ),
        confirm_label=t("End partnership"),
        on_confirm=PartnersState.end_partnership(card.id, AuthState.action_id),
    )


def partnership_details(card: rx.Var[PartnershipCard]) -> rx.Component:
    """What one partnership holds besides its columns: when and by whom it ended, End partnership,
    who pays, the relationship managers and the organisations shared (a region named after the
    partner)."""
    return rx.vstack(
        rx.cond(
            card.can_end | (card.ended != ""),
            rx.hstack(
                rx.text(card.ended, size="2", color_scheme="gray"),
                rx.spacer(),
                rx.cond(card.can_end, _end_button(card)),
                align="center",
                spacing="3",
                width="100%",
                wrap="wrap",
            ),
        ),
        rx.cond(
            card.status == "Active",
            rx.vstack(
                _cost_allocation(card),
                _managers(card),
                rx.grid(
                    rx.vstack(
                        rx.heading(t("Their organisations you reach"), size="3", as_="h4"),
                        _shared_list(
                            card.their_organisations,
                            removable=False,
                            empty=t("None yet: someone of theirs adds you as a member."),
                        ),
                        spacing="2",
                    ),
                    rx.vstack(
                        rx.heading(t("Your organisations they reach"), size="3", as_="h4"),
                        _shared_list(
                            card.our_organisations,
                            removable=True,
                            empty=t("None: add their users as members of an organisation to share it."),
                        ),
                        spacing="2",
                    ),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
        ),
        spacing="3",
        width="100%",
        padding_bottom="8px",
        role="region",
        aria_label=card.partner_name,
    )


PARTNERSHIP_COLUMNS = (
    (i18n.N_("Partner"), "partner"),
    (i18n.N_("Status"), "status"),
    (i18n.N_("Partners since"), "since"),
    (i18n.N_("Via"), "via"),
    (i18n.N_("Who pays"), "cost"),
)
_JOINED_TO_DETAILS = {"box_shadow": "none"}  # no line between a partnership's columns and details


def partnership_rows(card: rx.Var[PartnershipCard]) -> rx.Component:
    """One partnership in the table: its columns, then its details across the whole row (on a
    phone, one card: the columns under their names, the details below)."""
    return rx.fragment(
        rx.table.row(
            card_cell(
                t("Partner"),
                rx.heading(card.partner_name, size="3", as_="h3"),
                header=True,
                style=_JOINED_TO_DETAILS,
            ),
            card_cell(
                t("Status"),
                rx.badge(
                    t_choice(card.status, PARTNERSHIP_STATUSES),
                    color_scheme=rx.cond(card.status == "Active", "green", "gray"),
                    high_contrast=True,
                ),
                style=_JOINED_TO_DETAILS,
            ),
            card_cell(t("Partners since"), rx.text(card.since, size="2"), style=_JOINED_TO_DETAILS),
            card_cell(t("Via"), rx.text(t_choice(card.origin, ORIGINS), size="2"), style=_JOINED_TO_DETAILS),
            card_cell(
                t("Who pays"),
                rx.text(t_choice(card.cost_allocation, COST_ALLOCATIONS), size="2"),
                style=_JOINED_TO_DETAILS,
            ),
        ),
        rx.table.row(
            rx.table.cell(partnership_details(card), col_span=len(PARTNERSHIP_COLUMNS)),
            class_name=CARD_CONTINUED,
        ),
    )


def _request_row(row: rx.Var[RelationshipRequestView]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(
                    rx.cond(row.incoming, t("From "), t("To ")),
                    rx.text.strong(row.other_name),
                    size="2",
                ),
                rx.badge(t_choice(row.status, REQUEST_STATUSES), color_scheme=row.colour),
                rx.spacer(),
                rx.text(row.sent, size="1", color_scheme="gray"),
                align="center",
                spacing="2",
                width="100%",
                wrap="wrap",
            ),
            rx.text(
                t(
                    "{name} found {organisation} in Find partners.",
                    name=row.requested_by,
                    organisation=row.organisation_name,
                ),
                size="2",
            ),
            rx.cond(row.message != "", rx.text("“", row.message, "”", size="2", color_scheme="gray")),
            rx.cond(
                row.can_answer,
                rx.hstack(
                    rx.button(
                        t("Accept"),
                        size="2",
                        aria_label=t("Accept the relationship request from {name}", name=row.other_name),
                        loading=is_busy_with(row_activity(ACCEPT, row.id)),
                        on_click=PartnersState.accept_request(row.id, AuthState.action_id),
                    ),
                    confirm_dialog(
                        rx.button(
                            t("Decline"),
                            size="2",
                            variant="soft",
                            color_scheme="red",
                            aria_label=t("Decline the relationship request from {name}", name=row.other_name),
                            loading=is_busy_with(row_activity(DECLINE, row.id)),
                        ),
                        title=t("Decline the request of {name}?", name=row.other_name),
                        description=t("{name} will be told that you declined.", name=row.other_name),
                        confirm_label=t("Decline"),
                        on_confirm=PartnersState.decline_request(row.id, AuthState.action_id),
                    ),
                    rx.text(t("Valid until {date}", date=row.expires), size="1", color_scheme="gray"),
                    spacing="2",
                    align="center",
                ),
            ),
            rx.cond(
                row.can_withdraw,
                confirm_dialog(
                    rx.button(
                        t("Withdraw"),
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        aria_label=t("Withdraw the relationship request to {name}", name=row.other_name),
                        loading=is_busy_with(row_activity(WITHDRAW, row.id)),
                    ),
                    title=t("Withdraw this relationship request?"),
                    description=t("The links in the emails to {name} stop working.", name=row.other_name),
                    confirm_label=t("Withdraw"),
                    on_confirm=PartnersState.withdraw_request(row.id, AuthState.action_id),
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _requests_section() -> rx.Component:
    return rx.fragment(
        rx.cond(
            PartnersState.incoming_requests.length() > 0,
            section_card(
                t("Relationship requests for you"),
                rx.vstack(
                    rx.foreach(PartnersState.incoming_requests, _request_row), spacing="3", width="100%"
                ),
                description=t("Environments that found you in Find partners and want to become partners."),
            ),
        ),
        rx.cond(
            PartnersState.other_requests.length() > 0,
            section_card(
                t("Relationship requests"),
                rx.vstack(rx.foreach(PartnersState.other_requests, _request_row), spacing="3", width="100%"),
            ),
        ),
    )


def _toolbar() -> rx.Component:
    return rx.hstack(
        filter_select(
            t("Show"),
            "partnership-filter",
            STATUS_FILTERS,
            PartnersState.status_filter,
            PartnersState.set_status_filter,
            min_width="160px",
        ),
        list_search(
            PartnersState, element_id="partnership-search", placeholder=t("Partner name"), label=t("Search")
        ),
        rx.link(rx.button(rx.icon("search"), t("Find partners"), size="3"), href=routes.FIND_PARTNERS),
        align="end",
        spacing="3",
        width="100%",
        wrap="wrap",
    )


def _partnership_table() -> rx.Component:
    return rx.vstack(
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(sortable_header(PartnersState, label, key) for label, key in PARTNERSHIP_COLUMNS)
                    )
                ),
                rx.table.body(rx.foreach(PartnersState.cards, partnership_rows)),
                width="100%",
                id="partnerships",
            ),
            width="100%",
            class_name=LIST_CARDS,
        ),
        pager(PartnersState, noun="partnerships", element_id="partnership-page-size"),
        spacing="3",
        width="100%",
    )


def _partnership_list() -> rx.Component:
    return rx.cond(
        ~PartnersState.loaded,
        rx.center(rx.spinner(), padding="24px", aria_label=t("Loading partnerships")),
        rx.cond(
            PartnersState.cards.length() > 0,
            _partnership_table(),
            rx.cond(
                (PartnersState.status_filter == DEFAULT_STATUS_FILTER) & (PartnersState.search == ""),
                empty_state(
                    "handshake",
                    t("No partners yet"),
                    t(
                        "A partnership starts when a client accepts your authorisation request, or when another "
                        "environment accepts your relationship request from Find partners."
                    ),
                    rx.hstack(
                        rx.link(
                            rx.button(t("New authorisation request"), variant="soft"),
                            href=routes.NEW_AUTHORISATION,
                        ),
                        rx.link(rx.button(t("Find partners"), variant="soft"), href=routes.FIND_PARTNERS),
                        spacing="2",
                    ),
                ),
                rx.cond(
                    PartnersState.search != "",
                    empty_state("handshake", t("Nothing here"), t("No partnerships match your search.")),
                    empty_state("handshake", t("Nothing here"), t("No partnerships match this filter.")),
                ),
            ),
        ),
    )


def partners_page() -> rx.Component:
    """/partners."""
    return app_layout(
        t("Partners"),
        rx.cond(
            PartnersState.denied,
            rx.callout(t(DENIED_MESSAGE), icon="lock", color_scheme="amber", role="alert", width="100%"),
            rx.vstack(_toolbar(), _requests_section(), _partnership_list(), spacing="5", width="100%"),
        ),
    )


def who_has_access_section() -> rx.Component:
    """The client's dashboard: which partner reaches which of our organisations, with End
    partnership and member removal right there (loads with the dashboard)."""
    return rx.cond(
        AuthState.can_manage_partnerships & (PartnersState.who_has_access.length() > 0),
        section_card(
            t("Who has access"),
            rx.vstack(rx.foreach(PartnersState.who_has_access, _access_card), spacing="3", width="100%"),
            description=t(
                "Partners whose users can reach your organisations. Remove someone, or end the "
                "partnership, at any time."
            ),
        ),
    )


def _access_card(card: rx.Var[PartnershipCard]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(card.partner_name, size="3", as_="h3"),
                rx.text(t("partners since {date}", date=card.since), size="1", color_scheme="gray"),
                rx.spacer(),
                rx.cond(card.can_end, _end_button(card)),
                align="center",
                spacing="2",
                width="100%",
                wrap="wrap",
            ),
            _shared_list(
                card.our_organisations, removable=True, empty=t("No organisation of yours is shared.")
            ),
            spacing="2",
            width="100%",
        ),
        role="region",
        aria_label=t("Access of {partner}", partner=card.partner_name),
        width="100%",
    )
