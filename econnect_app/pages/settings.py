"""/settings: the environment's name and subscription plan, its time zone, and its email delivery
(Administrators)."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import (
    app_form,
    is_busy_with,
    select_field,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, section_card
from econnect_app.components.translated import t
from econnect_app.formatting import DEFAULT_TIME_ZONE, format_datetime, in_time_zone
from econnect_app.models import Plan, User
from econnect_app.services import environments, outbox_admin, permissions, reminders
from econnect_app.services.errors import ConfirmationNeeded
from econnect_app.settings import get_settings
from econnect_app.state.auth import AuthState, Updates, row_activity

PLAN_CHOICES: list[str] = [plan.value for plan in Plan]
DENIED_MESSAGE = i18n.N_("Only administrators can change the settings of this environment.")
CONFIRM_CHANGE = "confirm-plan-change"
PLAN_DESCRIPTIONS: list[tuple[str, str]] = [
    (Plan.INVOICE_PORTAL.value, i18n.N_("Free. Send invoices, with at most two organisations.")),
    (
        Plan.BASIC.value,
        i18n.N_(
            "Everything in Invoice Portal without the limit on organisations, plus partnerships "
            "and authorisation requests to link clients."
        ),
    ),
    (Plan.PROFESSIONAL.value, i18n.N_("Everything in Basic, for firms that link many clients.")),
]
TIME_ZONE_CHOICES: list[str] = list(environments.TIME_ZONE_CHOICES)
RETRY_EMAIL = "retry-email"
RETRY_ALL_EMAILS = "retry-all-emails"
ALL_SENT_TEXT = i18n.N_("No email is waiting or failed: every email was sent or is on its way.")


@dataclasses.dataclass
class FailedEmailView:
    """One email that could not be sent, as the Email delivery section shows it."""

    id: int
    to_address: str
    subject: str
    created: str
    problem: str


def _failed_notice(overview: outbox_admin.DeliveryOverview) -> str:
    if not overview.failed_count:
        return ""
    text = i18n.ngettext(
        "{count} email could not be sent. Check the address, then send it again.",
        "{count} emails could not be sent. Check the address, then send them again.",
        overview.failed_count,
    )
    if overview.failed_count > len(overview.failed):
        text += " " + i18n.gettext("The newest {count} are listed.", count=len(overview.failed))
    return text


def _waiting_notice(overview: outbox_admin.DeliveryOverview) -> str:
    if not overview.waiting_count:
        return ""
    if not get_settings().mail_enabled:
        return i18n.gettext(
            "No mail server is set up (ECONNECT_SMTP_URL), so emails stay in the outbox. In development "
            "they are shown at /dev/mailbox."
        )
    return i18n.ngettext(
        "{count} email is waiting to be sent (the oldest since {since}): the mail server cannot be reached "
        "or asked to try later. They go out as soon as it takes mail again.",
        "{count} emails are waiting to be sent (the oldest since {since}): the mail server cannot be reached "
        "or asked to try later. They go out as soon as it takes mail again.",
        overview.waiting_count,
        since=format_datetime(overview.waiting_since),
    )


class SettingsState(AuthState):
    """The environment settings form."""

    form_name: str = ""
    form_plan: str = ""
    form_version: int = 0
    loaded: bool = False
    denied: bool = False
    confirm_message: str = ""  # what a plan change would do, asked before it is made
    _pending_change: dict[str, str] = {}
    failed_emails: list[FailedEmailView] = []
    failed_notice: str = ""
    waiting_notice: str = ""
    delivery_window_days: int = 14
    # Automatic reminders (their own form): the saved values, as the form shows them.
    reminder_every_days: str = "7"
    reminder_max: str = "2"
    reminders_note: str = ""
    reminders_version: int = 0
    # The time zone (its own form): the saved zone, as the form shows it.
    form_time_zone: str = DEFAULT_TIME_ZONE
    time_zone_version: int = 0

    def _fill(self, db: Session, actor: User) -> None:
        """Put the environment's current values in the form (Administrators only)."""
        if not permissions.is_admin(actor):
            self.denied = True
            return
        environment = environments.get_environment(db, actor=actor)
        self.denied = False
        self.form_name = environment.name
        self.form_plan = environment.plan
        self.form_version += 1
        self._show_time_zone(environment.time_zone)
        self._fill_delivery(db, actor)
        self._show_reminders(reminders.reminder_settings(db, actor=actor))

    def _show_reminders(self, saved: reminders.ReminderSettings) -> None:
        self.reminder_every_days = str(saved.every_days)
        self.reminder_max = str(saved.max_reminders)
        self.reminders_note = reminders.reminders_note(saved.every_days, saved.max_reminders)
        self.reminders_version += 1

    def _show_time_zone(self, time_zone: str) -> None:
        self.form_time_zone = time_zone or DEFAULT_TIME_ZONE
        self.time_zone_version += 1

    def _fill_delivery(self, db: Session, actor: User) -> None:
        """The Email delivery section: what waits, what failed (Administrators only)."""
        overview = outbox_admin.delivery_overview(db, actor=actor)
        self.failed_emails = [
            FailedEmailView(
                id=email.id,
                to_address=email.to_address,
                subject=email.subject,
                created=format_datetime(email.created_at),
                problem=email.problem,
            )
            for email in overview.failed
        ]
        self.failed_notice = _failed_notice(overview)
        self.waiting_notice = _waiting_notice(overview)
        self.delivery_window_days = overview.window_days

    @rx.event
    async def load(self) -> Updates:
        """on_load: the current name and plan, or a clear message for non-administrators."""
        self.loaded = False
        try:
            async for update in self._load(self._fill):
                yield update
        finally:
            self.loaded = True

    def _saving(self, name: str, plan: str, *, confirmed: bool) -> Any:
        def action(db: Session, actor: User) -> Any:
            try:
                environment = environments.update_environment(
                    db, actor=actor, name=name, plan=plan, confirmed=confirmed
                )
            except ConfirmationNeeded as question:
                self.confirm_message = question.message
                self._pending_change = {"name": name, "plan": plan}
                return None
            self.confirm_message = ""
            self._pending_change = {}
            self.form_name = environment.name
            self.form_plan = environment.plan
            self._current_user(db)  # refreshes the environment name and plan badge in the sidebar
            return rx.toast.success(i18n.gettext("Settings saved."))

        return action

    @rx.event
    def save(self, form: dict[str, Any]) -> Updates:
        """Save the name and plan; a plan change with consequences is confirmed first."""
        return self._act(
            self._saving(str(form.get("name", "")), str(form.get("plan", "")), confirmed=False), form=form
        )

    @rx.event
    def confirm_change(self, action_id: str | None = None) -> Updates:
        """Make the plan change the user confirmed in the dialog."""
        change = self._pending_change or {"name": self.form_name, "plan": self.form_plan}
        return self._act(
            self._saving(change["name"], change["plan"], confirmed=True),
            busy_with=CONFIRM_CHANGE,
            action_id=action_id,
        )

    @rx.event
    def save_reminders(self, form: dict[str, Any]) -> Updates:
        """Save "remind pending clients every N days, at most M times" (Administrators)."""
        every_days = str(form.get(reminders.EVERY_DAYS_FIELD, ""))
        max_reminders = str(form.get(reminders.MAX_FIELD, ""))

        def action(db: Session, actor: User) -> Any:
            saved = reminders.update_reminder_settings(
                db, actor=actor, every_days=every_days, max_reminders=max_reminders
            )
            self._show_reminders(saved)
            return rx.toast.success(i18n.gettext("Reminders saved."))

        return self._act(action, form=form)

    @rx.event
    def save_time_zone(self, form: dict[str, Any]) -> Updates:
        """Show the environment's dates and times, in pages and emails, in the chosen zone."""
        time_zone = str(form.get(environments.TIME_ZONE_FIELD, ""))

        def action(db: Session, actor: User) -> Any:
            environment = environments.update_time_zone(db, actor=actor, time_zone=time_zone)
            self._show_time_zone(environment.time_zone)
            with in_time_zone(environment.time_zone):  # this page's own times, in the new zone
                self._fill_delivery(db, actor)
            return rx.toast.success(
                i18n.gettext(
                    "Time zone saved: times are now shown in {time_zone}.", time_zone=environment.time_zone
                )
            )

        return self._act(action, form=form)

    @rx.event
    def retry_email(self, message_id: int, action_id: str | None = None) -> Updates:
        """Send one email that could not be sent again."""

        def action(db: Session, actor: User) -> Any:
            email = outbox_admin.retry_failed_email(db, actor=actor, message_id=message_id)
            self._fill_delivery(db, actor)
            return rx.toast.success(
                i18n.gettext("The email to {address} will be sent again.", address=email.to_address)
            )

        return self._act(action, busy_with=row_activity(RETRY_EMAIL, message_id), action_id=action_id)

    @rx.event
    def retry_all_emails(self, action_id: str | None = None) -> Updates:
        """Send every email that could not be sent again."""

        def action(db: Session, actor: User) -> Any:
            count = outbox_admin.retry_all_failed_emails(db, actor=actor)
            self._fill_delivery(db, actor)
            if not count:
                return rx.toast.info(i18n.gettext("There are no emails to send again."))
            return rx.toast.success(
                i18n.ngettext(
                    "{count} email will be sent again.", "{count} emails will be sent again.", count
                )
            )

        return self._act(action, busy_with=RETRY_ALL_EMAILS, action_id=action_id)

    @rx.event
    def cancel_change(self) -> None:
        """Keep the current plan."""
        self.confirm_message = ""
        self._pending_change = {}
        self.form_version += 1  # the form shows the saved plan again


