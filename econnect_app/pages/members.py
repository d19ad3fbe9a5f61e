"""/organisations/[organisation_id]/members: who may work with one organisation (member management)."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_dialog
from econnect_app.components.forms import app_form, field_error, is_busy_with, submit_button, submitting
from econnect_app.components.layout import app_layout, empty_state, loading_or_problem, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell
from econnect_app.components.translated import t, t_choice, translated_options
from econnect_app.formatting import format_date
from econnect_app.models import MembershipRole, User
from econnect_app.services import members
from econnect_app.services.errors import NotFound
from econnect_app.state.auth import AuthState, Updates, row_activity

ROLE_OPTIONS = [role.value for role in MembershipRole]
ROLE_NAMES = (i18n.N_("Member"), i18n.N_("Administrator"))  # ROLE_OPTIONS, shown translated
STATUSES = (i18n.N_("Invited"), i18n.N_("Active"), i18n.N_("Ended"))  # models.MembershipStatus
REMOVE = "remove-member"
NOT_MANAGER_NOTE = i18n.N_("Only administrators of this organisation can add and remove its members.")
PARTNER_NOTE = i18n.N_(
    "A user of a partner environment is invited first: they get access once they accept (they are told "
    "in the app and by email)."
)


@dataclasses.dataclass
class MemberView:
    """One member (or invited user) as the table shows it."""

    membership_id: int
    name: str
    email: str
    environment_name: str
    is_partner: bool
    role: str
    status: str
    since: str
    is_self: bool


@dataclasses.dataclass
class CandidateOption:
    """A user who may be added."""

    value: str
    label: str


class MembersState(AuthState):
    """One organisation's members; refreshed live (removing someone shows on their pages too)."""

    organisation_id: int = 0
    organisation_name: str = ""
    owner_name: str = ""
    is_own: bool = False
    activated: bool = False
    can_manage: bool = False
    rows: list[MemberView] = []
    candidates: list[CandidateOption] = []
    problem: str = ""
    loaded: bool = False
    form_key: int = 0

    def _live_refresh(self, db: Session, user: User) -> None:
        try:
            view = members.members_view(db, actor=user, organisation_id=self.organisation_id)
        except NotFound as error:
            self.problem, self.rows, self.candidates, self.can_manage = error.message, [], [], False
            self.loaded = True
            return
        self.problem = ""
        self.organisation_name = view.organisation_name
        self.owner_name = view.owner_environment_name
        self.is_own = view.is_own
        self.activated = view.activated
        self.can_manage = view.can_manage
        self.rows = [
            MemberView(
                membership_id=row.membership_id,
                name=row.name,
                email=row.email,
                environment_name=row.environment_name,
                is_partner=row.is_partner,
                role=row.role,
                status=row.status,
                since=format_date(row.since),
                is_self=row.is_self,
            )
            for row in view.members
        ]
        self.candidates = [
            CandidateOption(
                value=str(candidate.user_id),
                label=i18n.gettext(
                    "{name} ({email}) · {environment}, partner",
                    name=candidate.name,
                    email=candidate.email,
                    environment=candidate.environment_name,
                )
                if candidate.is_partner
                else f"{candidate.name} ({candidate.email})",
            )
            for candidate in view.candidates
        ]
        self.loaded = True

    @rx.event
    def load(self) -> Updates:
        """Read the members of the organisation in the address and follow changes live."""
        self.organisation_id = routes.organisation_id_in(self.router.url.path)
        self.loaded = False

        return self._load_live()

    @rx.event
    def add_member(self, form: dict[str, Any]) -> Updates:
        """Add (or, for a partner user, invite) a member."""

        def action(db: Session, actor: User) -> Any:
            membership = members.add_member(
                db,
                actor=actor,
                organisation_id=self.organisation_id,
                user_id=str(form.get("user") or ""),
                role=str(form.get("role") or ""),
            )
            self._live_refresh(db, actor)
            self.form_key += 1
            added = next((row for row in self.rows if row.membership_id == membership.id), None)
            name = added.name if added else i18n.gettext("The user")
            if membership.status == "Invited":
                return rx.toast.success(
                    i18n.gettext("{name} is invited. They get access once they accept.", name=name)
                )
            return rx.toast.success(
                i18n.gettext(
                    "{name} is now {role} of {organisation}.",
                    name=name,
                    role=i18n.gettext(membership.role),
                    organisation=self.organisation_name,
                )
            )

        return self._act(action, form=form)

    @rx.event
    def change_role(self, membership_id: int, role: str) -> Updates:
        """Make a member Member or Administrator."""

        def action(db: Session, actor: User) -> Any:
            def change() -> Any:
                membership = members.change_member_role(
                    db, actor=actor, membership_id=membership_id, role=role
                )
                return rx.toast.success(
                    i18n.gettext("Role changed to {role}.", role=i18n.gettext(membership.role))
                )

            outcome = self._outcome(db, change)
            self._live_refresh(db, actor)  # a refused change shows the saved role again
            return outcome

        return self._act(action, busy_with=row_activity("role", membership_id))

    @rx.event
    def remove(self, membership_id: int, action_id: str | None = None) -> Updates:
        """Remove a member (confirmed first); kept in the history."""

        def action(db: Session, actor: User) -> Any:
            name = next(
                (row.name for row in self.rows if row.membership_id == membership_id),
                i18n.gettext("The member"),
            )
            members.remove_member(db, actor=actor, membership_id=membership_id)
            self._live_refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "{name} no longer has access to {organisation}.",
                    name=name,
                    organisation=self.organisation_name,
                )
            )

        return self._act(action, busy_with=row_activity(REMOVE, membership_id), action_id=action_id)


