"""The launcher in the domain's words: which applications a member sees (only those assigned to
them that the school is connected to now; for a parent, shelf by shelf per child), a teacher's
classes, and where a launch goes (the application's sign-in start URL, OpenID Connect Core §4,
or its website)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from authserver.domain import audit, members
from authserver.domain.audit import AuditAction
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import Grant, GrantStatus
from authserver.models.members import AppAssignment, Member, MemberRole
from authserver.models.mis.structure import TeachingClass
from authserver.models.mis.students import Student


def connected_applications(
    session: Session, school_id: int, now: dt.datetime | None = None
) -> list[Application]:
    """The applications with a grant in force at the school, by name: the only ones a school
    may put in front of its people."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Application)
            .join(Grant, Grant.application_id == Application.id)
            .where(
                Grant.school_id == school_id,
                Grant.status == GrantStatus.ACTIVE,
                or_(Grant.expires_at.is_(None), Grant.expires_at > now),
            )
            .order_by(Application.name, Application.id)
        )
    )


@dataclass
class Shelf:
    """A row of the launcher: the applications for the member, or (for a parent) for one
    child, whose year group decides what is on it."""

    applications: list[Application] = field(default_factory=list)
    child: Student | None = None


def shelves(session: Session, member: Member) -> list[Shelf]:
    """What the member's launcher shows. A parent gets a shelf for what every parent has and
    one per child for their year group's parents; others get one shelf."""
    connected = {a.id for a in connected_applications(session, member.school_id)}
    if member.role is not MemberRole.PARENT:
        mine = members.assigned_applications(session, member)
        return [Shelf([a for a in mine if a.id in connected])]
    found = [Shelf(_for_parents(session, member.school_id, None, connected))]
    for child in members.children_of(session, member):
        year_apps = _for_parents(session, member.school_id, child.nc_year, connected)
        found.append(Shelf(year_apps, child=child))
    return found


def _for_parents(
    session: Session, school_id: int, nc_year: str | None, connected: set[int]
) -> list[Application]:
    year = AppAssignment.nc_year.is_(None) if nc_year is None else AppAssignment.nc_year == nc_year
    assigned = select(AppAssignment.application_id).where(
        AppAssignment.school_id == school_id,
        AppAssignment.role == str(MemberRole.PARENT),
        AppAssignment.class_id.is_(None),
        year,
    )
    # IN, not DISTINCT: PostgreSQL cannot compare an application's JSON columns.
    found = session.scalars(
        select(Application).where(Application.id.in_(assigned)).order_by(Application.name)
    )
    return [a for a in found if a.id in connected]


def launchable(session: Session, member: Member, application_id: int) -> Application | None:
    """The application if it is on the member's launcher now; None for any other."""
    for shelf in shelves(session, member):
        for application in shelf.applications:
            if application.id == application_id:
                return application
    return None


def launch_url(application: Application, *, issuer: str) -> str | None:
    """Where a launch sends the member: the application's sign-in start URL with `iss` (OpenID
    Connect Core §4), and `target_link_uri` when it has a website; None when it has none."""
    if not application.initiate_login_uri:
        return None
    # No login_hint: the member is signed in here already, and a pupil's username would sit in
    # the vendor's logs before any sign-in.
    parts = urlsplit(application.initiate_login_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.append(("iss", issuer))
    if application.website_url:
        query.append(("target_link_uri", application.website_url))
    return urlunsplit(parts._replace(query=urlencode(query)))


def record_launch(member: Member, application: Application, *, went_to: str) -> None:
    """Audit a launch (the caller commits)."""
    audit.record(
        AuditAction.APPLICATION_LAUNCHED,
        actor="member",
        school=member.school_id,
        application=application,
        member=member.id,
        went_to=went_to,
    )


def classes_taught(session: Session, member: Member) -> list[TeachingClass]:
    """The teaching classes a teacher member teaches, by code (none for anyone else)."""
    if member.role is not MemberRole.TEACHER:
        return []
    ids = members.classes_of(session, member)
    if not ids:
        return []
    return list(
        session.scalars(
            select(TeachingClass).where(TeachingClass.id.in_(ids)).order_by(TeachingClass.code)
        )
    )


def assignments_at(
    session: Session, school_id: int, *, class_id: int | None = None
) -> list[AppAssignment]:
    """The school's assignments (or one class's), by role, year group and class."""
    query = select(AppAssignment).where(AppAssignment.school_id == school_id)
    if class_id is not None:
        query = query.where(AppAssignment.class_id == class_id)
    return list(
        session.scalars(
            query.order_by(
                AppAssignment.role,
                AppAssignment.nc_year,
                AppAssignment.class_id,
                AppAssignment.application_id,
            )
        )
    )
