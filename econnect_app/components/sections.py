"""Parts of a page that load on their own (e.g. the sections of /organisations/[id]): a titled
region with a spinner until it is read, sub-headings, and tables of rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx


def live_section(
    title: str,
    *children: rx.Component,
    section_id: str,
    loaded: rx.Var,
    visible: rx.Var,
    loading_label: str,
) -> rx.Component:
    """A card that is a landmark named by its heading (``section_id``-heading); a spinner
    (``loading_label``) until ``loaded``, nothing when not ``visible`` to this user."""
    heading_id = section_id + "-heading"
    return rx.cond(
        loaded & visible,
        rx.card(
            rx.vstack(
                rx.heading(title, size="4", as_="h2", id=heading_id),
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
        rx.cond(~loaded, rx.center(rx.spinner(), padding="16px", aria_label=loading_label)),
    )


def sub_heading(title: str, **props: Any) -> rx.Component:
    """The heading of one part of a section (an h3)."""
    return rx.heading(title, size="3", as_="h3", **props)


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
                        header if isinstance(header, rx.Component) else rx.table.column_header_cell(header)
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
    and Vars)."""
    return rx.text(*parts, size="2", color_scheme="gray")
