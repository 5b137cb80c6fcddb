"""What a school tells families: the applications in use, what each receives and why.

Public by design, so nothing here may name or count a person: no approver, no admin's name
or email, no number of pupils (a count of a small class or group can identify a child), no
group or class names (a class may be named after its teacher). Only the school, the
applications and their vendors, the catalogue's own words, the vendor's stated purposes, the
links the school accepted, and dates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from authserver.domain import members
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import Scope, default_catalogue
from authserver.domain.grants import Restrictions
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.audit import AuditEvent
from authserver.models.grants import Grant, GrantStatus
from authserver.models.members import MemberRole
from authserver.models.organisations import School

#: The school's decisions on a connection: the latest is its date of last review. Ends
#: (revocation, expiry, the vendor giving up) take the application off the page instead.
REVIEW_ACTIONS = (
    AuditAction.GRANT_APPROVED,
    AuditAction.GRANT_SCOPES_CHANGED,
    AuditAction.GRANT_CHANGED,
    AuditAction.ACCESS_REQUEST_REJECTED,
    AuditAction.GRANT_DENIED,
)

#: Who may sign in, in families' words (the school's sign-in setting says which apply).
ROLE_WORDS = {
    MemberRole.STUDENT: "pupils",
    MemberRole.TEACHER: "staff",
    MemberRole.PARENT: "parents and carers",
}


@dataclass(frozen=True)
class SharedData:
    """One slice of data an application receives, with the vendor's reason for it."""

    scope: Scope
    purpose: str | None
    # Details of this scope the school chose to leave out, in the catalogue's words.
    left_out: tuple[str, ...]

    @property
    def category(self) -> str:
        return self.scope.category


@dataclass(frozen=True)
class PublicConnection:
    """One application in use at the school, as families are told of it."""

    application_name: str
    description: str
    vendor_name: str
    website_url: str | None
    data: tuple[SharedData, ...]
    sign_in: tuple[SharedData, ...]
    some_pupils_only: bool
    since: dt.date
    last_reviewed: dt.date
    ends: dt.date | None
    privacy_policy_url: str | None
    terms_url: str | None

    @property
    def categories(self) -> tuple[str, ...]:
        """The catalogue categories of the data it receives, in catalogue order."""
        return tuple(dict.fromkeys(item.category for item in self.data))

    @property
    def receives_sensitive_data(self) -> bool:
        return any(item.scope.sensitive for item in self.data)

    @property
    def signs_people_in(self) -> bool:
        return bool(self.sign_in)


@dataclass(frozen=True)
class PublicPage:
    """A school's public transparency page."""

    school_name: str
    urn: str
    closed_on: dt.date | None
    connections: tuple[PublicConnection, ...]
    # Who may sign in at all, by the school's setting ("pupils", "staff", ...).
    who_signs_in: tuple[str, ...]


def public_page_of(school: School, now: dt.datetime | None = None) -> PublicPage:
    """The school's page for families: its grants in force, by application name. Three
    statements whatever the number of applications (grants with their applications and
    vendors, the latest decisions, the sign-in setting)."""
    catalogue = default_catalogue()
    grants = [
        grant
        for grant in db.session.scalars(
            select(Grant)
            .where(Grant.school_id == school.id, Grant.status == GrantStatus.ACTIVE)
            .options(
                joinedload(Grant.application).joinedload(Application.vendor),
                joinedload(Grant.application).selectinload(Application.scope_requests),
            )
        ).unique()
        if grant.is_in_force(now)
    ]
    reviewed = _latest_decisions(school, [grant.application_id for grant in grants])
    connections = []
    for grant in sorted(grants, key=lambda g: g.application.name.lower()):
        application = grant.application
        excluded = set(Restrictions.from_json(grant.restrictions).excluded_fields)
        shared = [
            SharedData(
                scope=scope,
                purpose=application.purpose_of(scope.name),
                left_out=tuple(
                    catalogue.field_label(name) for name in scope.fields if name in excluded
                ),
            )
            for scope in (catalogue[name] for name in grant.scopes if name in catalogue)
            if scope.consent_required
        ]
        since = grant.created_at.date()
        connections.append(
            PublicConnection(
                application_name=application.name,
                description=application.description,
                vendor_name=application.vendor.name,
                website_url=application.website_url,
                data=tuple(item for item in shared if not item.scope.is_sign_in),
                sign_in=tuple(item for item in shared if item.scope.is_sign_in),
                some_pupils_only=not Restrictions.from_json(grant.restrictions).is_whole_school,
                since=since,
                last_reviewed=reviewed.get(grant.application_id, grant.approved_at).date(),
                # The grant ends at the first moment after its last day.
                ends=(grant.expires_at - dt.timedelta(days=1)).date() if grant.expires_at else None,
                privacy_policy_url=grant.accepted_privacy_policy_url,
                terms_url=grant.accepted_terms_url,
            )
        )
    enabled = members.enabled_roles(db.session(), school.id)
    return PublicPage(
        school_name=school.name,
        urn=school.urn,
        closed_on=school.closed_at.date() if school.closed_at else None,
        connections=tuple(connections),
        who_signs_in=tuple(words for role, words in ROLE_WORDS.items() if role in enabled),
    )


def _latest_decisions(school: School, application_ids: list[int]) -> dict[int, dt.datetime]:
    """The moment of the school's latest decision on each application's connection."""
    if not application_ids:
        return {}
    rows = db.session.execute(
        select(AuditEvent.application_id, func.max(AuditEvent.occurred_at))
        .where(
            AuditEvent.school_id == school.id,
            AuditEvent.application_id.in_(application_ids),
            AuditEvent.action.in_([str(action) for action in REVIEW_ACTIONS]),
        )
        .group_by(AuditEvent.application_id)
    )
    found: dict[int, dt.datetime] = {}
    for application_id, moment in rows:
        if application_id is not None and moment is not None:
            found[application_id] = _aware(moment)
    return found


def _aware(moment: dt.datetime) -> dt.datetime:
    # func.max comes back without the column's type on SQLite: a naive UTC datetime or text.
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
