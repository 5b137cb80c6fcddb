"""The domain of consent: a school approves, narrows, denies or revokes an application."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from authserver.domain import audit, school_secrets, tokens, vendors, webhook_outbox
from authserver.domain.audiences import audience_of
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import default_catalogue
from authserver.domain.webhook_events import (
    AccessRequestApprovedData,
    AccessRequestRejectedData,
    ConnectionChangedData,
    ConnectionChanges,
    ConnectionData,
    ConnectionExpiringData,
    EndDateChange,
    EventData,
    FieldChanges,
    GrantRestrictions,
    Ids,
    Names,
)
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import (
    AccessRequest,
    AccessRequestStatus,
    Grant,
    GrantReminder,
    GrantStatus,
)
from authserver.models.organisations import School
from authserver.models.users import User


class ConsentError(ValueError):
    """A decision that breaks a rule of consent; the message says which."""


class NotAnApprover(ConsentError):
    """The person may see this school's connections but not decide for it."""


class SchoolClosed(ConsentError):
    """The DfE register says the school has closed: it takes no new connections."""

    def __init__(self, school: School) -> None:
        super().__init__(
            f"{school.name} (URN {school.urn}) has closed, according to the DfE register, "
            "so it cannot take new connections"
        )


def check_open(school: School) -> None:
    """Refuse anything new at a school that has closed (SchoolClosed)."""
    if school.is_closed:
        raise SchoolClosed(school)


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
class Terms:
    """What one version of a grant shares: its scopes, restrictions and end."""

    scopes: tuple[str, ...]
    restrictions: Restrictions
    expires_at: dt.datetime | None

    @classmethod
    def of(cls, grant: Grant) -> Terms:
        return cls(
            tuple(grant.scopes), Restrictions.from_json(grant.restrictions), grant.expires_at
        )


def _gained_and_lost(before: Iterable[Any], after: Iterable[Any]) -> tuple[list[Any], list[Any]]:
    return sorted(set(after) - set(before)), sorted(set(before) - set(after))


