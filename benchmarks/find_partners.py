"""Benchmark of the Find partners search (``services/find_partners.search_organisations``).

For each size it builds a throw-away database with the migrations, bulk-loads that many realistic
organisations, builds the search index, and times a fixed, seeded set of queries through the real
service function, next to a naive ``lower(name) LIKE '%q%'`` scan of the same table in the same
run. Prints a table per size, writes ``benchmarks/results/find_partners-<db>.json`` and exits 1
when a query kind's p95 at the largest size is over ``--target-ms``.

    .venv/bin/python -m benchmarks.find_partners                       # SQLite, 10k, 100k, 1M
    .venv/bin/python -m benchmarks.find_partners --db postgresql --url postgresql+psycopg://...
    .venv/bin/python -m benchmarks.find_partners --sizes 2000 --repetitions 3   # a quick look

See benchmarks/README.md for what the figures mean.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/find_partners.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from benchmarks.dutch_companies import GeneratedOrganisation, generate
from benchmarks.support import (
    RESULTS_DIR,
    database_version,
    format_table,
    loading_engine,
    machine,
    migrate_to_head,
    percentile,
    temporary_database,
    write_json,
)
from econnect_app import security
from econnect_app.db import make_engine
from econnect_app.models import Environment, Organisation, Plan, Role, User
from econnect_app.services import find_partners

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUERY_KINDS = ("name, 2 letters", "name, 3 letters", "name, 5 letters", "word prefix", "KvK number", "city")
ORGANISATIONS_PER_ENVIRONMENT = 20
LOAD_BATCH = 50_000
SAMPLE_SIZE = 5_000  # organisations kept in memory to draw the queries from


@dataclass
class Loaded:
    """A loaded database: who searches, and organisations to draw queries from."""

    actor: User
    sample: list[GeneratedOrganisation]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Timings:
    """Milliseconds per call of one query kind."""

    service: list[float] = field(default_factory=list)
    naive: list[float] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Loading


def _organisation_rows(
    organisations: Sequence[GeneratedOrganisation], first_environment_id: int, now: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "environment_id": first_environment_id + organisation.environment_index,
            "name": organisation.name,
            "kvk_number": organisation.kvk_number,
            "vat_number": None,
            "street": "",
            "postal_code": "",
            "city": organisation.city,
            "country": "NL",
            "identifier": security.new_public_identifier(),
            "activated_at": now if organisation.activated else None,
            "findable": organisation.findable,
            "receive_e_invoices": False,
            "created_at": now,
        }
        for organisation in organisations
    ]


def _copy_rows(engine: Engine, table: str, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL COPY of ``rows`` (all with the same keys) into ``table``."""
    columns = list(rows[0])
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:  # type: ignore[attr-defined]
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[column] for column in columns])
        raw.commit()
    finally:
        raw.close()


def _bulk_insert(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if engine.dialect.name == "postgresql":
        _copy_rows(engine, table.name, rows)
        return
    with engine.begin() as connection:
        connection.execute(insert(table), rows)


def load(engine: Engine, count: int, *, seed: int) -> Loaded:
    """Environments, one Advanced user, ``count`` organisations, then the search index."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    environments = max(2, count // ORGANISATIONS_PER_ENVIRONMENT)
    started = time.perf_counter()
    _bulk_insert(
        engine,
        Environment.__table__,
        [
            {"name": f"Omgeving {number}", "plan": Plan.BASIC.value, "created_at": now}
            for number in range(1, environments + 1)
        ],
    )
    with Session(engine, expire_on_commit=False) as session:
        actor = User(
            environment_id=1, name="Benchmark", email="benchmark@example.com", role=Role.ADVANCED_USER.value
        )
        session.add(actor)
        session.commit()

    sample_at = set(rng.sample(range(count), min(SAMPLE_SIZE, count)))
    sample: list[GeneratedOrganisation] = []
    batch: list[GeneratedOrganisation] = []
    for index, organisation in enumerate(generate(count, environments=environments, seed=seed)):
        batch.append(organisation)
        if index in sample_at:
            sample.append(organisation)
        if len(batch) == LOAD_BATCH:
            _bulk_insert(engine, Organisation.__table__, _organisation_rows(batch, 1, now))
            batch = []
    _bulk_insert(engine, Organisation.__table__, _organisation_rows(batch, 1, now))
    loaded = Loaded(actor=actor, sample=sample)
    loaded.seconds["organisations"] = time.perf_counter() - started

    started = time.perf_counter()
    with engine.begin() as connection:
        find_partners.rebuild_search_index(connection)
    loaded.seconds["search_index"] = time.perf_counter() - started

    started = time.perf_counter()
    if engine.dialect.name == "postgresql":  # what autovacuum does after a load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("organisation", "organisation_search", "organisation_search_term", "environment"):
                connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
        loaded.seconds["vacuum_analyze"] = time.perf_counter() - started
    return loaded


SEARCH_INDEX_TABLES = ("organisation_search", "organisation_search_term")


def search_index_size_mb(engine: Engine) -> float:
    """The size of the search index: its two tables with their indexes."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            statement = (
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN "
                "(SELECT name FROM sqlite_master WHERE tbl_name IN (?, ?))"
            )
            return float(connection.exec_driver_sql(statement, SEARCH_INDEX_TABLES).scalar_one()) / 1e6
        statement = (
            "SELECT sum(pg_total_relation_size(name::regclass)) FROM unnest(%(names)s::text[]) AS name"
        )
        return (
            float(connection.exec_driver_sql(statement, {"names": list(SEARCH_INDEX_TABLES)}).scalar_one())
            / 1e6
        )


