"""Outside agencies (health, social care and others), their agents, and pupils they work with."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord

#: The kinds of agency; each kind's links to pupils sit behind a different scope.
AGENCY_TYPES = ("medical", "social_services", "other")


class Agency(MisRecord, db.Model):
    """An outside organisation that works with the school's pupils."""

    __tablename__ = "mis_agencies"
    __entity__ = "agency"

    name: Mapped[str] = mapped_column(String(200))
    agency_type: Mapped[str] = mapped_column(String(20))  # one of AGENCY_TYPES
    telephone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(200))
    address_line1: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))


class Agent(MisRecord, db.Model):
    """A professional who works for an agency."""

    __tablename__ = "mis_agents"
    __entity__ = "agent"

    agency_id: Mapped[int] = mapped_column(ForeignKey("mis_agencies.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(20))
    forename: Mapped[str] = mapped_column(String(100))
    surname: Mapped[str] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(100))
    telephone: Mapped[str | None] = mapped_column(String(30))
    email: Mapped[str | None] = mapped_column(String(200))


class StudentAgent(MisRecord, db.Model):
    """An agent's involvement with a pupil."""

    __tablename__ = "mis_student_agents"
    __entity__ = "student_agent"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("mis_agents.id"), index=True)
    involvement: Mapped[str | None] = mapped_column(String(200))
    start_date: Mapped[dt.date | None]
    end_date: Mapped[dt.date | None]
