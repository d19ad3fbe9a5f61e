"""/configurations: accounting package configurations (seed 004), for Advanced users and
Administrators.

The list shows each configuration (name, target, where it delivers, what it exports, when and by
whom it was created) with `Modify` and `Archive`. `New configuration` asks for the target (`SFTP`,
`Dropbox`, `Octopus`; a provider without settings says it is not configured) and `Next`:

- SFTP: `Name` (optional), `Username`, `Password`, `Host`, `Port` (22), `I agree to the terms of
  service`, `Connect`. The handler hands the form to ``services/configurations.connect_sftp`` in a
  worker thread, which checks the server (log-in, host key, a test file) before anything is saved.
  The password goes from the form straight to the service: it is never kept in this state.
- Dropbox / Octopus: `Sign in with ...` sends the browser to the provider
  (``services/oauth_sign_in.py``); it comes back through ``pages/oauth_callback.py`` to this page
  with ``?finish=<id>``, where `Dossier` (Octopus), the terms and `Connect` finish it.

`Modify` (a dialog): `Name`, `Invoices export for accounting`, `Bank statements export for
accounting`, the Octopus `Dossier`; for SFTP the server, account and password (checked again;
`Trust the server's new host key` after a reinstall); for Dropbox and Octopus `Sign in again`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_button, visually_hidden
from econnect_app.components.forms import (
    app_form,
    field_error,
    field_id,
    form_actions,
    form_error_banner,
    is_busy_with,
    secondary_button,
    submit_button,
    submitting,
    switch_row,
    text_field,
)
from econnect_app.components.layout import app_layout, empty_state, loading_or_problem, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell
from econnect_app.components.sections import data_table, sub_heading, two_lines
from econnect_app.components.translated import Text, t, t_choice
from econnect_app.exports.cloud import Dossier
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.services import configurations, oauth_sign_in
from econnect_app.services.errors import DomainError, NotFound, PermissionDenied
from econnect_app.services.validation import parse_id
from econnect_app.state.auth import AuthState, Updates, row_activity
from econnect_app.state.live_tabs import watch

SFTP = configurations.SFTP
DROPBOX = configurations.DROPBOX
OCTOPUS = configurations.OCTOPUS
CHOOSE, FINISH = "choose", "finish"
ARCHIVE = "archive-configuration"
MODIFY = "modify-configuration"
FINISH_ROW = "finish-configuration"
SIGN_IN = "sign-in"
TERMS_TEXT = i18n.N_(
    "By connecting, you allow eConnect to send the invoices and bank statements of the client organisations you "
    "assign to this configuration to this destination, with the credentials you give here. They are stored "
    "encrypted and used only for these deliveries; every delivery is logged, and you can archive the "
    "configuration at any time."
)
DESCRIPTIONS = {
    SFTP: i18n.N_("Your own server: documents are written into invoices/ and statements/ folders over SFTP."),
    DROPBOX: i18n.N_("A Dropbox account: documents go into its invoices/ and statements/ folders."),
    OCTOPUS: i18n.N_("An Octopus account: documents are added to the dossier you choose."),
}
STATUSES = (configurations.CONNECTED, configurations.NOT_FINISHED)  # English values, shown translated


@dataclasses.dataclass
class ConfigurationView:
    """One configuration as the list shows it (nothing secret)."""

    id: int
    name: str
    target: str
    target_label: str
    details: str
    exports: str
    status: str
    finished: bool
    created: str
    clients: str  # "3 clients" / "No clients yet"
    client_count: int
    fingerprint: str


@dataclasses.dataclass
class DossierOption:
    """One option of the Dossier select."""

    value: str
    label: str


def _dossier_options(found: list[Dossier]) -> list[DossierOption]:
    return [DossierOption(value=dossier.id, label=f"{dossier.name} ({dossier.id})") for dossier in found]


def _text(form: dict[str, Any], name: str) -> str:
    """A submitted field as text ("" when it is missing)."""
    return str(form.get(name) or "")


def _server_account(form: dict[str, Any]) -> dict[str, str]:
    """The SFTP server and account fields of a submitted form (see ``_server_fields``)."""
    return {name: _text(form, name) for name in ("username", "password", "host", "port")}


class ConfigurationsState(AuthState):
    """The environment's accounting package configurations; refreshed live."""

    loaded: bool = False
    problem: str = ""
    rows: list[ConfigurationView] = []
    dropbox_available: bool = False
    octopus_available: bool = False
    dropbox_note: str = ""
    octopus_note: str = ""
    # New configuration: "" (closed), "choose", "sftp", "dropbox", "octopus", "finish".
    step: str = ""
    choice: str = SFTP
    form_key: int = 0
    # Finishing a Dropbox / Octopus configuration after its sign-in.
    finish_id: int = 0
    finish_target: str = ""
    finish_label: str = ""
    finish_name: str = ""
    finish_account: str = ""
    dossiers: list[DossierOption] = []
    dossier_problem: str = ""
    # Modify.
    modify_open: bool = False
    modify_id: int = 0
    modify_target: str = ""
    modify_label: str = ""
    modify_name: str = ""
    modify_invoices: bool = True
    modify_statements: bool = False
    modify_dossier: str = ""
    modify_dossier_name: str = ""
    modify_username: str = ""
    modify_host: str = ""
    modify_port: str = ""
    modify_fingerprint: str = ""
    modify_account: str = ""
    modify_dossiers: list[DossierOption] = []
    modify_problem: str = ""

    # --- reading --------------------------------------------------------------------------------

    def _live_refresh(self, db: Session, user: User) -> None:
        try:
            found = configurations.list_configurations(db, actor=user)
        except PermissionDenied as error:
            self.problem, self.rows, self.step, self.modify_open = error.message, [], "", False
            self.loaded = True
            return
        self.problem = ""
        self.rows = [
            ConfigurationView(
                id=row.id,
                name=row.name,
                target=row.target,
                target_label=row.target_label,
                details=row.details,
                exports=row.exports,
                status=row.status,
                finished=row.status == configurations.CONNECTED,
                created=i18n.gettext(
                    "{date} by {name}", date=format_date(row.created_at), name=row.created_by
                ),
                clients=(
                    i18n.ngettext("{count} client", "{count} clients", row.clients)
                    if row.clients
                    else i18n.gettext("No clients yet")
                ),
                client_count=row.clients,
                fingerprint=row.host_key_fingerprint,
            )
            for row in found
        ]
        options = {option.value: option for option in configurations.target_options()}
        self.dropbox_available, self.dropbox_note = options[DROPBOX].available, options[DROPBOX].note
        self.octopus_available, self.octopus_note = options[OCTOPUS].available, options[OCTOPUS].note
        if self.modify_open and self.modify_id not in {row.id for row in found}:
            self.modify_open = False  # archived meanwhile (by someone else)
        self.loaded = True

    @rx.event
    def load(self) -> Updates:
        """Read the configurations and follow changes live; ``?finish=<id>`` (back from a sign-in)
        opens the last step of that configuration."""
        self.loaded = False
        self.step = ""
        self.modify_open = False
        finish_id = parse_id(self.router.url.query_parameters.get("finish"))

        def action(db: Session, actor: User) -> Any:
            watch(self, environment_id=actor.environment_id)  # before the read: no change missed between
            self._live_refresh(db, actor)
            if finish_id is not None and not self.problem:
                return self._outcome(db, lambda: self._open_finish(db, actor, finish_id))
            return None

        return self._load(action)

    def _open_finish(self, db: Session, actor: User, configuration_id: int) -> None:
        configuration = configurations.get_configuration(
            db, environment_id=actor.environment_id, configuration_id=configuration_id
        )
        if configuration.archived_at is not None or configuration.target not in configurations.OAUTH_TARGETS:
            raise NotFound(i18n.gettext(configurations.CONFIGURATION_NOT_FOUND))
        if configuration.terms_accepted_at is not None:
            raise DomainError(i18n.gettext(configurations.ALREADY_CONNECTED))
        self.finish_id = configuration.id  # type: ignore[assignment]
        self.finish_target = configuration.target
        self.finish_label = configurations.target_label(configuration.target)
        self.finish_name = configuration.name
        self.finish_account = configuration.account_name
        self.dossiers, self.dossier_problem = [], ""
        self.step = FINISH
        self.form_key += 1
        if configuration.target == OCTOPUS:
            try:
                self.dossiers = _dossier_options(
                    configurations.dossiers(db, actor=actor, configuration_id=configuration.id)
                )
            except DomainError as error:
                self.dossier_problem = error.message

    def _close_and_refresh(self, db: Session, actor: User) -> None:
        """After a form was saved: close it (New configuration or Modify) and show the list again."""
        self.step = ""
        self.modify_open = False
        self._live_refresh(db, actor)

    # --- New configuration ----------------------------------------------------------------------

    @rx.event
    def start_new(self) -> None:
        """New configuration: choose the target first."""
        self.step = CHOOSE
        self.choice = SFTP
        self.field_errors = {}

    @rx.event
    def set_choice(self, value: str) -> None:
        """The target chosen among the cards."""
        self.choice = value if value in (SFTP, DROPBOX, OCTOPUS) else SFTP
        self.field_errors = {}

    @rx.event
    def next_step(self) -> None:
        """Next: the chosen target's form (a provider without settings cannot be chosen)."""
        with i18n.in_language(self.language):
            options = {option.value: option for option in configurations.target_options()}
            option = options.get(self.choice)
            if option is None or not option.available:
                self.field_errors = {
                    "target": option.note if option else i18n.gettext("Choose SFTP, Dropbox or Octopus.")
                }
                return
        self.field_errors = {}
        self.form_key += 1
        self.step = self.choice

    @rx.event
    def cancel(self) -> None:
        """Leave New configuration (a sign-in not finished stays in the list, Not finished)."""
        self.step = ""
        self.field_errors = {}

    @rx.event
    def back(self) -> None:
        """Back to choosing the target."""
        self.step = CHOOSE
        self.field_errors = {}

    @rx.event
    def connect_sftp(self, form: dict[str, Any]) -> Updates:
        """Connect: check the SFTP server, then save the configuration."""

        def action(db: Session, actor: User) -> Any:
            configuration = configurations.connect_sftp(
                db,
                actor=actor,
                name=_text(form, "name"),
                **_server_account(form),
                terms_accepted=form.get("terms") == "on",
            )
            self._close_and_refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "\u201c{name}\u201d is connected: the server accepted the login and a test file.",
                    name=configuration.name,
                )
            )

        return self._act(action, form=form)

    @rx.event
    def sign_in(self, target: str) -> Updates:
        """Sign in with Dropbox / Octopus: off to the provider's consent page."""

        def action(db: Session, actor: User) -> Any:
            url = oauth_sign_in.start(db, actor=actor, target=target)
            return rx.redirect(url)

        return self._act(action, busy_with=row_activity(SIGN_IN, 0))

    @rx.event
    def connect_oauth(self, form: dict[str, Any]) -> Updates:
        """Connect: finish a signed-in Dropbox / Octopus configuration."""

        def action(db: Session, actor: User) -> Any:
            configuration = configurations.connect_oauth(
                db,
                actor=actor,
                configuration_id=self.finish_id,
                name=_text(form, "name"),
                dossier_id=_text(form, "dossier"),
                terms_accepted=form.get("terms") == "on",
            )
            self._close_and_refresh(db, actor)
            return [
                rx.redirect(routes.CONFIGURATIONS, replace=True),
                rx.toast.success(i18n.gettext("\u201c{name}\u201d is connected.", name=configuration.name)),
            ]

        return self._act(action, form=form)

    @rx.event
    def finish_row(self, configuration_id: int) -> Updates:
        """Finish: the last step of a signed-in configuration from the list."""

        def action(db: Session, actor: User) -> Any:
            configurations.require_manager(db, actor)
            self._open_finish(db, actor, configuration_id)

        return self._act(action, busy_with=row_activity(FINISH_ROW, configuration_id))

    # --- Modify and Archive ---------------------------------------------------------------------

    @rx.event
    def open_modify(self, configuration_id: int) -> Updates:
        """Modify: the configuration's settings in a dialog (an Octopus dossier list is read now)."""

        def action(db: Session, actor: User) -> Any:
            configurations.require_manager(db, actor)
            configuration = configurations.get_configuration(
                db, environment_id=actor.environment_id, configuration_id=configuration_id
            )
            if configuration.archived_at is not None:
                raise NotFound(i18n.gettext(configurations.CONFIGURATION_NOT_FOUND))
            row = next((row for row in self.rows if row.id == configuration.id), None)
            self.modify_id = configuration.id  # type: ignore[assignment]
            self.modify_target = configuration.target
            self.modify_label = configurations.target_label(configuration.target)
            self.modify_name = configuration.name
            self.modify_invoices = configuration.exports_invoices
            self.modify_statements = configuration.exports_statements
            self.modify_dossier = configuration.dossier_id
            self.modify_dossier_name = configuration.dossier_name
            self.modify_username = configuration.sftp_username
            self.modify_host = configuration.sftp_host
            self.modify_port = str(configuration.sftp_port)
            self.modify_fingerprint = row.fingerprint if row else ""
            self.modify_account = configuration.account_name
            self.modify_dossiers, self.modify_problem = [], ""
            if configuration.target == OCTOPUS:
                found: list[Dossier] = []
                try:
                    found = configurations.dossiers(db, actor=actor, configuration_id=configuration.id)
                except DomainError as error:
                    self.modify_problem = error.message
                if configuration.dossier_id and configuration.dossier_id not in {item.id for item in found}:
                    found.insert(0, Dossier(id=configuration.dossier_id, name=configuration.dossier_name))
                self.modify_dossiers = _dossier_options(found)
            self.form_key += 1
            self.modify_open = True

        return self._act(action, busy_with=row_activity(MODIFY, configuration_id))

    @rx.event
    def set_modify_open(self, is_open: bool) -> None:
        """Close (or open) the Modify dialog."""
        self.modify_open = is_open is True
        self.field_errors = {}

    @rx.event
    def save_modify(self, form: dict[str, Any]) -> Updates:
        """Save: name, exports, dossier."""

        def action(db: Session, actor: User) -> Any:
            configuration = configurations.update_configuration(
                db,
                actor=actor,
                configuration_id=self.modify_id,
                name=_text(form, "name"),
                exports_invoices=form.get("exports_invoices") == "on",
                exports_statements=form.get("exports_statements") == "on",
                dossier_id=_text(form, "dossier") if self.modify_target == OCTOPUS else None,
            )
            self._close_and_refresh(db, actor)
            return rx.toast.success(i18n.gettext("\u201c{name}\u201d is saved.", name=configuration.name))

        return self._act(action, form=form)

    @rx.event
    def change_connection(self, form: dict[str, Any]) -> Updates:
        """Check and update connection (SFTP): the server is checked again before it is saved."""

        def action(db: Session, actor: User) -> Any:
            configuration = configurations.change_sftp_connection(
                db,
                actor=actor,
                configuration_id=self.modify_id,
                **_server_account(form),
                trust_new_host_key=form.get("trust_new_host_key") == "on",
            )
            self._close_and_refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "The connection of \u201c{name}\u201d is checked and saved.", name=configuration.name
                )
            )

        return self._act(action, form=form)

    @rx.event
    def sign_in_again(self) -> Updates:
        """Sign in again (Dropbox / Octopus): new tokens for this configuration."""

        def action(db: Session, actor: User) -> Any:
            url = oauth_sign_in.start(
                db, actor=actor, target=self.modify_target, configuration_id=self.modify_id
            )
            return rx.redirect(url)

        return self._act(action, busy_with=row_activity(SIGN_IN, self.modify_id))

    @rx.event
    def archive(self, configuration_id: int, action_id: str | None = None) -> Updates:
        """Archive (confirmed first)."""

        def action(db: Session, actor: User) -> Any:
            configuration = configurations.archive_configuration(
                db, actor=actor, configuration_id=configuration_id
            )
            self._live_refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "\u201c{name}\u201d is archived: it receives no documents any more.",
                    name=configuration.name,
                )
            )

        return self._act(action, busy_with=row_activity(ARCHIVE, configuration_id), action_id=action_id)


