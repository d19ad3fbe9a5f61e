"""The `Accounting package connection` section of /organisations/[organisation_id] (seed 004).

For the accountant side (an Advanced user or Administrator of an environment managing the
organisation through an active partnership): ``Share documents with accountant``, the
``Configuration``, the online connections for export invoices and statements (deactivating asks
first), the offer to export earlier documents once a connection is active, and the delivery log
(``Delivered``, ``Retrying``, ``Failed`` with ``Retry``, ``Pending``), refreshed live as the export
worker delivers. The organisation's own users see which accountants receive its documents. The
rules are ``services/exports.py``'s.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_button, visually_hidden
from econnect_app.components.forms import field_error, field_id, is_busy_with, switch_row
from econnect_app.components.layout import empty_state
from econnect_app.components.sections import data_table, intro_text, live_section, sub_heading, t_rich
from econnect_app.components.translated import t, t_choice
from econnect_app.formatting import format_datetime
from econnect_app.models import DeliveryStatus, DocumentKind, User
from econnect_app.services import exports
from econnect_app.services.errors import NotFound
from econnect_app.state.auth import AuthState, Updates, row_activity

SECTION_ID = "accounting-package-connection"
SHARE_SWITCH_ID = "share-documents-with-accountant"
CONFIGURATION_FIELD = "configuration"
ACTIVATE = "activate-export"
DEACTIVATE = "deactivate-export"
EXPORT_EARLIER = "export-earlier"
RETRY = "retry-delivery"
SHARE = "share-documents"
CHOOSE = "choose-configuration"
INVOICE = DocumentKind.INVOICE.value
STATEMENT = DocumentKind.STATEMENT.value
# A delivery's status: an English value (compared here), shown translated with ``t_choice``.
DELIVERY_STATUSES = (
    i18n.N_("Pending"),
    i18n.N_("Delivering"),
    i18n.N_("Retrying"),
    i18n.N_("Delivered"),
    i18n.N_("Failed"),
)
STATUS_COLOURS = {
    DeliveryStatus.DELIVERED.value: "green",
    DeliveryStatus.RETRYING.value: "amber",
    DeliveryStatus.FAILED.value: "red",
    DeliveryStatus.DELIVERING.value: "blue",
    DeliveryStatus.PENDING.value: "gray",
}


@dataclasses.dataclass
class ConfigurationOption:
    """One option of the Configuration select."""

    value: str
    label: str


@dataclasses.dataclass
class ExportLine:
    """One online connection (export invoices or statements) as the section shows it."""

    kind: str
    title: str  # "Export invoices" (these texts in the language in effect)
    plural: str  # "invoices"
    activate_label: str
    deactivate_label: str
    active: bool
    status: str  # "Active since ..." / "Not active"
    note: str  # why it cannot be activated with the chosen configuration ("" when it can)
    earlier: int
    earlier_text: str  # "3 earlier invoices were not exported."


@dataclasses.dataclass
class DeliveryLine:
    """One line of the delivery log."""

    delivery_id: int
    document_name: str
    kind: str
    uploaded_at: str
    configuration_name: str
    status: str
    colour: str
    detail: str
    can_retry: bool


@dataclasses.dataclass
class SharedLine:
    """For the organisation's own users: an accountant that receives its documents."""

    environment_name: str
    exports: str


def _not_exported(count: int, kind: str) -> str:
    """``3 earlier invoices were not exported.`` (in the language in effect)."""
    if kind == INVOICE:
        return i18n.ngettext(
            "{count} earlier invoice was not exported.", "{count} earlier invoices were not exported.", count
        )
    return i18n.ngettext(
        "{count} earlier statement was not exported.", "{count} earlier statements were not exported.", count
    )


def _queued(count: int, kind: str) -> str:
    """``3 earlier invoices queued for export.`` (in the language in effect)."""
    if kind == INVOICE:
        return i18n.ngettext(
            "{count} earlier invoice queued for export.", "{count} earlier invoices queued for export.", count
        )
    return i18n.ngettext(
        "{count} earlier statement queued for export.", "{count} earlier statements queued for export.", count
    )


