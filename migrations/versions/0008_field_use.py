"""field use per day: each application's reads of each field of a school's data, per UTC day,
counted from the data:read events already in the audit log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:40:00.000000

"""

import datetime as dt
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

WHOLE_READ = "*"
BATCH = 5000


def upgrade():
    field_use_days = op.create_table(
        "field_use_days",
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("field", sa.String(length=120), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"]),
        sa.ForeignKeyConstraint(["school_id"], ["schools.id"]),
        sa.PrimaryKeyConstraint("school_id", "application_id", "day", "field"),
    )
    op.create_index(
        "ix_field_use_days_school_id_field_day",
        "field_use_days",
        ["school_id", "field", "day"],
        unique=False,
    )
    _count_the_reads_already_logged(field_use_days)


def _count_the_reads_already_logged(field_use_days):
    """The dashboard reads only the rollup: fill it from the log, as record_use would have."""
    events = sa.table(
        "audit_events",
        sa.column("id", sa.Integer()),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("action", sa.String()),
        sa.column("school_id", sa.Integer()),
        sa.column("application_id", sa.Integer()),
        sa.column("detail", sa.JSON()),
    )
    connection = op.get_bind()
    totals = defaultdict(lambda: [0, 0, None])
    last_id = 0
    while True:
        batch = connection.execute(
            sa.select(events)
            .where(
                events.c.action == "data:read",
                events.c.school_id.is_not(None),
                events.c.application_id.is_not(None),
                events.c.id > last_id,
            )
            .order_by(events.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            break
        last_id = batch[-1].id
        for event in batch:
            moment = event.occurred_at
            moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
            moment = moment.astimezone(dt.UTC)
            detail = event.detail or {}
            if detail.get("read_fields") is not None:
                fields = set(detail["read_fields"])
            else:
                entity = detail.get("entity", "")
                fields = {f"{entity}.{name}" for name in detail.get("fields", ())}
            for key in {WHOLE_READ, *fields}:
                total = totals[(event.school_id, event.application_id, moment.date(), key)]
                total[0] += 1
                total[1] += int(detail.get("rows", 0))
                total[2] = moment if total[2] is None else max(total[2], moment)
    rows = [
        {
            "school_id": school_id,
            "application_id": application_id,
            "day": day,
            "field": key,
            "requests": requests,
            "rows": count,
            "last_read_at": last,
        }
        for (school_id, application_id, day, key), (requests, count, last) in totals.items()
    ]
    for start in range(0, len(rows), BATCH):
        op.bulk_insert(field_use_days, rows[start : start + BATCH])


def downgrade():
    op.drop_index("ix_field_use_days_school_id_field_day", table_name="field_use_days")
    op.drop_table("field_use_days")
