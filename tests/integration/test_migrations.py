"""The committed migrations build the schema the models describe, both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import econnect_app.models  # noqa: F401  (registers the tables)
from alembic import command
from econnect_app.db import make_engine

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def empty_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new, empty SQLite file."""
    engine = make_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
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


def test_a_fresh_database_migrates_to_head_with_every_table(alembic_config: Config, empty_engine: Engine) -> None:
    assert _app_tables(empty_engine) == set()

    command.upgrade(alembic_config, "head")

    assert _current_revision(empty_engine) == _head(alembic_config)
    assert _app_tables(empty_engine) == set(SQLModel.metadata.tables)


def test_models_and_migrations_agree(alembic_config: Config, empty_engine: Engine) -> None:
    """No pending autogenerate diff: `reflex db makemigrations` would find nothing to write."""
    command.upgrade(alembic_config, "head")

    with empty_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
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
