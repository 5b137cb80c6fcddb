"""People in the domain's words: inviting someone to a role, accepting, withdrawing; changing
and removing roles (never leaving a connected school without an approver); password resets;
the browsers a person has signed in from. Links are built by the caller (`link_for(token)`):
the domain knows no URL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from authserver.domain import audit, credentials, sessions
from authserver.domain.audit import AuditAction
from authserver.domain.mail import NoticeKind, queue_mail, render, security_notice
from authserver.models.applications import Vendor
from authserver.models.columns import utcnow
from authserver.models.grants import Grant, GrantStatus
from authserver.models.organisations import School, Trust
from authserver.models.people import Invitation, InvitationState, KnownBrowser, PasswordReset
from authserver.models.users import Role, RoleAssignment, User

INVITATION_LIFETIME = dt.timedelta(days=7)
#: A reminder goes this long before an invitation ends.
REMIND_BEFORE = dt.timedelta(days=1)
RESET_LIFETIME = dt.timedelta(hours=1)
MAX_NAME_LENGTH = 200

LinkFor = Callable[[str], str]


class PeopleError(ValueError):
    """A change to people or roles that is refused; the message says why, for people."""


class NotAllowed(PeopleError):
    """The person acting lacks the right to do this."""


class LastApprover(PeopleError):
    """The change would leave a connected school with nobody who may approve."""


@dataclasses.dataclass(frozen=True)
class Organisation:
    """What a role is held for: a school, a trust or a vendor (one of them)."""

    school: School | None = None
    trust: Trust | None = None
    vendor: Vendor | None = None

    @property
    def role(self) -> Role:
        if self.school is not None:
            return Role.SCHOOL_ADMIN
        if self.trust is not None:
            return Role.TRUST_ADMIN
        return Role.VENDOR_ADMIN

    @property
    def name(self) -> str:
        found = self.school or self.trust or self.vendor
        return found.name if found is not None else ""

    @property
    def ids(self) -> dict[str, int | None]:
        return {
            "school_id": self.school.id if self.school else None,
            "trust_id": self.trust.id if self.trust else None,
            "vendor_id": self.vendor.id if self.vendor else None,
        }

    @property
    def offers_approval(self) -> bool:
        """Whether approving data sharing means anything here (not for a vendor)."""
        return self.vendor is None

    def holds(self, assignment: RoleAssignment | Invitation) -> bool:
        """Whether a role (or an invitation to one) is for this organisation."""
        return assignment.role == self.role and all(
            getattr(assignment, key) == value for key, value in self.ids.items()
        )

    def audit_school(self) -> int | None:
        return self.school.id if self.school else None


def organisation_of(item: RoleAssignment | Invitation, session: Session) -> Organisation:
    """The organisation a role or invitation is for."""
    if item.school_id:
        return Organisation(school=session.get(School, item.school_id))
    if item.trust_id:
        return Organisation(trust=session.get(Trust, item.trust_id))
    return Organisation(vendor=session.get(Vendor, item.vendor_id))


# --- Who may do what -------------------------------------------------------------------------


def may_manage(user: User, organisation: Organisation) -> bool:
    """Whether `user` may manage the organisation's people (and, for a school, its data)."""
    if organisation.school is not None:
        return user.can_manage_for(organisation.school)
    if organisation.trust is not None:
        return user.can_manage_trust(organisation.trust.id)
    if organisation.vendor is not None:
        return user.can_manage_vendor(organisation.vendor.id)
    return False


def may_approve(user: User, organisation: Organisation) -> bool:
    """Whether `user` holds the right to approve for the organisation (a trust: the trust's)."""
    if organisation.school is not None:
        return user.can_approve_for(organisation.school)
    if organisation.trust is not None:
        trust_id = organisation.trust.id
        return any(
            a.can_approve and a.role == Role.TRUST_ADMIN and a.trust_id == trust_id
            for a in user.roles
        )
    return False


def _check_may_give(
    actor: User, organisation: Organisation, *, can_approve: bool, changing_approve: bool
) -> None:
    if actor.is_platform_admin:
        return
    if not may_manage(actor, organisation):
        raise NotAllowed(f"You may not change who works with {organisation.name}.")
    if (can_approve or changing_approve) and not may_approve(actor, organisation):
        # Nobody hands on (or takes away) a right they do not hold themselves.
        raise NotAllowed(
            "Only someone who may approve data sharing can give or take away that right."
        )


