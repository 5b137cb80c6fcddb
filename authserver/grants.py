"""The domain of consent: a school approves, narrows, denies or revokes an application."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from authserver import audit, tokens
from authserver.audit import AuditAction
from authserver.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import Grant, GrantStatus
from authserver.models.organisations import School
from authserver.models.users import User


class ConsentError(ValueError):
    """A decision that breaks a rule of consent; the message says which."""


class NotAnApprover(ConsentError):
    """The person may see this school's connections but not decide for it."""


@dataclass(frozen=True)
class Restrictions:
    """How a school narrows what it shares: some groups or classes, some fields left out."""

    group_ids: tuple[int, ...] = ()
    class_ids: tuple[int, ...] = ()
    excluded_fields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "group_ids": sorted(self.group_ids),
            "class_ids": sorted(self.class_ids),
            "excluded_fields": sorted(self.excluded_fields),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Restrictions:
        data = data or {}
        return cls(
            group_ids=tuple(data.get("group_ids", ())),
            class_ids=tuple(data.get("class_ids", ())),
            excluded_fields=tuple(data.get("excluded_fields", ())),
        )

    @property
    def is_whole_school(self) -> bool:
        return not self.group_ids and not self.class_ids


@dataclass(frozen=True)
class ScopeChoice:
    """What the consent screen asks a school about: required and optional scopes."""

    required: list[str]
    optional: list[str]
    already_approved: list[str] = field(default_factory=list)


def find_grant(application: Application, school: School) -> Grant | None:
    """The application's grant at this school, in any state."""
    return db.session.scalar(
        select(Grant).where(Grant.application_id == application.id, Grant.school_id == school.id)
    )


def scope_choice(
    application: Application, requested: Sequence[str] | None, grant: Grant | None = None
) -> ScopeChoice:
    """Split what the application asks for into required and optional, as registered."""
    catalogue = default_catalogue()
    wanted = set(requested) if requested is not None else set(application.requested_scopes)
    catalogue.require_known(wanted)
    order = {name: index for index, name in enumerate(catalogue.scopes)}
    required = sorted((s for s in application.required_scopes if s in wanted), key=order.get)
    optional = sorted((s for s in application.optional_scopes if s in wanted), key=order.get)
    approved = sorted(grant.scopes, key=order.get) if grant and grant.is_in_force() else []
    return ScopeChoice(required=required, optional=optional, already_approved=approved)


def approve(
    application: Application,
    school: School,
    *,
    approver: User,
    choice: ScopeChoice,
    optional_scopes: Iterable[str] = (),
    restrictions: Restrictions | None = None,
    expires_at: dt.datetime | None = None,
) -> Grant:
    """Record a school's approval; the grant's version rises whenever its scopes change."""
    if not approver.can_approve_for(school):
        raise NotAnApprover("you may view this school's connections but not approve them")
    chosen = set(optional_scopes)
    if not chosen <= set(choice.optional):
        unknown = ", ".join(sorted(chosen - set(choice.optional)))
        raise ConsentError(f"not an optional scope of this request: {unknown}")
    restrictions = restrictions or Restrictions()
    _check_excluded_fields(restrictions, required=choice.required, optional=sorted(chosen))

    grant = find_grant(application, school)
    previous = set(grant.scopes) if grant is not None and grant.is_in_force() else set()
    order = {name: index for index, name in enumerate(default_catalogue().scopes)}
    scopes = sorted(previous | set(choice.required) | chosen, key=order.get)
    if not scopes:
        raise ConsentError("there is nothing to approve")
    now = utcnow()
    if grant is None:
        grant = Grant(application=application, school=school, version=1)
        db.session.add(grant)
        action = AuditAction.GRANT_APPROVED
    else:
        narrowed = (
            grant.is_in_force() and Restrictions.from_json(grant.restrictions) != restrictions
        )
        if narrowed:
            tokens.revoke_for_grant(grant.id)
        if not grant.is_in_force() or set(grant.scopes) != set(scopes) or narrowed:
            grant.version += 1
        action = (
            AuditAction.GRANT_SCOPES_CHANGED if grant.is_in_force() else AuditAction.GRANT_APPROVED
        )
    grant.status = GrantStatus.ACTIVE
    grant.scopes = scopes
    grant.restrictions = restrictions.as_json()
    grant.approved_by = approver
    grant.approved_at = now
    grant.accepted_privacy_policy_url = application.privacy_policy_url
    grant.accepted_terms_url = application.terms_url
    grant.expires_at = expires_at
    grant.revoked_at = None
    grant.revoked_by = None
    grant.revocation_reason = None
    db.session.flush()
    audit.record(
        action,
        actor=approver,
        school=school,
        application=application,
        scopes=scopes,
        version=grant.version,
        restrictions=grant.restrictions,
    )
    return grant


def _check_excluded_fields(
    restrictions: Restrictions, *, required: Sequence[str], optional: Sequence[str]
) -> None:
    if not restrictions.excluded_fields:
        return
    catalogue = default_catalogue()
    needed = catalogue.fields_for(required)
    allowed = catalogue.fields_for(optional) - needed
    for name in restrictions.excluded_fields:
        if name not in allowed:
            raise ConsentError(f"{name} cannot be left out: only fields of optional scopes can")


def deny(application: Application, school: School, *, by: User) -> None:
    """Record that a school refused an application's request."""
    if not by.can_approve_for(school):
        raise NotAnApprover("you may view this school's connections but not decide for it")
    audit.record(AuditAction.GRANT_DENIED, actor=by, school=school, application=application)


def revoke(grant: Grant, *, by: User, reason: str = "") -> int:
    """Withdraw a school's grant: every token of it stops working at once."""
    if not by.can_approve_for(grant.school):
        raise NotAnApprover("you may view this school's connections but not revoke them")
    grant.status = GrantStatus.REVOKED
    grant.revoked_at = utcnow()
    grant.revoked_by = by
    grant.revocation_reason = reason or None
    stopped = tokens.revoke_for_grant(grant.id)
    audit.record(
        AuditAction.GRANT_REVOKED,
        actor=by,
        school=grant.school,
        application=grant.application,
        version=grant.version,
        tokens_revoked=stopped,
    )
    return stopped
