"""Staff: the head, teachers, support staff and a former colleague, and their HR records.

National Insurance numbers use the never-issued QQ prefix.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.classes import Teacher
from authserver.demo.school_data.people import (
    NICKNAMES,
    address,
    background,
    email,
    initials,
    landline,
    mobile,
)
from authserver.demo.school_data.school import Head, SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import (
    Staff,
)

SUPPORT_ROLES = [
    ("Business manager", "BM"),
    ("Office manager", "OFF"),
    ("Receptionist", "REC"),
    ("Data manager", "DAT"),
    ("Exams officer", "EXO"),
    ("Site manager", "SITE"),
    ("Attendance officer", "ATT"),
    ("IT technician", "ITT"),
    ("Librarian", "LIB"),
    ("Science technician", "TECH"),
]
ROLE_CODES = {
    "Headteacher": "HT",
    "Teacher": "TCH",
    "Class teacher": "TCH",
    "Teaching assistant": "TA",
    **dict(SUPPORT_ROLES),
}


@dataclass(frozen=True)
class StaffList:
    """Everyone on the staff list, head first: ids, rows, and (kind, subject, role) each."""

    ids: list[int]
    rows: list[dict[str, Any]]
    kinds: list[tuple[str, str | None, str]]
    teacher_ids: list[int]

    @property
    def head_id(self) -> int:
        """The headteacher's id."""
        return self.ids[0]

    @property
    def support_ids(self) -> list[int]:
        """Support staff's ids."""
        return [
            sid for sid, (kind, _, _) in zip(self.ids, self.kinds, strict=True) if kind == "support"
        ]


def insert_staff(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    *,
    head: Head,
    teachers: list[Teacher],
    students: int,
) -> StaffList:
    """The head, the planned teachers (which sets their ids), support staff to about 1 per 15."""
    rows = _StaffRows(source, profile, year)
    people: list[tuple[dict[str, Any], str, str | None, str]] = [
        (
            rows.new(head.title, head.forename, head.surname, teaching=True, female=head.female),
            "head",
            None,
            "Headteacher",
        ),
    ]
    for teacher in teachers:
        row = rows.new(teaching=True, female=source.chance(0.65))
        role = "Class teacher" if profile.primary else "Teacher"
        people.append((row, "teacher", teacher.subject, role))
    support = max(4, math.ceil(students / 15) - len(teachers) - 1)
    named_roles = min(len(SUPPORT_ROLES), support // 2)
    for n in range(support):
        role = SUPPORT_ROLES[n][0] if n < named_roles else "Teaching assistant"
        people.append((rows.new(teaching=False, female=source.chance(0.8)), "support", None, role))
    # A former member of staff, so that history scopes have someone to show.
    people.append((rows.new(teaching=True, current=False), "former", None, "Teacher"))

    staff_rows = [row for row, _, _, _ in people]
    ids = writer.insert(Staff, staff_rows, ids=True)
    for teacher, staff_id in zip(teachers, ids[1:], strict=False):
        teacher.id = staff_id
    return StaffList(
        ids=ids,
        rows=staff_rows,
        kinds=[(kind, subject, role) for _, kind, subject, role in people],
        teacher_ids=[t.id for t in teachers],
    )


class _StaffRows:
    """Makes staff rows, each with a staff code no colleague has."""

    def __init__(self, source: Source, profile: SchoolProfile, year: AcademicYear) -> None:
        self.source = source
        self.profile = profile
        self.year = year.year
        self.codes: set[str] = set()

    def new(
        self,
        title: str | None = None,
        forename: str | None = None,
        surname: str | None = None,
        *,
        teaching: bool,
        female: bool | None = None,
        current: bool = True,
    ) -> dict[str, Any]:
        source, rng, fake = self.source, self.source.rng, self.source.fake
        female = source.chance(0.7) if female is None else female
        if forename is None:
            forename = source.first_name(female)
        if surname is None:
            surname = fake.last_name()
        if title is None:
            title = rng.choice(["Mrs", "Ms", "Miss"]) if female else "Mr"
            if source.chance(0.05):
                title = "Dr"
        middle = source.first_name(female) if source.chance(0.3) else None
        born = dt.date(self.year - rng.randint(23, 63), 1, 1) + dt.timedelta(
            days=rng.randint(0, 364)
        )
        started = dt.date(self.year - rng.randint(0, 20), 9, 1)
        letters = re.sub(r"[^A-Z]", "", (forename + surname).upper())
        code = (forename[0] + re.sub(r"[^A-Za-z]", "", surname)[:2]).upper()
        suffix = 1
        while code in self.codes:
            suffix += 1
            code = f"{letters[:2]}{suffix}"
        self.codes.add(code)
        local = re.sub(r"[^a-z]", "", (forename[0] + surname).lower())
        ethnicity, religion, _ = background(source)
        return {
            "upi": fake.uuid4(),
            "title": title,
            "forename": forename,
            "middle_names": middle,
            "surname": surname,
            "preferred_forename": NICKNAMES.get(forename) if source.chance(0.3) else None,
            "legal_forename": forename,
            "legal_surname": surname,
            "initials": initials(forename, middle, surname),
            "staff_code": code,
            "gender": "Female" if female else "Male",
            "date_of_birth": born,
            "teacher_number": f"{rng.randint(1000000, 9999999)}" if teaching else None,
            "work_email": f"{local}@{self.profile.domain}",
            "work_telephone": landline(source),
            "is_teaching_staff": teaching,
            "is_current": current,
            "employment_start_date": started,
            "employment_end_date": None if current else dt.date(self.year, 7, 21),
            "la_start_date": started - dt.timedelta(days=365 * rng.randint(0, 5)),
            **address(source, self.profile.place),
            "personal_email": email(source, forename, surname),
            "personal_telephone": landline(source) if source.chance(0.4) else None,
            "personal_mobile": mobile(source),
            "national_insurance_number": f"QQ{rng.randint(0, 999999):06d}{rng.choice('ABCD')}",
            "ethnicity": ethnicity,
            "religion": religion,
            "notes": "Works Monday to Wednesday." if source.chance(0.05) else None,
        }
