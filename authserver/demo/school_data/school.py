"""The school itself: where it is, its head, its details and its MIS connection."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

from authserver.demo.school_data.academic_year import AcademicYear, local_time
from authserver.demo.school_data.people import PLACES, Place, landline, slug
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import EndpointInfo, SchoolInfo
from authserver.models.organisations import School


@dataclass(frozen=True)
class SchoolProfile:
    """What every step needs to know about the school: its phase, town and web domain."""

    id: int
    phase: str
    place: Place
    domain: str

    @property
    def primary(self) -> bool:
        """Whether this is a primary school (else a secondary)."""
        return self.phase == "primary"


class Head(NamedTuple):
    """The headteacher, named on the school's details and first on the staff list."""

    title: str
    forename: str
    surname: str
    female: bool


def profile_school(school: School, source: Source) -> SchoolProfile:
    """The school's phase (primary or secondary, else ValueError), a town and a domain."""
    phase = (school.phase or "").lower()
    if phase not in {"primary", "secondary"}:
        raise ValueError(f"unknown school phase {school.phase!r}")
    return SchoolProfile(
        id=school.id,
        phase=phase,
        place=source.rng.choice(PLACES),
        domain=f"{slug(school.name) or 'school'}.example.org",
    )


def insert_school(
    writer: Writer, source: Source, profile: SchoolProfile, year: AcademicYear
) -> Head:
    """The school's details and its MIS endpoint; returns the head it names."""
    rng, fake = source.rng, source.fake
    town, county, la_code, _ = profile.place
    # DfE numbers: 2xxx for primary schools, 4xxx for secondaries.
    estab = f"{2 if profile.primary else 4}{profile.id % 1000:03d}"
    title = rng.choice(["Mrs", "Mr", "Dr", "Ms"])
    female = title in {"Mrs", "Ms"} or (title == "Dr" and source.chance(0.6))
    head = Head(title, source.first_name(female), fake.last_name(), female)
    writer.insert(
        SchoolInfo,
        [
            {
                "headteacher_title": head.title,
                "headteacher_forename": head.forename,
                "headteacher_surname": head.surname,
                "headteacher_email": f"head@{profile.domain}",
                "phase": profile.phase,
                "la_code": la_code,
                "establishment_number": estab,
                "address_line1": f"{fake.street_name()}",
                "address_line2": None,
                "town": town,
                "county": county,
                "postcode": fake.postcode(),
                "telephone": landline(source),
                "email": f"office@{profile.domain}",
                "website": f"https://www.{profile.domain}",
                "mis_name": rng.choice(["Arbor", "Bromcom", "SIMS", "Scholarpack"]),
                "academic_year_start": year.start,
                "academic_year_end": dt.date(year.year + 1, 7, 22),
            }
        ],
    )
    # The nightly check before `today`: deterministic, and never in the future.
    checked = local_time(year.today - dt.timedelta(days=1), dt.time(22, 0))
    checked += dt.timedelta(minutes=rng.randint(5, 90))
    writer.insert(
        EndpointInfo,
        [
            {
                "mis_version": f"{rng.randint(7, 9)}.{rng.randint(0, 9)}.{rng.randint(0, 40)}",
                "agent_version": f"3.{rng.randint(10, 19)}.{rng.randint(0, 9)}",
                "last_check_at": checked,
                "last_check_status": "OK",
                "last_sync_at": checked - dt.timedelta(hours=rng.randint(1, 12)),
            }
        ],
    )
    return head
