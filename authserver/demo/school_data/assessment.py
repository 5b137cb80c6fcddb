"""Assessment: aspects and this term's results, and exam results (some under embargo)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from authserver.demo.school_data.academic_year import AcademicYear, local_time
from authserver.demo.school_data.classes import ClassPlan
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.structure import Groups, Subjects, year_number
from authserver.demo.school_data.students import Pupil, Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import AssessmentAspect, AssessmentResult, ExamResult

PRIMARY_ASPECTS = [("En", "Reading"), ("En", "Writing"), ("Ma", "Mathematics")]
BOARDS = ["AQA", "Pearson Edexcel", "OCR", "WJEC Eduqas"]
GCSE_SUBJECTS = [
    "English Language",
    "English Literature",
    "Mathematics",
    "Combined Science",
    "History",
    "Geography",
    "French",
    "Religious Studies",
    "Computer Science",
    "Art and Design",
]


def _grade(source: Source, pupil: Pupil, sixth: bool, noise: float = 0.6) -> str:
    """A GCSE (9-1) or A-level (A*-E) grade near the pupil's ability."""
    z = pupil.ability + source.rng.gauss(0, noise)
    if sixth:
        return ["E", "D", "C", "B", "A", "A*"][min(5, max(0, round(2.5 + 1.2 * z)))]
    return str(min(9, max(1, round(4.8 + 1.7 * z))))


def _aspects(profile: SchoolProfile, subjects: Subjects, plans: list[ClassPlan]) -> list[dict]:
    """Teacher assessments in a primary; a secondary's working-at grades and attitude."""
    aspects: list[dict[str, Any]] = []
    if profile.primary:
        for code, name in PRIMARY_ASPECTS:
            aspects.append(
                {
                    "name": name,
                    "subject_id": subjects.ids[code],
                    "result_type": "Grade",
                    "grade_set": "WTS, EXS, GDS",
                    "description": f"Teacher assessment of {name.lower()}",
                }
            )
        return aspects
    for code in sorted({plan.subject for plan in plans}):
        aspects.append(
            {
                "name": f"{subjects.names[code]}: working at",
                "subject_id": subjects.ids[code],
                "result_type": "Grade",
                "grade_set": "9-1 (GCSE), A*-E (A level)",
                "description": "The grade the pupil is working at now",
            }
        )
    aspects.append(
        {
            "name": "Attitude to learning",
            "subject_id": None,
            "result_type": "Grade",
            "grade_set": "1-4",
            "description": "1 is excellent, 4 is a concern",
        }
    )
    return aspects


def insert_assessment(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    *,
    roll: Roll,
    subjects: Subjects,
    plans: list[ClassPlan],
    groups: Groups,
) -> None:
    """This term's results for every pupil, recorded by the form tutor or class teacher."""
    rng = source.rng
    result_set = f"{year.term} {year.today.year}"
    recorded = year.day_before_today(rng.randint(3, 20))
    aspects = _aspects(profile, subjects, plans)
    ids = writer.insert(AssessmentAspect, aspects, ids=True)
    aspect_ids = {
        (row["subject_id"], row["name"]): aid for row, aid in zip(aspects, ids, strict=True)
    }
    # (pupil, aspect id, value, recorded by)
    results: list[tuple[Pupil, int, str, int]] = []
    if profile.primary:
        for pupil in roll.current:
            if pupil.year == "R":
                continue
            for code, name in PRIMARY_ASPECTS:
                z = pupil.ability + rng.gauss(0, 0.5)
                value = "WTS" if z < -0.7 else ("GDS" if z > 1.0 else "EXS")
                aspect = aspect_ids[(subjects.ids[code], name)]
                results.append((pupil, aspect, value, groups.form_tutor[pupil.form]))
    else:
        attitude = aspect_ids[(None, "Attitude to learning")]
        for plan in plans:
            subject_id = subjects.ids[plan.subject]
            working_at = aspect_ids[(subject_id, f"{subjects.names[plan.subject]}: working at")]
            for pupil in plan.pupils:
                grade = _grade(source, pupil, plan.block is not None)
                results.append((pupil, working_at, grade, plan.teacher.id))
                score = round(2 - pupil.ability * 0.8 + rng.gauss(0, 0.6))
                results.append((pupil, attitude, str(min(4, max(1, score))), plan.teacher.id))
    writer.insert(
        AssessmentResult,
        [
            {
                "student_id": pupil.id,
                "aspect_id": aspect,
                "result_set": result_set,
                "value": value,
                "comment": "Keep up the good work." if value in {"1", "8", "9", "A*"} else None,
                "recorded_on": recorded,
                "staff_id": staff_id,
            }
            for pupil, aspect, value, staff_id in results
        ],
    )


