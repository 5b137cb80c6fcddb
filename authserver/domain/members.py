"""Members in the domain's words: a school's pupils, staff and parents made able to sign in
(from their MIS records), their passwords, which roles the school lets sign in, and which
applications it puts in front of whom (a role, a year group, a teacher's class)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session

from authserver.domain import audit, credentials
from authserver.domain.audit import AuditAction
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.members import (
    ADMIN_ACCOUNT_METHOD,
    AppAssignment,
    Member,
    MemberRole,
    SchoolSignIn,
)
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import ClassMembership, TeachingClass
from authserver.models.mis.students import Student
from authserver.models.organisations import School
from authserver.models.users import User

Person = Student | Staff | Contact
MAX_LOGIN_LENGTH = 254


class MemberRefused(Exception):
    """A change the school asked for that cannot be made, in words for its admin."""


def role_for(person: Person) -> MemberRole:
    if isinstance(person, Student):
        return MemberRole.STUDENT
    if isinstance(person, Staff):
        return MemberRole.TEACHER
    return MemberRole.PARENT


def member_of(session: Session, person: Person) -> Member | None:
    """The member made for an MIS record, if one was."""
    column = {
        MemberRole.STUDENT: Member.student_id,
        MemberRole.TEACHER: Member.staff_id,
        MemberRole.PARENT: Member.contact_id,
    }[role_for(person)]
    return session.scalar(select(Member).where(column == person.id))


def enrol(
    session: Session,
    person: Person,
    *,
    username: str | None = None,
    email: str | None = None,
    by: str,
) -> Member:
    """Make the MIS record's person a member of their school (or find them one already); the
    caller commits. Staff and contacts get their MIS email unless another is given."""
    found = member_of(session, person)
    if found is not None:
        return found
    role = role_for(person)
    if email is None:
        email = person.work_email if isinstance(person, Staff) else getattr(person, "email", None)
    username = _clean_login(username) if username else None
    if username and _login_taken(session, person.school_id, username):
        raise MemberRefused(f"The username {username!r} is taken at this school.")
    member = Member(
        school_id=person.school_id,
        student_id=person.id if role is MemberRole.STUDENT else None,
        staff_id=person.id if role is MemberRole.TEACHER else None,
        contact_id=person.id if role is MemberRole.PARENT else None,
        username=username,
        email=(email or "").strip().lower() or None,
    )
    session.add(member)
    session.flush()
    audit.record(AuditAction.MEMBER_ENROLLED, actor=by, school=person.school_id, member=member.id)
    return member


def _clean_login(login: str) -> str:
    return " ".join(login.split()).lower()[:MAX_LOGIN_LENGTH]


def _login_taken(session: Session, school_id: int, username: str) -> bool:
    return bool(
        session.scalar(
            select(func.count())
            .select_from(Member)
            .where(Member.school_id == school_id, Member.username == username)
        )
    )


def set_password(session: Session, member: Member, password: str, *, rounds: int, by: str) -> None:
    """Give the member a password (set by the school for a pupil, or by the member); raises
    credentials.PasswordPolicyError for one too short or too long."""
    member.password_hash = credentials.hash_password(password, rounds)
    member.password_set_at = utcnow()
    audit.record(
        AuditAction.MEMBER_PASSWORD_SET, actor=by, school=member.school_id, member=member.id
    )


def find_for_sign_in(session: Session, school_id: int, login: str) -> Member | None:
    """The school's member who signs in as `login` (a username, or a staff member's or
    parent's email), if enabled."""
    login = _clean_login(login or "")
    if not login:
        return None
    return session.scalar(
        select(Member).where(
            Member.school_id == school_id,
            Member.disabled_at.is_(None),
            or_(Member.username == login, Member.email == login),
        )
    )


# Roles the school lets sign in -----------------------------------------------------------


def enabled_roles(session: Session, school_id: int) -> frozenset[MemberRole]:
    """The roles whose members may sign in at this school (none until the school says)."""
    row = session.get(SchoolSignIn, school_id)
    return frozenset(MemberRole(r) for r in (row.roles if row else []) if r in set(MemberRole))


