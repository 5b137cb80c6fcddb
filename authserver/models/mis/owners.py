"""Whose record a row is: the pupil, contact or member of staff it hangs off, if any.

A record leaves a grant's view with its owner (a pupil outside the covered groups, a leaver
without ThreeYearHistory), so deletions and syncs follow owners rather than each table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, inspect, literal, select

from authserver.models.mis.base import MisRecord
from authserver.models.mis.catering import CashlessAccount, CashlessTransaction
from authserver.models.mis.contacts import Contact
from authserver.models.mis.photos import Photo
from authserver.models.mis.staff import Staff
from authserver.models.mis.students import Student

#: The kinds of person that own records.
PERSON_KINDS = ("student", "contact", "staff")
#: The owner id of a pupil-owned record that names no pupil (seen by whole-school grants only).
NO_PUPIL = 0


@dataclass(frozen=True)
class Owner:
    """How to read a row's owner as SQL: the person's kind and id."""

    kind: ColumnElement[str]
    person_id: ColumnElement[int]
    #: The one kind this entity's rows belong to (None for photos: each row says).
    fixed_kind: str | None
    #: The plain column naming the owner, where there is one (indexed: fast to match ids on;
    #: NULL where `person_id` reads NO_PUPIL).
    column: Any = None


def _column_is_required(model: type[MisRecord], name: str) -> bool:
    column = inspect(model).local_table.c.get(name)
    return column is not None and not column.nullable


_OWNERS: dict[str, Owner | None] = {}


def owner_of(model: type[MisRecord]) -> Owner | None:
    """The owner of the model's rows, or None for records about no one in particular."""
    entity = model.__entity__
    if entity not in _OWNERS:
        _OWNERS[entity] = _owner(model)
    return _OWNERS[entity]


def _owner(model: type[MisRecord]) -> Owner | None:
    if model is Student:
        return Owner(literal("student"), Student.id, "student", Student.id)
    if model is Contact:
        return Owner(literal("contact"), Contact.id, "contact", Contact.id)
    if model is Staff:
        return Owner(literal("staff"), Staff.id, "staff", Staff.id)
    if model is Photo:
        return Owner(Photo.person_type, Photo.person_id, None)
    if model is CashlessTransaction:
        account_owner = (
            select(CashlessAccount.student_id)
            .where(CashlessAccount.id == CashlessTransaction.account_id)
            # The transaction is the outer query's, however deeply this is nested in it.
            .correlate_except(CashlessAccount)
            .scalar_subquery()
        )
        return Owner(literal("student"), account_owner, "student")
    student_id: Any = getattr(model, "student_id", None)
    if student_id is not None:
        return Owner(literal("student"), func.coalesce(student_id, NO_PUPIL), "student", student_id)
    # Records of a member of staff (contracts, pay, checks ...), not rows that merely name one.
    if _column_is_required(model, "staff_id"):
        staff_id = model.staff_id  # type: ignore[attr-defined]
        return Owner(literal("staff"), staff_id, "staff", staff_id)
    return None


def owned_by(model: type[MisRecord], kind: str) -> bool:
    """Whether some rows of the model may belong to a person of this kind."""
    owner = owner_of(model)
    return owner is not None and owner.fixed_kind in (kind, None)
