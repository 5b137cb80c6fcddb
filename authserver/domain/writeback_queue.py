"""The writeback queue: vendors' writes waiting for the school's MIS, and their settling.

`queue` records a write (one `Writeback`, an item per record) in the write's own transaction
and points each written row at its item. The school's connector pulls its school's queued
items (`pull`, oldest first) and settles each (`settle`): applied, optionally with the MIS's
key for the record, or rejected with a reason. A rejected create takes its record out of the
view with a tombstone; a rejected update puts the old values back; a rejected delete leaves
the record. When a write's last item settles, the application hears `writeback.settled`.

Until then a written record is pending: `markers` gives the read API its marker, and
`pending_rows` the ingest the rows a full snapshot from the MIS must not remove yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from authserver.domain import audit, webhook_outbox, writeback
from authserver.domain.audit import AuditAction
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.mis import ENTITIES, delete_record
from authserver.models.mis.base import MisRecord
from authserver.models.organisations import School
from authserver.models.writebacks import Writeback, WritebackItem, WritebackOp, WritebackState

#: The most items one page of the connector's queue holds.
MAX_PAGE = 500
#: What a rejection says of the later changes of a record whose creation the MIS refused.
NEVER_CREATED = (
    "The record this changes was refused by the MIS (item {item}), so it was never made."
)


class AlreadySettled(Exception):
    """The item was settled already, the other way (or with another key or reason)."""


def queue(
    session: Session,
    *,
    application: Application,
    school_id: int,
    resource: str,
    written: Iterable[writeback.Written],
    idempotency_key: str | None = None,
) -> Writeback:
    """Queue what a write did for the school's MIS, in the write's transaction (the caller
    commits); each row then names its item."""
    request = Writeback(
        application=application,
        school_id=school_id,
        resource=resource,
        created_at=utcnow(),
        idempotency_key=idempotency_key,
    )
    session.add(request)
    for position, change in enumerate(written):
        row: Any = change.row  # a writable MIS model (authserver/models/mis/writable.py)
        item = WritebackItem(
            writeback=request,
            school_id=school_id,
            position=position,
            op=change.op,
            entity=row.__entity__,
            record_id=row.id,
            values=change.values,
            previous=change.previous,
            previous_item_id=row.writeback_item_id,
            state=WritebackState.QUEUED,
            created_at=request.created_at,
        )
        session.add(item)
        session.flush()
        row.writeback_item_id = item.id
    session.flush()
    return request


def own_record(
    session: Session, entity: str, record_id: int, *, school_id: int, application_id: int
) -> Any:
    """The record if this application wrote it at this school (None for another's records,
    the MIS's own, or no such record: a caller cannot tell them apart)."""
    model: Any = ENTITIES[entity]
    query = (
        select(model)
        .join(WritebackItem, WritebackItem.id == model.writeback_item_id)
        .join(Writeback, Writeback.id == WritebackItem.writeback_id)
        .where(
            model.id == record_id,
            model.school_id == school_id,
            Writeback.application_id == application_id,
        )
    )
    return session.scalar(query)


def is_withdrawn(session: Session, row: Any) -> bool:
    """Whether the record's last write is a withdrawal still on its way (it is as good as
    gone: it cannot be corrected or withdrawn again)."""
    item = session.get(WritebackItem, row.writeback_item_id) if row.writeback_item_id else None
    return item is not None and item.op == WritebackOp.DELETE and item.state != "rejected"


def pull(
    session: Session, school_id: int, *, after: int = 0, limit: int = 100
) -> list[WritebackItem]:
    """The school's queued items after the item id `after`, oldest first."""
    query = (
        select(WritebackItem)
        .where(
            WritebackItem.school_id == school_id,
            WritebackItem.state == WritebackState.QUEUED,
            WritebackItem.id > after,
        )
        .order_by(WritebackItem.id)
        .limit(min(limit, MAX_PAGE))
    )
    return list(session.scalars(query))


def queued_item(session: Session, school_id: int, item_id: int) -> WritebackItem | None:
    """One item of the school's queue, settled or not; another school's is None."""
    item = session.get(WritebackItem, item_id)
    return item if item is not None and item.school_id == school_id else None


def settle(
    session: Session,
    item: WritebackItem,
    state: WritebackState,
    *,
    by: str,
    reason: str | None = None,
    mis_id: str | None = None,
) -> bool:
    """Settle a queued item as the MIS reported it (the caller commits); False when it was
    already settled the same way, AlreadySettled when another way."""
    state = WritebackState(state)
    if state is WritebackState.QUEUED:
        raise ValueError("an item settles as applied or rejected")
    if item.state != WritebackState.QUEUED:
        if item.state == state and (state is WritebackState.APPLIED or item.reason == reason):
            return False
        raise AlreadySettled(f"item {item.id} is {item.state} already")
    item.state = state
    item.reason = reason if state is WritebackState.REJECTED else None
    item.settled_at = utcnow()
    item.settled_by = by
    model = ENTITIES[item.entity]
    row = session.get(model, item.record_id)
    if state is WritebackState.APPLIED:
        _applied(session, item, row, mis_id)
        from authserver.domain import ingest  # ingest reads this queue: imported when used

        # The MIS's keys (or a row) changed under any ingest being worked out for the school.
        ingest.bump_data_version(session, item.school_id)
    else:
        _rejected(session, item, row, by)
    audit.record(
        AuditAction.WRITEBACK_APPLIED
        if state is WritebackState.APPLIED
        else AuditAction.WRITEBACK_REJECTED,
        actor=by,
        school=item.school_id,
        application=item.writeback.application_id,
        writeback_id=item.writeback_id,
        item_id=item.id,
        op=item.op,
        entity=item.entity,
        record_id=item.record_id,
        **({"reason": reason} if reason else {}),
    )
    _settle_writeback(session, item.writeback)
    return True


def _applied(
    session: Session, item: WritebackItem, row: MisRecord | None, mis_id: str | None
) -> None:
    if row is None:
        return  # the record went since (a snapshot from the MIS, a later withdrawal)
    if item.op == WritebackOp.DELETE:
        delete_record(session, row)
        return
    if mis_id is None or row.mis_id == mis_id:
        return
    model = type(row)
    twin = session.scalar(
        select(model).where(model.school_id == row.school_id, model.mis_id == mis_id)
    )
    if twin is not None:
        # The MIS's own copy arrived first (a sync ran before the acknowledgement): keep
        # that one, and let the written copy go, tombstoned, so no one holds it twice.
        delete_record(session, row)
        return
    # The next snapshot from the MIS then matches this row rather than replacing it.
    row.mis_id = mis_id


def _rejected(session: Session, item: WritebackItem, row: Any, by: str) -> None:
    if row is None:
        return
    if item.op == WritebackOp.CREATE:
        # Later changes of the record cannot reach the MIS either: they settle with it.
        later = session.scalars(
            select(WritebackItem).where(
                WritebackItem.entity == item.entity,
                WritebackItem.record_id == item.record_id,
                WritebackItem.state == WritebackState.QUEUED,
                WritebackItem.id > item.id,
            )
        )
        for change in list(later):
            settle(
                session,
                change,
                WritebackState.REJECTED,
                by=by,
                reason=NEVER_CREATED.format(item=item.id),
            )
        row = session.get(type(row), item.record_id)
        if row is not None:
            delete_record(session, row)
        return
    if row.writeback_item_id != item.id:
        return  # a later write changed the record since: the MIS's next snapshot decides
    if item.op == WritebackOp.UPDATE and item.previous:
        writeback.restore(row, item.previous)
    row.writeback_item_id = item.previous_item_id


def _settle_writeback(session: Session, request: Writeback) -> None:
    """Once no item of the write is queued: note it, and tell the application."""
    session.flush()
    counts = counts_of(request)
    if counts[WritebackState.QUEUED] or request.settled_at is not None:
        return
    request.settled_at = utcnow()
    school = session.get(School, request.school_id)
    webhook_outbox.enqueue(
        request.application,
        webhook_outbox.WebhookEvent.WRITEBACK_SETTLED,
        {
            "school_id": request.school_id,
            "school_urn": school.urn if school else "",
            "writeback_id": request.id,
            "resource": request.resource,
            "state": state_of(request),
            "applied": counts[WritebackState.APPLIED],
            "rejected": counts[WritebackState.REJECTED],
        },
    )


def counts_of(request: Writeback) -> Counter[str]:
    """How many of the write's items are queued, applied and rejected."""
    return Counter(item.state for item in request.items)


def state_of(request: Writeback) -> str:
    """queued while any item is; else applied, rejected or partly_applied."""
    counts = counts_of(request)
    if counts[WritebackState.QUEUED]:
        return WritebackState.QUEUED
    if not counts[WritebackState.REJECTED]:
        return WritebackState.APPLIED
    if not counts[WritebackState.APPLIED]:
        return WritebackState.REJECTED
    return "partly_applied"


def writeback_of(
    session: Session, writeback_id: int, *, application_id: int, school_id: int
) -> Writeback | None:
    """A write of this application at this school; anyone else's is None."""
    request = session.get(Writeback, writeback_id)
    if request is None or (request.application_id, request.school_id) != (
        application_id,
        school_id,
    ):
        return None
    return request


@dataclass(frozen=True)
class Marker:
    """A record's pending write, as the read API shows it."""

    writeback_id: int
    op: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.writeback_id, "state": "queued", "op": self.op}


