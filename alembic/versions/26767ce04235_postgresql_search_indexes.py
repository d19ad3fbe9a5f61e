"""postgresql search indexes

Trigram indexes for the authorisation-request search (client name or email contains the typed
text, case-insensitively; ``authorisations.list_requests``). A B-tree index cannot serve
``LIKE '%term%'``; a GIN index with ``gin_trgm_ops`` on ``lower(column)`` serves the query's
``lower(column) LIKE lower('%term%')``.

PostgreSQL only: on any other database (SQLite in development and the default test run) this
revision changes nothing, as SQLite has no such index type and its tables stay small. The models
do not declare these indexes, so the migration tests leave them out of the model/migration
comparison (``POSTGRESQL_ONLY_INDEXES`` in tests/integration/test_migrations.py).

``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database owner may create it without
being a superuser. The downgrade drops the indexes but keeps the extension, which may have been
there before and may serve other objects.

Revision ID: 26767ce04235
Revises: 8da57effc8bd
Create Date: 2026-11-22 07:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = '26767ce04235'
down_revision: Union[str, Sequence[str], None] = '8da57effc8bd'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLE = "authorisation_request"
# index name -> indexed column
SEARCH_INDEXES: dict[str, str] = {
    "ix_authorisation_request_client_name_trgm": "client_name",
    "ix_authorisation_request_client_email_trgm": "client_email",
}


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    """Upgrade schema."""
    if not _is_postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in SEARCH_INDEXES.items():
        op.create_index(
            name,
            TABLE,
            [sa.text(f"lower({column}) gin_trgm_ops")],
            unique=False,
            postgresql_using="gin",
        )


def downgrade() -> None:
    """Downgrade schema."""
    if not _is_postgresql():
        return
    for name in SEARCH_INDEXES:
        op.drop_index(name, table_name=TABLE)
