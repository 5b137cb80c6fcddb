"""What every MIS row shares, and deletion that leaves a tombstone for incremental syncs."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    delete,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow

#: Columns that belong to the record's bookkeeping rather than to the school's data.
BOOKKEEPING_COLUMNS = frozenset({"id", "school_id", "updated_at", "mis_id", "writeback_item_id"})


class MisRecord:
    """Mixin for a row of a school's MIS data: its school and when it last changed."""

    #: The singular snake_case entity name used by the catalogue and the resource API.
    __entity__: ClassVar[str]
    #: For rows that point at a person of several kinds (photos): the type and id columns.
    __owner_columns__: ClassVar[tuple[str, str] | None] = None
    #: Extra composite indexes, each a tuple of column names.
    __composite_indexes__: ClassVar[tuple[tuple[str, ...], ...]] = ()
    # Column sets that identify a row in the MIS (enforced, so concurrent writes cannot double).
    __unique_keys__: ClassVar[tuple[tuple[str, ...], ...]] = ()

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The MIS's own key for the record (a pupil's is their UPN), by which a connector or an
    # imported file names it; empty for records that no MIS has named (written, or demo).
    mis_id: Mapped[str | None] = mapped_column(String(64))

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        # Incremental syncs ask for one school's rows changed since a moment.
        columns = [("school_id", "updated_at"), *cls.__composite_indexes__]
        indexes = tuple(
            Index(f"ix_{cls.__tablename__}_{'_'.join(names)}", *names) for names in columns
        )
        # Ingest finds a record by its MIS key; two records of a school cannot share one.
        keyed = Index(
            f"uq_{cls.__tablename__}_school_id_mis_id", "school_id", "mis_id", unique=True
        )
        return (*indexes, keyed, *(UniqueConstraint(*names) for names in cls.__unique_keys__))


#: Why a record has a tombstone: it was deleted, or it was moved off the person who owned it
#: (a link cleared), so it left the view of whoever could see it only through them.
DELETED = "deleted"
MOVED = "moved"


