"""Members in the domain: made from MIS records, removed with them, and shown the applications
the school assigned to their role, year group or class."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.domain import ingest, members
from authserver.domain.ingest import Changes, Origin
from authserver.domain.members import MemberRefused, Target
from authserver.extensions import db
from authserver.models.members import Member, MemberRole
from authserver.models.mis.students import Student
from tests.connector.conftest import upn
from tests.school_people import People


def names(applications) -> list[str]:
    return [a.name for a in applications]


def test_a_member_is_their_mis_record_and_keeps_every_character_of_the_name(app, people) -> None:
    with app.app_context():
        pupil = db.session.get(Member, people.pupil)
        assert pupil.role is MemberRole.STUDENT
        assert members.name_of(db.session, pupil) == "Zoë O'Brien-Smith"
        assert db.session.get(Member, people.teacher).email == "ada@school.test"
        assert db.session.get(Member, people.parent).role is MemberRole.PARENT
        # Enrolling again finds the same member.
        record = db.session.scalar(select(Student).where(Student.mis_id == upn(1)))
        assert members.enrol(db.session, record, by="test").id == people.pupil


def test_a_username_is_unique_within_the_school(app, people) -> None:
    with app.app_context():
        changes = Changes()
        changes.upserts["student"] = [
            (Origin(0), {"upn": upn(3), "forename": "Zoe", "surname": "Obrien", "nc_year": "8"})
        ]
        ingest.apply(db.session, people.school_id, changes)
        record = db.session.scalar(select(Student).where(Student.mis_id == upn(3)))
        with pytest.raises(MemberRefused, match="taken"):
            members.enrol(db.session, record, username="Zoe.OBrien", by="test")


def test_a_pupil_removed_from_the_mis_is_no_longer_a_member(app, people) -> None:
    with app.app_context():
        changes = Changes()
        changes.deletes["student"] = [(Origin(0), upn(2))]
        ingest.apply(db.session, people.school_id, changes)
        db.session.commit()
        assert db.session.get(Member, people.other_pupil) is None
        assert db.session.get(Member, people.pupil) is not None


def test_assignments_reach_a_role_a_year_group_or_a_class(app, people, make_app) -> None:
    everyone, _ = make_app(name="Everyone's Reader")
    year9, _ = make_app(name="Year 9 Science")
    maths, _ = make_app(name="Maths 7M1 Practice")
    staffroom, _ = make_app(name="Staffroom Planner")
    parents7, _ = make_app(name="Year 7 Parents' News")
    with app.app_context():
        school = people.school_id
        for application, target in (
            (everyone, Target(MemberRole.STUDENT)),
            (year9, Target(MemberRole.STUDENT, nc_year="9")),
            (maths, Target(MemberRole.STUDENT, class_id=people.class_id)),
            (maths, Target(MemberRole.TEACHER, class_id=people.class_id)),
            (staffroom, Target(MemberRole.TEACHER)),
            (parents7, Target(MemberRole.PARENT, nc_year="7")),
        ):
            members.assign(db.session, school, db.session.merge(application), target, by="test")
        db.session.commit()

        def seen(member_id: int) -> list[str]:
            return names(
                members.assigned_applications(db.session, db.session.get(Member, member_id))
            )

        assert seen(people.pupil) == ["Everyone's Reader", "Maths 7M1 Practice"]
        assert seen(people.other_pupil) == ["Everyone's Reader", "Year 9 Science"]
        assert seen(people.teacher) == ["Maths 7M1 Practice", "Staffroom Planner"]
        assert seen(people.parent) == ["Year 7 Parents' News"]


def test_an_assignment_is_to_a_year_group_or_a_class_of_the_school(
    app, people: People, make_app, make_school
) -> None:
    application, _ = make_app(name="Reader")
    other = make_school(name="Elsewhere School")
    with app.app_context():
        merged = db.session.merge(application)
        with pytest.raises(MemberRefused, match="not both"):
            members.assign(
                db.session,
                people.school_id,
                merged,
                Target(MemberRole.STUDENT, nc_year="7", class_id=people.class_id),
                by="test",
            )
        with pytest.raises(MemberRefused, match="not one of this school's"):
            members.assign(
                db.session,
                other.id,
                merged,
                Target(MemberRole.STUDENT, class_id=people.class_id),
                by="test",
            )


def test_the_roles_a_school_lets_sign_in_are_none_until_it_says(app, school) -> None:
    with app.app_context():
        assert members.enabled_roles(db.session, school.id) == frozenset()
        members.set_enabled_roles(db.session, school.id, ["teacher"], by="test")
        assert members.enabled_roles(db.session, school.id) == {MemberRole.TEACHER}
