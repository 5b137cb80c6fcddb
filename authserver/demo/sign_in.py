"""Sign-in in the demo: at one demo school, a pupil, their parent and one of their teachers made
members with passwords, the school's admin on its staff (signing in to apps as school admin),
every role let sign in, and an application whose grant includes `openid`, so that
docs/sign-in.md can be followed against `make run`."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from authserver import receipts
from authserver.domain import grants, members
from authserver.domain.applications import register_application, scope_requests_from
from authserver.extensions import db
from authserver.models.applications import Vendor
from authserver.models.members import MemberRole
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import ClassMembership, TeachingClass
from authserver.models.mis.students import Student
from authserver.models.organisations import School
from authserver.models.users import User

#: Where the demo sign-in application (docs/sign-in.md) listens on the developer's machine.
SIGN_IN_PORT = 8709
SIGN_IN_APPLICATION = {
    "name": "Brightside Reading Club",
    "description": "Pupils log their reading; teachers and parents see how it is going.",
    "required": {"openid": "So that pupils, teachers and parents sign in with their school."},
    "optional": {
        "profile": "To greet each person by name.",
        "email": "To send teachers and parents a weekly summary.",
        "SignInRole": "To show pupils, teachers and parents their own pages.",
        "SignInSchool": "To know which school's reading club they belong to.",
        "SignInClasses": "To put pupils with their classmates and teachers.",
        "SignInChildren": "To show parents their children's reading.",
        "SignInYearGroup": "To suggest books for the pupil's year group.",
    },
}


def _password() -> str:
    # Random even for the demo, as every demo password is.
    return secrets.token_urlsafe(12)


def seed_sign_in(
    school: School, admin: User, vendor: Vendor, *, password_rounds: int
) -> dict[str, Any]:
    """The demo's sign-in: the application (its secret shown once), the grant the school
    approved for it, and three members with their passwords."""
    application, secret = register_application(
        vendor,
        name=SIGN_IN_APPLICATION["name"],
        description=SIGN_IN_APPLICATION["description"],
        redirect_uris=[f"http://127.0.0.1:{SIGN_IN_PORT}/callback"],
        post_logout_redirect_uris=[f"http://127.0.0.1:{SIGN_IN_PORT}/signed-out"],
        scopes=scope_requests_from(
            SIGN_IN_APPLICATION["required"], SIGN_IN_APPLICATION["optional"]
        ),
        privacy_policy_url="https://reading-club.example.com/privacy",
    )
    grant = grants.approve(
        application,
        school,
        approver=admin,
        choice=grants.scope_choice(application, None),
        optional_scopes=list(SIGN_IN_APPLICATION["optional"]),
    )
    receipts.keep(grant, decision=receipts.Decision.APPROVED, by=admin)
    people = _a_family(school)
    made = []
    for person, username in people:
        member = members.enrol(db.session, person, username=username, by="demo seed")
        password = _password()
        members.set_password(db.session, member, password, rounds=password_rounds, by="demo seed")
        made.append(
            {
                "role": str(member.role),
                "login": member.username or member.email,
                "name": members.name_of(db.session, member),
                "password": password,
            }
        )
    admin_on_staff = _admin_on_staff(school, admin, besides=[person for person, _ in people])
    members.set_enabled_roles(db.session, school.id, list(MemberRole), by="demo seed")
    # On every demo member's launcher, so `make run` shows the app where people find it.
    for role in MemberRole:
        members.assign(db.session, school.id, application, members.Target(role), by="demo seed")
    return {
        "school_urn": school.urn,
        "application": {
            "name": application.name,
            "client_id": application.client_id,
            "client_secret": secret,
            "redirect_uris": application.redirect_uris,
            "post_logout_redirect_uris": application.post_logout_redirect_uris,
        },
        "members": made,
        "school_admin": {
            "name": f"{admin_on_staff.forename} {admin_on_staff.surname}",
            "login": admin.email,
            "sign_in": f"/members/sign-in/admin?school={school.urn}",
        },
    }


def _admin_on_staff(school: School, admin: User, besides: list[Any]) -> Staff:
    """The demo school's admin is one of its staff: the first member of staff not already
    signing in, given the admin account's email in the MIS data."""
    taken = [person.id for person in besides if isinstance(person, Staff)]
    staff = db.session.scalars(
        select(Staff).where(Staff.school_id == school.id, Staff.id.not_in(taken)).order_by(Staff.id)
    ).first()
    if staff is None:  # pragma: no cover - every demo school has many staff
        raise RuntimeError(f"{school.name} has no other staff")
    staff.work_email = admin.email
    return staff


def _a_family(school: School) -> list[tuple[Student | Contact | Staff, str | None]]:
    """A pupil in a class with a teacher and with a parent who has an email: the pupil, that
    parent and that teacher (the first such, in MIS order)."""
    row = db.session.execute(
        select(Student, Contact, Staff)
        .join(StudentContact, StudentContact.student_id == Student.id)
        .join(Contact, Contact.id == StudentContact.contact_id)
        .join(ClassMembership, ClassMembership.student_id == Student.id)
        .join(TeachingClass, TeachingClass.id == ClassMembership.class_id)
        .join(Staff, Staff.id == TeachingClass.staff_id)
        .where(
            Student.school_id == school.id,
            Contact.email.is_not(None),
            Staff.work_email.is_not(None),
        )
        .order_by(Student.id, Contact.id, TeachingClass.id)
        .limit(1)
    ).one()
    pupil, parent, teacher = row
    username = f"{pupil.forename}.{pupil.surname}".lower().replace(" ", "")
    return [(pupil, username), (parent, None), (teacher, None)]