def _export_line(state: exports.ExportState, configuration_name: str) -> ExportLine:
    kind = exports.KINDS[state.kind]
    active = state.active_since is not None
    connection = i18n.gettext(kind.connection)
    note = ""
    if configuration_name and not state.configuration_exports_it:
        note = exports.not_exported_message(configuration_name, kind)
    earlier_text = ""
    if state.earlier_documents:
        earlier_text = _not_exported(state.earlier_documents, kind.value)
    return ExportLine(
        kind=kind.value,
        title=i18n.gettext("Export {documents}", documents=i18n.gettext(kind.plural)),
        plural=i18n.gettext(kind.plural),
        activate_label=i18n.gettext("Activate online connection for {connection}", connection=connection),
        deactivate_label=i18n.gettext("Deactivate online connection for {connection}", connection=connection),
        active=active,
        status=(
            i18n.gettext("Active since {date}", date=format_datetime(state.active_since))
            if active
            else i18n.gettext("Not active")
        ),
        note=note,
        earlier=state.earlier_documents if active else 0,
        earlier_text=earlier_text if active else "",
    )


def _detail(row: exports.DeliveryRow) -> str:
    if row.status == DeliveryStatus.DELIVERED.value:
        return i18n.gettext(
            "Delivered to {path} on {date}.", path=row.remote_path, date=format_datetime(row.delivered_at)
        )
    if row.status == DeliveryStatus.RETRYING.value:
        return i18n.ngettext(
            "{count} attempt so far; next try {date}. Last error: {error}",
            "{count} attempts so far; next try {date}. Last error: {error}",
            row.attempts,
            date=format_datetime(row.next_attempt_at),
            error=row.last_error,
        )
    if row.status == DeliveryStatus.FAILED.value:
        return row.last_error or i18n.gettext("The delivery failed.")
    if row.status == DeliveryStatus.DELIVERING.value:
        return i18n.gettext("Being delivered now.")
    return i18n.gettext("Waiting to be delivered.")


def _listed(names: list[str]) -> str:
    """``a and b`` (in the language in effect)."""
    listed = names[0] if names else ""
    for name in names[1:]:
        listed = i18n.gettext("{first} and {second}", first=listed, second=name)
    return listed


