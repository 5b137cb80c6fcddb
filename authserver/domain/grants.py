"""The domain of consent: a school approves, narrows, denies or revokes an application."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from authserver.domain import audit, school_secrets, tokens, webhook_outbox
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.domain.webhook_events import (
    AccessRequestApprovedData,
    AccessRequestRejectedData,
    ConnectionData,
    EventData,
    GrantRestrictions,
)
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import AccessRequest, AccessRequestStatus, Grant, GrantStatus
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

    def reaches_everyone_in(self, other: Restrictions) -> bool:
        """Whether these restrictions let through every pupil `other` does."""
        if self.is_whole_school:
            return True
        if other.is_whole_school:
            return False
        return set(self.group_ids) >= set(other.group_ids) and set(self.class_ids) >= set(
            other.class_ids
        )


def visible_fields(scopes: Iterable[str], restrictions: Restrictions) -> frozenset[str]:
    """The fields a grant's tokens can read: its scopes' fields less those left out."""
    return default_catalogue().fields_for(scopes) - set(restrictions.excluded_fields)


def narrows(
    before_scopes: Iterable[str],
    before: Restrictions,
    after_scopes: Iterable[str],
    after: Restrictions,
) -> bool:
    """Whether a new decision takes away anything the grant's tokens could read."""
    lost_fields = visible_fields(before_scopes, before) - visible_fields(after_scopes, after)
    return bool(lost_fields) or not after.reaches_everyone_in(before)


@dataclass(frozen=True)
class ScopeChoice:
    """What the consent screen asks a school about: the required and optional scopes that are
    new, what is already approved, and the application's stated purpose for each."""

    required: list[str]
    optional: list[str]
    already_approved: list[str] = field(default_factory=list)
    purposes: dict[str, str] = field(default_factory=dict)

    @property
    def is_change(self) -> bool:
        """Whether the school already shares something with this application."""
        return bool(self.already_approved)


def find_grant(application: Application, school: School) -> Grant | None:
    """The application's grant at this school, in any state."""
    return db.session.scalar(
        select(Grant).where(Grant.application_id == application.id, Grant.school_id == school.id)
    )


def _in_catalogue_order(names: Iterable[str]) -> list[str]:
    order = {name: index for index, name in enumerate(default_catalogue().scopes)}
    return sorted(set(names), key=order.__getitem__)


def _approved_scopes(grant: Grant | None) -> set[str]:
    return set(grant.scopes) if grant is not None and grant.is_in_force() else set()


def scope_choice(
    application: Application, requested: Sequence[str] | None, grant: Grant | None = None
) -> ScopeChoice:
    """Split what the application asks for into required and optional, as registered, leaving
    out what the school already approved (the screen shows only what changes)."""
    wanted = set(requested) if requested is not None else set(application.requested_scopes)
    default_catalogue().require_known(wanted)
    approved = _approved_scopes(grant)
    return ScopeChoice(
        required=_in_catalogue_order(
            s for s in application.required_scopes if s in wanted and s not in approved
        ),
        optional=_in_catalogue_order(
            s for s in application.optional_scopes if s in wanted and s not in approved
        ),
        already_approved=_in_catalogue_order(approved),
        purposes={r.scope: r.purpose for r in application.scope_requests},
    )


def choice_for_request(request: AccessRequest, grant: Grant | None = None) -> ScopeChoice:
    """The consent screen's choice for a Data Access Request, as it stood when made."""
    approved = _approved_scopes(grant)
    return ScopeChoice(
        required=_in_catalogue_order(s for s in request.required_scopes if s not in approved),
        optional=_in_catalogue_order(s for s in request.optional_scopes if s not in approved),
        already_approved=_in_catalogue_order(approved),
        purposes=dict(request.purposes),
    )


class NothingToRequest(ConsentError):
    """The school already shares everything the application asks for."""


