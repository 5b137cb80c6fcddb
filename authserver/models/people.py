"""Bringing people in and letting them back in: invitations to a role, password resets, and
the browsers each person has signed in from (for new sign-in notices)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.applications import Vendor
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.organisations import School, Trust
from authserver.models.users import Role, User


class InvitationState(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Invitation(db.Model):
    """An emailed offer of one role for one organisation: single-use, ending after a week,
    withdrawable; only the digest of its link's token is kept."""

    __tablename__ = "invitations"
    __table_args__ = (Index("ix_invitations_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(
        db.Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    school_id: Mapped[int | None] = mapped_column(
        ForeignKey("schools.id", ondelete="CASCADE"), index=True
    )
    trust_id: Mapped[int | None] = mapped_column(
        ForeignKey("trusts.id", ondelete="CASCADE"), index=True
    )
    vendor_id: Mapped[int | None] = mapped_column(
        ForeignKey("vendors.id", ondelete="CASCADE"), index=True
    )
    can_manage: Mapped[bool] = mapped_column(Boolean, default=False)
    can_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    school: Mapped[School | None] = relationship()
    trust: Mapped[Trust | None] = relationship()
    vendor: Mapped[Vendor | None] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    def state(self, now: dt.datetime | None = None) -> InvitationState:
        """Where the invitation stands now."""
        if self.accepted_at is not None:
            return InvitationState.ACCEPTED
        if self.withdrawn_at is not None:
            return InvitationState.WITHDRAWN
        if (now or utcnow()) >= self.expires_at:
            return InvitationState.EXPIRED
        return InvitationState.PENDING

    @property
    def organisation_name(self) -> str:
        """The name of what the invitation is for, as the invitee reads it."""
        for organisation in (self.school, self.trust, self.vendor):
            if organisation is not None:
                return organisation.name
        return "the platform"


class PasswordReset(db.Model):
    """A one-time link to choose a new password: short-lived, single-use, kept as a digest."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        """Not used yet and not past its end."""
        return self.used_at is None and (now or utcnow()) < self.expires_at


class KnownBrowser(db.Model):
    """A browser a person has signed in from (the digest of a random cookie it carries): a
    sign-in from any other is worth telling them about."""

    __tablename__ = "known_browsers"
    __table_args__ = (UniqueConstraint("user_id", "browser_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    browser_digest: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
