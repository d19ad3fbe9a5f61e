"""/keys: the environment's named key sets and the organisations they reach (the client
organisations server-paged, sortable and searchable, with the view in the URL; the environment's
own organisations after them).

An environment may hold several key sets (for example one per software installation), each shown
in a region named after it with its App key, `Rotate` and `Revoke key set`; after a rotation the
previous Secret keeps working until the time shown, unless `Revoke now` ends it sooner.

The Secret is shown once, right after it is created or rotated, to the administrator who did it.
It never enters Reflex state (which the server keeps, and re-sends in full whenever the page is
reloaded): the handler pushes it straight into a browser-only variable (``NEW_SECRET``, React
state), with the id of its key set (``NEW_SECRET_KEY_SET``, so it shows in that set's region), so
it exists in that tab's memory until the page is left, reloaded or loaded again. The database
keeps only its hash.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex.experimental.client_state import ClientStateVar
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_dialog, copy_field
from econnect_app.components.forms import app_form, is_busy_with, submit_button, submitting, text_field
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell, list_search, pager, sortable_header
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.formatting import format_datetime
from econnect_app.models import KeySet, User
from econnect_app.services import keys as keys_service
from econnect_app.services.errors import PermissionDenied
from econnect_app.services.permissions import is_admin
from econnect_app.settings import get_settings
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.list_view import ListView

ROTATE_SECRET = "rotate-secret"
REVOKE_PREVIOUS_SECRET = "revoke-previous-secret"
REVOKE_KEY_SET = "revoke-key-set"
DENIED_MESSAGE = i18n.N_("Only Advanced users and Administrators can see the connection keys.")
NO_CLIENTS_MESSAGE = i18n.N_(
    "No client organisations yet. Send an authorisation request; when the client accepts, "
    "the organisation appears here."
)
SECRET_WARNING = i18n.N_(
    "Copy the Secret now and store it in your accounting software. It will not be shown again: "
    "we keep only a fingerprint of it. If it gets lost, rotate it."
)
REVOKE_PREVIOUS_WARNING = i18n.N_(
    "Software that still uses the previous Secret of this key set stops working at once. "
    "The current Secret keeps working."
)
REVOKE_KEY_SET_WARNING = i18n.N_(
    "Its App key and Secrets stop working at once, for every accounting package that uses them. "
    "This cannot be undone; the organisation identifiers stay the same."
)


# The one-time Secret display: lives only in the browser tab (never in server-side state).
NEW_SECRET = ClientStateVar.create("new_key_secret", default="", global_ref=True)
NEW_SECRET_KEY_SET = ClientStateVar.create("new_key_secret_key_set", default=0, global_ref=True)


@dataclasses.dataclass
class KeySetCard:
    """One key set as the page shows it (nothing secret)."""

    id: int
    name: str
    app_key: str
    created: str
    rotated: str  # "" when never rotated
    previous_works_until: str  # "" when no previous Secret works any more


@dataclasses.dataclass
class KeyCard:
    """One organisation as the page shows it (no secrets)."""

    id: int
    name: str
    identifier: str
    environment_name: str
    software_name: str
    instructions: str


def key_set_card(key_set: KeySet) -> KeySetCard:
    """The page's view of a key set."""
    return KeySetCard(
        id=key_set.id or 0,
        name=key_set.name,
        app_key=key_set.app_key,
        created=format_datetime(key_set.created_at),
        rotated=format_datetime(key_set.rotated_at) if key_set.rotated_at else "",
        previous_works_until=(
            format_datetime(key_set.previous_secret_valid_until)
            if keys_service.previous_secret_works(key_set)
            else ""
        ),
    )


def key_card(row: keys_service.ClientKeyRow) -> KeyCard:
    """The page's view of an organisation's connection details."""
    return KeyCard(
        id=row.organisation_id,
        name=row.organisation_name,
        identifier=row.organisation_identifier,
        environment_name=row.environment_name,
        software_name=row.software_name or "",
        instructions=row.instructions,
    )


def grace_period_text(hours: int) -> str:
    """How long a previous Secret keeps working, in words (the language in effect): "24 hours"."""
    return i18n.ngettext("{count} hour", "{count} hours", hours)


