"""The school's own details as its MIS holds them, and the state of the link to that MIS."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime
from authserver.models.mis.base import MisRecord


class SchoolInfo(MisRecord, db.Model):
    """Structural facts about the school: head teacher, phase, address, which MIS it runs."""

    __tablename__ = "mis_school_info"
    __entity__ = "school_info"

    headteacher_title: Mapped[str | None] = mapped_column(String(20))
    headteacher_forename: Mapped[str | None] = mapped_column(String(100))
    headteacher_surname: Mapped[str | None] = mapped_column(String(100))
    headteacher_email: Mapped[str | None] = mapped_column(String(200))
    phase: Mapped[str | None] = mapped_column(String(20))
    la_code: Mapped[str | None] = mapped_column(String(3))
    establishment_number: Mapped[str | None] = mapped_column(String(4))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    county: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    telephone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(200))
    mis_name: Mapped[str | None] = mapped_column(String(100))
    academic_year_start: Mapped[dt.date | None]
    academic_year_end: Mapped[dt.date | None]


class EndpointInfo(MisRecord, db.Model):
    """The connection to the school's MIS: agent version and the last connectivity check."""

    __tablename__ = "mis_endpoint_info"
    __entity__ = "endpoint_info"

    mis_version: Mapped[str | None] = mapped_column(String(50))
    agent_version: Mapped[str | None] = mapped_column(String(50))
    last_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_check_status: Mapped[str | None] = mapped_column(String(50))
    last_sync_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
