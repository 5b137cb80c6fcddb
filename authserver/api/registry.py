"""The resource API's one list of resources: for each, its URL name, model, scopes and fields,
includes and filters. The endpoints serve from it and the OpenAPI document describes it."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from authserver.domain.catalogue import default_catalogue
from authserver.models.mis import ENTITIES, entity_fields
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.structure import ClassMembership, Group, GroupMembership, TeachingClass

#: The query filters every collection takes.
FILTERS = ("limit", "cursor", "updated_after")

_PLURALS = {
    "staff": "staff",
    "staff_pay": "staff-pay",
    "staff_next_of_kin": "staff-next-of-kin",
    "class": "classes",
    "agency": "agencies",
    "staff_disability": "staff-disabilities",
    "attendance_summary": "attendance-summaries",
    "enrolment_history": "enrolment-histories",
    "school_history": "school-histories",
    "post16_study": "post16-studies",
    "school_info": "school-info",
    "endpoint_info": "endpoint-info",
    "funding_monitoring": "funding-monitoring",
}


def resource_name(entity: str) -> str:
    """The URL name of an entity's collection (`student` is /students)."""
    return _PLURALS.get(entity) or entity.replace("_", "-") + "s"


class IncludeKind(enum.Enum):
    """How an included record is found from the records of the page."""

    LINKED = "linked"  # through a link table: a pupil's contacts, classes, groups
    CHILDREN = "children"  # records with the pupil's student_id
    PARENT = "parent"  # the pupil a record belongs to (one, or null if not visible)


@dataclass(frozen=True)
class Include:
    """Related records embedded with `include=<name>`, each checked like the main resource."""

    entity: str
    kind: IncludeKind
    # LINKED: the link table and its column that names the included record.
    link: Any = None
    link_column: Any = None


@dataclass(frozen=True)
class Resource:
    """One collection under /api/v1 and the records it serves."""

    name: str
    entity: str
    model: Any
    includes: Mapping[str, Include] = field(default_factory=dict)
    filters: tuple[str, ...] = FILTERS

    @property
    def fields(self) -> tuple[str, ...]:
        """Every field a grant may reveal (the catalogue's, through the model's columns)."""
        return tuple(entity_fields(self.entity))

    def read_scopes(self) -> list[str]:
        """The scopes, any one of which unlocks some of this resource (deprecated ones aside)."""
        scopes = default_catalogue().scopes_for_entity(self.entity)
        return [s.name for s in scopes if not s.deprecated]


_LINKED = {
    "contacts": Include(
        Contact.__entity__, IncludeKind.LINKED, StudentContact, StudentContact.contact_id
    ),
    "classes": Include(
        TeachingClass.__entity__, IncludeKind.LINKED, ClassMembership, ClassMembership.class_id
    ),
    "groups": Include(
        Group.__entity__, IncludeKind.LINKED, GroupMembership, GroupMembership.group_id
    ),
}


def _includes(entity: str) -> Mapping[str, Include]:
    if entity == "student":
        found = dict(_LINKED)
        for child, model in ENTITIES.items():
            name = resource_name(child)
            if child != "school" and name not in found and hasattr(model, "student_id"):
                found[name] = Include(child, IncludeKind.CHILDREN)
        return MappingProxyType(found)
    if hasattr(ENTITIES[entity], "student_id"):
        return MappingProxyType({"student": Include("student", IncludeKind.PARENT)})
    return MappingProxyType({})


#: Every collection by URL name; the school itself is served at /school, outside them.
RESOURCES: Mapping[str, Resource] = MappingProxyType(
    {
        resource_name(entity): Resource(resource_name(entity), entity, model, _includes(entity))
        for entity, model in ENTITIES.items()
        if entity != "school"
    }
)
