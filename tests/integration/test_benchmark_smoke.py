"""The Find partners benchmark runs end to end at a tiny size, and on its generated data the search
finds exactly what a brute-force ranking in Python finds.

SQLite always; PostgreSQL too with ``ECONNECT_TEST_DB_URL`` (the ``postgresql`` cases skip
without it). Seconds, not minutes: a few thousand organisations at most.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, Engine
from sqlmodel import Session

from benchmarks import find_partners as benchmark
from benchmarks.dutch_companies import GeneratedOrganisation, generate
from benchmarks.support import migrate_to_head
from econnect_app.db import make_engine
from econnect_app.models import User
from econnect_app.services import find_partners
from econnect_app.services.find_partners import search_key

SIZE = 1500
SEED = 7


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        request.getfixturevalue("new_postgres_database")  # skips without a server
    return request.param


def test_the_benchmark_runs_and_writes_its_figures(db: str, tmp_path: Path) -> None:
    output = tmp_path / "result.json"

    status = benchmark.main(
        [
            "--db",
            db,
            "--sizes",
            "300,600",
            "--queries-per-kind",
            "3",
            "--repetitions",
            "2",
            "--target-ms",
            "10000",
            "--output",
            str(output),
        ]
    )

    assert status == 0
    result = json.loads(output.read_text())
    assert result["db"] == db and result["target_met"] is True
    assert [size["organisations"] for size in result["sizes"]] == [300, 600]
    figures = result["sizes"][-1]["kinds"]
    assert set(figures) == set(benchmark.QUERY_KINDS)
    assert all(
        kind["runs"] == 6 and kind["p95_ms"] > 0 and kind["naive_runs"] >= 2 for kind in figures.values()
    )


def test_a_missed_target_exits_non_zero(tmp_path: Path) -> None:
    arguments = ["--sizes", "200", "--queries-per-kind", "2", "--repetitions", "1", "--target-ms", "0"]

    assert benchmark.main([*arguments, "--output", str(tmp_path / "result.json")]) == 1


@pytest.fixture()
def loaded(
    db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Engine, benchmark.Loaded]]:
    """A database built by the migrations with SIZE generated organisations and their index."""
    if db == "sqlite":
        url = f"sqlite:///{tmp_path / 'smoke.db'}"
    else:
        make_database: Callable[[], URL] = request.getfixturevalue("new_postgres_database")
        url = make_database().render_as_string(hide_password=False)
    migrate_to_head(url)
    engine = make_engine(url)
    yield engine, benchmark.load(engine, SIZE, seed=SEED)
    engine.dispose()


def brute_force_ranking(organisations: list[GeneratedOrganisation], query: str) -> list[tuple[int, str, int]]:
    """(tier, name key, id) of every match, best first, by the rules in the service's docstring."""
    text = find_partners.clean_query(query)
    digits = "".join(text.split())
    kvk_number = digits if len(digits) == 8 and digits.isdigit() else None
    key = kvk_number or search_key(text)[: find_partners.MAX_QUERY_LENGTH].rstrip()
    ranked = []
    for index, organisation in enumerate(organisations):
        if not (organisation.activated and organisation.findable) or organisation.environment_index == 0:
            continue  # the searcher's own environment is the first one
        name_key, city_key = search_key(organisation.name), search_key(organisation.city)
        if kvk_number is not None and organisation.kvk_number == kvk_number:
            tier = 0
        elif name_key.startswith(key):
            tier = 1
        elif f" {key}" in name_key:
            tier = 2
        elif f" {key}" in f" {city_key}":
            tier = 3
        else:
            continue
        ranked.append((tier, name_key, index + 1))  # ids follow the load order
    return sorted(ranked)


@pytest.mark.parametrize("dense_terms", [find_partners.DENSE_TERMS, 20])
def test_the_search_agrees_with_a_brute_force_ranking(
    loaded: tuple[Engine, benchmark.Loaded], dense_terms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every query kind of the benchmark, plus broad ones; with 20 the dense branches run too."""
    monkeypatch.setattr(find_partners, "DENSE_TERMS", dense_terms)
    engine, data = loaded
    environments = max(2, SIZE // benchmark.ORGANISATIONS_PER_ENVIRONMENT)
    organisations = list(generate(SIZE, environments=environments, seed=SEED))
    queries = [
        query
        for kind_queries in benchmark.choose_queries(data.sample, per_kind=4, seed=SEED).values()
        for query in kind_queries
    ]
    queries += ["de", "DE GOUDEN", "b.v.", "holding", "den", "ba", "amster", "müller", "Sint-", "zz"]

    for query in queries:
        expected = brute_force_ranking(organisations, query)
        for page in (1, 2):
            with Session(engine) as session:
                result = find_partners.search_organisations(
                    session, actor=User(id=data.actor.id), query=query, page=page, page_size=20
                )
            wanted = expected[(page - 1) * 20 : page * 20]
            assert [
                (find_partners.TIERS.index(row.matched_on), row.organisation_id) for row in result.rows
            ] == [(tier, organisation_id) for tier, _, organisation_id in wanted], (query, page)
            assert result.has_more == (len(expected) > page * 20), (query, page)
