"""Find partners on databases built by the migrations: the migration indexes the organisations that
were there before it, and every part of the search statement reads an index.

Named for PostgreSQL, where the planner has choices to get wrong; the same checks run on SQLite
(``EXPLAIN QUERY PLAN``) because they are cheap. The ``postgresql`` cases skip without
``ECONNECT_TEST_DB_URL``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, Table, event, insert, select
from sqlalchemy.engine import URL, Engine
from sqlmodel import Session

from alembic import command
from benchmarks import find_partners as benchmark
from econnect_app.db import make_engine
from econnect_app.models import (
    OrganisationSearch,
    OrganisationSearchTerm,
    User,
    utcnow,
)
from econnect_app.services import find_partners

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SEARCH_INDEX_REVISION = "b1f9631aac37"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty database: a SQLite file, or a PostgreSQL database (skipped without a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'find_partners.db'}"
    make_database: Callable[[], URL] = request.getfixturevalue("new_postgres_database")
    return make_database().render_as_string(hide_password=False)


@pytest.fixture()
def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["db_url"] = url
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture()
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _as_it_was(connection: Connection, name: str) -> Table:
    """A table as the database has it at this revision (today's model may have more columns)."""
    return Table(name, MetaData(), autoload_with=connection)


def test_the_migration_indexes_the_organisations_already_there(
    alembic_config: Config, engine: Engine
) -> None:
    before = ScriptDirectory.from_config(alembic_config).get_revision(SEARCH_INDEX_REVISION).down_revision
    command.upgrade(alembic_config, str(before))
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            insert(_as_it_was(connection, "environment")),
            [
                {"id": 1, "name": "Own", "plan": "Basic", "created_at": now},
                {"id": 2, "name": "Bakkers", "plan": "Basic", "created_at": now},
            ],
        )
        connection.execute(
            insert(_as_it_was(connection, "app_user")),
            [
                {
                    "id": 1,
                    "environment_id": 1,
                    "name": "Anna",
                    "email": "anna@example.com",
                    "role": "Advanced user",
                    "is_relationship_manager": False,
                    "status": "Active",
                    "created_at": now,
                }
            ],
        )
        connection.execute(
            insert(_as_it_was(connection, "organisation")),
            [
                {
                    "id": number,
                    "environment_id": 2,
                    "name": name,
                    "kvk_number": f"1000000{number}",
                    "street": "",
                    "postal_code": "",
                    "city": city,
                    "country": "NL",
                    "identifier": f"identifier-{number}",
                    "activated_at": now if activated else None,
                    "findable": findable,
                    "receive_e_invoices": False,
                    "created_at": now,
                }
                for number, name, city, activated, findable in (
                    (1, "Bakkerij De Korenbloem B.V.", "Den Haag", True, True),
                    (2, "Korenbloem Nieuw", "Gouda", False, True),
                    (3, "Korenbloem Verborgen", "Gouda", True, False),
                    (4, "Müller Bouw", "'s-Hertogenbosch", True, True),
                )
            ],
        )

    command.upgrade(alembic_config, "head")

    with engine.connect() as connection:
        rows = connection.execute(select(OrganisationSearch.__table__).order_by("organisation_id")).all()
        terms = connection.execute(select(OrganisationSearchTerm.__table__.c.term)).scalars().all()
    assert [(row.organisation_id, row.name_key, row.city_key) for row in rows] == [
        (1, "bakkerij de korenbloem bv", "den haag"),
        (4, "muller bouw", "s hertogenbosch"),
    ]
    assert sorted(terms) == sorted(
        [
            "de korenbloem bv",
            "korenbloem bv",
            "bv",
            "den haag",
            "haag",
            "bouw",
            "s hertogenbosch",
            "hertogenbosch",
        ]
    )
    with Session(engine) as session:
        page = find_partners.search_organisations(session, actor=User(id=1), query="KORENBLOEM")
        assert [row.organisation_id for row in page.rows] == [1]
        page = find_partners.search_organisations(session, actor=User(id=1), query="mul")
        assert [row.organisation_id for row in page.rows] == [4]


def captured_search_statements(engine: Engine) -> list[tuple[str, Any]]:
    """The search statement as sent to the database (SQL and parameters), each time."""
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn, _cursor, statement, parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("WITH"):
            captured.append((statement, parameters))

    return captured


def plan_of(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            return list(connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars())
        return [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]


@pytest.mark.parametrize("dense_terms", [find_partners.DENSE_TERMS, 20])
def test_every_part_of_the_search_reads_an_index(
    alembic_config: Config, engine: Engine, dense_terms: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broad and narrow queries, both branches of the word and city tiers: no table scans."""
    monkeypatch.setattr(find_partners, "DENSE_TERMS", dense_terms)
    command.upgrade(alembic_config, "head")
    loaded = benchmark.load(engine, 4000, seed=11)  # VACUUM ANALYZE on PostgreSQL, as autovacuum would
    captured = captured_search_statements(engine)

    for query in ("de", "bakkerij", "holding", "amsterdam", "den", "1234 5678", "zz"):
        with Session(engine) as session:
            find_partners.search_organisations(session, actor=User(id=loaded.actor.id), query=query)
    assert len(captured) == 7

    for statement, parameters in captured:
        plan = plan_of(engine, statement, parameters)
        text = "\n".join(plan)
        if engine.dialect.name == "postgresql":
            assert "Seq Scan on organisation_search" not in text, text
            assert "Seq Scan on organisation " not in text, text
            assert "Gather" not in text, text  # no parallel workers to start for a page
            assert "Index Only Scan using ix_organisation_search_name_order" in text, text
            assert "Index Only Scan using ix_organisation_search_term_lookup" in text, text
        else:
            reads = [line for line in plan if line.startswith(("SCAN organisation", "SEARCH organisation"))]
            assert reads and all("INDEX" in line or "PRIMARY KEY" in line for line in reads), text
