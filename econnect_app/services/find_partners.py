"""Find partners (``/partners/find``): search the organisations of other environments.

What a search finds, best first (ties by name key, then id, so pages are stable):

1. ``kvk``: the KvK number, when the query is 8 digits (spaces allowed: "1234 5678"), or the
   Belgian enterprise number, when it is 10 ("0403.019.261", "BE 0403 019 261");
2. ``name``: names that start with the query;
3. ``word``: names with a later word that starts with the query ("korenbloem" finds
   "Bakkerij De Korenbloem B.V.");
4. ``city``: cities with a word that starts with the query.

Only activated, findable organisations of other environments, and only for Advanced users and
Administrators. Names, cities and queries are compared as *search keys* (``search_key``): lower
case, accents folded, punctuation turned into single spaces ("Müller-Lüdenscheidt B.V." is
"muller ludenscheidt bv"). The keys are computed here in Python, so SQLite and PostgreSQL compare
exactly the same text.

The index (tables ``organisation_search`` and ``organisation_search_term``, see models.py) holds
the keys of every findable organisation, with B-tree indexes that a prefix range
(``key >= :q AND key < :q_next``) uses on both databases (``COLLATE "C"`` on PostgreSQL). A page is
one statement (``_search_statement``, built once): each tier reads an index in result order and
stops at a LIMIT, so a broad query stops after a page instead of sorting every match, and a tier
runs only when the tiers before it left room on the page:

- the name tier walks ``organisation_search`` by ``name_key`` from the query on;
- the word and city tiers first count their matching terms (up to ``DENSE_TERMS``). Few matches:
  read them from ``organisation_search_term`` and sort them. Many matches: they are dense in the
  name order, so walk ``organisation_search`` by name and keep the rows that match, which fills a
  page after about ``page rows x organisations / matches`` rows.

Paging goes up to the first ``MAX_RESULTS`` results (each page costs more the deeper it is).

The index is derived data, kept in step with ``Organisation`` in the same transaction by mapper
events (insert, update of a searched column, delete) and by a hook on bulk ORM statements
(``update(Organisation)``, ``delete(...)``, ``insert(...)`` through a ``Session``). SQL that bypasses
the ORM (Core statements on the table, raw SQL, bulk loads) must call ``refresh_search_index`` for
the organisations it changed, or ``rebuild_search_index``.

This module is over the usual size because the search and the index it needs belong together.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    CursorResult,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    delete,
    event,
    func,
    insert,
    inspect,
    literal_column,
    not_,
    select,
    union_all,
)
from sqlalchemy.orm import Mapper, ORMExecuteState
from sqlmodel import Session, col

from econnect_app import i18n
from econnect_app.models import (
    Environment,
    Organisation,
    OrganisationSearch,
    OrganisationSearchTerm,
    Role,
    User,
)
from econnect_app.services.permissions import load_actor, require_role

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 100
MAX_PAGE_SIZE = 50
MAX_RESULTS = 1000  # deeper than this, refine the query (each page costs more the deeper it is)
DENSE_TERMS = 3000  # from this many matching terms on, walk the name order instead of sorting
NAME_KEY_LENGTH = 400
CITY_KEY_LENGTH = 200
TERM_LENGTH = 100
COPY_FROM_ROWS = 1000  # index rows written at once: from this many, COPY on PostgreSQL

# The hints in English (tests compare them); a page's hint is translated (``search_organisations``).
SHORT_QUERY_HINT = i18n.N_("Type at least 2 letters or digits of a name, KvK number or city.")
TOO_DEEP_HINT = i18n.N_("Only the first 1,000 results can be shown. Refine your search.")

SOURCE_NAME = "name"
SOURCE_CITY = "city"
TIERS = ("kvk", "name", "word", "city")  # a result's tier: its rank, and what it matched on
_ROW_FIELDS = ("organisation_id", "name", "kvk_number", "city", "environment_id", "environment_name")
# The columns whose change changes what a search finds.
SEARCHED_ATTRIBUTES = ("environment_id", "name", "city", "kvk_number", "activated_at", "findable")

_search = OrganisationSearch.__table__
_terms = OrganisationSearchTerm.__table__
_organisation = Organisation.__table__

# Letters NFKD does not take apart into a base letter and an accent.
_EXTRA_FOLDS = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "ae",
        "œ": "oe",
        "Œ": "oe",
        "ø": "o",
        "Ø": "o",
        "ł": "l",
        "Ł": "l",
        "đ": "d",
        "Đ": "d",
        "ð": "d",
        "Ð": "d",
        "þ": "th",
        "Þ": "th",
        "ı": "i",
    }
)
_APOSTROPHES = re.compile(r"['’‘`´]")
_INITIALS = re.compile(r"\b(?:\w\.)+\w?\b\.?")  # "b.v." -> "bv", "v.o.f" -> "vof"
_SEPARATORS = re.compile(r"[\W_]+")
_SPACES_IN_KVK = re.compile(r"[\s.]+")  # "1234 5678", "0403.019.261"
_KVK = re.compile(r"(?:BE)?(\d{10})|(\d{8})", re.IGNORECASE)  # a Belgian enterprise number or a KvK number


@lru_cache(maxsize=16_384)  # cities and popular queries repeat
def search_key(text: str) -> str:
    """Text as the search compares it: lower case, accents folded, words separated by one space."""
    text = unicodedata.normalize("NFKD", text.replace("\x00", "").translate(_EXTRA_FOLDS))
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = _APOSTROPHES.sub("", text)
    text = _INITIALS.sub(lambda match: match.group().replace(".", ""), text)
    return " ".join(word for word in _SEPARATORS.split(text) if word)


def word_suffixes(key: str, *, skip_first: bool = False) -> list[str]:
    """The key from each of its words on ("den haag" -> ["den haag", "haag"]), cut to TERM_LENGTH."""
    starts = [index + 1 for index, char in enumerate(key) if char == " "]
    if not skip_first and key:
        starts.insert(0, 0)
    return list(dict.fromkeys(key[start : start + TERM_LENGTH] for start in starts))


def _successor(prefix: str) -> str:
    """The smallest text greater than every text that starts with ``prefix``."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates cannot be stored; skip over them
        last = 0xE000
    if last > 0x10FFFF:
        return _successor(prefix[:-1]) if len(prefix) > 1 else prefix + "\U0010ffff"
    return prefix[:-1] + chr(last)


