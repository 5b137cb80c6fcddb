"""The bench's world, built through the same domain functions production uses: the demo
schools, one school's approval narrowed to three year groups, its school secret, and a pool of
refresh tokens (each works once, so a load test needs many)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import insert, select, update

from authserver.config import Settings
from authserver.demo.seed import refresh_statistics, seed_demo
from authserver.domain import credentials, grants, school_secrets
from authserver.extensions import db
from authserver.models import Application, School, User
from authserver.models.columns import utcnow
from authserver.models.mis.structure import Group
from authserver.models.mis.students import Student
from authserver.models.tokens import Token

BENCH_APPLICATION = "Register Radar"
# A secondary large enough that three year groups hold more than a 1,000-pupil page.
STUDENTS = 2000
YEAR_GROUPS = ("7", "8", "9")
DELTA_CHANGES = 10
# What the bench's tokens ask for: pupils' names (not their dates of birth or addresses) and
# attendance, so every page is filtered down to StudentLite's fields.
REQUESTED_SCOPES = "StudentLite Attendance"


def build(settings: Settings, *, refresh_tokens: int, students: int = STUDENTS) -> dict[str, Any]:
    """Seed the demo world and everything the bench drives; returns what the load needs."""
    demo = seed_demo(
        issuer=settings.issuer,
        password_rounds=settings.bcrypt_rounds,
        secret_key=settings.secret_key,
        schools=1,
        students_per_school=students,
    )
    if demo is None:
        raise RuntimeError("the bench needs an empty database")
    db.session.flush()
    document = demo.as_json()
    school_entry = document["schools"][0]
    school = db.session.get(School, school_entry["id"])
    admin = db.session.scalar(select(User).where(User.email == school_entry["admin"]["email"]))
    apps = {a["name"]: a for a in document["applications"]}
    bench_app = apps[BENCH_APPLICATION]
    application = db.session.scalar(
        select(Application).where(Application.client_id == bench_app["client_id"])
    )
    years = db.session.scalars(
        select(Group.id).where(
            Group.school_id == school.id, Group.type == "year", Group.nc_year.in_(YEAR_GROUPS)
        )
    ).all()
    if len(years) != len(YEAR_GROUPS):
        raise RuntimeError(f"expected year groups {YEAR_GROUPS}, found {len(years)}")
    choice = grants.scope_choice(application, None)
    grant = grants.approve(
        application,
        school,
        approver=admin,
        choice=choice,
        optional_scopes=choice.optional,
        restrictions=grants.Restrictions(
            group_ids=tuple(years), excluded_fields=("contact.work_telephone",)
        ),
    )
    claimed = school_secrets.claim(grant, application, overlap_seconds=600)
    pool = _refresh_pool(application, grant, refresh_tokens)
    since = utcnow()
    _touch_students(school.id, since)
    student_id = db.session.scalar(
        select(Student.id).where(Student.school_id == school.id).order_by(Student.id)
    )
    db.session.commit()
    refresh_statistics()
    db.session.commit()
    other = apps["Lunchbox Catering"]
    return {
        "client_id": bench_app["client_id"],
        "client_secret": bench_app["client_secret"],
        "school_id": school.id,
        "school_secret": claimed.value,
        "token_scope": REQUESTED_SCOPES,
        "refresh_tokens": pool,
        "student_id": student_id,
        "delta_since": since.isoformat(),
        "admin": school_entry["admin"],
        "consent_client_id": other["client_id"],
        "consent_redirect_uri": other["redirect_uris"][0],
        "consent_scope": " ".join(other["required_scopes"]),
        "resource_server": document["resource_servers"][0],
    }


def _refresh_pool(application: Application, grant: Any, count: int) -> list[str]:
    """`count` live refresh tokens of the grant, stored exactly as the token endpoint stores
    them (digests), in one bulk insert: issuing them through the endpoint would be the bench."""
    now = utcnow()
    values, rows = [], []
    for _ in range(count):
        value = credentials.new_secret()
        values.append(value)
        rows.append(
            {
                "application_id": application.id,
                "grant_type": "authorization_code",
                "school_id": grant.school_id,
                "grant_id": grant.id,
                "grant_version": grant.version,
                "scope": "StudentLite Student Attendance",
                "restrictions": grant.restrictions,
                "token_format": "opaque",
                "access_token_digest": credentials.digest(credentials.new_secret()),
                "refresh_token_digest": credentials.digest(value),
                "family_id": uuid.uuid4().hex,
                "issued_at": now,
                "expires_at": now + dt.timedelta(hours=1),
                "refresh_expires_at": now + dt.timedelta(days=30),
            }
        )
    if rows:
        db.session.execute(insert(Token), rows)
    return values


def _touch_students(school_id: int, since: dt.datetime) -> None:
    """A few pupils changed after `since`: the delta the nightly sync asks for."""
    changed = select(Student.id).where(Student.school_id == school_id).limit(DELTA_CHANGES)
    db.session.execute(
        update(Student)
        .where(Student.id.in_(changed.scalar_subquery()))
        .values(updated_at=since + dt.timedelta(seconds=1))
    )
