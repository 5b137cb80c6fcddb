"""The timetable: a week without clashes where possible, rooms, and its lessons in the window."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

from authserver.demo.school_data.academic_year import AcademicYear, local_time
from authserver.demo.school_data.classes import ClassPlan, Teachers
from authserver.demo.school_data.curriculum import (
    DEPARTMENTS,
    PRIMARY_SUBJECTS,
    SUBJECT_ROOM_TYPES,
)
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.structure import Periods, Rooms, Years
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import Lesson

Slot = tuple[int, int]  # (ISO weekday, period number)
# A lesson on a day: (lesson id, class, date, period number).
DatedLesson = tuple[int, ClassPlan, dt.date, int]


def _primary_week(plans: list[ClassPlan]) -> list[tuple[ClassPlan, Slot]]:
    """English and maths each morning; the other subjects in turn in the afternoons."""
    weekly: list[tuple[ClassPlan, Slot]] = []
    others = [c for c, _, _, lessons in PRIMARY_SUBJECTS[2:] for _ in range(lessons)]
    by_form: dict[str | None, dict[str, ClassPlan]] = defaultdict(dict)
    for plan in plans:
        by_form[plan.form][plan.subject] = plan
    for index, subjects in enumerate(by_form.values()):
        rotation = others[index % len(others) :] + others[: index % len(others)]
        afternoon = iter(rotation)
        for day in range(1, 6):
            weekly.append((subjects["En"], (day, 1)))
            weekly.append((subjects["Ma"], (day, 2)))
            weekly.append((subjects[next(afternoon)], (day, 3)))
            weekly.append((subjects[next(afternoon)], (day, 4)))
    return weekly


def _secondary_week(
    source: Source, plans: list[ClassPlan], slots: list[Slot]
) -> list[tuple[ClassPlan, Slot]]:
    """Option blocks at fixed times, then each form's lessons, slot by slot."""
    weekly: list[tuple[ClassPlan, Slot]] = []
    busy: dict[Slot, set[int]] = defaultdict(set)
    for plan in plans:
        if plan.block is None:
            continue
        for slot in slots:
            day, n = slot
            if (n - 1 + day) % 5 == plan.block:
                weekly.append((plan, slot))
                busy[slot].add(plan.teacher.id)
    remaining: dict[str | None, list[ClassPlan]] = defaultdict(list)
    for plan in plans:
        if plan.block is None:
            remaining[plan.form].extend([plan] * plan.lessons)
    taught: Counter[tuple[str | None, int, str]] = Counter()  # (form, day, class) lessons
    owed: Counter[int] = Counter()  # lessons each teacher still has to place
    for todo in remaining.values():
        owed.update(p.teacher.id for p in todo)
    for slot in slots:
        waiting = [form for form in sorted(remaining) if remaining[form]]
        source.rng.shuffle(waiting)
        while waiting:
            # The form with the fewest classes whose teacher is free goes first.
            choices = {
                form: [p for p in remaining[form] if p.teacher.id not in busy[slot]]
                for form in waiting
            }
            form = min(waiting, key=lambda f: len({p.code for p in choices[f]}))
            waiting.remove(form)
            todo = remaining[form]
            # Spread each subject over the week, and serve the busiest teachers first
            # so that nobody is left with more lessons than periods.
            plan = min(
                choices[form] or todo,
                key=lambda p: (taught[(form, slot[0], p.code)], -owed[p.teacher.id]),
            )
            todo.remove(plan)
            taught[(form, slot[0], plan.code)] += 1
            owed[plan.teacher.id] -= 1
            busy[slot].add(plan.teacher.id)
            weekly.append((plan, slot))
    return weekly


