"""hardening: confirmed primary addresses, login attempts per client, outbox claims, named key sets with a grace period

Existing Active users keep working: their primary address counts as confirmed from when they
signed up (they have been using it); invited users confirm theirs by accepting the invitation.
An environment may hold several named key sets; the one it has is called "Default". Downgrading
keeps one key set per environment (its newest current one) and deletes the others, which the old
schema cannot hold.

Revision ID: 77a9b8626fc7
Revises: 814e1d282c39
Create Date: 2026-12-02 00:29:19.505857

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

# revision identifiers, used by Alembic.
revision: str = '77a9b8626fc7'
down_revision: Union[str, Sequence[str], None] = '814e1d282c39'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ALTER TABLE: rebuilding app_user in batch mode (SQLite) would drop a table that other
    # rows reference.
    op.add_column('app_user', sa.Column('email_confirmed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE app_user SET email_confirmed_at = created_at WHERE status = 'Active'")

    with op.batch_alter_table('key_set', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), server_default=sa.text("'Default'"), nullable=False))
        batch_op.add_column(sa.Column('previous_secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_valid_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('revoked_by_id', sa.Integer(), nullable=True))
        batch_op.drop_index(batch_op.f('ix_key_set_environment_id'))
        batch_op.create_index(batch_op.f('ix_key_set_environment_id'), ['environment_id'], unique=False)
        batch_op.create_index('uq_key_set_current_name', ['environment_id', 'name'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.create_foreign_key('fk_key_set_revoked_by_id_app_user', 'app_user', ['revoked_by_id'], ['id'])

    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_address', sqlmodel.sql.sqltypes.AutoString(length=64), server_default=sa.text("''"), nullable=False))
        batch_op.create_index(batch_op.f('ix_login_attempt_client_address'), ['client_address'], unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('claim_token')

    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_attempt_client_address'))
        batch_op.drop_column('client_address')

    op.execute(
        """
        DELETE FROM key_set WHERE id NOT IN (
            SELECT max(id) FROM key_set WHERE revoked_at IS NULL GROUP BY environment_id)
        """
    )
    with op.batch_alter_table('key_set', schema=None) as batch_op:
        batch_op.drop_constraint('fk_key_set_revoked_by_id_app_user', type_='foreignkey')
        batch_op.drop_index('uq_key_set_current_name', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_key_set_environment_id'))
        batch_op.create_index(batch_op.f('ix_key_set_environment_id'), ['environment_id'], unique=True)
        batch_op.drop_column('revoked_by_id')
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('previous_secret_valid_until')
        batch_op.drop_column('previous_secret_hash')
        batch_op.drop_column('name')

    op.drop_column('app_user', 'email_confirmed_at')
