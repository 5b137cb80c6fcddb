"""The append-only audit log: who did what to which school's data, and when.

Rows are only ever inserted. The ORM refuses to change or delete one (flush and bulk
statements alike), and on PostgreSQL a trigger refuses UPDATE and DELETE on the table itself,
so neither the application nor a stray SQL statement through its connection can rewrite history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from authserver.extensions import db
from authserver.models import unchangeable
from authserver.models.columns import UTCDateTime, utcnow

AUDIT_TABLE = "audit_events"

# PostgreSQL's guard, one definition for the migration (0006) and for `create_all`. SQLSTATE
# 42501 (insufficient_privilege) is what a role without UPDATE or DELETE rights gets too.
# No `%` or `:name` here: the text goes through both DDL() and op.execute().
APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'insufficient_privilege',
        MESSAGE = 'audit events are append-only; ' || TG_OP || ' refused';
END;
$$
"""
# Statement-level, so an UPDATE or DELETE is refused even when it matches no row. TRUNCATE
# does not fire it; it needs the table owner's rights, which the application's role should lack.
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_events_append_only
BEFORE UPDATE OR DELETE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()
"""
DROP_APPEND_ONLY_TRIGGER = "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events"
DROP_APPEND_ONLY_FUNCTION = "DROP FUNCTION IF EXISTS audit_events_refuse_change()"


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


class AuditEvent(db.Model):
    """One recorded action; rows are only ever inserted."""

    __tablename__ = AUDIT_TABLE
    __table_args__ = (Index("ix_audit_events_school_id_occurred_at", "school_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(64), index=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id"), index=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who acted, in words: a person's email, or "application <client_id>".
    actor: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


@event.listens_for(AuditEvent, "before_update")
@event.listens_for(AuditEvent, "before_delete")
def _refuse_flushed_change(mapper: Mapper[Any], connection: object, target: AuditEvent) -> None:
    raise AuditLogIsAppendOnly(f"audit event {target.id} cannot be changed or deleted")


# Bulk statements (`update(AuditEvent)`, `query.delete()`) bypass the flush events above.
unchangeable.guard(
    AuditEvent.__table__,  # type: ignore[arg-type]
    lambda: AuditLogIsAppendOnly("audit events cannot be changed or deleted"),
    APPEND_ONLY_FUNCTION,
    APPEND_ONLY_TRIGGER,
)
