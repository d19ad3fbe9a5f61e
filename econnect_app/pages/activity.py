"""/activity: the environment's whole activity log, paged on the server, filtered by who, what,
organisation and period, searched in the summary, exported to CSV (``services/activity_log.py``
says who sees which rows)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n
from econnect_app.components.forms import is_busy_with
from econnect_app.components.layout import app_layout, empty_state, section_card
from econnect_app.components.paged_list import LIST_CARDS, card_cell, list_search, pager, sortable_header
from econnect_app.components.sections import data_table
from econnect_app.components.translated import t
from econnect_app.formatting import format_datetime
from econnect_app.models import User
from econnect_app.services import activity_export, activity_kinds, activity_log
from econnect_app.services.activity_log import SORT_TIME, SYSTEM, ActivityFilters, FilterChoice
from econnect_app.state.auth import AuthState, Updates
from econnect_app.state.list_view import ListView

EXPORT = "export-activity"
WHO_PARAMETER = "who"
WHAT_PARAMETER = "what"
ORGANISATION_PARAMETER = "organisation"
FROM_PARAMETER = "from"
TO_PARAMETER = "to"


@dataclasses.dataclass
class EntryView:
    """One row of the log as the table shows it."""

    id: int
    when: str
    who: str
    what: str
    organisation: str
    summary: str


@dataclasses.dataclass
class ChoiceView:
    """One option of a filter."""

    value: str
    label: str


def _choices(choices: list[FilterChoice]) -> list[ChoiceView]:
    return [ChoiceView(value=choice.value, label=choice.label) for choice in choices]


def _day(text: str | None) -> str:
    """A date input's value (``YYYY-MM-DD``), or "" for anything else."""
    try:
        return date.fromisoformat((text or "").strip()).isoformat()
    except ValueError:
        return ""


def _id_or_empty(text: str | None, *, also: tuple[str, ...] = ()) -> str:
    """An id (digits) or one of ``also``, else ""."""
    text = (text or "").strip()
    return text if text.isdigit() or text in also else ""


def _kind(text: str | None) -> str:
    text = (text or "").strip()
    return text if activity_kinds.kind_label(text) else ""


