"""People's browser sessions, kept on the server: the cookie holds only a random token whose
digest names a row here, so ending the row ends the session wherever the cookie went."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.users import User


class UserSession(db.Model):
    """One signed-in browser: when it began, when it was last used, when it must end."""

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Idle longer than this and the session is over (shorter for those who approve or manage).
    idle_timeout_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(50))
    # When the person last proved their second factor in this session (None: not yet).
    second_factor_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User] = relationship()

    def is_live(self, now: dt.datetime) -> bool:
        """Not ended, not past its end, not idle too long."""
        return (
            self.ended_at is None
            and now < self.expires_at
            and (now - self.last_seen_at).total_seconds() < self.idle_timeout_seconds
        )
