"""/confirm-email/[token]: confirm an additional email address."""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.layout import public_layout
from econnect_app.services import user_emails
from econnect_app.services.errors import InvalidToken
from econnect_app.state.auth import AuthState, Updates


class ConfirmEmailState(AuthState):
    """Confirms the address as soon as the page opens."""

    outcome: str = "checking"
    confirmed_email: str = ""

    @rx.event
    def confirm(self) -> Updates:
        """Use the link once."""

        def use_link(db: Session) -> None:
            try:
                address = user_emails.confirm_email(db, token=self._link_token())
            except InvalidToken:
                self.outcome = "invalid"
                return
            self.confirmed_email = address.email
            self.outcome = "confirmed"

        return self._load_public(use_link)


def confirm_email_page() -> rx.Component:
    """The page behind an email confirmation link."""
    return public_layout(
        "Confirm email address",
        rx.match(
            ConfirmEmailState.outcome,
            (
                "confirmed",
                rx.callout(
                    ConfirmEmailState.confirmed_email + " is confirmed and can now be used with your account.",
                    icon="circle_check",
                    color_scheme="green",
                    role="status",
                ),
            ),
            (
                "invalid",
                rx.callout(
                    "This confirmation link is invalid, already used or expired. Add the address again on your profile to get a new link.",
                    icon="triangle_alert",
                    color_scheme="red",
                    role="alert",
                ),
            ),
            rx.spinner(aria_label="Checking the link"),
        ),
        rx.link("Go to my profile", href=routes.PROFILE, size="2"),
    )