class ActivityState(ListView, AuthState):
    """The log's view (page, sort, search and the filters, all in the URL) and the rows shown."""

    entries: list[EntryView] = []
    people: list[ChoiceView] = []
    kinds: list[ChoiceView] = []
    organisations: list[ChoiceView] = []
    who: str = ""
    kind: str = ""
    organisation: str = ""
    date_from: str = ""
    date_to: str = ""
    whole_log: bool = True
    loaded: bool = False

    # --- the view -------------------------------------------------------------------------------

    def _url_filters(self) -> dict[str, str]:
        return {
            WHO_PARAMETER: self.who,
            WHAT_PARAMETER: self.kind,
            ORGANISATION_PARAMETER: self.organisation,
            FROM_PARAMETER: self.date_from,
            TO_PARAMETER: self.date_to,
        }

    def _read_url_filters(self, params: Mapping[str, str]) -> None:
        self.who = _id_or_empty(params.get(WHO_PARAMETER), also=(SYSTEM,))
        self.kind = _kind(params.get(WHAT_PARAMETER))
        self.organisation = _id_or_empty(params.get(ORGANISATION_PARAMETER))
        self.date_from = _day(params.get(FROM_PARAMETER))
        self.date_to = _day(params.get(TO_PARAMETER))

    def _filters(self) -> ActivityFilters:
        return ActivityFilters(
            who=self.who,
            kind=self.kind,
            organisation_id=int(self.organisation) if self.organisation else None,
            date_from=date.fromisoformat(self.date_from) if self.date_from else None,
            date_to=date.fromisoformat(self.date_to) if self.date_to else None,
        )

    # --- reading --------------------------------------------------------------------------------

    def _refresh(self, db: Session, actor: User) -> None:
        """Read the page the view asks for."""
        page = activity_log.activity_page(db, actor=actor, query=self._list_query(), filters=self._filters())
        self.entries = [
            EntryView(
                id=entry.id,
                when=format_datetime(entry.created_at),
                who=entry.who,
                what=entry.what,
                organisation=entry.organisation,
                summary=entry.summary,
            )
            for entry in page.rows
        ]
        self.whole_log = activity_log.sees_whole_log(actor)
        self._show_page(page)
        self.loaded = True

    def _live_refresh(self, db: Session, user: User) -> None:
        """On load and whenever the environment changes: the filters' options, then the same view."""
        choices = activity_log.activity_filter_choices(db, actor=user)
        self.people = _choices(choices.people)
        self.kinds = _choices(choices.kinds)
        self.organisations = _choices(choices.organisations)
        self._refresh(db, user)

    @rx.event
    def load(self) -> Updates:
        """Take the view from the URL, read it, and follow the environment's changes live."""
        self._read_list_url()
        return self._load_live()

    # --- the filters ----------------------------------------------------------------------------

    @rx.event
    async def set_who(self, value: str) -> Any:
        """Show what one person did (or what happened by itself)."""
        self.who = _id_or_empty(value, also=(SYSTEM,))
        async for update in self._filter_changed():
            yield update

    @rx.event
    async def set_kind(self, value: str) -> Any:
        """Show one kind of action."""
        self.kind = _kind(value)
        async for update in self._filter_changed():
            yield update

    @rx.event
    async def set_organisation(self, value: str) -> Any:
        """Show what happened about one organisation."""
        self.organisation = _id_or_empty(value)
        async for update in self._filter_changed():
            yield update

    @rx.event
    async def set_date_from(self, value: str) -> Any:
        """Show what happened from this day on."""
        self.date_from = _day(value)
        async for update in self._filter_changed():
            yield update

    @rx.event
    async def set_date_to(self, value: str) -> Any:
        """Show what happened up to and including this day."""
        self.date_to = _day(value)
        async for update in self._filter_changed():
            yield update

    @rx.event
    async def clear_filters(self) -> Any:
        """Show the whole log again (the search too is emptied)."""
        self.who = self.kind = self.organisation = self.date_from = self.date_to = ""
        self.search = ""
        async for update in self._filter_changed():
            yield update

    # --- the export -----------------------------------------------------------------------------

    @rx.event
    def export_csv(self) -> Updates:
        """Download every row the filters and the search match (not only this page) as CSV."""

        def action(db: Session, actor: User) -> Any:
            export = activity_log.activity_for_export(
                db, actor=actor, query=self._list_query(), filters=self._filters()
            )
            data = activity_export.activity_csv(export.entries, format_time=format_datetime)
            events: list[Any] = [
                rx.download(
                    data=data, filename=activity_export.export_filename(export.day), mime_type="text/csv"
                )
            ]
            if export.truncated:
                shown, total = f"{len(export.entries):,}", f"{export.total:,}"
                events.append(
                    rx.toast.warning(
                        i18n.gettext(
                            "The file holds the first {shown} of {total} rows. Choose a shorter period for the rest.",
                            shown=shown,
                            total=total,
                        )
                    )
                )
            return events

        return self._act(action, busy_with=EXPORT)

    @rx.var
    def has_filters(self) -> bool:
        """Whether a filter or the search narrows the log (to offer Clear filters)."""
        return any((self.who, self.kind, self.organisation, self.date_from, self.date_to, self.search))


def _choice_select(
    label: Any, element_id: str, everything: Any, options: rx.Var, value: rx.Var, on_change: Any
) -> rx.Component:
    """A labelled select whose options send an id and show a name; the first shows everything."""
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        rx.el.select(
            rx.el.option(everything, value=""),
            rx.foreach(options, lambda option: rx.el.option(option.label, value=option.value)),
            id=element_id,
            value=value,
            on_change=on_change,
            class_name="econnect-select",
        ),
        spacing="1",
        min_width="170px",
        flex="1",
    )


