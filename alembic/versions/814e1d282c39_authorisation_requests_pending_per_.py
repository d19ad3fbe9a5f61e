"""authorisation requests pending per email and organisation

A client email may have one Pending request per organisation (an owner with two companies gets two
requests): ``organisation_key`` (the organisation name in lower case, spaces collapsed) joins the
partial unique index. The upgrade fills the key of every existing request. The downgrade goes back
to one Pending request per email: of several, the newest stays Pending and the others are
Withdrawn (their links void), since the old index cannot hold them.

Revision ID: 814e1d282c39
Revises: b1f9631aac37
Create Date: 2026-12-01 22:58:19.624099

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

# revision identifiers, used by Alembic.
revision: str = '814e1d282c39'
down_revision: Union[str, Sequence[str], None] = 'b1f9631aac37'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _organisation_key(name: str) -> str:
    return " ".join(name.lower().split())


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ALTER TABLE / index statements: rebuilding the table in batch mode (SQLite) would drop
    # a table that the links of existing requests reference.
    op.add_column('authorisation_request', sa.Column('organisation_key', sqlmodel.sql.sqltypes.AutoString(length=200), server_default=sa.text("''"), nullable=False))
    op.drop_index('uq_authorisation_request_pending_email', table_name='authorisation_request')
    connection = op.get_bind()
    requests = sa.table("authorisation_request", sa.column("id", sa.Integer), sa.column("organisation_name"), sa.column("organisation_key"))
    for request_id, name in connection.execute(sa.select(requests.c.id, requests.c.organisation_name)).all():
        connection.execute(requests.update().where(requests.c.id == request_id).values(organisation_key=_organisation_key(name or "")))
    op.create_index('uq_authorisation_request_pending_email_organisation', 'authorisation_request', ['environment_id', 'client_email', 'organisation_key'], unique=True, sqlite_where=sa.text("status = 'Pending'"), postgresql_where=sa.text("status = 'Pending'"))



def downgrade() -> None:
    """Downgrade schema."""
    op.execute(
        """
        UPDATE authorisation_link SET voided_at = CURRENT_TIMESTAMP
        WHERE voided_at IS NULL AND request_id IN (
            SELECT older.id FROM authorisation_request AS older
            WHERE older.status = 'Pending' AND EXISTS (
                SELECT 1 FROM authorisation_request AS newer
                WHERE newer.status = 'Pending' AND newer.environment_id = older.environment_id
                  AND newer.client_email = older.client_email AND newer.id > older.id))
        """
    )
    op.execute(
        """
        UPDATE authorisation_request SET status = 'Withdrawn'
        WHERE status = 'Pending' AND EXISTS (
            SELECT 1 FROM authorisation_request AS newer
            WHERE newer.status = 'Pending' AND newer.environment_id = authorisation_request.environment_id
              AND newer.client_email = authorisation_request.client_email AND newer.id > authorisation_request.id)
        """
    )
    op.drop_index('uq_authorisation_request_pending_email_organisation', table_name='authorisation_request')
    op.create_index('uq_authorisation_request_pending_email', 'authorisation_request', ['environment_id', 'client_email'], unique=True, sqlite_where=sa.text("status = 'Pending'"), postgresql_where=sa.text("status = 'Pending'"))
    op.drop_column('authorisation_request', 'organisation_key')
