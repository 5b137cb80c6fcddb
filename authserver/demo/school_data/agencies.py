"""Outside agencies, their workers, and which pupils each worker is involved with."""

from __future__ import annotations

from collections import defaultdict

from authserver.demo.school_data.academic_year import AcademicYear
from authserver.demo.school_data.people import email, landline, slug
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.students import Pupil
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import Agency, Agent, StudentAgent

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


def insert_agencies(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    *,
    with_care_plan: list[Pupil],
    social_care: list[Pupil],
    sen_pupils: list[Pupil],
) -> None:
    """Local agencies with two workers each, linked to pupils with plans, social care or SEN."""
    rng, fake = source.rng, source.fake
    wanted = [a for a in AGENCIES if not (profile.primary and a[0].startswith("Careers"))]
    rows = [
        {
            "name": name,
            "agency_type": kind,
            "telephone": landline(source),
            "email": f"referrals@{slug(name)}.example.org",
            "address_line1": fake.street_address().replace("\n", ", "),
            "town": profile.place.town,
            "postcode": fake.postcode(),
        }
        for name, kind, _ in wanted
    ]
    agency_ids = writer.insert(Agency, rows, ids=True)
    agents, owners = [], []
    for agency_id, (_, kind, role) in zip(agency_ids, wanted, strict=True):
        for _ in range(2):
            female = source.chance(0.7)
            forename = source.first_name(female)
            surname = fake.last_name()
            agents.append(
                {
                    "agency_id": agency_id,
                    "title": rng.choice(["Mrs", "Ms"]) if female else "Mr",
                    "forename": forename,
                    "surname": surname,
                    "role": role,
                    "telephone": landline(source),
                    "email": email(source, forename, surname, "agency.example.org"),
                }
            )
            owners.append(kind)
    agent_ids = writer.insert(Agent, agents, ids=True)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for agent_id, kind in zip(agent_ids, owners, strict=True):
        by_kind[kind].append(agent_id)
    links = []
    for kind, pupils, involvement in [
        ("medical", with_care_plan, "Reviews the health care plan"),
        ("social_services", social_care, "Allocated worker"),
        ("other", source.sample(sen_pupils, 0.3), "Assessment and advice"),
    ]:
        for pupil in pupils:
            links.append(
                {
                    "student_id": pupil.id,
                    "agent_id": rng.choice(by_kind[kind]),
                    "involvement": involvement,
                    "start_date": year.day_before_today(rng.randint(20, 400)),
                    "end_date": None,
                }
            )
    writer.insert(StudentAgent, links)