@dataclass(frozen=True)
class GrantChanges:
    """What a new version of a grant changed against the one before it, item by item."""

    scopes_added: list[str]
    scopes_removed: list[str]
    fields_left_out: list[str]
    fields_restored: list[str]
    groups_added: list[int]
    groups_removed: list[int]
    classes_added: list[int]
    classes_removed: list[int]
    narrowed: bool
    before: Terms
    after: Terms

    @classmethod
    def between(cls, before: Terms, after: Terms, *, narrowed: bool) -> GrantChanges:
        scopes_added, scopes_removed = _gained_and_lost(before.scopes, after.scopes)
        # A field left out of a scope no longer shared is not "restored": it is simply gone.
        still_there = default_catalogue().fields_for(after.scopes)
        left_out, restored = _gained_and_lost(
            before.restrictions.excluded_fields, after.restrictions.excluded_fields
        )
        groups_added, groups_removed = _gained_and_lost(
            before.restrictions.group_ids, after.restrictions.group_ids
        )
        classes_added, classes_removed = _gained_and_lost(
            before.restrictions.class_ids, after.restrictions.class_ids
        )
        return cls(
            scopes_added=_in_catalogue_order(scopes_added),
            scopes_removed=_in_catalogue_order(scopes_removed),
            fields_left_out=left_out,
            fields_restored=[f for f in restored if f in still_there],
            groups_added=groups_added,
            groups_removed=groups_removed,
            classes_added=classes_added,
            classes_removed=classes_removed,
            narrowed=narrowed,
            before=before,
            after=after,
        )

    @property
    def end_moved(self) -> bool:
        return self.before.expires_at != self.after.expires_at

    @property
    def expires_before(self) -> dt.datetime | None:
        return self.before.expires_at

    @property
    def expires_after(self) -> dt.datetime | None:
        return self.after.expires_at

    @property
    def is_empty(self) -> bool:
        return not (
            self.scopes_added
            or self.scopes_removed
            or self.fields_left_out
            or self.fields_restored
            or self.groups_added
            or self.groups_removed
            or self.classes_added
            or self.classes_removed
            or self.end_moved
        )

    def as_payload(self, previous_version: int) -> ConnectionChanges:
        """The `changes` object of the vendor's webhook."""
        return ConnectionChanges(
            previous_version=previous_version,
            narrowed=self.narrowed,
            scopes=Names(added=self.scopes_added, removed=self.scopes_removed),
            excluded_fields=FieldChanges(
                left_out=self.fields_left_out, restored=self.fields_restored
            ),
            group_ids=Ids(added=self.groups_added, removed=self.groups_removed),
            class_ids=Ids(added=self.classes_added, removed=self.classes_removed),
            expires_at=(
                EndDateChange(before=self.expires_before, after=self.expires_after)
                if self.end_moved
                else None
            ),
        )

    def as_json(self) -> dict[str, Any]:
        """The change as the audit log keeps it (the webhook's shape, previous version aside)."""
        payload = self.as_payload(0).model_dump(mode="json")
        payload.pop("previous_version")
        return dict(payload)

    def described(self, school_id: int) -> list[str]:
        """The change in plain words, one line per kind, for the school's pages and history."""
        catalogue = default_catalogue()
        audience = audience_of(school_id)

        def listed(items: Iterable[str]) -> str:
            return ", ".join(items)

        lines = []
        if self.scopes_added:
            lines.append(f"Now also shares: {listed(self.scopes_added)}")
        if self.scopes_removed:
            lines.append(f"No longer shares: {listed(self.scopes_removed)}")
        if self.fields_left_out:
            labels = (catalogue.field_label(f) for f in self.fields_left_out)
            lines.append(f"Details left out: {listed(labels)}")
        if self.fields_restored:
            labels = (catalogue.field_label(f) for f in self.fields_restored)
            lines.append(f"Details shared again: {listed(labels)}")
        if self.groups_added or self.groups_removed or self.classes_added or self.classes_removed:

            def pupils(restrictions: Restrictions) -> str:
                if restrictions.is_whole_school:
                    return "all pupils"
                names = audience.names(restrictions.group_ids, restrictions.class_ids)
                return "only " + listed(names)

            after, before = pupils(self.after.restrictions), pupils(self.before.restrictions)
            lines.append(f"Pupils: {after} (was {before})")
        if self.end_moved:
            lines.append(
                f"End date: {_day_of(self.expires_after)} (was {_day_of(self.expires_before)})"
            )
        return lines

    def summary(self, school_id: int) -> str:
        """`described` as one sentence-like line."""
        return "; ".join(self.described(school_id)) + "."


