"""Whom a school can narrow a grant to: its year groups and classes, from its MIS data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from authserver.extensions import db
from authserver.models.mis.structure import Group, TeachingClass

YEAR_GROUP = "year"


@dataclass(frozen=True)
class Audience:
    """The groups a consent screen offers: year groups, and classes by year."""

    year_groups: list[tuple[int, str]] = field(default_factory=list)
    classes_by_year: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    @property
    def group_ids(self) -> set[int]:
        return {group_id for group_id, _ in self.year_groups}

    @property
    def class_ids(self) -> set[int]:
        return {cid for classes in self.classes_by_year.values() for cid, _ in classes}

    def names(self, group_ids: Iterable[int], class_ids: Iterable[int]) -> list[str]:
        """Readable names of the chosen groups and classes, for summaries."""
        groups = dict(self.year_groups)
        classes = {cid: name for items in self.classes_by_year.values() for cid, name in items}
        return [groups[g] for g in group_ids if g in groups] + [
            classes[c] for c in class_ids if c in classes
        ]


def _year_order(nc_year: str | None) -> tuple[int, str]:
    # Reception ("R") first, then years 1 to 13 as numbers, then anything else.
    if nc_year == "R":
        return (0, "")
    if nc_year and nc_year.isdigit():
        return (int(nc_year), "")
    return (99, nc_year or "")


def audience_of(school_id: int) -> Audience:
    """The school's year groups and classes, in school order."""
    years = db.session.execute(
        select(Group.id, Group.name, Group.nc_year).where(
            Group.school_id == school_id, Group.type == YEAR_GROUP
        )
    ).all()
    classes = db.session.execute(
        select(TeachingClass.id, TeachingClass.name, TeachingClass.nc_year).where(
            TeachingClass.school_id == school_id
        )
    ).all()
    by_year: dict[str, list[tuple[int, str]]] = {}
    for class_id, name, nc_year in sorted(classes, key=lambda c: (_year_order(c[2]), c[1])):
        label = f"Year {nc_year}" if nc_year and nc_year != "R" else (nc_year and "Reception")
        by_year.setdefault(label or "Other classes", []).append((class_id, name))
    return Audience(
        year_groups=[(g, name) for g, name, year in sorted(years, key=lambda y: _year_order(y[2]))],
        classes_by_year=by_year,
    )