# ---------------------------------------------------------------------------------------------
# The search


@dataclass(frozen=True)
class PartnerSearchRow:
    """One organisation found, with the environment that owns it."""

    organisation_id: int
    name: str
    kvk_number: str
    city: str
    environment_id: int
    environment_name: str
    matched_on: str  # "kvk", "name", "word" or "city"


@dataclass(frozen=True)
class SearchPage:
    """One page of results; ``hint`` says why nothing was searched (empty when it was)."""

    query: str
    rows: list[PartnerSearchRow]
    page: int
    page_size: int
    has_more: bool
    hint: str = ""


def clean_query(query: str) -> str:
    """The query as typed, trimmed, without NUL characters, at most MAX_QUERY_LENGTH characters."""
    return (query or "").replace("\x00", "").strip()[:MAX_QUERY_LENGTH].strip()


def search_organisations(
    session: Session, *, actor: User, query: str, page: int = 1, page_size: int = 20
) -> SearchPage:
    """A page of the activated, findable organisations of other environments matching ``query``.

    Advanced users and Administrators only. Queries shorter than 2 letters or digits find nothing
    (``hint`` says why); ``page`` counts from 1 and ``page_size`` is at most 50.
    """
    actor = require_role(load_actor(session, actor), Role.ADVANCED_USER, Role.ADMINISTRATOR)
    text = clean_query(query)
    page = max(1, int(page))
    page_size = min(MAX_PAGE_SIZE, max(1, int(page_size)))

    def empty(hint: str) -> SearchPage:
        return SearchPage(query=text, rows=[], page=page, page_size=page_size, has_more=False, hint=hint)

    key = search_key(text)[:MAX_QUERY_LENGTH].rstrip()
    if len(key) < MIN_QUERY_LENGTH:
        return empty(i18n.gettext(SHORT_QUERY_HINT))
    offset = (page - 1) * page_size
    if offset >= MAX_RESULTS:
        return empty(i18n.gettext(TOO_DEEP_HINT))
    shown = min(page_size, MAX_RESULTS - offset)
    number = _KVK.fullmatch(_SPACES_IN_KVK.sub("", text))
    kvk_number = (number.group(1) or number.group(2)) if number else None
    key = kvk_number or key  # "1234 5678" also finds names that start with "12345678"
    parameters = {
        "key": key,
        "key_next": _successor(key),
        "word_needle": " " + key,
        "kvk_number": kvk_number,
        "own_environment_id": actor.environment_id,
        "tier_limit": offset + shown + 1,
        "page_offset": offset,
        "page_limit": shown + 1,
        "dense_terms": DENSE_TERMS,
    }
    connection = session.connection()
    statement = _search_statement(connection.dialect.name, by_kvk=kvk_number is not None)
    found = connection.execute(statement, parameters).mappings().all()
    return SearchPage(
        query=text,
        rows=[
            PartnerSearchRow(**{name: row[name] for name in _ROW_FIELDS}, matched_on=TIERS[row["tier"]])
            for row in found[:shown]
        ],
        page=page,
        page_size=page_size,
        has_more=len(found) > shown and offset + shown < MAX_RESULTS,
    )


