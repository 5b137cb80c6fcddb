"""Deterministic demo MIS data: one school's pupils, staff, timetable, registers and records.

`seed_school_data` fills every MIS table for a school. The same seed and parameters always give
the same rows: Faker (`en_GB`) and `random.Random` are seeded per call and global random state
is never used, so demos, screenshots and tests are reproducible. Rows go in with bulk inserts,
so a 1,000-pupil secondary seeds in a few seconds on SQLite.

Everything is fictitious and safe to publish: email addresses use reserved example domains,
telephone numbers come from Ofcom's ranges kept for drama, NHS numbers from the 999 test range,
and National Insurance numbers use the never-issued QQ prefix.

Every pupil gets a morning and an afternoon register mark for each weekday of the attendance
window, and a lesson mark for every lesson of every class they are in, consistent with the
session mark. Weekdays are all treated as school days (no holidays or closures).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from faker import Faker
from sqlalchemy import insert
from sqlalchemy.orm import Session

from authserver.models.columns import utcnow
from authserver.models.mis import (
    MIS_MODELS,
    Achievement,
    AdmissionApplication,
    Agency,
    Agent,
    AlternativeProvision,
    AssessmentAspect,
    AssessmentResult,
    AttendanceCode,
    AttendanceSummary,
    Behaviour,
    CashlessAccount,
    CashlessTransaction,
    ClassMembership,
    Contact,
    Detention,
    DietaryNeed,
    EhcPlan,
    EndpointInfo,
    EnrolmentHistory,
    ExamResult,
    Exclusion,
    FundingMonitoring,
    Group,
    GroupMembership,
    Intervention,
    Lesson,
    LessonMark,
    MealChoice,
    MedicalCondition,
    MisRecord,
    ParentalConsent,
    Period,
    Photo,
    Post16Study,
    Room,
    SchoolHistory,
    SchoolInfo,
    SenEvent,
    SenNeed,
    SenProvision,
    SenReview,
    SenStatement,
    SessionMark,
    SocialServicesInvolvement,
    Staff,
    StaffAbsence,
    StaffCheck,
    StaffContract,
    StaffDisability,
    StaffNextOfKin,
    StaffNote,
    StaffPay,
    StaffQualification,
    StaffRole,
    Student,
    StudentAgent,
    StudentContact,
    StudentNote,
    Subject,
    TeachingClass,
)
from authserver.models.organisations import School


def _london() -> dt.tzinfo:
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # pragma: no cover - no tz database: times shift in summer
        return dt.UTC


LONDON = _london()

# A 1x1 transparent PNG: the demo needs a photo in every row, not a likeness.
PLACEHOLDER_PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode("ascii")

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"

# (town, county, local authority number, local authority)
PLACES = [
    ("Harrogate", "North Yorkshire", "815", "North Yorkshire Council"),
    ("Stockport", "Greater Manchester", "356", "Stockport Council"),
    ("Reading", "Berkshire", "870", "Reading Borough Council"),
    ("Taunton", "Somerset", "933", "Somerset Council"),
    ("Lincoln", "Lincolnshire", "925", "Lincolnshire County Council"),
    ("Ipswich", "Suffolk", "935", "Suffolk County Council"),
    ("Exeter", "Devon", "878", "Devon County Council"),
    ("Shrewsbury", "Shropshire", "893", "Shropshire Council"),
]

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

# (code, name, national code, weekly lessons in Years 7-9, in Years 10-11)
SECONDARY_SUBJECTS = [
    ("En", "English", "ENG", 4, 4),
    ("Ma", "Mathematics", "MAT", 4, 4),
    ("Sc", "Science", "SCI", 3, 5),
    ("Hi", "History", "HIS", 2, 2),
    ("Gg", "Geography", "GEO", 2, 2),
    ("Fr", "French", "FRE", 2, 3),
    ("Cp", "Computing", "ICT", 1, 1),
    ("Ar", "Art and Design", "ART", 1, 1),
    ("Mu", "Music", "MUS", 1, 0),
    ("Pe", "Physical Education", "PE", 2, 2),
    ("Re", "Religious Education", "RE", 1, 1),
    ("Dt", "Design and Technology", "DT", 1, 0),
    ("Dr", "Drama", "DRA", 1, 0),
]
SIXTH_FORM_ONLY_SUBJECTS = [
    ("Bi", "Biology", "BIO"),
    ("Ch", "Chemistry", "CHE"),
    ("Ph", "Physics", "PHY"),
    ("Ps", "Psychology", "PSY"),
    ("Ec", "Economics", "ECO"),
]
# Secondary teachers belong to a department and may teach any of its subjects.
DEPARTMENTS = {
    "En": "English", "Ma": "Mathematics", "Sc": "Science", "Bi": "Science", "Ch": "Science",
    "Ph": "Science", "Hi": "Humanities", "Gg": "Humanities", "Re": "Humanities", "Ps": "Humanities",
    "Ec": "Humanities", "Fr": "Languages", "Cp": "Computing", "Ar": "Creative arts",
    "Mu": "Creative arts", "Dr": "Creative arts", "Dt": "Technology", "Pe": "Physical education",
}  # fmt: skip
# A-level option blocks: a sixth-former takes one subject from each of three blocks.
OPTION_BLOCKS = [("Ma", "Hi", "Ar"), ("Bi", "En", "Ec"), ("Ch", "Ps", "Fr"), ("Ph", "Gg", "Cp")]

# (code, name, national code, weekly lessons)
PRIMARY_SUBJECTS = [
    ("En", "English", "ENG", 5),
    ("Ma", "Mathematics", "MAT", 5),
    ("Sc", "Science", "SCI", 2),
    ("Tp", "Topic (History and Geography)", "HUM", 2),
    ("Pe", "Physical Education", "PE", 2),
    ("Ar", "Art and Design", "ART", 1),
    ("Mu", "Music", "MUS", 1),
    ("Cp", "Computing", "ICT", 1),
    ("Re", "Religious Education", "RE", 1),
]
PRIMARY_FORM_NAMES = [
    "Oak", "Ash", "Birch", "Elm", "Hazel", "Rowan", "Willow", "Beech", "Cedar", "Maple", "Holly",
    "Larch", "Alder", "Aspen", "Linden", "Poplar", "Juniper", "Spruce", "Sycamore", "Chestnut",
    "Hawthorn",
]  # fmt: skip
HOUSES = ["Brunel", "Darwin", "Franklin", "Seacole"]

SUBJECT_ROOM_TYPES = {
    "Sc": "Laboratory", "Bi": "Laboratory", "Ch": "Laboratory", "Ph": "Laboratory", "Pe": "Sports",
    "Ar": "Art studio", "Mu": "Music room", "Cp": "IT suite", "Dt": "Workshop",
    "Dr": "Drama studio",
}  # fmt: skip

# (ethnicity, weight, home languages other than English, share speaking one, usual religions)
BACKGROUNDS = [
    ("White - British", 66, (), 0.0, ("No religion", "Christian")),
    ("White - Irish", 1, (), 0.0, ("Christian", "No religion")),
    (
        "White - Any other White background",
        7,
        ("Polish", "Romanian", "Lithuanian", "Portuguese", "Spanish"),
        0.7,
        ("Christian", "No religion"),
    ),
    ("Asian or Asian British - Pakistani", 4, ("Urdu", "Punjabi"), 0.6, ("Muslim",)),
    (
        "Asian or Asian British - Indian",
        3.5,
        ("Gujarati", "Punjabi", "Tamil"),
        0.5,
        ("Hindu", "Sikh", "Muslim"),
    ),
    ("Asian or Asian British - Bangladeshi", 1.5, ("Bengali",), 0.6, ("Muslim",)),
    (
        "Black or Black British - African",
        4.5,
        ("Somali", "Yoruba", "Arabic"),
        0.4,
        ("Christian", "Muslim"),
    ),
    ("Black or Black British - Caribbean", 1, (), 0.0, ("Christian", "No religion")),
    ("Mixed - White and Black Caribbean", 1.5, (), 0.0, ("No religion", "Christian")),
    ("Mixed - White and Asian", 1.5, (), 0.0, ("No religion", "Muslim", "Christian")),
    ("Mixed - Any other mixed background", 2, (), 0.0, ("No religion", "Christian")),
    ("Chinese", 0.5, ("Cantonese", "Mandarin"), 0.5, ("No religion", "Buddhist")),
    (
        "Any other ethnic group",
        1.5,
        ("Arabic", "Kurdish", "Turkish"),
        0.5,
        ("Muslim", "Christian", "Any other religion"),
    ),
    ("Information not yet obtained", 1, (), 0.0, ("Information not yet obtained",)),
    ("Refused", 0.5, (), 0.0, ("Information refused",)),
]
ENGLISH_PROFICIENCY = [
    ("A - New to English", 5),
    ("B - Early acquisition", 10),
    ("C - Developing competence", 20),
    ("D - Competent", 30),
    ("E - Fluent", 35),
]
NICKNAMES = {
    "Alexander": "Alex", "Alexandra": "Alex", "Benjamin": "Ben", "Charlotte": "Charlie",
    "Christopher": "Chris", "Daniel": "Dan", "Elizabeth": "Beth", "Jessica": "Jess",
    "Joshua": "Josh", "Katherine": "Kate", "Matthew": "Matt", "Nicholas": "Nick", "Oliver": "Ollie",
    "Rebecca": "Becky", "Samuel": "Sam", "Thomas": "Tom", "William": "Will", "Jacob": "Jake",
    "Samantha": "Sam", "Victoria": "Tori", "Joseph": "Joe", "James": "Jamie", "Edward": "Ed",
    "Megan": "Meg", "Abigail": "Abi", "Frederick": "Freddie",
}  # fmt: skip
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

BEHAVIOUR_TYPES = {
    "secondary": [
        ("Disruption in lesson", -1),
        ("Homework not completed", -1),
        ("Late to lesson", -1),
        ("Uniform", -1),
        ("Mobile phone seen", -2),
        ("Disrespect to staff", -3),
        ("Truancy from lesson", -3),
        ("Fighting", -5),
    ],
    "primary": [
        ("Not following instructions", -1),
        ("Unkind words", -1),
        ("Disruption in class", -1),
        ("Playground incident", -2),
        ("Hurting another child", -3),
    ],
}
BEHAVIOUR_ACTIONS = {
    "secondary": [
        "Verbal warning",
        "Detention",
        "Parent contacted",
        "Removed from lesson",
        "Internal isolation",
    ],
    "primary": ["Reminder", "Missed playtime", "Parent spoken to", "Time out"],
}
ACHIEVEMENT_TYPES = {
    "secondary": [
        ("Excellent classwork", 2),
        ("Outstanding homework", 2),
        ("Effort", 1),
        ("Helping others", 1),
        ("Sports representation", 3),
        ("Full attendance", 2),
    ],
    "primary": [
        ("Star of the week", 3),
        ("Fantastic writing", 2),
        ("Kindness", 1),
        ("Reading milestone", 2),
        ("Great effort", 1),
    ],
}
LOCATIONS = ["Classroom", "Corridor", "Playground", "Dining hall", "Field", "Online"]

MEDICAL_CONDITIONS = [
    ("Asthma", "Uses a reliever inhaler before exercise.", "Salbutamol inhaler", False, 45),
    ("Eczema", "Needs emollient cream applied at lunchtime.", "Emollient cream", False, 15),
    ("Hay fever", "Worse in the summer term.", "Antihistamine", False, 12),
    ("Anaphylaxis", "Severe allergic reaction risk.", "Adrenaline auto-injector", True, 8),
    ("Epilepsy", "Absence seizures; see care plan.", "Buccal midazolam", True, 5),
    ("Type 1 diabetes", "Checks blood glucose before lunch.", "Insulin", True, 4),
    ("ADHD", "Takes medication before school.", "Methylphenidate", False, 8),
    ("Coeliac disease", "Must avoid gluten.", None, False, 3),
]
DIETARY_NEEDS = [
    ("Allergy", "Peanuts and tree nuts", "Severe", 20),
    ("Allergy", "Egg", "Moderate", 6),
    ("Allergy", "Sesame", "Moderate", 4),
    ("Allergy", "Milk", "Mild", 5),
    ("Intolerance", "Lactose", "Mild", 8),
    ("Medical", "Gluten free (coeliac disease)", "Severe", 4),
    ("Religious", "Halal", None, 20),
    ("Religious", "No pork", None, 6),
    ("Preference", "Vegetarian", None, 20),
    ("Preference", "Vegan", None, 5),
]
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
INTERVENTIONS = [
    ("Literacy", "Reading catch-up", "Daily 20-minute phonics and fluency sessions."),
    ("Numeracy", "Maths tuition", "Small-group tuition twice a week."),
    ("Pastoral", "Mentoring", "Weekly check-in with a learning mentor."),
    ("Wellbeing", "Emotional literacy support", "Six sessions with the ELSA."),
    ("Attendance", "Attendance support plan", "Morning phone call and weekly review."),
]
CONSENTS = {
    "secondary": [
        "Photographs on the school website",
        "Local educational visits",
        "Biometric cashless catering",
        "Internet and email use",
    ],
    "primary": [
        "Photographs on the school website",
        "Local educational visits",
        "Administration of paracetamol",
        "Sun cream application",
    ],
}
AGENCIES = [
    ("School Nursing Service", "medical", "School nurse"),
    ("Child and Adolescent Mental Health Services (CAMHS)", "medical", "Clinical psychologist"),
    ("Speech and Language Therapy Service", "medical", "Speech and language therapist"),
    ("Children's Social Care", "social_services", "Social worker"),
    ("Early Help Team", "social_services", "Family support worker"),
    ("Educational Psychology Service", "other", "Educational psychologist"),
    ("Education Welfare Service", "other", "Education welfare officer"),
    ("Careers Advice Service", "other", "Careers adviser"),
]
ALTERNATIVE_PROVIDERS = [
    ("Riverside Pupil Referral Unit", "900101", "Pupil referral unit"),
    ("Oakfield Farm School", "900102", "Vocational programme"),
]
STAFF_ABSENCES = [
    ("Sickness", "Cold and flu symptoms"),
    ("Sickness", "Stomach upset"),
    ("Sickness", "Back pain"),
    ("Medical appointment", "Hospital appointment"),
    ("Compassionate leave", "Family bereavement"),
    ("Training", "Subject network meeting"),
    ("Jury service", "Summoned for jury service"),
]
STAFF_DISABILITIES = [
    (
        "Hearing impairment",
        "Partial hearing loss in one ear.",
        "Seat near the speaker in meetings.",
    ),
    ("Dyslexia", "Diagnosed in adulthood.", "Documents shared in advance, in a larger font."),
    ("Mobility impairment", "Uses a walking stick.", "Ground-floor classroom and parking bay."),
    ("Long-term health condition", "Managed with medication.", "Flexible start on clinic days."),
]
UNIVERSITIES = [
    "University of Leeds", "University of Manchester", "University of Exeter",
    "University of Nottingham", "Cardiff University", "University of Sheffield",
    "Durham University", "University of York", "Oxford Brookes University",
]  # fmt: skip
TEACHER_PAY = [
    ("M1", 32916),
    ("M2", 34823),
    ("M3", 37101),
    ("M4", 39390),
    ("M5", 41963),
    ("M6", 45352),
    ("U1", 47472),
    ("U2", 49232),
    ("U3", 51048),
]
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
# Statements of SEN were issued until August 2014, so only to children at school by then.
STATEMENTS_BORN_BEFORE = dt.date(2010, 9, 1)
ACADEMIC_TERMS = (("Autumn", 9, 12), ("Spring", 1, 3), ("Summer", 4, 8))


@dataclass
class _Pupil:
    """A pupil being built, before and after its row is inserted."""

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


@dataclass
class _Teacher:
    """A teacher being planned: department, weekly lessons per subject, option blocks."""

    department: str | None
    lessons: Counter[str] = field(default_factory=Counter)
    blocks: set[int] = field(default_factory=set)
    id: int = 0

    @property
    def load(self) -> int:
        return self.lessons.total()

    @property
    def subject(self) -> str | None:
        """The subject this teacher teaches most."""
        return self.lessons.most_common(1)[0][0] if self.lessons else None


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
    builder = _SchoolBuilder(
        session,
        school,
        students=students,
        seed=seed,
        weeks=weeks_of_attendance,
        today=today or utcnow().astimezone(LONDON).date(),
    )
    counts = builder.build()
    session.flush()
    return counts


class _SchoolBuilder:
    """Builds one school's data in dependency order, inserting each table in bulk."""

    def __init__(
        self,
        session: Session,
        school: School,
        *,
        students: int,
        seed: int,
        weeks: int,
        today: dt.date,
    ) -> None:
        phase = (school.phase or "").lower()
        if phase not in {"primary", "secondary"}:
            raise ValueError(f"unknown school phase {school.phase!r}")
        self.session = session
        self.school = school
        self.phase = phase
        self.primary = phase == "primary"
        self.students = students
        self.today = today
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.now = utcnow()
        self.counts: Counter[str] = Counter({m.__entity__: 0 for m in MIS_MODELS})
        self.year_start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
        self.year = self.year_start.year
        first = today - dt.timedelta(days=7 * weeks)
        self.days = [
            first + dt.timedelta(days=n)
            for n in range((today - first).days)
            if (first + dt.timedelta(days=n)).weekday() < 5
        ]
        self.place = self.rng.choice(PLACES)
        self.domain = f"{self.slug(school.name) or 'school'}.example.org"
        self.serial = 0
        self.staff_codes: set[str] = set()
        self.form_codes: dict[str, str] = {}

    # Small tools -------------------------------------------------------------------------

    def insert(
        self, model: type[MisRecord], rows: Sequence[dict[str, Any]], *, ids: bool = False
    ) -> list[int]:
        """Bulk-insert rows for this school; with ids, return the new ids in row order."""
        if not rows:
            return []
        for row in rows:
            row["school_id"] = self.school.id
            row["updated_at"] = self.now
        self.counts[model.__entity__] += len(rows)
        if not ids:
            self.session.execute(insert(model), rows)
            return []
        statement = insert(model).returning(model.id, sort_by_parameter_order=True)
        return list(self.session.scalars(statement, rows))

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def weighted(self, options: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
        """One option, chosen by the weight in its last position."""
        return self.rng.choices(options, weights=[o[-1] for o in options])[0]

    def sample(self, population: Sequence[Any], fraction: float, minimum: int = 1) -> list[Any]:
        """A share of the population (at least `minimum`, where there are enough)."""
        size = min(len(population), max(minimum, round(len(population) * fraction)))
        return self.rng.sample(list(population), size)

    def day_before_today(self, days_back: int) -> dt.date:
        return self.today - dt.timedelta(days=days_back)

    def recent_day(self) -> dt.date:
        """A school day in the attendance window, or a recent weekday without one."""
        if self.days:
            return self.rng.choice(self.days)
        day = self.today - dt.timedelta(days=self.rng.randint(1, 28))
        return day - dt.timedelta(days=max(0, day.weekday() - 4))

    def next_school_day(self, day: dt.date) -> dt.date:
        """The day itself if it is a weekday, else the Monday after."""
        return day + dt.timedelta(days=max(0, 7 - day.weekday()) if day.weekday() > 4 else 0)

    def slug(self, name: str) -> str:
        return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")

    def pupil_email(self, admitted: dt.date, forename: str, surname: str) -> str:
        """A school account in the usual style: year of entry, surname, initial."""
        name = re.sub(r"[^a-z]", "", surname.lower()) + forename[0].lower()
        return f"{admitted.year % 100:02d}{name}{self.rng.randint(1, 9)}@pupils.{self.domain}"

    def mobile(self) -> str:
        return f"07700 900{self.rng.randint(0, 999):03d}"

    def landline(self) -> str:
        return f"01632 960{self.rng.randint(0, 999):03d}"

    def email(self, forename: str, surname: str, domain: str = "example.com") -> str:
        local = re.sub(r"[^a-z.]", "", f"{forename}.{surname}".lower())
        return f"{local}{self.rng.randint(1, 99)}@{domain}"

    def address(self) -> dict[str, Any]:
        town, county, _, _ = self.place
        return {
            "address_line1": self.fake.street_address().replace("\n", ", "),
            "address_line2": None,
            "town": town,
            "county": county,
            "postcode": self.fake.postcode(),
        }

    def background(self) -> tuple[str, str, str]:
        """A coherent ethnicity, religion and first language for a family or a person."""
        weights = [background[1] for background in BACKGROUNDS]
        ethnicity, _, languages, share, religions = self.rng.choices(BACKGROUNDS, weights)[0]
        language = self.rng.choice(languages) if languages and self.chance(share) else "English"
        if self.chance(0.08):
            religion = "Information refused"
        else:
            religion = self.rng.choices(religions, weights=range(len(religions), 0, -1))[0]
        return ethnicity, religion, language

    def upn(self, entry_year: int) -> str:
        """A well-formed UPN, with the DfE check letter, unique within this school's data."""
        self.serial += 1
        estab = 2000 + (self.school.id * 37 + self.serial // 1000) % 8000
        body = f"{self.place[2]}{estab:04d}{entry_year % 100:02d}{self.serial % 1000:03d}"
        total = sum(int(digit) * weight for digit, weight in zip(body, range(2, 14), strict=True))
        return UPN_LETTERS[total % 23] + body

    def nhs_number(self) -> str:
        """A valid NHS number from the 999 range, which the NHS never issues to patients."""
        while True:
            digits = [9, 9, 9, *(self.rng.randint(0, 9) for _ in range(6))]
            check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
            if check == 10:
                continue
            return "".join(map(str, digits)) + str(0 if check == 11 else check)

    def local_time(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, tzinfo=LONDON).astimezone(dt.UTC)

    # The build ---------------------------------------------------------------------------

    def build(self) -> dict[str, int]:
        self.school_details()
        self.plan_years()
        self.make_pupils()
        self.structure()
        self.make_staff()
        self.groups()
        self.insert_pupils()
        self.contacts()
        self.classes()
        self.timetable()
        self.welfare()
        self.attendance()
        self.conduct()
        self.assessment()
        self.pupil_records()
        self.staff_records()
        self.agencies()
        self.catering()
        self.admissions()
        self.photos()
        return dict(self.counts)

    def school_details(self) -> None:
        town, county, la_code, _ = self.place
        # DfE numbers: 2xxx for primary schools, 4xxx for secondaries.
        estab = f"{2 if self.primary else 4}{self.school.id % 1000:03d}"
        title = self.rng.choice(["Mrs", "Mr", "Dr", "Ms"])
        female = title in {"Mrs", "Ms"} or (title == "Dr" and self.chance(0.6))
        forename = self.fake.first_name_female() if female else self.fake.first_name_male()
        self.head = (title, forename, self.fake.last_name(), female)
        self.insert(
            SchoolInfo,
            [
                {
                    "headteacher_title": self.head[0],
                    "headteacher_forename": self.head[1],
                    "headteacher_surname": self.head[2],
                    "headteacher_email": f"head@{self.domain}",
                    "phase": self.phase,
                    "la_code": la_code,
                    "establishment_number": estab,
                    "address_line1": f"{self.fake.street_name()}",
                    "address_line2": None,
                    "town": town,
                    "county": county,
                    "postcode": self.fake.postcode(),
                    "telephone": self.landline(),
                    "email": f"office@{self.domain}",
                    "website": f"https://www.{self.domain}",
                    "mis_name": self.rng.choice(["Arbor", "Bromcom", "SIMS", "Scholarpack"]),
                    "academic_year_start": self.year_start,
                    "academic_year_end": dt.date(self.year + 1, 7, 22),
                }
            ],
        )
        # The nightly check before `today`: deterministic, and never in the future.
        checked = self.local_time(self.today - dt.timedelta(days=1), dt.time(22, 0))
        checked += dt.timedelta(minutes=self.rng.randint(5, 90))
        self.insert(
            EndpointInfo,
            [
                {
                    "mis_version": f"{self.rng.randint(7, 9)}.{self.rng.randint(0, 9)}"
                    f".{self.rng.randint(0, 40)}",
                    "agent_version": f"3.{self.rng.randint(10, 19)}.{self.rng.randint(0, 9)}",
                    "last_check_at": checked,
                    "last_check_status": "OK",
                    "last_sync_at": checked - dt.timedelta(hours=self.rng.randint(1, 12)),
                }
            ],
        )

    def plan_years(self) -> None:
        """Year groups, their sizes (largest remainder) and registration forms."""
        if self.primary:
            self.year_names = ["R", "1", "2", "3", "4", "5", "6"]
            weights = [1.0] * 7
        else:
            self.year_names = ["7", "8", "9", "10", "11", "12", "13"]
            weights = [1.0, 1.0, 1.0, 1.0, 1.0, 0.55, 0.45]
        shares = [self.students * w / sum(weights) for w in weights]
        sizes = [math.floor(s) for s in shares]
        by_remainder = sorted(range(len(shares)), key=lambda i: sizes[i] - shares[i])
        for i in by_remainder[: self.students - sum(sizes)]:
            sizes[i] += 1
        self.year_sizes = dict(zip(self.year_names, sizes, strict=True))
        self.forms: dict[str, list[str]] = {}
        # Primary classes are named after trees; a very large school goes round again.
        names = (
            (name if lap == 0 else f"{name} {lap + 1}", f"{name[:3].upper()}{lap or ''}")
            for lap in itertools.count()
            for name in PRIMARY_FORM_NAMES
        )
        for year, size in self.year_sizes.items():
            self.forms[year] = []
            if size == 0:
                continue
            if self.primary:
                for _ in range(math.ceil(size / 30)):
                    name, code = next(names)
                    self.forms[year].append(name)
                    self.form_codes[name] = code
            else:
                count = math.ceil(size / (20 if year in {"12", "13"} else 30))
                for i in range(count):
                    form = f"{year}{chr(ord('A') + i)}"
                    self.forms[year].append(form)
                    self.form_codes[form] = form

    def year_number(self, year: str) -> int:
        return 0 if year == "R" else int(year)

    def make_pupils(self) -> None:
        """Pupils (not yet inserted) with their families, ability and attendance habits."""
        self.families: list[dict[str, Any]] = []
        self.pupils: list[_Pupil] = []
        for year in self.year_names:
            forms = self.forms[year]
            for n in range(self.year_sizes[year]):
                self.pupils.append(self.new_pupil(year, forms[n % len(forms)]))
        # Recent leavers, so that history scopes have someone to show.
        last_year = self.year_names[-1]
        leaver_form = self.forms[last_year][0] if self.forms[last_year] else f"{last_year}A"
        for _ in range(max(1, self.students // 50)):
            self.pupils.append(self.new_pupil(last_year, leaver_form, leaver=True))

    def new_family(self) -> int:
        fsm = self.chance(0.22)
        ethnicity, religion, language = self.background()
        self.families.append(
            {
                "surname": self.fake.last_name(),
                "address": self.address(),
                "ethnicity": ethnicity,
                "religion": religion,
                "language": language,
                "fsm": fsm,
                "ever6": fsm or self.chance(0.08),
                "service": self.chance(0.02),
                "contacts": [],
                "pupils": [],
            }
        )
        return len(self.families) - 1

    def new_pupil(self, year: str, form: str, *, leaver: bool = False) -> _Pupil:
        if self.families and self.chance(0.15):
            family_index = self.rng.randrange(len(self.families))
        else:
            family_index = self.new_family()
        family = self.families[family_index]
        female = self.chance(0.5)
        forename = self.fake.first_name_female() if female else self.fake.first_name_male()
        middle = None
        if self.chance(0.45):
            middle = self.fake.first_name_female() if female else self.fake.first_name_male()
        surname = family["surname"]
        number = self.year_number(year)
        # A leaver finished that year last July, so is a year older than its pupils now.
        age_number = number + 1 if leaver else number
        # Children start Reception in the September after they turn four.
        born_from = dt.date(self.year - 5 - age_number, 9, 1)
        born = born_from + dt.timedelta(days=self.rng.randint(0, 364))
        entry_number = 0 if self.primary else (12 if number >= 12 and self.chance(0.3) else 7)
        entry_number = min(entry_number, number)
        admitted = dt.date(self.year - (age_number - entry_number), 9, self.rng.randint(1, 6))
        if self.chance(0.06):
            admitted = admitted + dt.timedelta(days=self.rng.randint(30, 300))
        admitted = min(admitted, self.today - dt.timedelta(days=1))
        in_care = self.chance(0.008)
        adopted = not in_care and self.chance(0.01)
        sen = self.weighted([(None, 85), ("SEN support", 12), ("EHC plan", 3)])[0]
        english = family["language"] == "English"
        sixth = number >= 12
        row = {
            "upi": self.fake.uuid4(),
            "forename": forename,
            "middle_names": middle,
            "surname": surname,
            "preferred_forename": NICKNAMES.get(forename) if self.chance(0.5) else None,
            "preferred_surname": None,
            "legal_forename": forename,
            "legal_surname": surname,
            "initials": "".join(p[0] for p in (forename, middle, surname) if p),
            "gender": "Female" if female else "Male",
            "date_of_birth": born,
            "upn": self.upn(self.year - age_number),
            "former_upn": self.upn(self.year - age_number - 1) if self.chance(0.01) else None,
            "admission_number": f"{admitted.year % 100:02d}{len(self.pupils) + 1:04d}",
            "nc_year": year,
            "enrolment_status": "leaver" if leaver else "current",
            "admission_date": admitted,
            "leaving_date": dt.date(self.year, 7, 21) if leaver else None,
            "part_time": year == "R" and self.chance(0.03),
            **family["address"],
            "email": None if self.primary else self.pupil_email(admitted, forename, surname),
            "telephone": self.mobile() if not self.primary and self.chance(0.5) else None,
            "ethnicity": family["ethnicity"],
            "religion": family["religion"],
            "first_language": family["language"],
            "english_proficiency": None if english else self.weighted(ENGLISH_PROFICIENCY)[0],
            "fsm_eligible": family["fsm"],
            "fsm_ever6": family["ever6"],
            "pupil_premium": family["ever6"] or in_care or adopted or family["service"],
            "other_funding": "16 to 19 Bursary Fund" if sixth and family["fsm"] else None,
            "service_child": family["service"],
            "in_care": in_care,
            "adopted_from_care": adopted,
            "young_carer": self.chance(0.02),
            "gender_identity": "Non-binary" if not self.primary and self.chance(0.004) else None,
            "pregnant": False,
            "deceased_date": None,
            "nhs_number": self.nhs_number() if self.chance(0.9) else None,
            "sen_status": sen,
            "notes": None,
        }
        if row["preferred_forename"] is None and self.chance(0.01):
            row["preferred_surname"] = self.fake.last_name()
        habit = self.weighted([(0.02, 80), (0.07, 15), (0.2, 5)])[0]
        pupil = _Pupil(
            row=row,
            year=year,
            form=form,
            family=family_index,
            ability=self.rng.gauss(0, 1),
            attendance=habit,
            house=self.rng.choice(HOUSES),
            leaver=leaver,
        )
        if sixth and not leaver:
            blocks = self.rng.sample(range(len(OPTION_BLOCKS)), 3)
            pupil.options = [self.rng.choice(OPTION_BLOCKS[b]) for b in sorted(blocks)]
        family["pupils"].append(pupil)
        return pupil

    def structure(self) -> None:
        """Subjects, periods and rooms."""
        if self.primary:
            subjects = [(c, n, nc) for c, n, nc, _ in PRIMARY_SUBJECTS]
        else:
            subjects = [(c, n, nc) for c, n, nc, _, _ in SECONDARY_SUBJECTS]
            subjects += SIXTH_FORM_ONLY_SUBJECTS
        ids = self.insert(
            Subject,
            [{"code": c, "name": n, "national_code": nc} for c, n, nc in subjects],
            ids=True,
        )
        self.subject_ids = dict(zip((s[0] for s in subjects), ids, strict=True))
        self.subject_names = {c: n for c, n, _ in subjects}

        if self.primary:
            times = [("09:00", "10:15"), ("10:35", "12:00"), ("13:00", "14:00"), ("14:00", "15:15")]
            self.morning_periods = 2
        else:
            times = [
                ("08:50", "09:50"),
                ("09:50", "10:50"),
                ("11:10", "12:10"),
                ("12:10", "13:10"),
                ("14:00", "15:00"),
            ]
            self.morning_periods = 4
        self.periods_per_day = len(times)
        period_rows = []
        slots = []
        for day, day_name in enumerate(["Mon", "Tue", "Wed", "Thu", "Fri"], start=1):
            for n, (start, end) in enumerate(times, start=1):
                slots.append((day, n))
                period_rows.append(
                    {
                        "name": f"{day_name} P{n}",
                        "day": day,
                        "start_time": dt.time.fromisoformat(start),
                        "end_time": dt.time.fromisoformat(end),
                    }
                )
        period_ids = self.insert(Period, period_rows, ids=True)
        self.periods = dict(zip(slots, zip(period_ids, period_rows, strict=True), strict=True))

        rooms: list[tuple[str, str, str, int]] = []
        if self.primary:
            for form in (f for forms in self.forms.values() for f in forms):
                rooms.append((self.form_codes[form], f"{form} classroom", "Classroom", 30))
            rooms += [
                ("HALL", "Hall", "Sports", 120),
                ("PLAY", "Playground", "Sports", 120),
                ("FLD", "Playing field", "Sports", 120),
                ("LIB", "Library", "Library", 30),
                ("ICT", "ICT suite", "IT suite", 30),
            ]
        else:
            forms = sum(len(f) for y, f in self.forms.items() if y not in {"12", "13"})
            for n in range(forms + 6):
                rooms.append((f"G{n + 1:02d}", f"Classroom G{n + 1:02d}", "Classroom", 30))
            for n in range(max(2, math.ceil(forms * 4 / 25) + 2)):
                rooms.append((f"S{n + 1}", f"Science lab {n + 1}", "Laboratory", 30))
            for code, name, kind in [
                ("SH1", "Sports hall (court 1)", "Sports"),
                ("SH2", "Sports hall (court 2)", "Sports"),
                ("GYM", "Gym", "Sports"),
                ("FLD", "Playing field", "Sports"),
                ("AST", "Astro pitch", "Sports"),
                ("AR1", "Art studio 1", "Art studio"),
                ("AR2", "Art studio 2", "Art studio"),
                ("MU1", "Music room", "Music room"),
                ("IT1", "IT suite 1", "IT suite"),
                ("IT2", "IT suite 2", "IT suite"),
                ("DT1", "Technology workshop", "Workshop"),
                ("DR1", "Drama studio", "Drama studio"),
            ]:
                rooms.append((code, name, kind, 60 if kind == "Sports" else 30))
        room_ids = self.insert(
            Room,
            [{"code": c, "name": n, "room_type": t, "capacity": cap} for c, n, t, cap in rooms],
            ids=True,
        )
        self.rooms = [(rid, room[2]) for rid, room in zip(room_ids, rooms, strict=True)]
        self.playground = next(
            (rid for rid, r in zip(room_ids, rooms, strict=True) if r[0] == "PLAY"), None
        )
        self.room_codes = {rid: room[0] for rid, room in zip(room_ids, rooms, strict=True)}

    def plan_classes(self) -> list[dict[str, Any]]:
        """Teaching classes with their pupils and weekly lessons (teachers come later)."""
        plans: list[dict[str, Any]] = []
        current = [p for p in self.pupils if not p.leaver]
        by_form: dict[str, list[_Pupil]] = defaultdict(list)
        for pupil in current:
            by_form[pupil.form].append(pupil)
        for year in self.year_names:
            for form in self.forms[year]:
                if year in {"12", "13"}:
                    continue
                if self.primary:
                    subjects = [(c, lessons) for c, _, _, lessons in PRIMARY_SUBJECTS]
                else:
                    ks4 = year in {"10", "11"}
                    subjects = [(c, k4 if ks4 else k3) for c, _, _, k3, k4 in SECONDARY_SUBJECTS]
                for code, lessons in subjects:
                    if lessons == 0:
                        continue
                    plans.append(
                        {
                            "code": f"{self.form_codes[form]}/{code}",
                            "name": f"{form} {self.subject_names[code]}",
                            "description": f"{self.subject_names[code]} for "
                            f"{'Reception' if year == 'R' else 'Year ' + year}"
                            f" ({form})",
                            "subject": code,
                            "year": year,
                            "form": form,
                            "lessons": lessons,
                            "pupils": by_form[form],
                            "block": None,
                        }
                    )
        for year in ("12", "13"):
            if self.primary:
                break
            for block, subjects in enumerate(OPTION_BLOCKS):
                for code in subjects:
                    takers = [p for p in current if p.year == year and code in p.options]
                    groups = math.ceil(len(takers) / 20)
                    for n in range(groups):
                        plans.append(
                            {
                                "code": f"{year}{code}{n + 1}",
                                "name": f"Year {year} A level {self.subject_names[code]} {n + 1}",
                                "description": f"A level {self.subject_names[code]}, option "
                                f"block {'ABCD'[block]}",
                                "subject": code,
                                "year": year,
                                "form": None,
                                "lessons": 5,
                                "pupils": takers[n::groups],
                                "block": block,
                            }
                        )
        return plans

    def make_staff(self) -> None:
        """Teachers enough for the timetable, a head, and support staff to about 1 per 15."""
        self.class_plans = self.plan_classes()
        teachers: list[_Teacher] = []
        self.form_teacher: dict[str, _Teacher] = {}
        self.departments: dict[str, list[_Teacher]] = {}
        if self.primary:
            for form in (f for forms in self.forms.values() for f in forms):
                self.form_teacher[form] = _Teacher(None)
                teachers.append(self.form_teacher[form])
            for plan in self.class_plans:
                plan["teacher"] = self.form_teacher[plan["form"]]
        else:
            demand: Counter[str] = Counter()
            in_block: Counter[tuple[str, int]] = Counter()
            for plan in self.class_plans:
                department = DEPARTMENTS[plan["subject"]]
                demand[department] += plan["lessons"]
                if plan["block"] is not None:
                    in_block[(department, plan["block"])] += 1
            pools: dict[str, list[_Teacher]] = {}
            for department in dict.fromkeys(DEPARTMENTS.values()):
                # About 20 lessons a week each leaves room to timetable without clashes, and
                # classes of one option block are taught at once, by different teachers.
                count = max(
                    math.ceil(demand[department] / 20),
                    *(n for (d, _), n in in_block.items() if d == department),
                    0,
                )
                pools[department] = [_Teacher(department) for _ in range(count)]
                teachers.extend(pools[department])
            self.departments = pools
            # Sixth-form classes first: a teacher can take only one class per option block.
            ordered = sorted(self.class_plans, key=lambda p: (p["block"] is None, -p["lessons"]))
            for plan in ordered:
                pool = pools[DEPARTMENTS[plan["subject"]]]
                block = plan["block"]
                free = [t for t in pool if block is None or block not in t.blocks]
                # The least loaded, preferring someone who already teaches the subject.
                teacher = min(
                    free or pool, key=lambda t: t.load + (0 if t.lessons[plan["subject"]] else 3)
                )
                teacher.lessons[plan["subject"]] += plan["lessons"]
                if block is not None:
                    teacher.blocks.add(block)
                plan["teacher"] = teacher

        head_title, head_forename, head_surname, head_female = self.head
        people: list[tuple[dict[str, Any], str, str | None, str]] = [
            (
                self.staff_row(
                    head_title,
                    head_forename,
                    head_surname,
                    teaching=True,
                    female=head_female,
                ),
                "head",
                None,
                "Headteacher",
            ),
        ]
        for teacher in teachers:
            row = self.staff_row(teaching=True, female=self.chance(0.65))
            people.append(
                (row, "teacher", teacher.subject, "Class teacher" if self.primary else "Teacher")
            )
        support = max(4, math.ceil(self.students / 15) - len(teachers) - 1)
        named_roles = min(len(SUPPORT_ROLES), support // 2)
        for n in range(support):
            role = SUPPORT_ROLES[n][0] if n < named_roles else "Teaching assistant"
            people.append(
                (self.staff_row(teaching=False, female=self.chance(0.8)), "support", None, role)
            )
        # A former member of staff, so that history scopes have someone to show.
        people.append((self.staff_row(teaching=True, current=False), "former", None, "Teacher"))

        self.staff_rows = [row for row, _, _, _ in people]
        self.staff_kinds = [(kind, subject, role) for _, kind, subject, role in people]
        self.staff_ids = self.insert(Staff, self.staff_rows, ids=True)
        self.head_id = self.staff_ids[0]
        for teacher, staff_id in zip(teachers, self.staff_ids[1:], strict=False):
            teacher.id = staff_id
        self.teacher_ids = [t.id for t in teachers]
        self.support_ids = [
            sid
            for sid, (kind, _, _) in zip(self.staff_ids, self.staff_kinds, strict=True)
            if kind == "support"
        ]

    def staff_row(
        self,
        title: str | None = None,
        forename: str | None = None,
        surname: str | None = None,
        *,
        teaching: bool,
        female: bool | None = None,
        current: bool = True,
    ) -> dict[str, Any]:
        female = self.chance(0.7) if female is None else female
        if forename is None:
            forename = self.fake.first_name_female() if female else self.fake.first_name_male()
        if surname is None:
            surname = self.fake.last_name()
        if title is None:
            title = self.rng.choice(["Mrs", "Ms", "Miss"]) if female else "Mr"
            if self.chance(0.05):
                title = "Dr"
        middle = None
        if self.chance(0.3):
            middle = self.fake.first_name_female() if female else self.fake.first_name_male()
        born = dt.date(self.year - self.rng.randint(23, 63), 1, 1) + dt.timedelta(
            days=self.rng.randint(0, 364)
        )
        started = dt.date(self.year - self.rng.randint(0, 20), 9, 1)
        letters = re.sub(r"[^A-Z]", "", (forename + surname).upper())
        code = (forename[0] + re.sub(r"[^A-Za-z]", "", surname)[:2]).upper()
        suffix = 1
        while code in self.staff_codes:
            suffix += 1
            code = f"{letters[:2]}{suffix}"
        self.staff_codes.add(code)
        local = re.sub(r"[^a-z]", "", (forename[0] + surname).lower())
        ethnicity, religion, _ = self.background()
        return {
            "upi": self.fake.uuid4(),
            "title": title,
            "forename": forename,
            "middle_names": middle,
            "surname": surname,
            "preferred_forename": NICKNAMES.get(forename) if self.chance(0.3) else None,
            "legal_forename": forename,
            "legal_surname": surname,
            "initials": "".join(p[0] for p in (forename, middle, surname) if p),
            "staff_code": code,
            "gender": "Female" if female else "Male",
            "date_of_birth": born,
            "teacher_number": f"{self.rng.randint(1000000, 9999999)}" if teaching else None,
            "work_email": f"{local}@{self.domain}",
            "work_telephone": self.landline(),
            "is_teaching_staff": teaching,
            "is_current": current,
            "employment_start_date": started,
            "employment_end_date": None if current else dt.date(self.year, 7, 21),
            "la_start_date": started - dt.timedelta(days=365 * self.rng.randint(0, 5)),
            **self.address(),
            "personal_email": self.email(forename, surname),
            "personal_telephone": self.landline() if self.chance(0.4) else None,
            "personal_mobile": self.mobile(),
            "national_insurance_number": f"QQ{self.rng.randint(0, 999999):06d}"
            f"{self.rng.choice('ABCD')}",
            "ethnicity": ethnicity,
            "religion": religion,
            "notes": "Works Monday to Wednesday." if self.chance(0.05) else None,
        }

    def groups(self) -> None:
        """Year groups, registration groups and houses, each with a member of staff leading."""
        rows: list[dict[str, Any]] = []
        keys: list[tuple[str, str]] = []
        leads = itertools.cycle(self.rng.sample(self.teacher_ids, len(self.teacher_ids)))
        tutors = itertools.cycle(self.rng.sample(self.teacher_ids, len(self.teacher_ids)))
        for year in self.year_names:
            label = "Reception" if year == "R" else f"Year {year}"
            rows.append(
                {
                    "type": "year",
                    "code": f"Y{year}",
                    "name": label,
                    "description": f"All pupils in {label}",
                    "notes": None,
                    "nc_year": year,
                    # A primary head leads the year groups; a secondary has heads of year.
                    "lead_staff_id": self.head_id if self.primary else next(leads),
                }
            )
            keys.append(("year", year))
        self.form_tutor: dict[str, int] = {}
        for year in self.year_names:
            for form in self.forms[year]:
                if self.primary:
                    tutor, name = self.form_teacher[form].id, f"{form} Class"
                else:
                    tutor, name = next(tutors), f"Form {form}"
                self.form_tutor[form] = tutor
                rows.append(
                    {
                        "type": "registration",
                        "code": self.form_codes[form],
                        "name": name,
                        "description": f"{'Reception' if year == 'R' else 'Year ' + year} "
                        f"registration group",
                        "notes": None,
                        "nc_year": year,
                        "lead_staff_id": tutor,
                    }
                )
                keys.append(("registration", form))
        for house in HOUSES:
            rows.append(
                {
                    "type": "house",
                    "code": house[:3].upper(),
                    "name": f"{house} House",
                    "description": f"House named after {house}",
                    "notes": None,
                    "nc_year": None,
                    "lead_staff_id": next(leads),
                }
            )
            keys.append(("house", house))
        ids = self.insert(Group, rows, ids=True)
        self.group_ids = dict(zip(keys, ids, strict=True))

    def insert_pupils(self) -> None:
        ids = self.insert(Student, [p.row for p in self.pupils], ids=True)
        for pupil, pupil_id in zip(self.pupils, ids, strict=True):
            pupil.id = pupil_id
        self.current = [p for p in self.pupils if not p.leaver]
        self.by_id = {p.id: p for p in self.pupils}
        rows = []
        for pupil in self.current:
            start = max(pupil.row["admission_date"], self.year_start)
            for key in (("year", pupil.year), ("registration", pupil.form), ("house", pupil.house)):
                rows.append(
                    {
                        "group_id": self.group_ids[key],
                        "student_id": pupil.id,
                        "start_date": start,
                        "end_date": None,
                    }
                )
        self.insert(GroupMembership, rows)

    def contacts(self) -> None:
        """One or two contacts per family, linked to every pupil of the family."""
        rows: list[dict[str, Any]] = []
        owners: list[tuple[int, str]] = []  # (family, relationship)
        for index, family in enumerate(self.families):
            if not family["pupils"]:
                continue
            in_care = any(p.row["in_care"] for p in family["pupils"])
            if in_care:
                people = [("Foster carer", True), ("Foster carer", False)]
            elif self.chance(0.08):
                people = [("Grandparent", True)]
            else:
                people = [("Mother", True), ("Father", False)]
                if self.chance(0.3):
                    people = people[:1] if self.chance(0.7) else people[1:]
                    if self.chance(0.3):
                        people.append(("Step-parent", people[0][0] == "Father"))
            for relationship, female in people:
                if relationship == "Grandparent":
                    female = self.chance(0.7)
                forename = self.fake.first_name_female() if female else self.fake.first_name_male()
                surname = family["surname"] if self.chance(0.85) else self.fake.last_name()
                title = self.rng.choice(["Mrs", "Ms", "Miss"]) if female else "Mr"
                rows.append(
                    {
                        "upi": self.fake.uuid4(),
                        "title": title,
                        "forename": forename,
                        "middle_names": None,
                        "surname": surname,
                        "legal_forename": forename,
                        "legal_surname": surname,
                        "initials": forename[0] + surname[0],
                        "gender": "Female" if female else "Male",
                        "email": self.email(forename, surname),
                        "home_telephone": self.landline() if self.chance(0.3) else None,
                        "mobile_telephone": self.mobile(),
                        "work_telephone": self.landline() if self.chance(0.2) else None,
                        **family["address"],
                        "notes": "Prefers contact by text message." if self.chance(0.03) else None,
                    }
                )
                owners.append((index, relationship))
        ids = self.insert(Contact, rows, ids=True)
        links = []
        for contact_id, (family_index, relationship) in zip(ids, owners, strict=True):
            family = self.families[family_index]
            family["contacts"].append(contact_id)
            priority = len(family["contacts"])
            for pupil in family["pupils"]:
                links.append(
                    {
                        "student_id": pupil.id,
                        "contact_id": contact_id,
                        "relationship": relationship,
                        "parental_responsibility": relationship
                        in {"Mother", "Father", "Grandparent"},
                        "priority": priority,
                        "lives_with": priority == 1 or self.chance(0.7),
                        "receives_correspondence": priority == 1 or self.chance(0.5),
                        "in_touch_communication": priority == 1 or self.chance(0.6),
                    }
                )
        self.insert(StudentContact, links)
        self.contact_ids = ids

    def classes(self) -> None:
        rows = [
            {
                "code": plan["code"],
                "name": plan["name"],
                "description": plan["description"],
                "subject_id": self.subject_ids[plan["subject"]],
                "nc_year": plan["year"],
                "staff_id": plan["teacher"].id,
            }
            for plan in self.class_plans
        ]
        ids = self.insert(TeachingClass, rows, ids=True)
        members = []
        for plan, class_id in zip(self.class_plans, ids, strict=True):
            plan["id"] = class_id
            for pupil in plan["pupils"]:
                start = max(pupil.row["admission_date"], self.year_start)
                members.append(
                    {
                        "class_id": class_id,
                        "student_id": pupil.id,
                        "start_date": start,
                        "end_date": None,
                    }
                )
        self.insert(ClassMembership, members)

    def timetable(self) -> None:
        """A weekly timetable without clashes where possible, then its lessons in the window."""
        slots = [(day, n) for day in range(1, 6) for n in range(1, self.periods_per_day + 1)]
        weekly: list[tuple[dict[str, Any], tuple[int, int]]] = []
        busy: dict[tuple[int, int], set[int]] = defaultdict(set)
        if self.primary:
            others = [c for c, _, _, lessons in PRIMARY_SUBJECTS[2:] for _ in range(lessons)]
            by_form: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
            for plan in self.class_plans:
                by_form[plan["form"]][plan["subject"]] = plan
            for index, plans in enumerate(by_form.values()):
                rotation = others[index % len(others) :] + others[: index % len(others)]
                afternoon = iter(rotation)
                for day in range(1, 6):
                    weekly.append((plans["En"], (day, 1)))
                    weekly.append((plans["Ma"], (day, 2)))
                    weekly.append((plans[next(afternoon)], (day, 3)))
                    weekly.append((plans[next(afternoon)], (day, 4)))
        else:
            for plan in self.class_plans:
                if plan["block"] is None:
                    continue
                for slot in slots:
                    day, n = slot
                    if (n - 1 + day) % 5 == plan["block"]:
                        weekly.append((plan, slot))
                        busy[slot].add(plan["teacher"].id)
            remaining: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for plan in self.class_plans:
                if plan["block"] is None:
                    remaining[plan["form"]].extend([plan] * plan["lessons"])
            taught: Counter[tuple[str, int, str]] = Counter()  # (form, day, class) lessons
            owed: Counter[int] = Counter()  # lessons each teacher still has to place
            for todo in remaining.values():
                owed.update(p["teacher"].id for p in todo)
            for slot in slots:
                waiting = [form for form in sorted(remaining) if remaining[form]]
                self.rng.shuffle(waiting)
                while waiting:
                    # The form with the fewest classes whose teacher is free goes first.
                    choices = {
                        form: [p for p in remaining[form] if p["teacher"].id not in busy[slot]]
                        for form in waiting
                    }
                    form = min(waiting, key=lambda f: len({p["code"] for p in choices[f]}))
                    waiting.remove(form)
                    todo = remaining[form]
                    # Spread each subject over the week, and serve the busiest teachers first
                    # so that nobody is left with more lessons than periods.
                    plan = min(
                        choices[form] or todo,
                        key=lambda p: (taught[(form, slot[0], p["code"])], -owed[p["teacher"].id]),
                    )
                    todo.remove(plan)
                    taught[(form, slot[0], plan["code"])] += 1
                    owed[plan["teacher"].id] -= 1
                    busy[slot].add(plan["teacher"].id)
                    weekly.append((plan, slot))
        timetable = self.resolve_clashes(weekly)

        # Rooms: the subject's own kind of room where one is free, else a free classroom.
        # Primary classes stay in their own classroom except for PE.
        rooms_at: dict[tuple[int, int], set[int]] = defaultdict(set)
        placed: list[tuple[dict[str, Any], tuple[int, int], int, int | None]] = []
        for plan, slot, teacher in sorted(timetable, key=lambda item: (item[1], item[0]["code"])):
            taken = rooms_at[slot]
            kind = SUBJECT_ROOM_TYPES.get(plan["subject"], "Classroom")
            if not any(t == kind for _, t in self.rooms):
                kind = "Classroom"
            if self.primary and kind == "Classroom":
                wanted = self.form_codes[plan["form"]]
                room = next((rid for rid, _ in self.rooms if self.room_codes[rid] == wanted), None)
            else:
                kinds = [kind] if self.primary else [kind, "Classroom"]
                free = (rid for k in kinds for rid, t in self.rooms if t == k and rid not in taken)
                # Outdoors there is room for more than one primary PE class at a time.
                room = next(free, self.playground if self.primary else None)
            if room is not None:
                taken.add(room)
            placed.append((plan, slot, teacher, room))

        lessons = []
        keys = []
        for day in self.days:
            for plan, (weekday, n), teacher, room in placed:
                if weekday != day.isoweekday():
                    continue
                period_id, period = self.periods[(weekday, n)]
                lessons.append(
                    {
                        "class_id": plan["id"],
                        "period_id": period_id,
                        "room_id": room,
                        "staff_id": teacher,
                        "date": day,
                        "start_at": self.local_time(day, period["start_time"]),
                        "end_at": self.local_time(day, period["end_time"]),
                    }
                )
                keys.append((plan, day, n))
        ids = self.insert(Lesson, lessons, ids=True)
        self.lessons = [(lid, *key) for lid, key in zip(ids, keys, strict=True)]

    def resolve_clashes(
        self, weekly: list[tuple[dict[str, Any], tuple[int, int]]]
    ) -> list[tuple[dict[str, Any], tuple[int, int], int]]:
        """Each weekly lesson with its teacher, double bookings resolved.

        A clash is resolved by swapping two of the form's periods or, failing that, by giving
        that one lesson a week to a free colleague (a shared class).
        """
        teaching: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
        for plan, slot in weekly:
            teaching[slot][plan["teacher"].id] += 1
        lessons = [[plan, slot, plan["teacher"].id] for plan, slot in weekly]
        for lesson in lessons:
            plan, slot, teacher = lesson
            if plan["block"] is not None or plan["form"] is None or teaching[slot][teacher] < 2:
                continue
            for other in lessons:
                other_plan, other_slot, other_teacher = other
                if (
                    other_plan["form"] == plan["form"]
                    and other_plan["block"] is None
                    and other_slot != slot
                    and not teaching[other_slot][teacher]
                    and not teaching[slot][other_teacher]
                ):
                    for who, here, there in (
                        (teacher, slot, other_slot),
                        (other_teacher, other_slot, slot),
                    ):
                        teaching[here][who] -= 1
                        teaching[there][who] += 1
                    lesson[1], other[1] = other_slot, slot
                    break
            else:
                # A colleague from the department, else anyone free (a non-specialist).
                department = self.departments.get(DEPARTMENTS.get(plan["subject"], ""), [])
                everyone = [t for pool in self.departments.values() for t in pool]
                free = [t.id for t in department + everyone if not teaching[slot][t.id]]
                if free:
                    teaching[slot][teacher] -= 1
                    lesson[2] = free[0]
                    teaching[slot][free[0]] += 1
        return [(plan, slot, teacher) for plan, slot, teacher in lessons]

    def welfare(self) -> None:
        """Records that shape the registers too: exclusions and alternative provision."""
        share = 0.015 if not self.primary else 0.004
        self.excluded: dict[int, set[dt.date]] = {}
        rows = []
        reasons = [
            "Persistent disruptive behaviour",
            "Physical assault against a pupil",
            "Verbal abuse or threatening behaviour against an adult",
            "Damage to property",
            "Drug and alcohol related",
        ]
        for pupil in self.sample(self.current, share):
            start = self.recent_day()
            length = self.rng.randint(1, 3)
            days = [d for d in self.days if d >= start][:length] or [start]
            self.excluded[pupil.id] = set(days)
            rows.append(
                {
                    "student_id": pupil.id,
                    "exclusion_type": "Suspension",
                    "reason": self.rng.choice(reasons),
                    "start_date": days[0],
                    "end_date": days[-1],
                    "sessions": 2 * len(days),
                    "appeal_status": None,
                }
            )
        self.insert(Exclusion, rows)

        self.off_site: set[int] = set()
        rows = []
        oldest = 3 if self.primary else 9
        candidates = [p for p in self.current if self.year_number(p.year) >= oldest]
        for pupil in self.sample(candidates or self.current, 0.01):
            name, urn, kind = self.rng.choice(ALTERNATIVE_PROVIDERS)
            self.off_site.add(pupil.id)
            rows.append(
                {
                    "student_id": pupil.id,
                    "provider_name": name,
                    "provider_urn": urn,
                    "provision_type": kind,
                    "reason": "Reintegration after repeated suspensions"
                    if kind == "Pupil referral unit"
                    else "Engagement through practical learning",
                    "start_date": self.year_start + dt.timedelta(days=14),
                    "end_date": None,
                    "sessions_per_week": 2,
                    "notes": "Attends the provider all day on Wednesdays; transport arranged.",
                }
            )
        self.insert(AlternativeProvision, rows)

    def attendance(self) -> None:
        """Register codes, session marks for every pupil and day, lesson marks, summaries."""
        self.insert(
            AttendanceCode,
            [
                {"code": c, "description": d, "category": cat, "counts_as_possible": possible}
                for c, d, cat, possible in ATTENDANCE_CODES
            ],
        )
        marks: dict[tuple[int, dt.date, str], str] = {}
        rows = []
        for pupil in self.current:
            admitted = pupil.row["admission_date"]
            ill_days = 0
            for day in self.days:
                if day < admitted:
                    continue
                am, pm, late = "/", "\\", None
                if pupil.id in self.excluded and day in self.excluded[pupil.id]:
                    am = pm = "E"
                elif pupil.id in self.off_site and day.weekday() == 2:
                    am = pm = "B"
                elif ill_days > 0:
                    am = pm = "I"
                    ill_days -= 1
                elif self.chance(pupil.attendance):
                    reason = self.weighted(
                        [
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
                    )[0]
                    if reason == "N" and (self.today - day).days > 4:
                        reason = "O"
                    if reason == "I":
                        ill_days = self.rng.choice([0, 0, 1, 2])
                        am = pm = "I"
                    elif reason == "M":
                        am, pm = ("M", "\\") if self.chance(0.5) else ("/", "M")
                    elif reason == "G":
                        am = pm = "G"
                    else:
                        am = pm = reason
                elif self.chance(pupil.attendance * 1.5):
                    late = self.rng.randint(3, 25)
                    am = "L"
                    if late > 20 and not self.primary:
                        am = "U"
                        late += 15
                marks[(pupil.id, day, "AM")] = am
                marks[(pupil.id, day, "PM")] = pm
                rows.append(
                    {
                        "student_id": pupil.id,
                        "date": day,
                        "session": "AM",
                        "code": am,
                        "minutes_late": late,
                        "comment": None,
                    }
                )
                rows.append(
                    {
                        "student_id": pupil.id,
                        "date": day,
                        "session": "PM",
                        "code": pm,
                        "minutes_late": None,
                        "comment": None,
                    }
                )
                if am == "M" or pm == "M":
                    rows[-1 if pm == "M" else -2]["comment"] = "Dentist appointment"
        self.insert(SessionMark, rows)
        self.marks = marks

        lesson_rows = []
        first_lesson_of = {}
        for lesson_id, plan, day, n in self.lessons:
            session = "AM" if n <= self.morning_periods else "PM"
            for pupil in plan["pupils"]:
                mark = marks.get((pupil.id, day, session))
                if mark is None:
                    continue
                minutes = None
                if mark in PRESENT_CODES or mark == "U":
                    key = (pupil.id, day)
                    first = first_lesson_of.setdefault(key, n) == n and session == "AM"
                    if mark in {"L", "U"} and first:
                        code, minutes = "L", self.rng.randint(3, 20)
                    else:
                        code = "/"
                else:
                    code = mark
                lesson_rows.append(
                    {
                        "student_id": pupil.id,
                        "lesson_id": lesson_id,
                        "code": code,
                        "minutes_late": minutes,
                        "comment": None,
                    }
                )
        self.insert(LessonMark, lesson_rows)

        summaries = []
        tally: dict[int, Counter[str]] = defaultdict(Counter)
        for (pupil_id, _day, _session), code in marks.items():
            tally[pupil_id][CODE_CATEGORY[code]] += 1
            if code in {"L", "U"}:
                tally[pupil_id]["late"] += 1
        for pupil in self.current:
            counts = tally.get(pupil.id)
            if not counts:
                continue
            possible = sum(v for k, v in counts.items() if k not in {"late", "Not counted"})
            summaries.append(
                {
                    "student_id": pupil.id,
                    "start_date": self.days[0],
                    "end_date": self.days[-1],
                    "possible_sessions": possible,
                    "attended_sessions": counts["Present"],
                    "approved_activity_sessions": counts["Approved educational activity"],
                    "authorised_absence_sessions": counts["Authorised absence"],
                    "unauthorised_absence_sessions": counts["Unauthorised absence"],
                    "late_sessions": counts["late"],
                }
            )
        self.insert(AttendanceSummary, summaries)

    def conduct(self) -> None:
        behaviours = []
        achievements = []
        kinds = BEHAVIOUR_TYPES[self.phase]
        actions = BEHAVIOUR_ACTIONS[self.phase]
        for pupil in self.current:
            tendency = max(0.0, 1 - pupil.ability * 0.3 + pupil.attendance * 5)
            for _ in range(self.rng.choices([0, 1, 2, 4], weights=[50, 25, 15, 10 * tendency])[0]):
                kind, points = self.rng.choice(kinds)
                action = self.rng.choice(actions)
                behaviours.append(
                    {
                        "student_id": pupil.id,
                        "occurred_on": self.recent_day(),
                        "behaviour_type": kind,
                        "points": points,
                        "location": self.rng.choice(LOCATIONS),
                        "action_taken": action,
                        "status": "Resolved" if self.chance(0.8) else "Open",
                        "staff_id": self.rng.choice(self.teacher_ids),
                        "comment": f"Spoke with {pupil.row['forename']} afterwards. "
                        f"Outcome: {action.lower()}.",
                    }
                )
            for _ in range(self.rng.choices([0, 1, 2, 3, 5], weights=[20, 30, 25, 15, 10])[0]):
                kind, points = self.rng.choice(ACHIEVEMENT_TYPES[self.phase])
                achievements.append(
                    {
                        "student_id": pupil.id,
                        "occurred_on": self.recent_day(),
                        "achievement_type": kind,
                        "points": points,
                        "award": "Headteacher's award"
                        if points >= 3 and self.chance(0.3)
                        else None,
                        "staff_id": self.rng.choice(self.teacher_ids),
                        "comment": f"Well done, {pupil.row['forename']}!",
                    }
                )
        if not behaviours:
            behaviours.append(
                {
                    "student_id": self.current[0].id,
                    "occurred_on": self.recent_day(),
                    "behaviour_type": kinds[0][0],
                    "points": kinds[0][1],
                    "location": "Classroom",
                    "action_taken": actions[1],
                    "status": "Resolved",
                    "staff_id": self.teacher_ids[0],
                    "comment": None,
                }
            )
        behaviour_ids = self.insert(Behaviour, behaviours, ids=True)
        self.insert(Achievement, achievements)

        detained = "Detention" if not self.primary else "Missed playtime"
        rows = []
        pairs = list(zip(behaviour_ids, behaviours, strict=True))
        chosen = [pair for pair in pairs if pair[1]["action_taken"] == detained]
        if not chosen and pairs:
            chosen = [pairs[0]]
        for behaviour_id, behaviour in chosen:
            day = self.next_school_day(behaviour["occurred_on"] + dt.timedelta(days=1))
            after_school = not self.primary
            rows.append(
                {
                    "student_id": behaviour["student_id"],
                    "behaviour_id": behaviour_id,
                    "detention_type": "After-school detention"
                    if after_school
                    else "Missed playtime",
                    "date": day,
                    "start_time": dt.time(15, 10) if after_school else dt.time(12, 15),
                    "end_time": dt.time(15, 40) if after_school else dt.time(12, 30),
                    "location": "G01" if after_school else "Hall",
                    "attended": None if day >= self.today else self.chance(0.9),
                    "staff_id": self.rng.choice(self.teacher_ids),
                }
            )
        self.insert(Detention, rows)

    def grade(self, pupil: _Pupil, sixth: bool, noise: float = 0.6) -> str:
        z = pupil.ability + self.rng.gauss(0, noise)
        if sixth:
            return ["E", "D", "C", "B", "A", "A*"][min(5, max(0, round(2.5 + 1.2 * z)))]
        return str(min(9, max(1, round(4.8 + 1.7 * z))))

    def assessment(self) -> None:
        term = next(n for n, a, b in ACADEMIC_TERMS if a <= self.today.month <= b)
        result_set = f"{term} {self.today.year}"
        recorded = self.day_before_today(self.rng.randint(3, 20))
        aspects: list[dict[str, Any]] = []
        if self.primary:
            for code, name in [("En", "Reading"), ("En", "Writing"), ("Ma", "Mathematics")]:
                aspects.append(
                    {
                        "name": name,
                        "subject_id": self.subject_ids[code],
                        "result_type": "Grade",
                        "grade_set": "WTS, EXS, GDS",
                        "description": f"Teacher assessment of {name.lower()}",
                    }
                )
        else:
            for code in sorted({plan["subject"] for plan in self.class_plans}):
                name = self.subject_names[code]
                aspects.append(
                    {
                        "name": f"{name}: working at",
                        "subject_id": self.subject_ids[code],
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
        ids = self.insert(AssessmentAspect, aspects, ids=True)
        aspect_ids = {
            (row["subject_id"], row["name"]): aid for row, aid in zip(aspects, ids, strict=True)
        }
        rows = []
        if self.primary:
            for pupil in self.current:
                if pupil.year == "R":
                    continue
                for code, name in [("En", "Reading"), ("En", "Writing"), ("Ma", "Mathematics")]:
                    z = pupil.ability + self.rng.gauss(0, 0.5)
                    value = "WTS" if z < -0.7 else ("GDS" if z > 1.0 else "EXS")
                    rows.append(
                        {
                            "student_id": pupil.id,
                            "aspect_id": aspect_ids[(self.subject_ids[code], name)],
                            "result_set": result_set,
                            "value": value,
                            "comment": None,
                            "recorded_on": recorded,
                            "staff_id": self.form_tutor[pupil.form],
                        }
                    )
        else:
            attitude = aspect_ids[(None, "Attitude to learning")]
            for plan in self.class_plans:
                subject_id = self.subject_ids[plan["subject"]]
                working_at = aspect_ids[
                    (subject_id, f"{self.subject_names[plan['subject']]}: working at")
                ]
                for pupil in plan["pupils"]:
                    sixth = plan["block"] is not None
                    for aspect, value in [
                        (working_at, self.grade(pupil, sixth)),
                        (
                            attitude,
                            str(
                                min(
                                    4,
                                    max(1, round(2 - pupil.ability * 0.8 + self.rng.gauss(0, 0.6))),
                                )
                            ),
                        ),
                    ]:
                        rows.append(
                            {
                                "student_id": pupil.id,
                                "aspect_id": aspect,
                                "result_set": result_set,
                                "value": value,
                                "comment": "Keep up the good work."
                                if value in {"1", "8", "9", "A*"}
                                else None,
                                "recorded_on": recorded,
                                "staff_id": plan["teacher"].id,
                            }
                        )
        self.insert(AssessmentResult, rows)
        self.exams()

    def exams(self) -> None:
        rows = []
        boards = ["AQA", "Pearson Edexcel", "OCR", "WJEC Eduqas"]

        def results_day(year: int, month: int, weekday_after: int) -> dt.date:
            day = dt.date(year, month, weekday_after)
            return day + dt.timedelta(days=(3 - day.weekday()) % 7)  # a Thursday

        if self.primary:
            for pupil in self.current:
                if pupil.year == "2":
                    mark = min(40, max(0, round(33 + 6 * pupil.ability + self.rng.gauss(0, 3))))
                    rows.append(
                        self.exam_row(
                            pupil,
                            "Phonics screening check",
                            "Phonics",
                            "STA",
                            f"June {self.year}",
                            "Met" if mark >= 32 else "Not met",
                            mark,
                            dt.date(self.year, 7, 1),
                        )
                    )
                if pupil.year == "5":
                    mark = min(25, max(0, round(19 + 4 * pupil.ability + self.rng.gauss(0, 2))))
                    rows.append(
                        self.exam_row(
                            pupil,
                            "Multiplication tables check",
                            "Mathematics",
                            "STA",
                            f"June {self.year}",
                            None,
                            mark,
                            dt.date(self.year, 7, 1),
                        )
                    )
        else:
            gcse_subjects = [
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
            for pupil in self.current:
                number = self.year_number(pupil.year)
                if number < 12:
                    continue
                sat = self.year - (number - 11)
                day = results_day(sat, 8, 20)
                for subject in self.rng.sample(gcse_subjects, 8):
                    grade = self.grade(pupil, False, 0.8)
                    rows.append(
                        self.exam_row(
                            pupil,
                            "GCSE",
                            subject,
                            self.rng.choice(boards),
                            f"June {sat}",
                            grade,
                            None,
                            day,
                        )
                    )
            # GCSE maths resits for the next results day (January for the November series,
            # August for June), held by the school ahead of release: a demo convenience that
            # gives embargoed results whatever the date.
            upcoming, series = min(
                (results_day(year, month, first), f"{name} {year - (month == 1)}")
                for year in (self.today.year, self.today.year + 1)
                for month, first, name in ((1, 8, "November"), (8, 20, "June"))
                if results_day(year, month, first) > self.today
            )
            until = dt.datetime.combine(upcoming, dt.time(8, 0), tzinfo=LONDON).astimezone(dt.UTC)
            resitters = [p for p in self.current if p.year == "12"]
            for pupil in self.sample(resitters, 0.25):
                row = self.exam_row(
                    pupil,
                    "GCSE",
                    "Mathematics",
                    "Pearson Edexcel",
                    series,
                    str(self.rng.choice([3, 4, 4, 5])),
                    None,
                    upcoming,
                )
                row["embargoed"] = True
                row["embargo_until"] = until
                rows.append(row)
        self.insert(ExamResult, rows)

    def exam_row(
        self,
        pupil: _Pupil,
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

    def pupil_records(self) -> None:
        """Health, needs, care, consents, history, funding and notes."""
        _, _, _, authority = self.place
        current = self.current

        rows = []
        self.with_care_plan: list[_Pupil] = []
        # Some conditions come with a diet the kitchen must know about.
        diets = {
            "Anaphylaxis": ("Allergy", "Peanuts and tree nuts", "Severe"),
            "Coeliac disease": ("Medical", "Gluten free (coeliac disease)", "Severe"),
        }
        diet_rows = []
        for pupil in self.sample(current, 0.08):
            condition, description, medication, plan, _ = self.weighted(MEDICAL_CONDITIONS)
            if plan:
                self.with_care_plan.append(pupil)
            if condition in diets:
                diet_rows.append((pupil, *diets[condition]))
            rows.append(
                {
                    "student_id": pupil.id,
                    "condition": condition,
                    "description": description,
                    "medication": medication,
                    "care_plan": plan,
                    "start_date": pupil.row["date_of_birth"]
                    + dt.timedelta(days=365 * self.rng.randint(1, 4)),
                }
            )
        self.insert(MedicalCondition, rows)

        has_diet = {pupil.id for pupil, *_ in diet_rows}
        others = [p for p in current if p.id not in has_diet]
        diet_rows += [(p, *self.weighted(DIETARY_NEEDS)[:3]) for p in self.sample(others, 0.1)]
        rows = []
        for pupil, need_type, description, severity in diet_rows:
            rows.append(
                {
                    "student_id": pupil.id,
                    "need_type": need_type,
                    "description": description,
                    "severity": severity,
                }
            )
        self.insert(DietaryNeed, rows)

        self.sen_pupils = [p for p in current if p.row["sen_status"]] or current[:1]
        needs, provisions, plans, statements, reviews, events = [], [], [], [], [], []
        for pupil in self.sen_pupils:
            ehcp = pupil.row["sen_status"] == "EHC plan"
            for rank in (1, 2) if self.chance(0.4) else (1,):
                code, description, _ = self.weighted(SEN_NEEDS)
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
            for provision, hours in self.rng.sample(SEN_PROVISIONS, self.rng.randint(1, 2)):
                provisions.append(
                    {
                        "student_id": pupil.id,
                        "provision_type": provision,
                        "description": f"{provision}, reviewed each term.",
                        "hours_per_week": hours,
                        "start_date": max(self.year_start, pupil.row["admission_date"]),
                        "end_date": None,
                    }
                )
            if ehcp:
                issued = self.year_start - dt.timedelta(days=self.rng.randint(60, 1500))
                last = self.day_before_today(self.rng.randint(20, 300))
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
                    {
                        "student_id": pupil.id,
                        "review_type": "EHC plan annual review",
                        "review_date": last,
                        "outcome": "Plan maintained; outcomes updated.",
                        "next_review_date": last + dt.timedelta(days=365),
                    }
                )
                events.append(
                    {
                        "student_id": pupil.id,
                        "event_type": "Multi-agency meeting",
                        "event_date": last - dt.timedelta(days=30),
                        "description": "Planning meeting before the annual review.",
                        "person_name": self.fake.name(),
                        "person_role": "Educational psychologist",
                    }
                )
                if pupil.row["date_of_birth"] < STATEMENTS_BORN_BEFORE:
                    statements.append(self.statement(pupil, "Transferred to an EHC plan"))
            elif self.chance(0.4):
                day = self.day_before_today(self.rng.randint(10, 90))
                reviews.append(
                    {
                        "student_id": pupil.id,
                        "review_type": "SEN support review",
                        "review_date": day,
                        "outcome": "Targets met in part; continue.",
                        "next_review_date": day + dt.timedelta(days=90),
                    }
                )
        if not plans and self.sen_pupils:
            pupil = self.sen_pupils[0]
            plans.append(
                {
                    "student_id": pupil.id,
                    "status": "Assessment requested",
                    "local_authority": authority,
                    "requested_on": self.day_before_today(40),
                    "issued_on": None,
                    "last_review_on": None,
                    "next_review_on": None,
                }
            )
        if not events and self.sen_pupils:
            pupil = self.sen_pupils[0]
            events.append(
                {
                    "student_id": pupil.id,
                    "event_type": "Speech and language assessment",
                    "event_date": self.day_before_today(25),
                    "description": "Assessment in school with the therapist.",
                    "person_name": self.fake.name(),
                    "person_role": "Speech and language therapist",
                }
            )
        if not statements:
            # Someone old enough to have had a statement, now on SEN support instead.
            old_enough = [
                p for p in self.sen_pupils if p.row["date_of_birth"] < STATEMENTS_BORN_BEFORE
            ]
            if old_enough:
                oldest = min(old_enough, key=lambda p: p.row["date_of_birth"])
                statements.append(self.statement(oldest, "Needs met without a plan"))
        self.insert(SenNeed, needs)
        self.insert(SenProvision, provisions)
        self.insert(EhcPlan, plans)
        self.insert(SenStatement, statements)
        self.insert(SenReview, reviews)
        self.insert(SenEvent, events)

        rows = []
        self.social_care: list[_Pupil] = []
        looked_after = [p for p in current if p.row["in_care"]]
        for pupil in looked_after + self.sample(current, 0.03):
            if any(p.id == pupil.id for p in self.social_care):
                continue
            self.social_care.append(pupil)
            kind, category = (
                ("Looked after child", "Voluntary agreement")
                if pupil.row["in_care"]
                else self.rng.choice(
                    [
                        ("Child in need", "Family stress"),
                        ("Child in need", "Disability or illness"),
                        ("Child protection plan", "Neglect"),
                        ("Child protection plan", "Emotional abuse"),
                        ("Early help", "Parenting support"),
                    ]
                )
            )
            rows.append(
                {
                    "student_id": pupil.id,
                    "involvement_type": kind,
                    "category": category,
                    "start_date": self.day_before_today(self.rng.randint(30, 700)),
                    "end_date": None,
                    "local_authority": authority,
                    "social_worker_name": self.fake.name(),
                    "social_worker_telephone": self.landline(),
                }
            )
        self.insert(SocialServicesInvolvement, rows)

        rows = []
        for pupil in current:
            family = self.families[pupil.family]
            contact = family["contacts"][0] if family["contacts"] else None
            for consent in CONSENTS[self.phase]:
                rows.append(
                    {
                        "student_id": pupil.id,
                        "contact_id": contact,
                        "consent_type": consent,
                        "granted": self.chance(0.9),
                        "recorded_on": max(pupil.row["admission_date"], self.year_start),
                        "expires_on": dt.date(self.year + 1, 8, 31),
                    }
                )
        self.insert(ParentalConsent, rows)

        rows = []
        helpers = self.support_ids + self.teacher_ids
        for pupil in self.sample(current, 0.1):
            kind, title, description = self.rng.choice(INTERVENTIONS)
            start = self.day_before_today(self.rng.randint(20, 120))
            rows.append(
                {
                    "student_id": pupil.id,
                    "intervention_type": kind,
                    "title": title,
                    "description": description,
                    "start_date": start,
                    "end_date": start + dt.timedelta(weeks=6),
                    "staff_id": self.rng.choice(helpers),
                    "outcome": "Good progress"
                    if start + dt.timedelta(weeks=6) < self.today
                    else None,
                }
            )
        self.insert(Intervention, rows)

        self.pupil_history()

        rows = []
        for pupil in self.pupils:
            row = pupil.row
            since = max(row["admission_date"], self.year_start - dt.timedelta(days=365 * 2))
            for flag, indicator in [
                ("fsm_eligible", "Free school meals eligibility"),
                ("pupil_premium", "Pupil premium"),
                ("service_child", "Service premium"),
                ("in_care", "Looked after by the local authority"),
            ]:
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
                    "student_id": current[0].id,
                    "indicator": "Pupil premium",
                    "start_date": self.year_start,
                    "end_date": None,
                    "notes": "Added for the demo.",
                }
            )
        self.insert(FundingMonitoring, rows)

        rows = []
        for pupil in self.sample(current, 0.05):
            category, title, body = self.rng.choice(STUDENT_NOTES)
            rows.append(
                {
                    "student_id": pupil.id,
                    "category": category,
                    "title": title,
                    "body": body,
                    "recorded_on": self.day_before_today(self.rng.randint(1, 200)),
                }
            )
        self.insert(StudentNote, rows)

    def statement(self, pupil: _Pupil, reason: str) -> dict[str, Any]:
        """A statement of SEN issued before September 2014 and ended by the 2018 deadline."""
        earliest = max(pupil.row["date_of_birth"] + dt.timedelta(days=4 * 365), dt.date(2012, 9, 1))
        span = (dt.date(2014, 8, 31) - earliest).days
        return {
            "student_id": pupil.id,
            "local_authority": self.place[3],
            "issued_on": earliest + dt.timedelta(days=self.rng.randint(0, max(0, span))),
            "ceased_on": dt.date(2016, 9, 1) + dt.timedelta(days=self.rng.randint(0, 500)),
            "ceased_reason": reason,
        }

    def pupil_history(self) -> None:
        """Year-by-year enrolment, previous schools, and sixth-form study programmes."""
        history, schools, studies = [], [], []
        for pupil in self.pupils:
            row = pupil.row
            number = self.year_number(pupil.year)
            # A leaver's last year at the school was the previous academic year.
            final_year = self.year - 1 if pupil.leaver else self.year
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
                        if not self.primary
                        else form,
                        "enrolment_status": row["enrolment_status"]
                        if past == number
                        else "current",
                        "start_date": max(dt.date(start_year, 9, 1), admitted),
                        "end_date": None
                        if past == number and not pupil.leaver
                        else dt.date(start_year + 1, 7, 21),
                    }
                )
            if not self.primary:
                primary_left = dt.date(final_year - (number - 6), 7, 20)
                schools.append(
                    {
                        "student_id": pupil.id,
                        "school_name": self.rng.choice(PRIMARY_SCHOOLS),
                        "school_urn": f"1{self.rng.randint(10000, 99999)}",
                        "la_estab": f"{self.place[2]}{self.rng.randint(2000, 3999)}",
                        "entry_date": dt.date(final_year - number, 9, 3),
                        "leaving_date": primary_left,
                        "leaving_reason": "End of primary phase",
                    }
                )
                if row["admission_date"].month != 9:
                    schools.append(
                        {
                            "student_id": pupil.id,
                            "school_name": self.rng.choice(SECONDARY_SCHOOLS),
                            "school_urn": f"1{self.rng.randint(10000, 99999)}",
                            "la_estab": f"{self.place[2]}{self.rng.randint(4000, 4999)}",
                            "entry_date": primary_left + dt.timedelta(days=45),
                            "leaving_date": row["admission_date"] - dt.timedelta(days=3),
                            "leaving_reason": "Family moved house",
                        }
                    )
            elif self.chance(0.3) or row["admission_date"].month != 9:
                schools.append(
                    {
                        "student_id": pupil.id,
                        "school_name": self.rng.choice(NURSERIES),
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
                        "learning_aim": f"601{self.subject_ids[code] % 10000:04d}X",
                        "qualification": "A level",
                        "subject_id": self.subject_ids[code],
                        "start_date": dt.date(self.year - (number - 12), 9, 4),
                        "planned_end_date": dt.date(self.year - (number - 12) + 2, 6, 20),
                        "planned_hours": 360,
                        "completion_status": "Continuing",
                    }
                )
        self.insert(EnrolmentHistory, history)
        self.insert(SchoolHistory, schools)
        self.insert(Post16Study, studies)

    def staff_records(self) -> None:
        contracts, roles, pay, qualifications = [], [], [], []
        absences, checks, disabilities, kin, notes = [], [], [], [], []
        plans: list[tuple[int, str, str | None, str]] = []
        for staff_id, row, (kind, subject, role) in zip(
            self.staff_ids, self.staff_rows, self.staff_kinds, strict=True
        ):
            teaching = kind in {"head", "teacher", "former"}
            subject_name = self.subject_names.get(subject or "", "")
            post = role if not subject_name else f"Teacher of {subject_name}"
            part_time = self.chance(0.15)
            contracts.append(
                {
                    "staff_id": staff_id,
                    "post": post,
                    "employment_type": "Permanent" if self.chance(0.9) else "Fixed term",
                    "start_date": row["employment_start_date"],
                    "end_date": row["employment_end_date"],
                    "hours_per_week": (32.5 if teaching else 37.0) * (0.6 if part_time else 1.0),
                    "fte": 0.6 if part_time else 1.0,
                }
            )
            plans.append((staff_id, kind, subject, role))
            if teaching and kind != "head":
                point, salary = self.rng.choice(TEACHER_PAY)
                scale = "Upper pay range" if point.startswith("U") else "Main pay range"
            elif kind == "head":
                point, salary, scale = "L18", 78_000 + self.rng.randint(0, 20) * 500, "Leadership"
            else:
                spine = self.rng.randint(3, 22)
                point, salary, scale = str(spine), 24_000 + spine * 520, "NJC pay spine"
            pay.append(
                {
                    "staff_id": staff_id,
                    "contract_id": None,
                    "pay_scale": scale,
                    "spine_point": point,
                    "annual_salary": round(salary * (0.6 if part_time else 1)),
                    "allowances": 3_300 if kind == "teacher" and self.chance(0.2) else 0,
                    "payroll_number": f"P{staff_id:06d}",
                    "effective_date": dt.date(self.year, 9, 1),
                }
            )
            if teaching:
                degree_subject = subject_name or "Education"
                graduated = row["date_of_birth"].year + 21
                qualifications += [
                    {
                        "staff_id": staff_id,
                        "qualification": self.rng.choice(["BA (Hons)", "BSc (Hons)"]),
                        "subject": degree_subject,
                        "institution": self.rng.choice(UNIVERSITIES),
                        "awarded_on": dt.date(graduated, 7, 1),
                        "verified": True,
                    },
                    {
                        "staff_id": staff_id,
                        "qualification": "PGCE",
                        "subject": degree_subject,
                        "institution": self.rng.choice(UNIVERSITIES),
                        "awarded_on": dt.date(graduated + 1, 7, 1),
                        "verified": True,
                    },
                    {
                        "staff_id": staff_id,
                        "qualification": "Qualified teacher status (QTS)",
                        "subject": None,
                        "institution": "Department for Education",
                        "awarded_on": dt.date(graduated + 1, 7, 15),
                        "verified": True,
                    },
                ]
            elif self.chance(0.6):
                qualifications.append(
                    {
                        "staff_id": staff_id,
                        "qualification": "Level 3 Diploma",
                        "subject": "Supporting teaching and learning",
                        "institution": "City College",
                        "awarded_on": dt.date(self.year - self.rng.randint(1, 10), 7, 1),
                        "verified": self.chance(0.8),
                    }
                )
            checked = row["employment_start_date"] - dt.timedelta(days=30)
            checks.append(
                {
                    "staff_id": staff_id,
                    "check_type": "Enhanced DBS with barred list",
                    "reference": f"00{self.rng.randint(10**9, 10**10 - 1)}",
                    "checked_on": checked,
                    "outcome": "Clear",
                    "checked_by": "Office manager",
                    "renewal_due_on": None,
                }
            )
            checks.append(
                {
                    "staff_id": staff_id,
                    "check_type": "Right to work in the UK",
                    "reference": None,
                    "checked_on": checked,
                    "outcome": "Verified",
                    "checked_by": "Office manager",
                    "renewal_due_on": None,
                }
            )
            if teaching:
                checks.append(
                    {
                        "staff_id": staff_id,
                        "check_type": "Prohibition from teaching",
                        "reference": row["teacher_number"],
                        "checked_on": checked,
                        "outcome": "No prohibition found",
                        "checked_by": "Business manager",
                        "renewal_due_on": None,
                    }
                )
            if row["is_current"] and self.chance(0.3):
                kind_of, reason = self.rng.choice(STAFF_ABSENCES)
                start = self.day_before_today(self.rng.randint(5, 150))
                length = self.rng.randint(1, 4)
                absences.append(
                    {
                        "staff_id": staff_id,
                        "absence_type": kind_of,
                        "reason": reason,
                        "start_date": start,
                        "end_date": start + dt.timedelta(days=length - 1),
                        "working_days_lost": float(length),
                        "document_name": "Fit note.pdf"
                        if kind_of == "Sickness" and length > 3
                        else None,
                    }
                )
            kin.append(
                {
                    "staff_id": staff_id,
                    "name": self.fake.name(),
                    "relationship": self.rng.choice(["Spouse", "Partner", "Parent", "Sibling"]),
                    "telephone": self.landline() if self.chance(0.3) else None,
                    "mobile": self.mobile(),
                    "email": None,
                    "priority": 1,
                }
            )
        for staff_id in self.sample(self.staff_ids, 0.03):
            category, description, adjustments = self.rng.choice(STAFF_DISABILITIES)
            disabilities.append(
                {
                    "staff_id": staff_id,
                    "category": category,
                    "description": description,
                    "reasonable_adjustments": adjustments,
                }
            )
        for staff_id in self.sample(self.staff_ids, 0.1):
            notes.append(
                {
                    "staff_id": staff_id,
                    "category": "HR",
                    "title": self.rng.choice(
                        ["Return to work meeting", "Probation review", "Appraisal objectives"]
                    ),
                    "body": "Meeting held and notes filed; no further action.",
                    "recorded_on": self.day_before_today(self.rng.randint(5, 300)),
                }
            )
        if not absences:
            absences.append(
                {
                    "staff_id": self.staff_ids[-2],
                    "absence_type": "Training",
                    "reason": "Safeguarding update",
                    "start_date": self.recent_day(),
                    "end_date": None,
                    "working_days_lost": 0.5,
                    "document_name": None,
                }
            )

        contract_ids = self.insert(StaffContract, contracts, ids=True)
        for row, contract_id in zip(pay, contract_ids, strict=True):
            row["contract_id"] = contract_id
        leaders: set[str] = set()
        tutors = set(self.form_tutor.values())
        senco = self.teacher_ids[0] if self.teacher_ids else self.head_id
        for (staff_id, kind, subject, role), contract_id, row in zip(
            plans, contract_ids, self.staff_rows, strict=True
        ):
            start = row["employment_start_date"]
            roles.append(
                {
                    "staff_id": staff_id,
                    "contract_id": contract_id,
                    "role": role,
                    "code": self.role_code(role),
                    "start_date": start,
                    "end_date": None if kind != "former" else dt.date(self.year, 7, 21),
                }
            )
            department = DEPARTMENTS.get(subject or "") if not self.primary else None
            if kind == "teacher" and department and department not in leaders:
                leaders.add(department)
                roles.append(
                    {
                        "staff_id": staff_id,
                        "contract_id": contract_id,
                        "role": f"Head of {department}",
                        "code": "HOD",
                        "start_date": dt.date(self.year - 2, 9, 1),
                        "end_date": None,
                    }
                )
            if staff_id in tutors and not self.primary:
                roles.append(
                    {
                        "staff_id": staff_id,
                        "contract_id": contract_id,
                        "role": "Form tutor",
                        "code": "TUT",
                        "start_date": self.year_start,
                        "end_date": None,
                    }
                )
            extra = {
                self.head_id: ("Designated safeguarding lead", "DSL"),
                senco: ("SENCo", "SENCO"),
            }.get(staff_id)
            if extra:
                roles.append(
                    {
                        "staff_id": staff_id,
                        "contract_id": contract_id,
                        "role": extra[0],
                        "code": extra[1],
                        "start_date": dt.date(self.year - 1, 9, 1),
                        "end_date": None,
                    }
                )
        self.insert(StaffRole, roles)
        self.insert(StaffPay, pay)
        self.insert(StaffQualification, qualifications)
        self.insert(StaffAbsence, absences)
        self.insert(StaffCheck, checks)
        self.insert(StaffDisability, disabilities)
        self.insert(StaffNextOfKin, kin)
        self.insert(StaffNote, notes)

    def role_code(self, role: str) -> str:
        codes = {
            "Headteacher": "HT",
            "Teacher": "TCH",
            "Class teacher": "TCH",
            "Teaching assistant": "TA",
            **dict(SUPPORT_ROLES),
        }
        return codes.get(role, "OTH")

    def agencies(self) -> None:
        town, _, _, _ = self.place
        wanted = [a for a in AGENCIES if not (self.primary and a[0].startswith("Careers"))]
        rows = [
            {
                "name": name,
                "agency_type": kind,
                "telephone": self.landline(),
                "email": f"referrals@{self.slug(name)}.example.org",
                "address_line1": self.fake.street_address().replace("\n", ", "),
                "town": town,
                "postcode": self.fake.postcode(),
            }
            for name, kind, _ in wanted
        ]
        agency_ids = self.insert(Agency, rows, ids=True)
        agents, owners = [], []
        for agency_id, (_, kind, role) in zip(agency_ids, wanted, strict=True):
            for _ in range(2):
                female = self.chance(0.7)
                forename = self.fake.first_name_female() if female else self.fake.first_name_male()
                surname = self.fake.last_name()
                agents.append(
                    {
                        "agency_id": agency_id,
                        "title": self.rng.choice(["Mrs", "Ms"]) if female else "Mr",
                        "forename": forename,
                        "surname": surname,
                        "role": role,
                        "telephone": self.landline(),
                        "email": self.email(forename, surname, "agency.example.org"),
                    }
                )
                owners.append(kind)
        agent_ids = self.insert(Agent, agents, ids=True)
        by_kind: dict[str, list[int]] = defaultdict(list)
        for agent_id, kind in zip(agent_ids, owners, strict=True):
            by_kind[kind].append(agent_id)
        links = []
        for kind, pupils, involvement in [
            ("medical", self.with_care_plan, "Reviews the health care plan"),
            ("social_services", self.social_care, "Allocated worker"),
            ("other", self.sample(self.sen_pupils, 0.3), "Assessment and advice"),
        ]:
            for pupil in pupils:
                links.append(
                    {
                        "student_id": pupil.id,
                        "agent_id": self.rng.choice(by_kind[kind]),
                        "involvement": involvement,
                        "start_date": self.day_before_today(self.rng.randint(20, 400)),
                        "end_date": None,
                    }
                )
        self.insert(StudentAgent, links)

    def catering(self) -> None:
        """A week of lunch choices, and cashless accounts paying for them."""
        days = self.days[-5:] or [self.recent_day()]
        options = (
            [("Hot meal", 60), ("Packed lunch", 40)]
            if self.primary
            else [("Hot meal", 45), ("Grab and go", 20), ("Packed lunch", 25), ("Off site", 10)]
        )
        menu = [
            "Roast chicken",
            "Vegetable lasagne",
            "Fish and chips",
            "Jacket potato",
            "Chickpea curry",
            "Pasta bake",
        ]
        choices = []
        spend: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
        for pupil in self.current:
            free = pupil.row["fsm_eligible"] or (self.primary and pupil.year in {"R", "1", "2"})
            for day in days:
                if self.marks_absent(pupil.id, day):
                    continue
                meal = self.weighted(options)[0]
                if meal == "Off site" and self.year_number(pupil.year) < 12:
                    meal = "Packed lunch"
                choice = self.rng.choice(menu) if meal in {"Hot meal", "Grab and go"} else None
                choices.append(
                    {"student_id": pupil.id, "date": day, "meal": meal, "menu_option": choice}
                )
                if choice and not free:
                    spend[pupil.id].append((day, 260 if meal == "Hot meal" else 220))
        self.insert(MealChoice, choices)

        accounts, balances = [], []
        for n, pupil in enumerate(self.current, start=1):
            spent = sum(amount for _, amount in spend[pupil.id])
            # Parents top up in round sums, enough to cover the week.
            top_up = (
                0 if not spent else max(self.rng.choice([1000, 1500, 2000]), -(-spent // 500) * 500)
            )
            balance = top_up - spent
            accounts.append(
                {
                    "student_id": pupil.id,
                    "account_reference": f"CL{self.school.id:03d}{n:05d}",
                    "balance_pence": balance,
                    "daily_limit_pence": 500 if not self.primary else None,
                    "is_active": True,
                }
            )
            balances.append(top_up)
        account_ids = self.insert(CashlessAccount, accounts, ids=True)
        transactions = []
        for account_id, pupil, top_up in zip(account_ids, self.current, balances, strict=True):
            if top_up:
                first = spend[pupil.id][0][0] - dt.timedelta(days=1)
                transactions.append(
                    {
                        "account_id": account_id,
                        "occurred_at": self.local_time(first, dt.time(19, self.rng.randint(0, 59))),
                        "transaction_type": "Top-up",
                        "amount_pence": top_up,
                        "description": "Online payment by parent",
                    }
                )
            for day, amount in spend[pupil.id]:
                transactions.append(
                    {
                        "account_id": account_id,
                        "occurred_at": self.local_time(day, dt.time(12, self.rng.randint(10, 50))),
                        "transaction_type": "Purchase",
                        "amount_pence": -amount,
                        "description": "Lunch",
                    }
                )
        self.insert(CashlessTransaction, transactions)

    def marks_absent(self, pupil_id: int, day: dt.date) -> bool:
        am = self.marks.get((pupil_id, day, "AM"))
        pm = self.marks.get((pupil_id, day, "PM"))
        return am is not None and am not in PRESENT_CODES and pm not in PRESENT_CODES

    def admissions(self) -> None:
        """Applications for next September's intake, plus a few in-year admissions."""
        intake = "R" if self.primary else "7"
        number = self.year_number(intake)
        born_from = dt.date(self.year + 1 - 5 - number, 9, 1)
        applicants = max(1, round(self.year_sizes[self.year_names[0]] * 1.2))
        statuses = [("Applied", 30), ("Offered", 40), ("Accepted", 20), ("Declined", 10)]
        rows = []
        for _ in range(applicants):
            female = self.chance(0.5)
            forename = self.fake.first_name_female() if female else self.fake.first_name_male()
            surname = self.fake.last_name()
            rows.append(
                {
                    "student_id": None,
                    "application_status": self.weighted(statuses)[0],
                    "application_date": min(
                        self.year_start + dt.timedelta(days=self.rng.randint(7, 120)),
                        self.today - dt.timedelta(days=1),
                    ),
                    "intended_nc_year": intake,
                    "intended_admission_date": dt.date(self.year + 1, 9, 3),
                    "part_time": False,
                    "forename": forename,
                    "middle_names": None,
                    "surname": surname,
                    "legal_forename": forename,
                    "legal_surname": surname,
                    "gender": "Female" if female else "Male",
                    "date_of_birth": born_from + dt.timedelta(days=self.rng.randint(0, 364)),
                    "upn": None if self.primary else self.upn(self.year - 6),
                    "previous_school": self.rng.choice(
                        NURSERIES if self.primary else PRIMARY_SCHOOLS
                    ),
                    **self.address(),
                    "email": self.email(forename, surname),
                    "telephone": self.mobile(),
                }
            )
        in_year = self.year_start + dt.timedelta(days=7)
        for pupil in [p for p in self.current if p.row["admission_date"] > in_year][:5]:
            row = pupil.row
            rows.append(
                {
                    "student_id": pupil.id,
                    "application_status": "Admitted",
                    "application_date": row["admission_date"] - dt.timedelta(days=21),
                    "intended_nc_year": pupil.year,
                    "intended_admission_date": row["admission_date"],
                    "part_time": row["part_time"],
                    "forename": row["forename"],
                    "middle_names": row["middle_names"],
                    "surname": row["surname"],
                    "legal_forename": row["legal_forename"],
                    "legal_surname": row["legal_surname"],
                    "gender": row["gender"],
                    "date_of_birth": row["date_of_birth"],
                    "upn": row["upn"],
                    "previous_school": self.rng.choice(
                        PRIMARY_SCHOOLS if self.primary else SECONDARY_SCHOOLS
                    ),
                    "address_line1": row["address_line1"],
                    "address_line2": row["address_line2"],
                    "town": row["town"],
                    "county": row["county"],
                    "postcode": row["postcode"],
                    "email": None,
                    "telephone": None,
                }
            )
        self.insert(AdmissionApplication, rows)

    def photos(self) -> None:
        taken = self.year_start + dt.timedelta(days=10)
        people: Iterable[tuple[str, int]] = [
            *(("student", p.id) for p in self.current),
            *(("staff", sid) for sid in self.staff_ids),
            *(("contact", cid) for cid in self.contact_ids[:10]),
        ]
        self.insert(
            Photo,
            [
                {
                    "person_type": kind,
                    "person_id": person_id,
                    "content_type": "image/png",
                    "content": PLACEHOLDER_PNG,
                    "taken_on": taken,
                }
                for kind, person_id in people
            ],
        )
