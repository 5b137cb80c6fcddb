"""What each application really reads, field by field and day by day (UTC): counted as each
read happens, and read back for the school's dashboard."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite

from authserver.domain.catalogue import Scope, default_catalogue
from authserver.domain.grants import Restrictions, visible_fields
from authserver.extensions import db
from authserver.models.field_use import WHOLE_READ, FieldUseDay, whole_read_of
from authserver.models.grants import Grant

# "Lately" on the dashboard: today and the 29 days before it, in UTC.
USE_WINDOW_DAYS = 30


def fields_sent(
    entity: str, fields: Iterable[str] = (), read_fields: Iterable[str] | None = None
) -> list[str]:
    """The "entity.field" names a read sent: `read_fields` when the API gives them (they cover
    includes and sparse fieldsets), otherwise the main entity's `fields`, qualified."""
    if read_fields is not None:
        return sorted(set(read_fields))
    return sorted({f"{entity}.{name}" for name in fields})


def record_read(
    *,
    school_id: int,
    application_id: int,
    fields: Iterable[str] | Mapping[str, int],
    rows: int,
    at: dt.datetime,
    entity: str | None = None,
) -> None:
    """Count one read of `rows` records (the read as a whole, and as a read of `entity` when
    given) and of the fields it sent, on the UTC day of `at`, in the caller's transaction.
    `fields` names fields sent in every one of the `rows` records, or maps each field to the
    records that carried it (an include's own). A field sent in no record is not counted: an
    empty page reads no field. Safe when many requests count at once: one upsert per read."""
    day = at.astimezone(dt.UTC).date()
    records = dict(fields) if isinstance(fields, Mapping) else dict.fromkeys(fields, rows)
    wholes = {WHOLE_READ} | ({whole_read_of(entity)} if entity is not None else set())
    records.update(dict.fromkeys(wholes, rows))
    # Sorted, so that concurrent reads lock the rows they share in one order (no deadlock);
    # WHOLE_READ sorts first. Keys are unique: PostgreSQL refuses one row changed twice.
    keys = sorted(key for key, count in records.items() if count > 0 or key in wholes)
    table = FieldUseDay.__table__
    connection = db.session.connection()
    statement: postgresql.Insert | sqlite.Insert
    if connection.dialect.name == "postgresql":
        statement = postgresql.insert(table)
    elif connection.dialect.name == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise NotImplementedError(f"no upsert for {connection.dialect.name}")
    statement = statement.values(
        [
            {
                "school_id": school_id,
                "application_id": application_id,
                "day": day,
                "field": key,
                "requests": 1,
                "rows": records[key],
                "last_read_at": at,
            }
            for key in keys
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.school_id, table.c.application_id, table.c.day, table.c.field],
        set_={
            "requests": table.c.requests + statement.excluded.requests,
            "rows": table.c.rows + statement.excluded.rows,
            # Requests may commit out of order: keep the latest moment, not the last written.
            "last_read_at": case(
                (
                    statement.excluded.last_read_at > table.c.last_read_at,
                    statement.excluded.last_read_at,
                ),
                else_=table.c.last_read_at,
            ),
        },
    )
    connection.execute(statement)