def _number(name: str) -> Any:
    """A number the database plans with (a LIMIT): rendered into the statement, not a parameter."""
    return bindparam(name, type_=Integer(), literal_execute=True)


@lru_cache(maxsize=8)
def _search_statement(dialect: str, *, by_kvk: bool) -> Select[Any]:
    """The one statement behind a page, built once per database and query shape.

    Each tier is a materialised CTE whose LIMIT is what the tiers before it left of
    ``tier_limit``: once the page is full the later tiers have LIMIT 0, and a LIMIT that is known
    before a scan starts stops that scan on both databases. The tiers are ranked, sliced to the
    page, then joined to the organisation rows, which are checked again (activated, findable, not
    the actor's own).
    """
    tiers = _tier_ctes(dialect, by_kvk=by_kvk)
    candidates = union_all(*(select(tier) for tier in tiers)).subquery("candidates")
    ranked = (
        select(candidates)
        .order_by(candidates.c.tier, candidates.c.name_key, candidates.c.organisation_id)
        .offset(_number("page_offset"))
        .limit(_number("page_limit"))
        .subquery("ranked")
    )
    return (
        select(
            ranked.c.tier,
            ranked.c.organisation_id,
            col(Organisation.name).label("name"),
            col(Organisation.kvk_number).label("kvk_number"),
            col(Organisation.city).label("city"),
            col(Organisation.environment_id).label("environment_id"),
            col(Environment.name).label("environment_name"),
        )
        .join(Organisation, col(Organisation.id) == ranked.c.organisation_id)
        .join(Environment, col(Environment.id) == col(Organisation.environment_id))
        .where(
            col(Organisation.activated_at).is_not(None),
            col(Organisation.findable).is_(True),
            col(Organisation.environment_id) != bindparam("own_environment_id"),
        )
        .order_by(ranked.c.tier, ranked.c.name_key, ranked.c.organisation_id)
    )


def _starts_with_key(column: Any) -> ColumnElement[bool]:
    """The key in ``column`` starts with the query: a range a B-tree serves."""
    return and_(column >= bindparam("key"), column < bindparam("key_next"))


def _has_word_starting_with_key(column: Any, *, dialect: str, first_word: bool) -> ColumnElement[bool]:
    """A word of the key in ``column`` (a later word unless ``first_word``) starts with the query.

    A position function rather than LIKE: the planner cannot guess from the text how often it
    matches, so it keeps the walk in index order that the dense branches rely on.
    """
    haystack = (" " + column) if first_word else column
    position = func.strpos if dialect == "postgresql" else func.instr
    return position(haystack, bindparam("word_needle")) > 0


def _in_name_order(*conditions: ColumnElement[bool], limit: Any) -> Select[Any]:
    """Findable organisations matching ``conditions``, read from the name-order index (stops at
    ``limit``)."""
    return (
        select(_search.c.name_key, _search.c.organisation_id)
        .where(*conditions)
        .order_by(_search.c.name_key, _search.c.organisation_id)
        .limit(limit)
    )


