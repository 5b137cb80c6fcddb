"""A small school that tests change as its MIS would, a vendor that keeps a copy of it by the
procedure in docs/api.md ("Keeping a copy"), and what the grant allows, worked out on its own.

The expected view is computed here in plain Python from the MIS rows and the grant, not with
the server's queries, so that a mistake in either shows up as a difference.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from authserver.api.registry import resource_name
from authserver.domain import encoding, grants, school_secrets
from authserver.domain.catalogue import default_catalogue
from authserver.domain.disclosure import history_window_start
from authserver.extensions import db
from authserver.models import Application, Grant, School, User
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from authserver.models.mis import entity_fields
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.base import delete_record
from authserver.models.mis.contacts import Contact, StudentContact
from authserver.models.mis.structure import Group, GroupMembership
from authserver.models.mis.students import Student
from tests.oauth_flow import basic_auth

#: What the vendor copies, and the models behind them.
MODELS = {
    "students": Student,
    "contacts": Contact,
    "student-contacts": StudentContact,
    "group-memberships": GroupMembership,
    "session-marks": SessionMark,
}
SCOPES = [
    "StudentLite",
    "Address",
    "StudentDemographic",
    "Contact",
    "Attendance",
    "ThreeYearHistory",
]
#: Fields of optional scopes a school may leave out here.
OPTIONAL_FIELDS = ["student.postcode", "student.first_language", "contact.postcode"]


class SchoolWorld:
    """One school with two year groups, its MIS changes and its decisions about one app."""

    def __init__(self, app, client, make_school, make_user, application, secret) -> None:
        from authserver.models import Role

        self.app, self.client = app, client
        self.application_id, self.client_secret = application.id, secret
        self.client_id = application.client_id
        school = make_school()
        self.school_id = school.id
        self.admin_id = make_user(Role.SCHOOL_ADMIN, school=school, can_approve=True).id
        self.today = dt.datetime.now(dt.UTC).date()
        self.names = itertools.count(1)
        with self.mis() as session:
            self.groups = []
            for name in ("Year 7", "Year 8"):
                group = Group(school_id=self.school_id, name=name, type="year")
                session.add(group)
                session.flush()
                self.groups.append(group.id)
        self.grant_id: int | None = None
        self.scopes = list(SCOPES)
        self.restrictions = grants.Restrictions()
        self.school_secret: str | None = None

    # --- The MIS ---------------------------------------------------------------------------

    @contextmanager
    def mis(self) -> Iterator[Any]:
        """A session on the school's data; committed at the end, as an MIS import would."""
        with self.app.app_context():
            yield db.session
            db.session.commit()

    def ids(self, model: type) -> list[int]:
        with self.app.app_context():
            return list(
                db.session.scalars(
                    select(model.id).where(model.school_id == self.school_id).order_by(model.id)
                )
            )

    def add_pupil(self, group_index: int) -> None:
        with self.mis() as session:
            pupil = Student(
                school_id=self.school_id,
                forename=f"Pupil{next(self.names)}",
                surname="Smith",
                enrolment_status="current",
                postcode="AB1 2CD",
                first_language="English",
            )
            session.add(pupil)
            session.flush()
            session.add(
                GroupMembership(
                    school_id=self.school_id,
                    student_id=pupil.id,
                    group_id=self.groups[group_index],
                )
            )

    def change(self, model: type, record_id: int, **values: Any) -> None:
        with self.mis() as session:
            record = session.get(model, record_id)
            for name, value in values.items():
                setattr(record, name, value)

    def delete(self, model: type, record_id: int) -> None:
        with self.mis() as session:
            delete_record(session, session.get(model, record_id))

    def pupil_leaves(self, pupil_id: int, *, long_ago: bool) -> None:
        start = history_window_start(self.today)
        left_on = start - dt.timedelta(days=30) if long_ago else start + dt.timedelta(days=300)
        self.change(Student, pupil_id, enrolment_status="leaver", leaving_date=left_on)

    def move_pupil(self, pupil_id: int, group_index: int) -> None:
        with self.mis() as session:
            for membership in session.scalars(
                select(GroupMembership).where(GroupMembership.student_id == pupil_id)
            ):
                delete_record(session, membership)
            session.add(
                GroupMembership(
                    school_id=self.school_id,
                    student_id=pupil_id,
                    group_id=self.groups[group_index],
                )
            )

    def add_contact(self, pupil_id: int) -> None:
        with self.mis() as session:
            contact = Contact(
                school_id=self.school_id,
                forename=f"Parent{next(self.names)}",
                surname="Smith",
                postcode="AB1 2CD",
            )
            session.add(contact)
            session.flush()
            session.add(
                StudentContact(
                    school_id=self.school_id,
                    student_id=pupil_id,
                    contact_id=contact.id,
                    relationship="Parent",
                )
            )

    def link_contact(self, pupil_id: int, contact_id: int) -> None:
        with self.mis() as session:
            session.add(
                StudentContact(
                    school_id=self.school_id,
                    student_id=pupil_id,
                    contact_id=contact_id,
                    relationship="Carer",
                )
            )

    def add_mark(self, pupil_id: int, day: int, session_name: str) -> None:
        with self.mis() as session:
            exists = session.scalar(
                select(SessionMark.id).where(
                    SessionMark.student_id == pupil_id,
                    SessionMark.date == dt.date(2026, 9, 1) + dt.timedelta(days=day),
                    SessionMark.session == session_name,
                )
            )
            if exists is None:
                session.add(
                    SessionMark(
                        school_id=self.school_id,
                        student_id=pupil_id,
                        date=dt.date(2026, 9, 1) + dt.timedelta(days=day),
                        session=session_name,
                        code="/",
                    )
                )

    def move_mark(self, mark_id: int, pupil_id: int) -> None:
        """Correct a mark onto another pupil (on a day that pupil has no mark for)."""
        with self.mis() as session:
            mark = session.get(SessionMark, mark_id)
            taken = set(
                session.scalars(
                    select(SessionMark.date).where(
                        SessionMark.student_id == pupil_id, SessionMark.session == mark.session
                    )
                )
            )
            day = next(
                dt.date(2026, 10, 1) + dt.timedelta(days=n)
                for n in itertools.count()
                if dt.date(2026, 10, 1) + dt.timedelta(days=n) not in taken
            )
            mark.student_id, mark.date = pupil_id, day

    # --- The school's decisions -------------------------------------------------------------

    def decide(self, *, scopes: list[str] | None = None, restrictions=None) -> None:
        """Approve (first time) or change the connection in place, as the dashboard does."""
        scopes = self.scopes if scopes is None else scopes
        restrictions = self.restrictions if restrictions is None else restrictions
        with self.app.app_context():
            application = db.session.get(Application, self.application_id)
            school = db.session.get(School, self.school_id)
            admin = db.session.get(User, self.admin_id)
            grant = grants.find_grant(application, school)
            if grant is None or not grant.is_in_force():
                choice = grants.scope_choice(application, None, grant)
                grant = grants.approve(
                    application,
                    school,
                    approver=admin,
                    choice=choice,
                    optional_scopes=[s for s in choice.optional if s in scopes],
                    restrictions=restrictions,
                )
            else:
                # NothingChanged: the school saved what it already had.
                with contextlib.suppress(grants.NothingChanged):
                    grants.change(
                        grant,
                        by=admin,
                        scopes=scopes,
                        restrictions=restrictions,
                        expires_at=grant.expires_at,
                    )
            db.session.commit()
            self.grant_id = grant.id
        self.scopes, self.restrictions = list(scopes), restrictions
        self.school_secret = None  # a change may stop the secret: the vendor claims a new one

    def revoke(self) -> None:
        with self.app.app_context():
            grant = db.session.get(Grant, self.grant_id)
            grants.revoke(grant, by=db.session.get(User, self.admin_id))
            db.session.commit()
        self.school_secret = None

    @property
    def in_force(self) -> bool:
        with self.app.app_context():
            return self.grant_id is not None and db.session.get(Grant, self.grant_id).is_in_force()

    # --- Tokens -----------------------------------------------------------------------------

    def token(self) -> str:
        if self.school_secret is None:
            with self.app.app_context():
                grant = db.session.get(Grant, self.grant_id)
                application = db.session.get(Application, self.application_id)
                claimed = school_secrets.claim(grant, application, overlap_seconds=0)
                db.session.commit()
                self.school_secret = claimed.value
        response = self.client.post(
            "/oauth/token",
            data={
                "grant_type": SCHOOL_SECRET_GRANT_TYPE,
                "school_id": str(self.school_id),
                "school_secret": self.school_secret,
            },
            headers=basic_auth(self.client_id, self.client_secret),
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    # --- What the grant allows now, worked out independently ----------------------------------

    def allowed(self) -> dict[str, dict[int, dict[str, Any]]]:
        """Every record (as the API would send it) the grant lets the application hold now."""
        catalogue = default_catalogue()
        fields = catalogue.fields_for(self.scopes) - set(self.restrictions.excluded_fields)
        history = "ThreeYearHistory" in self.scopes
        window = history_window_start(self.today)
        with self.app.app_context():
            rows = {
                name: list(
                    db.session.scalars(select(model).where(model.school_id == self.school_id))
                )
                for name, model in MODELS.items()
            }
            memberships = rows["group-memberships"]
            covered_groups = set(self.restrictions.group_ids)

            def pupil_in_view(pupil: Student) -> bool:
                if covered_groups and not any(
                    m.student_id == pupil.id and m.group_id in covered_groups for m in memberships
                ):
                    return False
                if pupil.enrolment_status != "leaver":
                    return True
                return history and pupil.leaving_date is not None and pupil.leaving_date >= window

            pupils = {p.id for p in rows["students"] if pupil_in_view(p)}
            linked = {
                link.contact_id for link in rows["student-contacts"] if link.student_id in pupils
            }
            in_view = {
                "students": lambda r: r.id in pupils,
                "contacts": lambda r: r.id in linked,
                "student-contacts": lambda r: r.student_id in pupils,
                "group-memberships": lambda r: r.student_id in pupils,
                "session-marks": lambda r: r.student_id in pupils,
            }
            allowed: dict[str, dict[int, dict[str, Any]]] = {}
            for name, model in MODELS.items():
                entity = model.__entity__
                names = [f for f in entity_fields(entity) if f"{entity}.{f}" in fields]
                if not names:
                    allowed[name] = {}
                    continue
                allowed[name] = {
                    row.id: _as_sent(
                        {"id": row.id, "updated_at": row.updated_at}
                        | {f: getattr(row, f) for f in names}
                    )
                    for row in rows[name]
                    if in_view[name](row)
                }
            return allowed


def _as_sent(document: dict[str, Any]) -> dict[str, Any]:
    """The document as the API's JSON carries it."""
    return json.loads(encoding.dumps(document))


class Vendor:
    """A vendor keeping a copy by the documented procedure: deletions first, then each
    resource's changes, both since the `sync_from` of the last sync's first page (the server's
    moment: docs/api.md asks for no margin of the vendor's own)."""

    def __init__(self, world: SchoolWorld) -> None:
        self.world = world
        self.copy: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in MODELS}
        self.since: dt.datetime | None = None
        self.requests = 0
        # The school token, kept for as long as the school's decision stands (a token lasts
        # an hour: a vendor syncing often asks for one now and then, not every time).
        self._token: tuple[str | None, str] | None = None

    def forget(self) -> None:
        """On connection.revoked (or expired): delete everything, start again next time."""
        self.copy = {name: {} for name in MODELS}
        self.since = None

    def get(self, path: str, token: str, **query: Any) -> Any:
        self.requests += 1
        return self.world.client.get(
            f"/api/v1/{path}", query_string=query, headers={"Authorization": f"Bearer {token}"}
        )

    def token(self) -> str:
        """A school token: the one in hand while the school's secret stands, else a new one
        (the world makes a new secret whenever the school decides)."""
        secret = self.world.school_secret
        if secret is None or self._token is None or self._token[0] != secret:
            token = self.world.token()
            self._token = (self.world.school_secret, token)
        return self._token[1]

    def sync(self, page_sizes: Iterator[int]) -> None:
        token = self.token()
        sync_from = None
        if self.since is not None:
            sync_from = self._apply_deletions(token, page_sizes)
        for name in MODELS:
            query: dict[str, Any] = {}
            if self.since is not None:
                query["updated_after"] = self.since.isoformat()
            cursor = None
            while True:
                page = self.get(name, token, limit=next(page_sizes), cursor=cursor or "", **query)
                if page.status_code == 403:  # not shared (any more): the feed said to remove it
                    assert page.get_json()["error"] == "insufficient_scope"
                    break
                assert page.status_code == 200, (name, page.get_json())
                body = page.get_json()
                sync_from = sync_from or body["sync_from"]  # the first page's
                for document in body["data"]:
                    self.copy[name][document["id"]] = document
                cursor = body["next"]
                if not cursor:
                    break
        if sync_from is not None:
            self.since = dt.datetime.fromisoformat(sync_from)

    def _apply_deletions(self, token: str, page_sizes: Iterator[int]) -> str:
        """Read the feed since the last sync and apply it; the first page's `sync_from`."""
        query: dict[str, Any] = {"updated_after": self.since.isoformat()}
        seen: set[tuple] = set()
        sync_from = None
        while True:
            page = self.get("deletions", token, limit=next(page_sizes), **query)
            assert page.status_code == 200, page.get_json()
            body = page.get_json()
            sync_from = sync_from or body["sync_from"]
            for entry in body["data"]:
                key = tuple(sorted(entry.items()))
                assert key not in seen, f"the feed repeated {entry}"
                seen.add(key)
                self.remove(entry)
            if not body["next"]:
                return sync_from
            query = {"cursor": body["next"]}

    def remove(self, entry: dict[str, Any]) -> None:
        records = self.copy.get(entry["resource"])
        if records is None:
            return  # a resource this vendor does not copy
        if "id" in entry:
            records.pop(entry["id"], None)
        elif "field" in entry:
            for document in records.values():
                document.pop(entry["field"], None)
        else:
            records.clear()


def resource_of(model: type) -> str:
    return resource_name(model.__entity__)
