"""Photographs of pupils, staff and contacts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.mis.base import MisRecord
from authserver.models.mis.writable import WrittenBack

#: Whose photograph it is: the entity that `person_id` refers to.
PERSON_TYPES = ("student", "staff", "contact")


class Photo(WrittenBack, MisRecord, db.Model):
    """A photograph of a person, stored inline as base64 (they are small)."""

    __tablename__ = "mis_photos"
    __entity__ = "photo"
    __owner_columns__ = ("person_type", "person_id")
    __composite_indexes__ = (("person_type", "person_id"),)

    person_type: Mapped[str] = mapped_column(String(20))  # one of PERSON_TYPES
    person_id: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text)
    taken_on: Mapped[dt.date | None]
