"""Teaching classes: which pupils each has, how many lessons a week, and who teaches it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.curriculum import (
    DEPARTMENTS,
    OPTION_BLOCKS,
    PRIMARY_SUBJECTS,
    SECONDARY_SUBJECTS,
)
from authserver.demo.school_data.structure import Subjects, Years, year_label
from authserver.demo.school_data.students import Pupil, Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import ClassMembership, TeachingClass


@dataclass(eq=False)
class Teacher:
    """A teacher being planned: department, weekly lessons per subject, option blocks."""

    department: str | None
    lessons: Counter[str] = field(default_factory=Counter)
    blocks: set[int] = field(default_factory=set)
    id: int = 0

    @property
    def load(self) -> int:
        """Lessons a week so far."""
        return self.lessons.total()

    @property
    def subject(self) -> str | None:
        """The subject this teacher teaches most."""
        return self.lessons.most_common(1)[0][0] if self.lessons else None


@dataclass(eq=False)
class ClassPlan:
    """A teaching class being planned; its teacher, then its id, are set by later steps."""

    code: str
    name: str
    description: str
    subject: str
    year: str
    form: str | None
    lessons: int
    pupils: list[Pupil]
    block: int | None
    teacher: Teacher = field(init=False)
    id: int = 0


def plan_classes(*, primary: bool, years: Years, roll: Roll, subjects: Subjects) -> list[ClassPlan]:
    """Teaching classes with their pupils and weekly lessons (teachers come later)."""
    plans: list[ClassPlan] = []
    current = roll.current
    by_form: dict[str, list[Pupil]] = defaultdict(list)
    for pupil in current:
        by_form[pupil.form].append(pupil)
    for year in years.names:
        for form in years.forms[year]:
            if year in {"12", "13"}:
                continue
            if primary:
                weekly = [(c, lessons) for c, _, _, lessons in PRIMARY_SUBJECTS]
            else:
                ks4 = year in {"10", "11"}
                weekly = [(c, k4 if ks4 else k3) for c, _, _, k3, k4 in SECONDARY_SUBJECTS]
            for code, lessons in weekly:
                if lessons == 0:
                    continue
                name = subjects.names[code]
                plans.append(
                    ClassPlan(
                        code=f"{years.form_codes[form]}/{code}",
                        name=f"{form} {name}",
                        description=f"{name} for {year_label(year)} ({form})",
                        subject=code,
                        year=year,
                        form=form,
                        lessons=lessons,
                        pupils=by_form[form],
                        block=None,
                    )
                )
    for year in ("12", "13"):
        if primary:
            break
        for block, codes in enumerate(OPTION_BLOCKS):
            for code in codes:
                takers = [p for p in current if p.year == year and code in p.options]
                groups = math.ceil(len(takers) / 20)
                name = subjects.names[code]
                for n in range(groups):
                    plans.append(
                        ClassPlan(
                            code=f"{year}{code}{n + 1}",
                            name=f"Year {year} A level {name} {n + 1}",
                            description=f"A level {name}, option block {'ABCD'[block]}",
                            subject=code,
                            year=year,
                            form=None,
                            lessons=5,
                            pupils=takers[n::groups],
                            block=block,
                        )
                    )
    return plans


@dataclass(frozen=True)
class Teachers:
    """The teachers the timetable needs, each primary form's class teacher, departments."""

    all: list[Teacher]
    class_teacher: dict[str, Teacher]
    departments: dict[str, list[Teacher]]


def plan_teachers(*, primary: bool, years: Years, plans: list[ClassPlan]) -> Teachers:
    """Enough teachers for every class, and each class's teacher (set on the plan)."""
    teachers: list[Teacher] = []
    class_teacher: dict[str, Teacher] = {}
    if primary:
        for form in years.all_forms():
            class_teacher[form] = Teacher(None)
            teachers.append(class_teacher[form])
        for plan in plans:
            plan.teacher = class_teacher[plan.form]
        return Teachers(all=teachers, class_teacher=class_teacher, departments={})
    demand: Counter[str] = Counter()
    in_block: Counter[tuple[str, int]] = Counter()
    for plan in plans:
        department = DEPARTMENTS[plan.subject]
        demand[department] += plan.lessons
        if plan.block is not None:
            in_block[(department, plan.block)] += 1
    pools: dict[str, list[Teacher]] = {}
    for department in dict.fromkeys(DEPARTMENTS.values()):
        # About 20 lessons a week each leaves room to timetable without clashes, and
        # classes of one option block are taught at once, by different teachers.
        count = max(
            math.ceil(demand[department] / 20),
            *(n for (d, _), n in in_block.items() if d == department),
            0,
        )
        pools[department] = [Teacher(department) for _ in range(count)]
        teachers.extend(pools[department])
    # Sixth-form classes first: a teacher can take only one class per option block.
    for plan in sorted(plans, key=lambda p: (p.block is None, -p.lessons)):
        pool = pools[DEPARTMENTS[plan.subject]]
        block = plan.block
        free = [t for t in pool if block is None or block not in t.blocks]
        # The least loaded, preferring someone who already teaches the subject.
        teacher = min(free or pool, key=lambda t: t.load + (0 if t.lessons[plan.subject] else 3))
        teacher.lessons[plan.subject] += plan.lessons
        if block is not None:
            teacher.blocks.add(block)
        plan.teacher = teacher
    return Teachers(all=teachers, class_teacher=class_teacher, departments=pools)


def insert_classes(
    writer: Writer, plans: list[ClassPlan], subjects: Subjects, year: AcademicYear
) -> None:
    """The classes (which sets each plan's id) and their pupils, from the start of the year."""
    rows = [
        {
            "code": plan.code,
            "name": plan.name,
            "description": plan.description,
            "subject_id": subjects.ids[plan.subject],
            "nc_year": plan.year,
            "staff_id": plan.teacher.id,
        }
        for plan in plans
    ]
    ids = writer.insert(TeachingClass, rows, ids=True)
    members = []
    for plan, class_id in zip(plans, ids, strict=True):
        plan.id = class_id
        for pupil in plan.pupils:
            start = max(pupil.row["admission_date"], year.start)
            members.append(
                {
                    "class_id": class_id,
                    "student_id": pupil.id,
                    "start_date": start,
                    "end_date": None,
                }
            )
    writer.insert(ClassMembership, members)
