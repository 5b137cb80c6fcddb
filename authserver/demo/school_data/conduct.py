"""Conduct: behaviour incidents, achievements, and the detentions that follow."""

from __future__ import annotations

import datetime as dt

from authserver.demo.school_data.academic_year import AcademicYear, next_school_day
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.students import Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import Achievement, Behaviour, Detention

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


def insert_conduct(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    roll: Roll,
    teacher_ids: list[int],
) -> None:
    """Behaviour and achievements for each pupil (at least one incident), then detentions."""
    rng = source.rng
    behaviours = []
    achievements = []
    kinds = BEHAVIOUR_TYPES[profile.phase]
    actions = BEHAVIOUR_ACTIONS[profile.phase]
    for pupil in roll.current:
        tendency = max(0.0, 1 - pupil.ability * 0.3 + pupil.attendance * 5)
        for _ in range(rng.choices([0, 1, 2, 4], weights=[50, 25, 15, 10 * tendency])[0]):
            kind, points = rng.choice(kinds)
            action = rng.choice(actions)
            behaviours.append(
                {
                    "student_id": pupil.id,
                    "occurred_on": year.recent_day(rng),
                    "behaviour_type": kind,
                    "points": points,
                    "location": rng.choice(LOCATIONS),
                    "action_taken": action,
                    "status": "Resolved" if source.chance(0.8) else "Open",
                    "staff_id": rng.choice(teacher_ids),
                    "comment": f"Spoke with {pupil.row['forename']} afterwards. "
                    f"Outcome: {action.lower()}.",
                }
            )
        for _ in range(rng.choices([0, 1, 2, 3, 5], weights=[20, 30, 25, 15, 10])[0]):
            kind, points = rng.choice(ACHIEVEMENT_TYPES[profile.phase])
            achievements.append(
                {
                    "student_id": pupil.id,
                    "occurred_on": year.recent_day(rng),
                    "achievement_type": kind,
                    "points": points,
                    "award": "Headteacher's award" if points >= 3 and source.chance(0.3) else None,
                    "staff_id": rng.choice(teacher_ids),
                    "comment": f"Well done, {pupil.row['forename']}!",
                }
            )
    if not behaviours:
        behaviours.append(
            {
                "student_id": roll.current[0].id,
                "occurred_on": year.recent_day(rng),
                "behaviour_type": kinds[0][0],
                "points": kinds[0][1],
                "location": "Classroom",
                "action_taken": actions[1],
                "status": "Resolved",
                "staff_id": teacher_ids[0],
                "comment": None,
            }
        )
    behaviour_ids = writer.insert(Behaviour, behaviours, ids=True)
    writer.insert(Achievement, achievements)

    detained = "Detention" if not profile.primary else "Missed playtime"
    rows = []
    pairs = list(zip(behaviour_ids, behaviours, strict=True))
    chosen = [pair for pair in pairs if pair[1]["action_taken"] == detained]
    if not chosen and pairs:
        chosen = [pairs[0]]
    after_school = not profile.primary
    for behaviour_id, behaviour in chosen:
        day = next_school_day(behaviour["occurred_on"] + dt.timedelta(days=1))
        rows.append(
            {
                "student_id": behaviour["student_id"],
                "behaviour_id": behaviour_id,
                "detention_type": "After-school detention" if after_school else "Missed playtime",
                "date": day,
                "start_time": dt.time(15, 10) if after_school else dt.time(12, 15),
                "end_time": dt.time(15, 40) if after_school else dt.time(12, 30),
                "location": "G01" if after_school else "Hall",
                "attended": None if day >= year.today else source.chance(0.9),
                "staff_id": rng.choice(teacher_ids),
            }
        )
    writer.insert(Detention, rows)
