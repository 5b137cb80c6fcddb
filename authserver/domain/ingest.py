"""Ingest: a school's MIS data arriving, whatever brought it (a connector's batch, a snapshot,
an imported file), checked and applied in one transaction.

Records name each other by the MIS's keys (docs/connector.md): a pupil by UPN, everything
else by the MIS's `id`, stored in each row's `mis_id`. `apply` checks every record, resolves
every link and works out every write (a plan, made reading only), then writes it: inserts,
updates (only what really changed, so `updated_after` stays quiet for the rest), deletes (with
tombstones and cascades, as `delete_record` does) and, for a snapshot, removes what the
snapshot no longer holds, behind a guard against mass deletion. Any problem refuses the whole
batch (`IngestRefused`) before anything is written; the caller rolls back.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Double,
    Integer,
    String,
    Text,
    Time,
    bindparam,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from authserver.domain import writeback_queue
from authserver.domain.upn import valid_upn
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.mis import ENTITIES, MIS_MODELS, PERSON_TYPES, entity_fields
from authserver.models.mis.base import MOVED, MisRecord, Tombstone, delete_rows
from authserver.models.mis.owners import NO_PUPIL, owner_of
from authserver.models.sync import SchoolSync

MAX_BATCH_RECORDS = 10_000
MAX_KEY_LENGTH = 64
#: Problems reported at most: enough to fix a file, not so many that the answer is huge.
MAX_PROBLEMS = 100
#: Rows looked up per query (SQLite allows 32,766 parameters; PostgreSQL more).
CHUNK = 5_000

#: A table is analysed after a run that changed more than ANALYZE_BASE_ROWS plus this share of
#: the rows the planner believes it holds (PostgreSQL's autovacuum defaults, 50 and 10%).
ANALYZE_BASE_ROWS = 50
ANALYZE_SCALE = 0.1

#: The entities a connector may send, in the order their upserts apply (dependencies first).
INGEST_ENTITIES: tuple[str, ...] = tuple(model.__entity__ for model in MIS_MODELS)
_ORDER = {entity: position for position, entity in enumerate(INGEST_ENTITIES)}
#: Entities a snapshot may not empty by accident (see `apply`'s guard).
GUARDED_ENTITIES = ("student", "staff")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with what arrived: where (batch, entity, record index, field) and why."""

    rule: str
    message: str
    entity: str | None = None
    index: int | None = None
    field: str | None = None
    batch: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class IngestRefused(Exception):
    """Nothing was applied; `problems` say why (the first MAX_PROBLEMS of them)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = list(problems)[:MAX_PROBLEMS]

    def summary(self) -> str:
        """The first problem in a sentence, and how many more."""
        first = self.problems[0]
        where = ", ".join(
            part
            for part in (
                f"batch {first.batch}" if first.batch else "",
                f"{first.entity} record {first.index}" if first.entity is not None else "",
                f"field {first.field}" if first.field else "",
            )
            if part
        )
        more = len(self.problems) - 1
        tail = f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""
        return f"{where}: {first.message}{tail}" if where else first.message + tail


@dataclass(frozen=True)
class Origin:
    """Where a record came from, for the problems about it."""

    index: int
    batch: str | None = None


@dataclass
class Changes:
    """Upserts and deletions by entity, as sent (not yet checked)."""

    upserts: dict[str, list[tuple[Origin, Any]]] = field(default_factory=dict)
    deletes: dict[str, list[tuple[Origin, Any]]] = field(default_factory=dict)

    def size(self) -> int:
        return sum(map(len, self.upserts.values())) + sum(map(len, self.deletes.values()))

    def entities(self) -> list[str]:
        return sorted({*self.upserts, *self.deletes}, key=lambda e: _ORDER.get(e, len(_ORDER)))


# Reading what was sent -------------------------------------------------------------------


def changes_from_json(body: Any, batch: str | None = None) -> Changes:
    """A batch's JSON object form: {entity: {"upsert": [...], "delete": [...]}}."""
    if not isinstance(body, dict) or not body:
        raise IngestRefused(
            [
                Problem(
                    "shape",
                    'Send a JSON object: {"<entity>": {"upsert": [...], "delete": [...]}}.',
                    batch=batch,
                )
            ]
        )
    changes = Changes()
    problems: list[Problem] = []
    for entity, part in body.items():
        if entity not in _ORDER:
            problems.append(_unknown_entity(entity, batch))
            continue
        if not isinstance(part, dict) or not part or set(part) - {"upsert", "delete"}:
            problems.append(
                Problem(
                    "shape",
                    'Give the entity an object with "upsert" and/or "delete" lists.',
                    entity=entity,
                    batch=batch,
                )
            )
            continue
        for op in ("upsert", "delete"):
            if op not in part:
                continue
            items = part[op]
            if not isinstance(items, list):
                problems.append(
                    Problem("shape", f'"{op}" must be a list.', entity=entity, batch=batch)
                )
                continue
            target = changes.upserts if op == "upsert" else changes.deletes
            target.setdefault(entity, []).extend(
                (Origin(index, batch), item) for index, item in enumerate(items)
            )
    if problems:
        raise IngestRefused(problems)
    _check_size(changes, batch)
    return changes


