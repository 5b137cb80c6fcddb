"""Who the school's grant lets sign in to an application, in the domain: the role the school
turned on, a member not disabled, the grant's narrowing; and pairwise subjects."""

from __future__ import annotations

import pytest

from authserver.domain import grants, members, sign_in
from authserver.domain.grants import Restrictions
from authserver.extensions import db
from authserver.models import Application, School, User
from authserver.models.columns import utcnow
from authserver.models.members import Member, MemberRole
from tests.school_people import People


@pytest.fixture
def approved(app, people: People, make_app, school_admin):
    """An application whose grant at the school includes openid, for every pupil."""
    application, _ = make_app(required={"openid": "Sign-in."}, optional={})
    with app.app_context():
        application = db.session.get(Application, application.id)
        grants.approve(
            application,
            db.session.get(School, people.school_id),
            approver=db.session.get(User, school_admin.id),
            choice=grants.scope_choice(application, None),
        )
        db.session.commit()
        return application.id


def refusal(people_member: int, application_id: int) -> str | None:
    member = db.session.get(Member, people_member)
    try:
        sign_in.grant_for_sign_in(
            db.session, db.session.get(Application, application_id), member, "pwd"
        )
    except sign_in.SignInRefused as refused:
        return f"{refused.error}: {refused.description}"
    return None


def test_a_role_the_school_turned_off_is_refused_even_with_a_session(app, people, approved):
    with app.app_context():
        assert refusal(people.pupil, approved) is None
        members.set_enabled_roles(db.session, people.school_id, [MemberRole.PARENT], by="t")
        assert "access_denied: Your school has not turned on" in refusal(people.pupil, approved)
        assert refusal(people.parent, approved) is None


def test_a_disabled_member_is_refused(app, people, approved):
    with app.app_context():
        db.session.get(Member, people.teacher).disabled_at = utcnow()
        assert "access_denied: Your school has not turned on" in refusal(people.teacher, approved)


def test_a_teacher_of_no_covered_pupil_is_refused_under_a_narrowed_grant(app, people, approved):
    with app.app_context():
        grant = grants.find_grant(
            db.session.get(Application, approved), db.session.get(School, people.school_id)
        )
        # Only pupils of a class that does not exist at the school: nobody is covered.
        grant.restrictions = Restrictions(class_ids=(people.class_id + 1000,)).as_json()
        for who in (people.teacher, people.pupil, people.parent):
            assert "access_denied: Your school has not let" in refusal(who, approved)


def test_a_subject_is_made_once_and_differs_between_applications(app, people, make_app):
    first, _ = make_app(name="First App")
    second, _ = make_app(name="Second App")
    with app.app_context():
        pupil = db.session.get(Member, people.pupil)
        one = sign_in.subject_for(db.session, pupil, db.session.get(Application, first.id))
        assert sign_in.subject_for(db.session, pupil, db.session.get(Application, first.id)) == one
        other = sign_in.subject_for(db.session, pupil, db.session.get(Application, second.id))
        assert other != one
        # Random, not derived from the member: nothing about the member is in it.
        assert len(one) >= 22
        assert one != str(pupil.id)
