"""Deterministic demo MIS data: one school's pupils, staff, timetable, registers and records.

`seed_school_data` fills every MIS table for a school. The same seed and parameters always give
the same rows: Faker (`en_GB`) and `random.Random` are seeded per call and global random state
is never used, so demos, screenshots and tests are reproducible. Rows go in with bulk inserts,
so a 1,000-pupil secondary seeds in a few seconds on SQLite.

Everything is fictitious and safe to publish: email addresses use reserved example domains,
telephone numbers come from Ofcom's ranges kept for drama, NHS numbers from the 999 test range,
and National Insurance numbers use the never-issued QQ prefix.

Each step below is one module, mirroring `authserver.models.mis`; a step takes what it needs
as arguments and returns what later steps need. They draw from one random source, so their
order is part of the output: moving a step changes the data for every seed.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from authserver.demo.school_data.academic_year import LONDON, AcademicYear
from authserver.demo.school_data.admissions import insert_admissions
from authserver.demo.school_data.agencies import insert_agencies
from authserver.demo.school_data.assessment import insert_assessment, insert_exams
from authserver.demo.school_data.attendance import insert_attendance
from authserver.demo.school_data.catering import insert_catering
from authserver.demo.school_data.classes import insert_classes, plan_classes, plan_teachers
from authserver.demo.school_data.conduct import insert_conduct
from authserver.demo.school_data.contacts import insert_contacts
from authserver.demo.school_data.photos import insert_photos
from authserver.demo.school_data.school import insert_school, profile_school
from authserver.demo.school_data.sen import insert_sen
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.staff import insert_staff
from authserver.demo.school_data.staff_records import insert_staff_records
from authserver.demo.school_data.structure import (
    insert_groups,
    insert_periods,
    insert_rooms,
    insert_subjects,
    plan_years,
)
from authserver.demo.school_data.students import (
    Upns,
    insert_funding,
    insert_history,
    insert_notes,
    insert_pupils,
    plan_pupils,
)
from authserver.demo.school_data.timetable import insert_lessons
from authserver.demo.school_data.welfare import (
    insert_consents,
    insert_exclusions_and_provision,
    insert_health,
    insert_interventions,
    insert_social_care,
)
from authserver.demo.school_data.writer import Writer
from authserver.models.columns import utcnow
from authserver.models.organisations import School

__all__ = ["seed_school_data"]


def seed_school_data(
    session: Session,
    school: School,
    *,
    students: int,
    seed: int,
    weeks_of_attendance: int = 4,
    today: dt.date | None = None,
) -> dict[str, int]:
    """Fill one school's MIS tables with demo data; returns rows added per entity.

    The school's phase ("primary" or "secondary") decides year groups, subjects and timetable.
    The session is flushed, never committed.
    """
    if students < 1:
        raise ValueError("a school needs at least one pupil")
    if school.id is None:
        session.flush()
    source = Source(seed)
    profile = profile_school(school, source)
    primary = profile.primary
    now = utcnow()
    year = AcademicYear.of(today or now.astimezone(LONDON).date(), weeks=weeks_of_attendance)
    writer = Writer(session, school.id, now)

    head = insert_school(writer, source, profile, year)
    years = plan_years(primary=primary, students=students)
    upns = Upns(profile)
    roll = plan_pupils(source, profile, year, years, upns)
    subjects = insert_subjects(writer, primary=primary)
    periods = insert_periods(writer, primary=primary)
    rooms = insert_rooms(writer, primary=primary, years=years)
    plans = plan_classes(primary=primary, years=years, roll=roll, subjects=subjects)
    teachers = plan_teachers(primary=primary, years=years, plans=plans)
    staff = insert_staff(
        writer, source, profile, year, head=head, teachers=teachers.all, students=students
    )
    groups = insert_groups(
        writer,
        source,
        primary=primary,
        years=years,
        head_id=staff.head_id,
        teacher_ids=staff.teacher_ids,
        class_teacher={form: teacher.id for form, teacher in teachers.class_teacher.items()},
    )
    insert_pupils(writer, roll, year, groups)
    contacts = insert_contacts(writer, source, roll)
    insert_classes(writer, plans, subjects, year)
    lessons = insert_lessons(
        writer,
        source,
        year,
        primary=primary,
        years=years,
        plans=plans,
        teachers=teachers,
        periods=periods,
        rooms=rooms,
    )
    away = insert_exclusions_and_provision(writer, source, profile, year, roll)
    marks = insert_attendance(
        writer,
        source,
        year,
        primary=primary,
        roll=roll,
        away=away,
        lessons=lessons,
        periods_before_lunch=periods.before_lunch,
    )
    insert_conduct(writer, source, profile, year, roll, staff.teacher_ids)
    insert_assessment(
        writer, source, profile, year, roll=roll, subjects=subjects, plans=plans, groups=groups
    )
    insert_exams(writer, source, profile, year, roll)
    with_care_plan = insert_health(writer, source, roll)
    sen_pupils = insert_sen(writer, source, profile, year, roll)
    social_care = insert_social_care(writer, source, profile, year, roll)
    insert_consents(writer, source, profile, year, roll, contacts.main_contact)
    insert_interventions(writer, source, year, roll, staff)
    insert_history(writer, source, profile, year, roll, subjects)
    insert_funding(writer, year, roll)
    insert_notes(writer, source, year, roll)
    insert_staff_records(
        writer, source, profile, year, staff=staff, subjects=subjects, groups=groups
    )
    insert_agencies(
        writer,
        source,
        profile,
        year,
        with_care_plan=with_care_plan,
        social_care=social_care,
        sen_pupils=sen_pupils,
    )
    insert_catering(writer, source, profile, year, roll, marks)
    insert_admissions(writer, source, profile, year, years=years, roll=roll, upns=upns)
    insert_photos(writer, year, roll=roll, staff_ids=staff.ids, contact_ids=contacts.ids)
    session.flush()
    return dict(writer.counts)