def changes_from_ndjson(lines: Iterable[bytes | str], batch: str | None = None) -> Changes:
    """A batch as NDJSON: one `{"entity": ..., "upsert": {...}}` or `{"entity": ...,
    "delete": "<key>"}` per line; a record's index is its entity's count of lines so far."""
    import orjson

    changes = Changes()
    problems: list[Problem] = []
    seen = 0
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        seen += 1
        if seen > MAX_BATCH_RECORDS:
            raise IngestRefused([_too_many(batch)])
        try:
            item = orjson.loads(text)
        except orjson.JSONDecodeError:
            problems.append(Problem("json", f"Line {number} is not valid JSON.", batch=batch))
            continue
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("entity"), str)
            or len(set(item) & {"upsert", "delete"}) != 1
            or set(item) - {"entity", "upsert", "delete"}
        ):
            problems.append(
                Problem(
                    "shape",
                    f'Line {number}: send {{"entity": ..., "upsert": {{...}}}} or '
                    '{"entity": ..., "delete": "<key>"}.',
                    batch=batch,
                )
            )
            continue
        entity = item["entity"]
        if entity not in _ORDER:
            problems.append(_unknown_entity(entity, batch))
            continue
        if "upsert" in item:
            records = changes.upserts.setdefault(entity, [])
            records.append((Origin(len(records), batch), item["upsert"]))
        else:
            keys = changes.deletes.setdefault(entity, [])
            keys.append((Origin(len(keys), batch), item["delete"]))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise IngestRefused(problems)
    if not changes.size():
        raise IngestRefused([Problem("shape", "The batch holds no changes.", batch=batch)])
    return changes


def _check_size(changes: Changes, batch: str | None) -> None:
    if changes.size() > MAX_BATCH_RECORDS:
        raise IngestRefused([_too_many(batch)])
    if not changes.size():
        raise IngestRefused([Problem("shape", "The batch holds no changes.", batch=batch)])


def _too_many(batch: str | None) -> Problem:
    return Problem(
        "too_many",
        f"A batch holds at most {MAX_BATCH_RECORDS:,} records; split it.",
        batch=batch,
    )


def _unknown_entity(entity: Any, batch: str | None) -> Problem:
    return Problem(
        "unknown_entity",
        f"{str(entity)[:60]!r} is not an entity this server holds "
        "(see /api/v1/openapi.json for their names).",
        batch=batch,
    )