def _plan_notes() -> rx.Component:
    return rx.vstack(
        rx.callout(
            t(
                "There is no payment processing in this product: a plan change takes effect at once "
                "and nothing is charged here."
            ),
            icon="info",
            color_scheme="blue",
            size="1",
            width="100%",
        ),
        rx.el.dl(
            *[
                rx.box(
                    rx.el.dt(rx.text(name, weight="medium", size="2")),
                    rx.el.dd(rx.text(t(text), size="2", color_scheme="gray"), margin_left="0"),
                    margin_bottom="8px",
                )
                for name, text in PLAN_DESCRIPTIONS
            ],
            margin="0",
        ),
        spacing="3",
        width="100%",
    )


def _settings_form() -> rx.Component:
    errors = SettingsState.field_errors
    return app_form(
        rx.vstack(
            text_field(t("Environment name"), "name", errors, default_value=SettingsState.form_name),
            select_field(
                t("Subscription plan"),
                "plan",
                PLAN_CHOICES,
                errors,
                default_value=SettingsState.form_plan,
            ),
            _plan_notes(),
            rx.hstack(submit_button(t("Save"), submitting(SettingsState.save)), justify="end", width="100%"),
            spacing="4",
            width="100%",
        ),
        on_submit=SettingsState.save,
        key=SettingsState.form_version,
        width="100%",
    )