def _tier_ctes(dialect: str, *, by_kvk: bool) -> list[CTE]:
    """Each tier's matches in result order, each read from an index, together at most ``tier_limit``."""
    not_own = [_search.c.environment_id != bindparam("own_environment_id")]
    not_own_term = [_terms.c.environment_id != bindparam("own_environment_id")]
    ctes: list[CTE] = []

    def left_over() -> ColumnElement[int]:
        """What the tiers so far left of ``tier_limit`` (never below 0: each took at most that)."""
        remaining = _number("tier_limit")
        for cte in ctes:
            remaining = remaining - select(func.count()).select_from(cte).scalar_subquery()
        return remaining

    def add(tier: str, *branches: Select[Any]) -> None:
        rows = [branch.subquery() for branch in branches]
        number = literal_column(str(TIERS.index(tier))).label("tier")
        parts = [select(number, part.c.name_key, part.c.organisation_id) for part in rows]
        body = parts[0] if len(parts) == 1 else union_all(*parts)
        ctes.append(body.cte(f"{tier}_tier").prefix_with("MATERIALIZED"))

    if by_kvk:
        kvk_match = _search.c.kvk_number == bindparam("kvk_number")
        add("kvk", _in_name_order(kvk_match, *not_own, limit=left_over()))
        found_by_kvk = select(_search.c.organisation_id).where(kvk_match)
        not_own = [*not_own, _search.c.organisation_id.not_in(found_by_kvk)]
        not_own_term = [*not_own_term, _terms.c.organisation_id.not_in(found_by_kvk)]
    add("name", _in_name_order(_starts_with_key(_search.c.name_key), *not_own, limit=left_over()))

    def word_start(column: Any, *, first_word: bool) -> ColumnElement[bool]:
        return _has_word_starting_with_key(column, dialect=dialect, first_word=first_word)

    def not_found_by_name(name_key: Any, tier: str) -> ColumnElement[bool]:
        """Left to this tier: not already in the name tier (nor the word tier, for the city)."""
        if tier == "word":
            return not_(_starts_with_key(name_key))
        return not_(word_start(name_key, first_word=True))

    term_tiers = (
        ("word", SOURCE_NAME, word_start(_search.c.name_key, first_word=False)),
        ("city", SOURCE_CITY, word_start(_search.c.city_key, first_word=True)),
    )
    for tier, source, matches_in_name_order in term_tiers:
        term_match = and_(_terms.c.source == source, _starts_with_key(_terms.c.term))
        matching_terms = (  # counted once, and only when the tier runs at all
            select(func.count().label("terms"))
            .select_from(select(_terms.c.term).where(term_match).limit(_number("dense_terms")).subquery())
            .cte(f"{tier}_terms")
            .prefix_with("MATERIALIZED")
        )
        limit = left_over()
        # Only one branch runs: the other's LIMIT is 0 (and both are 0 once the page is full).
        dense = select(matching_terms.c.terms).scalar_subquery() >= _number("dense_terms")
        # Read the matching terms, then sort them. There are fewer than ``dense_terms`` when this
        # branch runs; saying so keeps PostgreSQL's plan small (no parallel workers to start).
        few_terms = (
            select(_terms.c.name_key, _terms.c.organisation_id)
            .where(term_match, *not_own_term, not_found_by_name(_terms.c.name_key, tier))
            .limit(_number("dense_terms"))
            .subquery()
        )
        few = (
            select(few_terms.c.name_key, few_terms.c.organisation_id)
            .group_by(few_terms.c.organisation_id, few_terms.c.name_key)
            .order_by(few_terms.c.name_key, few_terms.c.organisation_id)
            .limit(case((limit <= 0, 0), (dense, 0), else_=limit))
        )
        many = _in_name_order(  # walk the name order; matches are dense
            matches_in_name_order,
            not_found_by_name(_search.c.name_key, tier),
            *not_own,
            limit=case((limit <= 0, 0), (dense, limit), else_=0),
        )
        add(tier, few, many)
    return ctes


# ---------------------------------------------------------------------------------------------
# Keeping the index in step with Organisation


@dataclass(frozen=True)
class _OrganisationFields:
    id: int
    environment_id: int
    name: str
    city: str
    kvk_number: str
    activated_at: Any
    findable: bool

    @property
    def is_findable(self) -> bool:
        return self.activated_at is not None and bool(self.findable)


def search_index_rows(organisation: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``organisation_search`` row and ``organisation_search_term`` rows of an organisation."""
    name_key = search_key(organisation.name or "")[:NAME_KEY_LENGTH].rstrip()
    city_key = search_key(organisation.city or "")[:CITY_KEY_LENGTH].rstrip()
    common = {"organisation_id": organisation.id, "environment_id": organisation.environment_id}
    row = {**common, "name_key": name_key, "city_key": city_key, "kvk_number": organisation.kvk_number}
    terms = [
        {**common, "source": source, "term": term, "name_key": name_key}
        for source, key, skip_first in ((SOURCE_NAME, name_key, True), (SOURCE_CITY, city_key, False))
        for term in word_suffixes(key, skip_first=skip_first)
    ]
    return row, terms


def _write_rows(connection: Connection, organisations: Iterable[Any]) -> None:
    rows: list[dict[str, Any]] = []
    terms: list[dict[str, Any]] = []
    for organisation in organisations:
        row, its_terms = search_index_rows(organisation)
        rows.append(row)
        terms += its_terms
    _insert_many(connection, _search, rows)
    _insert_many(connection, _terms, terms)


def _insert_many(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys); with COPY on PostgreSQL when there are many."""
    if not rows:
        return
    if connection.dialect.name != "postgresql" or len(rows) < COPY_FROM_ROWS:
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    driver_connection = connection.connection.driver_connection  # same transaction
    with driver_connection.cursor() as cursor:  # type: ignore[union-attr]
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])