# --- Invitations -----------------------------------------------------------------------------


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise PeopleError("Enter an email address, like name@school.org.uk.")
    return email


def invite(
    session: Session,
    organisation: Organisation,
    *,
    actor: User,
    email: str,
    can_manage: bool,
    can_approve: bool,
    link_for: LinkFor,
    now: dt.datetime | None = None,
) -> Invitation:
    """Invite someone by email to a role at the organisation (the link is in the email only)."""
    now = now or utcnow()
    email = _normal_email(email)
    can_approve = can_approve and organisation.offers_approval
    _check_may_give(actor, organisation, can_approve=can_approve, changing_approve=False)
    existing = session.scalar(select(User).where(func.lower(User.email) == email))
    if existing is not None and any(organisation.holds(a) for a in existing.roles):
        raise PeopleError(f"{email} already works with {organisation.name}: change their role.")
    token = credentials.new_secret()
    invitation = Invitation(
        email=email,
        token_digest=credentials.digest(token),
        role=organisation.role,
        **organisation.ids,
        can_manage=can_manage,
        can_approve=can_approve,
        invited_by_id=actor.id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    session.flush()
    queue_mail(
        email,
        f"You are invited to {organisation.name}",
        "invitation",
        inviter=actor.name,
        organisation=organisation.name,
        rights=rights_in_words(can_manage, can_approve),
        link=link_for(token),
        expires_at=invitation.expires_at,
        has_account=existing is not None,
    )
    audit.record(
        AuditAction.INVITATION_SENT,
        actor=actor,
        school=organisation.audit_school(),
        invitation_id=invitation.id,
        email=email,
        can_manage=can_manage,
        can_approve=can_approve,
        **{k: v for k, v in organisation.ids.items() if v and k != "school_id"},
    )
    return invitation


def rights_in_words(can_manage: bool, can_approve: bool) -> str:
    """What a role allows, as a school admin says it."""
    rights = ["view"]
    if can_manage:
        rights.append("manage")
    if can_approve:
        rights.append("approve data sharing")
    return ", ".join(rights[:-1]) + " and " + rights[-1] if len(rights) > 1 else rights[0]


def find_invitation(session: Session, token: str | None) -> Invitation | None:
    """The invitation behind a link's token, whatever its state; None if there is none."""
    if not token or len(token) > 100:
        return None
    return session.scalar(
        select(Invitation).where(Invitation.token_digest == credentials.digest(token))
    )


INVITATION_PROBLEMS = {
    InvitationState.ACCEPTED: "This invitation has already been used. Sign in instead.",
    InvitationState.WITHDRAWN: "This invitation was withdrawn. Ask whoever invited you.",
    InvitationState.EXPIRED: (
        "This invitation has expired: invitations last 7 days. Ask whoever invited you to send "
        "a new one."
    ),
}


def invitation_problem(invitation: Invitation | None, now: dt.datetime | None = None) -> str | None:
    """Why an invitation cannot be accepted now, in words; None when it can."""
    if invitation is None:
        return "This invitation link is not valid. Check you copied all of it from the email."
    return INVITATION_PROBLEMS.get(invitation.state(now))


def account_for(session: Session, email: str) -> User | None:
    """The account with that email address, if any."""
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def _claim(session: Session, invitation: Invitation, user: User, now: dt.datetime) -> None:
    """Mark the invitation used, once: of two acceptances racing, one wins."""
    result = session.execute(
        update(Invitation)
        .where(
            Invitation.id == invitation.id,
            Invitation.accepted_at.is_(None),
            Invitation.withdrawn_at.is_(None),
            Invitation.expires_at > now,
        )
        .values(accepted_at=now, accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise PeopleError(invitation_problem(invitation, now) or "This invitation was just used.")
    session.refresh(invitation)


def _grant_role(invitation: Invitation, user: User) -> RoleAssignment:
    for assignment in user.roles:
        if (
            assignment.role == invitation.role
            and assignment.school_id == invitation.school_id
            and assignment.trust_id == invitation.trust_id
            and assignment.vendor_id == invitation.vendor_id
        ):
            # Already there (invited twice): the invitation can only add rights.
            assignment.can_manage = assignment.can_manage or invitation.can_manage
            assignment.can_approve = assignment.can_approve or invitation.can_approve
            return assignment
    assignment = RoleAssignment(
        role=invitation.role,
        school_id=invitation.school_id,
        trust_id=invitation.trust_id,
        vendor_id=invitation.vendor_id,
        can_manage=invitation.can_manage,
        can_approve=invitation.can_approve,
    )
    user.roles.append(assignment)
    return assignment


def accept_with_new_account(
    session: Session,
    invitation: Invitation,
    *,
    name: str,
    password: str,
    password_rounds: int,
    now: dt.datetime | None = None,
) -> User:
    """Accept for an email with no account: the account is made with this name and password
    (the caller has checked the password against the policy)."""
    now = now or utcnow()
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise PeopleError(f"Enter your name, in at most {MAX_NAME_LENGTH} characters.")
    if account_for(session, invitation.email) is not None:
        raise PeopleError("There is already an account for this email address: sign in.")
    user = User(email=invitation.email, name=name, is_active=True, created_at=now)
    user.set_password(password, rounds=password_rounds)
    session.add(user)
    session.flush()
    _claim(session, invitation, user, now)
    _grant_role(invitation, user)
    session.flush()
    _record_acceptance(session, invitation, user)
    return user


def accept_as(
    session: Session, invitation: Invitation, user: User, now: dt.datetime | None = None
) -> RoleAssignment:
    """Accept for a person already signed in: the role is added to their account, if the
    invitation was sent to their email address."""
    now = now or utcnow()
    if user.email.strip().lower() != invitation.email:
        raise PeopleError(
            f"This invitation was sent to {invitation.email}, but you are signed in as "
            f"{user.email}. Sign out, then open the link again."
        )
    _claim(session, invitation, user, now)
    assignment = _grant_role(invitation, user)
    session.flush()
    _record_acceptance(session, invitation, user)
    return assignment


def _record_acceptance(session: Session, invitation: Invitation, user: User) -> None:
    audit.record(
        AuditAction.INVITATION_ACCEPTED,
        actor=user,
        school=invitation.school_id,
        invitation_id=invitation.id,
        role=str(invitation.role),
        can_manage=invitation.can_manage,
        can_approve=invitation.can_approve,
    )


def withdraw(
    session: Session, invitation: Invitation, *, actor: User, now: dt.datetime | None = None
) -> None:
    """Withdraw a pending invitation: its link stops working."""
    now = now or utcnow()
    organisation = organisation_of(invitation, session)
    if not (actor.is_platform_admin or may_manage(actor, organisation)):
        raise NotAllowed(f"You may not change who works with {organisation.name}.")
    if invitation.state(now) is not InvitationState.PENDING:
        raise PeopleError("That invitation is no longer waiting: there is nothing to withdraw.")
    invitation.withdrawn_at = now
    audit.record(
        AuditAction.INVITATION_WITHDRAWN,
        actor=actor,
        school=invitation.school_id,
        invitation_id=invitation.id,
        email=invitation.email,
    )


def invitations_of(session: Session, organisation: Organisation) -> list[Invitation]:
    """The organisation's invitations, newest first, every state."""
    query = select(Invitation).where(Invitation.role == organisation.role)
    for key, value in organisation.ids.items():
        column = getattr(Invitation, key)
        query = query.where(column.is_(None) if value is None else column == value)
    return list(session.scalars(query.order_by(Invitation.created_at.desc(), Invitation.id.desc())))


def remind_expiring(session: Session, *, link_for: LinkFor, now: dt.datetime | None = None) -> int:
    """Email a reminder for each pending invitation ending within a day (once each). The
    reminder carries a fresh link (only digests are kept), which replaces the first one."""
    now = now or utcnow()
    due = session.scalars(
        select(Invitation).where(
            Invitation.accepted_at.is_(None),
            Invitation.withdrawn_at.is_(None),
            Invitation.reminded_at.is_(None),
            Invitation.expires_at > now,
            Invitation.expires_at <= now + REMIND_BEFORE,
        )
    ).all()
    for invitation in due:
        token = credentials.new_secret()
        invitation.token_digest = credentials.digest(token)
        invitation.reminded_at = now
        queue_mail(
            invitation.email,
            f"Your invitation to {invitation.organisation_name} ends soon",
            "invitation_reminder",
            organisation=invitation.organisation_name,
            link=link_for(token),
            expires_at=invitation.expires_at,
        )
        audit.record(
            AuditAction.INVITATION_REMINDED,
            actor="the platform",
            school=invitation.school_id,
            invitation_id=invitation.id,
        )
    session.flush()
    return len(due)


# --- Roles -----------------------------------------------------------------------------------


def people_of(session: Session, organisation: Organisation) -> list[RoleAssignment]:
    """Who holds a role at the organisation, by name."""
    query = select(RoleAssignment).join(User).where(RoleAssignment.role == organisation.role)
    for key, value in organisation.ids.items():
        column = getattr(RoleAssignment, key)
        query = query.where(column.is_(None) if value is None else column == value)
    return list(session.scalars(query.order_by(User.name, User.email)))


def is_connected(session: Session, school: School) -> bool:
    """Whether any application has an active grant at the school."""
    return (
        session.scalar(
            select(Grant.id)
            .where(Grant.school_id == school.id, Grant.status == GrantStatus.ACTIVE)
            .limit(1)
        )
        is not None
    )


def approvers_of(session: Session, school: School, *, besides: int | None = None) -> set[int]:
    """Ids of active people who may approve for the school (through it or its trust), leaving
    out the role `besides`."""
    holds = RoleAssignment.school_id == school.id
    if school.trust_id:
        holds = or_(holds, RoleAssignment.trust_id == school.trust_id)
    query = (
        select(RoleAssignment.user_id)
        .join(User)
        .where(RoleAssignment.can_approve.is_(True), User.is_active.is_(True), holds)
        .where(RoleAssignment.role.in_([Role.SCHOOL_ADMIN, Role.TRUST_ADMIN]))
    )
    if besides is not None:
        query = query.where(RoleAssignment.id != besides)
    return set(session.scalars(query))


def _check_last_approver(session: Session, assignment: RoleAssignment) -> None:
    """Refuse to take away the approve right of the last person who holds it at a school that
    is connected: someone must stay able to answer, change or renew its connections."""
    if not assignment.can_approve:
        return
    if assignment.role == Role.SCHOOL_ADMIN and assignment.school_id:
        schools = [session.get(School, assignment.school_id)]
    elif assignment.role == Role.TRUST_ADMIN and assignment.trust_id:
        schools = list(
            session.scalars(select(School).where(School.trust_id == assignment.trust_id))
        )
    else:
        return
    for school in schools:
        if school is None or not is_connected(session, school):
            continue
        if not approvers_of(session, school, besides=assignment.id):
            raise LastApprover(
                f"{assignment.user.name} is the last person who can approve data sharing at "
                f"{school.name}, which has connected applications. Give someone else the right "
                "to approve first."
            )


def change_rights(
    session: Session,
    assignment: RoleAssignment,
    *,
    actor: User,
    can_manage: bool,
    can_approve: bool,
) -> bool:
    """Change what a person may do at an organisation, at once; False if nothing changed."""
    organisation = organisation_of(assignment, session)
    can_approve = can_approve and organisation.offers_approval
    if (assignment.can_manage, assignment.can_approve) == (can_manage, can_approve):
        return False
    _check_may_give(
        actor,
        organisation,
        can_approve=can_approve and not assignment.can_approve,
        changing_approve=assignment.can_approve != can_approve,
    )
    if assignment.can_approve and not can_approve:
        _check_last_approver(session, assignment)
    before = {"can_manage": assignment.can_manage, "can_approve": assignment.can_approve}
    assignment.can_manage, assignment.can_approve = can_manage, can_approve
    audit.record(
        AuditAction.ROLE_CHANGED,
        actor=actor,
        school=organisation.audit_school(),
        user_id=assignment.user_id,
        role=str(assignment.role),
        before=before,
        after={"can_manage": can_manage, "can_approve": can_approve},
    )
    security_notice(
        assignment.user,
        NoticeKind.ROLE_CHANGED,
        organisation=organisation.name,
        rights=rights_in_words(can_manage, can_approve),
        by=actor.name,
        removed=False,
    )
    return True


def remove_role(
    session: Session, assignment: RoleAssignment, *, actor: User, now: dt.datetime | None = None
) -> None:
    """Take a person's role at an organisation away, at once; with no role left, every session
    of theirs ends too."""
    organisation = organisation_of(assignment, session)
    _check_may_give(actor, organisation, can_approve=False, changing_approve=assignment.can_approve)
    _check_last_approver(session, assignment)
    person = assignment.user
    audit.record(
        AuditAction.ROLE_REMOVED,
        actor=actor,
        school=organisation.audit_school(),
        user_id=person.id,
        role=str(assignment.role),
        **{k: v for k, v in organisation.ids.items() if v and k != "school_id"},
    )
    person.roles.remove(assignment)
    session.flush()
    if not person.roles:
        sessions.end_all(session, person.id, "role removed", now=now)
    security_notice(
        person,
        NoticeKind.ROLE_CHANGED,
        organisation=organisation.name,
        rights="",
        by=actor.name,
        removed=True,
    )


# --- Password resets -------------------------------------------------------------------------


def request_reset(
    session: Session, email: str, *, link_for: LinkFor, now: dt.datetime | None = None
) -> None:
    """Email a reset link if an active account has this address; otherwise do the same work
    (the email is rendered) and send nothing, so neither answer nor timing tells them apart."""
    now = now or utcnow()
    user = account_for(session, email[:254])
    token = credentials.new_secret()
    context = {"link": link_for(token), "minutes": int(RESET_LIFETIME.total_seconds() // 60)}
    if user is None or not user.is_active:
        render("password_reset", name="", **context)
        return
    reset = PasswordReset(
        user_id=user.id,
        token_digest=credentials.digest(token),
        created_at=now,
        expires_at=now + RESET_LIFETIME,
    )
    session.add(reset)
    queue_mail(user.email, "Choose a new password", "password_reset", name=user.name, **context)
    audit.record(AuditAction.PASSWORD_RESET_REQUESTED, actor=user)


def find_reset(
    session: Session, token: str | None, now: dt.datetime | None = None
) -> PasswordReset | None:
    """The usable reset behind a link's token (None: unknown, used or expired)."""
    if not token or len(token) > 100:
        return None
    reset: PasswordReset | None = session.scalar(
        select(PasswordReset).where(PasswordReset.token_digest == credentials.digest(token))
    )
    if reset is None or not reset.is_usable(now) or not reset.user.is_active:
        return None
    return reset


def complete_reset(
    session: Session,
    reset: PasswordReset,
    password: str,
    *,
    password_rounds: int,
    now: dt.datetime | None = None,
) -> User:
    """Set the new password (checked by the caller against the policy), once: the link and any
    other outstanding ones stop working, and every session of the person ends."""
    now = now or utcnow()
    result = session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        raise PeopleError("This link has already been used or has expired: ask for a new one.")
    user = reset.user
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    user.set_password(password, rounds=password_rounds)
    sessions.end_all(session, user.id, "password reset", now=now)
    audit.record(AuditAction.PASSWORD_RESET_COMPLETED, actor=user)
    security_notice(user, NoticeKind.PASSWORD_CHANGED, when=now, how="with a reset link")
    return user


# --- Browsers a person has used --------------------------------------------------------------


def note_browser(
    session: Session, user: User, browser_token: str, now: dt.datetime | None = None
) -> bool:
    """Remember the browser for the person; True if it is one they had not signed in from."""
    browser_digest = credentials.digest(browser_token)
    known = session.scalar(
        select(KnownBrowser.id).where(
            KnownBrowser.user_id == user.id, KnownBrowser.browser_digest == browser_digest
        )
    )
    if known is not None:
        return False
    session.add(
        KnownBrowser(user_id=user.id, browser_digest=browser_digest, first_seen_at=now or utcnow())
    )
    session.flush()
    return True
