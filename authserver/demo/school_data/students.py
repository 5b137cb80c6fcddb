"""Pupils and their families, group memberships, school history, funding and notes.

NHS numbers come from the 999 test range, which the NHS never issues to patients.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.curriculum import HOUSES, OPTION_BLOCKS
from authserver.demo.school_data.people import (
    ENGLISH_PROFICIENCY,
    NICKNAMES,
    address,
    background,
    initials,
    mobile,
)
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.structure import Groups, Subjects, Years, year_number
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import (
    EnrolmentHistory,
    FundingMonitoring,
    GroupMembership,
    Post16Study,
    SchoolHistory,
    Student,
    StudentNote,
)

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
STUDENT_NOTES = [
    ("Quick note", "Travel", "Walks home with an older sibling on Tuesdays and Thursdays."),
    ("Quick note", "Collection", "Collected by a grandparent on Fridays."),
    ("Quick note", "Clubs", "Attends breakfast club every morning."),
    ("Document", "Transition notes", "Notes from the previous school's transition meeting."),
    ("User-defined field", "Locker number", "Locker 214, east corridor."),
    ("User-defined field", "Bus pass", "Route 36 bus pass issued."),
]
PRIMARY_SCHOOLS = [
    "St Mary's CofE Primary School", "Hillside Primary School", "Greenfields Primary School",
    "Riverside Community Primary School", "Holy Trinity Catholic Primary School",
    "Brookfield Junior School", "Westgate Primary Academy", "Millbrook Primary School",
    "Orchard Park Primary School", "St John's CofE Primary School",
]  # fmt: skip
SECONDARY_SCHOOLS = ["Castle Hill Academy", "Kingsmead School", "Parkside High School"]
NURSERIES = ["Little Acorns Nursery", "Rainbow Pre-School", "Busy Bees Day Nursery"]


@dataclass(eq=False)
class Family:
    """A household: its surname, address and background, shared by its children."""

    surname: str
    address: dict[str, Any]
    ethnicity: str
    religion: str
    language: str
    fsm: bool
    ever6: bool
    service: bool
    pupils: list[Pupil] = field(default_factory=list)


@dataclass(eq=False)
class Pupil:
    """A pupil being built, before and after its row is inserted (which sets its id)."""

    row: dict[str, Any]
    year: str
    form: str
    family: int
    ability: float
    attendance: float
    house: str
    leaver: bool = False
    options: list[str] = field(default_factory=list)
    id: int = 0


class Upns:
    """Issues well-formed UPNs, with the DfE check letter, unique within this school's data."""

    def __init__(self, profile: SchoolProfile) -> None:
        self.school_id = profile.id
        self.la_code = profile.place.la_code
        self.serial = 0

    def issue(self, entry_year: int) -> str:
        """The next UPN for a child who entered school in `entry_year`."""
        self.serial += 1
        estab = 2000 + (self.school_id * 37 + self.serial // 1000) % 8000
        body = f"{self.la_code}{estab:04d}{entry_year % 100:02d}{self.serial % 1000:03d}"
        total = sum(int(digit) * weight for digit, weight in zip(body, range(2, 14), strict=True))
        return UPN_LETTERS[total % 23] + body


def nhs_number(source: Source) -> str:
    """A valid NHS number from the 999 range, which the NHS never issues to patients."""
    while True:
        digits = [9, 9, 9, *(source.rng.randint(0, 9) for _ in range(6))]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check == 10:
            continue
        return "".join(map(str, digits)) + str(0 if check == 11 else check)


@dataclass(frozen=True)
class Roll:
    """Every pupil (current and recent leavers) and the families they come from."""

    pupils: list[Pupil]
    families: list[Family]

    @cached_property
    def current(self) -> list[Pupil]:
        """Pupils on roll now."""
        return [p for p in self.pupils if not p.leaver]


class _Intake:
    """Makes pupils one by one, some of them siblings of pupils made before."""

    def __init__(
        self, source: Source, profile: SchoolProfile, year: AcademicYear, upns: Upns
    ) -> None:
        self.source = source
        self.profile = profile
        self.calendar = year
        self.upns = upns
        self.families: list[Family] = []
        self.pupils: list[Pupil] = []

    def new_family(self) -> int:
        source = self.source
        fsm = source.chance(0.22)
        ethnicity, religion, language = background(source)
        self.families.append(
            Family(
                surname=source.fake.last_name(),
                address=address(source, self.profile.place),
                ethnicity=ethnicity,
                religion=religion,
                language=language,
                fsm=fsm,
                ever6=fsm or source.chance(0.08),
                service=source.chance(0.02),
            )
        )
        return len(self.families) - 1

    def new_pupil(self, year: str, form: str, *, leaver: bool = False) -> Pupil:
        source, rng, primary = self.source, self.source.rng, self.profile.primary
        start_year, today = self.calendar.year, self.calendar.today
        if self.families and source.chance(0.15):
            family_index = rng.randrange(len(self.families))
        else:
            family_index = self.new_family()
        family = self.families[family_index]
        female = source.chance(0.5)
        forename = source.first_name(female)
        middle = source.first_name(female) if source.chance(0.45) else None
        surname = family.surname
        number = year_number(year)
        # A leaver finished that year last July, so is a year older than its pupils now.
        age_number = number + 1 if leaver else number
        # Children start Reception in the September after they turn four.
        born_from = dt.date(start_year - 5 - age_number, 9, 1)
        born = born_from + dt.timedelta(days=rng.randint(0, 364))
        entry_number = 0 if primary else (12 if number >= 12 and source.chance(0.3) else 7)
        entry_number = min(entry_number, number)
        admitted = dt.date(start_year - (age_number - entry_number), 9, rng.randint(1, 6))
        if source.chance(0.06):
            admitted = admitted + dt.timedelta(days=rng.randint(30, 300))
        admitted = min(admitted, today - dt.timedelta(days=1))
        in_care = source.chance(0.008)
        adopted = not in_care and source.chance(0.01)
        sen = source.weighted([(None, 85), ("SEN support", 12), ("EHC plan", 3)])[0]
        english = family.language == "English"
        sixth = number >= 12
        row = {
            "upi": source.fake.uuid4(),
            "forename": forename,
            "middle_names": middle,
            "surname": surname,
            "preferred_forename": NICKNAMES.get(forename) if source.chance(0.5) else None,
            "preferred_surname": None,
            "legal_forename": forename,
            "legal_surname": surname,
            "initials": initials(forename, middle, surname),
            "gender": "Female" if female else "Male",
            "date_of_birth": born,
            "upn": self.upns.issue(start_year - age_number),
            "former_upn": self.upns.issue(start_year - age_number - 1)
            if source.chance(0.01)
            else None,
            "admission_number": f"{admitted.year % 100:02d}{len(self.pupils) + 1:04d}",
            "nc_year": year,
            "enrolment_status": "leaver" if leaver else "current",
            "admission_date": admitted,
            "leaving_date": dt.date(start_year, 7, 21) if leaver else None,
            "part_time": year == "R" and source.chance(0.03),
            **family.address,
            "email": None if primary else self.pupil_email(admitted, forename, surname),
            "telephone": mobile(source) if not primary and source.chance(0.5) else None,
            "ethnicity": family.ethnicity,
            "religion": family.religion,
            "first_language": family.language,
            "english_proficiency": None if english else source.weighted(ENGLISH_PROFICIENCY)[0],
            "fsm_eligible": family.fsm,
            "fsm_ever6": family.ever6,
            "pupil_premium": family.ever6 or in_care or adopted or family.service,
            "other_funding": "16 to 19 Bursary Fund" if sixth and family.fsm else None,
            "service_child": family.service,
            "in_care": in_care,
            "adopted_from_care": adopted,
            "young_carer": source.chance(0.02),
            "gender_identity": "Non-binary" if not primary and source.chance(0.004) else None,
            "pregnant": False,
            "deceased_date": None,
            "nhs_number": nhs_number(source) if source.chance(0.9) else None,
            "sen_status": sen,
            "notes": None,
        }
        if row["preferred_forename"] is None and source.chance(0.01):
            row["preferred_surname"] = source.fake.last_name()
        habit = source.weighted([(0.02, 80), (0.07, 15), (0.2, 5)])[0]
        pupil = Pupil(
            row=row,
            year=year,
            form=form,
            family=family_index,
            ability=rng.gauss(0, 1),
            attendance=habit,
            house=rng.choice(HOUSES),
            leaver=leaver,
        )
        if sixth and not leaver:
            blocks = rng.sample(range(len(OPTION_BLOCKS)), 3)
            pupil.options = [rng.choice(OPTION_BLOCKS[b]) for b in sorted(blocks)]
        family.pupils.append(pupil)
        self.pupils.append(pupil)
        return pupil

    def pupil_email(self, admitted: dt.date, forename: str, surname: str) -> str:
        """A school account in the usual style: year of entry, surname, initial."""
        name = re.sub(r"[^a-z]", "", surname.lower()) + forename[0].lower()
        number = self.source.rng.randint(1, 9)
        return f"{admitted.year % 100:02d}{name}{number}@pupils.{self.profile.domain}"


def plan_pupils(
    source: Source, profile: SchoolProfile, year: AcademicYear, years: Years, upns: Upns
) -> Roll:
    """Pupils (not yet inserted) with their families, ability and attendance habits."""
    intake = _Intake(source, profile, year, upns)
    for name in years.names:
        forms = years.forms[name]
        for n in range(years.sizes[name]):
            intake.new_pupil(name, forms[n % len(forms)])
    # Recent leavers, so that history scopes have someone to show.
    last_year = years.names[-1]
    leaver_form = years.forms[last_year][0] if years.forms[last_year] else f"{last_year}A"
    for _ in range(max(1, years.pupils // 50)):
        intake.new_pupil(last_year, leaver_form, leaver=True)
    return Roll(pupils=intake.pupils, families=intake.families)


def insert_pupils(writer: Writer, roll: Roll, year: AcademicYear, groups: Groups) -> None:
    """Every pupil's row (which sets its id), and current pupils' year, form and house."""
    ids = writer.insert(Student, [p.row for p in roll.pupils], ids=True)
    for pupil, pupil_id in zip(roll.pupils, ids, strict=True):
        pupil.id = pupil_id
    rows = []
    for pupil in roll.current:
        start = max(pupil.row["admission_date"], year.start)
        for key in (("year", pupil.year), ("registration", pupil.form), ("house", pupil.house)):
            rows.append(
                {
                    "group_id": groups.ids[key],
                    "student_id": pupil.id,
                    "start_date": start,
                    "end_date": None,
                }
            )
    writer.insert(GroupMembership, rows)


def insert_history(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    roll: Roll,
    subjects: Subjects,
) -> None:
    """Year-by-year enrolment, previous schools, and sixth-form study programmes."""
    rng, primary, la_code = source.rng, profile.primary, profile.place.la_code
    history, schools, studies = [], [], []
    for pupil in roll.pupils:
        row = pupil.row
        number = year_number(pupil.year)
        # A leaver's last year at the school was the previous academic year.
        final_year = year.year - 1 if pupil.leaver else year.year
        admitted = row["admission_date"]
        first_year = admitted.year - (admitted.month < 9)
        for past in range(max(number - (final_year - first_year), 0), number + 1):
            start_year = final_year - (number - past)
            label = "R" if past == 0 else str(past)
            form = pupil.form
            history.append(
                {
                    "student_id": pupil.id,
                    "academic_year": f"{start_year}/{(start_year + 1) % 100:02d}",
                    "nc_year": label,
                    "registration_group": form.replace(pupil.year, label, 1)
                    if not primary
                    else form,
                    "enrolment_status": row["enrolment_status"] if past == number else "current",
                    "start_date": max(dt.date(start_year, 9, 1), admitted),
                    "end_date": None
                    if past == number and not pupil.leaver
                    else dt.date(start_year + 1, 7, 21),
                }
            )
        if not primary:
            primary_left = dt.date(final_year - (number - 6), 7, 20)
            schools.append(
                {
                    "student_id": pupil.id,
                    "school_name": rng.choice(PRIMARY_SCHOOLS),
                    "school_urn": f"1{rng.randint(10000, 99999)}",
                    "la_estab": f"{la_code}{rng.randint(2000, 3999)}",
                    "entry_date": dt.date(final_year - number, 9, 3),
                    "leaving_date": primary_left,
                    "leaving_reason": "End of primary phase",
                }
            )
            if row["admission_date"].month != 9:
                schools.append(
                    {
                        "student_id": pupil.id,
                        "school_name": rng.choice(SECONDARY_SCHOOLS),
                        "school_urn": f"1{rng.randint(10000, 99999)}",
                        "la_estab": f"{la_code}{rng.randint(4000, 4999)}",
                        "entry_date": primary_left + dt.timedelta(days=45),
                        "leaving_date": row["admission_date"] - dt.timedelta(days=3),
                        "leaving_reason": "Family moved house",
                    }
                )
        elif source.chance(0.3) or row["admission_date"].month != 9:
            schools.append(
                {
                    "student_id": pupil.id,
                    "school_name": rng.choice(NURSERIES),
                    "school_urn": None,
                    "la_estab": None,
                    "entry_date": row["date_of_birth"] + dt.timedelta(days=365 * 3),
                    "leaving_date": dt.date(final_year - number, 7, 20),
                    "leaving_reason": "Started school",
                }
            )
        for code in pupil.options:
            studies.append(
                {
                    "student_id": pupil.id,
                    "learning_aim": f"601{subjects.ids[code] % 10000:04d}X",
                    "qualification": "A level",
                    "subject_id": subjects.ids[code],
                    "start_date": dt.date(year.year - (number - 12), 9, 4),
                    "planned_end_date": dt.date(year.year - (number - 12) + 2, 6, 20),
                    "planned_hours": 360,
                    "completion_status": "Continuing",
                }
            )
    writer.insert(EnrolmentHistory, history)
    writer.insert(SchoolHistory, schools)
    writer.insert(Post16Study, studies)


FUNDING_INDICATORS = [
    ("fsm_eligible", "Free school meals eligibility"),
    ("pupil_premium", "Pupil premium"),
    ("service_child", "Service premium"),
    ("in_care", "Looked after by the local authority"),
]


def insert_funding(writer: Writer, year: AcademicYear, roll: Roll) -> None:
    """Funding indicators over time, from each pupil's flags."""
    rows = []
    for pupil in roll.pupils:
        row = pupil.row
        since = max(row["admission_date"], year.start - dt.timedelta(days=365 * 2))
        for flag, indicator in FUNDING_INDICATORS:
            if row[flag]:
                rows.append(
                    {
                        "student_id": pupil.id,
                        "indicator": indicator,
                        "start_date": since,
                        "end_date": row["leaving_date"],
                        "notes": None,
                    }
                )
    if not rows:
        rows.append(
            {
                "student_id": roll.current[0].id,
                "indicator": "Pupil premium",
                "start_date": year.start,
                "end_date": None,
                "notes": "Added for the demo.",
            }
        )
    writer.insert(FundingMonitoring, rows)


def insert_notes(writer: Writer, source: Source, year: AcademicYear, roll: Roll) -> None:
    """Notes on about one pupil in twenty."""
    rows = []
    for pupil in source.sample(roll.current, 0.05):
        category, title, body = source.rng.choice(STUDENT_NOTES)
        rows.append(
            {
                "student_id": pupil.id,
                "category": category,
                "title": title,
                "body": body,
                "recorded_on": year.day_before_today(source.rng.randint(1, 200)),
            }
        )
    writer.insert(StudentNote, rows)