def database_size_mb(engine: Engine) -> float:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            return pages * size / 1e6
        return connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one() / 1e6


# ---------------------------------------------------------------------------------------------
# Queries


def _later_word(name: str, rng: random.Random) -> str | None:
    words = [word for word in find_partners.search_key(name).split(" ")[1:] if len(word) >= 3]
    if not words:
        return None
    word = rng.choice(words)
    return word[:6]


def choose_queries(
    sample: Sequence[GeneratedOrganisation], *, per_kind: int, seed: int
) -> dict[str, list[str]]:
    """A fixed, seeded set of queries per kind, drawn from organisations in the database."""
    rng = random.Random(seed)
    findable = [organisation for organisation in sample if organisation.activated and organisation.findable]
    pickers: dict[str, Callable[[GeneratedOrganisation], str | None]] = {
        "name, 2 letters": lambda organisation: organisation.name[:2],
        "name, 3 letters": lambda organisation: organisation.name[:3],
        "name, 5 letters": lambda organisation: organisation.name[:5],
        "word prefix": lambda organisation: _later_word(organisation.name, rng),
        "KvK number": lambda organisation: (
            organisation.kvk_number
            if rng.random() < 0.5
            else f"{organisation.kvk_number[:4]} {organisation.kvk_number[4:]}"
        ),
        "city": lambda organisation: organisation.city if rng.random() < 0.5 else organisation.city[:4],
    }
    queries: dict[str, list[str]] = {}
    for kind, pick in pickers.items():
        chosen: list[str] = []
        for organisation in rng.sample(findable, len(findable)):
            query = pick(organisation)
            if query and len(find_partners.search_key(query)) >= 2 and query not in chosen:
                chosen.append(query)
            if len(chosen) == per_kind:
                break
        queries[kind] = chosen
    return queries


def naive_search(session: Session, *, actor: User, query: str, limit: int = 21) -> list[int]:
    """The first page as a naive implementation would find it: a scan with LIKE on lower(name)."""
    statement = text(
        "SELECT id FROM organisation WHERE lower(name) LIKE :pattern AND activated_at IS NOT NULL "
        "AND findable AND environment_id != :own ORDER BY lower(name), id LIMIT :limit"
    )
    parameters = {"pattern": f"%{query.lower()}%", "own": actor.environment_id, "limit": limit}
    return list(session.connection().execute(statement, parameters).scalars())


def measure(
    engine: Engine,
    actor: User,
    queries: dict[str, list[str]],
    *,
    repetitions: int,
    naive_repetitions: int,
    seed: int,
) -> dict[str, Timings]:
    """Time every query through the service (and the naive scan), interleaved in a seeded order."""
    rng = random.Random(seed)
    timings = {kind: Timings() for kind in queries}

    def run_service(query: str) -> int:
        with Session(engine, expire_on_commit=False) as session:
            return len(find_partners.search_organisations(session, actor=actor, query=query).rows)

    def run_naive(query: str) -> int:
        with Session(engine, expire_on_commit=False) as session:
            return len(naive_search(session, actor=actor, query=query))

    for kind_queries in queries.values():  # warm up: caches, prepared plans, the pool
        for query in kind_queries:
            run_service(query)
    runs = [(kind, query) for kind, kind_queries in queries.items() for query in kind_queries]
    schedule = runs * repetitions
    rng.shuffle(schedule)
    for kind, query in schedule:
        started = time.perf_counter()
        rows = run_service(query)
        timings[kind].service.append((time.perf_counter() - started) * 1000)
        timings[kind].rows.append(rows)
    naive_schedule = [
        (kind, query) for kind, kind_queries in queries.items() for query in kind_queries[:naive_repetitions]
    ]
    rng.shuffle(naive_schedule)
    for kind, query in naive_schedule:
        started = time.perf_counter()
        run_naive(query)
        timings[kind].naive.append((time.perf_counter() - started) * 1000)
    return timings