def pending_request(application: Application, school: School) -> AccessRequest | None:
    """The application's pending Data Access Request at this school, if any."""
    return db.session.scalar(
        select(AccessRequest).where(
            AccessRequest.application_id == application.id,
            AccessRequest.school_id == school.id,
            AccessRequest.status == AccessRequestStatus.PENDING,
        )
    )


def request_access(
    application: Application, school: School, *, actor: User | Application
) -> tuple[AccessRequest, bool]:
    """Ask a school for the application's scopes; returns the request and whether it is new.

    Asking again while a request is pending returns that request. Where the school already
    approved some scopes, the request is for the difference only.
    """
    existing = pending_request(application, school)
    if existing is not None:
        return existing, False
    approved = _approved_scopes(find_grant(application, school))
    required = [s for s in application.required_scopes if s not in approved]
    optional = [s for s in application.optional_scopes if s not in approved]
    if not required and not optional:
        raise NothingToRequest(f"{school.name} already shares everything this application asks for")
    request = AccessRequest(
        application=application,
        school=school,
        required_scopes=_in_catalogue_order(required),
        optional_scopes=_in_catalogue_order(optional),
        purposes={r.scope: r.purpose for r in application.scope_requests},
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        AuditAction.ACCESS_REQUESTED,
        actor=actor,
        school=school,
        application=application,
        request_id=request.id,
        required=request.required_scopes,
        optional=request.optional_scopes,
    )
    return request, True


def reject(request: AccessRequest, *, by: User) -> None:
    """The school refuses a Data Access Request."""
    if not by.can_approve_for(request.school):
        raise NotAnApprover("you may view this school's requests but not decide them")
    if not request.is_pending:
        raise ConsentError("this request has already been answered")
    request.status = AccessRequestStatus.REJECTED
    request.decided_at = utcnow()
    request.decided_by = by
    webhook_outbox.enqueue(
        request.application,
        webhook_outbox.WebhookEvent.ACCESS_REQUEST_REJECTED,
        AccessRequestRejectedData(
            school_id=request.school_id, school_urn=request.school.urn, request_id=request.id
        ),
    )
    audit.record(
        AuditAction.ACCESS_REQUEST_REJECTED,
        actor=by,
        school=request.school,
        application=request.application,
        request_id=request.id,
    )


def approve(
    application: Application,
    school: School,
    *,
    approver: User,
    choice: ScopeChoice,
    optional_scopes: Iterable[str] = (),
    restrictions: Restrictions | None = None,
    expires_at: dt.datetime | None = None,
    request: AccessRequest | None = None,
) -> Grant:
    """Record a school's approval; the grant's version rises whenever its scopes change."""
    if not approver.can_approve_for(school):
        raise NotAnApprover("you may view this school's connections but not approve them")
    _decide_one_at_a_time(application, school, request)
    if request is not None and not request.is_pending:
        raise ConsentError("this request has already been answered")
    chosen = set(optional_scopes)
    if not chosen <= set(choice.optional):
        unknown = ", ".join(sorted(chosen - set(choice.optional)))
        raise ConsentError(f"not an optional scope of this request: {unknown}")
    restrictions = restrictions or Restrictions()
    grant = find_grant(application, school)
    previous = _approved_scopes(grant)
    earlier = Restrictions.from_json(grant.restrictions) if grant is not None else Restrictions()
    _check_excluded_fields(
        restrictions,
        required=choice.required,
        optional=sorted(chosen),
        kept=earlier.excluded_fields if previous else (),
    )
    scopes = _in_catalogue_order(previous | set(choice.required) | chosen)
    if not scopes:
        raise ConsentError("there is nothing to approve")
    now = utcnow()
    version_before = grant.version if grant is not None else 0
    if grant is None:
        grant = Grant(application=application, school=school, version=1)
        db.session.add(grant)
        action = AuditAction.GRANT_APPROVED
    elif not grant.is_in_force():
        grant.version += 1
        action = AuditAction.GRANT_APPROVED
    else:
        before = Restrictions.from_json(grant.restrictions)
        if narrows(grant.scopes, before, scopes, restrictions):
            # A narrower decision bites at once: every token and secret of the grant stops.
            _stop_everything_issued(grant)
        if set(grant.scopes) != set(scopes) or before != restrictions:
            grant.version += 1
        action = AuditAction.GRANT_SCOPES_CHANGED
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
    if request is not None:
        request.status = AccessRequestStatus.APPROVED
        request.decided_at = now
        request.decided_by = approver
        request.grant_version = grant.version
    if request is not None or action == AuditAction.GRANT_APPROVED:
        _notify(grant, webhook_outbox.WebhookEvent.ACCESS_REQUEST_APPROVED, request=request)
    elif grant.version != version_before:
        _notify(grant, webhook_outbox.WebhookEvent.SCOPES_CHANGED)
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