class KeysState(ListView, AuthState):
    """The key sets, the one-time Secret display, one page of the client organisations (the
    list's view in the URL) and the environment's own organisations."""

    loading: bool = True
    denied: bool = False
    key_sets: list[KeySetCard] = []
    new_key_set_name: str = keys_service.DEFAULT_KEY_SET_NAME  # what the Name field starts with
    form_version: int = 0
    grace_period: str = ""
    client_cards: list[KeyCard] = []
    own_cards: list[KeyCard] = []

    def _show_key_sets(self, key_sets: list[KeySet], *, can_create: bool) -> None:
        self.key_sets = [key_set_card(key_set) for key_set in key_sets]
        name = keys_service.DEFAULT_KEY_SET_NAME if not key_sets and can_create else ""
        if name != self.new_key_set_name:
            self.new_key_set_name = name
            self.form_version += 1
        hours = get_settings().key_rotation_grace_hours
        self.grace_period = grace_period_text(hours) if hours else ""

    def _refresh(self, db: Session, actor: User) -> None:
        """Reload the key sets, the current view of the client organisations and the own ones
        (the services check the actor's role)."""
        try:
            key_sets = keys_service.list_key_sets(db, actor=actor)
            page = keys_service.client_keys_page(db, actor=actor, query=self._list_query())
            own = keys_service.own_organisation_keys(db, actor=actor)
        except PermissionDenied:
            self.denied = True
            self.key_sets = []
            self.client_cards = []
            self.own_cards = []
            return
        self.denied = False
        self._show_key_sets(key_sets, can_create=is_admin(actor))
        self.client_cards = [key_card(row) for row in page.rows]
        self._show_page(page)
        self.own_cards = [key_card(row) for row in own]

    def _live_refresh(self, db: Session, user: User) -> None:
        """A live update: a client that accepts or ends, or a key set another administrator
        creates, rotates or revokes, shows (or goes) without a reload."""
        self._refresh(db, user)

    @rx.event
    async def load(self) -> Updates:
        """on_load: forget any Secret still on screen, then show the keys and organisations."""
        self.loading = True
        self._read_list_url()
        yield [NEW_SECRET.push(""), NEW_SECRET_KEY_SET.push(0)]
        try:
            async for update in self._load_live():
                yield update
        finally:
            self.loading = False

    def _show_new_secret(
        self, db: Session, actor: User, key_set: KeySet, secret: str, message: str
    ) -> list[Any]:
        """Refresh the page and send the Secret to this browser tab only, once."""
        self._refresh(db, actor)
        return [NEW_SECRET_KEY_SET.push(key_set.id), NEW_SECRET.push(secret), rx.toast.success(message)]

    @rx.event
    def create_key_set(self, form: dict[str, Any]) -> Updates:
        """Create a named key set (Administrators) and show its Secret once."""
        name = form.get("name", "") if isinstance(form, dict) else ""

        def action(db: Session, actor: User) -> Any:
            key_set, secret = keys_service.create_key_set(
                db, actor=actor, name=name if isinstance(name, str) else ""
            )
            self.form_version += 1  # the Name field starts afresh
            return self._show_new_secret(
                db,
                actor,
                key_set,
                secret,
                i18n.gettext("Key set \u201c{name}\u201d created. Copy the Secret now.", name=key_set.name),
            )

        # Any Secret still on screen is forgotten as the work starts.
        return self._act(action, form=form if isinstance(form, dict) else {}, on_start=NEW_SECRET.push(""))

    @rx.event
    def rotate_secret(self, key_set_id: int, action_id: str | None = None) -> Updates:
        """Give a key set a new Secret (Administrators); the old one works for the grace period."""

        def action(db: Session, actor: User) -> Any:
            key_set, secret = keys_service.rotate_secret(db, actor=actor, key_set_id=key_set_id)
            until = (
                format_datetime(key_set.previous_secret_valid_until) if key_set.previous_secret_hash else ""
            )
            message = (
                i18n.gettext("Secret rotated. The previous Secret works until {until}.", until=until)
                if until
                else i18n.gettext("Secret rotated. The previous Secret no longer works.")
            )
            return self._show_new_secret(db, actor, key_set, secret, message)

        return self._act(
            action,
            busy_with=f"{ROTATE_SECRET}-{key_set_id}",
            action_id=action_id,
            on_start=NEW_SECRET.push(""),
        )

    @rx.event
    def revoke_previous_secret(self, key_set_id: int, action_id: str | None = None) -> Updates:
        """End the grace period of a key set's previous Secret now (Administrators)."""

        def action(db: Session, actor: User) -> Any:
            key_set = keys_service.revoke_previous_secret(db, actor=actor, key_set_id=key_set_id)
            self._refresh(db, actor)
            return rx.toast.success(
                i18n.gettext("The previous Secret of \u201c{name}\u201d no longer works.", name=key_set.name)
            )

        return self._act(action, busy_with=f"{REVOKE_PREVIOUS_SECRET}-{key_set_id}", action_id=action_id)

    @rx.event
    def revoke_key_set(self, key_set_id: int, action_id: str | None = None) -> Updates:
        """Stop a whole key set now (Administrators)."""

        def action(db: Session, actor: User) -> Any:
            key_set = keys_service.revoke_key_set(db, actor=actor, key_set_id=key_set_id)
            self._refresh(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "Key set \u201c{name}\u201d revoked. Its keys no longer work.", name=key_set.name
                )
            )

        return self._act(
            action,
            busy_with=f"{REVOKE_KEY_SET}-{key_set_id}",
            action_id=action_id,
            on_start=[NEW_SECRET.push(""), NEW_SECRET_KEY_SET.push(0)],
        )


