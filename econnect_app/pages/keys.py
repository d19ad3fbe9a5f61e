"""/keys: the environment's connection keys and the organisations they reach.

The Secret is shown once, right after it is created or rotated, to the administrator who did it.
It never enters Reflex state (which the server keeps, and re-sends in full whenever the page is
reloaded): the handler pushes it straight into a browser-only variable (``NEW_SECRET``, React
state), so it exists in that tab's memory until the page is left, reloaded or loaded again. The
database keeps only its hash.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex.experimental.client_state import ClientStateVar
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.dialogs import confirm_dialog, copy_field
from econnect_app.components.forms import is_busy_with
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.formatting import format_datetime
from econnect_app.models import KeySet, User
from econnect_app.services import keys as keys_service
from econnect_app.services.errors import PermissionDenied
from econnect_app.state.auth import AuthState, Updates

CREATE_KEY_SET = "create-key-set"
ROTATE_SECRET = "rotate-secret"
DENIED_MESSAGE = "Only Advanced users and Administrators can see the connection keys."
NO_CLIENTS_MESSAGE = (
    "No client organisations yet. Send an authorisation request; when the client accepts, "
    "the organisation appears here."
)
SECRET_WARNING = (
    "Copy the Secret now and store it in your accounting software. It will not be shown again: "
    "we keep only a fingerprint of it. If it gets lost, rotate it."
)
ROTATE_WARNING = (
    "A new Secret replaces the current one. The current Secret stops working at once: every "
    "accounting package that uses it must get the new one."
)


# The one-time Secret display: lives only in the browser tab (never in server-side state).
NEW_SECRET = ClientStateVar.create("new_key_secret", default="", global_ref=True)


@dataclasses.dataclass
class KeyCard:
    """One organisation as the page shows it (no secrets)."""

    id: int
    name: str
    identifier: str
    environment_name: str
    software_name: str
    instructions: str


class KeysState(AuthState):
    """The key set, the one-time Secret display and the organisation cards."""

    loading: bool = True
    denied: bool = False
    has_key_set: bool = False
    app_key: str = ""
    key_set_created: str = ""
    last_rotated: str = ""
    client_cards: list[KeyCard] = []
    own_cards: list[KeyCard] = []

    def _show_key_set(self, key_set: KeySet | None) -> None:
        self.has_key_set = key_set is not None
        self.app_key = key_set.app_key if key_set else ""
        self.key_set_created = format_datetime(key_set.created_at) if key_set else ""
        self.last_rotated = format_datetime(key_set.rotated_at) if key_set else ""

    def _refresh(self, db: Session, actor: User) -> None:
        """Reload the key set and the cards (the services check the actor's role)."""
        try:
            key_set = keys_service.get_key_set(db, actor=actor)
            rows = keys_service.list_client_keys(db, actor=actor)
        except PermissionDenied:
            self.denied = True
            self._show_key_set(None)
            self.client_cards = []
            self.own_cards = []
            return
        self.denied = False
        self._show_key_set(key_set)
        cards = [
            (
                row.is_own,
                KeyCard(
                    id=row.organisation_id,
                    name=row.organisation_name,
                    identifier=row.organisation_identifier,
                    environment_name=row.environment_name,
                    software_name=row.software_name or "",
                    instructions=row.instructions,
                ),
            )
            for row in rows
        ]
        self.client_cards = [card for is_own, card in cards if not is_own]
        self.own_cards = [card for is_own, card in cards if is_own]

    def _live_refresh(self, db: Session, user: User) -> None:
        """A live update: a client that accepts or ends shows (or goes) without a reload."""
        self._refresh(db, user)

    @rx.event
    async def load(self) -> Updates:
        """on_load: forget any Secret still on screen, then show the keys and organisations."""
        self.loading = True
        yield NEW_SECRET.push("")
        try:
            async for update in self._load_live():
                yield update
        finally:
            self.loading = False

    def _show_new_secret(self, db: Session, actor: User, secret: str, message: str) -> list[Any]:
        """Refresh the page and send the Secret to this browser tab only, once."""
        self._refresh(db, actor)
        return [NEW_SECRET.push(secret), rx.toast.success(message)]

    @rx.event
    def create_key_set(self, action_id: str | None = None) -> Updates:
        """Create the environment's key set (Administrators) and show its Secret once."""

        def action(db: Session, actor: User) -> Any:
            _, secret = keys_service.create_key_set(db, actor=actor)
            return self._show_new_secret(db, actor, secret, "Key set created. Copy the Secret now.")

        # Any Secret still on screen is forgotten as the work starts.
        return self._act(action, busy_with=CREATE_KEY_SET, action_id=action_id, on_start=NEW_SECRET.push(""))

    @rx.event
    def rotate_secret(self, action_id: str | None = None) -> Updates:
        """Replace the Secret (Administrators); the old one stops working at once."""

        def action(db: Session, actor: User) -> Any:
            _, secret = keys_service.rotate_secret(db, actor=actor)
            return self._show_new_secret(db, actor, secret, "Secret rotated. The old Secret no longer works.")

        return self._act(action, busy_with=ROTATE_SECRET, action_id=action_id, on_start=NEW_SECRET.push(""))


def _rotate_dialog() -> rx.Component:
    return confirm_dialog(
        rx.button(
            rx.icon("refresh-cw", size=16),
            "Rotate",
            size="3",
            variant="soft",
            color_scheme="amber",
            loading=is_busy_with(ROTATE_SECRET),
        ),
        title="Rotate the Secret?",
        description=ROTATE_WARNING,
        confirm_label="Rotate",
        on_confirm=KeysState.rotate_secret(AuthState.action_id),
        color_scheme="amber",
    )


def _new_secret_panel() -> rx.Component:
    return rx.cond(
        NEW_SECRET.value != "",
        rx.vstack(
            rx.callout(SECRET_WARNING, icon="triangle_alert", color_scheme="amber", role="alert", width="100%"),
            copy_field("Secret", "secret", NEW_SECRET.value, "Secret"),
            rx.hstack(
                rx.button(
                    "I have stored the Secret",
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


def _key_set_card() -> rx.Component:
    existing = rx.vstack(
        copy_field("App key", "app-key", KeysState.app_key, "App key"),
        rx.text(
            "Created ",
            KeysState.key_set_created,
            rx.cond(KeysState.last_rotated != "", rx.fragment(" · Secret rotated ", KeysState.last_rotated)),
            size="1",
            color_scheme="gray",
        ),
        rx.cond(
            AuthState.is_admin,
            rx.hstack(_rotate_dialog(), justify="end", width="100%"),
            rx.text(
                "The Secret was shown once to the administrator who created it. Ask an "
                "administrator to rotate it if it is lost.",
                size="2",
                color_scheme="gray",
            ),
        ),
        spacing="3",
        width="100%",
    )
    missing = rx.cond(
        AuthState.is_admin,
        rx.vstack(
            rx.text("Your environment has no key set yet.", size="2"),
            rx.button(
                rx.icon("key-round", size=16),
                "Create key set",
                size="3",
                on_click=KeysState.create_key_set(AuthState.action_id),
                loading=is_busy_with(CREATE_KEY_SET),
            ),
            spacing="3",
        ),
        rx.text(
            "Your environment has no key set yet. Ask an administrator to create one.",
            size="2",
        ),
    )
    return section_card(
        "Key set",
        rx.cond(KeysState.has_key_set, existing, missing),
        _new_secret_panel(),
        description=(
            "Accounting software connects with the App key and Secret (HTTP Basic: user name = "
            "App key, password = Secret) and the Organisation identifier of the organisation."
        ),
    )


def _organisation_card(card: rx.Var, *, own: bool) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(card.name, size="3", as_="h3"),
                rx.badge("Your organisation", variant="outline") if own else rx.fragment(),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text("Owned by ", card.environment_name, size="2", color_scheme="gray"),
            copy_field(
                "Organisation identifier",
                "organisation-identifier-" + card.id.to_string(),
                card.identifier,
                "organisation identifier for " + card.name,
            ),
            rx.cond(
                card.software_name != "",
                rx.vstack(
                    rx.text(
                        "Accounting software: ",
                        rx.text.strong(card.software_name),
                        size="2",
                    ),
                    rx.text(card.instructions, size="2", white_space="pre-line", color_scheme="gray"),
                    spacing="1",
                    width="100%",
                ),
                rx.text("No accounting software chosen for this organisation.", size="2", color_scheme="gray"),
            ),
            spacing="3",
            width="100%",
        ),
        role="region",
        aria_label=card.name,
        width="100%",
    )


def _client_organisations() -> rx.Component:
    return section_card(
        "Client organisations",
        rx.cond(
            KeysState.client_cards.length() > 0,
            rx.vstack(
                rx.foreach(KeysState.client_cards, lambda card: _organisation_card(card, own=False)),
                spacing="3",
                width="100%",
            ),
            empty_state(
                "building-2",
                "Waiting for your first client",
                NO_CLIENTS_MESSAGE,
                rx.link("New authorisation request", href=routes.NEW_AUTHORISATION),
            ),
        ),
        description="Organisations of your clients that your keys reach through a partnership.",
    )


def _own_organisations() -> rx.Component:
    return rx.cond(
        KeysState.own_cards.length() > 0,
        section_card(
            "Your own organisations",
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
        rx.center(rx.spinner(size="3"), padding="40px", width="100%", aria_label="Loading connection keys"),
        rx.vstack(_key_set_card(), _client_organisations(), _own_organisations(), spacing="5", width="100%"),
    )


def keys_page() -> rx.Component:
    """The connection keys page (Advanced users and Administrators)."""
    return app_layout(
        "Connection keys",
        rx.box(
            NEW_SECRET,  # declares the browser-only variable here, at the top of the page
            rx.cond(
                KeysState.denied,
                rx.callout(DENIED_MESSAGE, icon="lock", color_scheme="amber", role="alert", width="100%"),
                _content(),
            ),
            # Leaving the page forgets a Secret that is still on screen.
            on_unmount=NEW_SECRET.set_value(""),
            width="100%",
        ),
    )
