"""The notice at the top of every signed-in page while the user's primary address is unconfirmed,
with "Send the email again" (throttled). Refreshed live, so it goes away in every open tab once the
address is confirmed."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import is_busy_with
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.models import User
from econnect_app.services import user_emails
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.live_tabs import live_sessions

SEND_AGAIN = "send-confirmation-again"


class EmailConfirmationState(AuthState):
    """The user's primary address while it is unconfirmed ("" once confirmed)."""

    unconfirmed_email: str = ""

    def _live_refresh(self, db: Session, user: User) -> None:
        self.unconfirmed_email = "" if user.email_confirmed_at is not None else user.email

    @rx.event
    def load(self) -> Updates:
        """on_mount of the notice."""
        return self._load(self._live_refresh)

    @rx.event
    def send_again(self, action_id: str | None = None) -> Updates:
        """Email the confirmation link again (a new link; the earlier ones stop working)."""

        def action(db: Session, actor: User) -> Any:
            address = user_emails.resend_primary_confirmation(db, user=actor)
            self._live_refresh(db, actor)
            if not self.unconfirmed_email:
                return rx.toast.success(i18n.gettext("{address} is already confirmed.", address=address))
            return rx.toast.success(i18n.gettext("We sent the email again to {address}.", address=address))

        return self._act(action, busy_with=SEND_AGAIN, action_id=action_id)


live_sessions.watch_everywhere(EmailConfirmationState)


def email_confirmation_notice() -> rx.Component:
    """Ask an unconfirmed user to confirm their address (nothing once it is confirmed)."""
    return rx.box(
        rx.cond(
            EmailConfirmationState.unconfirmed_email != "",
            rx.callout(
                rx.vstack(
                    rx.text(
                        t_rich(
                            i18n.N_(
                                "Confirm your email address {address}: open the link we emailed you and click "
                                "Confirm. Until then, authorisation requests sent to this address are not listed "
                                "here: open them through the link in their email."
                            ),
                            address=rx.text.strong(EmailConfirmationState.unconfirmed_email),
                        ),
                    ),
                    rx.button(
                        t("Send the email again"),
                        size="1",
                        variant="soft",
                        on_click=EmailConfirmationState.send_again(AuthState.action_id),
                        loading=is_busy_with(SEND_AGAIN),
                    ),
                    spacing="2",
                    align="start",
                ),
                icon="mail",
                color_scheme="amber",
                role="status",
                width="100%",
                id="email-confirmation-notice",
            ),
        ),
        on_mount=EmailConfirmationState.load,
        width="100%",
    )
