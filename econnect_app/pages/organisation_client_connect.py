"""The `Client Connect` section of /organisations/[organisation_id] (seed 003): the link, available
apps, "Ask owner to connect" and the connected apps.

Opening the section only reads. A manager (an Advanced user or Administrator of an environment that
manages the organisation) without a link yet sees "No Client Connect link yet" and `Create link`
(``client_connect.ensure_link``, a use case with its activity row); "Ask owner to connect" makes the
link too. The section follows its environment's changes live: a connection made by the owner shows
on an open page without a reload.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_button, copy_field, visually_hidden
from econnect_app.components.forms import (
    app_form,
    field_error,
    form_actions,
    is_busy_with,
    secondary_button,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import empty_state
from econnect_app.components.sections import data_table, intro_text, live_section, sub_heading, two_lines
from econnect_app.components.translated import t, t_choice
from econnect_app.formatting import format_datetime
from econnect_app.models import User
from econnect_app.services import client_connect
from econnect_app.services.errors import NotFound
from econnect_app.state.auth import AuthState, Updates, row_activity

CREATE_LINK = "create-client-connect-link"
REGENERATE = "regenerate-client-connect-link"
DISCONNECT = "disconnect-app"
SECTION_ID = "client-connect"
# A connection's status: an English value (compared on the page), shown translated with ``t_choice``.
CONNECTION_STATUSES = (i18n.N_("Connected"), i18n.N_("Disconnected"))
LINK_READY = i18n.N_("The Client Connect link is ready. Share it with the owner.")
LINK_REPLACED = i18n.N_("A new Client Connect link was made. The previous link no longer works.")


@dataclasses.dataclass
class AppCard:
    """A software package the owner can be asked to connect."""

    package_id: int
    slug: str
    name: str
    field_label: str


@dataclasses.dataclass
class ConnectionLine:
    """One connected (or disconnected) app, as the table shows it."""

    connection_id: int
    package_name: str
    detail: str
    status: str
    connected_by_name: str
    connected_by_email: str
    connected_at: str
    disconnected: str  # "Disconnected <when> by <whom>" ("" while connected)
    firm_name: str
    can_disconnect: bool


class ClientConnectState(AuthState):
    """The organisation's Client Connect link and connections, for the accountant."""

    organisation_id: int = 0
    loaded: bool = False
    visible: bool = False  # the user may open the organisation
    organisation_name: str = ""
    can_manage: bool = False
    not_manager_reason: str = ""
    link_url: str = ""
    link_problem: str = ""
    link_since: str = ""
    apps: list[AppCard] = []
    connections: list[ConnectionLine] = []
    ask_package_id: int = 0  # the app whose "Ask owner to connect" dialog is open
    ask_package_name: str = ""
    ask_slug: str = ""
    ask_form_key: int = 0

    @rx.var
    def ask_link(self) -> str:
        """The link for the open dialog's app (chosen in advance on the owner's page)."""
        return client_connect.app_link_url(self.link_url, self.ask_slug)

    def _live_refresh(self, db: Session, user: User) -> None:
        try:
            view = client_connect.client_connect_view(db, actor=user, organisation_id=self.organisation_id)
        except NotFound:
            self.visible = self.can_manage = False
            self.link_url = self.link_problem = self.link_since = ""
            self.apps, self.connections = [], []
            self.ask_package_id = 0
            self.loaded = True
            return
        self.visible = True
        self.organisation_name = view.organisation_name
        self.can_manage = view.can_manage
        self.not_manager_reason = view.not_manager_reason
        self.link_url = view.link_url
        self.link_problem = view.link_problem
        self.link_since = format_datetime(view.link_created_at, missing="")
        self.apps = [
            AppCard(package_id=app.package_id, slug=app.slug, name=app.name, field_label=app.field_label)
            for app in view.apps
        ]
        self.connections = [
            ConnectionLine(
                connection_id=row.connection_id,
                package_name=row.package_name,
                detail=row.detail,
                status=row.status,
                connected_by_name=row.connected_by_name,
                connected_by_email=row.connected_by_email,
                connected_at=format_datetime(row.connected_at),
                disconnected=_disconnected(row),
                firm_name=row.firm_name,
                can_disconnect=row.can_disconnect,
            )
            for row in view.connections
        ]
        if not self.can_manage:
            self.ask_package_id = 0
        self.loaded = True

    @rx.event
    def load(self) -> Updates:
        """Read the section for the organisation in the address (nothing is written) and follow
        changes live."""
        self.organisation_id = routes.organisation_id_in(self.router.url.path)
        self.loaded = False
        self.ask_package_id = 0
        return self._load_live()

    def _change_link(self, change: Any, *, done: str, busy_with: str, action_id: str | None) -> Updates:
        """Run ``change`` (a ``client_connect`` use case on this organisation's link), show the
        section again and say ``done`` (marked with ``i18n.N_``, shown translated)."""

        def action(db: Session, actor: User) -> Any:
            change(db, actor=actor, organisation_id=self.organisation_id)
            self._live_refresh(db, actor)
            return rx.toast.success(i18n.gettext(done))

        return self._act(action, busy_with=busy_with, action_id=action_id)

    @rx.event
    def create_link(self, action_id: str | None = None) -> Updates:
        """Create link: the organisation's link for this environment (the one a colleague or
        another tab made meanwhile, if any)."""
        return self._change_link(
            client_connect.ensure_link, done=LINK_READY, busy_with=CREATE_LINK, action_id=action_id
        )

    @rx.event
    def regenerate(self, action_id: str | None = None) -> Updates:
        """Replace the link (confirmed first): the old one stops working at once."""
        return self._change_link(
            client_connect.regenerate_link, done=LINK_REPLACED, busy_with=REGENERATE, action_id=action_id
        )

    @rx.event
    def open_ask(self, package_id: int) -> None:
        """Open the "Ask owner to connect" dialog of one app."""
        chosen = next((app for app in self.apps if app.package_id == package_id), None)
        if chosen is None:
            return
        self.ask_package_id, self.ask_package_name, self.ask_slug = (
            chosen.package_id,
            chosen.name,
            chosen.slug,
        )
        self.field_errors = {}
        self.ask_form_key += 1

    @rx.event
    def set_ask_open(self, is_open: bool) -> None:
        """The dialog was closed (Escape, Cancel, outside click)."""
        if not is_open:
            self.ask_package_id = 0
            self.field_errors = {}

    @rx.event
    def send_ask(self, form: dict[str, Any]) -> Updates:
        """Email the owner the link, with the accountant in Cc."""
        package_id = self.ask_package_id

        def action(db: Session, actor: User) -> Any:
            address = client_connect.ask_owner_to_connect(
                db,
                actor=actor,
                organisation_id=self.organisation_id,
                package_id=package_id,
                owner_email=str(form.get("owner_email") or ""),
            )
            self.ask_package_id = 0
            self._live_refresh(db, actor)
            return rx.toast.success(i18n.gettext("Email sent to {address}, with you in Cc.", address=address))

        return self._act(action, form=form)

    @rx.event
    def disconnect(self, connection_id: int, action_id: str | None = None) -> Updates:
        """Disconnect an app (confirmed first); kept in the history."""

        def action(db: Session, actor: User) -> Any:
            name = next(
                (c.package_name for c in self.connections if c.connection_id == connection_id),
                i18n.gettext("The app"),
            )
            client_connect.disconnect(db, actor=actor, connection_id=connection_id)
            self._live_refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "{name} was disconnected from {organisation}.",
                    name=name,
                    organisation=self.organisation_name,
                )
            )

        return self._act(action, busy_with=row_activity(DISCONNECT, connection_id), action_id=action_id)


