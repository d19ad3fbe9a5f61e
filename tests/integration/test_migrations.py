"""The committed migrations build the schema the models describe, both ways.

Each test runs on a new, empty SQLite file and, when ``ECONNECT_TEST_DB_URL`` is set, also on a
new, empty PostgreSQL database (the ``postgresql`` cases skip without it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import URL, Engine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import UTCDateTime

import econnect_app.models  # noqa: F401  (registers the tables)
from alembic import command
from econnect_app.db import make_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Indexes the migrations create on PostgreSQL only and the models do not declare: the GIN trigram
# indexes that serve the authorisation-request search (revision 26767ce04235, "postgresql search
# indexes"). The model/migration comparison leaves out exactly these; anything else must agree.
SEARCH_INDEXES_REVISION = "26767ce04235"
POSTGRESQL_ONLY_INDEXES: dict[str, frozenset[str]] = {
    "authorisation_request": frozenset(
        {
            "ix_authorisation_request_client_name_trgm",
            "ix_authorisation_request_client_email_trgm",
            "ix_authorisation_request_organisation_name_trgm",
        }
    ),
}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: compare everything except the PostgreSQL-only indexes."""
    if type_ == "index" and reflected and compare_to is None:
        return name not in POSTGRESQL_ONLY_INDEXES.get(obj.table.name, frozenset())
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new, empty database: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
    else:
        # A new PostgreSQL database per test (skips when ECONNECT_TEST_DB_URL is not set).
        make_database: Callable[[], URL] = request.getfixturevalue("new_postgres_database")
        engine = make_engine(make_database().render_as_string(hide_password=False), pooled=False)
    yield engine
    engine.dispose()