def set_enabled_roles(
    session: Session, school_id: int, roles: Iterable[MemberRole | str], *, by: str
) -> None:
    """Let exactly these roles sign in; the caller commits. Members of a role turned off
    cannot sign in to anything from now on (their sessions end at their next request)."""
    chosen = sorted({str(MemberRole(r)) for r in roles})
    row = session.get(SchoolSignIn, school_id)
    if row is None:
        row = SchoolSignIn(school_id=school_id, roles=[])
        session.add(row)
    if sorted(row.roles) == chosen:
        return
    before = sorted(row.roles)
    row.roles, row.updated_at, row.updated_by = chosen, utcnow(), by
    audit.record(
        AuditAction.SIGN_IN_ROLES_CHANGED, actor=by, school=school_id, before=before, after=chosen
    )


def admin_account(session: Session, member: Member) -> User | None:
    """The admin account a staff member holds at their school, if any: an active account with
    their email that may manage or approve there (so it signs in with a second factor)."""
    if member.staff_id is None or not member.email:
        return None
    user = session.scalar(select(User).where(func.lower(User.email) == member.email))
    school = session.get(School, member.school_id)
    if user is None or not user.is_active or school is None:
        return None
    return user if user.can_manage_for(school) or user.can_approve_for(school) else None


def sign_in_role(session: Session, member: Member) -> MemberRole:
    """The role the member signs in as: what their MIS record makes them or, for staff with an
    admin account at the school when the school lets school admins sign in, SCHOOL_ADMIN."""
    if (
        member.staff_id is not None
        and MemberRole.SCHOOL_ADMIN in enabled_roles(session, member.school_id)
        and admin_account(session, member) is not None
    ):
        return MemberRole.SCHOOL_ADMIN
    return member.role


NOT_TURNED_ON = "Your school has not turned on signing in for you."
ADMIN_ACCOUNT_NEEDED = (
    "You look after this school on this service, so you sign in to apps with your admin "
    "account and its second factor."
)


def why_not_signing_in(session: Session, member: Member, method: str | None) -> str | None:
    """Why the member may not be signed in by `method` (None: they may): disabled, their role
    not let sign in, or a school admin without their admin account's second factor."""
    role = sign_in_role(session, member)
    if member.disabled_at is not None or role not in enabled_roles(session, member.school_id):
        return NOT_TURNED_ON
    if role is MemberRole.SCHOOL_ADMIN and method != ADMIN_ACCOUNT_METHOD:
        return ADMIN_ACCOUNT_NEEDED
    return None


def admin_staff(session: Session, school: School, user: User) -> Staff | None:
    """The staff record an admin account is at the school: the one member of staff whose
    email (as a member, or in the MIS data) is the account's; None when none or several."""
    email = user.email.strip().lower()
    as_member = select(Member.staff_id).where(
        Member.school_id == school.id, Member.staff_id.is_not(None), Member.email == email
    )
    found = list(
        session.scalars(
            select(Staff).where(
                Staff.school_id == school.id,
                or_(Staff.id.in_(as_member), func.lower(Staff.work_email) == email),
            )
        )
    )
    return found[0] if len(found) == 1 else None


def admin_member(session: Session, staff: Staff, user: User) -> Member:
    """The member an admin account signs in to apps as: the staff record's member, made from
    the record (with the account's email) if they were not one yet. The caller commits."""
    found = member_of(session, staff)
    if found is not None:
        return found
    return enrol(session, staff, email=user.email, by=user.email)


# Assignments -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Whom an assignment is for: a role, narrowed to a year group or to one class."""

    role: MemberRole
    nc_year: str | None = None
    class_id: int | None = None


