"""Admissions: applications for next September's intake, and this year's in-year admissions."""

from __future__ import annotations

import datetime as dt

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.people import address, email, mobile
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.structure import Years, year_number
from authserver.demo.school_data.students import (
    NURSERIES,
    PRIMARY_SCHOOLS,
    SECONDARY_SCHOOLS,
    Roll,
    Upns,
)
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import AdmissionApplication

STATUSES = [("Applied", 30), ("Offered", 40), ("Accepted", 20), ("Declined", 10)]
# Columns an in-year admission copies from the pupil it admitted.
FROM_PUPIL = [
    "part_time",
    "forename",
    "middle_names",
    "surname",
    "legal_forename",
    "legal_surname",
    "gender",
    "date_of_birth",
    "upn",
    "address_line1",
    "address_line2",
    "town",
    "county",
    "postcode",
]


def insert_admissions(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    *,
    years: Years,
    roll: Roll,
    upns: Upns,
) -> None:
    """Applications for next September's intake, plus a few in-year admissions."""
    rng, primary = source.rng, profile.primary
    intake = "R" if primary else "7"
    born_from = dt.date(year.year + 1 - 5 - year_number(intake), 9, 1)
    applicants = max(1, round(years.sizes[years.names[0]] * 1.2))
    rows = []
    for _ in range(applicants):
        female = source.chance(0.5)
        forename = source.first_name(female)
        surname = source.fake.last_name()
        rows.append(
            {
                "student_id": None,
                "application_status": source.weighted(STATUSES)[0],
                "application_date": min(
                    year.start + dt.timedelta(days=rng.randint(7, 120)),
                    year.today - dt.timedelta(days=1),
                ),
                "intended_nc_year": intake,
                "intended_admission_date": dt.date(year.year + 1, 9, 3),
                "part_time": False,
                "forename": forename,
                "middle_names": None,
                "surname": surname,
                "legal_forename": forename,
                "legal_surname": surname,
                "gender": "Female" if female else "Male",
                "date_of_birth": born_from + dt.timedelta(days=rng.randint(0, 364)),
                "upn": None if primary else upns.issue(year.year - 6),
                "previous_school": rng.choice(NURSERIES if primary else PRIMARY_SCHOOLS),
                **address(source, profile.place),
                "email": email(source, forename, surname),
                "telephone": mobile(source),
            }
        )
    in_year = year.start + dt.timedelta(days=7)
    for pupil in [p for p in roll.current if p.row["admission_date"] > in_year][:5]:
        row = pupil.row
        rows.append(
            {
                "student_id": pupil.id,
                "application_status": "Admitted",
                "application_date": row["admission_date"] - dt.timedelta(days=21),
                "intended_nc_year": pupil.year,
                "intended_admission_date": row["admission_date"],
                **{column: row[column] for column in FROM_PUPIL},
                "previous_school": rng.choice(PRIMARY_SCHOOLS if primary else SECONDARY_SCHOOLS),
                "email": None,
                "telephone": None,
            }
        )
    writer.insert(AdmissionApplication, rows)
