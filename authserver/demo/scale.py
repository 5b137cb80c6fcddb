"""A platform-sized database for scale runs: tens of thousands of schools, a million grants and
millions of tokens, written with COPY on PostgreSQL (bulk inserts elsewhere).

The rows are filler with the shape of real ones: their digests are random values with no
secret behind them, so nothing here can be presented as a credential.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from authserver.extensions import db
from authserver.models import Application, ApplicationScope, School, Vendor
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from authserver.models.school_secrets import SchoolSecret
from authserver.models.tokens import Token

# Each scale school starts at this URN, far from the demo's own.
FIRST_URN = 2_000_000
APPLICATIONS_PER_VENDOR = 10
SCOPES = ["StudentLite", "Attendance"]
# Shared by every filler row (never changed): formatted for COPY once.
NO_RESTRICTIONS: dict[str, Any] = {}
# A share of the tokens is already expired, as on a live platform between purges.
EXPIRED_SHARE = 0.2
BATCH_ROWS = 50_000
REBUILD_INDEXES_FROM_ROWS = 100_000

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ScaleSizes:
    """How much to make."""

    schools: int = 25_000
    applications: int = 200
    grants: int = 1_000_000
    tokens: int = 10_000_000

    def check(self) -> None:
        """Refuse sizes that cannot be laid out: each school holds at most one grant per app."""
        if min(self.schools, self.applications) < 1:
            raise ValueError("at least one school and one application")
        if self.grants > self.schools * self.applications:
            raise ValueError("more grants than (school, application) pairs")
        if self.tokens and not self.grants:
            raise ValueError("tokens need grants to belong to")


def fill(sizes: ScaleSizes, *, seed: int = 2026, progress: Progress | None = None) -> None:
    """Add `sizes` worth of schools, applications, grants, school secrets and tokens."""
    sizes.check()
    report = progress or (lambda _table, _done, _total: None)
    now = utcnow()
    start = _next_ids()
    # Seeded by where this fill starts too, so that a second fill makes new digests.
    rng = random.Random(f"{seed}:{start['tokens']}:{start['grants']}")
    vendors = max(1, -(-sizes.applications // APPLICATIONS_PER_VENDOR))
    writer = _CopyWriter() if db.engine.dialect.name == "postgresql" else _InsertWriter()
    writer.write(Vendor, _vendors(start, vendors, now), vendors, report)
    writer.write(School, _schools(start, sizes.schools, now), sizes.schools, report)
    writer.write(
        Application,
        _applications(start, sizes.applications, vendors, rng, now),
        sizes.applications,
        report,
    )
    writer.write(
        ApplicationScope,
        _application_scopes(start, sizes.applications),
        sizes.applications * len(SCOPES),
        report,
    )
    writer.write(Grant, _grants(start, sizes, now), sizes.grants, report)
    writer.write(SchoolSecret, _school_secrets(start, sizes, rng, now), sizes.grants, report)
    writer.write(Token, _tokens(start, sizes, rng, now), sizes.tokens, report)
    writer.finish()


def _next_ids() -> dict[str, int]:
    """The first free id of each table we fill, so that filling twice only adds."""
    ids = {}
    for model in (Vendor, School, Application, ApplicationScope, Grant, SchoolSecret, Token):
        ids[model.__tablename__] = (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1
    return ids


def _vendors(start: dict[str, int], count: int, now: dt.datetime) -> Iterator[dict[str, Any]]:
    first = start["vendors"]
    for n in range(count):
        # Verified, so that their applications' grants at the (real) scale schools are usable.
        yield {
            "id": first + n,
            "name": f"Scale Vendor {first + n}",
            "created_at": now,
            "verified_at": now,
            "verified_by": "scale fill",
        }


def _schools(start: dict[str, int], count: int, now: dt.datetime) -> Iterator[dict[str, Any]]:
    first = start["schools"]
    for n in range(count):
        yield {
            "id": first + n,
            "urn": str(FIRST_URN + first + n),
            "name": f"Scale School {first + n}",
            "phase": "secondary" if n % 5 == 0 else "primary",
            "created_at": now,
        }


def _applications(
    start: dict[str, int], count: int, vendors: int, rng: random.Random, now: dt.datetime
) -> Iterator[dict[str, Any]]:
    first = start["applications"]
    for n in range(count):
        yield {
            "id": first + n,
            "vendor_id": start["vendors"] + n % vendors,
            "name": f"Scale App {first + n}",
            "description": "",
            "client_id": f"scale{first + n}_{rng.getrandbits(64):016x}",
            "client_secret_digest": _hex(rng),
            "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": [f"https://app{first + n}.example.com/callback"],
            "privacy_policy_url": f"https://app{first + n}.example.com/privacy",
            "require_pushed_authorization_requests": False,
            "access_token_format": "opaque",
            "created_at": now,
            "updated_at": now,
        }


def _application_scopes(start: dict[str, int], count: int) -> Iterator[dict[str, Any]]:
    row_id = start["application_scopes"]
    for n in range(count):
        for scope in SCOPES:
            yield {
                "id": row_id,
                "application_id": start["applications"] + n,
                "scope": scope,
                "required": True,
                "purpose": "Scale run.",
            }
            row_id += 1


def _grant_pair(n: int, sizes: ScaleSizes) -> tuple[int, int]:
    """The (school, application) offsets of grant `n`: every pair distinct."""
    per_school = -(-sizes.grants // sizes.schools)
    school = n // per_school
    return school, (n % per_school + school) % sizes.applications


def _grants(start: dict[str, int], sizes: ScaleSizes, now: dt.datetime) -> Iterator[dict]:
    for n in range(sizes.grants):
        school, application = _grant_pair(n, sizes)
        yield {
            "id": start["grants"] + n,
            "application_id": start["applications"] + application,
            "school_id": start["schools"] + school,
            "status": "active",
            "version": 1,
            "scopes": SCOPES,
            "restrictions": NO_RESTRICTIONS,
            "approved_at": now,
            "created_at": now,
            "updated_at": now,
        }


def _school_secrets(
    start: dict[str, int], sizes: ScaleSizes, rng: random.Random, now: dt.datetime
) -> Iterator[dict]:
    for n in range(sizes.grants):
        school, application = _grant_pair(n, sizes)
        yield {
            "id": start["school_secrets"] + n,
            "grant_id": start["grants"] + n,
            "application_id": start["applications"] + application,
            "school_id": start["schools"] + school,
            "grant_version": 1,
            "scopes": SCOPES,
            "restrictions": NO_RESTRICTIONS,
            "secret_digest": _hex(rng),
            "created_at": now,
        }


def _tokens(
    start: dict[str, int], sizes: ScaleSizes, rng: random.Random, now: dt.datetime
) -> Iterator[dict]:
    live = now + dt.timedelta(hours=1)
    dead = now - dt.timedelta(hours=2)
    refresh_live = now + dt.timedelta(days=30)
    scope = " ".join(SCOPES)
    for n in range(sizes.tokens):
        grant = n % sizes.grants
        school, application = _grant_pair(grant, sizes)
        expired = rng.random() < EXPIRED_SHARE
        refreshable = n % 4 == 0
        yield {
            "id": start["tokens"] + n,
            "application_id": start["applications"] + application,
            "grant_type": "authorization_code" if refreshable else "school_secret",
            "school_id": start["schools"] + school,
            "grant_id": start["grants"] + grant,
            "grant_version": 1,
            "scope": scope,
            "restrictions": NO_RESTRICTIONS,
            "token_format": "opaque",
            "access_token_digest": _hex(rng),
            "refresh_token_digest": _hex(rng) if refreshable else None,
            "family_id": f"{rng.getrandbits(128):032x}",
            "issued_at": dead if expired else now,
            "expires_at": dead if expired else live,
            "refresh_expires_at": (dead if expired else refresh_live) if refreshable else None,
        }


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


class _InsertWriter:
    """Bulk inserts through SQLAlchemy Core: for SQLite, and small sizes."""

    def write(self, model: type, rows: Iterator[dict], total: int, report: Progress) -> None:
        table = model.__table__
        batch: list[dict] = []
        done = 0
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH_ROWS:
                db.session.execute(table.insert(), batch)
                done += len(batch)
                batch.clear()
                report(table.name, done, total)
        if batch:
            db.session.execute(table.insert(), batch)
            done += len(batch)
        report(table.name, done, total)

    def finish(self) -> None:
        db.session.commit()


class _CopyWriter:
    """COPY ... FROM STDIN in text format on one connection, committed once at the end."""

    def __init__(self) -> None:
        self.connection = db.session.connection()
        self.raw = self.connection.connection.driver_connection
        # Index builds sort in memory when they can.
        self.connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")

    def write(self, model: type, rows: Iterator[dict], total: int, report: Progress) -> None:
        table = model.__table__
        rows = iter(rows)
        first = next(rows, None)
        if first is None:
            report(table.name, 0, total)
            return
        columns = list(first)
        names = ", ".join(f'"{c}"' for c in columns)
        # A million rows into a random-keyed index thrash it; built once afterwards, by sorting,
        # it takes seconds. The same goes for checking each row's foreign keys one by one.
        rebuild = total >= REBUILD_INDEXES_FROM_ROWS
        if rebuild:
            constraints, indexes = _secondary(table)
            for index in indexes:
                self.connection.execute(DropIndex(index))
            for constraint in constraints:
                self.connection.execute(DropConstraint(constraint))
        done = 0
        with (
            self.raw.cursor() as cursor,
            cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copier,
        ):
            for chunk in _chunks(itertools.chain([first], rows), BATCH_ROWS):
                copier.write("".join("\t".join(_text(r[c]) for c in columns) + "\n" for r in chunk))
                done += len(chunk)
                report(table.name, done, total)
        if rebuild:
            report(f"{table.name} indexes", 0, 1)
            for constraint in constraints:
                self.connection.execute(AddConstraint(constraint))
            for index in indexes:
                self.connection.execute(CreateIndex(index))
            report(f"{table.name} indexes", 1, 1)

    def finish(self) -> None:
        for model in (Vendor, School, Application, ApplicationScope, Grant, SchoolSecret, Token):
            # The ids were given explicitly: move each sequence past them.
            highest = sa.select(sa.func.coalesce(sa.func.max(model.id), 1)).scalar_subquery()
            sequence = sa.func.pg_get_serial_sequence(model.__tablename__, "id")
            self.connection.execute(sa.select(sa.func.setval(sequence, highest)))
        # Fresh statistics, so the planner sees the new sizes before the first request.
        for table in db.metadata.sorted_tables:
            self.connection.exec_driver_sql(f'ANALYZE "{table.name}"')
        db.session.commit()


def _secondary(table: sa.Table) -> tuple[list[sa.Constraint], list[sa.Index]]:
    """The table's unique and foreign-key constraints and its indexes: all but the key."""
    constraints = [
        c for c in table.constraints if isinstance(c, sa.UniqueConstraint | sa.ForeignKeyConstraint)
    ]
    return constraints, list(table.indexes)


def _chunks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_FORMATTED: dict[int, tuple[Any, str]] = {}


def _text(value: Any) -> str:
    """A value in COPY's text format (our filler needs no escaping beyond NULL).

    Millions of rows share a handful of timestamps and JSON values (the generators reuse the
    same objects), so those are formatted once each.
    """
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is bool:
        return "t" if value else "f"
    known = _FORMATTED.get(id(value))
    if known is None or known[0] is not value:
        text = value.isoformat() if kind is dt.datetime else json.dumps(value)
        known = _FORMATTED[id(value)] = (value, text)
    return known[1]
