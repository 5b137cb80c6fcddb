"""A vendor's copy converges on exactly what the grant allows, whatever the school's MIS and
the school do between syncs: a Hypothesis state machine plays both, and a vendor that follows
docs/api.md ("Keeping a copy") with random page sizes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from authserver.domain import grants
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.students import Student
from tests.api.school_view import OPTIONAL_FIELDS, SCOPES, SchoolWorld, Vendor

pytestmark = pytest.mark.fuzz


@pytest.fixture
def app_settings() -> dict[str, object]:
    """No skew: `sync_from` is the very moment of the first page. The world changes between
    syncs, in this one thread, so no write is under way while the vendor reads; any skew would
    send again whatever changed just before, hiding what `updated_after` and the feed missed."""
    return {"SYNC_FROM_SKEW_SECONDS": 0}


# MIS changes drawn by the combined rule (each takes only `data`).
CHANGES = [
    "pupil_deleted",
    "pupil_moves",
    "pupil_leaves",
    "contact_linked_to_another_pupil",
    "contact_deleted",
    "contact_unlinked",
    "mark_deleted",
    "mark_corrected",
    "mark_moved_to_another_pupil",
    "school_narrows",
    "school_changes_scopes",
    "school_leaves_out",
]

# Scopes a school may withdraw here while the connection goes on (StudentLite stays).
WITHDRAWABLE = [s for s in SCOPES if s != "StudentLite"]


def test_a_vendors_copy_is_what_the_grant_allows_after_every_sync(
    app, client, make_school, make_user, make_app
) -> None:
    application, secret = make_app(
        name="Mirror", required={}, optional={s: "For the tests." for s in SCOPES}
    )

    class Mirror(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.world = SchoolWorld(app, client, make_school, make_user, application, secret)
            for index in (0, 1, 1):
                self.world.add_pupil(index)
            for pupil in self.world.ids(Student):
                self.world.add_contact(pupil)
            self.world.decide()
            self.vendor = Vendor(self.world)
            self.synced = False

        # --- The MIS ------------------------------------------------------------------------

        def pick(self, model, data):
            ids = self.world.ids(model)
            return data.draw(st.sampled_from(ids)) if ids else None

        @rule(group=st.integers(0, 1))
        def pupil_joins(self, group):
            self.world.add_pupil(group)

        @rule(data=st.data(), surname=st.sampled_from(["Jones", "Patel", "Nowak"]))
        def pupil_renamed(self, data, surname):
            if (pupil := self.pick(Student, data)) is not None:
                self.world.change(Student, pupil, surname=surname)

        @rule(data=st.data())
        def pupil_deleted(self, data):
            if (pupil := self.pick(Student, data)) is not None:
                self.world.delete(Student, pupil)

        @rule(data=st.data(), long_ago=st.booleans())
        def pupil_leaves(self, data, long_ago=None):
            long_ago = data.draw(st.booleans()) if long_ago is None else long_ago
            if (pupil := self.pick(Student, data)) is not None:
                self.world.pupil_leaves(pupil, long_ago=long_ago)

        @rule(data=st.data(), group=st.integers(0, 1))
        def pupil_moves_group(self, data, group):
            if (pupil := self.pick(Student, data)) is not None:
                self.world.move_pupil(pupil, group)

        @rule(data=st.data())
        def contact_added(self, data):
            if (pupil := self.pick(Student, data)) is not None:
                self.world.add_contact(pupil)

        @rule(data=st.data())
        def contact_linked_to_another_pupil(self, data):
            pupil, contact = self.pick(Student, data), self.pick(Contact, data)
            if pupil is not None and contact is not None:
                self.world.link_contact(pupil, contact)

        @rule(data=st.data(), postcode=st.sampled_from(["ZZ9 9ZZ", "AB1 2CD"]))
        def contact_changed(self, data, postcode):
            if (contact := self.pick(Contact, data)) is not None:
                self.world.change(Contact, contact, postcode=postcode)

        @rule(data=st.data())
        def contact_deleted(self, data):
            if (contact := self.pick(Contact, data)) is not None:
                self.world.delete(Contact, contact)

        @rule(data=st.data())
        def contact_unlinked(self, data):
            if (link := self.pick(StudentContact, data)) is not None:
                self.world.delete(StudentContact, link)

        @rule(data=st.data(), day=st.integers(0, 2), session=st.sampled_from(["AM", "PM"]))
        def mark_taken(self, data, day, session):
            if (pupil := self.pick(Student, data)) is not None:
                self.world.add_mark(pupil, day, session)

        @rule(data=st.data(), code=st.sampled_from(["/", "N", "L"]))
        def mark_corrected(self, data, code="N"):
            if (mark := self.pick(SessionMark, data)) is not None:
                self.world.change(SessionMark, mark, code=code)

        @rule(data=st.data())
        def mark_moved_to_another_pupil(self, data):
            mark, pupil = self.pick(SessionMark, data), self.pick(Student, data)
            if mark is not None and pupil is not None:
                self.world.move_mark(mark, pupil)

        @rule(data=st.data())
        def mark_deleted(self, data):
            if (mark := self.pick(SessionMark, data)) is not None:
                self.world.delete(SessionMark, mark)

        # --- The school's decisions -----------------------------------------------------------

        @precondition(lambda self: self.world.in_force)
        @rule(groups=st.sets(st.integers(0, 1)))
        def school_narrows_or_widens(self, groups):
            ids = tuple(self.world.groups[i] for i in sorted(groups))
            restrictions = grants.Restrictions(
                group_ids=ids, excluded_fields=self.world.restrictions.excluded_fields
            )
            self.world.decide(restrictions=restrictions)

        @precondition(lambda self: self.world.in_force)
        @rule(left_out=st.sets(st.sampled_from(OPTIONAL_FIELDS)))
        def school_leaves_out_fields(self, left_out):
            restrictions = grants.Restrictions(
                group_ids=self.world.restrictions.group_ids, excluded_fields=tuple(sorted(left_out))
            )
            self.world.decide(restrictions=restrictions)

        @precondition(lambda self: self.world.in_force)
        @rule(kept=st.sets(st.sampled_from(WITHDRAWABLE)))
        def school_changes_scopes(self, kept):
            if not isinstance(kept, set):  # called by the combined rule with its data
                if not self.world.in_force:
                    return
                kept = kept.draw(st.sets(st.sampled_from(WITHDRAWABLE)))
            scopes = ["StudentLite", *sorted(kept)]
            excluded = tuple(
                f
                for f in self.world.restrictions.excluded_fields
                if f in grants.visible_fields(scopes, grants.Restrictions())
            )
            self.world.decide(
                scopes=scopes,
                restrictions=grants.Restrictions(
                    group_ids=self.world.restrictions.group_ids, excluded_fields=excluded
                ),
            )

        @precondition(lambda self: self.world.in_force)
        @rule()
        def school_revokes(self):
            self.world.revoke()
            self.vendor.forget()  # as the connection.revoked webhook tells it to

        @precondition(lambda self: not self.world.in_force)
        @rule()
        def school_approves_again(self):
            self.world.decide(scopes=SCOPES, restrictions=grants.Restrictions())

        # Data-only forms for the combined rule.
        def pupil_moves(self, data):
            self.pupil_moves_group(data, data.draw(st.integers(0, 1)))

        def school_narrows(self, data):
            if self.world.in_force:
                self.school_narrows_or_widens(data.draw(st.sets(st.integers(0, 1))))

        def school_leaves_out(self, data):
            if self.world.in_force:
                self.school_leaves_out_fields(data.draw(st.sets(st.sampled_from(OPTIONAL_FIELDS))))

        # --- The vendor -----------------------------------------------------------------------

        @precondition(lambda self: self.world.in_force)
        @rule(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5))
        def vendor_syncs(self, sizes):
            self.vendor.sync(itertools.cycle(sizes))
            self.synced = True

        # Syncs are one rule among many: most steps also end with one, so that runs check
        # the copy often while still letting several changes pile up between some syncs.
        @precondition(lambda self: self.world.in_force)
        @rule(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5), changes=st.data())
        def something_changes_then_the_vendor_syncs(self, sizes, changes):
            step = changes.draw(st.sampled_from(CHANGES))
            getattr(self, step)(changes)
            if self.world.in_force:
                self.vendor.sync(itertools.cycle(sizes))
                self.synced = True

        @invariant()
        def the_copy_is_exactly_what_the_grant_allows(self):
            if self.synced:
                assert self.vendor.copy == self.world.allowed()
                self.synced = False

    Mirror.TestCase.settings = settings(
        max_examples=50,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    Mirror.TestCase().runTest()