def _busy(activity: str, card: rx.Var) -> rx.Var[bool]:
    return is_busy_with(activity + "-" + card.id.to_string())


def _rotate_dialog(card: rx.Var) -> rx.Component:
    keeps = rx.cond(
        KeysState.grace_period != "",
        t(
            "The current Secret keeps working for {period}, so you can update the accounting software that "
            "uses it (Revoke now ends that sooner). A previous Secret that still works stops at once.",
            period=KeysState.grace_period,
        ),
        t(
            "The current Secret stops working at once: every accounting package that uses it must get "
            "the new one."
        ),
    )
    return confirm_dialog(
        rx.button(
            rx.icon("refresh-cw", size=16),
            t("Rotate"),
            size="2",
            variant="soft",
            color_scheme="amber",
            loading=_busy(ROTATE_SECRET, card),
        ),
        title=t("Rotate the Secret of \u201c{name}\u201d?", name=card.name),
        description=rx.fragment(t("A new Secret replaces the current one."), " ", keeps),
        confirm_label=t("Rotate"),
        on_confirm=KeysState.rotate_secret(card.id, AuthState.action_id),
        color_scheme="amber",
    )


def _revoke_key_set_dialog(card: rx.Var) -> rx.Component:
    return confirm_dialog(
        rx.button(
            rx.icon("ban", size=16),
            t("Revoke key set"),
            size="2",
            variant="soft",
            color_scheme="red",
            loading=_busy(REVOKE_KEY_SET, card),
        ),
        title=t("Revoke the key set \u201c{name}\u201d?", name=card.name),
        description=t(REVOKE_KEY_SET_WARNING),
        confirm_label=t("Revoke key set"),
        on_confirm=KeysState.revoke_key_set(card.id, AuthState.action_id),
    )


def _previous_secret_notice(card: rx.Var) -> rx.Component:
    revoke_now = confirm_dialog(
        rx.button(
            t("Revoke now"),
            size="1",
            variant="outline",
            color_scheme="red",
            loading=_busy(REVOKE_PREVIOUS_SECRET, card),
        ),
        title=t("Stop the previous Secret of \u201c{name}\u201d now?", name=card.name),
        description=t(REVOKE_PREVIOUS_WARNING),
        confirm_label=t("Revoke now"),
        on_confirm=KeysState.revoke_previous_secret(card.id, AuthState.action_id),
    )
    return rx.cond(
        card.previous_works_until != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("clock", size=16)),
            rx.callout.text(
                t_rich(
                    i18n.N_(
                        "The previous Secret keeps working until {until}. Update the accounting software "
                        "that still uses it before then."
                    ),
                    until=rx.text.strong(card.previous_works_until),
                ),
            ),
            rx.cond(AuthState.is_admin, rx.box(revoke_now)),
            color_scheme="amber",
            size="1",
            width="100%",
        ),
    )