# --- the list ---------------------------------------------------------------------------------------------


def _status_badge(row: rx.Var[ConfigurationView]) -> rx.Component:
    return rx.badge(
        t_choice(row.status, STATUSES), color_scheme=rx.cond(row.finished, "green", "amber"), variant="soft"
    )


def _row_button(
    label: Text, aria_label: Text, row: rx.Var[ConfigurationView], activity: str, on_click: Any
) -> rx.Component:
    """Modify / Finish: named after the configuration for screen readers (``aria_label``)."""
    return rx.button(
        label,
        size="1",
        variant="soft",
        aria_label=aria_label,
        loading=is_busy_with(row_activity(activity, row.id)),
        disabled=AuthState.busy,
        on_click=on_click,
    )


def _row_actions(row: rx.Var[ConfigurationView]) -> rx.Component:
    state = ConfigurationsState
    archive = confirm_button(
        t("Archive"),
        size="1",
        aria_label=t("Archive {name}", name=row.name),
        busy=is_busy_with(row_activity(ARCHIVE, row.id)),
        title=t("Archive {name}?", name=row.name),
        description=rx.cond(
            row.client_count == 0,
            t("It receives no documents any more. It is kept, with its delivery log, as history."),
            t(
                "{clients} use it: their documents are no longer exported until another configuration is chosen "
                "for them. It is kept, with its delivery log, as history.",
                clients=row.clients,
            ),
        ),
        on_confirm=state.archive(row.id, AuthState.action_id),
    )
    return rx.hstack(
        rx.cond(
            row.finished,
            _row_button(
                t("Modify"), t("Modify {name}", name=row.name), row, MODIFY, state.open_modify(row.id)
            ),
            _row_button(
                t("Finish"), t("Finish {name}", name=row.name), row, FINISH_ROW, state.finish_row(row.id)
            ),
        ),
        archive,
        spacing="2",
    )


