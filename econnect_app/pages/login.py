"""/login: log in with email and password."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.forms import app_form, form_error_banner, submit_button, submitting, text_field
from econnect_app.components.layout import public_layout
from econnect_app.components.translated import t
from econnect_app.services import sessions
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.off_loop import PASSWORD_CHECKS


class LoginState(AuthState):
    """The log-in form."""

    form_error: str = ""

    @rx.event
    def log_in(self, form: dict[str, Any]) -> Updates:
        """Check the credentials; on success start a session and continue."""
        self.form_error = ""

        def action(db: Session) -> Any:
            try:
                user, token = sessions.log_in(
                    db,
                    email=form.get("email", ""),
                    password=form.get("password", ""),
                    user_agent=self.router.headers.user_agent,
                )
            except ValidationFailed:
                raise  # shown next to the fields
            except DomainError as error:  # wrong credentials, throttled, blocked: above the form
                self.form_error = error.message
                return None
            self._start_session(db, user, token)
            return rx.redirect(
                routes.safe_next_path(self.router.url.query_parameters.get("next"), routes.DASHBOARD)
            )

        # Password checks queue on their own thread: a burst of log-ins never holds up other tabs.
        return self._act_public(action, form=form, executor=PASSWORD_CHECKS)


def login_page() -> rx.Component:
    """The log-in page."""
    errors = LoginState.field_errors
    prefilled_email = LoginState.router.url.query_parameters.get("email", "")  # from an emailed link
    return public_layout(
        t("Log in"),
        form_error_banner(LoginState.form_error),
        app_form(
            rx.vstack(
                text_field(
                    t("Email"),
                    "email",
                    errors,
                    type="email",
                    autocomplete="username",
                    default_value=prefilled_email,
                ),
                text_field(
                    t("Password"), "password", errors, type="password", autocomplete="current-password"
                ),
                rx.link(t("Forgot your password?"), href=routes.FORGOT_PASSWORD, size="2"),
                submit_button(t("Log in"), submitting(LoginState.log_in), width="100%"),
                spacing="4",
                width="100%",
            ),
            on_submit=LoginState.log_in,
            key=prefilled_email,  # a prefilled address arrives with the state: show it
            width="100%",
        ),
        rx.text(
            t("New to eConnect? "),
            rx.link(
                t("Create account"),
                href=routes.SIGNUP + "?next=" + LoginState.router.url.query_parameters.get("next", ""),
            ),
            size="2",
        ),
    )
