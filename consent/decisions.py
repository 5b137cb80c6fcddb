"""The consent screen's logic, shared by the OAuth redirect and the dashboard's requests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from wtforms import SelectChoice

from authserver import receipts
from authserver.domain import grants, vendors
from authserver.domain.audiences import Audience, audience_of
from authserver.domain.catalogue import Scope, default_catalogue
from authserver.domain.grants import Restrictions, ScopeChoice, end_of_academic_year
from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.columns import utcnow
from authserver.models.grants import AccessRequest, Grant
from authserver.models.organisations import School
from authserver.models.users import User
from consent.factor_checks import step_up_due
from consent.forms import DecisionForm


@dataclass
class ConsentScreen:
    """Everything the consent template shows."""

    application: Application
    school: School | None
    schools: list[School]
    choice: ScopeChoice
    audience: Audience
    grant: Grant | None
    form: DecisionForm
    error: str | None = None

    @property
    def end_of_year(self) -> dt.date:
        """The last day of the academic year, for the duration choice."""
        return (end_of_academic_year(utcnow().date()) - dt.timedelta(days=1)).date()

    @property
    def today(self) -> dt.date:
        return utcnow().date()

    @property
    def latest_day(self) -> dt.date:
        """The furthest end date the school may choose."""
        return grants.latest_end_day(self.today)

    @property
    def catalogue(self) -> Any:
        return default_catalogue()

    def grouped(self, names: list[str]) -> dict[str, list[Scope]]:
        """Data scopes by category, in catalogue order (sign-in scopes have their own part)."""
        groups: dict[str, list[Scope]] = {}
        for name in names:
            scope = self.catalogue[name]
            if not scope.is_sign_in:
                groups.setdefault(scope.category, []).append(scope)
        return groups

    def sign_in(self, names: list[str]) -> list[Scope]:
        """The sign-in scopes among these names, in catalogue order."""
        return [self.catalogue[name] for name in names if self.catalogue[name].is_sign_in]

    @property
    def asks_for_sign_in(self) -> bool:
        """Whether the request asks to sign the school's people in (shown as its own part)."""
        return bool(self.sign_in([*self.choice.required, *self.choice.optional]))

    def optional_only_fields(self, scope: Scope) -> list[str]:
        """The fields of an optional scope that no required scope already shares."""
        needed = self.catalogue.fields_for([*self.choice.required, *self.choice.already_approved])
        return [f for f in scope.fields if f not in needed]

    @property
    def sensitive_requested(self) -> bool:
        return any(
            self.catalogue[name].sensitive
            for name in [*self.choice.required, *self.choice.optional]
        )


def prepare(form: DecisionForm, screen: ConsentScreen) -> None:
    """Set the form's choices from the request, and its defaults from any earlier decision."""
    form.optional_scopes.choices = [SelectChoice(name) for name in screen.choice.optional]
    shared = sorted(
        {
            f
            for name in screen.choice.optional
            for f in screen.optional_only_fields(default_catalogue()[name])
        }
    )
    form.shared_fields.choices = [(f, f) for f in shared]
    form.group_ids.choices = list(screen.audience.year_groups)
    form.class_ids.choices = [
        c for items in screen.audience.classes_by_year.values() for c in items
    ]
    if not form.is_submitted():
        form.shared_fields.data = shared  # every detail shared unless the school unticks it
        duration_of(screen.grant, form)
        earlier = Restrictions.from_json(screen.grant.restrictions if screen.grant else None)
        if screen.grant is not None and screen.grant.is_in_force() and not earlier.is_whole_school:
            form.audience.data = "some"
            form.group_ids.data = list(earlier.group_ids)
            form.class_ids.data = list(earlier.class_ids)


class DecisionProblem(ValueError):
    """The decision form is filled in a way we cannot act on; the message says how to fix it."""


