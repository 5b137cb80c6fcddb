"""What a school token may see: which fields, of which entities, about which people.

A record about a person (a pupil's marks, a contact, a member of staff's contract) is seen
exactly when its owner is (authserver/models/mis/owners.py): a pupil the grant covers who has
not left, or left within ThreeYearHistory's window; a contact of such a pupil; a member of
staff in post, or who left within that window.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    Select,
    and_,
    exists,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased

from authserver.domain.catalogue import default_catalogue
from authserver.domain.grants import Restrictions
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.mis import ENTITIES, entity_fields
from authserver.models.mis.agencies import Agency, Agent, StudentAgent
from authserver.models.mis.assessment import ExamResult
from authserver.models.mis.base import MisRecord
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.owners import NO_PUPIL, owner_of
from authserver.models.mis.staff import Staff
from authserver.models.mis.structure import ClassMembership, GroupMembership
from authserver.models.mis.students import Student
from authserver.models.organisations import School

PUBLIC_ENTITIES = frozenset({"school"})
# A pupil who has left; only ThreeYearHistory shows them.
FORMER_PUPIL = "leaver"
HISTORY_SCOPE = "ThreeYearHistory"
#: The row rule of embargoed exam results, kept in a grant's view like a field.
EMBARGOED_RESULTS = "exam_result.*embargoed"
HISTORY_YEARS = 3
#: Each kind of agency's links to pupils (student_agent) sit behind their own scope.
AGENCY_LINK_SCOPES = {
    "medical": "StudentMedical",
    "social_services": "SocialServices",
    "other": "AgencyAgentOther",
}
#: The scope that brings each row rule's rows into view.
ROW_RULE_SCOPES = {
    EMBARGOED_RESULTS: "EmbargoedExamsResults",
    **{f"student_agent.*{kind}": scope for kind, scope in AGENCY_LINK_SCOPES.items()},
}


def rule_rows(rule: str) -> tuple[type[MisRecord], ColumnElement[bool]]:
    """The model and the SQL condition of the rows a row rule brings into view."""
    if rule == EMBARGOED_RESULTS:
        return ExamResult, ExamResult.embargoed.is_(True)
    kind = rule.removeprefix("student_agent.*")
    return StudentAgent, _agency_kind_is([kind])


def _agency_kind_is(kinds: list[str]) -> ColumnElement[bool]:
    return exists().where(
        Agent.id == StudentAgent.agent_id,
        Agency.id == Agent.agency_id,
        Agency.agency_type.in_(kinds),
    )


def history_window_start(today: dt.date) -> dt.date:
    """The first day ThreeYearHistory reaches back to: 1 September three academic years
    before the one `today` falls in (on 2 December 2026, 1 September 2023)."""
    year = today.year if today.month >= 9 else today.year - 1
    return dt.date(year - HISTORY_YEARS, 9, 1)


@dataclass(frozen=True)
class Disclosure:
    """Everything enforcement needs, worked out once per request from the token."""

    school_id: int
    scopes: frozenset[str]
    fields: frozenset[str]  # "entity.field" the token may read
    narrowing: Restrictions  # the groups and classes the grant covers (none: every pupil)
    # The earliest leaving date still shown (ThreeYearHistory); None: leavers are not shown.
    history_from: dt.date | None = None
    # The day the disclosure is for (ThreeYearHistory's window moves with it).
    today: dt.date = dt.date.min

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

    def pupil_stays(self, pupil: Any) -> ColumnElement[bool]:
        """Whether a pupil row is one the grant shows: on roll, or left within the window."""
        on_roll = or_(pupil.enrolment_status.is_(None), pupil.enrolment_status != FORMER_PUPIL)
        if self.history_from is None:
            return on_roll
        return or_(on_roll, pupil.leaving_date >= self.history_from)

    def staff_stays(self, member: Any) -> ColumnElement[bool]:
        """Whether a staff row is one the grant shows: in post, or left within the window."""
        in_post: ColumnElement[bool] = member.is_current.is_(True)
        if self.history_from is None:
            return in_post
        return or_(in_post, member.employment_end_date >= self.history_from)

    def pupil_visible(self, student_id: Any) -> ColumnElement[bool]:
        """Whether the pupil `student_id` is in view (NO_PUPIL: whole-school grants only)."""
        pupil = aliased(Student)
        named = exists().where(
            pupil.id == student_id,
            pupil.school_id == self.school_id,
            self.covers(pupil.id),
            self.pupil_stays(pupil),
        )
        if self.narrowing.is_whole_school:
            return or_(student_id == NO_PUPIL, named)
        return named

    def staff_visible(self, staff_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
        """Whether the member of staff `staff_id` is in view."""
        member = aliased(Staff)
        return exists().where(
            member.id == staff_id, member.school_id == self.school_id, self.staff_stays(member)
        )

    def contact_visible(self, contact_id: ColumnExpressionArgument[int]) -> ColumnElement[bool]:
        """Whether the contact `contact_id` is in view: a contact of some pupil in view."""
        link = aliased(StudentContact)
        return exists().where(
            link.contact_id == contact_id,
            link.school_id == self.school_id,
            self.pupil_visible(link.student_id),
        )

    def person_visible(
        self, kind: ColumnElement[str], person_id: ColumnExpressionArgument[int]
    ) -> ColumnElement[bool]:
        """Whether the person (of a kind given as SQL) is in view."""
        return or_(
            and_(kind == "student", self.pupil_visible(person_id)),
            and_(kind == "contact", self.contact_visible(person_id)),
            and_(kind == "staff", self.staff_visible(person_id)),
        )

    def people_in_view(self, kind: str) -> Select[Any]:
        """The ids of the school's people of one kind in view (for a grant's view ledger)."""
        if kind == "student":
            return select(Student.id).where(
                Student.school_id == self.school_id,
                self.covers(Student.id),
                self.pupil_stays(Student),
            )
        if kind == "contact":
            return select(Contact.id).where(
                Contact.school_id == self.school_id, self.contact_visible(Contact.id)
            )
        if kind == "staff":
            return select(Staff.id).where(
                Staff.school_id == self.school_id, self.staff_stays(Staff)
            )
        raise ValueError(f"no such kind of person: {kind}")

    def pupil_ids(self) -> frozenset[int]:
        """The pupils in view, loaded: those the grant covers, on roll or left within the
        window (a writeback may name only them)."""
        return frozenset(db.session.scalars(self.people_in_view("student")))

    @property
    def row_rules(self) -> frozenset[str]:
        """The row rules whose rows are in view, named like fields (for a grant's view
        ledger): results under embargo, and each kind of agency's links to pupils."""
        rules = {name for name, scope in ROW_RULE_SCOPES.items() if scope in self.scopes}
        return frozenset(rules)


