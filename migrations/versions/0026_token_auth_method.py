"""tokens keep how their member proved who they are (a school admin's sign-in lasts only with
their second factor behind it)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    # In place on SQLite too (recreate='never'): copying the table would trip the foreign keys
    # that point at it.
    with op.batch_alter_table('tokens', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('auth_method', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_column('auth_method')
