"""Members signing in to applications (OpenID Connect): who may, under which grant, and what the
application is told about them. The school decides, as for data: an application signs in a
school's people only under a grant that includes `openid`, and only those the grant covers."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authserver.domain import grants, members
from authserver.domain.catalogue import default_catalogue
from authserver.domain.disclosure import Disclosure, disclosure_for
from authserver.models.applications import Application
from authserver.models.grants import Grant
from authserver.models.members import Member, MemberRole, MemberSubject
from authserver.models.mis.contacts import StudentContact
from authserver.models.mis.structure import (
    ClassMembership,
    Group,
    GroupMembership,
    TeachingClass,
)
from authserver.models.mis.students import Student
from authserver.models.organisations import School

SIGN_IN_SCOPE = "openid"


class SignInRefused(Exception):
    """This member may not sign in to this application; `error` is the OpenID Connect error."""

    def __init__(self, description: str, error: str = "access_denied") -> None:
        super().__init__(description)
        self.error, self.description = error, description


def grant_for_sign_in(
    session: Session, application: Application, member: Member, method: str | None
) -> Grant:
    """The grant under which the member, signed in by `method`, may sign in to the application,
    or SignInRefused: the school must have approved `openid` and let the member's role sign in
    (by that method), and the grant must cover the member (a pupil in its groups, their
    teacher, their parent)."""
    school = session.get(School, member.school_id)
    grant = grants.find_grant(application, school) if school is not None else None
    if grant is None or not grant.is_in_force() or SIGN_IN_SCOPE not in grant.scopes:
        raise SignInRefused("Your school has not let this application sign you in.")
    refusal = members.why_not_signing_in(session, member, method)
    if refusal is not None:
        raise SignInRefused(refusal)
    if not covers(session, _sign_in_view(grant), member):
        raise SignInRefused("Your school has not let this application sign you in.")
    return grant


def _sign_in_view(grant: Grant) -> Disclosure:
    # The grant's narrowing over pupils on roll (sign-in never reaches leavers).
    return disclosure_for(
        school_id=grant.school_id,
        scopes=[s for s in grant.scopes if s in default_catalogue().sign_in_scopes],
        restrictions=grant.restrictions,
    )


def _pupil_in_view(view: Disclosure, student_id: Any) -> Any:
    return view.pupil_visible(student_id)


def covers(session: Session, view: Disclosure, member: Member) -> bool:
    """Whether the grant's narrowing reaches the member: a pupil it covers; a teacher in post
    who teaches or leads a pupil it covers (any, if whole-school); a parent of such a pupil."""
    role = member.role  # a school admin is covered as the member of staff they are
    if role is MemberRole.STUDENT:
        found = select(_pupil_in_view(view, member.student_id))
    elif role is MemberRole.TEACHER:
        in_post = view.staff_visible(member.staff_id)  # type: ignore[arg-type]
        if view.narrowing.is_whole_school:
            found = select(in_post)
        else:
            teaches = exists().where(
                TeachingClass.staff_id == member.staff_id,
                ClassMembership.class_id == TeachingClass.id,
                _pupil_in_view(view, ClassMembership.student_id),
            )
            leads = exists().where(
                Group.lead_staff_id == member.staff_id,
                GroupMembership.group_id == Group.id,
                _pupil_in_view(view, GroupMembership.student_id),
            )
            found = select(in_post & (teaches | leads))
    else:
        found = select(
            exists().where(
                StudentContact.contact_id == member.contact_id,
                _pupil_in_view(view, StudentContact.student_id),
            )
        )
    return bool(session.scalar(found))


def subject_for(session: Session, member: Member, application: Application) -> str:
    """The member's `sub` for this application: made at random the first time, then kept, so
    it is stable across sessions and says nothing that links it to another application's."""
    query = select(MemberSubject.subject).where(
        MemberSubject.member_id == member.id, MemberSubject.application_id == application.id
    )
    found = session.scalar(query)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(
                MemberSubject(
                    member_id=member.id,
                    application_id=application.id,
                    subject=secrets.token_urlsafe(24),
                )
            )
    except IntegrityError:
        pass  # made at the same moment by another request: theirs stands
    subject = session.scalar(query)
    if subject is None:  # pragma: no cover - the insert or the other request's made it
        raise RuntimeError("no subject was recorded")
    return subject


def claims_of(
    session: Session,
    member: Member,
    application: Application,
    scopes: Iterable[str],
    restrictions: dict[str, Any] | None,
) -> dict[str, Any]:
    """The claims about the member that these scopes release to the application, and no
    others (`sub` always); children and classes only as far as the grant's narrowing reaches."""
    released = default_catalogue().claims_for(scopes)
    claims: dict[str, Any] = {"sub": subject_for(session, member, application)}
    person = members.person_of(session, member)
    if person is None:
        return claims
    if released & {"name", "given_name", "family_name"}:
        given = getattr(person, "preferred_forename", None) or person.forename
        claims.update(
            name=f"{given} {person.surname}", given_name=given, family_name=person.surname
        )
    if "email" in released and member.email:
        # Schools type these in; nothing here has proved the person receives mail there.
        claims.update(email=member.email, email_verified=False)
    if "role" in released:
        claims["role"] = str(members.sign_in_role(session, member))
    if "school_urn" in released:
        school = session.get(School, member.school_id)
        claims["school_urn"] = school.urn if school else None
    view = disclosure_for(
        school_id=member.school_id,
        scopes=[s for s in scopes if s in default_catalogue().sign_in_scopes],
        restrictions=restrictions,
    )
    if "classes" in released:
        claims["classes"] = _class_codes(session, view, member)
    if "year_group" in released and isinstance(person, Student):
        claims["year_group"] = person.nc_year
    if "children" in released and member.role is MemberRole.PARENT:
        claims["children"] = _children(session, view, member, application)
    return claims


def _class_codes(session: Session, view: Disclosure, member: Member) -> list[str]:
    ids = members.classes_of(session, member)
    if not ids:
        return []
    query = select(TeachingClass.code).where(TeachingClass.id.in_(ids))
    if member.staff_id is not None and not view.narrowing.is_whole_school:
        # A narrowed grant tells of the classes that have pupils it covers, and no others.
        query = query.where(
            exists().where(
                ClassMembership.class_id == TeachingClass.id,
                _pupil_in_view(view, ClassMembership.student_id),
            )
        )
    return sorted(session.scalars(query))


def _children(
    session: Session, view: Disclosure, member: Member, application: Application
) -> list[dict[str, Any]]:
    """The parent's children whom the grant covers and who sign in themselves, each by the
    application's own `sub` for them, with their year group."""
    children: list[dict[str, Any]] = []
    for child in members.children_of(session, member):
        if not session.scalar(select(_pupil_in_view(view, child.id))):
            continue
        child_member = members.member_of(session, child)
        if child_member is None:
            continue
        children.append(
            {
                "sub": subject_for(session, child_member, application),
                "year_group": child.nc_year,
            }
        )
    return children


__all__ = [
    "SIGN_IN_SCOPE",
    "SignInRefused",
    "claims_of",
    "covers",
    "grant_for_sign_in",
    "subject_for",
]
