"""/users: the environment's users, their roles and invitations (Administrators). The list is
paged, sorted and searched by the database, its view kept in the URL (``state/list_view.py``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import (
    app_form,
    is_busy_with,
    select_field,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell, list_search, pager, sortable_header
from econnect_app.components.translated import t, translated_options
from econnect_app.models import Role, User, UserStatus
from econnect_app.services import users as users_service
from econnect_app.services.errors import PermissionDenied
from econnect_app.state.auth import AuthState, Updates, row_activity
from econnect_app.state.list_view import ListView

ROLE_CHOICES: list[str] = [role.value for role in Role]
# The roles' names as a person reads them (the values stay English: the server reads them).
ROLE_NAMES = (i18n.N_("User"), i18n.N_("Advanced user"), i18n.N_("Administrator"))
DENIED_MESSAGE = i18n.N_("Only administrators can manage the users of this environment.")
RESEND = "resend-invitation"
BLOCK = "block"
UNBLOCK = "unblock"


@dataclasses.dataclass
class UserRow:
    """One user as the table shows it (no secrets)."""

    id: int
    name: str
    email: str
    role: str
    is_relationship_manager: bool
    status: str
    is_you: bool


class UsersState(ListView, AuthState):
    """One page of the users table (the view in the URL), the invite dialog and the per-row actions."""

    users: list[UserRow] = []
    loading: bool = True
    denied: bool = False
    invite_open: bool = False

    def _refresh(self, db: Session, actor: User) -> None:
        """Read the page the view asks for (the service checks the actor is an Administrator)."""
        try:
            page = users_service.users_page(db, actor=actor, query=self._list_query())
        except PermissionDenied:
            self.denied = True
            self.users = []
            return
        self.denied = False
        self._show_page(page)
        users = page.rows
        self.users = [
            UserRow(
                id=user.id or 0,
                name=user.name,
                email=user.email,
                role=user.role,
                is_relationship_manager=user.is_relationship_manager,
                status=user.status,
                is_you=user.id == actor.id,
            )
            for user in users
        ]

    def _changed(self, db: Session, actor: User, message: str) -> Any:
        """After a successful change: refresh who is logged in (a role may be theirs) and the list."""
        actor = self._current_user(db) or actor
        self._refresh(db, actor)
        return rx.toast.success(message)

    @rx.event
    async def load(self) -> Updates:
        """on_load: the environment's users (the view in the URL), or a clear message for
        non-administrators."""
        self.loading = True
        self.invite_open = False
        self._read_list_url()
        try:
            async for update in self._load(self._refresh):
                yield update
        finally:
            self.loading = False

    @rx.event
    def set_invite_open(self, is_open: bool) -> None:
        """Open or close the invite dialog (fresh fields and errors each time)."""
        self.invite_open = is_open
        self.field_errors = {}

    @rx.event
    def invite_user(self, form: dict[str, Any]) -> Updates:
        """Invite someone by email; they get a link to set their name and password."""

        def action(db: Session, actor: User) -> Any:
            invited = users_service.invite_user(
                db,
                actor=actor,
                email=form.get("email", ""),
                role=form.get("role", ""),
                is_relationship_manager=bool(form.get("is_relationship_manager")),
            )
            self.invite_open = False
            return self._changed(db, actor, i18n.gettext("Invitation sent to {email}.", email=invited.email))

        return self._act(action, form=form)

    @rx.event
    def resend_invitation(self, user_id: int, email: str, action_id: str | None = None) -> Updates:
        """Email a fresh invitation link to an invited user."""

        def action(db: Session, actor: User) -> Any:
            users_service.resend_invitation(db, actor=actor, user_id=user_id)
            return self._changed(db, actor, i18n.gettext("Invitation sent to {email} again.", email=email))

        return self._act(action, busy_with=row_activity(RESEND, user_id), action_id=action_id)

    @rx.event
    def change_role(self, user_id: int, role: str) -> Updates:
        """Give a user another environment role (effective immediately)."""

        def action(db: Session, actor: User) -> Any:
            user = users_service.change_role(db, actor=actor, user_id=user_id, role=role)
            message = i18n.gettext(
                "The role of {who} is now {role}.", who=user.name or user.email, role=i18n.gettext(user.role)
            )
            return self._changed(db, actor, message)

        return self._act(action)

    @rx.event
    def set_relationship_manager(self, user_id: int, enabled: bool) -> Updates:
        """Give or take away the Relationship manager role."""

        def action(db: Session, actor: User) -> Any:
            user = users_service.set_relationship_manager(db, actor=actor, user_id=user_id, enabled=enabled)
            who = user.name or user.email
            message = (
                i18n.gettext("{who} is now a relationship manager.", who=who)
                if user.is_relationship_manager
                else i18n.gettext("{who} is no longer a relationship manager.", who=who)
            )
            return self._changed(db, actor, message)

        return self._act(action)

    @rx.event
    def block_user(self, user_id: int, action_id: str | None = None) -> Updates:
        """Block a user: they can no longer log in."""

        def action(db: Session, actor: User) -> Any:
            user = users_service.block_user(db, actor=actor, user_id=user_id)
            return self._changed(db, actor, i18n.gettext("{who} is blocked.", who=user.name or user.email))

        return self._act(action, busy_with=row_activity(BLOCK, user_id), action_id=action_id)

    @rx.event
    def unblock_user(self, user_id: int, action_id: str | None = None) -> Updates:
        """Let a blocked user log in again."""

        def action(db: Session, actor: User) -> Any:
            user = users_service.unblock_user(db, actor=actor, user_id=user_id)
            return self._changed(db, actor, i18n.gettext("{who} is unblocked.", who=user.name or user.email))

        return self._act(action, busy_with=row_activity(UNBLOCK, user_id), action_id=action_id)


def _invite_dialog() -> rx.Component:
    errors = UsersState.field_errors
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("user-plus", size=16), t("Invite user"), size="3")),
        rx.dialog.content(
            rx.dialog.title(t("Invite user")),
            rx.dialog.description(
                t(
                    "We email them a link to set their name and password. If it does not arrive, "
                    "you can resend it from the list."
                ),
                size="2",
                color_scheme="gray",
                margin_bottom="16px",
            ),
            app_form(
                rx.vstack(
                    text_field(t("Email"), "email", errors, type="email", autocomplete="off"),
                    select_field(t("Role"), "role", ROLE_CHOICES, errors, default_value=Role.USER.value),
                    rx.vstack(
                        rx.checkbox(t("Relationship manager"), name="is_relationship_manager", value="on"),
                        rx.text(
                            t("Relationship managers look after partnerships with clients."),
                            size="1",
                            color_scheme="gray",
                        ),
                        spacing="1",
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button(
                                t("Cancel"), type="button", variant="soft", color_scheme="gray", size="3"
                            )
                        ),
                        submit_button(t("Send invitation"), submitting(UsersState.invite_user)),
                        justify="end",
                        width="100%",
                        spacing="3",
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=UsersState.invite_user,
                width="100%",
            ),
            max_width="460px",
        ),
        open=UsersState.invite_open,
        on_open_change=UsersState.set_invite_open,
    )


def _status_badge(status: rx.Var) -> rx.Component:
    return rx.match(
        status,
        (UserStatus.ACTIVE.value, rx.badge(t("Active"), color_scheme="green")),
        (UserStatus.INVITED.value, rx.badge(t("Invited"), color_scheme="amber")),
        (UserStatus.BLOCKED.value, rx.badge(t("Blocked"), color_scheme="red")),
        rx.badge(status, color_scheme="gray"),
    )


def _role_select(row: rx.Var) -> rx.Component:
    return rx.el.select(
        *translated_options(ROLE_CHOICES),
        value=row.role,
        on_change=lambda role: UsersState.change_role(row.id, role),
        disabled=AuthState.busy,
        aria_label=t("Role for {email}", email=row.email),
        class_name="econnect-select",
    )


def _relationship_manager_toggle(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.switch(
            checked=row.is_relationship_manager,
            on_change=lambda enabled: UsersState.set_relationship_manager(row.id, enabled),
            disabled=AuthState.busy,
            aria_label=t("Relationship manager for {email}", email=row.email),
        ),
        rx.text(rx.cond(row.is_relationship_manager, t("Yes"), t("No")), size="2"),
        align="center",
        spacing="2",
    )


def _block_button(row: rx.Var) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                t("Block"),
                size="1",
                variant="soft",
                color_scheme="red",
                loading=is_busy_with(row_activity(BLOCK, row.id)),
                aria_label=t("Block {email}", email=row.email),
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(t("Block {email}?", email=row.email)),
            rx.alert_dialog.description(
                t(
                    "They can no longer log in to this environment. Nothing they made is deleted, "
                    "and you can unblock them later."
                ),
                size="2",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(t("Cancel"), variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        t("Block"),
                        color_scheme="red",
                        on_click=UsersState.block_user(row.id, AuthState.action_id),
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
            max_width="440px",
        ),
    )


def _row_actions(row: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.cond(
            row.status == UserStatus.INVITED.value,
            rx.button(
                t("Resend invitation"),
                size="1",
                variant="soft",
                on_click=UsersState.resend_invitation(row.id, row.email, AuthState.action_id),
                loading=is_busy_with(row_activity(RESEND, row.id)),
                aria_label=t("Resend invitation to {email}", email=row.email),
            ),
        ),
        rx.cond(
            row.status == UserStatus.BLOCKED.value,
            rx.button(
                t("Unblock"),
                size="1",
                variant="soft",
                on_click=UsersState.unblock_user(row.id, AuthState.action_id),
                loading=is_busy_with(row_activity(UNBLOCK, row.id)),
                aria_label=t("Unblock {email}", email=row.email),
            ),
            rx.cond(row.is_you, rx.fragment(), _block_button(row)),
        ),
        spacing="2",
        wrap="wrap",
    )


def _user_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        card_cell(
            t("Name"),
            rx.hstack(
                rx.text(rx.cond(row.name != "", row.name, "—"), weight="medium"),
                rx.cond(row.is_you, rx.badge(t("You"), variant="outline", size="1")),
                align="center",
                spacing="2",
            ),
            header=True,
        ),
        card_cell(t("Email"), row.email),
        card_cell(t("Role"), _role_select(row)),
        card_cell(t("Relationship manager"), _relationship_manager_toggle(row)),
        card_cell(t("Status"), _status_badge(row.status)),
        rx.table.cell(_row_actions(row)),
        align="center",
    )


def _users_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                sortable_header(UsersState, t("Name"), "name"),
                sortable_header(UsersState, t("Email"), "email"),
                sortable_header(UsersState, t("Role"), "role"),
                sortable_header(UsersState, t("Relationship manager"), "relationship_manager"),
                sortable_header(UsersState, t("Status"), "status"),
                rx.table.column_header_cell(t("Actions")),
            )
        ),
        rx.table.body(rx.foreach(UsersState.users, _user_row)),
        variant="surface",
        width="100%",
        aria_label=t("Users"),
        class_name=LIST_CARDS,
    )


def _users_content() -> rx.Component:
    return rx.cond(
        UsersState.loading,
        rx.center(rx.spinner(size="3"), padding="40px", width="100%", aria_label=t("Loading users")),
        rx.cond(
            UsersState.users.length() > 0,
            _users_table(),
            rx.cond(
                UsersState.search != "",
                rx.text(t("No users match your search."), color_scheme="gray", size="2", padding_y="12px"),
                empty_state(
                    "users",
                    t("No users yet"),
                    t(
                        "Invite the people you work with. They get an email with a link to join this environment."
                    ),
                ),
            ),
        ),
    )


def users_page() -> rx.Component:
    """The users page."""
    return app_layout(
        t("Users"),
        rx.cond(
            UsersState.denied,
            rx.callout(t(DENIED_MESSAGE), icon="lock", color_scheme="amber", role="alert", width="100%"),
            section_card(
                t("Users of this environment"),
                rx.hstack(
                    list_search(UsersState, element_id="user-search", placeholder=t("Name or email")),
                    _invite_dialog(),
                    align="end",
                    justify="between",
                    spacing="4",
                    width="100%",
                    flex_wrap="wrap",
                ),
                _users_content(),
                pager(UsersState, noun=t("users"), element_id="users-page-size"),
                description=t(
                    "Roles take effect immediately. User: works with documents. Advanced user: also "
                    "manages partnerships and connection keys. Administrator: also manages users and settings."
                ),
            ),
        ),
    )