# What each field accepts -----------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """How one field of an entity is checked: its kind, length, whether it may be left out,
    its default, and for a link the entity it names."""

    name: str
    kind: str  # text, integer, number, boolean, date, time, moment, link, person
    max_length: int | None
    required: bool
    default: Any
    target: str | None = None


@functools.cache
def field_specs(entity: str) -> dict[str, FieldSpec]:
    """Every field of the entity, as ingest checks it."""
    model = ENTITIES[entity]
    table: Any = inspect(model).local_table
    specs: dict[str, FieldSpec] = {}
    owner_columns = getattr(model, "__owner_columns__", None) or ()
    for name in entity_fields(entity):
        column = table.c[name]
        default = column.default.arg if column.default is not None else None
        if callable(default):
            default = None
        required = not column.nullable and default is None
        targets = [fk.column.table for fk in column.foreign_keys]
        target = None
        if targets:
            kind = "link"
            [target_table] = targets
            target = next(
                m.__entity__ for m in MIS_MODELS if inspect(m).local_table is target_table
            )
        elif owner_columns and name == owner_columns[1]:
            kind = "person"
        elif isinstance(column.type, Boolean):
            kind = "boolean"
        elif isinstance(column.type, Integer):
            kind = "integer"
        elif isinstance(column.type, Double):
            kind = "number"
        elif isinstance(column.type, UTCDateTime):
            kind = "moment"
        elif isinstance(column.type, Date):
            kind = "date"
        elif isinstance(column.type, Time):
            kind = "time"
        elif isinstance(column.type, String | Text):
            kind = "text"
        else:  # pragma: no cover - a new column type needs a rule here
            raise TypeError(f"no ingest rule for {entity}.{name} ({column.type})")
        max_length = getattr(column.type, "length", None) if kind == "text" else None
        specs[name] = FieldSpec(name, kind, max_length, required, default, target)
    return specs


def key_field(entity: str) -> str:
    """The field that carries a record's MIS key: a pupil's UPN, otherwise `id`."""
    return "upn" if entity == "student" else "id"


def upn_problem(value: str) -> str | None:
    """Why a UPN is not one (its shape or check letter), or None."""
    if not valid_upn(value):
        return (
            f"{value[:20]!r} is not a valid UPN: 13 characters, a check letter, then 12 "
            "characters whose check letter matches (temporary UPNs end in a letter)."
        )
    return None


@dataclass
class Clean:
    """A checked record: its key and typed values; links still hold the keys they name."""

    origin: Origin
    key: str
    values: dict[str, Any]
    # The fields the record carried: with `merge`, the others keep what the row holds.
    present: frozenset[str] = frozenset()


def clean_record(entity: str, origin: Origin, record: Any) -> tuple[Clean | None, list[Problem]]:
    """Check one record against its entity's fields; the clean record, or the problems."""
    problems: list[Problem] = []

    def problem(rule: str, message: str, name: str | None = None) -> None:
        problems.append(Problem(rule, message, entity, origin.index, name, origin.batch))

    if not isinstance(record, dict):
        problem("shape", "A record is a JSON object.")
        return None, problems
    specs = field_specs(entity)
    key_name = key_field(entity)
    allowed = set(specs) | {key_name}
    for name in sorted(set(record) - allowed):
        problem("unknown_field", f"{name[:60]!r} is not a field of {entity}.", name[:60])
    key = _key(record.get(key_name))
    if key is None:
        problem(
            "key", f"{key_name} must be a string of 1 to {MAX_KEY_LENGTH} characters.", key_name
        )
    elif entity == "student" and (reason := upn_problem(key)):
        problem("upn", reason, key_name)
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        if name not in record or record[name] is None:
            if spec.required:
                problem("required", f"{name} is required.", name)
            values[name] = spec.default
            continue
        value, message = _convert(spec, record[name])
        if message is not None:
            problem(spec.kind if spec.kind != "link" else "link", message, name)
        values[name] = value
    if entity == "student":
        values["upn"] = key
        former = values.get("former_upn")
        if former and (reason := upn_problem(former)):
            problem("upn", reason, "former_upn")
    if problems or key is None:
        return None, problems
    return Clean(origin, key, values, frozenset(record) & set(specs)), []


