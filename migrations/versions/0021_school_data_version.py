"""school data version: raised by every ingest, so a plan made before another ingest wrote is
made again

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 09:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('school_syncs', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('data_version', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('school_syncs', schema=None) as batch_op:
        batch_op.drop_column('data_version')