class Tombstone(db.Model):
    """A record that was deleted (or moved off its owner), kept so that incremental syncs learn
    of it; the owner at that moment decides which grants are told (see owners.py)."""

    __tablename__ = "mis_tombstones"
    __table_args__ = (Index("ix_mis_tombstones_school_id_deleted_at", "school_id", "deleted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    entity: Mapped[str] = mapped_column(String(50))
    record_id: Mapped[int]
    deleted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The pupil, contact or member of staff the record belonged to (none: about no one).
    owner_type: Mapped[str | None] = mapped_column(String(10))
    owner_id: Mapped[int | None]
    reason: Mapped[str] = mapped_column(String(10), default=DELETED, server_default=DELETED)

    def __repr__(self) -> str:
        return f"<Tombstone {self.entity} {self.record_id}>"


def mis_models() -> list[type[MisRecord]]:
    """Every mapped MIS model class, sorted by entity name."""
    models = [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, MisRecord)]
    return sorted(models, key=lambda model: model.__entity__)


def delete_record(session: Session, record: MisRecord) -> None:
    """Delete an MIS row and leave a tombstone, in the caller's session (the caller commits).

    Rows that must point at the record (a NOT NULL foreign key, or a photo of the person)
    are deleted with their own tombstones; rows that may point at it have the link cleared,
    which bumps their `updated_at` so that syncs see the change.
    """
    if not isinstance(record, MisRecord):
        raise TypeError(f"{type(record).__name__} is not an MIS record")
    model = type(record)
    [(_, owner_type, owner_id)] = _owners(
        session, model, [inspect(model).local_table.c.id == record.id]
    )
    _delete_dependants(session, model, record.school_id, [record.id])
    session.add(
        Tombstone(
            school_id=record.school_id,
            entity=record.__entity__,
            record_id=record.id,
            deleted_at=utcnow(),
            owner_type=owner_type,
            owner_id=owner_id,
        )
    )
    session.delete(record)


def _owners(
    session: Session, model: type[MisRecord], match: list[Any]
) -> list[tuple[int, str | None, int | None]]:
    """The ids of the rows matching the criteria, each with its owner's kind and id."""
    from authserver.models.mis.owners import owner_of

    table = inspect(model).local_table
    owner = owner_of(model)
    if owner is None:
        return [(i, None, None) for i in session.scalars(select(table.c.id).where(*match))]
    query = select(table.c.id, owner.kind, owner.person_id).where(*match)
    return [(i, kind, person) for i, kind, person in session.execute(query)]


def _delete_dependants(
    session: Session, model: type[MisRecord], school_id: int, ids: list[int]
) -> None:
    """Delete or unlink, depth first, the rows of any MIS table that refer to these ids."""
    table = inspect(model).local_table
    for child in mis_models():
        child_table = inspect(child).local_table
        for column in child_table.columns:
            if not any(fk.column.table is table for fk in column.foreign_keys):
                continue
            match = [child_table.c.school_id == school_id, column.in_(ids)]
            if column.nullable:
                if column.key == "student_id":  # the row's owner (see owners.py)
                    _moved_off(session, child, school_id, match)
                session.execute(update(child).where(*match).values({column.key: None}))
            else:
                delete_rows(session, child, school_id, match)
        if child.__owner_columns__ is not None:
            type_column, id_column = (child_table.c[name] for name in child.__owner_columns__)
            match = [
                child_table.c.school_id == school_id,
                type_column == model.__entity__,
                id_column.in_(ids),
            ]
            delete_rows(session, child, school_id, match)


def delete_rows(session: Session, model: type[MisRecord], school_id: int, match: list[Any]) -> None:
    """Delete the school's rows matching the criteria, their own dependants first, each with a
    tombstone (the caller commits)."""
    table = inspect(model).local_table
    rows = _owners(session, model, match)
    if not rows:
        return
    ids = [i for i, _, _ in rows]
    _delete_dependants(session, model, school_id, ids)
    now = utcnow()
    session.add_all(
        Tombstone(
            school_id=school_id,
            entity=model.__entity__,
            record_id=i,
            deleted_at=now,
            owner_type=owner_type,
            owner_id=owner_id,
        )
        for i, owner_type, owner_id in rows
    )
    session.execute(delete(model).where(table.c.id.in_(ids)))


def _moved_off(session: Session, model: type[MisRecord], school_id: int, match: list[Any]) -> None:
    """Before a link is cleared: where it named the row's owner, the row leaves that owner (a
    grant that saw it only through them must drop it; others see it again by `updated_at`)."""
    now = utcnow()
    session.add_all(
        Tombstone(
            school_id=school_id,
            entity=model.__entity__,
            record_id=i,
            deleted_at=now,
            owner_type=owner_type,
            owner_id=owner_id,
            reason=MOVED,
        )
        for i, owner_type, owner_id in _owners(session, model, match)
        if owner_type is not None
    )


#: The columns that say whose a record is (see owners.py): changing one moves the record.
OWNER_COLUMNS = ("student_id", "staff_id", "person_type", "person_id", "account_id")


@event.listens_for(Session, "before_flush")
def _tombstone_moved_records(session: Session, _context: Any, _instances: Any) -> None:
    """A record given to another owner (a mark corrected onto the right pupil) leaves its old
    owner's view: grants that saw it only through them are told, as for a cleared link."""
    from authserver.models.mis.owners import owner_of

    for record in list(session.dirty):
        if not isinstance(record, MisRecord) or owner_of(type(record)) is None:
            continue
        state = inspect(record)
        before: dict[str, Any] = {}
        for name in OWNER_COLUMNS:
            if name not in state.attrs:
                continue
            history = state.attrs[name].history
            if history.has_changes() and history.deleted:
                before[name] = history.deleted[0]
        if not before:
            continue
        owner_type, owner_id = _owner_before(record, before)
        if owner_type is None:
            continue
        session.add(
            Tombstone(
                school_id=record.school_id,
                entity=record.__entity__,
                record_id=record.id,
                deleted_at=utcnow(),
                owner_type=owner_type,
                owner_id=owner_id,
                reason=MOVED,
            )
        )


def _owner_before(record: MisRecord, before: dict[str, Any]) -> tuple[str | None, int | None]:
    """The record's owner as it was before the changes in `before` (column: old value), or
    (None, None) when no change touched the column that names its owner."""
    from authserver.models.mis.catering import CashlessAccount, CashlessTransaction
    from authserver.models.mis.owners import NO_PUPIL, owner_of

    owner = owner_of(type(record))
    if owner is None:
        return None, None

    def old(name: str) -> Any:
        return before.get(name, getattr(record, name))

    if owner.fixed_kind is None:  # photos: the row names its person
        if "person_type" in before or "person_id" in before:
            return old("person_type"), old("person_id")
    elif isinstance(record, CashlessTransaction):
        if "account_id" in before:
            session = inspect(record).session
            account = session.get(CashlessAccount, old("account_id")) if session else None
            return ("student", account.student_id) if account is not None else (None, None)
    elif owner.fixed_kind == "student" and "student_id" in before:
        value = old("student_id")
        return "student", NO_PUPIL if value is None else value
    elif owner.fixed_kind == "staff" and "staff_id" in before:
        return "staff", old("staff_id")
    return None, None
