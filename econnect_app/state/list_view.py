"""Paging, sorting and searching of one server-paged list, kept in the page's URL.

A page state mixes ``ListView`` in before ``AuthState``::

    class RequestsState(ListView, AuthState):
        def _refresh(self, db, actor):
            page = service.requests_page(db, actor=actor, query=self._list_query(), status=...)
            self.rows = [...]
            self._show_page(page)

``_refresh(db, actor)`` reads the page the state's view asks for. The handlers here change the
view (``go_to_page``, ``sort_by``, ``set_search``, ``set_page_size``), read again and write the
view into the address bar (``history.replaceState``: no navigation), so a refresh or a shared link
shows the same view: the page's ``on_load`` calls ``_read_list_url()`` first. A page with filters
of its own names them in ``_url_filters()`` / ``_read_url_filters(params)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from econnect_app.services import paging
from econnect_app.services.paging import ListQuery, Page

PAGE_PARAMETER = "page"
PAGE_SIZE_PARAMETER = "size"
SORT_PARAMETER = "sort"  # the column's key; "-key" for descending
SEARCH_PARAMETER = "q"


def _positive_int(text: str | None, default: int) -> int:
    try:
        return max(1, int(text or ""))
    except ValueError:
        return default


class ListView(rx.State, mixin=True):
    """The view of one list: page, rows per page, sort, search, and what the page shows of it."""

    page: int = 1
    page_size: int = paging.DEFAULT_PAGE_SIZE
    sort: str = ""
    descending: bool = False
    search: str = ""
    total: int = 0
    page_count: int = 1
    first_index: int = 0
    last_index: int = 0

    # --- what a page state provides -------------------------------------------------------------

    def _url_filters(self) -> dict[str, str]:
        """The page's own filters for the address bar (name -> value; empty values are left out)."""
        return {}

    def _read_url_filters(self, params: Mapping[str, str]) -> None:
        """Set the page's own filters from the address bar."""

    # --- for the page state ---------------------------------------------------------------------

    def _list_query(self) -> ListQuery:
        """The view asked for, for the list's service."""
        return ListQuery(
            page=self.page, page_size=self.page_size, sort=self.sort, descending=self.descending, search=self.search
        )

    def _show_page(self, page: Page[Any]) -> None:
        """Take over the view the service showed (a known sort, a page within range) and its counts."""
        query = page.query
        self.page, self.page_size, self.sort, self.descending = query.page, query.page_size, query.sort, query.descending
        self.total = page.total
        self.page_count = page.page_count
        self.first_index = page.first_index
        self.last_index = page.last_index

    def _read_list_url(self) -> None:
        """Set the view from the address bar (the on_load of the page, before reading)."""
        params = self.router.url.query_parameters
        self.page = _positive_int(params.get(PAGE_PARAMETER), 1)
        self.page_size = _positive_int(params.get(PAGE_SIZE_PARAMETER), paging.DEFAULT_PAGE_SIZE)
        sort = params.get(SORT_PARAMETER, "")
        self.descending = sort.startswith("-")
        self.sort = sort.removeprefix("-")
        self.search = paging.search_text(params.get(SEARCH_PARAMETER, ""))
        self._read_url_filters(params)

    def _list_url_query(self) -> str:
        """The view as a query string: only what differs from the defaults."""
        values: dict[str, str] = {}
        if self.search:
            values[SEARCH_PARAMETER] = self.search
        values.update({name: value for name, value in self._url_filters().items() if value})
        if self.sort:
            values[SORT_PARAMETER] = ("-" if self.descending else "") + self.sort
        if self.page_size != paging.DEFAULT_PAGE_SIZE:
            values[PAGE_SIZE_PARAMETER] = str(self.page_size)
        if self.page > 1:
            values[PAGE_PARAMETER] = str(self.page)
        return urlencode(values)

    async def _show_view(self) -> Any:
        """Read the page the view asks for, then write the view into the address bar."""
        async for update in self._load(self._refresh):  # type: ignore[attr-defined]
            yield update
        query = self._list_url_query()
        url = self.router.url.path + (f"?{query}" if query else "")
        yield rx.call_script(f"window.history.replaceState(window.history.state, '', {json.dumps(url)})")

    # --- the handlers ---------------------------------------------------------------------------

    @rx.event
    async def go_to_page(self, page: int) -> Any:
        """Show another page of the list."""
        self.page = max(1, min(int(page), self.page_count))
        async for update in self._show_view():
            yield update

    @rx.event
    async def sort_by(self, key: str) -> Any:
        """Sort by a column; the same column again turns the order around."""
        if self.sort == key:
            self.descending = not self.descending
        else:
            self.sort, self.descending = key, False
        self.page = 1
        async for update in self._show_view():
            yield update

    @rx.event
    async def set_search(self, value: str) -> Any:
        """Show the rows that match the search text, from the first page."""
        self.search = paging.search_text(value)
        self.page = 1
        async for update in self._show_view():
            yield update

    @rx.event
    async def set_page_size(self, value: str) -> Any:
        """Show 25, 50 or 100 rows per page, from the first page."""
        self.page_size = _positive_int(value, paging.DEFAULT_PAGE_SIZE)
        self.page = 1
        async for update in self._show_view():
            yield update

    async def _filter_changed(self) -> Any:
        """For a page's own filter handler: back to the first page, read again, update the URL."""
        self.page = 1
        async for update in self._show_view():
            yield update
