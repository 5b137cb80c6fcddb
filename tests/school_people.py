"""A school's people as its MIS sent them (through the ingest, as a connector would), made
members, with the roles the school lets sign in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import select

from authserver.domain import ingest, members
from authserver.domain.ingest import Changes, Origin
from authserver.extensions import db
from authserver.models.members import MemberRole
from authserver.models.mis.contacts import Contact
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import TeachingClass
from authserver.models.mis.students import Student
from tests.connector.conftest import upn

PASSWORD = "a long pupil password"

PEOPLE = {
    "student": [
        {"upn": upn(1), "forename": "Zoë", "surname": "O'Brien-Smith", "nc_year": "7"},
        {"upn": upn(2), "forename": "Sam", "surname": "Okafor", "nc_year": "9"},
    ],
    "staff": [
        {"id": "t1", "forename": "Ada", "surname": "Lovelace", "work_email": "ada@school.test"}
    ],
    "contact": [
        {"id": "p1", "forename": "Grace", "surname": "O'Brien", "email": "grace@home.test"}
    ],
    "student_contact": [{"id": "sc1", "student_id": upn(1), "contact_id": "p1"}],
    "class": [{"id": "c1", "code": "7M1", "name": "Maths 7M1", "nc_year": "7", "staff_id": "t1"}],
    "class_membership": [{"id": "cm1", "class_id": "c1", "student_id": upn(1)}],
}


@dataclass
class People:
    school_id: int
    pupil: int  # member ids
    other_pupil: int
    teacher: int
    parent: int
    class_id: int


def receive_people(school_id: int) -> None:
    changes = Changes()
    for entity, records in PEOPLE.items():
        changes.upserts[entity] = [(Origin(i), r) for i, r in enumerate(records)]
    ingest.apply(db.session, school_id, changes)


@pytest.fixture
def people(app: Flask, school) -> People:
    """Two pupils (Years 7 and 9), a teacher of a Year 7 class, and the first pupil's parent,
    each a member with a password; every role may sign in."""
    with app.app_context():
        receive_people(school.id)
        rounds = app.config["SETTINGS"].bcrypt_rounds
        made = {}
        for model, key, login in (
            (Student, upn(1), "zoe.obrien"),
            (Student, upn(2), "sam.okafor"),
            (Staff, "t1", None),
            (Contact, "p1", None),
        ):
            person = db.session.scalar(select(model).where(model.mis_id == key))
            member = members.enrol(db.session, person, username=login, by="test")
            members.set_password(db.session, member, PASSWORD, rounds=rounds, by="test")
            made[key] = member.id
        members.set_enabled_roles(db.session, school.id, list(MemberRole), by="test")
        class_id = db.session.scalar(select(TeachingClass.id).where(TeachingClass.mis_id == "c1"))
        db.session.commit()
        return People(school.id, made[upn(1)], made[upn(2)], made["t1"], made["p1"], class_id)