def _resolve_clashes(
    weekly: list[tuple[ClassPlan, Slot]], teachers: Teachers
) -> list[tuple[ClassPlan, Slot, int]]:
    """Each weekly lesson with its teacher, double bookings resolved.

    A clash is resolved by swapping two of the form's periods or, failing that, by giving
    that one lesson a week to a free colleague (a shared class).
    """
    teaching: dict[Slot, Counter[int]] = defaultdict(Counter)
    for plan, slot in weekly:
        teaching[slot][plan.teacher.id] += 1
    lessons: list[list] = [[plan, slot, plan.teacher.id] for plan, slot in weekly]
    for lesson in lessons:
        plan, slot, teacher = lesson
        if plan.block is not None or plan.form is None or teaching[slot][teacher] < 2:
            continue
        for other in lessons:
            other_plan, other_slot, other_teacher = other
            if (
                other_plan.form == plan.form
                and other_plan.block is None
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
            departments = teachers.departments
            department = departments.get(DEPARTMENTS.get(plan.subject, ""), [])
            everyone = [t for pool in departments.values() for t in pool]
            free = [t.id for t in department + everyone if not teaching[slot][t.id]]
            if free:
                teaching[slot][teacher] -= 1
                lesson[2] = free[0]
                teaching[slot][free[0]] += 1
    return [(plan, slot, teacher) for plan, slot, teacher in lessons]


def _place_in_rooms(
    timetable: list[tuple[ClassPlan, Slot, int]], rooms: Rooms, years: Years, *, primary: bool
) -> list[tuple[ClassPlan, Slot, int, int | None]]:
    """Each weekly lesson with a room: the subject's own kind where one is free, else a
    free classroom. Primary classes stay in their own classroom except for PE."""
    rooms_at: dict[Slot, set[int]] = defaultdict(set)
    placed: list[tuple[ClassPlan, Slot, int, int | None]] = []
    for plan, slot, teacher in sorted(timetable, key=lambda item: (item[1], item[0].code)):
        taken = rooms_at[slot]
        kind = SUBJECT_ROOM_TYPES.get(plan.subject, "Classroom")
        if not any(t == kind for _, t in rooms.kinds):
            kind = "Classroom"
        if primary and kind == "Classroom":
            wanted = years.form_codes[plan.form]
            room = next((rid for rid, _ in rooms.kinds if rooms.codes[rid] == wanted), None)
        else:
            kinds = [kind] if primary else [kind, "Classroom"]
            free = (rid for k in kinds for rid, t in rooms.kinds if t == k and rid not in taken)
            # Outdoors there is room for more than one primary PE class at a time.
            room = next(free, rooms.playground if primary else None)
        if room is not None:
            taken.add(room)
        placed.append((plan, slot, teacher, room))
    return placed


def insert_lessons(
    writer: Writer,
    source: Source,
    year: AcademicYear,
    *,
    primary: bool,
    years: Years,
    plans: list[ClassPlan],
    teachers: Teachers,
    periods: Periods,
    rooms: Rooms,
) -> list[DatedLesson]:
    """A weekly timetable without clashes where possible, then its lessons in the window."""
    if primary:
        weekly = _primary_week(plans)
    else:
        slots = [(day, n) for day in range(1, 6) for n in range(1, periods.per_day + 1)]
        weekly = _secondary_week(source, plans, slots)
    timetable = _resolve_clashes(weekly, teachers)
    placed = _place_in_rooms(timetable, rooms, years, primary=primary)

    lessons = []
    keys = []
    for day in year.days:
        for plan, (weekday, n), teacher, room in placed:
            if weekday != day.isoweekday():
                continue
            period_id, period = periods.slots[(weekday, n)]
            lessons.append(
                {
                    "class_id": plan.id,
                    "period_id": period_id,
                    "room_id": room,
                    "staff_id": teacher,
                    "date": day,
                    "start_at": local_time(day, period["start_time"]),
                    "end_at": local_time(day, period["end_time"]),
                }
            )
            keys.append((plan, day, n))
    ids = writer.insert(Lesson, lessons, ids=True)
    return [(lid, *key) for lid, key in zip(ids, keys, strict=True)]
