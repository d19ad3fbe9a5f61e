"""/settings: the environment's name and subscription plan (Administrators)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app.components.forms import (
    app_form,
    is_busy_with,
    select_field,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import app_layout, section_card
from econnect_app.models import Plan, User
from econnect_app.services import environments, permissions
from econnect_app.services.errors import ConfirmationNeeded
from econnect_app.state.auth import AuthState, Updates

PLAN_CHOICES: list[str] = [plan.value for plan in Plan]
DENIED_MESSAGE = "Only administrators can change the settings of this environment."
CONFIRM_CHANGE = "confirm-plan-change"
PLAN_DESCRIPTIONS: list[tuple[str, str]] = [
    (Plan.INVOICE_PORTAL.value, "Free. Send invoices, with at most two organisations."),
    (
        Plan.BASIC.value,
        "Everything in Invoice Portal without the limit on organisations, plus partnerships "
        "and authorisation requests to link clients.",
    ),
    (Plan.PROFESSIONAL.value, "Everything in Basic, for firms that link many clients."),
]


class SettingsState(AuthState):
    """The environment settings form."""

    form_name: str = ""
    form_plan: str = ""
    form_version: int = 0
    loaded: bool = False
    denied: bool = False
    confirm_message: str = ""  # what a plan change would do, asked before it is made
    _pending_change: dict[str, str] = {}

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
            return rx.toast.success("Settings saved.")

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
    def cancel_change(self) -> None:
        """Keep the current plan."""
        self.confirm_message = ""
        self._pending_change = {}
        self.form_version += 1  # the form shows the saved plan again


def _plan_notes() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "There is no payment processing in this product: a plan change takes effect at once "
            "and nothing is charged here.",
            icon="info",
            color_scheme="blue",
            size="1",
            width="100%",
        ),
        rx.el.dl(
            *[
                rx.box(
                    rx.el.dt(rx.text(name, weight="medium", size="2")),
                    rx.el.dd(rx.text(text, size="2", color_scheme="gray"), margin_left="0"),
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
            text_field("Environment name", "name", errors, default_value=SettingsState.form_name),
            select_field(
                "Subscription plan",
                "plan",
                PLAN_CHOICES,
                errors,
                default_value=SettingsState.form_plan,
            ),
            _plan_notes(),
            rx.hstack(submit_button("Save", submitting(SettingsState.save)), justify="end", width="100%"),
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
            rx.alert_dialog.title("Change the plan?"),
            rx.alert_dialog.description(SettingsState.confirm_message, size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Keep my plan", variant="soft", color_scheme="gray", on_click=SettingsState.cancel_change)
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Change plan",
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


def settings_page() -> rx.Component:
    """The settings page."""
    return app_layout(
        "Settings",
        rx.cond(
            SettingsState.loaded,
            rx.cond(
                SettingsState.denied,
                rx.callout(DENIED_MESSAGE, icon="lock", color_scheme="amber", role="alert", width="100%"),
                section_card(
                    "Environment",
                    _settings_form(),
                    _confirm_dialog(),
                    description="The name your users and partners see, and your subscription plan.",
                ),
            ),
            rx.center(rx.spinner(size="3"), padding="40px", width="100%", aria_label="Loading settings"),
        ),
    )
