"""audit log append-only: on PostgreSQL a trigger refuses UPDATE and DELETE on audit_events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 09:00:00.000000

"""

from alembic import op

from authserver.models.audit import (
    APPEND_ONLY_FUNCTION,
    APPEND_ONLY_TRIGGER,
    DROP_APPEND_ONLY_FUNCTION,
    DROP_APPEND_ONLY_TRIGGER,
)


# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    # SQLite has no statement-level triggers; there the ORM's refusal is the guard.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(APPEND_ONLY_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(DROP_APPEND_ONLY_TRIGGER)
    op.execute(DROP_APPEND_ONLY_FUNCTION)
