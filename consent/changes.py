"""The change of a connection in force: what the school is offered, and what it chose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from wtforms import SelectChoice

from authserver.domain import grants
from authserver.domain.audiences import Audience, audience_of
from authserver.domain.catalogue import Scope, default_catalogue
from authserver.domain.grants import PlannedChange, Restrictions, end_of_academic_year
from authserver.models.columns import utcnow
from authserver.models.grants import Grant
from consent.decisions import DecisionProblem, duration_of, expiry_from
from consent.forms import ChangeForm


@dataclass
class ChangeScreen:
    """Everything the change page shows, at each of its two steps."""

    grant: Grant
    audience: Audience
    form: ChangeForm
    error: str | None = None
    plan: PlannedChange | None = None

    @property
    def problems(self) -> list[str]:
        """Every message of a refused change, once each: the domain's, then each field's."""
        found = []
        if self.error:
            text = self.error[:1].upper() + self.error[1:]
            found.append(text if text.endswith(".") else text + ".")
        for form_field in self.form:
            found += [m for m in form_field.errors if isinstance(m, str) and m not in found]
        return found

    @property
    def application(self) -> Any:
        return self.grant.application

    @property
    def catalogue(self) -> Any:
        return default_catalogue()

    @property
    def today(self) -> dt.date:
        return utcnow().date()

    @property
    def end_of_year(self) -> dt.date:
        return (end_of_academic_year(self.today) - dt.timedelta(days=1)).date()

    @property
    def latest_day(self) -> dt.date:
        return grants.latest_end_day(self.today)

    def is_required(self, name: str) -> bool:
        return name in self.application.required_scopes

    @property
    def offered(self) -> list[Scope]:
        """What the school shares now and the optional scopes it may add, in catalogue order."""
        names = set(self.grant.scopes) | set(self.application.optional_scopes)
        return [scope for scope in self.catalogue if scope.name in names]

    @property
    def required(self) -> list[Scope]:
        return [s for s in self.offered if self.is_required(s.name)]

    @property
    def optional(self) -> list[Scope]:
        return [s for s in self.offered if not self.is_required(s.name)]

    def own_fields(self, scope: Scope) -> list[str]:
        """The details of an optional scope that no required scope shares anyway: only those
        can be left out."""
        if self.is_required(scope.name):
            return []
        needed = self.catalogue.fields_for([s.name for s in self.required])
        return [f for f in scope.fields if f not in needed]

    def pupils(self, restrictions: Restrictions) -> str:
        """Whom a grant's restrictions reach, in words."""
        if restrictions.is_whole_school:
            return "All pupils"
        return "Only " + ", ".join(
            self.audience.names(restrictions.group_ids, restrictions.class_ids)
        )

    @property
    def current_end(self) -> str:
        """When the connection ends now, in words."""
        if self.grant.expires_at is None:
            return "until you withdraw it"
        last = (self.grant.expires_at - dt.timedelta(days=1)).date()
        return f"until {last.day} {last:%B %Y} (the last day of sharing)"

    @property
    def current(self) -> Restrictions:
        return Restrictions.from_json(self.grant.restrictions)


def new_change_screen(grant: Grant, form: ChangeForm) -> ChangeScreen:
    """The change page of a connection, its form's choices set and, on the first visit, its
    values those of the connection as it is."""
    screen = ChangeScreen(grant, audience_of(grant.school_id), form)
    form.scopes.choices = [SelectChoice(s.name) for s in screen.offered]
    fields = sorted({f for s in screen.offered for f in screen.own_fields(s)})
    form.shared_fields.choices = [(f, f) for f in fields]
    form.group_ids.choices = list(screen.audience.year_groups)
    form.class_ids.choices = [
        c for items in screen.audience.classes_by_year.values() for c in items
    ]
    if not form.is_submitted():
        current = screen.current
        form.scopes.data = list(grant.scopes)
        form.shared_fields.data = [f for f in fields if f not in current.excluded_fields]
        if not current.is_whole_school:
            form.audience.data = "some"
            form.group_ids.data = list(current.group_ids)
            form.class_ids.data = list(current.class_ids)
        duration_of(grant, form)
    return screen


def terms_from(screen: ChangeScreen) -> tuple[list[str], Restrictions, dt.datetime | None]:
    """The scopes, restrictions and end the school chose on the form."""
    form = screen.form
    chosen = list(form.scopes.data or [])
    offered = {f for s in screen.offered if s.name in chosen for f in screen.own_fields(s)}
    left_out = offered - set(form.shared_fields.data or [])
    # Details left out earlier that the page no longer offers (their scope became required)
    # stay left out: only the school can give them back, and here it cannot see them.
    kept = {
        f
        for f in screen.current.excluded_fields
        if f not in {f for s in screen.offered for f in screen.own_fields(s)}
    }
    excluded = tuple(sorted(left_out | kept))
    expires_at = expiry_from(form)
    if form.audience.data == "some":
        groups, classes = form.group_ids.data or [], form.class_ids.data or []
        if not groups and not classes:
            raise DecisionProblem(
                "Choose at least one year group or class, or share for all pupils."
            )
        return chosen, Restrictions(tuple(groups), tuple(classes), excluded), expires_at
    return chosen, Restrictions(excluded_fields=excluded), expires_at
