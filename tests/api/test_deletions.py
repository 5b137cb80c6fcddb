"""The deletions feed: a signed cursor that loses and repeats nothing, the grant's narrowing,
and a tombstone for every way a record leaves a vendor's view."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from authserver.domain import grants
from authserver.domain.disclosure import history_window_start
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.photos import Photo
from authserver.models.mis.staff import Staff, StaffContract, StaffRole
from authserver.models.mis.students import Student
from tests.api.school_view import SCOPES, SchoolWorld, Vendor

STAFF_SCOPES = ["Staff", "StaffContractual", "Photos", "ThreeYearHistory"]
WITHOUT_HISTORY = [s for s in STAFF_SCOPES if s != "ThreeYearHistory"]
#: What hangs off a member of staff here, by resource: their row, and records they own.
STAFF_RECORDS = ("staff", "staff-contracts", "staff-roles", "photos")


@pytest.fixture
def world(app, client, make_school, make_user, make_app) -> SchoolWorld:
    application, secret = make_app(
        name="Mirror", required={}, optional={s: "For the tests." for s in SCOPES}
    )
    world = SchoolWorld(app, client, make_school, make_user, application, secret)
    for index in (0, 0, 1, 1):
        world.add_pupil(index)
    for pupil in world.ids(Student):
        world.add_contact(pupil)
        world.add_mark(pupil, 0, "AM")
        world.add_mark(pupil, 0, "PM")
    world.decide()
    return world


def feed(vendor: Vendor, token: str, since: dt.datetime, limit: int) -> list[dict]:
    entries, query = [], {"updated_after": since.isoformat()}
    while True:
        body = vendor.get("deletions", token, limit=limit, **query).get_json()
        entries += body["data"]
        if not body["next"]:
            return entries
        query = {"cursor": body["next"]}


def test_a_cascade_pages_completely_whatever_the_page_size(world) -> None:
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    since = dt.datetime.now(dt.UTC)
    for pupil in world.ids(Student)[:2]:
        world.delete(Student, pupil)  # each takes its marks, links and memberships with it
    token = world.token()
    everything = feed(vendor, token, since, 1000)
    assert len(everything) >= 2 * (1 + 2 + 1 + 1)  # pupil, marks, contact link, membership
    # Many share a moment: paging must not lose or repeat any.
    assert len({e["deleted_at"] for e in everything}) < len(everything)
    for size in (1, 2, 3, 7):
        assert feed(vendor, token, since, size) == everything


def test_every_page_says_where_the_next_sync_starts(app, world) -> None:
    """`sync_from` on each page of a list and of the feed, written as the API writes moments:
    the moment less the skew (30 seconds unless set otherwise), or before the start of a write
    to the school's data still under way, less the skew."""
    from authserver.domain.encoding import iso_datetime
    from authserver.extensions import db
    from authserver.models.sync import SyncKind, SyncRun, SyncState

    vendor, token = Vendor(world), world.token()
    skew = dt.timedelta(seconds=30)
    before = dt.datetime.now(dt.UTC)
    page = vendor.get("students", token, limit=1).get_json()
    assert before - skew <= dt.datetime.fromisoformat(page["sync_from"])
    assert dt.datetime.fromisoformat(page["sync_from"]) <= dt.datetime.now(dt.UTC) - skew
    assert page["sync_from"] == iso_datetime(dt.datetime.fromisoformat(page["sync_from"]))
    writing = before - dt.timedelta(minutes=5)
    with app.app_context():
        db.session.add(
            SyncRun(
                school_id=world.school_id,
                kind=SyncKind.CHANGES,
                state=SyncState.RUNNING,
                writing_since=writing,
            )
        )
        db.session.commit()
    for path, query in [
        ("students", {"limit": 1, "cursor": page["next"]}),
        ("session-marks", {"updated_after": before.isoformat()}),
        ("deletions", {"updated_after": before.isoformat()}),
    ]:
        body = vendor.get(path, token, **query).get_json()
        assert body["sync_from"] == iso_datetime(writing - skew), path


def test_the_feed_needs_a_start_and_refuses_a_forged_or_foreign_cursor(world) -> None:
    vendor, token = Vendor(world), world.token()
    assert vendor.get("deletions", token).status_code == 400
    assert vendor.get("deletions", token, cursor="forged").status_code == 400
    page = vendor.get("students", token, limit=1).get_json()
    refused = vendor.get("deletions", token, cursor=page["next"])  # a list's cursor
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_request"


def test_a_narrowed_grant_is_not_told_of_other_pupils_deletions(world) -> None:
    year7, _ = world.groups
    world.decide(restrictions=grants.Restrictions(group_ids=(year7,)))
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    since = dt.datetime.now(dt.UTC)
    year8_pupil = world.ids(Student)[-1]
    world.delete(Student, year8_pupil)
    entries = feed(vendor, world.token(), since, 100)
    assert entries == []