def assign(
    session: Session, school_id: int, application: Application, target: Target, *, by: str
) -> AppAssignment:
    """Put the application in front of the target's members (once); the caller commits."""
    if target.nc_year is not None and target.class_id is not None:
        raise MemberRefused("Assign to a year group or to a class, not both.")
    if target.class_id is not None:
        taught = session.get(TeachingClass, target.class_id)
        if taught is None or taught.school_id != school_id:
            raise MemberRefused("That class is not one of this school's.")
    found: AppAssignment | None = session.scalar(
        select(AppAssignment).where(
            AppAssignment.school_id == school_id,
            AppAssignment.application_id == application.id,
            AppAssignment.role == str(target.role),
            _is(AppAssignment.nc_year, target.nc_year),
            _is(AppAssignment.class_id, target.class_id),
        )
    )
    if found is not None:
        return found
    assignment = AppAssignment(
        school_id=school_id,
        application_id=application.id,
        role=str(target.role),
        nc_year=target.nc_year,
        class_id=target.class_id,
        assigned_by=by,
    )
    session.add(assignment)
    session.flush()
    audit.record(
        AuditAction.APPLICATION_ASSIGNED,
        actor=by,
        school=school_id,
        application=application.id,
        role=str(target.role),
        nc_year=target.nc_year,
        class_id=target.class_id,
    )
    return assignment


def unassign(session: Session, assignment: AppAssignment, *, by: str) -> None:
    """Take an assignment away; the caller commits."""
    audit.record(
        AuditAction.APPLICATION_UNASSIGNED,
        actor=by,
        school=assignment.school_id,
        application=assignment.application_id,
        role=assignment.role,
        nc_year=assignment.nc_year,
        class_id=assignment.class_id,
    )
    session.delete(assignment)


def _is(column: Any, value: object) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value  # type: ignore[no-any-return]


def classes_of(session: Session, member: Member, on: dt.date | None = None) -> list[int]:
    """Ids of the teaching classes a pupil is in today, or a teacher teaches."""
    today = on or utcnow().date()
    if member.student_id is not None:
        return list(
            session.scalars(
                select(ClassMembership.class_id).where(
                    ClassMembership.student_id == member.student_id,
                    or_(ClassMembership.start_date.is_(None), ClassMembership.start_date <= today),
                    or_(ClassMembership.end_date.is_(None), ClassMembership.end_date >= today),
                )
            )
        )
    if member.staff_id is not None:
        return list(
            session.scalars(
                select(TeachingClass.id).where(TeachingClass.staff_id == member.staff_id)
            )
        )
    return []


def children_of(session: Session, member: Member) -> list[Student]:
    """A parent's children at the school (the pupils their MIS record is linked to)."""
    if member.contact_id is None:
        return []
    return list(
        session.scalars(
            select(Student)
            .join(StudentContact, StudentContact.student_id == Student.id)
            .where(StudentContact.contact_id == member.contact_id)
            .order_by(Student.surname, Student.forename)
        )
    )


def assigned_applications(session: Session, member: Member) -> list[Application]:
    """The applications put in front of this member: for their role, their year group (a
    pupil's own, a parent's children's) or their classes; by name."""
    years: set[str] = set()
    classes = set(classes_of(session, member))
    if member.student_id is not None:
        pupil = session.get(Student, member.student_id)
        if pupil is not None and pupil.nc_year:
            years.add(pupil.nc_year)
    for child in children_of(session, member):
        if child.nc_year:
            years.add(child.nc_year)
    roles = {str(member.role), str(sign_in_role(session, member))}
    assigned = select(AppAssignment.application_id).where(
        AppAssignment.school_id == member.school_id,
        AppAssignment.role.in_(sorted(roles)),
        or_(
            (AppAssignment.nc_year.is_(None)) & (AppAssignment.class_id.is_(None)),
            AppAssignment.nc_year.in_(sorted(years)) if years else false(),
            AppAssignment.class_id.in_(sorted(classes)) if classes else false(),
        ),
    )
    # IN rather than a join and DISTINCT: PostgreSQL cannot compare the JSON columns DISTINCT
    # would compare (an application assigned twice is listed once either way).
    query = select(Application).where(Application.id.in_(assigned)).order_by(Application.name)
    return list(session.scalars(query))


def person_of(session: Session, member: Member) -> Person | None:
    """The member's MIS record (None only in the moment before it is removed with them)."""
    if member.student_id is not None:
        return session.get(Student, member.student_id)
    if member.staff_id is not None:
        return session.get(Staff, member.staff_id)
    return session.get(Contact, member.contact_id)


def name_of(session: Session, member: Member) -> str:
    """The member's name as the school shows it (the preferred forename where there is one)."""
    person = person_of(session, member)
    if person is None:
        return ""
    forename = getattr(person, "preferred_forename", None) or person.forename
    return f"{forename} {person.surname}"
