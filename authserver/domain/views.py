"""A grant's view over time, so that a vendor's copy converges on exactly what it may hold.

Each sync first brings the grant's view ledger up to date (`reconcile`): people and fields
that came into view are stamped with the moment, so their records come back in `updated_after`
syncs; those that left get view tombstones, so `/deletions` tells the vendor what to remove.
The deletions feed (`deletions_after`) merges those with the MIS's own tombstones, each shown
only to the grants whose view held the record. Every page says where the next sync starts
(`sync_from`): before any write to the school's data still under way. docs/api.md ("Keeping a
copy") is the procedure a vendor follows; tests/api/test_mirror.py plays it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)

from authserver.domain.disclosure import Disclosure, rule_rows
from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.grants import Grant
from authserver.models.mis import ENTITIES
from authserver.models.mis.base import MisRecord, Tombstone
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.owners import NO_PUPIL, PERSON_KINDS, Owner, owned_by, owner_of
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import ClassMembership, GroupMembership
from authserver.models.mis.students import Student
from authserver.models.sync import SyncRun
from authserver.models.views import ViewField, ViewMember, ViewState, ViewTombstone

#: Why something is in the deletions feed.
DELETED = "deleted"  # deleted in the school's MIS
OUT_OF_VIEW = "out_of_view"  # its person left the grant's view (groups, leaving, the window)
LEFT_OUT = "left_out"  # the school left the field (or every field of the resource) out
SCOPE_WITHDRAWN = "scope_withdrawn"  # no scope of the grant covers it any more
REASONS = (DELETED, OUT_OF_VIEW, LEFT_OUT, SCOPE_WITHDRAWN)

#: The tables whose rows decide who is in a grant's view.
PEOPLE_AND_MEMBERSHIPS: tuple[type[MisRecord], ...] = (
    Student,
    Contact,
    StudentContact,
    Staff,
    GroupMembership,
    ClassMembership,
)
# How long before its last reconciliation a change may still be committing unseen (a write
# is stamped when made, and visible only once its transaction commits): changes stamped this
# close to it are looked at again.
SETTLING = dt.timedelta(hours=1)

#: No write of a school's data runs longer than this from its start to its commit: an ingest
#: takes seconds to minutes (docs/performance.md), and a run still going after half an hour is
#: taken for dead (sync_runs.STALE_AFTER). A marker of a write under way that is older was left
#: by a process that died: it is ignored, so that it cannot hold every vendor's `sync_from`
#: back for ever, and the school's next run clears it. Generous on purpose: ignoring a live
#: write's marker could lose what it writes, keeping a dead one only re-sends some records.
LONGEST_WRITE = dt.timedelta(hours=3)

# IN lists are cut to this many ids (SQLite's limit on parameters is 32,766).
_CHUNK = 2000


def reconcile(grant: Grant, disclosure: Disclosure, *, now: dt.datetime | None = None) -> None:
    """Bring the grant's view ledger up to date with what `disclosure` (the grant's own, not a
    token's narrower one) shows now; the caller commits."""
    today = disclosure.today
    state = db.session.get(ViewState, grant.id)
    if (
        state is not None
        and state.reconciled_on == today
        and not _may_have_changed(grant, disclosure.school_id, state.reconciled_at - SETTLING)
    ):
        return
    # One reconciliation of a grant at a time: two syncs at once must not both stamp a person.
    # PostgreSQL: the grant's row lock. SQLite: its one writer, taken by this first write (the
    # reads before it ran outside the transaction, so what follows reads what the other wrote).
    db.session.execute(select(Grant.id).where(Grant.id == grant.id).with_for_update())
    _ensure_state(grant.id, now or utcnow(), today)
    # Stamped once the lock is ours (on SQLite, the write lock `_ensure_state` took): what this
    # writes commits within its own run, never after a wait for another's (see sync_from).
    now = now or utcnow()
    state = db.session.get(ViewState, grant.id, populate_existing=True)
    if state is None:  # pragma: no cover - made just above
        raise RuntimeError("the grant's view state is missing")
    state.reconciled_at, state.reconciled_on = now, today
    first = not db.session.scalar(select(exists().where(ViewField.grant_id == grant.id)))
    # A grant's first reconciliation starts its ledger when the grant began: nothing in view
    # then is news, and everything deleted since can be told.
    since = grant.created_at if first else now
    _reconcile_fields(grant, disclosure, since=since, now=now)
    for kind in PERSON_KINDS:
        _reconcile_people(grant, disclosure, kind, since=since, now=now)


