"""Server-side paging, sorting and searching of a list (no Reflex).

A list page asks for one view (``ListQuery``: page, page size, sort column, direction, search
text); the service that owns the list builds its statement with its own filters and permissions,
names the columns it may be sorted by, and calls ``page_of``. The database does the work: one
``count(*)`` and one ``ORDER BY … LIMIT … OFFSET`` query, so a list of 5,000 rows costs no more
to show than one of 50, and no list is silently cut.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from econnect_app.services.validation import without_nul

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50
SEARCH_MAX_LENGTH = 200

Row = TypeVar("Row")


@dataclass(frozen=True)
class ListQuery:
    """One view of a list: the page (from 1), rows per page, the sort column's key (empty: the
    list's default), the direction and the search text."""

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    sort: str = ""
    descending: bool = False
    search: str = ""

    def cleaned(self, *, sort_keys: Sequence[str], default_sort: str, default_descending: bool) -> ListQuery:
        """The same view with every value made safe: a known sort key (else the default, in its
        default direction), a page size the pages offer, a page of at least 1, the search text
        trimmed and cut to a sensible length."""
        sort, descending = self.sort, self.descending
        if sort not in sort_keys:
            sort, descending = default_sort, default_descending
        return replace(
            self,
            page=max(1, int(self.page)),
            page_size=self.page_size if self.page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE,
            sort=sort,
            descending=bool(descending),
            search=search_text(self.search),
        )


@dataclass(frozen=True)
class Page(Generic[Row]):
    """The rows of one page, how many rows match in all, and the view that was shown (its page
    moved back to the last one when the asked page is past the end)."""

    rows: list[Row]
    total: int
    query: ListQuery

    @property
    def page_count(self) -> int:
        """How many pages the matching rows fill (at least one, even when empty)."""
        return max(1, math.ceil(self.total / self.query.page_size))

    @property
    def first_index(self) -> int:
        """The position (from 1) of the page's first row among all matching rows; 0 when none."""
        return 0 if self.total == 0 else (self.query.page - 1) * self.query.page_size + 1

    @property
    def last_index(self) -> int:
        """The position of the page's last row; 0 when none."""
        return 0 if self.total == 0 else self.first_index + len(self.rows) - 1

    def map(self, convert: Any) -> Page[Any]:
        """The same page with each row converted."""
        return Page(rows=[convert(row) for row in self.rows], total=self.total, query=self.query)


def search_text(text: str | None) -> str:
    """What a search box asks for: its words with single spaces, at most 200 characters."""
    return " ".join(without_nul(text or "").split())[:SEARCH_MAX_LENGTH]


def contains_text(term: str, *columns: Any) -> ColumnElement[bool]:
    """One of ``columns`` contains ``term``, case-insensitively, with ``%`` and ``_`` meant literally.

    Written as ``lower(column) LIKE lower('%term%')`` (not ILIKE) so that on PostgreSQL a GIN
    trigram index on ``lower(column)`` serves it; SQLite reads it as its ILIKE.
    """
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = func.lower(f"%{escaped}%")
    return or_(*(func.lower(column).like(pattern, escape="\\") for column in columns))


def page_of(
    session: Session,
    statement: Select | SelectOfScalar,
    *,
    query: ListQuery,
    sort_columns: Mapping[str, Any],
    default_sort: str,
    default_descending: bool = False,
    tiebreaker: Any,
) -> Page[Any]:
    """One page of ``statement``'s rows in the order ``query`` asks for.

    ``sort_columns``: the column (or expression) behind each sort key the page offers;
    ``tiebreaker``: a unique column (the id) that makes the order total, so no row appears on two
    pages or on none. The page is moved back to the last one when it is past the end.
    """
    query = query.cleaned(
        sort_keys=list(sort_columns), default_sort=default_sort, default_descending=default_descending
    )
    counted = select(func.count()).select_from(statement.order_by(None).subquery())
    total = int(session.exec(counted).one())  # type: ignore[call-overload]
    last_page = max(1, math.ceil(total / query.page_size))
    if query.page > last_page:
        query = replace(query, page=last_page)
    column = sort_columns[query.sort]
    ordering = (column.desc(), tiebreaker.desc()) if query.descending else (column.asc(), tiebreaker.asc())
    rows = session.exec(  # type: ignore[call-overload]
        statement.order_by(*ordering).offset((query.page - 1) * query.page_size).limit(query.page_size)
    ).all()
    return Page(rows=list(rows), total=total, query=query)