class AccountingConnectionState(AuthState):
    """One client organisation's accounting package connection, for its accountant."""

    organisation_id: int = 0
    loaded: bool = False
    visible: bool = False  # the user may open the organisation
    is_accountant: bool = False
    can_change: bool = False
    organisation_name: str = ""
    share_documents: bool = False
    configuration_value: str = ""
    configuration_name: str = ""
    configuration_problem: str = ""
    configuration_options: list[ConfigurationOption] = []
    export_lines: list[ExportLine] = []
    deliveries: list[DeliveryLine] = []
    delivery_count: int = 0
    shared_with: list[SharedLine] = []

    def _live_refresh(self, db: Session, user: User) -> None:
        try:
            view = exports.accounting_connection(db, actor=user, organisation_id=self.organisation_id)
        except NotFound:
            self.visible = self.is_accountant = self.can_change = False
            self.configuration_options, self.export_lines, self.deliveries, self.shared_with = [], [], [], []
            self.loaded = True
            return
        self.visible = True
        self.is_accountant = view.is_accountant
        self.can_change = view.can_change
        self.organisation_name = view.organisation_name
        self.share_documents = view.share_documents
        self.configuration_value = str(view.configuration_id or "")
        self.configuration_name = view.configuration_name
        self.configuration_problem = (
            exports.not_usable_message(view.configuration_name)
            if view.configuration_id is not None and not view.configuration_usable
            else ""
        )
        self.configuration_options = [
            ConfigurationOption(
                value=str(choice.id),
                label=(
                    f"{choice.name} ({choice.target})"
                    if choice.usable
                    else i18n.gettext(
                        "{name} ({target}) \u2014 cannot receive documents",
                        name=choice.name,
                        target=choice.target,
                    )
                ),
            )
            for choice in view.configurations
        ]
        self.export_lines = [
            _export_line(view.invoices, view.configuration_name),
            _export_line(view.statements, view.configuration_name),
        ]
        self.deliveries = [
            DeliveryLine(
                delivery_id=row.delivery_id,
                document_name=row.document_name,
                kind=i18n.gettext(exports.KINDS[row.kind].title) if row.kind in exports.KINDS else row.kind,
                uploaded_at=format_datetime(row.uploaded_at),
                configuration_name=row.configuration_name,
                status=row.status,
                colour=STATUS_COLOURS.get(row.status, "gray"),
                detail=_detail(row),
                can_retry=view.can_change and row.status == DeliveryStatus.FAILED.value,
            )
            for row in view.deliveries
        ]
        self.delivery_count = view.delivery_count
        self.shared_with = [
            SharedLine(
                environment_name=shared.environment_name,
                exports=(
                    i18n.gettext("Online connection for {exports}", exports=_listed(shared.exports))
                    if shared.exports
                    else i18n.gettext("No online connection active")
                ),
            )
            for shared in view.shared_with
        ]
        self.loaded = True

    @rx.event
    def load(self) -> Updates:
        """Read the section for the organisation in the address and follow changes live."""
        self.organisation_id = routes.organisation_id_in(self.router.url.path)
        self.loaded = False
        return self._load_live()

    def _change(self, change: Any, *, busy_with: str, action_id: str | None = None) -> Updates:
        """Run ``change(db, actor)`` (a service call returning the toast's text), then show the saved
        state again, also after a refusal (a switch or select goes back to what is saved)."""

        def action(db: Session, actor: User) -> Any:
            outcome = self._outcome(db, lambda: rx.toast.success(change(db, actor)))
            self._live_refresh(db, actor)
            return outcome

        return self._act(action, busy_with=busy_with, action_id=action_id)

    @rx.event
    def set_share(self, share: bool) -> Updates:
        """Turn Share documents with accountant on or off."""

        def change(db: Session, actor: User) -> str:
            exports.set_share_documents(db, actor=actor, organisation_id=self.organisation_id, share=share)
            if share:
                return i18n.gettext(
                    "Documents of {organisation} are shared with you.", organisation=self.organisation_name
                )
            return i18n.gettext(
                "Documents of {organisation} are no longer shared with you.",
                organisation=self.organisation_name,
            )

        return self._change(change, busy_with=SHARE)

    @rx.event
    def choose_configuration(self, value: str) -> Updates:
        """Choose the configuration that receives the documents (refused next to the field)."""

        def change(db: Session, actor: User) -> str:
            exports.choose_configuration(
                db, actor=actor, organisation_id=self.organisation_id, configuration_id=value
            )
            if not value:
                return i18n.gettext("The configuration was removed.")
            return i18n.gettext(
                "Documents of {organisation} go to the configuration you chose.",
                organisation=self.organisation_name,
            )

        return self._change(change, busy_with=CHOOSE)

    @rx.event
    def activate(self, kind: str, action_id: str | None = None) -> Updates:
        """Activate the online connection for export invoices or statements."""

        def change(db: Session, actor: User) -> str:
            exports.activate_export(db, actor=actor, organisation_id=self.organisation_id, kind=kind)
            return i18n.gettext(
                "The online connection for {connection} is active.",
                connection=i18n.gettext(exports.export_kind(kind).connection),
            )

        return self._change(change, busy_with=row_activity(ACTIVATE, _kind_number(kind)), action_id=action_id)

    @rx.event
    def deactivate(self, kind: str, action_id: str | None = None) -> Updates:
        """Deactivate an online connection (confirmed first)."""

        def change(db: Session, actor: User) -> str:
            exports.deactivate_export(db, actor=actor, organisation_id=self.organisation_id, kind=kind)
            return i18n.gettext(
                "The online connection for {connection} is deactivated.",
                connection=i18n.gettext(exports.export_kind(kind).connection),
            )

        return self._change(
            change, busy_with=row_activity(DEACTIVATE, _kind_number(kind)), action_id=action_id
        )

    @rx.event
    def export_earlier(self, kind: str, action_id: str | None = None) -> Updates:
        """Queue the documents of that kind from before the activation."""

        def change(db: Session, actor: User) -> str:
            queued = exports.export_earlier_documents(
                db, actor=actor, organisation_id=self.organisation_id, kind=kind
            )
            return _queued(queued, exports.export_kind(kind).value)

        return self._change(
            change, busy_with=row_activity(EXPORT_EARLIER, _kind_number(kind)), action_id=action_id
        )

    @rx.event
    def retry(self, delivery_id: int, action_id: str | None = None) -> Updates:
        """Queue a Failed delivery again."""

        def change(db: Session, actor: User) -> str:
            exports.retry_delivery(db, actor=actor, delivery_id=delivery_id)
            name = next((row.document_name for row in self.deliveries if row.delivery_id == delivery_id), "")
            if name:
                return i18n.gettext("\u201c{name}\u201d is queued for delivery again.", name=name)
            return i18n.gettext("Queued for delivery again.")

        return self._change(change, busy_with=row_activity(RETRY, delivery_id), action_id=action_id)


def _kind_number(kind: str | rx.Var) -> Any:
    """A number per kind for ``row_activity`` (built the same way on the page and in the handler)."""
    if isinstance(kind, rx.Var):
        return rx.cond(kind == INVOICE, 1, 2)
    return 1 if kind == INVOICE else 2


# --- sharing and the configuration ----------------------------------------------------------------


