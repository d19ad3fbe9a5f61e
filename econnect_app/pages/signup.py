"""/signup: create an environment and its first user (an Administrator).

The answer is the same whether or not the address already has an account ("check your email"),
except for a sign-up that proves its address through the emailed link it came from: the activation
link of a request (``?next=/activate/<token>``) sent to the typed address, or the claim link
(``?claim=<token>``). That one logs in at once and continues where the link leads.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import app_form, submit_button, submitting, text_field
from econnect_app.components.layout import public_layout
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.services import accounts
from econnect_app.settings import get_settings
from econnect_app.state.auth import AuthState, Updates

ACTIVATE_PREFIX = routes.ACTIVATE.replace("[token]", "")


def activation_token_in(next_path: str) -> str:
    """The activation link's token when the sign-up continues to ``/activate/<token>``."""
    path = next_path.partition("?")[0]
    return routes.last_path_segment(path) if path.startswith(ACTIVATE_PREFIX) else ""


class SignupState(AuthState):
    """The sign-up form, and what it answered."""

    sent_to: str = ""  # the address the confirmation (or "already has an account") email went to
    back_to_request: bool = False  # the sign-up came from an activation link

    @rx.event
    def start_over(self) -> None:
        """on_load: an empty form."""
        self.sent_to = ""
        self.back_to_request = False
        self.field_errors = {}

    @rx.event
    def create_account(self, form: dict[str, Any]) -> Updates:
        """Create the environment and user; log in at once only when the address is proved."""
        query = self.router.url.query_parameters

        def action(db: Session) -> Any:
            next_path = routes.safe_next_path(query.get("next"), routes.ONBOARDING)
            result = accounts.sign_up(
                db,
                name=form.get("name", ""),
                email=form.get("email", ""),
                password=form.get("password", ""),
                company_name=form.get("company_name", ""),
                activation_token=activation_token_in(next_path),
                claim_token=str(query.get("claim") or ""),
            )
            if result.address_confirmed and result.user is not None:
                self._log_in_as(db, result.user)
                return [
                    rx.redirect(next_path),
                    rx.toast.success(i18n.gettext("Welcome to eConnect! Your account is ready.")),
                ]
            self.back_to_request = bool(activation_token_in(next_path))
            self.sent_to = str(form.get("email", "")).strip()
            return None

        return self._act_public(action, form=form)


def _check_your_email() -> rx.Component:
    return rx.vstack(
        rx.callout(
            rx.text(
                t_rich(
                    i18n.N_(
                        "We sent an email to {address}. Open the link in it to confirm your address and finish "
                        "creating your account, then log in. The link is valid for {days} days."
                    ),
                    address=rx.text.strong(SignupState.sent_to),
                    days=get_settings().email_confirmation_days,
                ),
            ),
            icon="mail",
            color_scheme="green",
            role="status",
        ),
        rx.cond(
            SignupState.back_to_request,
            rx.text(
                t(
                    "To answer the authorisation request, open the link in the request email again once you "
                    "have confirmed your address."
                ),
                size="2",
            ),
        ),
        rx.text(
            t("No email? Check your spam folder, or sign up again in a few minutes."),
            size="2",
            color_scheme="gray",
        ),
        rx.link(t("Go to log in"), href=routes.LOGIN, size="2"),
        spacing="3",
        width="100%",
    )


def _form() -> rx.Component:
    errors = SignupState.field_errors
    prefilled_email = SignupState.router.url.query_parameters.get("email", "")
    return app_form(
        rx.vstack(
            text_field(t("Name"), "name", errors, autocomplete="name"),
            text_field(
                t("Email"), "email", errors, type="email", autocomplete="email", default_value=prefilled_email
            ),
            text_field(
                t("Password"),
                "password",
                errors,
                type="password",
                autocomplete="new-password",
                hint=t("At least 12 characters. A few random words work well."),
            ),
            text_field(t("Company name"), "company_name", errors, autocomplete="organization"),
            submit_button(t("Create account"), submitting(SignupState.create_account), width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=SignupState.create_account,
        key=prefilled_email,  # a prefilled address arrives with the state: show it
        width="100%",
    )


def signup_page() -> rx.Component:
    """The sign-up page."""
    return public_layout(
        t("Create your account"),
        rx.cond(SignupState.sent_to != "", _check_your_email(), _form()),
        rx.cond(
            SignupState.sent_to == "",
            rx.text(
                t("Already have an account? "),
                rx.link(
                    t("Log in"),
                    href=routes.LOGIN + "?next=" + SignupState.router.url.query_parameters.get("next", ""),
                ),
                size="2",
            ),
        ),
        subtitle=t(
            "Your company gets its own eConnect environment. The free Invoice Portal plan is enough to start."
        ),
    )
