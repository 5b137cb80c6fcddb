"""What a school token may see: which fields, of which entities, about which pupils."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, ColumnExpressionArgument, Select, exists, or_, select, true

from authserver.domain.catalogue import default_catalogue
from authserver.domain.grants import Restrictions
from authserver.extensions import db
from authserver.models.mis import ENTITIES, entity_fields
from authserver.models.mis.assessment import ExamResult
from authserver.models.mis.base import MisRecord
from authserver.models.mis.catering import CashlessAccount, CashlessTransaction
from authserver.models.mis.contacts import StudentContact
from authserver.models.mis.photos import Photo
from authserver.models.mis.structure import ClassMembership, GroupMembership
from authserver.models.mis.students import Student
from authserver.models.organisations import School

PUBLIC_ENTITIES = frozenset({"school"})
# A pupil who has left; only ThreeYearHistory shows them.
FORMER_PUPIL = "leaver"


@dataclass(frozen=True)
class Disclosure:
    """Everything enforcement needs, worked out once per request from the token."""

    school_id: int
    scopes: frozenset[str]
    fields: frozenset[str]  # "entity.field" the token may read
    narrowing: Restrictions  # the groups and classes the grant covers (none: every pupil)

    def visible_fields(self, entity: str) -> list[str]:
        """The entity's fields this token may read, in model order."""
        if entity in PUBLIC_ENTITIES:
            return list(entity_fields(entity))
        return [f for f in entity_fields(entity) if f"{entity}.{f}" in self.fields]

    def scopes_for(self, entity: str) -> list[str]:
        """The read scopes that would unlock this entity (for insufficient_scope answers)."""
        return [s.name for s in default_catalogue().scopes_for_entity(entity) if not s.deprecated]

    def may_read(self, entity: str) -> bool:
        return entity in PUBLIC_ENTITIES or bool(self.visible_fields(entity))

    def covers(self, student_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
        """Whether the pupil `student_id` is one the grant covers, as SQL.

        A correlated EXISTS rather than `IN (pupils...)`: the database probes the pupil's own
        memberships by index, so one record costs a lookup and a year group no list.
        """
        conditions: list[ColumnElement[bool]] = []
        if self.narrowing.group_ids:
            conditions.append(
                exists().where(
                    GroupMembership.student_id == student_id,
                    GroupMembership.group_id.in_(self.narrowing.group_ids),
                )
            )
        if self.narrowing.class_ids:
            conditions.append(
                exists().where(
                    ClassMembership.student_id == student_id,
                    ClassMembership.class_id.in_(self.narrowing.class_ids),
                )
            )
        return or_(*conditions) if conditions else true()

    def pupil_ids(self) -> frozenset[int] | None:
        """The pupils the grant covers, loaded (None: every pupil of the school)."""
        if self.narrowing.is_whole_school:
            return None
        return frozenset(
            db.session.scalars(
                select(Student.id).where(
                    Student.school_id == self.school_id, self.covers(Student.id)
                )
            )
        )


def disclosure_for(
    *, school_id: int, scopes: Iterable[str], restrictions: dict | None
) -> Disclosure:
    """The disclosure of a token's scopes and its grant's restrictions at one school."""
    narrowing = Restrictions.from_json(restrictions)
    granted, fields = _granted_fields(frozenset(scopes), narrowing.excluded_fields)
    return Disclosure(school_id, granted, fields, narrowing)


@functools.lru_cache(maxsize=1024)
def _granted_fields(
    scopes: frozenset[str], excluded: tuple[str, ...]
) -> tuple[frozenset[str], frozenset[str]]:
    # The same few scope sets recur on every request of a sync: work them out once.
    catalogue = default_catalogue()
    granted = frozenset(s for s in scopes if s in catalogue)
    read_scopes = [s for s in granted if catalogue[s].kind == "read"]
    return granted, frozenset(catalogue.fields_for(read_scopes) - set(excluded))


def rows_visible(disclosure: Disclosure, entity: str, query: Select[Any]) -> Select[Any]:
    """Narrow a query of `entity` to the school, the pupils the grant covers, and the rows its
    scopes allow (embargoed exam results, former pupils)."""
    if entity == "school":
        return query.where(School.id == disclosure.school_id)
    model = _mis_model(entity)
    query = query.where(model.school_id == disclosure.school_id)
    if entity == "exam_result" and "EmbargoedExamsResults" not in disclosure.scopes:
        query = query.where(ExamResult.embargoed.is_(False))
    if entity == "student" and "ThreeYearHistory" not in disclosure.scopes:
        query = query.where(
            or_(Student.enrolment_status.is_(None), Student.enrolment_status != FORMER_PUPIL)
        )
    if disclosure.narrowing.is_whole_school:
        return query
    return _only_pupils(entity, model, query, disclosure)


def _mis_model(entity: str) -> type[MisRecord]:
    model = ENTITIES[entity]
    if not issubclass(model, MisRecord):
        raise TypeError(f"{entity} is not an MIS entity")
    return model


def _only_pupils(
    entity: str, model: type[MisRecord], query: Select[Any], disclosure: Disclosure
) -> Select[Any]:
    covers = disclosure.covers
    if entity == "student":
        return query.where(covers(model.id))
    student_id = getattr(model, "student_id", None)
    if student_id is not None:
        return query.where(covers(student_id))
    linked_contact = exists().where(
        StudentContact.contact_id == model.id, covers(StudentContact.student_id)
    )
    if entity == "contact":
        return query.where(linked_contact)
    if entity == "cashless_transaction":
        return query.where(
            exists().where(
                CashlessAccount.id == CashlessTransaction.account_id,
                covers(CashlessAccount.student_id),
            )
        )
    if entity == "photo":
        contact_photo = exists().where(
            StudentContact.contact_id == Photo.person_id, covers(StudentContact.student_id)
        )
        return query.where(
            or_(
                Photo.person_type == "staff",
                (Photo.person_type == "student") & covers(Photo.person_id),
                (Photo.person_type == "contact") & contact_photo,
            )
        )
    return query  # structure, staff and school data are not about particular pupils
