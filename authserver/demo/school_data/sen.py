"""Special educational needs: needs, provision, EHC plans, old statements, reviews, events."""

from __future__ import annotations

import datetime as dt
from typing import Any

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.students import Pupil, Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import EhcPlan, SenEvent, SenNeed, SenProvision, SenReview, SenStatement

SEN_NEEDS = [
    ("SpLD", "Specific learning difficulty (for example dyslexia)", 20),
    ("MLD", "Moderate learning difficulty", 12),
    ("SLCN", "Speech, language and communication needs", 20),
    ("SEMH", "Social, emotional and mental health", 20),
    ("ASD", "Autistic spectrum disorder", 15),
    ("HI", "Hearing impairment", 3),
    ("VI", "Visual impairment", 2),
    ("PD", "Physical disability", 3),
    ("OTH", "Other difficulty or disability", 5),
]
SEN_PROVISIONS = [
    ("In-class teaching assistant support", 5.0),
    ("Small-group literacy", 2.0),
    ("Speech and language therapy", 0.5),
    ("Social skills group", 1.0),
    ("Exam access arrangements (extra time)", None),
    ("Sensory breaks", 1.0),
    ("Precision teaching in maths", 1.5),
]
# Statements of SEN were issued until August 2014, so only to children at school by then.
STATEMENTS_BORN_BEFORE = dt.date(2010, 9, 1)


def _statement(source: Source, profile: SchoolProfile, pupil: Pupil, reason: str) -> dict[str, Any]:
    """A statement of SEN issued before September 2014 and ended by the 2018 deadline."""
    rng = source.rng
    earliest = max(pupil.row["date_of_birth"] + dt.timedelta(days=4 * 365), dt.date(2012, 9, 1))
    span = (dt.date(2014, 8, 31) - earliest).days
    return {
        "student_id": pupil.id,
        "local_authority": profile.place.authority,
        "issued_on": earliest + dt.timedelta(days=rng.randint(0, max(0, span))),
        "ceased_on": dt.date(2016, 9, 1) + dt.timedelta(days=rng.randint(0, 500)),
        "ceased_reason": reason,
    }


def _review(pupil: Pupil, kind: str, day: dt.date, outcome: str, next_in_days: int) -> dict:
    return {
        "student_id": pupil.id,
        "review_type": kind,
        "review_date": day,
        "outcome": outcome,
        "next_review_date": day + dt.timedelta(days=next_in_days),
    }


def _event(pupil: Pupil, kind: str, day: dt.date, description: str, person: str, role: str) -> dict:
    return {
        "student_id": pupil.id,
        "event_type": kind,
        "event_date": day,
        "description": description,
        "person_name": person,
        "person_role": role,
    }


def insert_sen(
    writer: Writer, source: Source, profile: SchoolProfile, year: AcademicYear, roll: Roll
) -> list[Pupil]:
    """SEN records for pupils with a SEN status (or one pupil); returns those pupils."""
    rng, fake = source.rng, source.fake
    authority = profile.place.authority
    current = roll.current
    sen_pupils = [p for p in current if p.row["sen_status"]] or current[:1]
    needs, provisions, plans, statements, reviews, events = [], [], [], [], [], []
    for pupil in sen_pupils:
        ehcp = pupil.row["sen_status"] == "EHC plan"
        for rank in (1, 2) if source.chance(0.4) else (1,):
            code, description, _ = source.weighted(SEN_NEEDS)
            needs.append(
                {
                    "student_id": pupil.id,
                    "need_type": code,
                    "description": description,
                    "rank": rank,
                    "start_date": pupil.row["admission_date"],
                    "end_date": None,
                }
            )
        for provision, hours in rng.sample(SEN_PROVISIONS, rng.randint(1, 2)):
            provisions.append(
                {
                    "student_id": pupil.id,
                    "provision_type": provision,
                    "description": f"{provision}, reviewed each term.",
                    "hours_per_week": hours,
                    "start_date": max(year.start, pupil.row["admission_date"]),
                    "end_date": None,
                }
            )
        if ehcp:
            issued = year.start - dt.timedelta(days=rng.randint(60, 1500))
            last = year.day_before_today(rng.randint(20, 300))
            plans.append(
                {
                    "student_id": pupil.id,
                    "status": "Issued",
                    "local_authority": authority,
                    "requested_on": issued - dt.timedelta(days=140),
                    "issued_on": issued,
                    "last_review_on": last,
                    "next_review_on": last + dt.timedelta(days=365),
                }
            )
            reviews.append(
                _review(
                    pupil, "EHC plan annual review", last, "Plan maintained; outcomes updated.", 365
                )
            )
            events.append(
                _event(
                    pupil,
                    "Multi-agency meeting",
                    last - dt.timedelta(days=30),
                    "Planning meeting before the annual review.",
                    fake.name(),
                    "Educational psychologist",
                )
            )
            if pupil.row["date_of_birth"] < STATEMENTS_BORN_BEFORE:
                statements.append(_statement(source, profile, pupil, "Transferred to an EHC plan"))
        elif source.chance(0.4):
            day = year.day_before_today(rng.randint(10, 90))
            reviews.append(
                _review(pupil, "SEN support review", day, "Targets met in part; continue.", 90)
            )
    if not plans and sen_pupils:
        plans.append(
            {
                "student_id": sen_pupils[0].id,
                "status": "Assessment requested",
                "local_authority": authority,
                "requested_on": year.day_before_today(40),
                "issued_on": None,
                "last_review_on": None,
                "next_review_on": None,
            }
        )
    if not events and sen_pupils:
        events.append(
            _event(
                sen_pupils[0],
                "Speech and language assessment",
                year.day_before_today(25),
                "Assessment in school with the therapist.",
                fake.name(),
                "Speech and language therapist",
            )
        )
    if not statements:
        # Someone old enough to have had a statement, now on SEN support instead.
        old_enough = [p for p in sen_pupils if p.row["date_of_birth"] < STATEMENTS_BORN_BEFORE]
        if old_enough:
            oldest = min(old_enough, key=lambda p: p.row["date_of_birth"])
            statements.append(_statement(source, profile, oldest, "Needs met without a plan"))
    writer.insert(SenNeed, needs)
    writer.insert(SenProvision, provisions)
    writer.insert(EhcPlan, plans)
    writer.insert(SenStatement, statements)
    writer.insert(SenReview, reviews)
    writer.insert(SenEvent, events)
    return sen_pupils
