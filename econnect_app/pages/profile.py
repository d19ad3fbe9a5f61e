"""/profile: the user's own additional email addresses, password and language (every user)."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import (
    app_form,
    field_error,
    field_id,
    is_busy_with,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.models import User
from econnect_app.services import accounts, preferences, user_emails
from econnect_app.state.auth import AuthState, Updates, row_activity

CONFIRMED = i18n.N_("Confirmed")
WAITING = i18n.N_("Waiting for confirmation")
REMOVE = "remove-email"
LANGUAGE_FIELD = "language"


@dataclasses.dataclass
class EmailRow:
    """One additional email address as the list shows it."""

    id: int
    email: str
    confirmed: bool


class ProfileState(AuthState):
    """Additional email addresses, the change-password form and the language."""

    emails: list[EmailRow] = []
    loading: bool = True
    email_form_version: int = 0
    password_form_version: int = 0
    language_choice: str = ""  # the stored choice: "en", "nl" or "" (as the browser)

    def _refresh(self, db: Session, actor: User) -> None:
        self.emails = [
            EmailRow(id=row.id or 0, email=row.email, confirmed=row.confirmed_at is not None)
            for row in user_emails.list_emails(db, user=actor)
        ]
        self.language_choice = actor.language or ""

    @rx.event
    async def load(self) -> Updates:
        """on_load: the user's additional email addresses."""
        self.loading = True
        try:
            async for update in self._load(self._refresh):
                yield update
        finally:
            self.loading = False

    @rx.event
    def add_email(self, form: dict[str, Any]) -> Updates:
        """Add an address; it is usable once confirmed through the emailed link."""

        def action(db: Session, actor: User) -> Any:
            address = user_emails.add_email(db, user=actor, email=form.get("email", ""))
            self._refresh(db, actor)
            self.email_form_version += 1  # empties the field
            return rx.toast.success(
                i18n.gettext(
                    "We sent an email to {address}. Open its link to confirm the address.", address=address
                )
            )

        return self._act(action, form=form)

    @rx.event
    def remove_email(self, email_id: int, email: str, action_id: str | None = None) -> Updates:
        """Remove one of the user's additional addresses."""

        def action(db: Session, actor: User) -> Any:
            user_emails.remove_email(db, user=actor, email_id=email_id)
            self._refresh(db, actor)
            return rx.toast.success(i18n.gettext("{email} is removed.", email=email))

        return self._act(action, busy_with=row_activity(REMOVE, email_id), action_id=action_id)

    @rx.event
    def change_password(self, form: dict[str, Any]) -> Updates:
        """Change the password; other sessions end, this one continues with a new token."""

        def action(db: Session, actor: User) -> Any:
            token = accounts.change_password(
                db,
                user=actor,
                current_password=form.get("current_password", ""),
                new_password=form.get("new_password", ""),
                user_agent=self.router.headers.user_agent,
            )
            self._start_session(db, actor, token)
            self.password_form_version += 1  # empties both fields
            return rx.toast.success(i18n.gettext("Password changed. Other sessions were logged out."))

        return self._act(action, form=form)

    @rx.event
    def save_language(self, form: dict[str, Any]) -> Updates:
        """Show the pages and send the emails in the chosen language (or the browser's); the page
        is shown in it at once."""

        def action(db: Session, actor: User) -> Any:
            user = preferences.set_language(db, actor=actor, language=str(form.get(LANGUAGE_FIELD) or ""))
            self._user_language = user.language or ""
            self.language = self._tab_language()
            self._refresh(db, user)
            return [
                rx.toast.success(i18n.translate(self.language, "Your language was saved.")),
                self._show_language(),
            ]

        return self._act(action, form=form)


def _status_badge(row: rx.Var) -> rx.Component:
    return rx.cond(
        row.confirmed,
        rx.badge(t(CONFIRMED), color_scheme="green"),
        rx.badge(t(WAITING), color_scheme="amber"),
    )


def _remove_button(row: rx.Var) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                t("Remove"),
                size="1",
                variant="soft",
                color_scheme="red",
                loading=is_busy_with(row_activity(REMOVE, row.id)),
                aria_label=t("Remove {email}", email=row.email),
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(t("Remove {email}?", email=row.email)),
            rx.alert_dialog.description(
                t("You can add it again later; it then needs a new confirmation."),
                size="2",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(t("Cancel"), variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        t("Remove"),
                        color_scheme="red",
                        on_click=ProfileState.remove_email(row.id, row.email, AuthState.action_id),
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
            max_width="440px",
        ),
    )


