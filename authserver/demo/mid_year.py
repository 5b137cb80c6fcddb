"""The demo school in the middle of its year, as a school adopting the product would find it
after a term: an application connected since September with a term of reads recorded, a
request waiting for a decision, and an MIS connector with a fortnight of nightly syncs, one
of which failed. Everything goes through the same domain functions production uses, then the
moments are moved back to when they would have happened."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select, update

from authserver import receipts, sync_runs
from authserver.domain import connectors, field_use, grants
from authserver.domain.catalogue import default_catalogue
from authserver.domain.ingest import Changes, Origin
from authserver.extensions import db
from authserver.mis_files.samples import _Keys, records_of
from authserver.models import Application, School, User
from authserver.models.mis.contacts import Contact
from authserver.models.mis.students import Student
from authserver.models.sync import SyncRun

#: Northfield Academy's connection: what Lunchbox Catering reads every school morning.
LUNCHBOX = "Lunchbox Catering"
#: The request the school has not decided yet.
WAITING = "Safe Haven"
NIGHTLY_SYNCS = 14
FAILED_NIGHT = 3  # nights ago


def term_start(today: dt.date) -> dt.date:
    """The first school day of this academic year's autumn term (the first weekday on or after
    3 September), or of last year's when today is before it."""
    year = today.year if today >= dt.date(today.year, 9, 3) else today.year - 1
    day = dt.date(year, 9, 3)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _morning(day: dt.date, hour: int = 7, minute: int = 40) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def bring_to_mid_year(school: School, admin: User, *, today: dt.date) -> dict[str, Any]:
    """Make `school` look a term into its use of the product; returns the connector's
    credentials (its secret, shown once) for the demo credentials file. Commits."""
    started = term_start(today)
    lunchbox = db.session.scalar(select(Application).where(Application.name == LUNCHBOX))
    waiting = db.session.scalar(select(Application).where(Application.name == WAITING))
    if lunchbox is not None:
        _connect_for_a_term(lunchbox, school, admin, started=started, today=today)
    if waiting is not None:
        request, _ = grants.request_access(waiting, school, actor=waiting)
        request.created_at = _morning(today - dt.timedelta(days=2), 10, 15)
    db.session.commit()
    connector, secret = connectors.register(
        db.session, school, "SIMS agent in the school office", actor=admin
    )
    db.session.execute(
        update(type(connector))
        .where(type(connector).id == connector.id)
        .values(created_at=_morning(started - dt.timedelta(days=5), 15, 0))
    )
    db.session.commit()
    _nightly_syncs(school, connector, today=today)
    return {"school_urn": school.urn, "client_id": connector.client_id, "client_secret": secret}


def _connect_for_a_term(
    application: Application, school: School, admin: User, *, started: dt.date, today: dt.date
) -> None:
    """The school approved the application as the term began; it has read every school day."""
    choice = grants.scope_choice(application, None, None)
    grant = grants.approve(
        application,
        school,
        approver=admin,
        choice=choice,
        optional_scopes=[s for s in choice.optional if s == "StudentMedical"],
    )
    approved = _morning(started - dt.timedelta(days=3), 14, 5)
    grant.created_at = grant.approved_at = approved
    receipts.keep(grant, decision=receipts.Decision.APPROVED, by=admin)
    catalogue = default_catalogue()
    read = sorted(catalogue.fields_for(grant.scopes))
    pupils = db.session.scalar(
        select(db.func.count()).select_from(Student).where(Student.school_id == school.id)
    )
    day = started
    last = None
    while day < today:
        if day.weekday() < 5:
            last = _morning(day)
            field_use.record_read(
                school_id=school.id,
                application_id=application.id,
                fields=read,
                rows=pupils or 0,
                at=last,
            )
        day += dt.timedelta(days=1)
    grant.last_used_at = last


def _nightly_syncs(school: School, connector: Any, *, today: dt.date) -> None:
    """A fortnight of the connector's nightly batches of changes: a few pupils' and parents'
    details each night, one night refused (a pupil typed in with a wrong UPN)."""
    keys = _Keys(db.session, school.id)
    pupils = list(
        db.session.scalars(
            select(Student).where(Student.school_id == school.id).order_by(Student.id).limit(40)
        )
    )
    parents = list(
        db.session.scalars(
            select(Contact).where(Contact.school_id == school.id).order_by(Contact.id).limit(20)
        )
    )
    for night in range(NIGHTLY_SYNCS, 0, -1):
        when = dt.datetime.combine(
            today - dt.timedelta(days=night - 1), dt.time(2, 10), tzinfo=dt.UTC
        )
        if when > dt.datetime.now(dt.UTC):
            when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
        batch_id = f"nightly-{when:%Y%m%d}"
        pupil = records_of(db.session, [pupils[night % len(pupils)]], keys)[0]
        parent = records_of(db.session, [parents[night % len(parents)]], keys)[0]
        pupil["telephone"] = f"01632 96{night:04d}"
        parent["mobile_telephone"] = f"07700 90{night:04d}"
        body: dict[str, Any] = {"student": [pupil], "contact": [parent]}
        if night == FAILED_NIGHT:
            newcomer = dict(pupil, upn="A999999999999", forename="New", surname="Starter")
            body["student"].append(newcomer)
        changes = Changes(
            upserts={
                entity: [(Origin(i), record) for i, record in enumerate(records)]
                for entity, records in body.items()
            }
        )
        raw = json.dumps(body, sort_keys=True, default=str).encode()
        sync_runs.receive_changes(
            db.session, school.id, batch_id, raw, lambda changes=changes: changes, actor=connector
        )
        db.session.execute(
            update(SyncRun)
            .where(SyncRun.school_id == school.id, SyncRun.external_id == batch_id)
            .values(
                created_at=when,
                started_at=when,
                finished_at=when + dt.timedelta(seconds=4),
            )
        )
        db.session.commit()
    db.session.execute(
        update(type(connector))
        .where(type(connector).id == connector.id)
        .values(last_used_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
    )
    db.session.commit()