def window(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day (UTC) of the dashboard's "last 30 days" ending `today`."""
    return today - dt.timedelta(days=USE_WINDOW_DAYS - 1), today


@dataclass(frozen=True)
class FieldUse:
    """How much an application read of one field in the window."""

    field: str
    label: str
    requests: int = 0
    rows: int = 0
    last_read_at: dt.datetime | None = None

    @property
    def was_read(self) -> bool:
        """Whether the field was sent in at least one record (a read of an empty page, or of
        records without it, is not a use of it)."""
        return self.rows > 0

    @property
    def described(self) -> str:
        """The field in words, with whose it is ("Parents and contacts: First name")."""
        entity = self.field.partition(".")[0]
        return f"{default_catalogue().entity_labels.get(entity, entity)}: {self.label}"


@dataclass(frozen=True)
class ScopeUse:
    """A granted read scope and the use of each field of it the grant lets through."""

    scope: Scope
    fields: list[FieldUse]

    @property
    def fields_read(self) -> int:
        return sum(1 for f in self.fields if f.was_read)


@dataclass(frozen=True)
class ConnectionUse:
    """What a grant lets its application read, field by field, against what it read."""

    first_day: dt.date
    last_day: dt.date
    scopes: list[ScopeUse]
    left_out: list[str]
    # Fields of scopes the application requires: the school cannot leave those out alone.
    required: frozenset[str] = frozenset()

    @property
    def never_read(self) -> list[FieldUse]:
        """Each field the grant shares that the application did not read in the window."""
        unread = {f.field: f for s in self.scopes for f in s.fields if not f.was_read}
        return sorted(unread.values(), key=lambda f: f.described.lower())

    @property
    def never_read_optional(self) -> list[FieldUse]:
        """The unread fields the school may leave out in the connection's settings."""
        return [f for f in self.never_read if f.field not in self.required]

    @property
    def never_read_required(self) -> list[FieldUse]:
        """The unread fields of scopes the application says it requires."""
        return [f for f in self.never_read if f.field in self.required]

    @property
    def fields_shared(self) -> int:
        return len({f.field for s in self.scopes for f in s.fields})

    @property
    def scopes_read(self) -> list[str]:
        """The granted scopes that serve what the application read: few, and small, enough to
        cover every field read (a field read through StudentLite does not make Student read)."""
        left = {f.field for s in self.scopes for f in s.fields if f.was_read}
        fields = {s.scope.name: {f.field for f in s.fields} for s in self.scopes}
        order = {s.scope.name: index for index, s in enumerate(self.scopes)}
        chosen: set[str] = set()
        # Greedy set cover: the scope covering most of what is left; on a tie the one sharing
        # fewer fields, then the first granted.
        while left:
            best = max(fields, key=lambda n: (len(left & fields[n]), -len(fields[n]), -order[n]))
            chosen.add(best)
            left -= fields[best]
        return [s.scope.name for s in self.scopes if s.scope.name in chosen]


def _read_scopes(grant: Grant) -> list[Scope]:
    catalogue = default_catalogue()
    return [catalogue[name] for name in grant.scopes if catalogue[name].kind == "read"]


def _totals(
    school_id: int, application_ids: Sequence[int], first_day: dt.date, last_day: dt.date
) -> dict[tuple[int, str], tuple[int, int, dt.datetime]]:
    """(application, field) -> requests, rows and last read, summed over the days."""
    query = (
        select(
            FieldUseDay.application_id,
            FieldUseDay.field,
            func.sum(FieldUseDay.requests),
            func.sum(FieldUseDay.rows),
            func.max(FieldUseDay.last_read_at),
        )
        .where(
            FieldUseDay.school_id == school_id,
            FieldUseDay.application_id.in_(application_ids),
            FieldUseDay.day.between(first_day, last_day),
            FieldUseDay.field != WHOLE_READ,
        )
        .group_by(FieldUseDay.application_id, FieldUseDay.field)
    )
    totals = {}
    for application_id, name, requests, rows, last in db.session.execute(query):
        # func.max loses the column's type on SQLite: read the moment back as UTC.
        totals[(application_id, name)] = (int(requests), int(rows), _as_utc(last))
    return totals


def _as_utc(value: dt.datetime | str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def use_of(grant: Grant, *, today: dt.date) -> ConnectionUse:
    """Every field the grant lets its application read (its read scopes' fields, less those
    the school left out), with what the application read of each in the 30 days to `today`."""
    return uses_of([grant], today=today)[grant.id]


def uses_of(grants: Sequence[Grant], *, today: dt.date) -> dict[int, ConnectionUse]:
    """`use_of` for several grants of one school, in one query."""
    if not grants:
        return {}
    schools = {g.school_id for g in grants}
    if len(schools) != 1:
        raise ValueError("uses_of reads one school's grants at a time")
    catalogue = default_catalogue()
    first_day, last_day = window(today)
    totals = _totals(schools.pop(), [g.application_id for g in grants], first_day, last_day)
    uses = {}
    for grant in grants:
        restrictions = Restrictions.from_json(grant.restrictions)
        scopes = _read_scopes(grant)
        shared = visible_fields([s.name for s in scopes], restrictions)
        scope_uses = []
        for scope in scopes:
            field_uses = []
            for name in scope.fields:
                if name not in shared:
                    continue
                requests, rows, last = totals.get((grant.application_id, name), (0, 0, None))
                field_uses.append(FieldUse(name, catalogue.field_label(name), requests, rows, last))
            if field_uses:
                scope_uses.append(ScopeUse(scope, field_uses))
        left_out = sorted(
            set(restrictions.excluded_fields) & catalogue.fields_for(s.name for s in scopes)
        )
        required = catalogue.fields_for(
            s for s in grant.application.required_scopes if s in grant.scopes
        )
        uses[grant.id] = ConnectionUse(first_day, last_day, scope_uses, left_out, required)
    return uses


@dataclass(frozen=True)
class ReadSummary:
    """One application's reads at a school on one day (UTC), for the history page."""

    day: dt.date
    application_id: int
    entities: list[str]
    requests: int
    rows: int
    last_read_at: dt.datetime

    @property
    def entity_labels(self) -> list[str]:
        """What was read, in the catalogue's words ("Pupils", "Attendance marks")."""
        labels = default_catalogue().entity_labels
        return [labels.get(entity, entity) for entity in self.entities]


def read_summaries(
    school_id: int,
    *,
    application_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int | None = None,
) -> list[ReadSummary]:
    """Per day and application, what was read at the school: newest first, at most `limit`."""
    conditions = [FieldUseDay.school_id == school_id]
    if application_id is not None:
        conditions.append(FieldUseDay.application_id == application_id)
    if since is not None:
        conditions.append(FieldUseDay.day >= since)
    if until is not None:
        conditions.append(FieldUseDay.day <= until)
    query = (
        select(FieldUseDay)
        .where(*conditions, FieldUseDay.field == WHOLE_READ)
        .order_by(
            FieldUseDay.day.desc(),
            FieldUseDay.last_read_at.desc(),
            FieldUseDay.application_id,
        )
    )
    if limit is not None:
        query = query.limit(limit)
    wholes = list(db.session.scalars(query))
    if not wholes:
        return []
    entities: dict[tuple[dt.date, int], set[str]] = {}
    fields = db.session.execute(
        select(FieldUseDay.day, FieldUseDay.application_id, FieldUseDay.field).where(
            *conditions,
            FieldUseDay.field != WHOLE_READ,
            and_(FieldUseDay.day >= wholes[-1].day, FieldUseDay.day <= wholes[0].day),
        )
    )
    for day, application, name in fields:
        entities.setdefault((day, application), set()).add(name.partition(".")[0])
    return [
        ReadSummary(
            day=whole.day,
            application_id=whole.application_id,
            entities=_in_catalogue_order(entities.get((whole.day, whole.application_id), set())),
            requests=whole.requests,
            rows=whole.rows,
            last_read_at=whole.last_read_at,
        )
        for whole in wholes
    ]


def _in_catalogue_order(entities: set[str]) -> list[str]:
    order = {name: index for index, name in enumerate(default_catalogue().entity_labels)}
    return sorted(entities, key=lambda name: (order.get(name, len(order)), name))
