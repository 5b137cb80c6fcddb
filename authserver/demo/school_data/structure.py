"""The school's shape: year groups and forms, subjects, periods, rooms, and groups."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass
from typing import Any

from authserver.demo.school_data.curriculum import (
    HOUSES,
    PRIMARY_FORM_NAMES,
    PRIMARY_SUBJECTS,
    SECONDARY_SUBJECTS,
    SIXTH_FORM_ONLY_SUBJECTS,
)
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import Group, Period, Room, Subject


def year_number(year: str) -> int:
    """A national curriculum year as a number, Reception being 0."""
    return 0 if year == "R" else int(year)


def year_label(year: str) -> str:
    """How a year group is named: "Reception" or "Year 7"."""
    return "Reception" if year == "R" else f"Year {year}"


@dataclass(frozen=True)
class Years:
    """Year groups in order, their sizes, their registration forms and the forms' codes."""

    names: list[str]
    sizes: dict[str, int]
    forms: dict[str, list[str]]
    form_codes: dict[str, str]

    @property
    def pupils(self) -> int:
        """How many pupils are on roll, across the years."""
        return sum(self.sizes.values())

    def all_forms(self) -> list[str]:
        """Every registration form, youngest year first."""
        return [form for forms in self.forms.values() for form in forms]


def plan_years(*, primary: bool, students: int) -> Years:
    """Year groups, their sizes (largest remainder) and registration forms."""
    if primary:
        year_names = ["R", "1", "2", "3", "4", "5", "6"]
        weights = [1.0] * 7
    else:
        year_names = ["7", "8", "9", "10", "11", "12", "13"]
        weights = [1.0, 1.0, 1.0, 1.0, 1.0, 0.55, 0.45]
    shares = [students * w / sum(weights) for w in weights]
    sizes = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: sizes[i] - shares[i])
    for i in by_remainder[: students - sum(sizes)]:
        sizes[i] += 1
    year_sizes = dict(zip(year_names, sizes, strict=True))
    forms: dict[str, list[str]] = {}
    form_codes: dict[str, str] = {}
    # Primary classes are named after trees; a very large school goes round again.
    names = (
        (name if lap == 0 else f"{name} {lap + 1}", f"{name[:3].upper()}{lap or ''}")
        for lap in itertools.count()
        for name in PRIMARY_FORM_NAMES
    )
    for year, size in year_sizes.items():
        forms[year] = []
        if size == 0:
            continue
        if primary:
            for _ in range(math.ceil(size / 30)):
                name, code = next(names)
                forms[year].append(name)
                form_codes[name] = code
        else:
            count = math.ceil(size / (20 if year in {"12", "13"} else 30))
            for i in range(count):
                form = f"{year}{chr(ord('A') + i)}"
                forms[year].append(form)
                form_codes[form] = form
    return Years(names=year_names, sizes=year_sizes, forms=forms, form_codes=form_codes)


@dataclass(frozen=True)
class Subjects:
    """The subjects taught: ids and names by code."""

    ids: dict[str, int]
    names: dict[str, str]


def insert_subjects(writer: Writer, *, primary: bool) -> Subjects:
    """The phase's subjects (a secondary's sixth-form-only ones too)."""
    if primary:
        subjects = [(c, n, nc) for c, n, nc, _ in PRIMARY_SUBJECTS]
    else:
        subjects = [(c, n, nc) for c, n, nc, _, _ in SECONDARY_SUBJECTS]
        subjects += SIXTH_FORM_ONLY_SUBJECTS
    ids = writer.insert(
        Subject,
        [{"code": c, "name": n, "national_code": nc} for c, n, nc in subjects],
        ids=True,
    )
    return Subjects(
        ids=dict(zip((s[0] for s in subjects), ids, strict=True)),
        names={c: n for c, n, _ in subjects},
    )


@dataclass(frozen=True)
class Periods:
    """The week's periods by (weekday, period number), and how many fall before lunch."""

    slots: dict[tuple[int, int], tuple[int, dict[str, Any]]]
    per_day: int
    before_lunch: int


