"""find partners search index

The search keys behind Find partners (``services/find_partners.py``): ``organisation_search`` (one
row per activated, findable organisation: name key, city key, KvK number) and
``organisation_search_term`` (the name from each later word on, the city from each word on). Keys
are ``COLLATE "C"`` on PostgreSQL so prefix ranges use the B-tree indexes; the term table is
``WITHOUT ROWID`` on SQLite (clustered by organisation), with a lookup index that holds every
column a prefix range needs.

The upgrade fills both tables for the organisations already in the database, with the service's
own ``rebuild_search_index`` (the keys are computed in Python, the same way the app keeps them up
to date). The downgrade drops them: they hold nothing but derived data.

Revision ID: b1f9631aac37
Revises: d595530f91a4
Create Date: 2026-12-02 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

# revision identifiers, used by Alembic.
revision: str = 'b1f9631aac37'
down_revision: Union[str, Sequence[str], None] = 'd595530f91a4'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _key(length: int) -> sa.types.TypeEngine:
    return sa.String(length=length).with_variant(sa.String(length=length, collation="C"), "postgresql")


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('organisation_search',
    sa.Column('organisation_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('name_key', _key(400), nullable=False),
    sa.Column('city_key', _key(200), nullable=False),
    sa.Column('kvk_number', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organisation_id')
    )
    with op.batch_alter_table('organisation_search', schema=None) as batch_op:
        batch_op.create_index('ix_organisation_search_name_order', ['name_key', 'organisation_id', 'environment_id', 'city_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_organisation_search_kvk_number'), ['kvk_number'], unique=False)

    op.create_table('organisation_search_term',
    sa.Column('organisation_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('term', _key(100), nullable=False),
    sa.Column('environment_id', sa.Integer(), nullable=False),
    sa.Column('name_key', _key(400), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation_search.organisation_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organisation_id', 'source', 'term'),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('organisation_search_term', schema=None) as batch_op:
        batch_op.create_index('ix_organisation_search_term_lookup', ['source', 'term', 'name_key', 'organisation_id', 'environment_id'], unique=False)

    from econnect_app.services.find_partners import rebuild_search_index

    rebuild_search_index(op.get_bind())


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('organisation_search_term', schema=None) as batch_op:
        batch_op.drop_index('ix_organisation_search_term_lookup')

    op.drop_table('organisation_search_term')
    with op.batch_alter_table('organisation_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_organisation_search_kvk_number'))
        batch_op.drop_index('ix_organisation_search_name_order')

    op.drop_table('organisation_search')
