"""Form building blocks: labelled fields with their error message right beside them, and forms that
stay disabled while the server works on them (see state/auth.py, "Loading and acting")."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.event import EventHandler, EventSpec

from econnect_app.components.translated import Text, t, translated_options
from econnect_app.state.auth import ACTION_ID_FIELD, AuthState


def shown(text: Text) -> Text:
    """What a helper displays of a text it was given: a plain str (English, as written in the
    code) in the tab's language, a Var (translated by the caller) as it is."""
    return t(text) if isinstance(text, str) else text


def _options(options: list[str] | tuple[str, ...] | rx.Var) -> list[rx.Component]:
    """The ``<option>``s of a select: a list's values stay as they are (English, what the server
    reads), each shown in the tab's language; a Var's are shown as they are."""
    if isinstance(options, rx.Var):
        return [rx.foreach(options, lambda option: rx.el.option(option, value=option))]
    return translated_options(options)


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
    label: Text,
    name: str,
    errors: rx.Var,
    *,
    type: str = "text",
    placeholder: Text = "",
    hint: Text = "",
    autocomplete: str | None = None,
    default_value: Any = None,
    required: bool = False,
    **props: Any,
) -> rx.Component:
    """A labelled input; its error (``errors[name]``) is shown and linked beneath it."""
    element_id = field_id(name)
    hint = shown(hint)
    input_props: dict[str, Any] = dict(
        id=element_id,
        name=name,
        type=type,
        placeholder=shown(placeholder),
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
        rx.el.label(rx.text(shown(label), size="2", weight="medium"), html_for=element_id),
        rx.input(**input_props),
        rx.cond(hint != "", rx.text(hint, id=f"{element_id}-hint", size="1", color_scheme="gray")),
        field_error(errors, name),
        spacing="1",
        width="100%",
        align="stretch",
    )


def select_field(
    label: Text,
    name: str,
    options: list[str] | rx.Var,
    errors: rx.Var,
    *,
    default_value: str | rx.Var = "",
    hint: Text = "",
    **props: Any,
) -> rx.Component:
    """A labelled native select (works in forms and with screen readers); the options of a list
    are shown in the tab's language, their values stay English."""
    element_id = field_id(name)
    hint = shown(hint)
    return rx.vstack(
        rx.el.label(rx.text(shown(label), size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            *_options(options),
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


def form_name(on_submit: EventHandler | EventSpec) -> str:
    """A form's name: its submit handler's (e.g. "OrganisationsState.add_organisation")."""
    handler = on_submit.handler if isinstance(on_submit, EventSpec) else on_submit
    return handler.fn.__qualname__


def is_busy_with(activity: str | rx.Var) -> rx.Var[bool]:
    """Whether this tab's server is working on ``activity`` (a form's name, or a row's action
    such as ``row_activity("resend", row.id)``): its button shows a spinner meanwhile."""
    return AuthState.busy & (AuthState.busy_with == activity)


def submitting(on_submit: EventHandler | EventSpec) -> rx.Var[bool]:
    """Whether the form submitted to ``on_submit`` is being worked on (for its submit button)."""
    return is_busy_with(form_name(on_submit))


def submit_button(label: Text, busy: rx.Var, **props: Any) -> rx.Component:
    """The form's submit button, showing a spinner (and disabled) while ``busy``; pass
    ``submitting(State.handler)``."""
    return rx.button(shown(label), type="submit", loading=busy, size="3", **props)


def form_error_banner(message: rx.Var) -> rx.Component:
    """A message for the form as a whole (e.g. wrong credentials)."""
    return rx.cond(
        message,
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert", width="100%"),
    )


def app_form(*children: rx.Component, on_submit: EventHandler | EventSpec, **props: Any) -> rx.Component:
    """A form whose input is checked by the server, with messages next to the fields.

    The browser's own validation bubbles are switched off so every message looks the same and
    is read by screen readers; what the user typed stays when the server refuses it.

    The fields sit in a ``<fieldset>`` that is disabled until the page is hydrated (state loaded
    and on_load handlers done), so nothing typed into the pre-rendered page is lost when the
    server's state arrives and re-renders the form, and while the server works on an action of
    this tab. A hidden field carries the form's name and the tab's current action id: the
    handler's ``AuthState._act(..., form=form)`` accepts a submission once, so a double click
    submits nothing twice.
    """
    props.setdefault("reset_on_submit", False)
    props.setdefault("width", "100%")
    ready = rx.State.is_hydrated & ~AuthState.busy
    fields = rx.el.fieldset(
        *children,
        disabled=~ready,
        aria_busy=rx.cond(ready, "false", "true"),
        style={"border": "0", "margin": "0", "padding": "0", "min_width": "0", "width": "100%"},
    )
    submission = rx.el.input(
        type="hidden", name=ACTION_ID_FIELD, value=form_name(on_submit) + ":" + AuthState.action_id
    )
    return rx.form(submission, fields, no_validate=True, on_submit=on_submit, **props)


def filter_select(
    label: Text,
    element_id: str,
    options: list[str],
    value: rx.Var,
    on_change: Any,
    *,
    min_width: str = "180px",
) -> rx.Component:
    """A labelled select that filters a list at once (no form, no submit button); the options are
    shown in the tab's language, their values stay English."""
    return rx.vstack(
        rx.el.label(rx.text(shown(label), size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            *_options(options),
            id=element_id,
            value=value,
            on_change=on_change,
            class_name="econnect-select",
        ),
        spacing="1",
        min_width=min_width,
    )


def file_upload(label: Text, *children: rx.Component, **props: Any) -> rx.Component:
    """``rx.upload`` (a drop zone) whose file input is named ``label`` for screen readers: react-dropzone
    renders that input itself, visually hidden and without a label, and takes no props for it."""
    upload = rx.upload(*children, **props)
    zone = upload.children[0]
    file_input = zone.children[0]
    assert file_input.tag == "input", "rx.upload no longer renders its file input first"
    file_input.custom_attrs["aria-label"] = shown(label)
    return upload


def switch_row(
    label: Text, element_id: str, *, busy: rx.Var | None = None, weight: str = "regular", **switch_props: Any
) -> rx.Component:
    """A switch named by its label beside it (a click on the label flips it too), with a spinner
    while ``busy``. In a form pass ``name``, ``value="on"`` and ``default_checked``; acting at once,
    ``checked`` and ``on_change``."""
    label = shown(label)
    return rx.hstack(
        rx.switch(id=element_id, aria_label=label, **switch_props),
        rx.el.label(rx.text(label, size="2", weight=weight), html_for=element_id),  # type: ignore[arg-type]
        rx.cond(busy, rx.spinner(size="1")) if busy is not None else rx.fragment(),
        spacing="2",
        align="center",
    )


def form_actions(*buttons: rx.Component, spacing: str = "3") -> rx.Component:
    """A form's buttons, right-aligned under its fields (the main one last)."""
    return rx.hstack(*buttons, justify="end", spacing=spacing, width="100%")  # type: ignore[arg-type]


def secondary_button(label: Text, on_click: Any = None, **props: Any) -> rx.Component:
    """A grey button next to a form's submit button (Back, Cancel, Later): it never submits."""
    if on_click is not None:
        props["on_click"] = on_click
    return rx.button(shown(label), type="button", variant="soft", color_scheme="gray", size="3", **props)