def _row(row: rx.Var[ConfigurationView]) -> rx.Component:
    return rx.table.row(
        card_cell(t("Name"), two_lines(row.name, row.clients, weight="medium"), header=True),
        card_cell(t("Target"), rx.badge(row.target_label, variant="outline")),
        card_cell(
            t("Details"),
            rx.vstack(
                rx.text(row.details, size="2"),
                rx.cond(
                    row.fingerprint != "",
                    rx.text(
                        t("Host key {fingerprint}", fingerprint=row.fingerprint),
                        size="1",
                        color_scheme="gray",
                        word_break="break-all",
                        max_width="280px",
                    ),
                ),
                spacing="0",
            ),
        ),
        card_cell(t("Exports"), rx.text(row.exports, size="2")),
        card_cell(t("Status"), _status_badge(row)),
        card_cell(t("Created"), rx.text(row.created, size="2")),
        rx.table.cell(_row_actions(row)),
        align="center",
    )


def _list() -> rx.Component:
    state = ConfigurationsState
    return rx.cond(
        state.rows.length() > 0,
        data_table(
            [
                t("Name"),
                t("Target"),
                t("Details"),
                t("Exports"),
                t("Status"),
                t("Created"),
                rx.table.column_header_cell(visually_hidden(t("Actions"))),
            ],
            state.rows,
            _row,
            element_id="configurations",
            class_name=LIST_CARDS,
        ),
        empty_state(
            "plug",
            t("No configurations yet"),
            t(
                "A configuration is where your clients' invoices and bank statements are sent: your SFTP server, "
                "a Dropbox account or an Octopus dossier. Create one, then choose it on each client's page."
            ),
        ),
    )