def _decide_one_at_a_time(
    application: Application, school: School, request: AccessRequest | None
) -> None:
    """Serialise decisions at a school (a double click, two admins at once) and re-read what
    they decide on, so each is taken on the state the one before it left."""
    # NO KEY UPDATE: tokens and audit events that refer to the school are not held up by it.
    db.session.execute(
        select(School.id).where(School.id == school.id).with_for_update(key_share=True)
    )
    grant = find_grant(application, school)
    if grant is not None:
        db.session.refresh(grant)
    if request is not None:
        db.session.refresh(request)


def _check_excluded_fields(
    restrictions: Restrictions,
    *,
    required: Sequence[str],
    optional: Sequence[str],
    kept: Sequence[str] = (),
) -> None:
    """Only fields of optional scopes may be left out (and earlier exclusions kept)."""
    if not restrictions.excluded_fields:
        return
    catalogue = default_catalogue()
    allowed = (catalogue.fields_for(optional) | set(kept)) - catalogue.fields_for(required)
    for name in restrictions.excluded_fields:
        if name not in allowed:
            raise ConsentError(f"{name} cannot be left out: only fields of optional scopes can")


def deny(application: Application, school: School, *, by: User) -> None:
    """Record that a school refused an application's request."""
    if not by.can_approve_for(school):
        raise NotAnApprover("you may view this school's connections but not decide for it")
    audit.record(AuditAction.GRANT_DENIED, actor=by, school=school, application=application)


def _notify(
    grant: Grant, event: webhook_outbox.WebhookEvent, *, request: AccessRequest | None = None
) -> None:
    """Tell the vendor, through the outbox, in the same transaction as the change."""
    in_force = grant.is_in_force()
    connection = ConnectionData(
        school_id=grant.school_id,
        school_urn=grant.school.urn,
        grant_version=grant.version,
        scopes=list(grant.scopes) if in_force else [],
        restrictions=GrantRestrictions.model_validate(grant.restrictions if in_force else {}),
    )
    data: EventData = connection
    if event is webhook_outbox.WebhookEvent.ACCESS_REQUEST_APPROVED:
        data = AccessRequestApprovedData(
            **connection.model_dump(), request_id=request.id if request is not None else None
        )
    webhook_outbox.enqueue(grant.application, event, data)


def _stop_everything_issued(grant: Grant) -> int:
    """End every token and school secret the grant gave, at once (no overlap); returns how many
    live tokens stopped. The one place that knows what a grant can have issued."""
    # Lock the grant before revoking: a token endpoint holds it (school_secrets.hold_grant)
    # from before it reads until its token is stored, so the revocations below, each reading
    # afresh once the lock is ours, see that token; a later one sees the grant as it is now.
    db.session.execute(select(Grant.id).where(Grant.id == grant.id).with_for_update(key_share=True))
    stopped = tokens.revoke_for_grant(grant.id)
    school_secrets.revoke_for_grant(grant.id)
    return stopped