def _ensure_state(grant_id: int, now: dt.datetime, today: dt.date) -> None:
    """The grant's ViewState row, made if missing; two first syncs at once make one."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(
        insert(ViewState)
        .values(grant_id=grant_id, reconciled_at=now, reconciled_on=today)
        .on_conflict_do_nothing(index_elements=["grant_id"])
    )


def _may_have_changed(grant: Grant, school_id: int, since: dt.datetime) -> bool:
    """Whether anything that decides who or what is in the grant's view changed after `since`:
    the grant itself, or the school's people and their memberships (added, changed, deleted).
    A handful of index probes, against a reconciliation's few full scans."""
    changed = [
        exists().where(Grant.id == grant.id, Grant.updated_at > since),
        exists().where(
            Tombstone.school_id == school_id,
            Tombstone.deleted_at > since,
            Tombstone.entity.in_([m.__entity__ for m in PEOPLE_AND_MEMBERSHIPS]),
        ),
        *(
            exists().where(model.school_id == school_id, model.updated_at > since)
            for model in PEOPLE_AND_MEMBERSHIPS
        ),
    ]
    return bool(db.session.scalar(select(or_(*changed))))


def _reconcile_fields(
    grant: Grant, disclosure: Disclosure, *, since: dt.datetime, now: dt.datetime
) -> None:
    current = set(disclosure.fields) | set(disclosure.row_rules)
    open_rows = {
        row.field: row
        for row in db.session.scalars(
            select(ViewField).where(ViewField.grant_id == grant.id, ViewField.until.is_(None))
        )
    }
    db.session.add_all(
        ViewField(grant_id=grant.id, field=name, since=since)
        for name in sorted(current - set(open_rows))
    )
    left = sorted(set(open_rows) - current)
    if not left:
        return
    excluded = set(disclosure.narrowing.excluded_fields)
    by_entity: dict[str, list[str]] = defaultdict(list)
    for name in left:
        open_rows[name].until = now
        entity, field = name.split(".", 1)
        by_entity[entity].append(field)
    for entity, fields in by_entity.items():
        if entity not in ENTITIES:
            continue  # a field of an entity the data model no longer has
        plain = [f for f in fields if not f.startswith("*")]
        if disclosure.may_read(entity):
            # Rows only a withdrawn scope showed (results under embargo, an agency's links).
            for rule in (f for f in fields if f.startswith("*")):
                model, condition = rule_rows(f"{entity}.{rule}")
                _records_left(grant, disclosure, model, condition, now, reason=SCOPE_WITHDRAWN)
        if not plain:
            continue
        reason = LEFT_OUT if all(f"{entity}.{f}" in excluded for f in plain) else SCOPE_WITHDRAWN
        if not disclosure.may_read(entity):
            db.session.add(
                ViewTombstone(grant_id=grant.id, entity=entity, reason=reason, deleted_at=now)
            )
            continue
        db.session.add_all(
            ViewTombstone(
                grant_id=grant.id,
                entity=entity,
                field=field,
                reason=LEFT_OUT if f"{entity}.{field}" in excluded else SCOPE_WITHDRAWN,
                deleted_at=now,
            )
            for field in plain
        )


def _reconcile_people(
    grant: Grant, disclosure: Disclosure, kind: str, *, since: dt.datetime, now: dt.datetime
) -> None:
    visible = set(db.session.scalars(disclosure.people_in_view(kind)))
    if kind == "student" and disclosure.narrowing.is_whole_school:
        visible.add(NO_PUPIL)
    open_ids = set(
        db.session.scalars(
            select(ViewMember.person_id).where(
                ViewMember.grant_id == grant.id,
                ViewMember.person_type == kind,
                ViewMember.until.is_(None),
            )
        )
    )
    entered = sorted(visible - open_ids)
    if entered:
        db.session.execute(
            insert(ViewMember),
            [
                {"grant_id": grant.id, "person_type": kind, "person_id": i, "since": since}
                for i in entered
            ],
        )
    left = sorted(open_ids - visible)
    for chunk in _chunks(left):
        for model in ENTITIES.values():
            if not isinstance(model, type) or not issubclass(model, MisRecord):
                continue
            owner = owner_of(model)
            if owner is None or not owned_by(model, kind):
                continue
            if not disclosure.may_read(model.__entity__):
                continue  # the vendor holds none of it (or a resource tombstone said so)
            _records_left(grant, disclosure, model, _owned_by_any(owner, kind, chunk), now)
        db.session.execute(
            update(ViewMember)
            .where(
                ViewMember.grant_id == grant.id,
                ViewMember.person_type == kind,
                ViewMember.person_id.in_(chunk),
                ViewMember.until.is_(None),
            )
            .values(until=now)
        )


