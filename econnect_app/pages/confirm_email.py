"""/confirm-email/[token]: confirm an email address (the primary one after sign-up, or an additional
one) with a click of its owner, logged in.

Opening the page uses nothing up: it says which address the link confirms and shows a Confirm
button (or the way to log in first), so a mail scanner that opens links confirms nothing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import is_busy_with
from econnect_app.components.layout import public_layout
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.models import User
from econnect_app.services import user_emails
from econnect_app.services.errors import InvalidToken, PermissionDenied
from econnect_app.state.auth import AuthState, Updates

CHECKING = "checking"
INVALID = "invalid"
LOG_IN_FIRST = "log_in_first"
OTHER_ACCOUNT = "other_account"
READY = "ready"
CONFIRMED = "confirmed"
CONFIRM = "confirm-email"


class ConfirmEmailState(AuthState):
    """What the link confirms, and the owner's click."""

    outcome: str = CHECKING
    address: str = ""
    log_in_href: str = routes.LOGIN

    def _show(self, db: Session, user: User | None) -> None:
        try:
            pending = user_emails.look_up_confirmation(db, token=self._link_token())
        except InvalidToken:
            self.outcome = INVALID
            return
        self.address = pending.address
        if user is None:
            # Log in, then come back here; the primary address is the one to log in with.
            query = f"?next={quote(self.router.url.path, safe='')}"
            if pending.is_primary:
                query += f"&email={quote(pending.address, safe='')}"
            self.log_in_href = routes.LOGIN + query
            self.outcome = LOG_IN_FIRST
        elif user.id != pending.user_id:
            self.outcome = OTHER_ACCOUNT
        else:
            self.outcome = READY

    @rx.event
    def load(self) -> Updates:
        """on_load: say what the link confirms (reads only: nothing is used up by opening it)."""
        self.outcome = CHECKING

        def look_up(db: Session) -> None:
            self._show(db, self._current_user(db))

        return self._load_public(look_up)

    @rx.event
    def confirm(self, action_id: str | None = None) -> Updates:
        """The owner's click: use the link and confirm the address."""

        def action(db: Session, user: User) -> Any:
            try:
                address = user_emails.confirm_email(db, user=user, token=self._link_token())
            except InvalidToken:
                self.outcome = INVALID
                return None
            except PermissionDenied:
                self.outcome = OTHER_ACCOUNT
                return None
            self.address = address
            self.outcome = CONFIRMED
            return rx.toast.success(i18n.gettext("{address} is confirmed.", address=address))

        return self._act(action, busy_with=CONFIRM, action_id=action_id)


def _callout(text: Any, *, ok: bool = False) -> rx.Component:
    return rx.callout(
        text,
        icon="circle_check" if ok else "triangle_alert",
        color_scheme="green" if ok else "amber",
        role="status" if ok else "alert",
    )


def confirm_email_page() -> rx.Component:
    """The page behind an email confirmation link."""
    address = rx.text.strong(ConfirmEmailState.address)
    return public_layout(
        t("Confirm email address"),
        rx.match(
            ConfirmEmailState.outcome,
            (
                READY,
                rx.vstack(
                    rx.text(
                        t_rich(i18n.N_("Confirm that {address} is your email address."), address=address),
                        size="2",
                    ),
                    rx.button(
                        t("Confirm"),
                        size="3",
                        width="100%",
                        on_click=ConfirmEmailState.confirm(AuthState.action_id),
                        loading=is_busy_with(CONFIRM),
                    ),
                    spacing="3",
                    width="100%",
                ),
            ),
            (
                LOG_IN_FIRST,
                rx.vstack(
                    rx.text(
                        t_rich(
                            i18n.N_("Log in to confirm {address}. You come back here afterwards."),
                            address=address,
                        ),
                        size="2",
                    ),
                    rx.link(
                        rx.button(t("Log in"), size="3", width="100%"),
                        href=ConfirmEmailState.log_in_href,
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
            ),
            (
                OTHER_ACCOUNT,
                rx.vstack(
                    _callout(
                        rx.text(
                            t_rich(
                                i18n.N_(
                                    "This link confirms {address} for another account. Log out, then log in with "
                                    "the account that asked for it."
                                ),
                                address=address,
                            )
                        )
                    ),
                    rx.button(t("Log out"), variant="soft", on_click=AuthState.log_out),
                    spacing="3",
                ),
            ),
            (
                CONFIRMED,
                rx.vstack(
                    _callout(
                        rx.text(
                            t_rich(
                                i18n.N_("{address} is confirmed and can now be used with your account."),
                                address=address,
                            )
                        ),
                        ok=True,
                    ),
                    rx.link(rx.button(t("Continue"), size="3"), href=routes.DASHBOARD),
                    spacing="3",
                ),
            ),
            (
                INVALID,
                rx.vstack(
                    _callout(t(user_emails.INVALID_CONFIRMATION_MESSAGE)),
                    rx.link(t("Go to eConnect"), href="/", size="2"),
                    spacing="3",
                ),
            ),
            rx.center(rx.spinner(), padding="24px", aria_label=t("Checking the link")),
        ),
    )
