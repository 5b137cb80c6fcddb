"""Organisations: schools (with their URN) and the trusts that group them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow


class Trust(db.Model):
    """A multi-academy trust (a district, in US terms) that runs several schools."""

    __tablename__ = "trusts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The register's group code ("Trusts (code)"): None for a trust made before the register.
    code: Mapped[str | None] = mapped_column(String(20), unique=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    schools: Mapped[list[School]] = relationship(back_populates="trust", order_by="School.name")


class School(db.Model):
    """A school, identified publicly by its URN (Unique Reference Number)."""

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    urn: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phase: Mapped[str] = mapped_column(String(20), default="secondary")
    trust_id: Mapped[int | None] = mapped_column(ForeignKey("trusts.id"), index=True)
    # A demo school holds made-up pupils: unverified vendors may try their applications on it.
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when the DfE register says the school has closed: it then takes no new connections.
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    trust: Mapped[Trust | None] = relationship(back_populates="schools")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def __repr__(self) -> str:
        return f"<School {self.urn} {self.name!r}>"