def _new_secret_panel(card: rx.Var) -> rx.Component:
    return rx.cond(
        (NEW_SECRET.value != "") & (NEW_SECRET_KEY_SET.value == card.id),
        rx.vstack(
            rx.callout(
                t(SECRET_WARNING), icon="triangle_alert", color_scheme="amber", role="alert", width="100%"
            ),
            copy_field("Secret", "secret", NEW_SECRET.value, t("Secret of {name}", name=card.name)),
            rx.hstack(
                rx.button(
                    t("I have stored the Secret"),
                    type="button",
                    variant="outline",
                    on_click=NEW_SECRET.set_value(""),
                ),
                justify="end",
                width="100%",
            ),
            spacing="3",
            width="100%",
            padding="16px",
            border=f"1px solid {rx.color('amber', 7)}",
            border_radius="var(--radius-3)",
            background=rx.color("amber", 2),
        ),
    )


def _key_set(card: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(card.name, size="3", as_="h3"),
            copy_field(
                "App key",
                "app-key-" + card.id.to_string(),
                card.app_key,
                t("App key of {name}", name=card.name),
            ),
            _new_secret_panel(card),
            rx.text(
                t("Created {date}", date=card.created),
                rx.cond(
                    card.rotated != "", rx.fragment(" · ", t("Secret rotated {date}", date=card.rotated))
                ),
                size="1",
                color_scheme="gray",
            ),
            _previous_secret_notice(card),
            rx.cond(
                AuthState.is_admin,
                rx.hstack(
                    _revoke_key_set_dialog(card),
                    _rotate_dialog(card),
                    justify="end",
                    spacing="2",
                    width="100%",
                ),
                rx.text(
                    t(
                        "The Secret was shown once to the administrator who created it. Ask an "
                        "administrator to rotate it if it is lost."
                    ),
                    size="2",
                    color_scheme="gray",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        role="region",
        aria_label=t("Key set {name}", name=card.name),
        width="100%",
    )


def _create_form() -> rx.Component:
    return app_form(
        rx.heading(t("New key set"), size="3", as_="h3", margin_bottom="8px"),
        rx.hstack(
            rx.box(
                text_field(
                    t("Name"),
                    "name",
                    KeysState.field_errors,
                    default_value=KeysState.new_key_set_name,
                    hint=t("For example the software installation that will use it."),
                    autocomplete="off",
                ),
                flex="1",
                min_width="220px",
            ),
            rx.box(
                submit_button(t("Create key set"), submitting(KeysState.create_key_set)),
                padding_top="22px",
            ),
            align="start",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        on_submit=KeysState.create_key_set,
        key=KeysState.form_version,
    )


def _key_sets_card() -> rx.Component:
    key_sets = rx.cond(
        KeysState.key_sets.length() > 0,
        rx.vstack(rx.foreach(KeysState.key_sets, _key_set), spacing="3", width="100%"),
        rx.text(
            rx.cond(
                AuthState.is_admin,
                t("Your environment has no key set yet."),
                t("Your environment has no key set yet. Ask an administrator to create one."),
            ),
            size="2",
        ),
    )
    return section_card(
        t("Key sets"),
        key_sets,
        rx.cond(AuthState.is_admin, _create_form()),
        description=t(
            "Accounting software connects with the App key and Secret of a key set (HTTP Basic: user "
            "name = App key, password = Secret) and the Organisation identifier of the organisation. "
            "Use one key set per software installation, so each can be rotated or revoked on its own."
        ),
    )


def _organisation_card(card: rx.Var, *, own: bool) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(card.name, size="3", as_="h3"),
                rx.badge(t("Your organisation"), variant="outline") if own else rx.fragment(),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(t("Owned by {name}", name=card.environment_name), size="2", color_scheme="gray"),
            copy_field(
                t("Organisation identifier"),
                "organisation-identifier-" + card.id.to_string(),
                card.identifier,
                t("organisation identifier for {name}", name=card.name),
            ),
            rx.cond(
                card.software_name != "",
                rx.vstack(
                    rx.text(
                        t_rich(
                            i18n.N_("Accounting software: {software}"),
                            software=rx.text.strong(card.software_name),
                        ),
                        size="2",
                    ),
                    rx.text(card.instructions, size="2", white_space="pre-line", color_scheme="gray"),
                    spacing="1",
                    width="100%",
                ),
                rx.text(
                    t("No accounting software chosen for this organisation."), size="2", color_scheme="gray"
                ),
            ),
            spacing="3",
            width="100%",
        ),
        role="region",
        aria_label=card.name,
        width="100%",
    )


CLIENT_COLUMNS = (
    (i18n.N_("Organisation"), "organisation"),
    (i18n.N_("Owned by"), "owner"),
    (i18n.N_("Accounting software"), "software"),
)


def _client_row(card: rx.Var) -> rx.Component:
    return rx.table.row(
        card_cell(t("Organisation"), rx.text(card.name, weight="medium", size="2"), header=True),
        card_cell(t("Owned by"), rx.text(card.environment_name, size="2")),
        card_cell(
            t("Accounting software"),
            rx.cond(
                card.software_name != "",
                rx.vstack(
                    rx.text(card.software_name, size="2", weight="medium"),
                    rx.text(card.instructions, size="1", white_space="pre-line", color_scheme="gray"),
                    spacing="1",
                ),
                rx.text(t("None chosen"), size="2", color_scheme="gray"),
            ),
            max_width="360px",
        ),
        rx.table.cell(
            copy_field(
                t("Organisation identifier"),
                "organisation-identifier-" + card.id.to_string(),
                card.identifier,
                t("organisation identifier for {name}", name=card.name),
                size="2",
            ),
            min_width="260px",
        ),
        align="start",
    )


def _client_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(sortable_header(KeysState, t(label), key) for label, key in CLIENT_COLUMNS),
                    rx.table.column_header_cell(t("Organisation identifier")),
                )
            ),
            rx.table.body(rx.foreach(KeysState.client_cards, _client_row)),
            width="100%",
            id="client-organisations",
            class_name=LIST_CARDS,
        ),
        pager(KeysState, noun=t("client organisations"), element_id="client-organisations-page-size"),
        spacing="3",
        width="100%",
    )


