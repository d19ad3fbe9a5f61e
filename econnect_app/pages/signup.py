"""/signup: create an environment and its first user (an Administrator)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import routes
from econnect_app.components.forms import app_form, submit_button, submitting, text_field
from econnect_app.components.layout import public_layout
from econnect_app.services import accounts
from econnect_app.state.auth import AuthState, Updates


class SignupState(AuthState):
    """The sign-up form."""

    @rx.event
    def create_account(self, form: dict[str, Any]) -> Updates:
        """Create the environment and user, log in, continue to onboarding (or back to a link)."""

        def action(db: Session) -> Any:
            user = accounts.sign_up(
                db,
                name=form.get("name", ""),
                email=form.get("email", ""),
                password=form.get("password", ""),
                company_name=form.get("company_name", ""),
            )
            self._log_in_as(db, user)
            next_path = routes.safe_next_path(self.router.url.query_parameters.get("next"), routes.ONBOARDING)
            return [rx.redirect(next_path), rx.toast.success("Welcome to eConnect! Your account is ready.")]

        return self._act_public(action, form=form)


def signup_page() -> rx.Component:
    """The sign-up page."""
    errors = SignupState.field_errors
    return public_layout(
        "Create your account",
        app_form(
            rx.vstack(
                text_field("Name", "name", errors, autocomplete="name"),
                text_field("Email", "email", errors, type="email", autocomplete="email"),
                text_field(
                    "Password",
                    "password",
                    errors,
                    type="password",
                    autocomplete="new-password",
                    hint="At least 12 characters. A few random words work well.",
                ),
                text_field("Company name", "company_name", errors, autocomplete="organization"),
                submit_button("Create account", submitting(SignupState.create_account), width="100%"),
                spacing="4",
                width="100%",
            ),
            on_submit=SignupState.create_account,
            width="100%",
        ),
        rx.text(
            "Already have an account? ",
            rx.link("Log in", href=routes.LOGIN + "?next=" + SignupState.router.url.query_parameters.get("next", "")),
            size="2",
        ),
        subtitle="Your company gets its own eConnect environment. The free Invoice Portal plan is enough to start.",
    )
