"""/connect/[token]: the public Client Connect page for a business owner, no account needed
(seed 003).

The page names the firm that asks and the organisation, lists the apps that can be connected, and
asks for what the chosen one needs (``client_connect.requirement_for``), the owner's name and
email and their agreement to the terms. An unknown, regenerated or no longer usable link says only
"This link no longer works.". The token stays in the address: no state var holds it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import (
    app_form,
    field_error,
    form_error_banner,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import public_layout
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.services import client_connect
from econnect_app.services.errors import InvalidToken, TooManyAttempts
from econnect_app.state.auth import AuthState, Updates

PACKAGE_FIELD = "software_package"


@dataclasses.dataclass
class AppChoice:
    """A software package the owner can connect."""

    slug: str
    name: str
    field_label: str
    field_hint: str


class ClientConnectPageState(AuthState):
    """What the link's organisation may connect, for its owner."""

    loaded: bool = False
    problem: str = ""  # the link does not work (or the page was opened too often)
    firm_name: str = ""
    organisation_name: str = ""
    apps: list[AppChoice] = []
    package: str = ""  # the chosen app's slug
    field_label: str = ""
    field_hint: str = ""
    form_error: str = ""
    outcome: str = ""
    form_key: int = 0

    def _choose(self, slug: str) -> None:
        chosen = next((app for app in self.apps if app.slug == slug), None)
        self.package = chosen.slug if chosen else ""
        self.field_label = chosen.field_label if chosen else ""
        self.field_hint = chosen.field_hint if chosen else ""

    @rx.event
    def load(self) -> Updates:
        """Show who asks for what, or that the link no longer works."""
        self.loaded = False
        self.problem = self.outcome = self.form_error = ""
        wanted = self.router.url.query_parameters.get("app") or ""
        token = self._link_token()

        def look_up(db: Session) -> None:
            try:
                view = client_connect.link_view(db, token=token)
            except (InvalidToken, TooManyAttempts) as error:
                self.problem, self.apps = error.message, []
                self.firm_name = self.organisation_name = ""
                self.loaded = True
                return
            self.firm_name, self.organisation_name = view.firm_name, view.organisation_name
            self.apps = [
                AppChoice(
                    slug=app.slug, name=app.name, field_label=app.field_label, field_hint=app.field_hint
                )
                for app in view.apps
            ]
            self._choose(str(wanted))
            self.loaded = True

        return self._load_public(look_up)

    @rx.event
    def set_package(self, value: str) -> None:
        """The owner chose a software package: show what it needs."""
        self._choose(value)
        self.field_errors = {
            key: message for key, message in self.field_errors.items() if key != PACKAGE_FIELD
        }

    @rx.event
    def connect_another(self) -> None:
        """Back to the form after a connection, to connect another app."""
        self.outcome = ""
        self.form_key += 1

    @rx.event
    def connect(self, form: dict[str, Any]) -> Updates:
        """Connect the chosen app."""
        token = self._link_token()
        self.form_error = ""

        def action(db: Session) -> Any:
            try:
                outcome = client_connect.connect_app(
                    db,
                    token=token,
                    software_package=str(form.get(PACKAGE_FIELD) or self.package),
                    administration=str(form.get("administration") or ""),
                    name=str(form.get("name") or ""),
                    email=str(form.get("email") or ""),
                    agreed=bool(form.get("terms")),
                )
            except InvalidToken as error:
                db.rollback()
                self.problem = error.message
                return None
            except TooManyAttempts as error:
                db.rollback()
                self.form_error = error.message
                return None
            if outcome.created:
                self.outcome = i18n.gettext(
                    "{package} is now connected to {organisation}. {firm} sees the connection, and the "
                    "administrators of {organisation} have been emailed.",
                    package=outcome.package_name,
                    organisation=outcome.organisation_name,
                    firm=outcome.firm_name,
                )
                return rx.toast.success(i18n.gettext("{package} is connected.", package=outcome.package_name))
            self.outcome = i18n.gettext(
                "{package} was already connected to {organisation} with these details. Nothing changed.",
                package=outcome.package_name,
                organisation=outcome.organisation_name,
            )
            return None

        return self._act_public(action, form=form)