def _day_of(moment: dt.datetime | None) -> str:
    """An end moment as the last day it covers, as a school reads it ("31 August 2027")."""
    if moment is None:
        return "none, until withdrawn"
    last = (moment - dt.timedelta(microseconds=1)).date()
    return f"{last.day} {last:%B %Y}"


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
    approved some scopes, the request is for the difference only. An unverified vendor's
    application may ask only demo schools (vendors.NotVerified).
    """
    check_open(school)
    vendors.check_may_ask(application, school)
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
    """Record a school's approval; the grant's version rises whenever its scopes change.
    Nothing new is approved for an unverified vendor at a real school (vendors.NotVerified)."""
    if not approver.can_approve_for(school):
        raise NotAnApprover("you may view this school's connections but not approve them")
    check_open(school)
    vendors.check_may_ask(application, school)
    _decide_one_at_a_time(application, school, request)
    if request is not None and not request.is_pending:
        raise ConsentError("this request has already been answered")
    chosen = set(optional_scopes)
    if not chosen <= set(choice.optional):
        unknown = ", ".join(sorted(chosen - set(choice.optional)))
        raise ConsentError(f"not an optional scope of this request: {unknown}")
    restrictions = restrictions or Restrictions()
    # A past end is not refused here: the screens check the day chosen (consent_ends_on).
    _check_end(expires_at, now=utcnow(), refuse_past=False)
    grant = find_grant(application, school)
    previous = _approved_scopes(grant)
    changes: GrantChanges | None = None
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
    if grant is None:
        grant = Grant(application=application, school=school, version=1)
        db.session.add(grant)
        action = AuditAction.GRANT_APPROVED
    elif not grant.is_in_force():
        grant.version += 1
        action = AuditAction.GRANT_APPROVED
    else:
        before = Restrictions.from_json(grant.restrictions)
        was = Terms(tuple(grant.scopes), before, grant.expires_at)
        narrowed = narrows(grant.scopes, before, scopes, restrictions)
        if narrowed:
            # A narrower decision bites at once: every token and secret of the grant stops.
            _stop_everything_issued(grant)
        # A new end date is a new version too: each version's receipt states its end.
        if (
            set(grant.scopes) != set(scopes)
            or before != restrictions
            or was.expires_at != expires_at
        ):
            grant.version += 1
            changes = GrantChanges.between(
                was, Terms(tuple(scopes), restrictions, expires_at), narrowed=narrowed
            )
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
    elif changes is not None:
        _notify(grant, webhook_outbox.WebhookEvent.SCOPES_CHANGED, changes=changes)
    audit.record(
        action,
        actor=approver,
        school=school,
        application=application,
        scopes=scopes,
        version=grant.version,
        restrictions=grant.restrictions,
        **({"changes": changes.as_json()} if changes is not None else {}),
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
    grant: Grant,
    event: webhook_outbox.WebhookEvent,
    *,
    request: AccessRequest | None = None,
    changes: GrantChanges | None = None,
    now: dt.datetime | None = None,
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
    elif event is webhook_outbox.WebhookEvent.SCOPES_CHANGED:
        if changes is None:
            raise ValueError("a change of the connection says what changed")
        data = ConnectionChangedData(
            **connection.model_dump(), changes=changes.as_payload(grant.version - 1)
        )
    elif event is webhook_outbox.WebhookEvent.EXPIRING:
        if grant.expires_at is None:
            raise ValueError("only a grant with an end date can be ending")
        days_left = math.ceil((grant.expires_at - (now or utcnow())) / dt.timedelta(days=1))
        data = ConnectionExpiringData(
            **connection.model_dump(), expires_at=grant.expires_at, days_left=days_left
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
    # Those who manage the school's connections may end one; so may those who approve (consent
    # is as easy to withdraw as to give).
    if not (by.can_manage_for(grant.school) or by.can_approve_for(grant.school)):
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
        except (NothingToRequest, SchoolClosed, vendors.NotVerified):  # not asked again
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


# --- Ends of consent ------------------------------------------------------------------------

#: How far ahead a school may set a consent's end.
LONGEST_CONSENT_YEARS = 3
#: Days before a consent's end that the school and the vendor are told, furthest first.
REMINDER_DAYS = (30, 7)


def _years_after(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def latest_end_day(today: dt.date) -> dt.date:
    """The last day a consent made today may run to."""
    return _years_after(today, LONGEST_CONSENT_YEARS)


def consent_ends_on(day: dt.date, *, today: dt.date) -> dt.datetime:
    """The moment a consent lasting to the end of `day` ends (the midnight after it, UTC);
    refuses a day in the past or more than three years ahead."""
    if day < today:
        raise ConsentError("the end date is in the past: choose today or a later date")
    if day > latest_end_day(today):
        raise ConsentError(
            f"the end date can be at most {LONGEST_CONSENT_YEARS} years ahead "
            f"(on or before {_day_of(_moment_after(latest_end_day(today)))})"
        )
    return _moment_after(day)


def _moment_after(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def _check_end(
    expires_at: dt.datetime | None,
    *,
    now: dt.datetime,
    kept: dt.datetime | None = None,
    refuse_past: bool = True,
) -> None:
    """An end no further than three years ahead and not already past; an end kept as it was
    needs no check."""
    if expires_at is None or expires_at == kept:
        return
    if expires_at > _moment_after(latest_end_day(now.date())):
        raise ConsentError(f"the end date can be at most {LONGEST_CONSENT_YEARS} years ahead")
    if refuse_past and expires_at <= now:
        raise ConsentError("the end date is in the past: choose today or a later date")


# --- Changing a connection in place -----------------------------------------------------------


class NothingChanged(ConsentError):
    """The change asked for is the connection as it already is."""


@dataclass(frozen=True)
class PlannedChange:
    """What a change of a connection would do, worked out before anything is written."""

    grant: Grant
    scopes: list[str]
    restrictions: Restrictions
    expires_at: dt.datetime | None
    changes: GrantChanges
    #: Required scopes withdrawn: the connection ends instead of changing.
    required_withdrawn: list[str]

    @property
    def ends(self) -> bool:
        return bool(self.required_withdrawn) or not self.scopes


@dataclass(frozen=True)
class ChangeOutcome:
    """What a change did: the new version (or the end of the connection) and what it stopped."""

    grant: Grant
    changes: GrantChanges
    ended: bool
    tokens_stopped: int


def plan_change(
    grant: Grant,
    *,
    scopes: Iterable[str],
    restrictions: Restrictions,
    expires_at: dt.datetime | None,
    now: dt.datetime | None = None,
) -> PlannedChange:
    """Check a school's change of a connection against the rules, writing nothing.

    A school may take away anything; it may give back only what the application asks for now
    (an optional scope, fields of the scopes shared, more of its own pupils). A required scope
    the application does not have yet comes through the application's request, not here.
    """
    now = now or utcnow()
    if not grant.is_in_force(now):
        raise ConsentError("this connection is no longer in force: renew it instead")
    application = grant.application
    chosen = set(scopes)
    default_catalogue().require_known(chosen)
    before = Terms.of(grant)
    for scope in _in_catalogue_order(chosen - set(before.scopes)):
        if scope in application.required_scopes:
            raise ConsentError(
                f"{scope} is newly required by {application.name}: "
                "answer its request for it from your dashboard"
            )
        if scope not in application.optional_scopes:
            raise ConsentError(f"{application.name} does not ask for {scope}")
    after_scopes = _in_catalogue_order(chosen)
    required_withdrawn = _in_catalogue_order(
        s for s in before.scopes if s not in chosen and s in application.required_scopes
    )
    audience = audience_of(grant.school_id)
    unknown_groups = set(restrictions.group_ids) - audience.group_ids
    unknown_classes = set(restrictions.class_ids) - audience.class_ids
    if unknown_groups or unknown_classes:
        raise ConsentError(f"that is not a year group or class of {grant.school.name}")
    # Details of scopes no longer shared need no exclusion; keeping them would read as a
    # restoration later.
    shared_fields = default_catalogue().fields_for(after_scopes)
    restrictions = Restrictions(
        tuple(sorted(set(restrictions.group_ids))),
        tuple(sorted(set(restrictions.class_ids))),
        tuple(sorted(set(restrictions.excluded_fields) & shared_fields)),
    )
    required_now = [s for s in after_scopes if s in application.required_scopes]
    _check_excluded_fields(
        restrictions,
        required=required_now,
        optional=[s for s in after_scopes if s not in required_now],
        kept=before.restrictions.excluded_fields,
    )
    _check_end(expires_at, now=now, kept=before.expires_at)
    after = Terms(tuple(after_scopes), restrictions, expires_at)
    narrowed = narrows(before.scopes, before.restrictions, after_scopes, restrictions)
    changes = GrantChanges.between(before, after, narrowed=narrowed)
    if changes.is_empty:
        raise NothingChanged("you have not changed anything yet")
    return PlannedChange(grant, after_scopes, restrictions, expires_at, changes, required_withdrawn)


def change(
    grant: Grant,
    *,
    by: User,
    scopes: Iterable[str],
    restrictions: Restrictions,
    expires_at: dt.datetime | None,
) -> ChangeOutcome:
    """A school changes a connection in place, with no request from the vendor: a new grant
    version (a narrowing stops every token and school secret at once), or, when a required
    scope is withdrawn, the end of the connection."""
    if not by.can_approve_for(grant.school):
        raise NotAnApprover("you may view this school's connections but not change them")
    _decide_one_at_a_time(grant.application, grant.school, None)
    plan = plan_change(grant, scopes=scopes, restrictions=restrictions, expires_at=expires_at)
    if plan.ends:
        withdrawn = ", ".join(plan.required_withdrawn) or "every scope"
        stopped = _withdraw(grant, by=by, reason=f"withdrew {withdrawn} from the dashboard")
        audit.record(
            AuditAction.GRANT_REVOKED,
            actor=by,
            school=grant.school,
            application=grant.application,
            version=grant.version,
            tokens_revoked=stopped,
            withdrawn_scopes=plan.required_withdrawn,
            summary=f"Ended by withdrawing {withdrawn}, which the application requires.",
        )
        _notify(grant, webhook_outbox.WebhookEvent.REVOKED)
        return ChangeOutcome(grant, plan.changes, ended=True, tokens_stopped=stopped)
    stopped = _apply(grant, plan.scopes, plan.restrictions, plan.expires_at, plan.changes)
    grant.approved_by = by
    grant.approved_at = utcnow()
    db.session.flush()
    _record_change(grant, plan.changes, actor=by, tokens_stopped=stopped)
    return ChangeOutcome(grant, plan.changes, ended=False, tokens_stopped=stopped)


def _apply(
    grant: Grant,
    scopes: list[str],
    restrictions: Restrictions,
    expires_at: dt.datetime | None,
    changes: GrantChanges,
) -> int:
    """Write a new version of the grant; a narrowing stops everything it issued first."""
    stopped = _stop_everything_issued(grant) if changes.narrowed else 0
    grant.version += 1
    grant.scopes = scopes
    grant.restrictions = restrictions.as_json()
    grant.expires_at = expires_at
    return stopped


def _record_change(
    grant: Grant, changes: GrantChanges, *, actor: User | Application, tokens_stopped: int
) -> None:
    _notify(grant, webhook_outbox.WebhookEvent.SCOPES_CHANGED, changes=changes)
    audit.record(
        AuditAction.GRANT_CHANGED,
        actor=actor,
        school=grant.school_id,
        application=grant.application_id,
        version=grant.version,
        previous_version=grant.version - 1,
        scopes=list(grant.scopes),
        restrictions=grant.restrictions,
        changes=changes.as_json(),
        summary=changes.summary(grant.school_id),
        tokens_revoked=tokens_stopped,
    )


@dataclass(frozen=True)
class ScopeLoss:
    """A school whose connection loses scopes the application no longer asks for."""

    grant: Grant
    scopes: list[str]

    @property
    def ends(self) -> bool:
        """Whether nothing would be left to share, so the connection ends."""
        return not (set(self.grant.scopes) - set(self.scopes))


def scope_losses(application: Application, asked: Iterable[str]) -> list[ScopeLoss]:
    """The connections in force that would lose scopes if the application asked only for
    `asked`, by school name: for the vendor to see before saving."""
    kept = set(asked)
    losses = []
    for grant in db.session.scalars(select(Grant).where(Grant.application_id == application.id)):
        lost = [s for s in grant.scopes if s not in kept]
        if grant.is_in_force() and lost:
            losses.append(ScopeLoss(grant, _in_catalogue_order(lost)))
    return sorted(losses, key=lambda loss: (loss.grant.school.name, loss.grant.school.urn))


def drop_scopes_no_longer_asked(application: Application) -> list[ChangeOutcome]:
    """After the application stopped asking for scopes: every grant in force drops them (a new
    version that stops its tokens and secrets), or ends when nothing is left."""
    outcomes = []
    for loss in scope_losses(application, application.requested_scopes):
        grant = loss.grant
        _decide_one_at_a_time(application, grant.school, None)
        lost = [s for s in grant.scopes if s not in application.requested_scopes]
        if not lost or not grant.is_in_force():
            continue  # changed by a decision that got there first
        before = Terms.of(grant)
        remaining = [s for s in grant.scopes if s not in lost]
        fields = default_catalogue().fields_for(remaining)
        restrictions = Restrictions(
            before.restrictions.group_ids,
            before.restrictions.class_ids,
            tuple(f for f in before.restrictions.excluded_fields if f in fields),
        )
        changes = GrantChanges.between(
            before, Terms(tuple(remaining), restrictions, before.expires_at), narrowed=True
        )
        if not remaining:
            stopped = _withdraw(grant, by=None, reason="the application no longer asks for it")
            audit.record(
                AuditAction.GRANT_GIVEN_UP,
                actor=application,
                school=grant.school_id,
                application=application.id,
                version=grant.version,
                tokens_revoked=stopped,
                dropped_scopes=lost,
                summary=f"Ended: {application.name} no longer asks for {', '.join(lost)}.",
            )
            _notify(grant, webhook_outbox.WebhookEvent.REVOKED)
            outcomes.append(ChangeOutcome(grant, changes, ended=True, tokens_stopped=stopped))
            continue
        stopped = _apply(grant, remaining, restrictions, before.expires_at, changes)
        db.session.flush()
        _record_change(grant, changes, actor=application, tokens_stopped=stopped)
        outcomes.append(ChangeOutcome(grant, changes, ended=False, tokens_stopped=stopped))
    return outcomes


# --- Reminders of a consent's end ---------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    """A reminder sent: the grant, and how many days ahead of its end it was due."""

    grant: Grant
    days_before: int


def ending_soon(grants: Iterable[Grant], now: dt.datetime | None = None) -> list[Grant]:
    """Those of `grants` in force whose end is within the first reminder's reach."""
    now = now or utcnow()
    reach = dt.timedelta(days=max(REMINDER_DAYS))
    return [
        g
        for g in grants
        if g.is_in_force(now) and g.expires_at is not None and g.expires_at - now <= reach
    ]