def summarise(timings: dict[str, Timings]) -> dict[str, dict[str, float | int]]:
    return {
        kind: {
            "runs": len(timing.service),
            "p50_ms": round(percentile(timing.service, 0.50), 3),
            "p95_ms": round(percentile(timing.service, 0.95), 3),
            "max_ms": round(max(timing.service), 3),
            "mean_rows": round(sum(timing.rows) / len(timing.rows), 1),
            "naive_runs": len(timing.naive),
            "naive_p50_ms": round(percentile(timing.naive, 0.50), 1),
            "naive_p95_ms": round(percentile(timing.naive, 0.95), 1),
        }
        for kind, timing in timings.items()
        if timing.service
    }


def report(
    size: int,
    summary: dict[str, dict[str, float | int]],
    loaded: dict[str, float],
    size_mb: float,
    index_mb: float,
) -> str:
    rows = [
        [
            kind,
            figures["runs"],
            f"{figures['p50_ms']:.2f}",
            f"{figures['p95_ms']:.2f}",
            f"{figures['max_ms']:.2f}",
            f"{figures['mean_rows']:.1f}",
            figures["naive_runs"],
            f"{figures['naive_p50_ms']:.1f}",
            f"{figures['naive_p95_ms']:.1f}",
        ]
        for kind, figures in summary.items()
    ]
    headers = [
        "query kind",
        "runs",
        "p50 ms",
        "p95 ms",
        "max ms",
        "rows",
        "naive runs",
        "naive p50",
        "naive p95",
    ]
    load_figures = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in loaded.items())
    sizes = f"database {size_mb:.0f} MB, of which the search index {index_mb:.0f} MB"
    return f"\n{size:,} organisations (load: {load_figures}; {sizes})\n" + format_table(headers, rows)


# ---------------------------------------------------------------------------------------------


def run_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    with temporary_database(args.db, server_url=args.url, keep=args.keep) as url:
        migrate_to_head(url)
        bulk = loading_engine(url)
        try:
            loaded = load(bulk, size, seed=args.seed)
        finally:
            bulk.dispose()
        engine = make_engine(url)  # the app's own engine settings for the measurements
        try:
            queries = choose_queries(loaded.sample, per_kind=args.queries_per_kind, seed=args.seed)
            naive_repetitions = args.naive_repetitions or max(
                2, min(args.queries_per_kind, 2_000_000 // size)
            )
            load_before = os.getloadavg()
            timings = measure(
                engine,
                loaded.actor,
                queries,
                repetitions=args.repetitions,
                naive_repetitions=naive_repetitions,
                seed=args.seed,
            )
            load_after = os.getloadavg()
            summary = summarise(timings)
            size_mb, index_mb = database_size_mb(engine), search_index_size_mb(engine)
            print(report(size, summary, loaded.seconds, size_mb, index_mb), flush=True)
            print(
                f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after the measurements"
            )
            return {
                "organisations": size,
                "load_seconds": {name: round(seconds, 2) for name, seconds in loaded.seconds.items()},
                "database_mb": round(size_mb, 1),
                "search_index_mb": round(index_mb, 1),
                "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)],
                "queries": queries,
                "kinds": summary,
                "database_version": database_version(engine),
            }
        finally:
            engine.dispose()


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda value: [int(part.replace("_", "")) for part in value.split(",") if part],
        default=list(DEFAULT_SIZES),
        help="comma-separated numbers of organisations (default 10000,100000,1000000)",
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--url", help="PostgreSQL server URL (default: ECONNECT_TEST_DB_URL); a new database is made"
    )
    parser.add_argument(
        "--queries-per-kind", type=int, default=20, help="distinct queries per kind (default 20)"
    )
    parser.add_argument("--repetitions", type=int, default=10, help="timed runs of each query (default 10)")
    parser.add_argument(
        "--naive-repetitions",
        type=int,
        default=0,
        help="naive scans per kind (default: fewer as the size grows, 20 at 100k, 2 at 1M)",
    )
    parser.add_argument(
        "--target-ms", type=float, default=20.0, help="p95 limit at the largest size (default 20)"
    )
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument(
        "--output", type=Path, help="JSON file (default benchmarks/results/find_partners-<db>.json)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases (prints where)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    sizes = sorted(args.sizes)
    results = [run_size(args, size) for size in sizes]
    largest = results[-1]["kinds"]
    over = {
        kind: figures["p95_ms"] for kind, figures in largest.items() if figures["p95_ms"] > args.target_ms
    }
    output = write_json(
        args.output or RESULTS_DIR / f"find_partners-{args.db}.json",
        {
            "benchmark": "find_partners",
            "db": args.db,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "target_p95_ms": args.target_ms,
            "target_met": not over,
            "dense_terms_threshold": find_partners.DENSE_TERMS,
            "sizes": results,
        },
    )
    print(f"\nwritten to {output}")
    if over:
        print(f"p95 over {args.target_ms} ms at {sizes[-1]:,} organisations: {over}")
        return 1
    print(f"p95 of every query kind at {sizes[-1]:,} organisations is within {args.target_ms} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