def _client_organisations() -> rx.Component:
    return section_card(
        t("Client organisations"),
        rx.cond(
            (KeysState.total > 0) | (KeysState.search != ""),
            list_search(
                KeysState,
                element_id="client-organisation-search",
                placeholder=t("Organisation, owner or identifier"),
            ),
        ),
        rx.cond(
            KeysState.client_cards.length() > 0,
            _client_table(),
            rx.cond(
                KeysState.search != "",
                empty_state("search", t("Nothing here"), t("No client organisations match your search.")),
                empty_state(
                    "building-2",
                    t("Waiting for your first client"),
                    t(NO_CLIENTS_MESSAGE),
                    rx.link(t("New authorisation request"), href=routes.NEW_AUTHORISATION),
                ),
            ),
        ),
        description=t("Organisations of your clients that your keys reach through a partnership."),
    )


def _own_organisations() -> rx.Component:
    return rx.cond(
        KeysState.own_cards.length() > 0,
        section_card(
            t("Your own organisations"),
            rx.vstack(
                rx.foreach(KeysState.own_cards, lambda card: _organisation_card(card, own=True)),
                spacing="3",
                width="100%",
            ),
        ),
    )


def _content() -> rx.Component:
    return rx.cond(
        KeysState.loading,
        rx.center(
            rx.spinner(size="3"), padding="40px", width="100%", aria_label=t("Loading connection keys")
        ),
        rx.vstack(_key_sets_card(), _client_organisations(), _own_organisations(), spacing="5", width="100%"),
    )


def keys_page() -> rx.Component:
    """The connection keys page (Advanced users and Administrators)."""
    return app_layout(
        t("Connection keys"),
        rx.box(
            NEW_SECRET,  # declares the browser-only variables here, at the top of the page
            NEW_SECRET_KEY_SET,
            rx.cond(
                KeysState.denied,
                rx.callout(t(DENIED_MESSAGE), icon="lock", color_scheme="amber", role="alert", width="100%"),
                _content(),
            ),
            # Leaving the page forgets a Secret that is still on screen.
            on_unmount=NEW_SECRET.set_value(""),
            width="100%",
        ),
    )