def _withdraw(grant: Grant, *, by: User | None, reason: str | None) -> int:
    """Mark the grant revoked (by a school admin, or by nobody when the vendor gives it up)."""
    grant.status = GrantStatus.REVOKED
    grant.revoked_at = utcnow()
    grant.revoked_by = by
    grant.revocation_reason = reason
    return _stop_everything_issued(grant)


def revoke(grant: Grant, *, by: User, reason: str = "") -> int:
    """Withdraw a school's grant: every token of it stops working at once."""
    if not by.can_approve_for(grant.school):
        raise NotAnApprover("you may view this school's connections but not revoke them")
    stopped = _withdraw(grant, by=by, reason=reason or None)
    audit.record(
        AuditAction.GRANT_REVOKED,
        actor=by,
        school=grant.school,
        application=grant.application,
        version=grant.version,
        tokens_revoked=stopped,
    )
    _notify(grant, webhook_outbox.WebhookEvent.REVOKED)
    return stopped


def withdraw(request: AccessRequest, *, by: Application) -> None:
    """The vendor withdraws a request the school has not answered yet."""
    if not request.is_pending:
        raise ConsentError("only a pending request can be withdrawn")
    request.status = AccessRequestStatus.WITHDRAWN
    request.decided_at = utcnow()
    audit.record(
        AuditAction.ACCESS_REQUEST_WITHDRAWN,
        actor=by,
        school=request.school_id,
        application=request.application_id,
        request_id=request.id,
    )


def give_up(grant: Grant, *, by: Application) -> None:
    """The application gives up a school's grant itself: everything of it stops at once."""
    stopped = _withdraw(grant, by=None, reason="given up by the application")
    pending = pending_request(grant.application, grant.school)
    if pending is not None:
        withdraw(pending, by=by)
    audit.record(
        AuditAction.GRANT_GIVEN_UP,
        actor=by,
        school=grant.school_id,
        application=grant.application_id,
        version=grant.version,
        tokens_revoked=stopped,
    )


def ask_again_after_change(application: Application) -> list[AccessRequest]:
    """After the application's scope list changed: each school with a grant in force gets a
    pending request for the difference only (the grant keeps working meanwhile), and each
    pending request is replaced by one for the new list."""
    schools: dict[int, School] = {}
    for grant in db.session.scalars(select(Grant).where(Grant.application_id == application.id)):
        if grant.is_in_force():
            schools[grant.school_id] = grant.school
    for request in db.session.scalars(
        select(AccessRequest).where(
            AccessRequest.application_id == application.id,
            AccessRequest.status == AccessRequestStatus.PENDING,
        )
    ):
        schools[request.school_id] = request.school
        withdraw(request, by=application)
    db.session.flush()
    asked = []
    for school in schools.values():
        try:
            request, _ = request_access(application, school, actor=application)
        except NothingToRequest:
            continue
        asked.append(request)
    return asked


def end_of_academic_year(today: dt.date) -> dt.datetime:
    """The end of the academic year `today` falls in (31 August), as the moment after it."""
    year = today.year if today.month < 9 else today.year + 1
    return dt.datetime(year, 9, 1, tzinfo=dt.UTC)


def expire_due(now: dt.datetime | None = None) -> list[Grant]:
    """Mark grants whose consent date has passed as expired (tokens already stopped at that
    moment: a grant past its date is not in force); each is audited once."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(Grant)
            .where(
                Grant.status == GrantStatus.ACTIVE,
                Grant.expires_at.is_not(None),
                Grant.expires_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
    )
    for grant in due:
        grant.status = GrantStatus.EXPIRED
        _stop_everything_issued(grant)
        _notify(grant, webhook_outbox.WebhookEvent.EXPIRED)
        audit.record(
            AuditAction.GRANT_EXPIRED,
            actor="the consent's end date",
            school=grant.school_id,
            application=grant.application_id,
            version=grant.version,
            expired_at=grant.expires_at.isoformat() if grant.expires_at else None,
        )
    return due