def _owned_by_any(owner: Owner, kind: str, ids: list[int]) -> ColumnElement[bool]:
    """SQL for "the row belongs to one of these people", on the owner's own indexed column
    where it has one (a leaving year group is many thousand rows to find)."""
    if owner.column is None:
        return and_(owner.kind == kind, owner.person_id.in_(ids))
    named = owner.column.in_([i for i in ids if i != NO_PUPIL])
    return or_(named, owner.column.is_(None)) if NO_PUPIL in ids else named


def _records_left(
    grant: Grant,
    disclosure: Disclosure,
    model: type[MisRecord],
    condition: ColumnElement[bool],
    now: dt.datetime,
    *,
    reason: str = OUT_OF_VIEW,
) -> None:
    """A view tombstone for each of the school's records of `model` matching `condition`."""
    rows = select(
        literal(grant.id, Integer),
        literal(model.__entity__, String),
        model.id,
        null(),
        literal(reason, String),
        bindparam("now", now, type_=UTCDateTime),
    ).where(model.school_id == disclosure.school_id, condition)
    db.session.execute(
        insert(ViewTombstone).from_select(
            ["grant_id", "entity", "record_id", "field", "reason", "deleted_at"], rows
        )
    )


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


# --- Where the next sync starts ------------------------------------------------------------
#
# What stamps the school's data (`updated_at`, tombstones' `deleted_at`, this ledger's moments),
# and what keeps each write in the next sync however late it commits:
# - ingest: a connector's batch or snapshot (inline or as a job), a file the school imports,
#   `flask mis import`, the demo's nightly syncs. All go through `sync_runs`, which marks the
#   run as writing (`writing_since`) before it stamps anything: covered by the marker.
# - vendors' writes under /api/v1 (records, corrections, withdrawals, photos), and their
#   settling as the MIS acknowledges them (/connector/v1/writebacks, or the school's
#   writebacks page), with their deletions: one request each, covered by the skew. A settlement
#   that waits for an ingest's lock stamped a moment before it began to wait, so within
#   that ingest's marker or the skew.
# - this ledger (`reconcile`, at the start of each vendor read): stamped once the grant's lock
#   is held and committed before the read goes on; the grant's other reads wait on that
#   lock. Covered by the skew.
# - the demo's seed (`demo seed`, `demo scale`): before any application reads the school.


def sync_from(school_id: int, *, skew: dt.timedelta, now: dt.datetime | None = None) -> dt.datetime:
    """The `updated_after` a vendor's next sync of the school starts from, read before the page
    it comes with: this moment, or the start of the earliest write to the school's data still
    under way, less `skew`.

    A change is stamped when it is written and seen only once its transaction commits: one
    stamped before a read and committed after it would be behind a `since` taken at the read,
    and never sent. An ingest says that it is writing (its run's `writing_since`, committed
    before it stamps anything and cleared as its data commits), so this stays before all it
    writes, however long it takes; `skew` covers the short writes of requests, which say
    nothing. A marker older than LONGEST_WRITE is a dead process's and is ignored."""
    now = now or utcnow()
    earliest = db.session.scalar(
        select(func.min(SyncRun.writing_since)).where(
            SyncRun.school_id == school_id, SyncRun.writing_since > now - LONGEST_WRITE
        )
    )
    return min(now, earliest or now) - skew


# --- What came into view: for `updated_after` syncs ----------------------------------------