def markers(session: Session, model: type[MisRecord], ids: Iterable[int]) -> dict[int, Marker]:
    """The records among `ids` whose last write is still queued, with its marker."""
    wanted = list(ids)
    if not hasattr(model, "writeback_item_id") or not wanted:
        return {}
    found: dict[int, Marker] = {}
    for start in range(0, len(wanted), 500):
        query = (
            select(model.id, WritebackItem.writeback_id, WritebackItem.op)
            .join(WritebackItem, WritebackItem.id == model.writeback_item_id)
            .where(
                model.id.in_(wanted[start : start + 500]),
                WritebackItem.state == WritebackState.QUEUED,
            )
        )
        for record_id, writeback_id, op in session.execute(query):
            found[record_id] = Marker(writeback_id, op)
    return found


def pending_rows(model: type[MisRecord], school_id: int) -> Select[Any]:
    """The ids of the school's rows of `model` that a vendor wrote and the MIS has not yet
    confirmed (no `mis_id`, item still queued): a full snapshot from the MIS must keep them."""
    if not hasattr(model, "writeback_item_id"):
        return select(model.id).where(model.id.is_(None))  # nothing of it is ever written
    query = (
        select(model.id)
        .join(WritebackItem, WritebackItem.id == model.writeback_item_id)
        .where(model.school_id == school_id, WritebackItem.state == WritebackState.QUEUED)
    )
    if hasattr(model, "mis_id"):
        query = query.where(model.mis_id.is_(None))
    return query


def mis_keys(session: Session, item: WritebackItem) -> tuple[str | None, dict[str, str | None]]:
    """The MIS's keys an MIS agent needs to apply an item: the record's own (for an update or
    delete), and each record it refers to (`student_id`: that pupil's key in the MIS)."""
    model = ENTITIES[item.entity]
    row = session.get(model, item.record_id)
    references: dict[str, str | None] = {}
    for field, value in item.values.items():
        target = writeback.REFERENCES.get(field)
        if field == "person_id":
            target = ENTITIES.get(item.values.get("person_type") or "")
        if target is None or value is None:
            continue
        referred = session.get(target, value)
        references[field] = referred.mis_id if referred is not None else None
    return (row.mis_id if row is not None else None), references


def queued_for_school(session: Session, school_id: int) -> list[WritebackItem]:
    """Every queued item of the school, oldest first (for the school's own download)."""
    query = (
        select(WritebackItem)
        .where(WritebackItem.school_id == school_id, WritebackItem.state == WritebackState.QUEUED)
        .order_by(WritebackItem.id)
    )
    return list(session.scalars(query))
