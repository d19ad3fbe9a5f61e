"""The parts of a server-paged list (``state/list_view.py``): a search box, sortable column headers
and the pager under the table ("Showing 51–100 of 5,000", rows per page, Previous / Next page)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from econnect_app.components.forms import filter_select, shown
from econnect_app.components.translated import Text, t
from econnect_app.services import paging


def list_search(state: Any, *, element_id: str, placeholder: Text, label: Text | None = None) -> rx.Component:
    """The labelled search box of a list (searches as one types, after a short pause); its label
    is "Search" unless given."""
    label = t("Search") if label is None else shown(label)
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        rx.input(
            id=element_id,
            placeholder=shown(placeholder),
            value=state.search,
            on_change=state.set_search.debounce(300),
            type="search",
            width="100%",
        ),
        spacing="1",
        flex="1",
        min_width="200px",
    )


def sortable_header(state: Any, label: Text, key: str, **props: Any) -> rx.Component:
    """A column header that sorts the list by its column (again: the other way round); it says how
    the list is sorted to screen readers (``aria-sort``)."""
    label = shown(label)
    active = state.sort == key
    direction = rx.cond(active, rx.cond(state.descending, "descending", "ascending"), "none")
    return rx.table.column_header_cell(
        rx.el.button(
            label,
            rx.cond(
                active,
                rx.cond(state.descending, rx.icon("arrow-down", size=14), rx.icon("arrow-up", size=14)),
                rx.icon("arrow-up-down", size=14, opacity="0.35"),
            ),
            on_click=state.sort_by(key),
            type="button",
            class_name="econnect-sort-button",
            aria_label=t("Sort by {label}", label=label),
        ),
        aria_sort=direction,
        **props,
    )


def pager(state: Any, *, noun: Text, element_id: str) -> rx.Component:
    """Under a list: which rows are shown of how many, rows per page, and the page buttons."""
    noun = shown(noun)
    return rx.hstack(
        rx.text(
            rx.cond(
                state.total == 0,
                t("No {noun}", noun=noun),
                t(
                    "Showing {first}–{last} of {total} {noun}",
                    first=state.first_index,
                    last=state.last_index,
                    total=state.total,
                    noun=noun,
                ),
            ),
            size="2",
            color_scheme="gray",
            aria_live="polite",
        ),
        rx.spacer(),
        filter_select(
            t("Rows per page"),
            element_id,
            [str(size) for size in paging.PAGE_SIZES],
            state.page_size.to_string(),
            state.set_page_size,
            min_width="90px",
        ),
        rx.hstack(
            rx.button(
                rx.icon("chevron-left", size=16),
                t("Previous page"),
                variant="soft",
                size="2",
                disabled=state.page <= 1,
                on_click=state.go_to_page(state.page - 1),
            ),
            rx.text(t("Page {page} of {count}", page=state.page, count=state.page_count), size="2"),
            rx.button(
                t("Next page"),
                rx.icon("chevron-right", size=16),
                variant="soft",
                size="2",
                disabled=state.page >= state.page_count,
                on_click=state.go_to_page(state.page + 1),
            ),
            align="center",
            spacing="2",
        ),
        align="end",
        spacing="4",
        width="100%",
        flex_wrap="wrap",
        role="navigation",
        aria_label=t("Pages of {noun}", noun=noun),
    )


def card_cell(label: Text, *children: rx.Component, header: bool = False, **props: Any) -> rx.Component:
    """A table cell that, on a phone, shows under its column's name (``data-label``) in the row's
    card: put the table in a box with ``class_name=LIST_CARDS`` (assets/styles.css)."""
    cell = rx.table.row_header_cell if header else rx.table.cell
    return cell(*children, custom_attrs={"data-label": shown(label)}, **props)


LIST_CARDS = "econnect-cards"
"""The class of the box around a table whose rows become cards on a phone."""

CARD_CONTINUED = "econnect-card-continued"
"""The class of a table row that continues the card of the row above it on a phone (a row of
details under a row of columns, e.g. a partnership's): the two show as one card."""