def _share_switch() -> rx.Component:
    state = AccountingConnectionState
    return switch_row(
        t("Share documents with accountant"),
        SHARE_SWITCH_ID,
        busy=is_busy_with(SHARE),
        weight="medium",
        checked=state.share_documents,
        on_change=state.set_share,
        disabled=AuthState.busy | ~state.can_change | ~rx.State.is_hydrated,
    )


def _configuration_select() -> rx.Component:
    state = AccountingConnectionState
    element_id = field_id(CONFIGURATION_FIELD)
    return rx.vstack(
        rx.el.label(rx.text(t("Configuration"), size="2", weight="medium"), html_for=element_id),
        rx.hstack(
            rx.el.select(
                rx.el.option(t("Choose a configuration"), value=""),
                rx.foreach(
                    state.configuration_options,
                    lambda option: rx.el.option(option.label, value=option.value),
                ),
                id=element_id,
                value=state.configuration_value,
                on_change=state.choose_configuration,
                disabled=AuthState.busy | ~state.can_change | ~rx.State.is_hydrated,
                aria_describedby=f"{element_id}-error {element_id}-hint",
                aria_invalid=rx.cond(AuthState.field_errors[CONFIGURATION_FIELD].to(str), "true", "false"),
                class_name="econnect-select",
            ),
            rx.cond(is_busy_with(CHOOSE), rx.spinner(size="1")),
            spacing="2",
            align="center",
            width="100%",
        ),
        rx.cond(
            state.configuration_options.length() == 0,
            rx.text(
                t_rich(
                    i18n.N_("Your environment has no configuration that can receive documents yet. {link}."),
                    link=rx.link(t("Create one on Configurations"), href=routes.CONFIGURATIONS),
                ),
                id=f"{element_id}-hint",
                size="1",
                color_scheme="gray",
            ),
            rx.text(
                t_rich(
                    i18n.N_("Where this organisation's documents are delivered: {link}."),
                    link=rx.link(t("your configurations"), href=routes.CONFIGURATIONS),
                ),
                id=f"{element_id}-hint",
                size="1",
                color_scheme="gray",
            ),
        ),
        rx.cond(
            state.configuration_problem != "",
            rx.text(state.configuration_problem, size="2", color_scheme="amber", role="status"),
        ),
        field_error(AuthState.field_errors, CONFIGURATION_FIELD),
        spacing="1",
        width="100%",
        max_width="480px",
        align="stretch",
    )


# --- the online connections -----------------------------------------------------------------------


def _export_line_view(line: rx.Var[ExportLine]) -> rx.Component:
    state = AccountingConnectionState
    number = _kind_number(line.kind)
    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text(line.title, weight="medium", size="3"),
                rx.hstack(
                    rx.badge(
                        rx.cond(line.active, t("Active"), t("Not active")),
                        color_scheme=rx.cond(line.active, "green", "gray"),
                        variant="soft",
                    ),
                    rx.cond(line.active, rx.text(line.status, size="1", color_scheme="gray")),
                    spacing="2",
                    align="center",
                ),
                spacing="1",
            ),
            rx.cond(
                state.can_change,
                rx.cond(
                    line.active,
                    confirm_button(
                        line.deactivate_label,
                        busy=is_busy_with(row_activity(DEACTIVATE, number)),
                        title=line.deactivate_label + "?",
                        description=t(
                            "New {documents} of {organisation} are no longer delivered to {configuration}. Documents "
                            "still waiting are not delivered (they stay in eConnect and can be sent again after "
                            "activating). Nothing already delivered is removed.",
                            documents=line.plural,
                            organisation=state.organisation_name,
                            configuration=state.configuration_name,
                        ),
                        confirm_label=t("Deactivate"),
                        on_confirm=state.deactivate(line.kind, AuthState.action_id),
                    ),
                    rx.button(
                        line.activate_label,
                        on_click=state.activate(line.kind, AuthState.action_id),
                        loading=is_busy_with(row_activity(ACTIVATE, number)),
                        disabled=AuthState.busy,
                    ),
                ),
            ),
            justify="between",
            align="center",
            width="100%",
            wrap="wrap",
            spacing="3",
        ),
        rx.cond(
            line.note != "",
            rx.text(line.note, size="1", color_scheme="amber"),
        ),
        rx.cond(
            line.earlier > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("history", size=16)),
                rx.hstack(
                    rx.callout.text(line.earlier_text),
                    rx.cond(
                        state.can_change,
                        rx.button(
                            t("Export earlier documents"),
                            visually_hidden(" (", line.plural, ")"),
                            size="1",
                            on_click=state.export_earlier(line.kind, AuthState.action_id),
                            loading=is_busy_with(row_activity(EXPORT_EARLIER, number)),
                            disabled=AuthState.busy,
                        ),
                    ),
                    spacing="3",
                    align="center",
                    wrap="wrap",
                ),
                color_scheme="blue",
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
        padding_y="8px",
    )


