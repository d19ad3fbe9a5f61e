"""Parts of a page that load on their own (e.g. the sections of /organisations/[id]): a titled
region with a spinner until it is read, sub-headings, and tables of rows."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import reflex as rx

from econnect_app import i18n
from econnect_app.components.forms import shown
from econnect_app.components.translated import Text
from econnect_app.state.auth import AuthState


def live_section(
    title: Text,
    *children: rx.Component,
    section_id: str,
    loaded: rx.Var,
    visible: rx.Var,
    loading_label: Text,
) -> rx.Component:
    """A card that is a landmark named by its heading (``section_id``-heading); a spinner
    (``loading_label``) until ``loaded``, nothing when not ``visible`` to this user."""
    heading_id = section_id + "-heading"
    return rx.cond(
        loaded & visible,
        rx.card(
            rx.vstack(
                rx.heading(shown(title), size="4", as_="h2", id=heading_id),
                *children,
                spacing="4",
                width="100%",
            ),
            width="100%",
            size="3",
            role="region",
            aria_labelledby=heading_id,
            id=section_id,
        ),
        rx.cond(~loaded, rx.center(rx.spinner(), padding="16px", aria_label=shown(loading_label))),
    )


def sub_heading(title: Text, **props: Any) -> rx.Component:
    """The heading of one part of a section (an h3)."""
    return rx.heading(shown(title), size="3", as_="h3", **props)


def data_table(
    headers: list[Any], rows: rx.Var, row: Callable[[Any], rx.Component], *, element_id: str, **box_props: Any
) -> rx.Component:
    """A table of ``rows`` (one ``row(item)`` each) under ``headers`` (a text, or a header cell such
    as ``paged_list.sortable_header``), scrolling sideways on a narrow screen; ``element_id`` is the
    scrolling box's, ``box_props`` style it (e.g. ``class_name=paged_list.LIST_CARDS``)."""
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *(
                        header
                        if isinstance(header, rx.Component)
                        else rx.table.column_header_cell(shown(header))
                        for header in headers
                    )
                )
            ),
            rx.table.body(rx.foreach(rows, row)),
            variant="surface",
            width="100%",
        ),
        overflow_x="auto",
        width="100%",
        id=element_id,
        **box_props,
    )


def two_lines(main: Any, detail: Any, **props: Any) -> rx.Component:
    """A cell's value (``props`` style it) with a smaller grey line under it."""
    return rx.vstack(
        rx.text(main, **props),
        rx.text(detail, size="1", color_scheme="gray"),
        spacing="0",
    )


def intro_text(*parts: Any) -> rx.Component:
    """The grey sentence under a heading that says what the part is for (``parts`` may mix text
    and Vars; a plain str part is shown in the tab's language)."""
    return rx.text(*(shown(part) for part in parts), size="2", color_scheme="gray")


def t_rich(message: str, **parts: Any) -> rx.Component:
    """``message`` (marked with ``i18n.N_``) in the tab's language, its ``{placeholders}`` filled
    with ``parts``, components too (e.g. ``address=rx.text.strong(State.address)``), in the order
    the translation puts them: for a sentence with bold or linked words. Put it in an ``rx.text``."""
    english = rx.fragment(*_filled_children(message, parts))
    dutch = i18n.translations(i18n.DUTCH).gettext(message)
    if dutch == message:
        return english
    return rx.cond(AuthState.language == i18n.DUTCH, rx.fragment(*_filled_children(dutch, parts)), english)


def _filled_children(template: str, parts: dict[str, Any]) -> list[Any]:
    """The literal text and the parts of ``template`` in its order; plain strs and numbers are
    joined into the text around them."""
    children: list[Any] = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        for child in (literal, parts[field] if field is not None else ""):
            if isinstance(child, (str, int)) and not isinstance(child, bool):
                if children and isinstance(children[-1], str):
                    children[-1] += str(child)
                elif child != "":
                    children.append(str(child))
            else:
                children.append(child)
    return children
