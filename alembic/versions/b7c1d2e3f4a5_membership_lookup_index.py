"""membership lookup index: (organisation_id, user_id, status)

Revision ID: b7c1d2e3f4a5
Revises: 5a47b43000df
Create Date: 2026-12-02 15:52:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = 'b7c1d2e3f4a5'
down_revision: Union[str, Sequence[str], None] = '5a47b43000df'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.create_index(
            'ix_membership_organisation_user_status', ['organisation_id', 'user_id', 'status'], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('membership', schema=None) as batch_op:
        batch_op.drop_index('ix_membership_organisation_user_status')
