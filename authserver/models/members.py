"""Members: the school's pupils, staff and parents who sign in to the applications their school
chose (OpenID Connect), each tied to their MIS record; their sessions; which roles a school
lets sign in; and which applications it assigns to whom."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow


class MemberRole(enum.StrEnum):
    """What a member is to their school, as applications are told (the `role` claim)."""

    STUDENT = "student"
    TEACHER = "teacher"
    PARENT = "parent"
    # Never what an MIS record makes someone: a member of staff who also holds an admin
    # account at the school, signing in with it and its second factor (members.sign_in_role).
    SCHOOL_ADMIN = "school_admin"


#: A member session's method when a school admin signed in with their admin account and its
#: second factor: the only way to sign in as SCHOOL_ADMIN.
ADMIN_ACCOUNT_METHOD = "mfa"


class Member(db.Model):
    """One person of a school who may sign in: exactly one of a pupil, a member of staff or a
    contact (parent or carer). Removed with their MIS record, so a leaver cannot sign in."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN student_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN staff_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_person",
        ),
        UniqueConstraint("school_id", "username"),
        Index("ix_members_school_id_email", "school_id", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    student_id: Mapped[int | None] = mapped_column(
        ForeignKey("mis_students.id", ondelete="CASCADE"), unique=True
    )
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("mis_staff.id", ondelete="CASCADE"), unique=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("mis_contacts.id", ondelete="CASCADE"), unique=True
    )
    # What the member types to sign in (unique within the school); staff and parents may
    # use their email instead.
    username: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(100))
    password_set_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def role(self) -> MemberRole:
        """What their MIS record makes them (the role they sign in as: members.sign_in_role)."""
        if self.student_id is not None:
            return MemberRole.STUDENT
        if self.staff_id is not None:
            return MemberRole.TEACHER
        return MemberRole.PARENT

    @property
    def person(self) -> tuple[str, int]:
        """The MIS record: its entity and row id."""
        if self.student_id is not None:
            return "student", self.student_id
        if self.staff_id is not None:
            return "staff", self.staff_id
        if self.contact_id is None:  # pragma: no cover - the check constraint forbids it
            raise ValueError(f"member {self.id} names no person")
        return "contact", self.contact_id


class MemberSession(db.Model):
    """One browser a member signed in on. The cookie holds only a random token whose digest
    names this row; on a shared device it lasts until the browser closes or a short idle."""

    __tablename__ = "member_sessions"
    __table_args__ = (Index("ix_member_sessions_member_id_ended_at", "member_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    shared_device: Mapped[bool] = mapped_column(Boolean, default=True)
    # How the member proved who they are (OpenID Connect `amr`): "pwd", "qr" for a badge,
    # "email" for an emailed link, "mfa" for a school admin's account and its second factor.
    method: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    idle_timeout_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(50))

    member: Mapped[Member] = relationship()

    def is_live(self, now: dt.datetime) -> bool:
        """Not ended, not past its end, not idle too long."""
        return (
            self.ended_at is None
            and now < self.expires_at
            and (now - self.last_seen_at).total_seconds() < self.idle_timeout_seconds
        )


class SchoolSignIn(db.Model):
    """Which roles of a school's people may sign in at all (none until the school says)."""

    __tablename__ = "school_sign_ins"

    school_id: Mapped[int] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True
    )
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(254))


class AppAssignment(db.Model):
    """An application a school (or a teacher, for their class) put in front of some of its
    people: everyone of a role, a role in one year group, or one teaching class."""

    __tablename__ = "app_assignments"
    __table_args__ = (
        UniqueConstraint(
            "school_id",
            "application_id",
            "role",
            "nc_year",
            "class_id",
            name="uq_app_assignments_who",  # the convention's name passes PostgreSQL's 63
        ),
        CheckConstraint("nc_year IS NULL OR class_id IS NULL", name="year_or_class"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    nc_year: Mapped[str | None] = mapped_column(String(3))
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("mis_classes.id", ondelete="CASCADE"), index=True
    )
    assigned_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberLinkKind(enum.StrEnum):
    """What an emailed link to a member does when they open it."""

    INVITATION = "invitation"  # choose a password, then signed in
    MAGIC_LINK = "magic_link"  # signed in, no password asked


class MemberLink(db.Model):
    """A link emailed to a staff member or parent: an invitation to choose a password, or a
    magic link that signs them in. Single-use, short-lived; only its token's digest is kept."""

    __tablename__ = "member_links"
    __table_args__ = (Index("ix_member_links_member_id_used_at", "member_id", "used_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    sent_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    member: Mapped[Member] = relationship()

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        """Not used yet and not past its end."""
        return self.used_at is None and (now or utcnow()) < self.expires_at


class MemberSubject(db.Model):
    """The `sub` one application knows a member by: random, kept, and different for every
    application (pairwise), so that two applications cannot match up their people."""

    __tablename__ = "member_subjects"
    __table_args__ = (UniqueConstraint("member_id", "application_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(
        ForeignKey("applications.id", ondelete="CASCADE"), index=True
    )
    subject: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