def _date_input(label: Any, element_id: str, value: rx.Var, on_change: Any) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=element_id),
        rx.input(id=element_id, type="date", value=value, on_change=on_change),
        spacing="1",
        min_width="150px",
    )


def _filters() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _choice_select(
                t("Who"),
                "activity-who",
                t("Everyone"),
                ActivityState.people,
                ActivityState.who,
                ActivityState.set_who,
            ),
            _choice_select(
                t("What"),
                "activity-what",
                t("Everything"),
                ActivityState.kinds,
                ActivityState.kind,
                ActivityState.set_kind,
            ),
            _choice_select(
                t("Organisation"),
                "activity-organisation",
                t("All organisations"),
                ActivityState.organisations,
                ActivityState.organisation,
                ActivityState.set_organisation,
            ),
            _date_input(t("From"), "activity-from", ActivityState.date_from, ActivityState.set_date_from),
            _date_input(t("To"), "activity-to", ActivityState.date_to, ActivityState.set_date_to),
            align="end",
            spacing="4",
            width="100%",
            flex_wrap="wrap",
        ),
        rx.hstack(
            list_search(ActivityState, element_id="activity-search", placeholder=t("Words in the summary")),
            rx.cond(
                ActivityState.has_filters,
                rx.button(
                    t("Clear filters"),
                    variant="soft",
                    color_scheme="gray",
                    on_click=ActivityState.clear_filters,
                ),
            ),
            rx.spacer(),
            rx.button(
                rx.icon("download", size=16),
                t("Export CSV"),
                variant="soft",
                on_click=ActivityState.export_csv,
                loading=is_busy_with(EXPORT),
                disabled=ActivityState.total == 0,
            ),
            align="end",
            spacing="4",
            width="100%",
            flex_wrap="wrap",
        ),
        spacing="4",
        width="100%",
        role="search",
        aria_label=t("Filter the activity"),
    )


def _entry_row(entry: rx.Var[EntryView]) -> rx.Component:
    return rx.table.row(
        card_cell(t("Time"), rx.text(entry.when, size="2", white_space="nowrap")),
        card_cell(t("Who"), rx.text(entry.who, size="2")),
        card_cell(t("What"), rx.text(entry.what, size="2")),
        card_cell(t("Organisation"), rx.text(entry.organisation, size="2")),
        card_cell(t("Summary"), rx.text(entry.summary, size="2")),
        align="center",
    )


def _table() -> rx.Component:
    return data_table(
        [
            sortable_header(ActivityState, t("Time"), SORT_TIME),
            t("Who"),
            t("What"),
            t("Organisation"),
            t("Summary"),
        ],
        ActivityState.entries,
        _entry_row,
        element_id="activity-log",
        class_name=LIST_CARDS,
    )


def _log() -> rx.Component:
    return section_card(
        t("Activity log"),
        rx.cond(
            ~ActivityState.whole_log,
            rx.callout(
                t(
                    "You see what happened to the organisations you are a member of. Administrators and Advanced "
                    "users see the whole environment's activity."
                ),
                icon="info",
                size="1",
                width="100%",
            ),
        ),
        _filters(),
        rx.cond(
            ~ActivityState.loaded,
            rx.center(rx.spinner(), padding="24px", aria_label=t("Loading activity")),
            rx.cond(
                ActivityState.total == 0,
                empty_state(
                    "activity",
                    t("No activity here"),
                    rx.cond(
                        ActivityState.has_filters,
                        t("Nothing matches these filters. Clear them to see the whole log."),
                        t("What people do in this environment appears here."),
                    ),
                ),
                rx.vstack(
                    _table(),
                    pager(ActivityState, noun=t("entries"), element_id="activity-page-size"),
                    spacing="3",
                    width="100%",
                ),
            ),
        ),
        description=t("Everything that happened, newest first; new activity appears by itself."),
    )


def activity_page() -> rx.Component:
    """The activity log page."""
    return app_layout(t("Activity"), _log())
