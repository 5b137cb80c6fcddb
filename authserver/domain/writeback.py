"""Writeback: an application writing registers, conduct, assessment results and photos into
the MIS.

The domain side, with nothing of HTTP: what may be written (`WRITEBACK_RESOURCES`, the
catalogue's Writeback scopes, and `PHOTOS`), checking a batch against one school (`validate`,
`validate_change`), and writing it (`write`, `correct`, `withdraw`). Each returns what it did
as `Written` for the queue (authserver/domain/writeback_queue.py) to send to the MIS. A batch is
all or nothing: the caller validates every object, writes them all and commits once.

Writes insert new rows, with one exception: a session mark is unique per pupil, date and
session, so writing one again replaces that mark (its code, minutes late and comment; a field
left out becomes empty); a photo likewise replaces the person's photo. A correction changes
only an application's own records, in place; a withdrawal leaves the record until the MIS has
deleted it. A pupil the grant does not cover is reported exactly like one that does not exist,
so a write never reveals whether an id belongs to a pupil elsewhere. A field the school left out
of the grant cannot be written at all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, Integer, String, inspect, select
from sqlalchemy.orm import Session

from authserver.models.mis import ENTITIES
from authserver.models.mis.assessment import AssessmentAspect
from authserver.models.mis.attendance import AttendanceCode, SessionMark
from authserver.models.mis.base import MisRecord
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import Lesson
from authserver.models.mis.students import Student


@dataclass(frozen=True)
class WritebackResource:
    """A collection an application may write to: its URL name, entity, scope and fields."""

    resource: str
    entity: str
    scope: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


WRITEBACK_RESOURCES: dict[str, WritebackResource] = {
    r.resource: r
    for r in (
        WritebackResource(
            resource="session-marks",
            entity="session_mark",
            scope="WritebackAttendance",
            required=("student_id", "date", "session", "code"),
            optional=("minutes_late", "comment"),
        ),
        WritebackResource(
            resource="lesson-marks",
            entity="lesson_mark",
            scope="WritebackAttendance",
            required=("student_id", "lesson_id", "code"),
            optional=("minutes_late", "comment"),
        ),
        WritebackResource(
            resource="behaviours",
            entity="behaviour",
            scope="WritebackConduct",
            required=("student_id", "occurred_on", "behaviour_type"),
            optional=("points", "location", "action_taken", "status", "staff_id", "comment"),
        ),
        WritebackResource(
            resource="achievements",
            entity="achievement",
            scope="WritebackConduct",
            required=("student_id", "occurred_on", "achievement_type"),
            optional=("points", "award", "staff_id", "comment"),
        ),
        WritebackResource(
            resource="assessment-results",
            entity="assessment_result",
            scope="WritebackAssessment",
            required=("student_id", "aspect_id", "result_set"),
            optional=("value", "comment", "recorded_on", "staff_id"),
        ),
    )
}

#: Photos are written one at a time, as an image (see authserver/domain/photos.py).
PHOTOS = WritebackResource(
    resource="photos",
    entity="photo",
    scope="WritebackPhotos",
    required=("person_type", "person_id", "content_type", "content"),
    optional=("taken_on",),
)
#: What an application may correct or withdraw, by resource name: all it may write.
CORRECTABLE: dict[str, WritebackResource] = WRITEBACK_RESOURCES | {PHOTOS.resource: PHOTOS}

#: The most objects one batch may carry.
MAX_BATCH = 1000
SESSIONS = ("AM", "PM")
#: Id fields that must name a row of the writing school (pupils also within the grant).
REFERENCES: dict[str, type[MisRecord]] = {
    "student_id": Student,
    "lesson_id": Lesson,
    "staff_id": Staff,
    "aspect_id": AssessmentAspect,
}
#: Fields whose values must be non-negative.
NON_NEGATIVE = frozenset({"minutes_late"})
#: The largest whole number a column holds (a 32-bit integer on PostgreSQL).
MAX_INTEGER = 2**31 - 1
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def fields_of(resource: WritebackResource) -> tuple[str, ...]:
    """Every field the resource accepts, required first."""
    return resource.required + resource.optional


def error(index: int, field: str | None, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message}


def validate(
    session: Session,
    resource: WritebackResource,
    batch: Any,
    *,
    school_id: int,
    pupils: frozenset[int] | None,
    excluded: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Check a batch for one school; `pupils` are those the grant covers (None: all of them),
    `excluded` the `entity.field` names the school left out (none of them may be sent).

    Returns the cleaned objects (typed values, every field present) and the errors, each
    `{"index", "field", "message"}`; the batch may be written only if there are no errors.
    """
    if not isinstance(batch, list):
        return [], [error(0, None, "data must be a list of objects.")]
    model = ENTITIES[resource.entity]
    allowed = fields_of(resource)
    cleaned: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(batch):
        if not isinstance(item, dict):
            errors.append(error(index, None, "Each item must be a JSON object."))
            cleaned.append({})
            continue
        values: dict[str, Any] = {}
        for field in sorted(set(item) - set(allowed)):
            errors.append(error(index, field, f"{field} is not a field of {resource.resource}."))
        left_out = _left_out(resource, item, excluded)
        for field in left_out:
            errors.append(error(index, field, LEFT_OUT.format(field=field)))
        for field in allowed:
            if field in left_out:
                values[field] = None
                continue
            raw = item.get(field)
            if raw is None:
                if field in resource.required:
                    errors.append(error(index, field, f"{field} is required."))
                values[field] = None
                continue
            value, problem = _typed(model, field, raw, required=field in resource.required)
            if problem:
                errors.append(error(index, field, problem))
            values[field] = value
        cleaned.append(values)
    if not errors:
        errors = _check_references(session, resource, cleaned, school_id, pupils)
    return cleaned, sorted(errors, key=lambda e: (e["index"], e["field"] or ""))