def remind_due(now: dt.datetime | None = None) -> list[Reminder]:
    """Tell each vendor of a consent ending within 30 and then 7 days, once per threshold and
    end date (a new end date is reminded of afresh). Where the job first sees a grant past
    both, one reminder (the nearer) is sent and both are recorded."""
    now = now or utcnow()
    reach = now + dt.timedelta(days=max(REMINDER_DAYS))
    candidates = db.session.scalars(
        select(Grant)
        .where(
            Grant.status == GrantStatus.ACTIVE,
            Grant.expires_at.is_not(None),
            Grant.expires_at > now,
            Grant.expires_at <= reach,
        )
        .order_by(Grant.expires_at, Grant.id)
        .with_for_update(skip_locked=True)
    )
    sent = []
    for grant in list(candidates):
        end = grant.expires_at
        if end is None:  # pragma: no cover - excluded by the query; narrows the type
            continue
        reminded = set(
            db.session.scalars(
                select(GrantReminder.days_before).where(
                    GrantReminder.grant_id == grant.id, GrantReminder.expires_at == end
                )
            )
        )
        due = [d for d in REMINDER_DAYS if end - now <= dt.timedelta(days=d) and d not in reminded]
        if not due:
            continue
        for days in due:
            db.session.add(GrantReminder(grant_id=grant.id, expires_at=end, days_before=days))
        _notify(grant, webhook_outbox.WebhookEvent.EXPIRING, now=now)
        audit.record(
            AuditAction.GRANT_EXPIRY_REMINDED,
            actor="the consent's end date",
            school=grant.school_id,
            application=grant.application_id,
            version=grant.version,
            expires_at=end.isoformat(),
            days_before=min(due),
            summary=f"{grant.application.name} was told that sharing ends after {_day_of(end)}.",
        )
        sent.append(Reminder(grant, min(due)))
    db.session.flush()
    return sent
