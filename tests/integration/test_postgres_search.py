"""On PostgreSQL the authorisation-request search is served by the trigram indexes of the migration
"postgresql search indexes", and finds the right rows.

The database is built by the migrations (not ``create_all``), as in production. The query checked
is the very one ``authorisations.requests_page`` sends: it is captured on its way to the server and
EXPLAINed there. PostgreSQL only: skipped without ``ECONNECT_TEST_DB_URL``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config
from sqlalchemy import event, insert
from sqlalchemy.engine import URL, Engine
from sqlmodel import Session, select

from alembic import command
from econnect_app.db import make_engine
from econnect_app.models import (
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Plan,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.services import authorisations
from econnect_app.services.paging import ListQuery

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SEARCH_INDEXES = {
    "ix_authorisation_request_client_name_trgm",
    "ix_authorisation_request_client_email_trgm",
    "ix_authorisation_request_organisation_name_trgm",
}
FILLER_ROWS = 5000  # from about 4,000 rows on, the planner prefers the indexes to a sequential scan

pytestmark = pytest.mark.usefixtures("new_postgres_database")  # skips the module without a server


@pytest.fixture()
def engine(new_postgres_database: Callable[[], URL]) -> Iterator[Engine]:
    """A new PostgreSQL database migrated to head (the search indexes included)."""
    url = new_postgres_database().render_as_string(hide_password=False)
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["db_url"] = url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture()
def accountant(session: Session) -> User:
    firm = Environment(name="Jansen Accountants", plan=Plan.BASIC.value)
    session.add(firm)
    session.commit()
    user = User(
        environment_id=firm.id, name="Anna Jansen", email="anna@jansen.example", role=Role.ADMINISTRATOR.value
    )
    session.add(user)
    session.commit()
    return user


def add_requests(
    session: Session, requester: User, rows: list[tuple[str, str]], *, environment_id: int | None = None
) -> None:
    """Insert Pending requests (client name, client email) in one statement, newest last."""
    package = session.exec(
        select(SoftwarePackage).order_by(SoftwarePackage.id)
    ).first()  # seeded by the migrations
    assert package is not None
    start = utcnow() - timedelta(days=1)
    session.execute(
        insert(AuthorisationRequest),
        [
            {
                "environment_id": environment_id or requester.environment_id,
                "requested_by_id": requester.id,
                "client_name": name,
                "client_email": email,
                "organisation_name": f"{name} B.V.",
                "software_package_id": package.id,
                "status": AuthorisationStatus.PENDING.value,
                "expires_at": start + timedelta(days=14),
                "created_at": start + timedelta(seconds=number),
                "last_sent_at": start + timedelta(seconds=number),
                "send_count": 1,
            }
            for number, (name, email) in enumerate(rows)
        ],
    )
    session.commit()


def filler(count: int) -> list[tuple[str, str]]:
    """Ordinary clients that no search below matches."""
    return [
        (f"Client {number:05d} Holding", f"office{number}@client{number % 97}.example")
        for number in range(count)
    ]


def captured_search_queries(engine: Engine) -> list[tuple[str, Any]]:
    """Every SELECT on authorisation_request sent while the list is open (SQL and parameters)."""
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_conn, _cursor, statement, parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
        if (
            statement.lstrip().upper().startswith("SELECT")
            and "lower(authorisation_request.client_name)" in statement
        ):
            captured.append((statement, parameters))

    return captured


def plan_of(engine: Engine, statement: str, parameters: Any) -> str:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars().all()
    return "\n".join(rows)


def test_the_search_query_uses_the_trigram_indexes(
    engine: Engine, session: Session, accountant: User
) -> None:
    add_requests(session, accountant, filler(FILLER_ROWS))
    add_requests(session, accountant, [("Bakkerij De Korenbloem", "info@korenbloem.example")])
    # What autovacuum does in production: table statistics, and the GIN indexes' own statistics
    # (which ANALYZE alone leaves at their build-time defaults, too pessimistic for the planner).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE authorisation_request")
    captured = captured_search_queries(engine)

    rows = authorisations.requests_page(session, actor=accountant, query=ListQuery(search="korenBLOEM")).rows

    assert [row.client_name for row in rows] == ["Bakkerij De Korenbloem"]
    assert len(captured) == 2  # the paged list: how many match, then the page itself
    for statement, parameters in captured:
        plan = plan_of(engine, statement, parameters)
        assert all(f"Bitmap Index Scan on {name}" in plan for name in SEARCH_INDEXES), plan
        assert "Seq Scan on authorisation_request" not in plan, plan


def test_search_finds_name_or_email_in_any_case_and_only_in_the_own_environment(
    engine: Engine, session: Session, accountant: User
) -> None:
    other_firm = Environment(name="Other Firm", plan=Plan.BASIC.value)
    session.add(other_firm)
    session.commit()
    add_requests(session, accountant, filler(300))
    add_requests(
        session,
        accountant,
        [
            ("Bakkerij De Korenbloem", "info@bakkerij.example"),
            ("Piet Jansen", "Piet.Korenbloem@Example.COM"),
            ("KORENBLOEM HOLDING", "holding@example.com"),
            ("Bloemenhandel Flora", "flora@example.com"),
        ],
    )
    add_requests(
        session, accountant, [("Korenbloem elsewhere", "x@other.example")], environment_id=other_firm.id
    )

    def search(term: str) -> list[str]:
        return [
            row.client_name for row in authorisations.requests_page(session, actor=accountant, query=ListQuery(search=term)).rows
        ]

    # Newest first; a match in the name or in the email; the other firm's request never.
    assert search("korenbloem") == ["KORENBLOEM HOLDING", "Piet Jansen", "Bakkerij De Korenbloem"]
    assert search("  KorenBloem ") == search("korenbloem")
    assert search("piet.korenbloem@example.com") == ["Piet Jansen"]
    assert search("FLORA") == ["Bloemenhandel Flora"]
    assert search("zz") == []


def test_like_wildcards_in_the_search_are_plain_characters(
    engine: Engine, session: Session, accountant: User
) -> None:
    add_requests(
        session,
        accountant,
        [
            ("100% Bio", "bio@example.com"),
            ("1000 Bio", "duizend@example.com"),
            ("A_B Trading", "ab@example.com"),
            ("AxB Trading", "axb@example.com"),
            ("Back\\slash", "bs@example.com"),
        ],
    )

    def search(term: str) -> list[str]:
        return [
            row.client_name for row in authorisations.requests_page(session, actor=accountant, query=ListQuery(search=term)).rows
        ]

    assert search("100%") == ["100% Bio"]
    assert search("a_b") == ["A_B Trading"]
    assert search("k\\s") == ["Back\\slash"]
    assert search("%") == ["100% Bio"]


def test_a_nul_character_in_the_search_is_ignored(engine: Engine, session: Session, accountant: User) -> None:
    """PostgreSQL refuses NUL in text; the search drops it instead of failing."""
    add_requests(session, accountant, [("Piet", "piet@example.com")])

    rows = authorisations.requests_page(session, actor=accountant, query=ListQuery(search="Pi\x00et")).rows

    assert [row.client_name for row in rows] == ["Piet"]