def _summary() -> rx.Component:
    state = ClientConnectPageState
    return rx.vstack(
        rx.text(
            t_rich(
                i18n.N_(
                    "{firm} asks you to connect your software to eConnect for {organisation}. You do not need an account."
                ),
                firm=rx.text.strong(state.firm_name, id="connect-firm"),
                organisation=rx.text.strong(state.organisation_name, id="connect-organisation"),
            ),
        ),
        rx.vstack(
            rx.text(t("Available apps"), size="2", weight="medium", id="available-apps"),
            rx.el.ul(
                rx.foreach(state.apps, lambda app: rx.el.li(rx.badge(app.name, variant="soft", size="2"))),
                aria_labelledby="available-apps",
                display="flex",
                flex_wrap="wrap",
                gap="6px",
                list_style="none",
                padding="0",
                margin="0",
            ),
            spacing="1",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _package_select() -> rx.Component:
    state = ClientConnectPageState
    element_id = "field-software-package"
    return rx.vstack(
        rx.el.label(rx.text(t("Software package"), size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            rx.el.option(t("Choose your software"), value=""),
            rx.foreach(state.apps, lambda app: rx.el.option(app.name, value=app.slug)),
            id=element_id,
            name=PACKAGE_FIELD,
            value=state.package,
            on_change=state.set_package,
            aria_describedby=f"{element_id}-error",
            aria_invalid=rx.cond(state.field_errors[PACKAGE_FIELD].to(str), "true", "false"),
            class_name="econnect-select",
        ),
        field_error(state.field_errors, PACKAGE_FIELD),
        spacing="1",
        width="100%",
        align="stretch",
    )


def _terms() -> rx.Component:
    state = ClientConnectPageState
    return rx.vstack(
        rx.text(
            t(
                "By connecting you allow {firm} to receive the financial data of {organisation} from the chosen "
                "software through eConnect, for their work for you. Only what the software sends is shared; you "
                "can ask them to disconnect it at any time, and every connection is recorded.",
                firm=state.firm_name,
                organisation=state.organisation_name,
            ),
            size="1",
            color_scheme="gray",
            id="connect-terms",
        ),
        rx.checkbox(
            t("I agree to the terms"),
            name="terms",
            value="on",
            id="field-terms",
            aria_describedby="connect-terms field-terms-error",
        ),
        field_error(state.field_errors, "terms"),
        spacing="2",
        width="100%",
    )


def _form() -> rx.Component:
    state = ClientConnectPageState
    errors = state.field_errors
    return app_form(
        rx.vstack(
            form_error_banner(state.form_error),
            _package_select(),
            rx.cond(
                state.package != "",
                text_field(
                    state.field_label, "administration", errors, hint=state.field_hint, autocomplete="off"
                ),
            ),
            text_field(t("Your name"), "name", errors, autocomplete="name"),
            text_field(t("Your email"), "email", errors, type="email", autocomplete="email"),
            _terms(),
            submit_button(t("Connect"), submitting(state.connect), width="100%"),
            spacing="3",
            width="100%",
        ),
        key=state.form_key,
        on_submit=state.connect,
    )


def _outcome() -> rx.Component:
    return rx.vstack(
        rx.callout(ClientConnectPageState.outcome, icon="circle_check", color_scheme="green", role="status"),
        rx.button(t("Connect another app"), variant="soft", on_click=ClientConnectPageState.connect_another),
        spacing="3",
        width="100%",
    )


def client_connect_page() -> rx.Component:
    """/connect/[token]."""
    state = ClientConnectPageState
    return public_layout(
        t("Client Connect"),
        rx.cond(
            ~state.loaded,
            rx.center(rx.spinner(), padding="24px", aria_label=t("Loading the link")),
            rx.cond(
                state.problem != "",
                rx.callout(state.problem, icon="triangle_alert", color_scheme="amber", role="alert"),
                rx.vstack(
                    _summary(),
                    rx.separator(),
                    rx.cond(state.outcome != "", _outcome(), _form()),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
    )