def _role_cell(row: rx.Var[MemberView]) -> rx.Component:
    select_id = "role-" + row.membership_id.to_string()
    return rx.cond(
        MembersState.can_manage,
        rx.el.select(
            *translated_options(ROLE_OPTIONS),
            id=select_id,
            value=row.role,
            aria_label=t("Role of {name}", name=row.name),
            disabled=AuthState.busy,
            on_change=lambda value: MembersState.change_role(row.membership_id, value),
            class_name="econnect-select",
        ),
        rx.text(t_choice(row.role, ROLE_NAMES), size="2"),
    )


def _member_row(row: rx.Var[MemberView]) -> rx.Component:
    return rx.table.row(
        card_cell(
            t("Member"),
            rx.vstack(
                rx.text(row.name, rx.cond(row.is_self, t(" (you)"), ""), weight="medium"),
                rx.text(row.email, size="1", color_scheme="gray"),
                spacing="0",
            ),
            header=True,
        ),
        card_cell(
            t("Environment"),
            rx.hstack(
                rx.text(row.environment_name, size="2"),
                rx.cond(row.is_partner, rx.badge(t("Partner"), variant="outline", size="1")),
                spacing="2",
                align="center",
            ),
        ),
        card_cell(t("Role"), _role_cell(row)),
        card_cell(
            t("Status"),
            rx.badge(
                t_choice(row.status, STATUSES),
                color_scheme=rx.cond(row.status == "Active", "green", "amber"),
                variant="soft",
            ),
        ),
        card_cell(t("Since"), rx.text(row.since, size="2")),
        rx.table.cell(
            rx.cond(
                MembersState.can_manage,
                confirm_dialog(
                    rx.button(
                        t("Remove"),
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        aria_label=t("Remove {name}", name=row.name),
                        loading=is_busy_with(row_activity(REMOVE, row.membership_id)),
                    ),
                    title=t("Remove {name}?", name=row.name),
                    description=t(
                        "{name} loses access to {organisation} at once, including pages they have open. The "
                        "membership is kept in the history.",
                        name=row.name,
                        organisation=MembersState.organisation_name,
                    ),
                    confirm_label=t("Remove"),
                    on_confirm=MembersState.remove(row.membership_id, AuthState.action_id),
                ),
            )
        ),
        align="center",
    )


def _member_table() -> rx.Component:
    return rx.cond(
        MembersState.rows.length() > 0,
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(t("Member")),
                        rx.table.column_header_cell(t("Environment")),
                        rx.table.column_header_cell(t("Role")),
                        rx.table.column_header_cell(t("Status")),
                        rx.table.column_header_cell(t("Since")),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(MembersState.rows, _member_row)),
                variant="surface",
                width="100%",
            ),
            overflow_x="auto",
            width="100%",
            id="members",
            class_name=LIST_CARDS,
        ),
        empty_state("users", t("No members yet"), t("Add the first member below.")),
    )


def _add_form() -> rx.Component:
    errors = MembersState.field_errors
    return app_form(
        rx.vstack(
            rx.grid(
                rx.vstack(
                    rx.el.label(rx.text(t("User"), size="2", weight="medium"), html_for="field-user"),
                    rx.el.select(
                        rx.el.option(t("Choose a user"), value=""),
                        rx.foreach(MembersState.candidates, lambda c: rx.el.option(c.label, value=c.value)),
                        id="field-user",
                        name="user",
                        default_value="",
                        aria_describedby="field-user-error",
                        class_name="econnect-select",
                    ),
                    field_error(errors, "user"),
                    spacing="1",
                    width="100%",
                ),
                rx.vstack(
                    rx.el.label(rx.text(t("Role"), size="2", weight="medium"), html_for="field-role"),
                    rx.el.select(
                        *translated_options(ROLE_OPTIONS),
                        id="field-role",
                        name="role",
                        default_value=MembershipRole.MEMBER.value,
                        aria_describedby="field-role-error",
                        class_name="econnect-select",
                    ),
                    field_error(errors, "role"),
                    spacing="1",
                    width="100%",
                ),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="4",
                width="100%",
            ),
            rx.text(
                t("Member: view, create and send documents. Administrator: also add and remove members."),
                " ",
                t(PARTNER_NOTE),
                size="1",
                color_scheme="gray",
            ),
            submit_button(t("Add member"), submitting(MembersState.add_member)),
            spacing="3",
            width="100%",
            align="start",
        ),
        key=MembersState.form_key,
        on_submit=MembersState.add_member,
    )


def _content() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link(
                "← " + MembersState.organisation_name,
                href=routes.ORGANISATIONS + "/" + MembersState.organisation_id.to_string(),
            ),
            rx.text(t("· owned by {name}", name=MembersState.owner_name), size="2", color_scheme="gray"),
            spacing="2",
            align="center",
        ),
        section_card(
            t("Members of {organisation}", organisation=MembersState.organisation_name), _member_table()
        ),
        rx.cond(
            MembersState.can_manage,
            section_card(
                t("Add member"),
                rx.cond(
                    MembersState.activated,
                    _add_form(),
                    rx.callout(t(members.NOT_ACTIVATED), icon="info", color_scheme="amber"),
                ),
            ),
            rx.callout(t(NOT_MANAGER_NOTE), icon="info", color_scheme="gray", size="1"),
        ),
        spacing="5",
        width="100%",
    )


def members_page() -> rx.Component:
    """/organisations/[organisation_id]/members."""
    return app_layout(
        t("Members"),
        loading_or_problem(
            MembersState.loaded,
            MembersState.problem,
            _content(),
            loading_label=t("Loading members"),
            back_label=t("Go to organisations"),
            back_href=routes.ORGANISATIONS,
        ),
    )