def _confirm_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(t("Change the plan?")),
            rx.alert_dialog.description(SettingsState.confirm_message, size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button(
                        t("Keep my plan"),
                        variant="soft",
                        color_scheme="gray",
                        on_click=SettingsState.cancel_change,
                    )
                ),
                rx.alert_dialog.action(
                    rx.button(
                        t("Change plan"),
                        color_scheme="amber",
                        loading=is_busy_with(CONFIRM_CHANGE),
                        on_click=SettingsState.confirm_change(AuthState.action_id),
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
            max_width="480px",
        ),
        open=SettingsState.confirm_message != "",
    )


def _reminders() -> rx.Component:
    errors = SettingsState.field_errors
    return section_card(
        t("Reminders"),
        app_form(
            rx.vstack(
                rx.flex(
                    text_field(
                        t("Remind pending clients every (days)"),
                        reminders.EVERY_DAYS_FIELD,
                        errors,
                        type="number",
                        hint=t(
                            "A whole number from 0 to {max}. 0 turns automatic reminders off.",
                            max=reminders.EVERY_DAYS_MAX,
                        ),
                        default_value=SettingsState.reminder_every_days,
                        min=0,
                        max=reminders.EVERY_DAYS_MAX,
                        step=1,
                        input_mode="numeric",
                    ),
                    text_field(
                        t("At most (reminders)"),
                        reminders.MAX_FIELD,
                        errors,
                        type="number",
                        hint=t("A whole number from 0 to {max}, per request.", max=reminders.REMINDERS_MAX),
                        default_value=SettingsState.reminder_max,
                        min=0,
                        max=reminders.REMINDERS_MAX,
                        step=1,
                        input_mode="numeric",
                    ),
                    direction={"initial": "column", "sm": "row"},
                    spacing="4",
                    width="100%",
                ),
                rx.text(SettingsState.reminders_note, size="2", color_scheme="gray"),
                rx.hstack(
                    submit_button(t("Save reminders"), submitting(SettingsState.save_reminders)),
                    justify="end",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=SettingsState.save_reminders,
            key=SettingsState.reminders_version,
        ),
        description=t(
            "Clients who have not answered an authorisation request get it again by email, with a "
            "new link (the earlier link stops working). The email says which reminder it is, e.g. "
            '"This is reminder 1 of 2." Each reminder is recorded in the activity log.'
        ),
    )


def _time_zone() -> rx.Component:
    return section_card(
        t("Time zone"),
        app_form(
            rx.vstack(
                select_field(
                    t("Time zone"),
                    environments.TIME_ZONE_FIELD,
                    TIME_ZONE_CHOICES,
                    SettingsState.field_errors,
                    default_value=SettingsState.form_time_zone,
                ),
                rx.hstack(
                    submit_button(t("Save time zone"), submitting(SettingsState.save_time_zone)),
                    justify="end",
                    width="100%",
                ),
                spacing="4",
                width="100%",
            ),
            on_submit=SettingsState.save_time_zone,
            key=SettingsState.time_zone_version,
            width="100%",
        ),
        description=t(
            "Dates and times in the app and in its emails are shown in this time zone, named after "
            "the time (e.g. CET or CEST for Europe/Amsterdam). Emails to clients use the time zone of the "
            "environment that sends them."
        ),
    )


def _failed_email_row(email: rx.Var[FailedEmailView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(email.to_address, weight="medium", size="2")),
        rx.table.cell(rx.text(email.subject, size="2")),
        rx.table.cell(rx.text(email.created, size="2")),
        rx.table.cell(rx.text(email.problem, size="1", color_scheme="gray")),
        rx.table.cell(
            rx.button(
                t("Retry"),
                size="1",
                variant="soft",
                on_click=SettingsState.retry_email(email.id, AuthState.action_id),
                loading=is_busy_with(row_activity(RETRY_EMAIL, email.id)),
                disabled=AuthState.busy,
                aria_label=t("Retry the email to {address}", address=email.to_address),
            )
        ),
        align="center",
    )


def _failed_emails() -> rx.Component:
    return rx.vstack(
        rx.callout(
            SettingsState.failed_notice, icon="triangle-alert", color_scheme="red", role="alert", width="100%"
        ),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell(t("To")),
                        rx.table.column_header_cell(t("Subject")),
                        rx.table.column_header_cell(t("Written")),
                        rx.table.column_header_cell(t("Problem")),
                        rx.table.column_header_cell(t("Actions")),
                    )
                ),
                rx.table.body(rx.foreach(SettingsState.failed_emails, _failed_email_row)),
                variant="surface",
                size="1",
                width="100%",
            ),
            width="100%",
            overflow_x="auto",
        ),
        rx.hstack(
            rx.button(
                t("Retry all"),
                variant="soft",
                on_click=SettingsState.retry_all_emails(AuthState.action_id),
                loading=is_busy_with(RETRY_ALL_EMAILS),
                disabled=AuthState.busy,
            ),
            justify="end",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _email_delivery() -> rx.Component:
    return section_card(
        t("Email delivery"),
        rx.cond(
            SettingsState.waiting_notice != "",
            rx.callout(
                SettingsState.waiting_notice, icon="clock", color_scheme="blue", role="status", width="100%"
            ),
        ),
        rx.cond(
            SettingsState.failed_notice != "",
            _failed_emails(),
            rx.cond(SettingsState.waiting_notice == "", rx.text(t(ALL_SENT_TEXT), size="2")),
        ),
        description=t(
            "Emails the app sends for your environment. An email that could not be sent within {days} days "
            "is not sent again: its link no longer works.",
            days=SettingsState.delivery_window_days.to_string(),
        ),
    )


def settings_page() -> rx.Component:
    """The settings page."""
    return app_layout(
        t("Settings"),
        rx.cond(
            SettingsState.loaded,
            rx.cond(
                SettingsState.denied,
                rx.callout(t(DENIED_MESSAGE), icon="lock", color_scheme="amber", role="alert", width="100%"),
                rx.vstack(
                    section_card(
                        t("Environment"),
                        _settings_form(),
                        _confirm_dialog(),
                        description=t("The name your users and partners see, and your subscription plan."),
                    ),
                    _time_zone(),
                    _reminders(),
                    _email_delivery(),
                    spacing="4",
                    width="100%",
                ),
            ),
            rx.center(rx.spinner(size="3"), padding="40px", width="100%", aria_label=t("Loading settings")),
        ),
    )