def insert_periods(writer: Writer, *, primary: bool) -> Periods:
    """The periods of a school week, Monday to Friday."""
    if primary:
        times = [("09:00", "10:15"), ("10:35", "12:00"), ("13:00", "14:00"), ("14:00", "15:15")]
        before_lunch = 2
    else:
        times = [
            ("08:50", "09:50"),
            ("09:50", "10:50"),
            ("11:10", "12:10"),
            ("12:10", "13:10"),
            ("14:00", "15:00"),
        ]
        before_lunch = 4
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
    period_ids = writer.insert(Period, period_rows, ids=True)
    return Periods(
        slots=dict(zip(slots, zip(period_ids, period_rows, strict=True), strict=True)),
        per_day=len(times),
        before_lunch=before_lunch,
    )


@dataclass(frozen=True)
class Rooms:
    """Rooms as (id, room type) in order, their codes, and the playground if there is one."""

    kinds: list[tuple[int, str]]
    codes: dict[int, str]
    playground: int | None


SECONDARY_SPECIALIST_ROOMS = [
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
]


def insert_rooms(writer: Writer, *, primary: bool, years: Years) -> Rooms:
    """A classroom per primary form, or enough classrooms and labs for a secondary."""
    rooms: list[tuple[str, str, str, int]] = []
    if primary:
        for form in years.all_forms():
            rooms.append((years.form_codes[form], f"{form} classroom", "Classroom", 30))
        rooms += [
            ("HALL", "Hall", "Sports", 120),
            ("PLAY", "Playground", "Sports", 120),
            ("FLD", "Playing field", "Sports", 120),
            ("LIB", "Library", "Library", 30),
            ("ICT", "ICT suite", "IT suite", 30),
        ]
    else:
        forms = sum(len(f) for y, f in years.forms.items() if y not in {"12", "13"})
        for n in range(forms + 6):
            rooms.append((f"G{n + 1:02d}", f"Classroom G{n + 1:02d}", "Classroom", 30))
        for n in range(max(2, math.ceil(forms * 4 / 25) + 2)):
            rooms.append((f"S{n + 1}", f"Science lab {n + 1}", "Laboratory", 30))
        for code, name, kind in SECONDARY_SPECIALIST_ROOMS:
            rooms.append((code, name, kind, 60 if kind == "Sports" else 30))
    room_ids = writer.insert(
        Room,
        [{"code": c, "name": n, "room_type": t, "capacity": cap} for c, n, t, cap in rooms],
        ids=True,
    )
    return Rooms(
        kinds=[(rid, room[2]) for rid, room in zip(room_ids, rooms, strict=True)],
        codes={rid: room[0] for rid, room in zip(room_ids, rooms, strict=True)},
        playground=next(
            (rid for rid, r in zip(room_ids, rooms, strict=True) if r[0] == "PLAY"), None
        ),
    )


@dataclass(frozen=True)
class Groups:
    """Group ids by (type, key) and each registration form's tutor."""

    ids: dict[tuple[str, str], int]
    form_tutor: dict[str, int]


def insert_groups(
    writer: Writer,
    source: Source,
    *,
    primary: bool,
    years: Years,
    head_id: int,
    teacher_ids: list[int],
    class_teacher: dict[str, int],
) -> Groups:
    """Year groups, registration groups and houses, each with a member of staff leading.

    A primary form's class teacher is its tutor; a secondary's tutors are drawn in turn.
    """
    rng = source.rng
    rows: list[dict[str, Any]] = []
    keys: list[tuple[str, str]] = []
    leads = itertools.cycle(rng.sample(teacher_ids, len(teacher_ids)))
    tutors = itertools.cycle(rng.sample(teacher_ids, len(teacher_ids)))
    for year in years.names:
        label = year_label(year)
        rows.append(
            {
                "type": "year",
                "code": f"Y{year}",
                "name": label,
                "description": f"All pupils in {label}",
                "notes": None,
                "nc_year": year,
                # A primary head leads the year groups; a secondary has heads of year.
                "lead_staff_id": head_id if primary else next(leads),
            }
        )
        keys.append(("year", year))
    form_tutor: dict[str, int] = {}
    for year in years.names:
        for form in years.forms[year]:
            if primary:
                tutor, name = class_teacher[form], f"{form} Class"
            else:
                tutor, name = next(tutors), f"Form {form}"
            form_tutor[form] = tutor
            rows.append(
                {
                    "type": "registration",
                    "code": years.form_codes[form],
                    "name": name,
                    "description": f"{year_label(year)} registration group",
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
    ids = writer.insert(Group, rows, ids=True)
    return Groups(ids=dict(zip(keys, ids, strict=True)), form_tutor=form_tutor)