def test_a_pupil_leaving_the_covered_groups_takes_their_records_out(world) -> None:
    year7, _ = world.groups
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    world.decide(restrictions=grants.Restrictions(group_ids=(year7,)))
    moved = world.ids(Student)[0]
    world.move_pupil(moved, 1)  # now in Year 8, which the grant does not cover
    vendor.sync(itertools.repeat(3))
    assert vendor.copy == world.allowed()
    assert moved not in vendor.copy["students"]
    assert all(m["student_id"] != moved for m in vendor.copy["session-marks"].values())
    world.move_pupil(moved, 0)  # and back: their records come back in the next sync
    vendor.sync(itertools.repeat(3))
    assert moved in vendor.copy["students"]
    assert vendor.copy == world.allowed()


def test_a_field_left_out_and_a_scope_withdrawn_are_each_in_the_feed(world) -> None:
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    since = dt.datetime.now(dt.UTC)
    world.decide(
        scopes=[s for s in SCOPES if s != "Attendance"],
        restrictions=grants.Restrictions(excluded_fields=("student.postcode",)),
    )
    entries = feed(vendor, world.token(), since, 100)
    assert {"resource": "students", "field": "postcode", "reason": "left_out"} in [
        {k: v for k, v in e.items() if k != "deleted_at"} for e in entries
    ]
    assert {"resource": "session-marks", "reason": "scope_withdrawn"} in [
        {k: v for k, v in e.items() if k != "deleted_at"} for e in entries
    ]
    vendor.sync(itertools.repeat(2))
    assert vendor.copy == world.allowed()
    # Restored, every pupil's record comes back with the field.
    world.decide(scopes=SCOPES, restrictions=grants.Restrictions())
    vendor.sync(itertools.repeat(2))
    assert vendor.copy == world.allowed()
    assert all("postcode" in s for s in vendor.copy["students"].values())


def test_leavers_and_their_records_need_three_year_history(world, monkeypatch) -> None:
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    recent, long_ago = world.ids(Student)[:2]
    world.pupil_leaves(recent, long_ago=False)
    world.pupil_leaves(long_ago, long_ago=True)
    vendor.sync(itertools.repeat(5))
    assert vendor.copy == world.allowed()
    assert recent in vendor.copy["students"]
    assert long_ago not in vendor.copy["students"]
    contacts_of = {
        link["contact_id"]
        for link in vendor.copy["student-contacts"].values()
        if link["student_id"] == long_ago
    }
    assert contacts_of == set()
    world.decide(scopes=[s for s in SCOPES if s != "ThreeYearHistory"])
    vendor.sync(itertools.repeat(5))
    assert recent not in vendor.copy["students"]
    assert vendor.copy == world.allowed()


def test_the_history_window_passing_takes_a_leaver_out(world, monkeypatch) -> None:
    import authserver.domain.disclosure as disclosure

    vendor = Vendor(world)
    recent = world.ids(Student)[0]
    world.pupil_leaves(recent, long_ago=False)
    vendor.sync(itertools.repeat(100))
    assert recent in vendor.copy["students"]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 366)
    monkeypatch.setattr(disclosure, "utcnow", lambda: later)
    world.today = later.date()
    vendor.sync(itertools.repeat(100))
    assert recent not in vendor.copy["students"]
    assert vendor.copy == world.allowed()


def test_a_contact_left_only_with_hidden_pupils_leaves_the_view(world) -> None:
    year7, _ = world.groups
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    world.decide(restrictions=grants.Restrictions(group_ids=(year7,)))
    vendor.sync(itertools.repeat(4))
    assert vendor.copy == world.allowed()
    year8_contacts = {c for c in world.ids(Contact) if c not in vendor.copy["contacts"]}
    assert len(year8_contacts) == 2
    # Linked to a Year 7 pupil too, a contact comes into view, old as its record is.
    world.link_contact(world.ids(Student)[0], min(year8_contacts))
    vendor.sync(itertools.repeat(4))
    assert min(year8_contacts) in vendor.copy["contacts"]
    assert vendor.copy == world.allowed()
    # ... and leaves it when that link is deleted.
    link = max(world.ids(StudentContact))
    world.delete(StudentContact, link)
    vendor.sync(itertools.repeat(4))
    assert min(year8_contacts) not in vendor.copy["contacts"]
    assert vendor.copy == world.allowed()


def test_a_deleted_mark_reaches_the_copy(world) -> None:
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    mark = world.ids(SessionMark)[0]
    world.delete(SessionMark, mark)
    vendor.sync(itertools.repeat(1))
    assert mark not in vendor.copy["session-marks"]
    assert vendor.copy == world.allowed()


