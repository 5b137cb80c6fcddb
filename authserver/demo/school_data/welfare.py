"""Welfare: exclusions, alternative provision, health, diets, social care, consents, support."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.people import landline
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.staff import StaffList
from authserver.demo.school_data.structure import year_number
from authserver.demo.school_data.students import Pupil, Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import (
    AlternativeProvision,
    DietaryNeed,
    Exclusion,
    Intervention,
    MedicalCondition,
    ParentalConsent,
    SocialServicesInvolvement,
)

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
ALTERNATIVE_PROVIDERS = [
    ("Riverside Pupil Referral Unit", "900101", "Pupil referral unit"),
    ("Oakfield Farm School", "900102", "Vocational programme"),
]
EXCLUSION_REASONS = [
    "Persistent disruptive behaviour",
    "Physical assault against a pupil",
    "Verbal abuse or threatening behaviour against an adult",
    "Damage to property",
    "Drug and alcohol related",
]
# Some conditions come with a diet the kitchen must know about.
CONDITION_DIETS = {
    "Anaphylaxis": ("Allergy", "Peanuts and tree nuts", "Severe"),
    "Coeliac disease": ("Medical", "Gluten free (coeliac disease)", "Severe"),
}
SOCIAL_CARE = [
    ("Child in need", "Family stress"),
    ("Child in need", "Disability or illness"),
    ("Child protection plan", "Neglect"),
    ("Child protection plan", "Emotional abuse"),
    ("Early help", "Parenting support"),
]


@dataclass(frozen=True)
class OffRegisters:
    """Who is away from lessons with a reason of record: suspended days, off-site pupils."""

    excluded: dict[int, set[dt.date]]
    off_site: set[int]


def insert_exclusions_and_provision(
    writer: Writer, source: Source, profile: SchoolProfile, year: AcademicYear, roll: Roll
) -> OffRegisters:
    """Records that shape the registers too: exclusions and alternative provision."""
    rng = source.rng
    share = 0.015 if not profile.primary else 0.004
    excluded: dict[int, set[dt.date]] = {}
    rows = []
    for pupil in source.sample(roll.current, share):
        start = year.recent_day(rng)
        length = rng.randint(1, 3)
        days = [d for d in year.days if d >= start][:length] or [start]
        excluded[pupil.id] = set(days)
        rows.append(
            {
                "student_id": pupil.id,
                "exclusion_type": "Suspension",
                "reason": rng.choice(EXCLUSION_REASONS),
                "start_date": days[0],
                "end_date": days[-1],
                "sessions": 2 * len(days),
                "appeal_status": None,
            }
        )
    writer.insert(Exclusion, rows)

    off_site: set[int] = set()
    rows = []
    oldest = 3 if profile.primary else 9
    candidates = [p for p in roll.current if year_number(p.year) >= oldest]
    for pupil in source.sample(candidates or roll.current, 0.01):
        name, urn, kind = rng.choice(ALTERNATIVE_PROVIDERS)
        off_site.add(pupil.id)
        rows.append(
            {
                "student_id": pupil.id,
                "provider_name": name,
                "provider_urn": urn,
                "provision_type": kind,
                "reason": "Reintegration after repeated suspensions"
                if kind == "Pupil referral unit"
                else "Engagement through practical learning",
                "start_date": year.start + dt.timedelta(days=14),
                "end_date": None,
                "sessions_per_week": 2,
                "notes": "Attends the provider all day on Wednesdays; transport arranged.",
            }
        )
    writer.insert(AlternativeProvision, rows)
    return OffRegisters(excluded=excluded, off_site=off_site)


def insert_health(writer: Writer, source: Source, roll: Roll) -> list[Pupil]:
    """Medical conditions and dietary needs; returns the pupils with a health care plan."""
    rng = source.rng
    current = roll.current
    rows = []
    with_care_plan: list[Pupil] = []
    diet_rows = []
    for pupil in source.sample(current, 0.08):
        condition, description, medication, plan, _ = source.weighted(MEDICAL_CONDITIONS)
        if plan:
            with_care_plan.append(pupil)
        if condition in CONDITION_DIETS:
            diet_rows.append((pupil, *CONDITION_DIETS[condition]))
        rows.append(
            {
                "student_id": pupil.id,
                "condition": condition,
                "description": description,
                "medication": medication,
                "care_plan": plan,
                "start_date": pupil.row["date_of_birth"]
                + dt.timedelta(days=365 * rng.randint(1, 4)),
            }
        )
    writer.insert(MedicalCondition, rows)

    has_diet = {pupil.id for pupil, *_ in diet_rows}
    others = [p for p in current if p.id not in has_diet]
    diet_rows += [(p, *source.weighted(DIETARY_NEEDS)[:3]) for p in source.sample(others, 0.1)]
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
    writer.insert(DietaryNeed, rows)
    return with_care_plan


def insert_social_care(
    writer: Writer, source: Source, profile: SchoolProfile, year: AcademicYear, roll: Roll
) -> list[Pupil]:
    """Social services involvement for looked-after children and a few more; returns them."""
    rng = source.rng
    current = roll.current
    rows = []
    social_care: list[Pupil] = []
    looked_after = [p for p in current if p.row["in_care"]]
    for pupil in looked_after + source.sample(current, 0.03):
        if any(p.id == pupil.id for p in social_care):
            continue
        social_care.append(pupil)
        kind, category = (
            ("Looked after child", "Voluntary agreement")
            if pupil.row["in_care"]
            else rng.choice(SOCIAL_CARE)
        )
        rows.append(
            {
                "student_id": pupil.id,
                "involvement_type": kind,
                "category": category,
                "start_date": year.day_before_today(rng.randint(30, 700)),
                "end_date": None,
                "local_authority": profile.place.authority,
                "social_worker_name": source.fake.name(),
                "social_worker_telephone": landline(source),
            }
        )
    writer.insert(SocialServicesInvolvement, rows)
    return social_care


def insert_consents(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    roll: Roll,
    main_contact: dict[int, int],
) -> None:
    """The phase's consents for every pupil, given by the family's main contact."""
    rows = []
    for pupil in roll.current:
        for consent in CONSENTS[profile.phase]:
            rows.append(
                {
                    "student_id": pupil.id,
                    "contact_id": main_contact.get(pupil.family),
                    "consent_type": consent,
                    "granted": source.chance(0.9),
                    "recorded_on": max(pupil.row["admission_date"], year.start),
                    "expires_on": dt.date(year.year + 1, 8, 31),
                }
            )
    writer.insert(ParentalConsent, rows)


def insert_interventions(
    writer: Writer, source: Source, year: AcademicYear, roll: Roll, staff: StaffList
) -> None:
    """Six-week interventions for about one pupil in ten, each led by a member of staff."""
    rng = source.rng
    rows = []
    helpers = staff.support_ids + staff.teacher_ids
    for pupil in source.sample(roll.current, 0.1):
        kind, title, description = rng.choice(INTERVENTIONS)
        start = year.day_before_today(rng.randint(20, 120))
        rows.append(
            {
                "student_id": pupil.id,
                "intervention_type": kind,
                "title": title,
                "description": description,
                "start_date": start,
                "end_date": start + dt.timedelta(weeks=6),
                "staff_id": rng.choice(helpers),
                "outcome": "Good progress" if start + dt.timedelta(weeks=6) < year.today else None,
            }
        )
    writer.insert(Intervention, rows)
