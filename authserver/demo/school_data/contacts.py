"""Parents and carers: one or two contacts per family, linked to each of its pupils."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from authserver.demo.school_data.people import email, initials, landline, mobile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.students import Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import Contact, StudentContact


@dataclass(frozen=True)
class Contacts:
    """Every contact's id in order, and each family's first contact (by family index)."""

    ids: list[int]
    main_contact: dict[int, int]


def _people(source: Source, in_care: bool) -> list[tuple[str, bool]]:
    """Who a family's contacts are: (relationship, female) each."""
    if in_care:
        return [("Foster carer", True), ("Foster carer", False)]
    if source.chance(0.08):
        return [("Grandparent", True)]
    people = [("Mother", True), ("Father", False)]
    if source.chance(0.3):
        people = people[:1] if source.chance(0.7) else people[1:]
        if source.chance(0.3):
            people.append(("Step-parent", people[0][0] == "Father"))
    return people


def insert_contacts(writer: Writer, source: Source, roll: Roll) -> Contacts:
    """One or two contacts per family, linked to every pupil of the family."""
    rng, fake = source.rng, source.fake
    rows: list[dict[str, Any]] = []
    owners: list[tuple[int, str]] = []  # (family, relationship)
    for index, family in enumerate(roll.families):
        if not family.pupils:
            continue
        in_care = any(p.row["in_care"] for p in family.pupils)
        for relationship, female in _people(source, in_care):
            if relationship == "Grandparent":
                female = source.chance(0.7)
            forename = source.first_name(female)
            surname = family.surname if source.chance(0.85) else fake.last_name()
            title = rng.choice(["Mrs", "Ms", "Miss"]) if female else "Mr"
            rows.append(
                {
                    "upi": fake.uuid4(),
                    "title": title,
                    "forename": forename,
                    "middle_names": None,
                    "surname": surname,
                    "legal_forename": forename,
                    "legal_surname": surname,
                    "initials": initials(forename, surname),
                    "gender": "Female" if female else "Male",
                    "email": email(source, forename, surname),
                    "home_telephone": landline(source) if source.chance(0.3) else None,
                    "mobile_telephone": mobile(source),
                    "work_telephone": landline(source) if source.chance(0.2) else None,
                    **family.address,
                    "notes": "Prefers contact by text message." if source.chance(0.03) else None,
                }
            )
            owners.append((index, relationship))
    ids = writer.insert(Contact, rows, ids=True)
    by_family: dict[int, list[int]] = defaultdict(list)
    links = []
    for contact_id, (family_index, relationship) in zip(ids, owners, strict=True):
        by_family[family_index].append(contact_id)
        priority = len(by_family[family_index])
        for pupil in roll.families[family_index].pupils:
            links.append(
                {
                    "student_id": pupil.id,
                    "contact_id": contact_id,
                    "relationship": relationship,
                    "parental_responsibility": relationship in {"Mother", "Father", "Grandparent"},
                    "priority": priority,
                    "lives_with": priority == 1 or source.chance(0.7),
                    "receives_correspondence": priority == 1 or source.chance(0.5),
                    "in_touch_communication": priority == 1 or source.chance(0.6),
                }
            )
    writer.insert(StudentContact, links)
    return Contacts(
        ids=ids, main_contact={family: contacts[0] for family, contacts in by_family.items()}
    )