def _key(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not 0 < len(value) <= MAX_KEY_LENGTH:
        return None
    if not value.isprintable() or value != value.strip():
        return None
    return value


#: Unicode's control characters (category Cc: U+0000-U+001F, U+007F-U+009F) other than line
#: breaks and tabs: one regular expression, not a category lookup per character.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _convert(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """The value as stored, or a message saying what is wrong with it."""
    kind = spec.kind
    if kind in ("link", "person"):
        key = _key(value)
        if key is None:
            return None, f"{spec.name} must be the key (a string) of the record it links to."
        return key, None
    if kind == "text":
        if not isinstance(value, str):
            return None, f"{spec.name} must be text."
        if _CONTROL.search(value):
            return None, f"{spec.name} contains a control character."
        if spec.max_length is not None and len(value) > spec.max_length:
            return None, f"{spec.name} is longer than {spec.max_length} characters."
        return value, None
    if kind == "boolean":
        if not isinstance(value, bool):
            return None, f"{spec.name} must be true or false."
        return value, None
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**31 - 1:
            return None, f"{spec.name} must be a whole number."
        return value, None
    if kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return None, f"{spec.name} must be a number."
        return float(value), None
    if not isinstance(value, str) or len(value) > 40:
        return None, _bad(spec)
    try:
        if kind == "date":
            if len(value) != 10 or value[4] != "-" or value[7] != "-":
                return None, _bad(spec)
            return dt.date.fromisoformat(value), None
        if kind == "time":
            return dt.time.fromisoformat(value), None
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None, _bad(spec)
    if moment.tzinfo is None:
        return None, _bad(spec)
    return moment.astimezone(dt.UTC), None


_FORMATS = {
    "date": "date, YYYY-MM-DD",
    "time": "time, HH:MM or HH:MM:SS",
    "moment": "moment in ISO 8601 with its offset",
}


def _bad(spec: FieldSpec) -> str:
    return f"{spec.name} must be a {_FORMATS[spec.kind]}."


# Applying --------------------------------------------------------------------------------


@dataclass
class Counts:
    """What a run did to one entity."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    @property
    def touched(self) -> int:
        return self.added + self.changed + self.removed


Progress = Callable[[int, int, str], None]


def apply(
    session: Session,
    school_id: int,
    changes: Changes,
    *,
    snapshot: frozenset[str] = frozenset(),
    allow_mass_deletion: bool = False,
    guard_percent: int = 20,
    progress: Progress | None = None,
    merge: bool = False,
    dry_run: bool = False,
) -> dict[str, Counts]:
    """Check and apply the changes to the school's data in the caller's transaction; raises
    IngestRefused (the caller rolls back) on any problem. Entities in `snapshot` are whole:
    their rows that the changes do not hold are removed.

    `merge`: a field a record does not carry keeps the row's value (a file format that holds
    only some fields); otherwise a record is whole. `dry_run`: check everything and count
    what would change, writing nothing (a preview).

    Everything is worked out first, reading only, and then written: on SQLite the one write
    lock is held for the writing alone (a nightly snapshot changes a few thousand of its
    290,000 records), so vendors' reads, which write their audit events, are not held up for
    the whole check. The school's data version tells whether another ingest wrote between the
    two; if one did, the plan is made again, under the lock."""

    def plan() -> _Run:
        run = _Run(session, school_id, snapshot, progress, merge=merge)
        run.plan(changes, allow_mass_deletion, guard_percent)
        return run

    # Until the claim, the caller's pending changes stay unflushed: on SQLite a flush would
    # take the write lock for the whole check.
    with session.no_autoflush:
        if dry_run:
            return plan().counts
        version = _data_version(session, school_id)
        run = plan()
    if _claim(session, school_id) != version + 1:
        run = plan()
    run.carry_out()
    return run.counts


def _data_version(session: Session, school_id: int) -> int:
    """The school's data version as an ingest starts. PostgreSQL: its row locked until the
    ingest commits, so one ingest of a school runs at a time (reads carry on). SQLite: read
    outside any transaction (its driver begins one at the first write), taking no lock."""
    table = SchoolSync.__table__
    query = select(table.c.data_version).where(table.c.school_id == school_id)
    if session.get_bind().dialect.name == "postgresql":
        _ensure_sync_row(session, school_id)
        query = query.with_for_update()
    return int(session.scalar(query) or 0)


def _claim(session: Session, school_id: int) -> int:
    """Raise the school's data version, taking the write lock on SQLite; the new version."""
    table = SchoolSync.__table__
    _ensure_sync_row(session, school_id)
    session.execute(
        update(table)
        .where(table.c.school_id == school_id)
        .values(data_version=table.c.data_version + 1)
    )
    return int(
        session.scalar(select(table.c.data_version).where(table.c.school_id == school_id)) or 0
    )


def bump_data_version(session: Session, school_id: int) -> None:
    """Note a change to the school's MIS data made outside an ingest (a write the MIS
    acknowledged), so an ingest worked out before it is worked out again."""
    _claim(session, school_id)


def _ensure_sync_row(session: Session, school_id: int) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(SchoolSync.__table__)
        .values(school_id=school_id, data_version=0)
        .on_conflict_do_nothing(index_elements=["school_id"])
    )


@dataclass
class _Step:
    """One write of a plan: `op` on `entity`'s `rows` (their shape depends on the op)."""

    op: str  # rekey, moved, update, insert, delete
    entity: str
    rows: list[Any]


