"""Pupils' QR badges: a printed secret a pupil shows to a shared device's camera to sign in,
kept only as its SHA-256 digest, one live badge per member."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.members import Member


class MemberBadge(db.Model):
    """One badge printed for a member. Reissuing revokes it (revoked_at) and makes another;
    the rows stay, so the school can see when each badge was made and by whom."""

    __tablename__ = "member_badges"
    __table_args__ = (
        # At most one live badge per member, whatever two requests do at once.
        Index(
            "uq_member_badges_live",
            "member_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    secret_digest: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who made it: a school admin's email, or the teacher's ("member 12" when none).
    issued_by: Mapped[str] = mapped_column(String(254))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    member: Mapped[Member] = relationship()