def restrictions_from(form: DecisionForm, screen: ConsentScreen) -> Restrictions:
    """The narrowing the school chose: some pupils only, and details of optional scopes left out."""
    chosen = form.optional_scopes.data or []
    catalogue = default_catalogue()
    offered = {f for name in chosen for f in screen.optional_only_fields(catalogue[name])}
    left_out = offered - set(form.shared_fields.data or [])
    earlier = Restrictions.from_json(screen.grant.restrictions if screen.grant else None)
    kept = set(earlier.excluded_fields) if screen.choice.already_approved else set()
    if form.audience.data == "some":
        groups, classes = form.group_ids.data or [], form.class_ids.data or []
        if not groups and not classes:
            raise DecisionProblem(
                "Choose at least one year group or class, or share for all pupils."
            )
        return Restrictions(tuple(groups), tuple(classes), tuple(sorted(left_out | kept)))
    return Restrictions(excluded_fields=tuple(sorted(left_out | kept)))


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d %B %Y", "%d %b %Y")


def parse_day(text: str | None) -> dt.date | None:
    """A date as a browser's date box sends it (2027-07-31) or as a person types it
    (31/07/2027, 31 July 2027); None when it is none of these."""
    text = " ".join((text or "").split())
    for pattern in DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, pattern).date()  # noqa: DTZ007 (a day, no time)
        except ValueError:
            continue
    return None


def expiry_from(form: Any, today: dt.date | None = None) -> dt.datetime | None:
    """When the school's consent ends, if it chose an end (`form` has `duration` and
    `end_date`); a date that cannot be used is a DecisionProblem, also shown by the field."""
    today = today or utcnow().date()
    if form.duration.data == "end_of_year":
        return end_of_academic_year(today)
    if form.duration.data != "on_date":
        return None
    day = parse_day(form.end_date.data)
    if day is None:
        problem = "Enter the end date as a date, such as 31/07/2027."
        if not (form.end_date.data or "").strip():
            problem = "Enter the date the sharing should end, or choose another option."
        form.end_date.errors = [problem]
        raise DecisionProblem(problem)
    try:
        return grants.consent_ends_on(day, today=today)
    except grants.ConsentError as refusal:
        problem = str(refusal)[:1].upper() + str(refusal)[1:] + "."
        form.end_date.errors = [problem]
        raise DecisionProblem(problem) from None


def duration_of(grant: Grant | None, form: Any) -> None:
    """Set the duration choice from a grant's end: the end of the academic year, or its date."""
    if grant is None or not grant.is_in_force() or grant.expires_at is None:
        return
    if grant.expires_at == end_of_academic_year(utcnow().date()):
        form.duration.data = "end_of_year"
    else:
        form.duration.data = "on_date"
        form.end_date.data = (grant.expires_at - dt.timedelta(days=1)).date().isoformat()


def new_screen(
    application: Application,
    school: School | None,
    schools: list[School],
    choice: ScopeChoice,
    grant: Grant | None,
    form: DecisionForm,
) -> ConsentScreen:
    """A consent screen for this request at this school, with its form prepared."""
    audience = audience_of(school.id) if school is not None else Audience()
    screen = ConsentScreen(application, school, schools, choice, audience, grant, form)
    prepare(form, screen)
    return screen


def scopes_being_approved(screen: ConsentScreen) -> list[str]:
    """The scopes an approval of the screen's form would newly share."""
    return [*screen.choice.required, *(screen.form.optional_scopes.data or [])]


def approve_as_decided(
    screen: ConsentScreen, approver: User, request: AccessRequest | None = None
) -> Grant | None:
    """Approve what the form says; on a refusal the screen shows why and nothing is kept.
    Special-category data is refused here without a fresh second-factor check, whatever the
    page showed (the views ask for it first: consent.factor_checks.step_up)."""
    form = screen.form
    if step_up_due(scopes_being_approved(screen)):
        screen.error = (
            "Approving special-category data needs a fresh code from your authenticator app. "
            "Approve again to be asked for it."
        )
        return None
    try:
        grant = grants.approve(
            screen.application,
            screen.school,
            approver=approver,
            choice=screen.choice,
            optional_scopes=form.optional_scopes.data or [],
            restrictions=restrictions_from(form, screen),
            expires_at=expiry_from(form),
            request=request,
        )
    except (grants.ConsentError, DecisionProblem, vendors.NotVerified) as refusal:
        db.session.rollback()
        screen.error = str(refusal)
        return None
    receipts.keep(grant, decision=receipts.Decision.APPROVED, by=approver)
    return grant