class _Run:
    """One application of changes: the checked records, the key-to-id maps, the counts."""

    def __init__(
        self,
        session: Session,
        school_id: int,
        snapshot: frozenset[str],
        progress: Progress | None,
        *,
        merge: bool = False,
    ) -> None:
        self.merge = merge
        # Ids handed to records the plan inserts: negative, so never a row's, until written.
        self.planned = 0
        self.steps: list[_Step] = []
        # Entity -> row ids the plan deletes by name (a snapshot's rest then leaves them out).
        self.deleted: dict[str, set[int]] = {}
        self.session = session
        self.school_id = school_id
        self.snapshot = snapshot
        self.progress = progress
        self.problems: list[Problem] = []
        self.records: dict[str, list[Clean]] = {}
        self.counts: dict[str, Counts] = {}
        # Entity -> MIS key -> row id, filled as lookups and inserts need them.
        self.ids: dict[str, dict[str, int]] = {}
        self.loaded: dict[str, bool] = {}
        self.now = utcnow()
        self.total = 0
        self.done = 0

    def plan(self, changes: Changes, allow_mass_deletion: bool, guard_percent: int) -> None:
        """Check the changes and work out every write they need, writing nothing."""
        self.check(changes)
        for entity in sorted({*changes.upserts, *self.snapshot}, key=_ORDER.__getitem__):
            self.upsert(entity)
        for entity in sorted(changes.deletes, key=_ORDER.__getitem__, reverse=True):
            self.delete(entity, changes.deletes[entity])
        for entity in sorted(self.snapshot, key=_ORDER.__getitem__, reverse=True):
            self.remove_the_rest(entity, allow_mass_deletion, guard_percent)
        self._stop_if_problems()

    # -- checking

    def check(self, changes: Changes) -> None:
        for entity in {*changes.upserts, *changes.deletes, *self.snapshot}:
            if entity not in _ORDER:
                self.problems.append(_unknown_entity(entity, None))
        for entity, items in changes.upserts.items():
            clean: list[Clean] = []
            seen: dict[str, Origin] = {}
            for origin, record in items:
                result, problems = clean_record(entity, origin, record)
                self.problems.extend(problems)
                if result is None:
                    continue
                if result.key in seen:
                    self.problems.append(
                        Problem(
                            "duplicate",
                            f"{key_field(entity)} {result.key!r} is sent twice (first at "
                            f"record {seen[result.key].index}"
                            + (
                                f" of batch {seen[result.key].batch}"
                                if seen[result.key].batch
                                else ""
                            )
                            + ").",
                            entity,
                            origin.index,
                            key_field(entity),
                            origin.batch,
                        )
                    )
                    continue
                seen[result.key] = origin
                clean.append(result)
            self.records[entity] = clean
            self.total += len(items)
        for entity, keys in changes.deletes.items():
            for origin, key in keys:
                if _key(key) is None:
                    self.problems.append(
                        Problem(
                            "key",
                            f"A deletion names a record by its key: a string of 1 to "
                            f"{MAX_KEY_LENGTH} characters.",
                            entity,
                            origin.index,
                            None,
                            origin.batch,
                        )
                    )
            self.total += len(keys)
        self._stop_if_problems()

    def _stop_if_problems(self) -> None:
        if self.problems:
            raise IngestRefused(self.problems)

    # -- keys and ids

    def _model(self, entity: str) -> type[MisRecord]:
        model = ENTITIES[entity]
        if not issubclass(model, MisRecord):
            raise TypeError(f"{entity} is not MIS data")
        return model

    def _load_ids(self, entity: str, keys: Iterable[str] | None = None) -> dict[str, int]:
        """Ids of the school's rows of `entity`: every one (keys None) or those keys."""
        known = self.ids.setdefault(entity, {})
        if self.loaded.get(entity):
            return known
        table = inspect(self._model(entity)).local_table
        query = select(table.c.mis_id, table.c.id).where(
            table.c.school_id == self.school_id, table.c.mis_id.is_not(None)
        )
        if keys is None:
            known.update(self.session.execute(query).all())
            self.loaded[entity] = True
            return known
        wanted = [k for k in set(keys) if k not in known]
        for chunk in _chunks(wanted):
            known.update(self.session.execute(query.where(table.c.mis_id.in_(chunk))).all())
        return known

    def _resolve(self, clean: Clean, entity: str) -> dict[str, Any] | None:
        """The record's values with links turned into row ids; None (and problems) when a link
        names nothing."""
        values = dict(clean.values)
        ok = True
        for name, spec in field_specs(entity).items():
            key = values.get(name)
            if key is None or spec.kind not in ("link", "person"):
                continue
            target = spec.target
            if spec.kind == "person":
                target = values.get("person_type")
                if target not in PERSON_TYPES:
                    self._problem(
                        clean,
                        entity,
                        "person_type",
                        "link",
                        f"person_type must be one of {', '.join(PERSON_TYPES)}.",
                    )
                    ok = False
                    continue
            found = self.ids.get(str(target), {}).get(key)
            if found is None:
                what = "UPN" if target == "student" else "id"
                where = (
                    "this snapshot"
                    if target in self.snapshot
                    else "the school's data or this batch"
                )
                self._problem(
                    clean,
                    entity,
                    name,
                    "unknown_link",
                    f"no {target} with {what} {key!r} is in {where}.",
                )
                ok = False
                continue
            values[name] = found
        return values if ok else None

    def _problem(self, clean: Clean, entity: str, name: str, rule: str, message: str) -> None:
        self.problems.append(
            Problem(rule, message, entity, clean.origin.index, name, clean.origin.batch)
        )

    def _prepare_links(self, entity: str, records: list[Clean]) -> None:
        """Load the ids every link of these records may name."""
        wanted: dict[str, set[str]] = {}
        for name, spec in field_specs(entity).items():
            if spec.kind == "link" and spec.target is not None:
                wanted.setdefault(spec.target, set()).update(
                    r.values[name] for r in records if r.values.get(name) is not None
                )
            elif spec.kind == "person":
                for r in records:
                    kind = r.values.get("person_type")
                    if kind in PERSON_TYPES and r.values.get(name) is not None:
                        wanted.setdefault(kind, set()).add(r.values[name])
        for target, keys in wanted.items():
            if target in self.snapshot:
                continue  # only the snapshot's own records: its ids are filled as they arrive
            self._load_ids(target, keys if len(keys) < CHUNK else None)

    # -- upserts

    def upsert(self, entity: str) -> None:
        records = self.records.get(entity, [])
        model = self._model(entity)
        table = inspect(model).local_table
        counts = self.counts.setdefault(entity, Counts())
        names = list(field_specs(entity))
        whole = entity in self.snapshot or len(records) >= CHUNK
        existing = self._existing(table, names, records, whole)
        if entity == "student":
            self._rekey_pupils(table, records, existing)
        if entity in self.snapshot:
            self.ids[entity] = {}
            self.loaded[entity] = True
        self._prepare_links(entity, records)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        moves: list[tuple[int, str, int | None]] = []
        for clean in records:
            values = self._resolve(clean, entity)
            if values is None:
                continue
            row = existing.get(clean.key)
            if row is None:
                inserts.append(
                    {
                        **values,
                        "school_id": self.school_id,
                        "mis_id": clean.key,
                        "updated_at": self.now,
                    }
                )
                continue
            row_id, before = row
            self.ids.setdefault(entity, {})[clean.key] = row_id
            if self.merge:
                values = {n: values[n] if n in clean.present else before[n] for n in names}
            if all(_same(before[name], values[name]) for name in names):
                counts.unchanged += 1
                continue
            moved = self._moved_from(model, before, values)
            if moved is not None:
                moves.append((row_id, *moved))
            updates.append({"_id": row_id, **values, "updated_at": self.now})
        self._stop_if_problems()
        known = self.ids.setdefault(entity, {})
        for planned_row in inserts:
            self.planned -= 1
            known[planned_row["mis_id"]] = planned_row["_planned"] = self.planned
        for op, rows in (("moved", moves), ("update", updates), ("insert", inserts)):
            if rows:
                self.steps.append(_Step(op, entity, rows))
        counts.added += len(inserts)
        counts.changed += len(updates)
        self._advance(len(records), f"{entity.replace('_', ' ')}: {len(records):,} checked")

    def _existing(
        self, table: Any, names: list[str], records: list[Clean], whole: bool
    ) -> dict[str, tuple[int, dict[str, Any]]]:
        """The rows the records may already be, by MIS key: id and current values."""
        columns = [table.c.id, table.c.mis_id, *(table.c[name] for name in names)]
        query = select(*columns).where(
            table.c.school_id == self.school_id, table.c.mis_id.is_not(None)
        )
        rows: list[Any] = []
        if whole:
            rows = list(self.session.execute(query))
        else:
            for chunk in _chunks(sorted({r.key for r in records})):
                rows.extend(self.session.execute(query.where(table.c.mis_id.in_(chunk))))
        return {row.mis_id: (row.id, {name: getattr(row, name) for name in names}) for row in rows}

    def _rekey_pupils(
        self, table: Any, records: list[Clean], existing: dict[str, tuple[int, dict[str, Any]]]
    ) -> None:
        """A pupil sent with a new UPN and the old one as `former_upn` keeps their row."""
        keys = {r.key for r in records}
        formers = {
            r.values["former_upn"]: r
            for r in records
            if r.key not in existing and r.values.get("former_upn") not in (None, r.key)
        }
        if not formers:
            return
        query = select(table.c.id, table.c.mis_id).where(
            table.c.school_id == self.school_id,
            table.c.mis_id.in_(sorted(k for k in formers if k not in keys)),
        )
        for row_id, old in self.session.execute(query):
            record = formers[old]
            self.steps.append(_Step("rekey", "student", [(row_id, record.key)]))
            if old in existing:
                existing[record.key] = existing.pop(old)
            else:
                names = list(field_specs("student"))
                current = self.session.execute(
                    select(*(table.c[n] for n in names)).where(table.c.id == row_id)
                ).one()
                existing[record.key] = (row_id, dict(zip(names, current, strict=True)))
            self.ids.setdefault("student", {}).pop(old, None)

    def _moved_from(
        self, model: type[MisRecord], before: Mapping[str, Any], after: Mapping[str, Any]
    ) -> tuple[str, int | None] | None:
        """The owner a record leaves when an update gives it to another person, if it does."""
        owner = owner_of(model)
        if owner is None:
            return None
        if owner.fixed_kind is None:  # photos name their person
            if (before["person_type"], before["person_id"]) != (
                after["person_type"],
                after["person_id"],
            ):
                return before["person_type"], before["person_id"]
            return None
        column = {"student": "student_id", "staff": "staff_id"}.get(owner.fixed_kind, "")
        if column in before and before[column] != after[column]:
            value = before[column]
            return owner.fixed_kind, NO_PUPIL if value is None else value
        if "account_id" in before and before["account_id"] != after["account_id"]:
            from authserver.models.mis.catering import CashlessAccount

            account = self.session.get(CashlessAccount, before["account_id"])
            return ("student", account.student_id) if account is not None else None
        return None

    # -- deletions

    def delete(self, entity: str, keys: list[tuple[Origin, Any]]) -> None:
        model = self._model(entity)
        table = inspect(model).local_table
        counts = self.counts.setdefault(entity, Counts())
        wanted = sorted({str(key) if isinstance(key, int) else key for _, key in keys})
        ids: list[int] = []
        for chunk in _chunks(wanted):
            ids.extend(
                self.session.scalars(
                    select(table.c.id).where(
                        table.c.school_id == self.school_id, table.c.mis_id.in_(chunk)
                    )
                )
            )
        # Deleting what is already gone is not a problem: a retried delta must not fail.
        if ids:
            self.steps.append(_Step("delete", entity, ids))
            self.deleted.setdefault(entity, set()).update(ids)
        counts.removed += len(ids)
        self._advance(len(keys), f"{entity.replace('_', ' ')}: {len(ids):,} deleted")

    def remove_the_rest(self, entity: str, allow: bool, guard_percent: int) -> None:
        """A snapshot's entity: remove the school's rows it did not hold (ids not kept)."""
        model = self._model(entity)
        table = inspect(model).local_table
        keep = set(self.ids.get(entity, {}).values())
        # A record an application wrote, still on its way to the MIS, is not the MIS's to
        # remove yet: it has no MIS key until the MIS acknowledges it.
        if hasattr(model, "writeback_item_id"):
            keep |= set(self.session.scalars(writeback_queue.pending_rows(model, self.school_id)))
        deleted = self.deleted.get(entity, set())
        all_ids = [
            i
            for i in self.session.scalars(
                select(table.c.id).where(table.c.school_id == self.school_id)
            )
            if i not in deleted
        ]
        gone = [i for i in all_ids if i not in keep]
        counts = self.counts.setdefault(entity, Counts())
        before = len(all_ids)
        if (
            entity in GUARDED_ENTITIES
            and not allow
            and before > 0
            and len(gone) * 100 > before * guard_percent
        ):
            noun = "pupils" if entity == "student" else "staff"
            raise IngestRefused(
                [
                    Problem(
                        "mass_deletion",
                        f"This snapshot would remove {len(gone):,} of the school's "
                        f"{before:,} {noun} ({len(gone) * 100 // before}%), more than "
                        f"{guard_percent}%. If that is intended (a new MIS, a closed year), "
                        "send it again saying so (allow_mass_deletion).",
                        entity,
                    )
                ]
            )
        if gone:
            self.steps.append(_Step("delete", entity, gone))
        counts.removed += len(gone)

    # -- progress

    def _advance(self, records: int, message: str) -> None:
        self.done += records
        if self.progress is not None:
            self.progress(self.done, self.total, message)

    # -- writing

    def carry_out(self) -> None:
        """Write the plan, in order, in the caller's transaction: planned ids become the rows'
        own as they are inserted, and every change is stamped with this moment."""
        if self.progress is not None:
            self.progress(self.done, self.total, "Saving the changes")
        self.now = now = utcnow()
        real: dict[int, int] = {}
        for step in self.steps:
            table = inspect(self._model(step.entity)).local_table
            if step.op == "rekey":
                for row_id, key in step.rows:
                    self.session.execute(
                        update(table).where(table.c.id == row_id).values(mis_id=key)
                    )
            elif step.op == "moved":
                self.session.add_all(
                    Tombstone(
                        school_id=self.school_id,
                        entity=step.entity,
                        record_id=row_id,
                        deleted_at=now,
                        owner_type=owner_type,
                        owner_id=owner_id,
                        reason=MOVED,
                    )
                    for row_id, owner_type, owner_id in step.rows
                )
            elif step.op == "update":
                self._write_updates(step.entity, table, step.rows, real)
            elif step.op == "insert":
                self._write_inserts(step.entity, table, step.rows, real)
            else:
                model = self._model(step.entity)
                for chunk in _chunks(step.rows):
                    delete_rows(self.session, model, self.school_id, [table.c.id.in_(chunk)])
        self.session.flush()
        self._refresh_statistics()

    def _links(self, entity: str) -> list[str]:
        return [n for n, spec in field_specs(entity).items() if spec.kind in ("link", "person")]

    def _real(
        self, row: dict[str, Any], links: list[str], real: Mapping[int, int]
    ) -> dict[str, Any]:
        """The row with each link to a planned record turned into that record's id."""
        values = {**row, "updated_at": self.now}
        for name in links:
            value = values.get(name)
            if isinstance(value, int) and value < 0:
                values[name] = real[value]
        return values

    def _write_updates(
        self, entity: str, table: Any, rows: list[dict[str, Any]], real: Mapping[int, int]
    ) -> None:
        links = self._links(entity)
        names = [*field_specs(entity), "updated_at"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in names})
        )
        for chunk in _chunks(rows):
            self.session.connection().execute(
                statement, [self._real(row, links, real) for row in chunk]
            )

    def _write_inserts(
        self, entity: str, table: Any, rows: list[dict[str, Any]], real: dict[int, int]
    ) -> None:
        links = self._links(entity)
        planned = {row["mis_id"]: row["_planned"] for row in rows}
        for chunk in _chunks(rows):
            values = []
            for row in chunk:
                written = self._real(row, links, real)
                del written["_planned"]
                values.append(written)
            self.session.connection().execute(table.insert(), values)
        query = select(table.c.mis_id, table.c.id).where(table.c.school_id == self.school_id)
        if len(planned) >= CHUNK:
            real.update((planned[k], i) for k, i in self.session.execute(query) if k in planned)
        else:
            for chunk in _chunks(sorted(planned)):
                real.update(
                    (planned[k], i)
                    for k, i in self.session.execute(query.where(table.c.mis_id.in_(chunk)))
                )

    def _refresh_statistics(self) -> None:
        """On PostgreSQL, ANALYZE each table this run changed by more than a tenth of what the
        planner believes it holds (autovacuum's own rule), in this transaction.

        A school's first snapshot fills tables the planner last saw empty: until autovacuum
        comes round (a minute or more, never if it is off), every vendor read is planned for
        empty tables and takes seconds instead of milliseconds. The new statistics commit with
        the data, so the first read after the commit is planned for what it finds."""
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":
            return
        for entity, counts in self.counts.items():
            table = inspect(self._model(entity)).local_table
            believed = connection.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)"),
                {"name": table.name},
            ).scalar()
            if counts.touched > ANALYZE_BASE_ROWS + ANALYZE_SCALE * max(believed or 0, 0):
                connection.execute(text(f'ANALYZE "{table.name}"'))


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, dt.datetime) and before.tzinfo is None:
        before = before.replace(tzinfo=dt.UTC)  # SQLite hands back naive UTC
    return bool(before == after)


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    items = list(items)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