def test_reconciling_is_skipped_only_while_no_one_could_have_moved(app, world) -> None:
    from sqlalchemy import func, select, update

    from authserver.domain import views
    from authserver.domain.disclosure import disclosure_for
    from authserver.extensions import db
    from authserver.models import Grant
    from authserver.models.views import ViewMember, ViewState

    later = dt.datetime.now(dt.UTC) + 2 * views.SETTLING
    with app.app_context():
        grant = db.session.get(Grant, world.grant_id)

        def reconcile(at: dt.datetime) -> None:
            own = disclosure_for(
                school_id=grant.school_id, scopes=grant.scopes, restrictions=grant.restrictions
            )
            views.reconcile(grant, own, now=at)
            db.session.commit()

        def still_in_view() -> int:
            return db.session.scalar(
                select(func.count(ViewMember.id)).where(
                    ViewMember.grant_id == grant.id, ViewMember.until.is_(None)
                )
            )

        reconcile(later)
        before = still_in_view()
        reconcile(later + dt.timedelta(hours=3))  # nothing changed: skipped
        assert db.session.get(ViewState, grant.id).reconciled_at == later
        # A pupil leaves, stamped after the last reconciliation: the next one sees it.
        pupil = world.ids(Student)[0]
        db.session.execute(
            update(Student)
            .where(Student.id == pupil)
            .values(enrolment_status="leaver", updated_at=later + dt.timedelta(minutes=1))
        )
        db.session.commit()
        reconcile(later + dt.timedelta(minutes=2))
        assert still_in_view() < before


def test_a_mark_moved_to_a_pupil_out_of_view_leaves_the_copy(world) -> None:
    """A register mark corrected onto the right pupil, in Year 8, which is not shared."""
    year7, _ = world.groups
    world.decide(restrictions=grants.Restrictions(group_ids=(year7,)))
    vendor = Vendor(world)
    vendor.sync(itertools.repeat(100))
    year7_pupil, year8_pupil = world.ids(Student)[0], world.ids(Student)[-1]
    mark = next(
        m for m, d in vendor.copy["session-marks"].items() if d["student_id"] == year7_pupil
    )
    world.change(SessionMark, mark, student_id=year8_pupil, date=dt.date(2026, 9, 9))
    vendor.sync(itertools.repeat(2))
    assert mark not in vendor.copy["session-marks"]
    assert vendor.copy == world.allowed()


def test_a_parent_of_a_leaver_only_is_served_only_with_three_year_history(world) -> None:
    pupil = world.ids(Student)[0]
    parent = min(world.ids(Contact))  # the first pupil's, linked to no one else
    world.pupil_leaves(pupil, long_ago=False)
    vendor = Vendor(world)
    assert vendor.get(f"contacts/{parent}", world.token()).status_code == 200
    world.decide(scopes=[s for s in SCOPES if s != "ThreeYearHistory"])
    token = world.token()
    assert vendor.get(f"contacts/{parent}", token).status_code == 404
    assert vendor.get(f"students/{pupil}", token, include="contacts").status_code == 404
    listed = vendor.get("contacts", token, limit=1000).get_json()["data"]
    assert parent not in {c["id"] for c in listed}


# --- Staff: former staff under ThreeYearHistory, and the records each member owns -----------


@pytest.fixture
def staff_world(app, client, make_school, make_user, make_app) -> SchoolWorld:
    application, secret = make_app(
        name="Staff Room", required={}, optional={s: "For the tests." for s in STAFF_SCOPES}
    )
    world = SchoolWorld(app, client, make_school, make_user, application, secret)
    world.decide(scopes=STAFF_SCOPES)
    return world


def add_staff(
    world: SchoolWorld, *, current: bool = True, left_on: dt.date | None = None
) -> dict[str, int]:
    """A member of staff with a contract, a role in it and a photograph: their ids."""
    with world.mis() as session:
        member = Staff(
            school_id=world.school_id,
            forename=f"Teacher{next(world.names)}",
            surname="Jones",
            is_current=current,
            employment_end_date=left_on,
        )
        session.add(member)
        session.flush()
        contract = StaffContract(school_id=world.school_id, staff_id=member.id, post="Teacher")
        session.add(contract)
        session.flush()
        role = StaffRole(
            school_id=world.school_id, staff_id=member.id, contract_id=contract.id, role="Tutor"
        )
        photo = Photo(
            school_id=world.school_id,
            person_type="staff",
            person_id=member.id,
            content_type="image/png",
            content="iVBORw0KGgo=",
        )
        session.add_all([role, photo])
        session.flush()
        return {
            "staff": member.id,
            "staff-contracts": contract.id,
            "staff-roles": role.id,
            "photos": photo.id,
        }