def _disconnected(row: Any) -> str:
    """``Disconnected <when> by <whom>`` ("" while connected), in the language in effect."""
    if not row.disconnected_at:
        return ""
    when = format_datetime(row.disconnected_at)
    if row.disconnected_by:
        return i18n.gettext("Disconnected {date} by {name}", date=when, name=row.disconnected_by)
    return i18n.gettext("Disconnected {date}", date=when)


# --- the link -------------------------------------------------------------------------------------


def _no_link_yet() -> rx.Component:
    """Before anyone made the link: what it is for, and Create link."""
    return empty_state(
        "link",
        t("No Client Connect link yet"),
        t("Create it to share it with the owner; asking the owner to connect by email creates it too."),
        rx.button(
            rx.icon("link", size=16),
            t("Create link"),
            loading=is_busy_with(CREATE_LINK),
            disabled=AuthState.busy,
            on_click=ClientConnectState.create_link(AuthState.action_id),
        ),
    )


def _regenerate() -> rx.Component:
    state = ClientConnectState
    return rx.hstack(
        confirm_button(
            t("Regenerate"),
            icon="refresh-cw",
            busy=is_busy_with(REGENERATE),
            title=t("Regenerate the Client Connect link?"),
            description=t(
                "The current link stops working at once: whoever opens it is told that it no longer works. "
                "Connections made through it stay. Share the new link with the owner again."
            ),
            on_confirm=state.regenerate(AuthState.action_id),
            color_scheme="amber",
            button_color_scheme="gray",
        ),
        rx.cond(
            state.link_since != "",
            rx.text(t("Made {date}", date=state.link_since), size="1", color_scheme="gray"),
        ),
        spacing="3",
        align="center",
    )