@pytest.fixture()
def alembic_config(empty_engine: Engine) -> Config:
    """The repository's alembic.ini, pointed at the empty database."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["db_url"] = empty_engine.url.render_as_string(hide_password=False)
    config.attributes["configure_logger"] = False  # keep pytest's logging as it is
    return config


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _head(config: Config) -> str:
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "alembic/versions holds no migration"
    return head


def _app_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_a_fresh_database_migrates_to_head_with_every_table(
    alembic_config: Config, empty_engine: Engine
) -> None:
    assert _app_tables(empty_engine) == set()

    command.upgrade(alembic_config, "head")

    assert _current_revision(empty_engine) == _head(alembic_config)
    assert _app_tables(empty_engine) == set(SQLModel.metadata.tables)


def test_models_and_migrations_agree(alembic_config: Config, empty_engine: Engine) -> None:
    """No pending autogenerate diff: `reflex db makemigrations` would find nothing to write.

    Apart from ``POSTGRESQL_ONLY_INDEXES`` (left out by ``include_object``). Reflex's autogenerate
    has no such hook, so run ``makemigrations`` against SQLite (the default database): against
    PostgreSQL it would propose dropping the search indexes.
    """
    command.upgrade(alembic_config, "head")

    with empty_engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": True, "include_object": include_object},
        )
        differences = compare_metadata(context, SQLModel.metadata)

    assert differences == [], (
        "The models differ from the migrations; generate a migration with "
        "`make makemigrations MESSAGE='...'` and review it. Differences:\n"
        + "\n".join(map(repr, differences))
    )


def test_downgrade_to_base_and_upgrade_again(alembic_config: Config, empty_engine: Engine) -> None:
    command.upgrade(alembic_config, "head")

    command.downgrade(alembic_config, "base")
    assert _current_revision(empty_engine) is None
    assert _app_tables(empty_engine) == set()

    command.upgrade(alembic_config, "head")
    assert _current_revision(empty_engine) == _head(alembic_config)
    assert _app_tables(empty_engine) == set(SQLModel.metadata.tables)


def _indexes(engine: Engine, table: str) -> set[str]:
    return {index["name"] for index in inspect(engine).get_indexes(table) if index["name"]}


def test_only_postgresql_gets_the_search_indexes_and_they_go_on_downgrade(
    alembic_config: Config, empty_engine: Engine
) -> None:
    """The comparison above leaves out exactly the indexes the migrations make on PostgreSQL only."""
    command.upgrade(alembic_config, "head")
    on_postgresql = empty_engine.dialect.name == "postgresql"
    for table, names in POSTGRESQL_ONLY_INDEXES.items():
        declared = {index.name for index in SQLModel.metadata.tables[table].indexes}
        assert not names & declared, "a PostgreSQL-only index is now declared in the models"
        present = names & _indexes(empty_engine, table)
        assert present == (names if on_postgresql else set())

    before = ScriptDirectory.from_config(alembic_config).get_revision(SEARCH_INDEXES_REVISION).down_revision
    command.downgrade(alembic_config, str(before))
    for table, names in POSTGRESQL_ONLY_INDEXES.items():
        assert not names & _indexes(empty_engine, table)


NOTIFICATION_READ_REVISION = "a16c77c3cd87"


def test_notifications_read_before_stay_read_for_the_users_they_were_for(
    alembic_config: Config, empty_engine: Engine
) -> None:
    """Revision a16c77c3cd87 moves ``notification.read_at`` into a per-user ``notification_read``."""
    command.upgrade(alembic_config, SEARCH_INDEXES_REVISION)
    now = datetime.now(UTC)
    environment = sa.table(
        "environment", *(sa.column(c) for c in ("id", "name", "plan")), sa.column("created_at", UTCDateTime())
    )
    user = sa.table(
        "app_user",
        *(
            sa.column(c)
            for c in ("id", "environment_id", "name", "email", "role", "is_relationship_manager", "status")
        ),
        sa.column("created_at", UTCDateTime()),
    )
    notification = sa.table(
        "notification",
        *(sa.column(c) for c in ("id", "environment_id", "user_id", "kind", "message", "link")),
        sa.column("created_at", UTCDateTime()),
        sa.column("read_at", UTCDateTime()),
    )
    with empty_engine.begin() as connection:
        connection.execute(
            environment.insert(),
            [
                {"id": 1, "name": "Firm", "plan": "Basic", "created_at": now},
                {"id": 2, "name": "Other", "plan": "Basic", "created_at": now},
            ],
        )
        connection.execute(
            user.insert(),
            [
                {
                    "id": uid,
                    "environment_id": env,
                    "name": name,
                    "email": f"{name}@example.test",
                    "role": "User",
                    "is_relationship_manager": False,
                    "status": "Active",
                    "created_at": now,
                }
                for uid, env, name in ((1, 1, "ada"), (2, 1, "bob"), (3, 2, "cas"))
            ],
        )
        connection.execute(
            notification.insert(),
            [
                {
                    "id": nid,
                    "environment_id": 1,
                    "user_id": for_user,
                    "kind": "test",
                    "message": message,
                    "link": "",
                    "created_at": now,
                    "read_at": read_at,
                }
                for nid, for_user, message, read_at in (
                    (1, None, "shared, read", now),
                    (2, 1, "Ada's, read", now),
                    (3, None, "shared, unread", None),
                )
            ],
        )

    command.upgrade(alembic_config, NOTIFICATION_READ_REVISION)
    with empty_engine.connect() as connection:
        reads = set(connection.execute(sa.text("SELECT notification_id, user_id FROM notification_read")))
    assert reads == {(1, 1), (1, 2), (2, 1)}  # never Cas (another environment), never the unread one

    command.downgrade(alembic_config, SEARCH_INDEXES_REVISION)
    with empty_engine.connect() as connection:
        read = dict(connection.execute(sa.select(notification.c.id, notification.c.read_at)).all())
    assert read[1] is not None and read[2] is not None and read[3] is None


MEMBERSHIP_HISTORY_REVISION = "d595530f91a4"
FIND_PARTNERS_REVISION = "b1f9631aac37"
REQUEST_PER_ORGANISATION_REVISION = "814e1d282c39"


def _insert_firm_client_and_user(connection: sa.Connection, now: datetime) -> None:
    environment = sa.table(
        "environment", *(sa.column(c) for c in ("id", "name", "plan")), sa.column("created_at", UTCDateTime())
    )
    user = sa.table(
        "app_user",
        *(sa.column(c) for c in ("id", "environment_id", "name", "email", "role", "is_relationship_manager", "status")),
        sa.column("created_at", UTCDateTime()),
    )
    connection.execute(environment.insert(), [{"id": 1, "name": "Firm", "plan": "Basic", "created_at": now}])
    connection.execute(
        user.insert(),
        [
            {
                "id": 1,
                "environment_id": 1,
                "name": "Ada",
                "email": "ada@example.test",
                "role": "Administrator",
                "is_relationship_manager": False,
                "status": "Active",
                "created_at": now,
            }
        ],
    )


def test_existing_memberships_stay_active_and_ended_ones_go_on_downgrade(
    alembic_config: Config, empty_engine: Engine
) -> None:
    """Revision d595530f91a4: memberships get a status; history cannot go back down."""
    command.upgrade(alembic_config, NOTIFICATION_READ_REVISION)
    now = datetime.now(UTC)
    organisation = sa.table(
        "organisation",
        *(sa.column(c) for c in ("id", "environment_id", "name", "kvk_number", "street", "postal_code", "city")),
        *(sa.column(c) for c in ("country", "identifier", "receive_e_invoices")),
        sa.column("created_at", UTCDateTime()),
    )
    membership = sa.table(
        "membership",
        *(sa.column(c) for c in ("id", "organisation_id", "user_id", "role")),
        sa.column("created_at", UTCDateTime()),
    )
    with empty_engine.begin() as connection:
        _insert_firm_client_and_user(connection, now)
        connection.execute(
            organisation.insert(),
            [
                {
                    "id": 1,
                    "environment_id": 1,
                    "name": "Bakery",
                    "kvk_number": "12345678",
                    "street": "",
                    "postal_code": "",
                    "city": "",
                    "country": "NL",
                    "identifier": "org-1",
                    "receive_e_invoices": False,
                    "created_at": now,
                }
            ],
        )
        connection.execute(
            membership.insert(), [{"id": 1, "organisation_id": 1, "user_id": 1, "role": "Administrator", "created_at": now}]
        )

    command.upgrade(alembic_config, MEMBERSHIP_HISTORY_REVISION)
    with empty_engine.begin() as connection:
        assert connection.execute(sa.text("SELECT status FROM membership")).scalar_one() == "Active"
        assert connection.execute(sa.text("SELECT findable FROM organisation")).scalar_one() in (True, 1)
        connection.execute(sa.text("UPDATE membership SET status = 'Ended'"))
        connection.execute(
            sa.text(
                "INSERT INTO membership (id, organisation_id, user_id, role, status, created_at) "
                "VALUES (2, 1, 1, 'Member', 'Active', :now)"
            ),
            {"now": now.isoformat()},
        )
    command.downgrade(alembic_config, NOTIFICATION_READ_REVISION)
    with empty_engine.connect() as connection:
        assert connection.execute(sa.text("SELECT id FROM membership")).scalars().all() == [2]


def test_pending_requests_get_their_organisation_key_and_one_per_email_on_downgrade(
    alembic_config: Config, empty_engine: Engine
) -> None:
    """Revision 814e1d282c39: one Pending request per email and organisation."""
    command.upgrade(alembic_config, FIND_PARTNERS_REVISION)
    now = datetime.now(UTC)
    package = sa.table("software_package", *(sa.column(c) for c in ("id", "slug", "name", "instructions", "sort_order")))
    request = sa.table(
        "authorisation_request",
        *(sa.column(c) for c in ("id", "environment_id", "requested_by_id", "client_name", "client_email")),
        *(sa.column(c) for c in ("organisation_name", "software_package_id", "status", "send_count")),
        *(sa.column(c, UTCDateTime()) for c in ("expires_at", "created_at", "last_sent_at")),
    )
    with empty_engine.begin() as connection:
        _insert_firm_client_and_user(connection, now)
        connection.execute(
            package.insert(), [{"id": 99, "slug": "x", "name": "X", "instructions": "", "sort_order": 0}]
        )
        connection.execute(
            request.insert(),
            [
                {
                    "id": 1,
                    "environment_id": 1,
                    "requested_by_id": 1,
                    "client_name": "Piet",
                    "client_email": "piet@example.test",
                    "organisation_name": "  Bakkerij   Piet BV ",
                    "software_package_id": 99,
                    "status": "Pending",
                    "send_count": 1,
                    "expires_at": now,
                    "created_at": now,
                    "last_sent_at": now,
                }
            ],
        )

    command.upgrade(alembic_config, REQUEST_PER_ORGANISATION_REVISION)
    with empty_engine.begin() as connection:
        assert connection.execute(sa.text("SELECT organisation_key FROM authorisation_request")).scalar_one() == (
            "bakkerij piet bv"
        )
        connection.execute(
            request.insert(),
            [
                {
                    "id": 2,
                    "environment_id": 1,
                    "requested_by_id": 1,
                    "client_name": "Piet",
                    "client_email": "piet@example.test",
                    "organisation_name": "Piet Catering BV",
                    "software_package_id": 99,
                    "status": "Pending",
                    "send_count": 1,
                    "expires_at": now,
                    "created_at": now,
                    "last_sent_at": now,
                }
            ],
        )
        connection.execute(
            sa.text(
                "INSERT INTO authorisation_link (id, request_id, token_hash, created_at) "
                "VALUES (1, 1, 'hash-1', :now), (2, 2, 'hash-2', :now)"
            ),
            {"now": now.isoformat()},
        )
    command.downgrade(alembic_config, FIND_PARTNERS_REVISION)
    with empty_engine.connect() as connection:
        statuses = dict(connection.execute(sa.text("SELECT id, status FROM authorisation_request")).all())
        voided = dict(connection.execute(sa.text("SELECT id, voided_at IS NOT NULL FROM authorisation_link")).all())
    assert statuses == {1: "Withdrawn", 2: "Pending"}
    assert voided == {1: True, 2: False}
