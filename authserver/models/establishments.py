"""The DfE's register of establishments (Get Information about Schools) as last imported."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow

#: The register's word for an establishment that no longer runs.
CLOSED = "Closed"


class Establishment(db.Model):
    """One register entry, by URN: what the DfE says of a school, onboarded or not."""

    __tablename__ = "establishments"

    id: Mapped[int] = mapped_column(primary_key=True)
    urn: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    la_code: Mapped[str] = mapped_column(String(10), default="")
    la_name: Mapped[str] = mapped_column(String(100), default="")
    establishment_number: Mapped[str] = mapped_column(String(10), default="")
    type_name: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(40))
    phase_name: Mapped[str] = mapped_column(String(40))
    postcode: Mapped[str] = mapped_column(String(10), default="")
    trust_code: Mapped[str | None] = mapped_column(String(20), index=True)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def is_closed(self) -> bool:
        return self.status == CLOSED

    @property
    def dfe_number(self) -> str:
        """The LA and establishment numbers as schools quote them (e.g. 999/4001)."""
        if not (self.la_code and self.establishment_number):
            return ""
        return f"{self.la_code}/{self.establishment_number}"

    def __repr__(self) -> str:
        return f"<Establishment {self.urn} {self.name!r}>"


class RegisterTrust(db.Model):
    """A trust the register names (by its group code), on the platform or not."""

    __tablename__ = "register_trusts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