def _link() -> rx.Component:
    state = ClientConnectState
    return rx.vstack(
        rx.cond(
            state.link_problem != "",
            rx.callout(
                state.link_problem, icon="triangle_alert", color_scheme="amber", role="alert", width="100%"
            ),
        ),
        rx.cond(
            state.link_url != "",
            copy_field(t("Client Connect link"), "client-connect-link", state.link_url, t("link")),
        ),
        rx.cond((state.link_url != "") | (state.link_problem != ""), _regenerate(), _no_link_yet()),
        spacing="3",
        width="100%",
    )


# --- available apps and "Ask owner to connect" ----------------------------------------------------


def _app_card(app: rx.Var[AppCard]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(app.name, size="3", as_="h4"),
            rx.text(
                t("The owner enters the {field}.", field=app.field_label.lower()),
                size="1",
                color_scheme="gray",
            ),
            rx.button(
                rx.icon("mail", size=14),
                t("Ask owner to connect"),
                visually_hidden(" ", app.name),
                size="2",
                variant="soft",
                type="button",
                on_click=ClientConnectState.open_ask(app.package_id),
            ),
            spacing="2",
            align="start",
            height="100%",
            justify="between",
        ),
        role="group",
        aria_label=app.name,
    )


def _available_apps() -> rx.Component:
    return rx.vstack(
        sub_heading(t("Available apps"), id="available-apps-heading"),
        intro_text(
            t(
                "The software the owner can connect through the link. Ask the owner by email, or copy the link "
                "and share it yourself."
            )
        ),
        rx.cond(
            ClientConnectState.apps.length() > 0,
            rx.grid(
                rx.foreach(ClientConnectState.apps, _app_card),
                columns=rx.breakpoints(initial="1", sm="2", md="3"),
                spacing="3",
                width="100%",
            ),
            empty_state("package", t("No apps available"), t("The software package catalogue is empty.")),
        ),
        spacing="3",
        width="100%",
    )


