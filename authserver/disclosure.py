"""What a school token may see: which fields, of which entities, about which pupils."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, false, or_, select

from authserver.catalogue import default_catalogue
from authserver.extensions import db
from authserver.grants import Restrictions
from authserver.models.mis import ENTITIES, entity_fields
from authserver.models.mis.catering import CashlessAccount
from authserver.models.mis.contacts import StudentContact
from authserver.models.mis.structure import ClassMembership, GroupMembership

PUBLIC_ENTITIES = frozenset({"school"})
# A pupil who has left; only ThreeYearHistory shows them.
FORMER_PUPIL = "leaver"


@dataclass(frozen=True)
class Disclosure:
    """Everything enforcement needs, worked out once per request from the token."""

    school_id: int
    scopes: frozenset[str]
    fields: frozenset[str]  # "entity.field" the token may read
    student_ids: frozenset[int] | None  # None: every pupil of the school

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


def disclosure_for(
    *, school_id: int, scopes: Iterable[str], restrictions: dict | None
) -> Disclosure:
    """The disclosure of a token's scopes and its grant's restrictions at one school."""
    catalogue = default_catalogue()
    granted = frozenset(s for s in scopes if s in catalogue)
    read_scopes = [s for s in granted if catalogue[s].kind == "read"]
    narrowing = Restrictions.from_json(restrictions)
    fields = frozenset(catalogue.fields_for(read_scopes) - set(narrowing.excluded_fields))
    return Disclosure(school_id, granted, fields, _students_in(school_id, narrowing))


def _students_in(school_id: int, narrowing: Restrictions) -> frozenset[int] | None:
    if narrowing.is_whole_school:
        return None
    chosen: set[int] = set()
    if narrowing.group_ids:
        chosen.update(
            db.session.scalars(
                select(GroupMembership.student_id).where(
                    GroupMembership.school_id == school_id,
                    GroupMembership.group_id.in_(narrowing.group_ids),
                )
            )
        )
    if narrowing.class_ids:
        chosen.update(
            db.session.scalars(
                select(ClassMembership.student_id).where(
                    ClassMembership.school_id == school_id,
                    ClassMembership.class_id.in_(narrowing.class_ids),
                )
            )
        )
    return frozenset(chosen)


def rows_visible(disclosure: Disclosure, entity: str, query: Select) -> Select:
    """Narrow a query of `entity` to the school, the pupils the grant covers, and the rows its
    scopes allow (embargoed exam results, former pupils)."""
    model = ENTITIES[entity]
    if entity == "school":
        return query.where(model.id == disclosure.school_id)
    query = query.where(model.school_id == disclosure.school_id)
    if entity == "exam_result" and "EmbargoedExamsResults" not in disclosure.scopes:
        query = query.where(model.embargoed.is_(False))
    if entity == "student" and "ThreeYearHistory" not in disclosure.scopes:
        query = query.where(
            or_(model.enrolment_status.is_(None), model.enrolment_status != FORMER_PUPIL)
        )
    pupils = disclosure.student_ids
    if pupils is None:
        return query
    return _only_pupils(entity, model, query, pupils)


def _only_pupils(entity: str, model: type, query: Select, pupils: frozenset[int]) -> Select:
    linked_contacts = select(StudentContact.contact_id).where(StudentContact.student_id.in_(pupils))
    if entity == "student":
        return query.where(model.id.in_(pupils) if pupils else false())
    if hasattr(model, "student_id"):
        return query.where(model.student_id.in_(pupils) if pupils else false())
    if entity == "contact":
        return query.where(model.id.in_(linked_contacts) if pupils else false())
    if entity == "cashless_transaction":
        accounts = select(CashlessAccount.id).where(CashlessAccount.student_id.in_(pupils))
        return query.where(model.account_id.in_(accounts) if pupils else false())
    if entity == "photo":
        return query.where(
            or_(
                model.person_type == "staff",
                (model.person_type == "student") & model.person_id.in_(pupils),
                (model.person_type == "contact") & model.person_id.in_(linked_contacts),
            )
        )
    return query  # structure, staff and school data are not about particular pupils
