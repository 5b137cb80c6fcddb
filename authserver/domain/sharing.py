"""What a school shares, read for its dashboard: connections, requests, exposure, history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import ColumnExpressionArgument, func, select
from sqlalchemy.orm import joinedload

from authserver.domain import field_use
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import Scope, default_catalogue
from authserver.domain.grants import Restrictions, visible_fields
from authserver.domain.sync_health import SyncHealth, health_of
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.audit import AuditEvent
from authserver.models.grants import AccessRequest, AccessRequestStatus, Grant, GrantStatus
from authserver.models.organisations import School, Trust


def connections_of(school: School) -> list[Grant]:
    """Every application's grant at the school: those in force first, then by name."""
    grants = db.session.scalars(
        select(Grant)
        .where(Grant.school_id == school.id)
        .options(joinedload(Grant.application).joinedload(Application.vendor))
    ).all()
    return sorted(grants, key=lambda g: (not g.is_in_force(), g.application.name.lower()))


def pending_requests_of(school: School) -> list[AccessRequest]:
    """The school's Data Access Requests awaiting a decision, oldest first."""
    return list(
        db.session.scalars(
            select(AccessRequest)
            .where(
                AccessRequest.school_id == school.id,
                AccessRequest.status == AccessRequestStatus.PENDING,
            )
            .options(joinedload(AccessRequest.application))
            .order_by(AccessRequest.created_at)
        )
    )


@dataclass
class Exposure:
    """Everything that leaves the school: per scope and per sensitive detail, who may read it."""

    scopes: list[tuple[Scope, list[Grant]]] = field(default_factory=list)
    sensitive_fields: list[tuple[str, str, list[Grant]]] = field(default_factory=list)


def exposure_of(school: School) -> Exposure:
    """Which applications may read each scope and each sensitive detail, as granted now."""
    catalogue = default_catalogue()
    live = [g for g in connections_of(school) if g.is_in_force()]
    exposure = Exposure()
    for scope in catalogue:
        readers = [g for g in live if scope.name in g.scopes]
        if readers:
            exposure.scopes.append((scope, readers))
    sensitive = sorted({f for scope in catalogue if scope.sensitive for f in scope.fields})
    for name in sensitive:
        readers = [
            g
            for g in live
            if name in visible_fields(g.scopes, Restrictions.from_json(g.restrictions))
            and any(catalogue[s].sensitive and name in catalogue[s].fields for s in g.scopes)
        ]
        if readers:
            exposure.sensitive_fields.append((name, catalogue.field_label(name), readers))
    return exposure


def history_of(
    school: School,
    *,
    application_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    limit: int | None = None,
    reads: bool = True,
) -> list[AuditEvent]:
    """The school's audit events, newest first, filtered by application and date (and without
    the data reads, when `reads` is false)."""
    query = select(AuditEvent).where(AuditEvent.school_id == school.id)
    if application_id is not None:
        query = query.where(AuditEvent.application_id == application_id)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= _start_of(since))
    if until is not None and until < dt.date.max:  # nothing is later than the last day
        query = query.where(AuditEvent.occurred_at < _start_of(until + dt.timedelta(days=1)))
    if not reads:
        query = query.where(AuditEvent.action != str(AuditAction.DATA_READ))
    query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class History:
    """A page of the school's history: events and per-day read summaries, newest first."""

    entries: list[AuditEvent | field_use.ReadSummary]
    truncated: bool


def _moment(entry: AuditEvent | field_use.ReadSummary) -> dt.datetime:
    return entry.occurred_at if isinstance(entry, AuditEvent) else entry.last_read_at


def summarised_history_of(
    school: School,
    *,
    limit: int,
    application_id: int | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> History:
    """The latest `limit` entries of the school's history as people read it: every event but
    data reads, which come summarised per day and application, in date order."""
    # One more of each than shown: whether anything is left out is then known, not guessed.
    events = history_of(
        school,
        application_id=application_id,
        since=since,
        until=until,
        limit=limit + 1,
        reads=False,
    )
    reads = field_use.read_summaries(
        school.id, application_id=application_id, since=since, until=until, limit=limit + 1
    )
    entries: list[AuditEvent | field_use.ReadSummary] = [*events, *reads]
    entries.sort(key=_moment, reverse=True)
    return History(entries=entries[:limit], truncated=len(entries) > limit)


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def applications_seen_by(school: School) -> list[Application]:
    """Applications that ever asked this school or hold a grant there (for history filters)."""
    ids = (
        select(Grant.application_id)
        .where(Grant.school_id == school.id)
        .union(select(AccessRequest.application_id).where(AccessRequest.school_id == school.id))
    )
    return list(
        db.session.scalars(
            select(Application).where(Application.id.in_(ids)).order_by(Application.name)
        )
    )


@dataclass(frozen=True)
class SchoolSummary:
    """One row of a trust's overview."""

    school: School
    connected: int
    pending: int
    sensitive_scopes: int
    sync: SyncHealth


def trust_summary(trust: Trust) -> list[SchoolSummary]:
    """For each school of the trust: connected applications, pending requests, sensitive scopes."""
    catalogue = default_catalogue()
    rows = []
    for school in trust.schools:
        live = [
            g for g in connections_of(school) if g.status == GrantStatus.ACTIVE and g.is_in_force()
        ]
        pending = db.session.scalar(
            select(func.count())
            .select_from(AccessRequest)
            .where(
                AccessRequest.school_id == school.id,
                AccessRequest.status == AccessRequestStatus.PENDING,
            )
        )
        sensitive = {s for g in live for s in g.scopes if catalogue[s].sensitive}
        rows.append(
            SchoolSummary(
                school, len(live), pending or 0, len(sensitive), health_of(db.session(), school.id)
            )
        )
    return rows


@dataclass(frozen=True)
class PlatformTotals:
    """Counts an operator needs; no school's data."""

    schools: int
    vendors: int
    applications: int
    connections: int
    pending_requests: int


def platform_totals() -> PlatformTotals:
    """How much the platform carries, in counts."""
    from authserver.models.applications import Vendor

    def count(model: type, *where: ColumnExpressionArgument[bool]) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    return PlatformTotals(
        schools=count(School),
        vendors=count(Vendor),
        applications=count(Application),
        connections=count(Grant, Grant.status == GrantStatus.ACTIVE),
        pending_requests=count(AccessRequest, AccessRequest.status == AccessRequestStatus.PENDING),
    )


@dataclass(frozen=True)
class Usage:
    """What an application read under a grant lately, against what it may read, per scope."""

    used: list[str]
    unused: list[str]


def usage_of(grants: list[Grant], *, now: dt.datetime | None = None) -> dict[int, Usage]:
    """Per grant in force: the read scopes that served its reads in the last 30 days, and the
    rest (the per-field use of `field_use`, rolled up)."""
    live = [g for g in grants if g.is_in_force()]
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    usage = {}
    for school_id in {g.school_id for g in live}:
        of_school = [g for g in live if g.school_id == school_id]
        for grant_id, use in field_use.uses_of(of_school, today=today).items():
            read = use.scopes_read
            usage[grant_id] = Usage(
                used=read, unused=[s.scope.name for s in use.scopes if s.scope.name not in read]
            )
    return usage