# --- the delivery log -----------------------------------------------------------------------------


def _delivery_row(row: rx.Var[DeliveryLine]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(row.document_name, weight="medium", size="2")),
        rx.table.cell(rx.text(row.kind, size="2")),
        rx.table.cell(rx.text(row.uploaded_at, size="2", white_space="nowrap")),
        rx.table.cell(rx.text(row.configuration_name, size="2")),
        rx.table.cell(
            rx.badge(t_choice(row.status, DELIVERY_STATUSES), color_scheme=row.colour, variant="soft")
        ),
        rx.table.cell(rx.text(row.detail, size="1", color_scheme="gray"), max_width="360px"),
        rx.table.cell(
            rx.cond(
                row.can_retry,
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    t("Retry"),
                    visually_hidden(" ", row.document_name),
                    size="1",
                    variant="soft",
                    on_click=AccountingConnectionState.retry(row.delivery_id, AuthState.action_id),
                    loading=is_busy_with(row_activity(RETRY, row.delivery_id)),
                    disabled=AuthState.busy,
                ),
            )
        ),
        align="center",
    )


def _delivery_log() -> rx.Component:
    state = AccountingConnectionState
    return rx.vstack(
        sub_heading(t("Delivery log")),
        rx.cond(
            state.deliveries.length() > 0,
            rx.vstack(
                data_table(
                    [
                        t("Document"),
                        t("Kind"),
                        t("Uploaded"),
                        t("Configuration"),
                        t("Status"),
                        t("Details"),
                        "",
                    ],
                    state.deliveries,
                    _delivery_row,
                    element_id="delivery-log",
                ),
                rx.cond(
                    state.delivery_count > state.deliveries.length(),
                    rx.text(
                        t(
                            "The newest {shown} of {total} deliveries are shown.",
                            shown=state.deliveries.length().to_string(),
                            total=state.delivery_count.to_string(),
                        ),
                        size="1",
                        color_scheme="gray",
                    ),
                ),
                spacing="2",
                width="100%",
            ),
            empty_state(
                "send",
                t("Nothing delivered yet"),
                t(
                    "Once an online connection is active, every new document of its kind is delivered to the "
                    "configuration and shows here, updated as it goes."
                ),
            ),
        ),
        spacing="3",
        width="100%",
    )


# --- the section ----------------------------------------------------------------------------------


def _accountant_view() -> rx.Component:
    state = AccountingConnectionState
    return rx.vstack(
        intro_text(
            t(
                "Receive the documents of {organisation} in your accounting package: share them, choose a "
                "configuration and activate the online connections.",
                organisation=state.organisation_name,
            )
        ),
        rx.cond(
            ~state.can_change,
            rx.callout(t(exports.CHANGE_DENIED), icon="info", color_scheme="gray", size="1", width="100%"),
        ),
        _share_switch(),
        _configuration_select(),
        rx.separator(),
        rx.vstack(rx.foreach(state.export_lines, _export_line_view), spacing="2", width="100%"),
        rx.separator(),
        _delivery_log(),
        spacing="4",
        width="100%",
    )


def _shared_line(line: rx.Var[SharedLine]) -> rx.Component:
    return rx.hstack(
        rx.icon("building-2", size=16),
        rx.text(line.environment_name, weight="medium", size="2"),
        rx.text(line.exports, size="2", color_scheme="gray"),
        spacing="2",
        align="center",
    )


def _own_view() -> rx.Component:
    state = AccountingConnectionState
    return rx.vstack(
        intro_text(
            t("The accountants who manage this organisation set up where its documents are delivered.")
        ),
        rx.cond(
            state.shared_with.length() > 0,
            rx.vstack(
                rx.text(t("Documents are shared with:"), size="2"),
                rx.foreach(state.shared_with, _shared_line),
                spacing="2",
            ),
            rx.text(t("No accountant receives this organisation's documents."), size="2"),
        ),
        spacing="3",
        width="100%",
    )


def accounting_connection_section() -> rx.Component:
    """The section, shown under the organisation's details."""
    state = AccountingConnectionState
    return live_section(
        t("Accounting package connection"),
        rx.cond(state.is_accountant, _accountant_view(), _own_view()),
        section_id=SECTION_ID,
        loaded=state.loaded,
        visible=state.visible,
        loading_label=t("Loading the accounting package connection"),
    )
