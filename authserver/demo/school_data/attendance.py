"""Registers: codes, a morning and afternoon mark per pupil and school day, lesson marks.

Every pupil gets both session marks for each weekday of the window, and a lesson mark for
every lesson of every class they are in, consistent with the session mark. Weekdays are all
treated as school days (no holidays or closures).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.students import Roll
from authserver.demo.school_data.timetable import DatedLesson
from authserver.demo.school_data.welfare import OffRegisters
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import AttendanceCode, AttendanceSummary, LessonMark, SessionMark

# DfE register codes: (code, meaning, statistical category, counts as a possible session)
ATTENDANCE_CODES = [
    ("/", "Present (morning)", "Present", True),
    ("\\", "Present (afternoon)", "Present", True),
    ("L", "Late, before the register closed", "Present", True),
    ("U", "Late, after the register closed", "Unauthorised absence", True),
    ("B", "Educated off site", "Approved educational activity", True),
    ("P", "Approved sporting activity", "Approved educational activity", True),
    ("V", "Educational visit or trip", "Approved educational activity", True),
    ("W", "Work experience", "Approved educational activity", True),
    ("C", "Other authorised circumstances", "Authorised absence", True),
    ("E", "Suspended or excluded, no alternative provision", "Authorised absence", True),
    ("I", "Illness", "Authorised absence", True),
    ("M", "Medical or dental appointment", "Authorised absence", True),
    ("R", "Religious observance", "Authorised absence", True),
    ("S", "Study leave", "Authorised absence", True),
    ("G", "Holiday not authorised by the school", "Unauthorised absence", True),
    ("N", "Reason not yet provided", "Unauthorised absence", True),
    ("O", "Absent in other or unknown circumstances", "Unauthorised absence", True),
    ("X", "Not required to be in school", "Not counted", False),
    ("Z", "Pupil not on admission register", "Not counted", False),
    ("#", "Planned whole-school closure", "Not counted", False),
]
CODE_CATEGORY = {code: category for code, _, category, _ in ATTENDANCE_CODES}
PRESENT_CODES = {"/", "\\", "L"}
ABSENCE_REASONS = [
    ("I", 50),
    ("M", 15),
    ("O", 8),
    ("N", 7),
    ("C", 8),
    ("G", 3),
    ("V", 4),
    ("P", 3),
    ("R", 2),
]

# Session marks by (pupil id, date, "AM" or "PM").
Marks = dict[tuple[int, dt.date, str], str]


def absent_all_day(marks: Marks, pupil_id: int, day: dt.date) -> bool:
    """Whether a pupil was marked absent, morning and afternoon, on a day with registers."""
    am = marks.get((pupil_id, day, "AM"))
    pm = marks.get((pupil_id, day, "PM"))
    return am is not None and am not in PRESENT_CODES and pm not in PRESENT_CODES


def insert_attendance(
    writer: Writer,
    source: Source,
    year: AcademicYear,
    *,
    primary: bool,
    roll: Roll,
    away: OffRegisters,
    lessons: list[DatedLesson],
    periods_before_lunch: int,
) -> Marks:
    """Register codes, session marks for every pupil and day, lesson marks, summaries."""
    writer.insert(
        AttendanceCode,
        [
            {"code": c, "description": d, "category": cat, "counts_as_possible": possible}
            for c, d, cat, possible in ATTENDANCE_CODES
        ],
    )
    marks = _insert_session_marks(writer, source, year, primary=primary, roll=roll, away=away)
    _insert_lesson_marks(writer, source, marks, lessons, periods_before_lunch)
    _insert_summaries(writer, year, roll, marks)
    return marks


def _session_row(pupil_id: int, day: dt.date, session: str, code: str, late: int | None) -> dict:
    return {
        "student_id": pupil_id,
        "date": day,
        "session": session,
        "code": code,
        "minutes_late": late,
        "comment": None,
    }


def _insert_session_marks(
    writer: Writer,
    source: Source,
    year: AcademicYear,
    *,
    primary: bool,
    roll: Roll,
    away: OffRegisters,
) -> Marks:
    rng = source.rng
    marks: Marks = {}
    rows = []
    for pupil in roll.current:
        admitted = pupil.row["admission_date"]
        ill_days = 0
        for day in year.days:
            if day < admitted:
                continue
            am, pm, late = "/", "\\", None
            if pupil.id in away.excluded and day in away.excluded[pupil.id]:
                am = pm = "E"
            elif pupil.id in away.off_site and day.weekday() == 2:
                am = pm = "B"
            elif ill_days > 0:
                am = pm = "I"
                ill_days -= 1
            elif source.chance(pupil.attendance):
                reason = source.weighted(ABSENCE_REASONS)[0]
                if reason == "N" and (year.today - day).days > 4:
                    reason = "O"
                if reason == "I":
                    ill_days = rng.choice([0, 0, 1, 2])
                    am = pm = "I"
                elif reason == "M":
                    am, pm = ("M", "\\") if source.chance(0.5) else ("/", "M")
                else:
                    am = pm = reason
            elif source.chance(pupil.attendance * 1.5):
                late = rng.randint(3, 25)
                am = "L"
                if late > 20 and not primary:
                    am = "U"
                    late += 15
            marks[(pupil.id, day, "AM")] = am
            marks[(pupil.id, day, "PM")] = pm
            rows.append(_session_row(pupil.id, day, "AM", am, late))
            rows.append(_session_row(pupil.id, day, "PM", pm, None))
            if am == "M" or pm == "M":
                rows[-1 if pm == "M" else -2]["comment"] = "Dentist appointment"
    writer.insert(SessionMark, rows)
    return marks


def _insert_lesson_marks(
    writer: Writer,
    source: Source,
    marks: Marks,
    lessons: list[DatedLesson],
    periods_before_lunch: int,
) -> None:
    """A mark per pupil and lesson, from the session's; late only to the day's first."""
    rows = []
    first_lesson_of: dict[tuple[int, dt.date], int] = {}
    for lesson_id, plan, day, n in lessons:
        session = "AM" if n <= periods_before_lunch else "PM"
        for pupil in plan.pupils:
            mark = marks.get((pupil.id, day, session))
            if mark is None:
                continue
            minutes = None
            if mark in PRESENT_CODES or mark == "U":
                key = (pupil.id, day)
                first = first_lesson_of.setdefault(key, n) == n and session == "AM"
                if mark in {"L", "U"} and first:
                    code, minutes = "L", source.rng.randint(3, 20)
                else:
                    code = "/"
            else:
                code = mark
            rows.append(
                {
                    "student_id": pupil.id,
                    "lesson_id": lesson_id,
                    "code": code,
                    "minutes_late": minutes,
                    "comment": None,
                }
            )
    writer.insert(LessonMark, rows)


def _insert_summaries(writer: Writer, year: AcademicYear, roll: Roll, marks: Marks) -> None:
    """Each pupil's sessions over the window, by statistical category."""
    summaries = []
    tally: dict[int, Counter[str]] = defaultdict(Counter)
    for (pupil_id, _day, _session), code in marks.items():
        tally[pupil_id][CODE_CATEGORY[code]] += 1
        if code in {"L", "U"}:
            tally[pupil_id]["late"] += 1
    for pupil in roll.current:
        counts = tally.get(pupil.id)
        if not counts:
            continue
        possible = sum(v for k, v in counts.items() if k not in {"late", "Not counted"})
        summaries.append(
            {
                "student_id": pupil.id,
                "start_date": year.days[0],
                "end_date": year.days[-1],
                "possible_sessions": possible,
                "attended_sessions": counts["Present"],
                "approved_activity_sessions": counts["Approved educational activity"],
                "authorised_absence_sessions": counts["Authorised absence"],
                "unauthorised_absence_sessions": counts["Unauthorised absence"],
                "late_sessions": counts["late"],
            }
        )
    writer.insert(AttendanceSummary, summaries)