# --- form building blocks -----------------------------------------------------------------------------------


def _settings_form(
    *children: rx.Component, actions: rx.Component, on_submit: Any, spacing: str = "4", **props: Any
) -> rx.Component:
    """A form of this page: its fields, then its buttons; drawn anew (``form_key``) each time it
    opens, so it starts from the saved values."""
    return app_form(
        rx.vstack(*children, actions, spacing=spacing, width="100%"),  # type: ignore[arg-type]
        key=ConfigurationsState.form_key,
        on_submit=on_submit,
        **props,
    )


def _server_fields(
    errors: rx.Var, *, hints: dict[str, Text], defaults: dict[str, Any], spacing: str
) -> rx.Component:
    """The SFTP server and account: Username, Password, Host, Port (the password is never shown)."""

    def field(label: Text, name: str, **props: Any) -> rx.Component:
        return text_field(
            label, name, errors, hint=hints.get(name, ""), default_value=defaults.get(name), **props
        )

    return rx.grid(
        field(t("Username"), "username", autocomplete="off"),
        field(t("Password"), "password", type="password", autocomplete="new-password"),
        field(t("Host"), "host", autocomplete="off"),
        field(t("Port"), "port", input_mode="numeric"),
        columns=rx.breakpoints(initial="1", sm="2"),
        spacing=spacing,  # type: ignore[arg-type]
        width="100%",
    )