def whose_records_are_seen(
    vendor: Vendor, token: str, people: dict[str, dict[str, int]]
) -> dict[str, set[str]]:
    """For each member of staff, which of their records the vendor's lists hold."""
    listed: dict[str, set[int]] = {}
    for name in STAFF_RECORDS:
        ids, query = set(), {"limit": 2}
        while True:
            body = vendor.get(name, token, **query).get_json()
            ids |= {document["id"] for document in body["data"]}
            if not body["next"]:
                break
            query = {"limit": 2, "cursor": body["next"]}
        listed[name] = ids
    return {
        who: {name for name, record in records.items() if record in listed[name]}
        for who, records in people.items()
    }


def test_former_staff_and_their_records_are_seen_only_within_three_year_history(
    staff_world,
) -> None:
    world = staff_world
    start = history_window_start(world.today)
    people = {
        "current": add_staff(world),
        "left lately": add_staff(world, current=False, left_on=start + dt.timedelta(days=1)),
        "left long ago": add_staff(world, current=False, left_on=start - dt.timedelta(days=1)),
        "left, no date": add_staff(world, current=False),
    }
    everything, nothing = set(STAFF_RECORDS), set()
    vendor, token = Vendor(world), world.token()
    assert whose_records_are_seen(vendor, token, people) == {
        "current": everything,
        "left lately": everything,
        "left long ago": nothing,
        "left, no date": nothing,
    }
    for name, record in people["left long ago"].items():
        assert vendor.get(f"{name}/{record}", token).status_code == 404, name
    for name, record in people["left lately"].items():
        assert vendor.get(f"{name}/{record}", token).status_code == 200, name

    world.decide(scopes=WITHOUT_HISTORY)
    token = world.token()
    assert whose_records_are_seen(vendor, token, people) == {
        "current": everything,
        "left lately": nothing,
        "left long ago": nothing,
        "left, no date": nothing,
    }
    for name, record in people["left lately"].items():
        assert vendor.get(f"{name}/{record}", token).status_code == 404, name


def test_the_history_window_passing_takes_former_staff_and_their_records_out(
    staff_world, monkeypatch
) -> None:
    import authserver.domain.disclosure as disclosure

    world = staff_world
    start = history_window_start(world.today)
    people = {
        "current": add_staff(world),
        "left lately": add_staff(world, current=False, left_on=start + dt.timedelta(days=1)),
    }
    vendor, token = Vendor(world), world.token()
    assert whose_records_are_seen(vendor, token, people)["left lately"] == set(STAFF_RECORDS)
    since = dt.datetime.now(dt.UTC)
    later = since + dt.timedelta(days=3 * 366)
    monkeypatch.setattr(disclosure, "utcnow", lambda: later)
    told = {(e["resource"], e.get("id")) for e in feed(vendor, world.token(), since, 3)}
    assert told == set(people["left lately"].items())
    assert whose_records_are_seen(vendor, world.token(), people) == {
        "current": set(STAFF_RECORDS),
        "left lately": set(),
    }


@pytest.mark.parametrize("history", [False, True], ids=["without-history", "with-history"])
def test_a_member_of_staff_leaving_is_a_tombstone_for_each_of_their_records(
    staff_world, history
) -> None:
    world = staff_world
    if not history:
        world.decide(scopes=WITHOUT_HISTORY)
    people = {"leaving": add_staff(world), "staying": add_staff(world)}
    vendor = Vendor(world)
    assert whose_records_are_seen(vendor, world.token(), people) == {
        "leaving": set(STAFF_RECORDS),
        "staying": set(STAFF_RECORDS),
    }
    since = dt.datetime.now(dt.UTC)
    world.change(
        Staff, people["leaving"]["staff"], is_current=False, employment_end_date=world.today
    )
    told = {(e["resource"], e.get("id")) for e in feed(vendor, world.token(), since, 2)}
    seen = whose_records_are_seen(vendor, world.token(), people)
    if history:  # a member of staff who left this year is still within the window
        assert told == set()
        assert seen["leaving"] == set(STAFF_RECORDS)
    else:
        assert told == set(people["leaving"].items())
        assert seen == {"leaving": set(), "staying": set(STAFF_RECORDS)}


def test_a_record_deleted_with_its_member_of_staff_out_of_view_is_not_told(staff_world) -> None:
    world = staff_world
    start = history_window_start(world.today)
    current = add_staff(world)
    long_gone = add_staff(world, current=False, left_on=start - dt.timedelta(days=1))
    vendor = Vendor(world)
    whose_records_are_seen(vendor, world.token(), {"current": current})
    since = dt.datetime.now(dt.UTC)
    for records in (current, long_gone):
        world.delete(StaffRole, records["staff-roles"])
        world.delete(StaffContract, records["staff-contracts"])
    told = {(e["resource"], e.get("id")) for e in feed(vendor, world.token(), since, 100)}
    assert told == {
        ("staff-roles", current["staff-roles"]),
        ("staff-contracts", current["staff-contracts"]),
    }