LEFT_OUT = (
    "The school left {field} out of what it shares with this application, so it cannot be"
    " written; leave it out."
)


def _left_out(
    resource: WritebackResource, item: Mapping[str, Any], excluded: Iterable[str]
) -> list[str]:
    """The fields of an object that the school left out of the grant, sorted."""
    dropped = {f"{resource.entity}.{field}" for field in fields_of(resource)} & set(excluded)
    return sorted(f for f in item if f"{resource.entity}.{f}" in dropped)


def validate_change(
    session: Session,
    resource: WritebackResource,
    row: MisRecord,
    changes: Any,
    *,
    school_id: int,
    pupils: frozenset[int] | None,
    excluded: Iterable[str] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Check a correction of one record (the fields it changes; null clears an optional one).

    Returns the cleaned changes and the errors (`index` 0), as `validate` does; the record as
    corrected must be valid as a whole.
    """
    if not isinstance(changes, dict) or not changes:
        return {}, [error(0, None, "Send a JSON object with the fields to change.")]
    allowed = fields_of(resource)
    errors = [
        error(0, f, f"{f} is not a field of {resource.resource}.")
        for f in sorted(set(changes) - set(allowed))
    ]
    errors += [
        error(0, f, LEFT_OUT.format(field=f)) for f in _left_out(resource, changes, excluded)
    ]
    if errors:
        return {}, errors
    merged = {field: as_json(getattr(row, field)) for field in allowed} | changes
    cleaned, errors = validate(session, resource, [merged], school_id=school_id, pupils=pupils)
    if errors:
        return {}, errors
    return {field: cleaned[0][field] for field in changes}, []


def as_json(value: Any) -> Any:
    """A column's value as the queue keeps it and the API writes it (dates in ISO 8601)."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return value


def _typed(
    model: type[MisRecord], field: str, raw: Any, *, required: bool
) -> tuple[Any, str | None]:
    column_type = inspect(model).local_table.c[field].type
    if isinstance(column_type, Integer):
        if isinstance(raw, bool) or not isinstance(raw, int):
            return None, f"{field} must be a whole number."
        if field.endswith("_id") and raw < 1:
            return None, f"Unknown {field}: {raw}."
        if field in NON_NEGATIVE and raw < 0:
            return None, f"{field} must not be negative."
        if abs(raw) > MAX_INTEGER:
            return None, f"{field} is too large."
        return raw, None
    if isinstance(column_type, Date):
        if not isinstance(raw, str) or not ISO_DATE.fullmatch(raw):
            return None, f"{field} must be a date, YYYY-MM-DD."
        try:
            return dt.date.fromisoformat(raw), None
        except ValueError:
            return None, f"{field} must be a date, YYYY-MM-DD."
    if isinstance(column_type, String):
        if not isinstance(raw, str):
            return None, f"{field} must be text."
        if column_type.length and len(raw) > column_type.length:
            return None, f"{field} must be at most {column_type.length} characters."
        if required and not raw.strip():
            return None, f"{field} must not be blank."
        if field == "session" and raw not in SESSIONS:
            return None, "session must be AM or PM."
        return raw, None
    raise TypeError(f"{model.__name__}.{field} has a type writeback does not handle")


def _check_references(
    session: Session,
    resource: WritebackResource,
    cleaned: list[dict[str, Any]],
    school_id: int,
    pupils: frozenset[int] | None,
) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    for field, model in REFERENCES.items():
        if field not in fields_of(resource):
            continue
        wanted = {values[field] for values in cleaned if values.get(field) is not None}
        known = _existing(session, model, wanted, school_id)
        if field == "student_id" and pupils is not None:
            known &= pupils
        for index, values in enumerate(cleaned):
            if values.get(field) is not None and values[field] not in known:
                errors.append(error(index, field, f"Unknown {field}: {values[field]}."))
    if "code" in fields_of(resource):
        codes = set(
            session.scalars(
                select(AttendanceCode.code).where(AttendanceCode.school_id == school_id)
            )
        )
        for index, values in enumerate(cleaned):
            if values["code"] not in codes:
                errors.append(error(index, "code", f"Unknown attendance code: {values['code']}."))
    if resource.entity == "session_mark":
        seen: dict[tuple[Any, ...], int] = {}
        for index, values in enumerate(cleaned):
            key = _session_key(values)
            if key in seen:
                errors.append(
                    error(index, "session", f"The same mark as item {seen[key]} of this batch.")
                )
            seen.setdefault(key, index)
    return errors


def _existing(
    session: Session, model: type[MisRecord], ids: Iterable[int], school_id: int
) -> set[int]:
    wanted = list(ids)
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update(
            session.scalars(
                select(model.id).where(model.school_id == school_id, model.id.in_(chunk))
            )
        )
    return found


def _session_key(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return (values["student_id"], values["date"], values["session"])


@dataclass
class Written:
    """What a write did to one row, for the queue: the op, the values sent (JSON), and what
    the row held before (for an update), to put back should the MIS refuse it."""

    row: MisRecord
    op: str  # create, update or delete (authserver.models.writebacks.WritebackOp)
    values: dict[str, Any]
    previous: dict[str, Any] | None = None


def write(
    session: Session, resource: WritebackResource, cleaned: list[dict[str, Any]], school_id: int
) -> list[Written]:
    """Write validated objects for the school, in the caller's transaction (it commits).

    Session marks replace an existing mark of the same pupil, date and session at this school
    (an update of that mark); everything else is inserted. The rows are flushed, with ids.
    """
    model = ENTITIES[resource.entity]
    existing: dict[tuple[Any, ...], SessionMark] = {}
    if resource.entity == "session_mark":
        existing = _existing_marks(session, cleaned, school_id)
    written: list[Written] = []
    for values in cleaned:
        sent = {field: as_json(value) for field, value in values.items()}
        row = existing.get(_session_key(values)) if existing else None
        if row is None:
            row = model(school_id=school_id, **values)
            session.add(row)
            written.append(Written(row, "create", sent))
        else:
            written.append(Written(row, "update", sent, _values_of(row, values)))
            for field, value in values.items():
                setattr(row, field, value)
    session.flush()
    return written


def correct(session: Session, row: MisRecord, changes: dict[str, Any]) -> Written:
    """Change validated fields of a record in place (the caller commits)."""
    written = Written(
        row, "update", {f: as_json(v) for f, v in changes.items()}, _values_of(row, changes)
    )
    for field, value in changes.items():
        setattr(row, field, value)
    session.flush()
    return written


def withdraw(row: MisRecord) -> Written:
    """A record's withdrawal: it stays, marked pending, until the MIS has deleted it."""
    return Written(row, "delete", {})


def write_photo(session: Session, school_id: int, values: dict[str, Any]) -> Written:
    """Add a person's photo, or replace the one they have (the caller commits)."""
    from authserver.models.mis.photos import Photo

    row = session.scalar(
        select(Photo)
        .where(
            Photo.school_id == school_id,
            Photo.person_type == values["person_type"],
            Photo.person_id == values["person_id"],
        )
        .order_by(Photo.id.desc())
        .limit(1)
    )
    sent = {field: as_json(value) for field, value in values.items()}
    if row is None:
        row = Photo(school_id=school_id, **values)
        session.add(row)
        written = Written(row, "create", sent)
    else:
        written = Written(row, "update", sent, _values_of(row, values))
        for field, value in values.items():
            setattr(row, field, value)
    session.flush()
    return written


def _values_of(row: MisRecord, fields: Iterable[str]) -> dict[str, Any]:
    return {field: as_json(getattr(row, field)) for field in fields}


def _existing_marks(
    session: Session, cleaned: list[dict[str, Any]], school_id: int
) -> dict[tuple[Any, ...], SessionMark]:
    students = sorted({values["student_id"] for values in cleaned})
    dates = sorted({values["date"] for values in cleaned})
    marks: dict[tuple[Any, ...], SessionMark] = {}
    for start in range(0, len(students), 500):
        query = select(SessionMark).where(
            SessionMark.school_id == school_id,
            SessionMark.student_id.in_(students[start : start + 500]),
            SessionMark.date.in_(dates),
        )
        for mark in session.scalars(query.order_by(SessionMark.id)):
            marks.setdefault((mark.student_id, mark.date, mark.session), mark)
    return marks


def restore(row: MisRecord, previous: Mapping[str, Any]) -> None:
    """Put back what an update changed (values as `as_json` kept them)."""
    table = inspect(type(row)).local_table
    for field, value in previous.items():
        column_type = table.c[field].type
        if value is not None and isinstance(column_type, Date):
            value = dt.date.fromisoformat(value)
        setattr(row, field, value)
