"""/forgot-password and /reset-password/[token]: password recovery by emailed link."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import app_form, submit_button, submitting, text_field
from econnect_app.components.layout import public_layout
from econnect_app.components.translated import t
from econnect_app.services import accounts
from econnect_app.services.errors import InvalidToken, ValidationFailed
from econnect_app.state.auth import AuthState, Updates


class ForgotPasswordState(AuthState):
    """Ask for a reset link; the answer is the same whether or not the address exists."""

    sent_to: str = ""

    @rx.event
    def start_over(self) -> None:
        """on_load: show an empty form."""
        self.sent_to = ""
        self.field_errors = {}

    @rx.event
    def send_link(self, form: dict[str, Any]) -> Updates:
        """Queue a reset email when the account exists; always confirm the same way."""
        email = (form.get("email") or "").strip()

        def action(db: Session) -> None:
            if not email:
                raise ValidationFailed({"email": i18n.gettext("Enter the email address of your account.")})
            accounts.request_password_reset(db, email=email)
            self.sent_to = email

        return self._act_public(action, form=form)


def forgot_password_page() -> rx.Component:
    """The forgot-password page."""
    return public_layout(
        t("Reset your password"),
        rx.cond(
            ForgotPasswordState.sent_to != "",
            rx.callout(
                t(
                    "If an account exists for {address}, we have sent it an email with a link to set a new "
                    "password. The link works once and expires in 30 minutes.",
                    address=ForgotPasswordState.sent_to,
                ),
                icon="mail",
                color_scheme="green",
                role="status",
            ),
            app_form(
                rx.vstack(
                    text_field(
                        t("Email"),
                        "email",
                        ForgotPasswordState.field_errors,
                        type="email",
                        autocomplete="email",
                    ),
                    submit_button(
                        t("Send reset link"), submitting(ForgotPasswordState.send_link), width="100%"
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=ForgotPasswordState.send_link,
                width="100%",
            ),
        ),
        rx.link(t("Back to log in"), href=routes.LOGIN, size="2"),
        subtitle=t("Enter the email address of your account and we will email you a link."),
    )


class ResetPasswordState(AuthState):
    """Set a new password through the emailed link."""

    link_valid: bool = True

    @rx.event
    def check_link(self) -> Updates:
        """on_load: tell the user at once when the link is no good."""

        def check(db: Session) -> None:
            self.link_valid = accounts.reset_password_token_is_valid(db, token=self._link_token())

        return self._load_public(check)

    @rx.event
    def set_password(self, form: dict[str, Any]) -> Updates:
        """Save the new password, log in and continue to the dashboard."""

        def action(db: Session) -> Any:
            try:
                user = accounts.reset_password(
                    db, token=self._link_token(), password=form.get("password", "")
                )
            except InvalidToken:
                self.link_valid = False
                return None
            return self._welcome(db, user, i18n.gettext("Your password has been changed."))

        return self._act_public(action, form=form)


def reset_password_page() -> rx.Component:
    """The page behind the emailed reset link."""
    return public_layout(
        t("Choose a new password"),
        rx.cond(
            ResetPasswordState.link_valid,
            app_form(
                rx.vstack(
                    text_field(
                        t("New password"),
                        "password",
                        ResetPasswordState.field_errors,
                        type="password",
                        autocomplete="new-password",
                        hint=t("At least 12 characters. A few random words work well."),
                    ),
                    submit_button(
                        t("Set new password"), submitting(ResetPasswordState.set_password), width="100%"
                    ),
                    spacing="4",
                    width="100%",
                ),
                on_submit=ResetPasswordState.set_password,
                width="100%",
            ),
            rx.vstack(
                rx.callout(
                    t(
                        "This password reset link is invalid or has expired. Links work once and for 30 minutes."
                    ),
                    icon="triangle_alert",
                    color_scheme="red",
                    role="alert",
                ),
                rx.link(t("Ask for a new link"), href=routes.FORGOT_PASSWORD),
            ),
        ),
    )
