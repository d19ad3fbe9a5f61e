"""Confirmation dialogs for destructive actions, and read-only values with a Copy button."""

from __future__ import annotations

from typing import Any

import reflex as rx

from econnect_app.components.forms import shown
from econnect_app.components.translated import Text, t


def confirm_dialog(
    trigger: rx.Component,
    *,
    title: Text,
    description: Text,
    confirm_label: Text,
    on_confirm: Any,
    color_scheme: str = "red",
    extra: rx.Component | None = None,
) -> rx.Component:
    """An alert dialog that asks before ``on_confirm`` runs: Cancel, or the confirm button
    (named ``confirm_label``, like the action it confirms)."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(trigger),
        rx.alert_dialog.content(
            rx.alert_dialog.title(shown(title)),
            rx.alert_dialog.description(shown(description), size="2"),
            extra if extra is not None else rx.fragment(),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(t("Cancel"), variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(shown(confirm_label), color_scheme=color_scheme, on_click=on_confirm)
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
            max_width="480px",
        ),
    )


def visually_hidden(*children: Any) -> rx.Component:
    """Text that screen readers read but the screen does not show."""
    return rx.el.span(
        *children,
        position="absolute",
        width="1px",
        height="1px",
        padding="0",
        margin="-1px",
        overflow="hidden",
        clip="rect(0, 0, 0, 0)",
        white_space="nowrap",
        border="0",
    )


def copy_field(label: Text, element_id: Any, value: Any, copy_what: Any, *, size: str = "3") -> rx.Component:
    """A labelled read-only value with a Copy button named after what it copies
    (``"Copy " + copy_what``, e.g. "Copy App key"); the rest of the name is for screen readers and
    comes from the content, so looking a field up by its label finds only the field."""
    return rx.vstack(
        rx.el.label(rx.text(shown(label), size="2", weight="medium"), html_for=element_id),
        rx.hstack(
            rx.input(
                id=element_id,
                value=value,
                read_only=True,
                size=size,
                width="100%",
                font_family="var(--code-font-family, monospace)",
                auto_complete="off",
                spell_check=False,
            ),
            rx.button(
                rx.icon("copy", size=16),
                t("Copy"),
                visually_hidden(" ", shown(copy_what)),
                type="button",
                size=size,
                variant="soft",
                on_click=[rx.set_clipboard(value), rx.toast.success(t("Copied"))],
            ),
            spacing="2",
            width="100%",
            align="center",
        ),
        spacing="1",
        width="100%",
        align="stretch",
    )


def confirm_button(
    label: Text,
    *,
    busy: rx.Var,
    title: Text,
    description: Text,
    on_confirm: Any,
    confirm_label: Text | None = None,
    color_scheme: str = "red",
    button_color_scheme: str | None = None,
    icon: str | None = None,
    size: str = "2",
    aria_label: str | rx.Var | None = None,
) -> rx.Component:
    """A soft button (``label``, spinning while ``busy``) that asks in a :func:`confirm_dialog`
    before ``on_confirm`` runs; the confirm button is named ``confirm_label`` (default: ``label``)
    and coloured ``color_scheme``, the button itself ``button_color_scheme`` (default: the same)."""
    label = shown(label)
    props: dict[str, Any] = {"aria_label": shown(aria_label)} if aria_label is not None else {}
    trigger = rx.button(
        *([rx.icon(icon, size=16)] if icon else []),
        label,
        size=size,
        variant="soft",
        color_scheme=button_color_scheme or color_scheme,
        loading=busy,
        **props,
    )
    return confirm_dialog(
        trigger,
        title=title,
        description=description,
        confirm_label=label if confirm_label is None else confirm_label,
        on_confirm=on_confirm,
        color_scheme=color_scheme,
    )