def disclosure_for(
    *,
    school_id: int,
    scopes: Iterable[str],
    restrictions: dict | None,
    today: dt.date | None = None,
) -> Disclosure:
    """The disclosure of a token's scopes and its grant's restrictions at one school."""
    narrowing = Restrictions.from_json(restrictions)
    granted, fields = _granted_fields(frozenset(scopes), narrowing.excluded_fields)
    today = today or utcnow().date()
    history_from = history_window_start(today) if HISTORY_SCOPE in granted else None
    return Disclosure(school_id, granted, fields, narrowing, history_from, today)


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
    """Narrow a query of `entity` to the school, the people in view (see the module's
    docstring), and the rows its scopes allow (embargoed exam results)."""
    if entity == "school":
        return query.where(School.id == disclosure.school_id)
    model = _mis_model(entity)
    query = query.where(model.school_id == disclosure.school_id)
    if entity == "exam_result" and EMBARGOED_RESULTS not in disclosure.row_rules:
        query = query.where(ExamResult.embargoed.is_(False))
    if entity == "student_agent":
        kinds = [k for k, scope in AGENCY_LINK_SCOPES.items() if scope in disclosure.scopes]
        query = query.where(_agency_kind_is(kinds))
    owner = owner_of(model)
    if owner is None:
        return query  # structure and school data are about no one in particular
    if owner.fixed_kind == "student":
        if model is Student:
            return query.where(disclosure.covers(Student.id), disclosure.pupil_stays(Student))
        return query.where(disclosure.pupil_visible(owner.person_id))
    if owner.fixed_kind == "contact":
        return query.where(disclosure.contact_visible(owner.person_id))
    if owner.fixed_kind == "staff":
        if model is Staff:
            return query.where(disclosure.staff_stays(Staff))
        return query.where(disclosure.staff_visible(owner.person_id))
    return query.where(disclosure.person_visible(owner.kind, owner.person_id))


def _mis_model(entity: str) -> type[MisRecord]:
    model = ENTITIES[entity]
    if not issubclass(model, MisRecord):
        raise TypeError(f"{entity} is not an MIS entity")
    return model