def _forget(connection: Connection, organisation_ids: Sequence[int]) -> None:
    connection.execute(delete(_terms).where(_terms.c.organisation_id.in_(organisation_ids)))
    connection.execute(delete(_search).where(_search.c.organisation_id.in_(organisation_ids)))


def _fields_select() -> Any:
    return select(*(_organisation.c[name] for name in ("id", *SEARCHED_ATTRIBUTES)))


def _chunks(values: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def refresh_search_index(connection: Connection, organisation_ids: Iterable[int]) -> None:
    """Bring the index of these organisations in line with their rows (gone ones are forgotten)."""
    ids = sorted({int(organisation_id) for organisation_id in organisation_ids})
    for chunk in _chunks(ids):
        _forget(connection, chunk)
        rows = connection.execute(_fields_select().where(_organisation.c.id.in_(chunk))).all()
        _write_rows(connection, (row for row in map(_fields_of, rows) if row.is_findable))


def rebuild_search_index(connection: Connection, *, batch_size: int = 20_000) -> int:
    """Rebuild the whole index from the organisation rows; returns how many are findable."""
    connection.execute(delete(_terms))
    connection.execute(delete(_search))
    findable = and_(_organisation.c.activated_at.is_not(None), _organisation.c.findable.is_(True))
    last_id, written = 0, 0
    while True:
        statement = (
            _fields_select().where(findable, _organisation.c.id > last_id).order_by(_organisation.c.id)
        ).limit(batch_size)
        batch = [_fields_of(row) for row in connection.execute(statement).all()]
        if not batch:
            return written
        _write_rows(connection, batch)
        written += len(batch)
        last_id = batch[-1].id


def _fields_of(row: Any) -> _OrganisationFields:
    """The searched fields of an organisation row or object."""
    return _OrganisationFields(**{name: getattr(row, name) for name in ("id", *SEARCHED_ATTRIBUTES)})


def _index_new_organisation(_mapper: Mapper[Any], connection: Connection, target: Organisation) -> None:
    organisation = _fields_of(target)
    if organisation.is_findable:
        _write_rows(connection, [organisation])


def _reindex_changed_organisation(_mapper: Mapper[Any], connection: Connection, target: Organisation) -> None:
    state = inspect(target)
    if any(state.attrs[name].history.has_changes() for name in SEARCHED_ATTRIBUTES):
        _forget(connection, [target.id])  # type: ignore[list-item]
        _index_new_organisation(_mapper, connection, target)


def _forget_deleted_organisation(_mapper: Mapper[Any], connection: Connection, target: Organisation) -> None:
    _forget(connection, [target.id])  # type: ignore[list-item]


def _buffered(result: Any) -> Any:
    """The result with any RETURNING rows read, so the connection can run the next statement."""
    if isinstance(result, CursorResult) and result.returns_rows:
        return result.freeze()()
    return result


def _reindex_after_bulk_statement(state: ORMExecuteState) -> Any:
    """Bulk ORM INSERT/UPDATE/DELETE on Organisation: refresh the rows it touched, same transaction."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    mapper = state.bind_mapper
    if mapper is None or mapper.class_ is not Organisation:
        return None
    session = state.session
    statement = state.statement
    parameters = state.parameters
    if state.is_insert:
        before = session.execute(select(func.max(Organisation.id))).scalar() or 0
        result = _buffered(state.invoke_statement())
        touched = list(
            session.execute(select(Organisation.id).where(col(Organisation.id) > before)).scalars()
        )
    else:
        if isinstance(parameters, list) and parameters and "id" in parameters[0]:
            touched = [row["id"] for row in parameters]  # bulk UPDATE by primary key
        else:
            ids = select(Organisation.id)
            if statement.whereclause is not None:  # type: ignore[attr-defined]
                ids = ids.where(statement.whereclause)  # type: ignore[attr-defined]
            touched = list(session.execute(ids).scalars())
        result = _buffered(state.invoke_statement())
    refresh_search_index(session.connection(), touched)
    return result


event.listen(Organisation, "after_insert", _index_new_organisation)
event.listen(Organisation, "after_update", _reindex_changed_organisation)
event.listen(Organisation, "before_delete", _forget_deleted_organisation)
event.listen(Session, "do_orm_execute", _reindex_after_bulk_statement)