def _results_day(year: int, month: int, weekday_after: int) -> dt.date:
    """The first Thursday on or after a day: when exam results come out."""
    day = dt.date(year, month, weekday_after)
    return day + dt.timedelta(days=(3 - day.weekday()) % 7)


def _exam_row(
    pupil: Pupil,
    qualification: str,
    subject: str,
    board: str,
    season: str,
    grade: str | None,
    mark: int | None,
    day: dt.date,
) -> dict[str, Any]:
    return {
        "student_id": pupil.id,
        "qualification": qualification,
        "subject": subject,
        "awarding_body": board,
        "season": season,
        "grade": grade,
        "mark": mark,
        "result_date": day,
        "embargoed": False,
        "embargo_until": None,
    }


def insert_exams(
    writer: Writer, source: Source, profile: SchoolProfile, year: AcademicYear, roll: Roll
) -> None:
    """Statutory checks in a primary; GCSEs for the sixth form, and maths resits."""
    writer.insert(
        ExamResult,
        _primary_checks(source, year, roll)
        if profile.primary
        else _secondary_exams(source, year, roll),
    )


def _primary_checks(source: Source, year: AcademicYear, roll: Roll) -> list[dict[str, Any]]:
    """The Year 1 phonics check (taken by this year's Year 2) and the multiplication check."""
    rng = source.rng
    june, july = f"June {year.year}", dt.date(year.year, 7, 1)
    rows = []
    for pupil in roll.current:
        if pupil.year == "2":
            mark = min(40, max(0, round(33 + 6 * pupil.ability + rng.gauss(0, 3))))
            met = "Met" if mark >= 32 else "Not met"
            rows.append(
                _exam_row(pupil, "Phonics screening check", "Phonics", "STA", june, met, mark, july)
            )
        if pupil.year == "5":
            mark = min(25, max(0, round(19 + 4 * pupil.ability + rng.gauss(0, 2))))
            check = "Multiplication tables check"
            rows.append(_exam_row(pupil, check, "Mathematics", "STA", june, None, mark, july))
    return rows


def _secondary_exams(source: Source, year: AcademicYear, roll: Roll) -> list[dict[str, Any]]:
    """Sixth-formers' GCSE results, and embargoed resit results for the next results day."""
    rng = source.rng
    rows = []
    for pupil in roll.current:
        number = year_number(pupil.year)
        if number < 12:
            continue
        sat = year.year - (number - 11)
        day = _results_day(sat, 8, 20)
        for subject in rng.sample(GCSE_SUBJECTS, 8):
            grade = _grade(source, pupil, False, 0.8)
            board = rng.choice(BOARDS)
            rows.append(_exam_row(pupil, "GCSE", subject, board, f"June {sat}", grade, None, day))
    # GCSE maths resits for the next results day (January for the November series,
    # August for June), held by the school ahead of release: a demo convenience that
    # gives embargoed results whatever the date.
    today = year.today
    upcoming, series = min(
        (_results_day(y, month, first), f"{name} {y - (month == 1)}")
        for y in (today.year, today.year + 1)
        for month, first, name in ((1, 8, "November"), (8, 20, "June"))
        if _results_day(y, month, first) > today
    )
    until = local_time(upcoming, dt.time(8, 0))
    resitters = [p for p in roll.current if p.year == "12"]
    for pupil in source.sample(resitters, 0.25):
        grade = str(rng.choice([3, 4, 4, 5]))
        row = _exam_row(
            pupil, "GCSE", "Mathematics", "Pearson Edexcel", series, grade, None, upcoming
        )
        row["embargoed"] = True
        row["embargo_until"] = until
        rows.append(row)
    return rows