def fields_came_into_view(grant_id: int, entity: str, since: dt.datetime) -> bool:
    """Whether a field of the entity (or its row rule) came into the grant's view after
    `since`: then every record reads differently, and the whole resource is news."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    ViewField.grant_id == grant_id,
                    ViewField.until.is_(None),
                    ViewField.since > since,
                    ViewField.field.startswith(f"{entity}."),
                )
            )
        )
    )


def came_into_view(
    grant_id: int, model: type[MisRecord], since: dt.datetime
) -> ColumnElement[bool] | None:
    """SQL for "the record's person came into the grant's view after `since`", or None when
    nobody of the kinds that own the model's records did (the common case, and a fast one)."""
    owner = owner_of(model)
    if owner is None:
        return None
    kinds = [owner.fixed_kind] if owner.fixed_kind else list(PERSON_KINDS)
    recent = [
        ViewMember.grant_id == grant_id,
        ViewMember.person_type.in_(kinds),
        ViewMember.until.is_(None),
        ViewMember.since > since,
    ]
    if not db.session.scalar(select(exists().where(*recent))):
        return None
    if owner.fixed_kind:
        return owner.person_id.in_(select(ViewMember.person_id).where(*recent))
    return exists().where(
        *recent, ViewMember.person_type == owner.kind, ViewMember.person_id == owner.person_id
    )


# --- The deletions feed ---------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    """One line of the deletions feed: a record, a field of every record, or a resource."""

    deleted_at: dt.datetime
    source: int  # 0: the MIS's tombstones, 1: the grant's view tombstones (orders ties)
    id: int
    entity: str
    record_id: int | None
    field: str | None
    reason: str

    @property
    def position(self) -> tuple[dt.datetime, int, int]:
        """Where the entry stands in the feed (what a cursor remembers)."""
        return (self.deleted_at, self.source, self.id)


def deletions_after(
    grant_id: int,
    disclosure: Disclosure,
    *,
    readable: Iterable[str],
    since: dt.datetime | None,
    after: tuple[dt.datetime, int, int] | None,
    limit: int,
) -> list[FeedEntry]:
    """The feed's entries after `after` (a position) or `since` (a moment), oldest first."""
    readable = list(readable)
    member = ViewMember
    held = exists().where(
        member.grant_id == grant_id,
        member.person_type == Tombstone.owner_type,
        member.person_id == Tombstone.owner_id,
        member.since <= Tombstone.deleted_at,
        or_(member.until.is_(None), member.until >= Tombstone.deleted_at),
    )
    mis = select(
        Tombstone.deleted_at.label("deleted_at"),
        literal(0, Integer).label("source"),
        Tombstone.id.label("id"),
        Tombstone.entity.label("entity"),
        Tombstone.record_id.label("record_id"),
        null().label("field"),
        Tombstone.reason.label("reason"),
    ).where(
        Tombstone.school_id == disclosure.school_id,
        Tombstone.entity.in_(readable),
        or_(Tombstone.owner_type.is_(None), held),
    )
    view = select(
        ViewTombstone.deleted_at,
        literal(1, Integer),
        ViewTombstone.id,
        ViewTombstone.entity,
        ViewTombstone.record_id,
        ViewTombstone.field,
        ViewTombstone.reason,
    ).where(ViewTombstone.grant_id == grant_id)
    if since is not None:
        mis = mis.where(Tombstone.deleted_at > since)
        view = view.where(ViewTombstone.deleted_at > since)
    feed = union_all(mis, view).subquery()
    query = select(feed)
    if after is not None:
        moment, source, last = after
        query = query.where(
            or_(
                feed.c.deleted_at > moment,
                and_(feed.c.deleted_at == moment, feed.c.source > source),
                and_(feed.c.deleted_at == moment, feed.c.source == source, feed.c.id > last),
            )
        )
    query = query.order_by(feed.c.deleted_at, feed.c.source, feed.c.id).limit(limit)
    return [FeedEntry(**_entry(row)) for row in db.session.execute(query).mappings()]


def _entry(row: Any) -> dict[str, Any]:
    entry = dict(row)
    # A record moved off its owner left the view of those who saw it through them.
    if entry["reason"] == "moved":
        entry["reason"] = OUT_OF_VIEW
    moment = entry["deleted_at"]
    if isinstance(moment, str):  # SQLite gives a union's column back untyped
        moment = dt.datetime.fromisoformat(moment)
    entry["deleted_at"] = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return entry
