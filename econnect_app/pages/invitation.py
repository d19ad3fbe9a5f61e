"""/invitation/[token]: an invited user sets a name and password."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import app_form, submit_button, submitting, text_field
from econnect_app.components.layout import public_layout
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.services import users
from econnect_app.services.errors import InvalidToken
from econnect_app.state.auth import AuthState, Updates


class InvitationState(AuthState):
    """Accept an invitation into an environment."""

    link_valid: bool = True
    invited_email: str = ""
    inviting_environment: str = ""

    @rx.event
    def load(self) -> Updates:
        """Show who invites whom, or that the link is no good."""

        def look_up(db: Session) -> None:
            try:
                user, environment = users.get_invitation(db, token=self._link_token())
            except InvalidToken:
                self.link_valid = False
                return
            self.link_valid = True
            self.invited_email = user.email
            self.inviting_environment = environment.name

        return self._load_public(look_up)

    @rx.event
    def accept(self, form: dict[str, Any]) -> Updates:
        """Set name and password, log in and go to the dashboard."""

        def action(db: Session) -> Any:
            try:
                user = users.accept_invitation(
                    db, token=self._link_token(), name=form.get("name", ""), password=form.get("password", "")
                )
            except InvalidToken:
                self.link_valid = False
                return None
            return self._welcome(db, user, i18n.gettext("Welcome! Your account is active."))

        return self._act_public(action, form=form)


def invitation_page() -> rx.Component:
    """The page behind an invitation email."""
    return public_layout(
        t("Join your team on eConnect"),
        rx.cond(
            InvitationState.link_valid,
            rx.vstack(
                rx.text(
                    t_rich(
                        i18n.N_(
                            "You were invited to {environment} as {email}. Choose your name and a password to start."
                        ),
                        environment=rx.text.strong(InvitationState.inviting_environment),
                        email=rx.text.strong(InvitationState.invited_email),
                    ),
                    size="2",
                ),
                app_form(
                    rx.vstack(
                        text_field(t("Name"), "name", InvitationState.field_errors, autocomplete="name"),
                        text_field(
                            t("Password"),
                            "password",
                            InvitationState.field_errors,
                            type="password",
                            autocomplete="new-password",
                            hint=t("At least 12 characters. A few random words work well."),
                        ),
                        submit_button(
                            t("Accept invitation"), submitting(InvitationState.accept), width="100%"
                        ),
                        spacing="4",
                        width="100%",
                    ),
                    on_submit=InvitationState.accept,
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            rx.callout(
                t(
                    "This invitation link is invalid or has expired. Ask your administrator to send a new one."
                ),
                icon="triangle_alert",
                color_scheme="red",
                role="alert",
            ),
        ),
    )
