"""Tables whose rows are written once (the audit log, consent receipts): bulk UPDATE and
DELETE refused in the ORM, and on PostgreSQL a trigger that refuses them in the database too."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import DDL, Table, event
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.dml import Delete, Update

#: Each guarded table's name, and the error a bulk change to it raises.
_GUARDED: dict[str, Callable[[], Exception]] = {}


def guard(table: Table, refusal: Callable[[], Exception], *postgresql_ddl: str) -> None:
    """Refuse bulk statements on `table` (flush events cannot see them) with `refusal()`, and
    run `postgresql_ddl` (its trigger) whenever the table is built without migrations (the
    suite, `db.create_all()`)."""
    _GUARDED[table.name] = refusal
    for statement in postgresql_ddl:
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state: ORMExecuteState) -> None:
    # One listener for every guarded table: it runs on each ORM statement.
    statement = state.statement
    if isinstance(statement, Update | Delete):
        refusal = _GUARDED.get(statement.table.name)
        if refusal is not None:
            raise refusal()