def _note(text: Text) -> rx.Component:
    return rx.text(text, size="1", color_scheme="gray")


def _terms(errors: rx.Var) -> rx.Component:
    return rx.vstack(
        rx.text(t(TERMS_TEXT), size="1", color_scheme="gray", id="configuration-terms"),
        rx.checkbox(
            t("I agree to the terms of service"),
            name="terms",
            value="on",
            id=field_id("terms"),
            aria_describedby=f"configuration-terms {field_id('terms')}-error",
        ),
        field_error(errors, "terms"),
        spacing="2",
        width="100%",
    )


def _dossier_select(
    options: rx.Var, default: rx.Var | str, problem: rx.Var, errors: rx.Var, *, shown: rx.Var
) -> rx.Component:
    """The `Dossier` select (Octopus). Always in the form, hidden for other targets: a form field
    that is not rendered would be submitted as null."""
    element_id = field_id("dossier")
    return rx.vstack(
        rx.el.label(rx.text(t("Dossier"), size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            rx.el.option(t("Choose a dossier"), value=""),
            rx.foreach(options, lambda option: rx.el.option(option.label, value=option.value)),
            id=element_id,
            name="dossier",
            default_value=default,
            aria_describedby=f"{element_id}-error",
            class_name="econnect-select",
        ),
        rx.cond(problem != "", rx.text(problem, size="2", color_scheme="red", role="alert")),
        field_error(errors, "dossier"),
        spacing="1",
        width="100%",
        display=rx.cond(shown, "flex", "none"),
    )


def _sign_in_button(label: str | rx.Var, activity: rx.Var, on_click: Any, **props: Any) -> rx.Component:
    """Sign in with Dropbox / Octopus (again): off to the provider."""
    return rx.button(
        rx.icon("log-in", size=16),
        label,
        size="3",
        loading=is_busy_with(activity),
        disabled=AuthState.busy,
        on_click=on_click,
        **props,
    )


# --- New configuration --------------------------------------------------------------------------------------


def _target_card(
    value: str, label: str, available: rx.Var | None = None, note: rx.Var | None = None
) -> rx.Component:
    """One radio card; ``available`` / ``note``: for a provider that needs settings."""
    state = ConfigurationsState
    description_id = f"target-{value}-description"
    item_props: dict[str, Any] = {"value": value, "aria_describedby": description_id}
    if available is not None:
        item_props["disabled"] = ~available
    return rx.box(
        rx.el.label(  # the radio's name is the target's name alone ("SFTP"); the rest describes it
            rx.hstack(
                rx.radio_group.item(**item_props),
                rx.text(label, weight="medium", size="3"),
                spacing="2",
                align="center",
            ),
        ),
        rx.text(t(DESCRIPTIONS[value]), size="1", color_scheme="gray", id=description_id),
        rx.cond(note, rx.text(note, size="1", color_scheme="amber", weight="medium"))
        if note is not None
        else rx.fragment(),
        padding="12px",
        border=rx.cond(
            state.choice == value, f"2px solid {rx.color('accent', 8)}", f"1px solid {rx.color('gray', 6)}"
        ),
        border_radius="var(--radius-3)",
        opacity=rx.cond(available, "1", "0.7") if available is not None else "1",
        width="100%",
    )


def _choose_step() -> rx.Component:
    state = ConfigurationsState
    return rx.vstack(
        rx.text(t("Where should documents go?"), weight="medium", size="2", id="target-choice"),
        rx.radio_group.root(
            rx.grid(
                _target_card(SFTP, "SFTP"),
                _target_card(DROPBOX, "Dropbox", state.dropbox_available, state.dropbox_note),
                _target_card(OCTOPUS, "Octopus", state.octopus_available, state.octopus_note),
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="3",
                width="100%",
            ),
            default_value=SFTP,  # uncontrolled: a click shows at once; on_change tells the server
            on_change=state.set_choice,
            aria_labelledby="target-choice",
            width="100%",
        ),
        field_error(state.field_errors, "target"),
        form_actions(
            secondary_button(t("Cancel"), state.cancel),
            rx.button(t("Next"), size="3", on_click=state.next_step),
        ),
        spacing="3",
        width="100%",
    )


def _sftp_step() -> rx.Component:
    state = ConfigurationsState
    errors = state.field_errors
    return _settings_form(
        form_error_banner(errors["connection"].to(str)),
        text_field(
            t("Name"),
            "name",
            errors,
            hint=t("Optional; e.g. \u201cOffice SFTP\u201d. Default: SFTP user@host."),
        ),
        _server_fields(
            errors,
            hints={
                "username": t("The username of your SSH account."),
                "password": t("The password of your SSH account (stored encrypted)."),
                "host": t("The host name or IP address of the server."),
                "port": t("22 unless your server listens on another port."),
            },
            defaults={"port": "22"},
            spacing="4",
        ),
        _terms(errors),
        _note(
            t(
                "Connect logs in, records the server's host key and writes and removes a test file before "
                "anything is saved."
            )
        ),
        actions=form_actions(
            secondary_button(t("Back"), state.back),
            submit_button(t("Connect"), submitting(state.connect_sftp)),
        ),
        on_submit=state.connect_sftp,
        aria_label=t("SFTP server"),
    )


def _oauth_step(target: str, label: str) -> rx.Component:
    state = ConfigurationsState
    return rx.vstack(
        rx.text(
            t(
                "You are sent to {provider} to sign in and allow eConnect to add files to your account. Then you "
                "come back here to choose the dossier and agree to the terms of service.",
                provider=label,
            )
            if target == OCTOPUS
            else t(
                "You are sent to {provider} to sign in and allow eConnect to add files to your account. Then you "
                "come back here to agree to the terms of service.",
                provider=label,
            ),
            size="2",
        ),
        form_actions(
            secondary_button(t("Back"), state.back),
            _sign_in_button(
                t("Sign in with {provider}", provider=label), row_activity(SIGN_IN, 0), state.sign_in(target)
            ),
        ),
        spacing="4",
        width="100%",
    )


def _finish_step() -> rx.Component:
    state = ConfigurationsState
    errors = state.field_errors
    return _settings_form(
        rx.callout(
            rx.cond(
                state.finish_account != "",
                t(
                    "Signed in with {provider} as {account}.",
                    provider=state.finish_label,
                    account=state.finish_account,
                ),
                t("Signed in with {provider}.", provider=state.finish_label),
            ),
            icon="circle_check",
            color_scheme="green",
            width="100%",
        ),
        text_field(t("Name"), "name", errors, default_value=state.finish_name),
        _dossier_select(
            state.dossiers, "", state.dossier_problem, errors, shown=state.finish_target == OCTOPUS
        ),
        _terms(errors),
        actions=form_actions(
            secondary_button(t("Later"), state.cancel),
            submit_button(t("Connect"), submitting(state.connect_oauth)),
        ),
        on_submit=state.connect_oauth,
    )


def _new_configuration() -> rx.Component:
    state = ConfigurationsState
    return rx.cond(
        state.step != "",
        section_card(
            t("New configuration"),
            rx.match(
                state.step,
                (CHOOSE, _choose_step()),
                (SFTP, _sftp_step()),
                (DROPBOX, _oauth_step(DROPBOX, "Dropbox")),
                (OCTOPUS, _oauth_step(OCTOPUS, "Octopus")),
                (FINISH, _finish_step()),
                rx.fragment(),
            ),
        ),
    )


# --- Modify ---------------------------------------------------------------------------------------------------


def _export_switch(label: Text, name: str, checked: rx.Var) -> rx.Component:
    return switch_row(label, field_id(name), name=name, value="on", default_checked=checked)


def _modify_settings_form() -> rx.Component:
    state = ConfigurationsState
    errors = state.field_errors
    return _settings_form(
        text_field(t("Name"), "name", errors, default_value=state.modify_name),
        rx.vstack(
            rx.text(t("What it exports"), size="2", weight="medium"),
            _export_switch(t("Invoices export for accounting"), "exports_invoices", state.modify_invoices),
            _export_switch(
                t("Bank statements export for accounting"), "exports_statements", state.modify_statements
            ),
            spacing="2",
        ),
        _dossier_select(
            state.modify_dossiers,
            state.modify_dossier,
            state.modify_problem,
            errors,
            shown=state.modify_target == OCTOPUS,
        ),
        actions=form_actions(submit_button(t("Save"), submitting(state.save_modify))),
        on_submit=state.save_modify,
    )


def _modify_sftp_form() -> rx.Component:
    state = ConfigurationsState
    errors = state.field_errors
    return _settings_form(
        sub_heading(t("Server and account")),
        form_error_banner(errors["connection"].to(str)),
        _server_fields(
            errors,
            hints={"password": t("Leave empty to keep the stored password.")},
            defaults={
                "username": state.modify_username,
                "host": state.modify_host,
                "port": state.modify_port,
            },
            spacing="3",
        ),
        rx.cond(
            state.modify_fingerprint != "",
            _note(t("Recorded host key: {fingerprint}", fingerprint=state.modify_fingerprint)),
        ),
        rx.checkbox(
            t("Trust the server's new host key"),
            name="trust_new_host_key",
            value="on",
            id=field_id("trust_new_host_key"),
        ),
        _note(
            t(
                "Only after the server's administrator confirmed that the server was reinstalled: a changed key "
                "can also mean that someone intercepts the connection."
            )
        ),
        actions=form_actions(
            submit_button(
                t("Check and update connection"), submitting(state.change_connection), variant="soft"
            )
        ),
        on_submit=state.change_connection,
        spacing="3",
    )


def _modify_sign_in() -> rx.Component:
    state = ConfigurationsState
    return rx.vstack(
        sub_heading(t("Account")),
        rx.text(
            rx.cond(
                state.modify_account != "",
                t(
                    "Signed in as {account}. Sign in again when {provider} no longer accepts the sign-in (the "
                    "delivery log says so).",
                    account=state.modify_account,
                    provider=state.modify_label,
                ),
                t(
                    "Sign in again when {provider} no longer accepts the sign-in (the delivery log says so).",
                    provider=state.modify_label,
                ),
            ),
            size="2",
        ),
        form_actions(
            _sign_in_button(
                t("Sign in with {provider} again", provider=state.modify_label),
                row_activity(SIGN_IN, state.modify_id),
                state.sign_in_again,
                variant="soft",
            )
        ),
        spacing="3",
        width="100%",
    )


def _modify_dialog() -> rx.Component:
    state = ConfigurationsState
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(t("Modify {name}", name=state.modify_name)),
            rx.dialog.description(
                t(
                    "{provider} configuration. Choose which documents it exports for accounting.",
                    provider=state.modify_label,
                ),
                size="2",
                color_scheme="gray",
                margin_bottom="12px",
            ),
            rx.vstack(
                _modify_settings_form(),
                rx.separator(size="4"),
                rx.cond(state.modify_target == SFTP, _modify_sftp_form(), _modify_sign_in()),
                form_actions(rx.dialog.close(secondary_button(t("Close")))),
                spacing="4",
                width="100%",
            ),
            max_width="640px",
        ),
        open=state.modify_open,
        on_open_change=state.set_modify_open,
    )


# --- the page ----------------------------------------------------------------------------------------------------


def _content() -> rx.Component:
    state = ConfigurationsState
    return rx.vstack(
        rx.hstack(
            rx.text(
                t(
                    "Where your clients' invoices and bank statements are sent. Choose a configuration on each "
                    "client's page under Accounting package connection."
                ),
                size="2",
                color_scheme="gray",
            ),
            rx.spacer(),
            rx.button(
                rx.icon("plus", size=16),
                t("New configuration"),
                size="3",
                on_click=state.start_new,
                disabled=state.step != "",
            ),
            width="100%",
            align="center",
            spacing="4",
            wrap="wrap",
        ),
        _new_configuration(),
        section_card(t("Configurations"), _list()),
        _modify_dialog(),
        spacing="5",
        width="100%",
    )


def configurations_page() -> rx.Component:
    """/configurations."""
    return app_layout(
        t("Accounting package configurations"),
        loading_or_problem(
            ConfigurationsState.loaded,
            ConfigurationsState.problem,
            _content(),
            loading_label=t("Loading configurations"),
            back_label=t("Go to the dashboard"),
            back_href=routes.DASHBOARD,
        ),
    )
