"""sync runs say while they write the school's data, so that a vendor's next sync starts
before any write still under way

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade():
    # In place on SQLite too (recreate='never'): copying the table would trip the foreign keys
    # that point at it.
    with op.batch_alter_table('sync_runs', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('writing_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            'ix_sync_runs_school_id_writing_since', ['school_id', 'writing_since'], unique=False
        )


def downgrade():
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_school_id_writing_since')
        batch_op.drop_column('writing_since')