def _email_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row.email),
        rx.table.cell(_status_badge(row)),
        rx.table.cell(_remove_button(row)),
        align="center",
    )


def _email_list() -> rx.Component:
    return rx.cond(
        ProfileState.loading,
        rx.center(
            rx.spinner(size="3"), padding="24px", width="100%", aria_label=t("Loading email addresses")
        ),
        rx.cond(
            ProfileState.emails.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(t("Email address")),
                        rx.table.column_header_cell(t("Status")),
                        rx.table.column_header_cell(t("Actions")),
                    )
                ),
                rx.table.body(rx.foreach(ProfileState.emails, _email_row)),
                variant="surface",
                width="100%",
                aria_label=t("Additional email addresses"),
            ),
            empty_state(
                "mail",
                t("No additional email addresses"),
                t(
                    "Add another address you use, for example a shared mailbox. We email it a link to confirm it "
                    "is yours."
                ),
            ),
        ),
    )


def _add_email_form() -> rx.Component:
    return app_form(
        rx.hstack(
            rx.box(
                text_field(
                    t("Additional email address"),
                    "email",
                    ProfileState.field_errors,
                    type="email",
                    autocomplete="email",
                ),
                flex="1",
                min_width="240px",
            ),
            submit_button(t("Add email address"), submitting(ProfileState.add_email), margin_top="24px"),
            align="start",
            spacing="3",
            width="100%",
            wrap="wrap",
        ),
        on_submit=ProfileState.add_email,
        key=ProfileState.email_form_version,
        width="100%",
    )


def _change_password_form() -> rx.Component:
    errors = ProfileState.field_errors
    return app_form(
        rx.vstack(
            # Lets password managers tie the new password to the right account.
            rx.el.input(
                type="email",
                name="username",
                value=AuthState.user_email,
                auto_complete="username",
                read_only=True,
                hidden=True,
            ),
            text_field(
                t("Current password"),
                "current_password",
                errors,
                type="password",
                autocomplete="current-password",
            ),
            text_field(
                t("New password"),
                "new_password",
                errors,
                type="password",
                autocomplete="new-password",
                hint=t("At least 12 characters. A few random words work well."),
            ),
            rx.hstack(
                submit_button(t("Change password"), submitting(ProfileState.change_password)),
                justify="end",
                width="100%",
            ),
            spacing="4",
            width="100%",
            max_width="480px",
        ),
        on_submit=ProfileState.change_password,
        key=ProfileState.password_form_version,
        width="100%",
    )


def _language_form() -> rx.Component:
    element_id = field_id(LANGUAGE_FIELD)
    errors = ProfileState.field_errors
    return app_form(
        rx.vstack(
            rx.vstack(
                rx.el.label(rx.text(t("Language"), size="2", weight="medium"), html_for=element_id),
                rx.el.select(
                    rx.el.option(t("As my browser"), value=preferences.BROWSER_LANGUAGE),
                    # Each language in its own words, never translated.
                    *[rx.el.option(name, value=code) for code, name in i18n.LANGUAGES.items()],
                    id=element_id,
                    name=LANGUAGE_FIELD,
                    default_value=ProfileState.language_choice,
                    aria_describedby=f"{element_id}-error",
                    aria_invalid=rx.cond(errors[LANGUAGE_FIELD].to(str), "true", "false"),
                    class_name="econnect-select",
                ),
                field_error(errors, LANGUAGE_FIELD),
                spacing="1",
                width="100%",
                max_width="320px",
                align="stretch",
            ),
            rx.hstack(
                submit_button(t("Save language"), submitting(ProfileState.save_language)),
                justify="end",
                width="100%",
            ),
            spacing="4",
            width="100%",
            max_width="480px",
        ),
        on_submit=ProfileState.save_language,
        key="language-" + ProfileState.language_choice,  # shows the stored choice once it is read
        width="100%",
    )


def profile_page() -> rx.Component:
    """The profile page."""
    return app_layout(
        t("My profile"),
        section_card(
            t("Additional email addresses"),
            rx.text(
                t_rich(
                    i18n.N_(
                        "Your primary email address is {address}. Additional addresses can be used once you "
                        "confirm them through the link we email."
                    ),
                    address=rx.text.strong(AuthState.user_email),
                ),
                size="2",
            ),
            _email_list(),
            _add_email_form(),
        ),
        section_card(
            t("Change password"),
            _change_password_form(),
            description=t("Changing your password logs you out everywhere else."),
        ),
        section_card(
            t("Language"),
            _language_form(),
            description=t("The language of the pages and of the emails you receive."),
        ),
    )
