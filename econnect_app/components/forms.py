"""Form building blocks: labelled fields with their error message right beside them."""

from __future__ import annotations

from typing import Any

import reflex as rx


def field_id(name: str) -> str:
    """The element id of a form field (kebab-case)."""
    return "field-" + name.replace("_", "-")


def field_error(errors: rx.Var, name: str) -> rx.Component:
    """The message for one field, announced to screen readers."""
    message = errors[name].to(str)
    return rx.cond(
        message,
        rx.text(message, id=f"{field_id(name)}-error", color_scheme="red", size="2", role="alert"),
    )


def text_field(
    label: str,
    name: str,
    errors: rx.Var,
    *,
    type: str = "text",
    placeholder: str = "",
    hint: str = "",
    autocomplete: str | None = None,
    default_value: Any = None,
    required: bool = False,
    **props: Any,
) -> rx.Component:
    """A labelled input; its error (``errors[name]``) is shown and linked beneath it."""
    element_id = field_id(name)
    input_props: dict[str, Any] = dict(
        id=element_id,
        name=name,
        type=type,
        placeholder=placeholder,
        required=required,
        aria_describedby=f"{element_id}-error {element_id}-hint",
        aria_invalid=rx.cond(errors[name].to(str), "true", "false"),
        size="3",
        width="100%",
        **props,
    )
    if autocomplete:
        input_props["auto_complete"] = autocomplete
    if default_value is not None:
        input_props["default_value"] = default_value
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        rx.input(**input_props),
        rx.cond(hint != "", rx.text(hint, id=f"{element_id}-hint", size="1", color_scheme="gray")),
        field_error(errors, name),
        spacing="1",
        width="100%",
        align="stretch",
    )


def select_field(
    label: str,
    name: str,
    options: list[str] | rx.Var,
    errors: rx.Var,
    *,
    default_value: str | rx.Var = "",
    hint: str = "",
    **props: Any,
) -> rx.Component:
    """A labelled native select (works in forms and with screen readers)."""
    element_id = field_id(name)
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            rx.foreach(options, lambda option: rx.el.option(option, value=option)),
            id=element_id,
            name=name,
            default_value=default_value,
            aria_describedby=f"{element_id}-error",
            class_name="econnect-select",
            **props,
        ),
        rx.cond(hint != "", rx.text(hint, size="1", color_scheme="gray")),
        field_error(errors, name),
        spacing="1",
        width="100%",
        align="stretch",
    )


def submit_button(label: str, busy: rx.Var, **props: Any) -> rx.Component:
    """The form's submit button, showing a spinner while the server works."""
    return rx.button(label, type="submit", loading=busy, size="3", **props)


def form_error_banner(message: rx.Var) -> rx.Component:
    """A message for the form as a whole (e.g. wrong credentials)."""
    return rx.cond(
        message,
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )


def app_form(*children: rx.Component, **props: Any) -> rx.Component:
    """A form whose input is checked by the server, with messages next to the fields.

    The browser's own validation bubbles are switched off so every message looks the same and
    is read by screen readers; what the user typed stays when the server refuses it.

    Until the page is hydrated (state loaded and on_load handlers done) the fields are disabled
    through a ``<fieldset>``: nothing typed into the pre-rendered page is lost when the server's
    state arrives and re-renders the form.
    """
    props.setdefault("reset_on_submit", False)
    props.setdefault("width", "100%")
    ready_fields = rx.el.fieldset(
        *children,
        disabled=~rx.State.is_hydrated,
        aria_busy=rx.cond(rx.State.is_hydrated, "false", "true"),
        style={"border": "0", "margin": "0", "padding": "0", "min_width": "0", "width": "100%"},
    )
    return rx.form(ready_fields, no_validate=True, **props)