def _ask_dialog() -> rx.Component:
    state = ClientConnectState
    errors = state.field_errors
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(t("Ask the owner to connect {package}", package=state.ask_package_name)),
            rx.dialog.description(
                t(
                    "We email the owner of {organisation} the Client Connect link, with {package} chosen. You "
                    "receive the same email in Cc.",
                    organisation=state.organisation_name,
                    package=state.ask_package_name,
                ),
                size="2",
                margin_bottom="12px",
            ),
            app_form(
                rx.vstack(
                    text_field(t("Owner email"), "owner_email", errors, type="email", autocomplete="off"),
                    field_error(errors, "package"),
                    form_actions(
                        rx.dialog.close(secondary_button(t("Cancel"))),
                        submit_button(t("Send"), submitting(state.send_ask)),
                    ),
                    spacing="3",
                    width="100%",
                ),
                key=state.ask_form_key,
                on_submit=state.send_ask,
            ),
            rx.cond(  # before the link exists, Send creates it
                state.link_url != "",
                rx.fragment(
                    rx.separator(margin_y="16px"),
                    rx.text(t("Or share the link yourself:"), size="2"),
                    copy_field(
                        t("Link for the owner"),
                        "client-connect-app-link",
                        state.ask_link,
                        t("link for the owner"),
                        size="2",
                    ),
                ),
            ),
            max_width="520px",
        ),
        open=state.ask_package_id > 0,
        on_open_change=state.set_ask_open,
    )


# --- connections ----------------------------------------------------------------------------------


def _connection_row(row: rx.Var[ConnectionLine]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(two_lines(row.package_name, row.detail, weight="medium")),
        rx.table.cell(
            rx.badge(
                t_choice(row.status, CONNECTION_STATUSES),
                color_scheme=rx.cond(row.status == "Connected", "green", "gray"),
                variant="soft",
            )
        ),
        rx.table.cell(two_lines(row.connected_by_name, row.connected_by_email, size="2")),
        rx.table.cell(
            rx.vstack(
                rx.text(row.connected_at, size="2"),
                rx.cond(row.disconnected != "", rx.text(row.disconnected, size="1", color_scheme="gray")),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(row.firm_name, size="2")),
        rx.table.cell(
            rx.cond(
                row.can_disconnect,
                confirm_button(
                    t("Disconnect"),
                    size="1",
                    aria_label=t("Disconnect {package}", package=row.package_name),
                    busy=is_busy_with(row_activity(DISCONNECT, row.connection_id)),
                    title=t("Disconnect {package}?", package=row.package_name),
                    description=t(
                        "{package} stops being connected to {organisation}. The connection is kept in the history; "
                        "the owner can connect it again through the link.",
                        package=row.package_name,
                        organisation=ClientConnectState.organisation_name,
                    ),
                    on_confirm=ClientConnectState.disconnect(row.connection_id, AuthState.action_id),
                ),
            )
        ),
        align="center",
    )


def _connections() -> rx.Component:
    return rx.vstack(
        sub_heading(t("Connections")),
        rx.cond(
            ClientConnectState.connections.length() > 0,
            data_table(
                [t("Software package"), t("Status"), t("Connected by"), t("When"), t("Link of"), ""],
                ClientConnectState.connections,
                _connection_row,
                element_id="client-connect-connections",
            ),
            empty_state(
                "plug",
                t("No apps connected yet"),
                t("When the owner connects an app through the Client Connect link, it shows here at once."),
            ),
        ),
        spacing="3",
        width="100%",
    )


def client_connect_section() -> rx.Component:
    """The section, shown under the organisation's details."""
    state = ClientConnectState
    return live_section(
        t("Client Connect"),
        intro_text(
            t(
                "Share this link with the owner of {organisation}: they connect their software without an eConnect "
                "account, and you see the connection here.",
                organisation=state.organisation_name,
            )
        ),
        rx.cond(
            state.can_manage,
            rx.vstack(_link(), rx.separator(), _available_apps(), _ask_dialog(), spacing="4", width="100%"),
            rx.callout(state.not_manager_reason, icon="info", color_scheme="gray", size="1"),
        ),
        rx.separator(),
        _connections(),
        section_id=SECTION_ID,
        loaded=state.loaded,
        visible=state.visible,
        loading_label=t("Loading Client Connect"),
    )
