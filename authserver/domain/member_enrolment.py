"""Making a school's people members from its MIS data, a group at a time (one pupil, a year
group, a class, all staff, the parents of a year group), their usernames, how many of each
role there are, and a pupil's password made by us for the school to hand over."""

from __future__ import annotations

import enum
import secrets
import unicodedata
from functools import cache

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session
from xkcdpass import xkcd_password

from authserver.domain import member_sessions, members
from authserver.domain.members import MemberRefused, Person
from authserver.models.columns import utcnow
from authserver.models.members import Member, MemberRole
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import ClassMembership, TeachingClass
from authserver.models.mis.students import Student


class Group(enum.StrEnum):
    """Whom to enrol at once."""

    PUPIL = "pupil"  # one pupil, by id
    YEAR = "year"  # every pupil of a year group
    CLASS = "class"  # every pupil of a teaching class, by id
    STAFF = "staff"  # every member of staff
    PARENTS = "parents"  # the parents and carers of a year group's pupils


def _on_roll(school_id: int) -> ColumnElement[bool]:
    today = utcnow().date()
    return (Student.school_id == school_id) & or_(
        Student.leaving_date.is_(None), Student.leaving_date > today
    )


def people_in(session: Session, school_id: int, group: Group, value: str = "") -> list[Person]:
    """The MIS records of the group (pupils on roll only; nobody of another school)."""
    if group is Group.PUPIL:
        pupil_id = int(value) if value.isdigit() else 0
        return list(
            session.scalars(select(Student).where(_on_roll(school_id), Student.id == pupil_id))
        )
    if group is Group.YEAR:
        return list(
            session.scalars(select(Student).where(_on_roll(school_id), Student.nc_year == value))
        )
    if group is Group.CLASS:
        class_id = int(value) if value.isdigit() else 0
        return list(
            session.scalars(
                select(Student)
                .join(ClassMembership, ClassMembership.student_id == Student.id)
                .join(TeachingClass, TeachingClass.id == ClassMembership.class_id)
                .where(_on_roll(school_id), TeachingClass.id == class_id)
                .distinct()
            )
        )
    if group is Group.STAFF:
        return list(session.scalars(select(Staff).where(Staff.school_id == school_id)))
    return list(
        session.scalars(
            select(Contact)
            .join(StudentContact, StudentContact.contact_id == Contact.id)
            .join(Student, Student.id == StudentContact.student_id)
            .where(_on_roll(school_id), Student.nc_year == value, Contact.school_id == school_id)
            .distinct()
        )
    )


def enrol_group(
    session: Session, school_id: int, group: Group, value: str = "", *, by: str
) -> tuple[int, int]:
    """Make every person of the group a member (pupils get a username); the caller commits.
    Returns how many were new and how many were members already."""
    new = already = 0
    for person in people_in(session, school_id, group, value):
        if members.member_of(session, person) is not None:
            already += 1
            continue
        username = None
        if isinstance(person, Student):
            username = _free_username(session, school_id, person)
        members.enrol(session, person, username=username, by=by)
        new += 1
    return new, already


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _free_username(session: Session, school_id: int, pupil: Student) -> str:
    """forename.surname in plain letters, with a number when taken (zoe.obrien2)."""
    forename = _ascii(pupil.preferred_forename or pupil.forename) or "pupil"
    base = f"{forename}.{_ascii(pupil.surname) or pupil.id}"[:90]
    taken = set(
        session.scalars(
            select(Member.username).where(
                Member.school_id == school_id, Member.username.like(f"{base}%")
            )
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}{number}" in taken:
        number += 1
    return f"{base}{number}"


def role_counts(session: Session, school_id: int) -> dict[MemberRole, int]:
    """How many members of each role the school has."""
    counts = dict.fromkeys(MemberRole, 0)
    columns = {
        MemberRole.STUDENT: Member.student_id,
        MemberRole.TEACHER: Member.staff_id,
        MemberRole.PARENT: Member.contact_id,
    }
    for role, column in columns.items():
        counts[role] = int(
            session.scalar(
                select(func.count())
                .select_from(Member)
                .where(Member.school_id == school_id, column.is_not(None))
            )
            or 0
        )
    staff_with_email = select(Member).where(
        Member.school_id == school_id, Member.staff_id.is_not(None), Member.email.is_not(None)
    )
    counts[MemberRole.SCHOOL_ADMIN] = sum(
        1 for m in session.scalars(staff_with_email) if members.admin_account(session, m)
    )
    return counts


def members_of(session: Session, school_id: int) -> list[tuple[Member, str]]:
    """The school's members with their names, by role and name."""
    found = [
        (m, members.name_of(session, m))
        for m in session.scalars(select(Member).where(Member.school_id == school_id))
    ]
    order = list(MemberRole)
    return sorted(found, key=lambda pair: (order.index(pair[0].role), pair[1].lower()))


def year_groups(session: Session, school_id: int) -> list[str]:
    """The year groups of the school's pupils on roll, in school order (R, 1 ... 13)."""
    years = set(
        session.scalars(
            select(Student.nc_year).where(_on_roll(school_id), Student.nc_year.is_not(None))
        )
    )
    return sorted(
        (y for y in years if y), key=lambda y: (not y.isdigit(), int(y) if y.isdigit() else 0, y)
    )


def teaching_classes(session: Session, school_id: int) -> list[TeachingClass]:
    """The school's teaching classes, by code."""
    return list(
        session.scalars(
            select(TeachingClass)
            .where(TeachingClass.school_id == school_id)
            .order_by(TeachingClass.code)
        )
    )


def pupils_on_roll(session: Session, school_id: int) -> list[Student]:
    """The school's pupils on roll, by surname."""
    return list(
        session.scalars(
            select(Student).where(_on_roll(school_id)).order_by(Student.surname, Student.forename)
        )
    )


@cache
def _words() -> tuple[str, ...]:
    # The EFF's short list: common words a child can read and type.
    wordfile = xkcd_password.locate_wordfile("eff-short")
    return tuple(xkcd_password.generate_wordlist(wordfile=wordfile, min_length=3, max_length=6))


def new_pupil_password() -> str:
    """Three short words and a number (about 38 bits): easy to type, hard to guess within the
    sign-in limits."""
    words = _words()
    chosen = [secrets.choice(words) for _ in range(3)]
    return "-".join(chosen) + f"-{secrets.randbelow(90) + 10}"


def issue_pupil_password(session: Session, member: Member, *, rounds: int, by: str) -> str:
    """Give a pupil a new password and return it (to show once; only its hash is kept). Their
    sessions end, so whoever knew the old one is signed out. The caller commits."""
    if member.role is not MemberRole.STUDENT:
        raise MemberRefused("Staff and parents choose their own password: send an invitation.")
    if not member.username:
        # Enrolled elsewhere without one: a pupil signs in with a username, never an email.
        pupil = members.person_of(session, member)
        if isinstance(pupil, Student):
            member.username = _free_username(session, member.school_id, pupil)
    password = new_pupil_password()
    members.set_password(session, member, password, rounds=rounds, by=by)
    member_sessions.end_all(session, member.id, "password set by the school")
    return password
