"""The resource API: each scope sees exactly its fields, restrictions and isolation hold,
pagination is stable, deltas and deletions report change, and every read is recorded."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from sqlalchemy import func, select, update

from authserver.api.registry import resource_name
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models import AuditEvent, Grant
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import basic_auth

CATALOGUE = default_catalogue()
# Data scopes: the sign-in scopes release claims at sign-in, no API fields
# (tests/oauth/test_openid_sign_in.py covers them).
READ_SCOPES = [
    s.name
    for s in CATALOGUE
    if s.kind == "read"
    and s.consent_required
    and not s.deprecated
    and s.name not in CATALOGUE.sign_in_scopes
]


@pytest.fixture
def school(seeded_school):
    """The module's seeded school (tests/api/conftest.py) in place of an empty one."""
    return seeded_school


class SchoolTokens:
    """An application approved for every read scope; mints a token for any subset."""

    def __init__(self, app, client, make_app, school, school_admin, restrictions=None) -> None:
        from authserver.domain import grants, school_secrets
        from authserver.models import Application, School, User

        application, secret = make_app(
            name="Everything", required={}, optional={s: "For the tests." for s in READ_SCOPES}
        )
        with app.app_context():
            model = db.session.get(Application, application.id)
            school_row = db.session.get(School, school.id)
            choice = grants.scope_choice(model, None)
            grant = grants.approve(
                model,
                school_row,
                approver=db.session.get(User, school_admin.id),
                choice=choice,
                optional_scopes=choice.optional,
                restrictions=restrictions,
            )
            claimed = school_secrets.claim(grant, model, overlap_seconds=600)
            db.session.commit()
            self.school_secret = claimed.value
        self.client, self.school, self.application, self.secret = (
            client,
            school,
            application,
            secret,
        )

    def token(self, *scopes: str) -> str:
        data = {
            "grant_type": SCHOOL_SECRET_GRANT_TYPE,
            "school_id": str(self.school.id),
            "school_secret": self.school_secret,
        }
        if scopes:
            data["scope"] = " ".join(scopes)
        response = self.client.post(
            "/oauth/token", data=data, headers=basic_auth(self.application.client_id, self.secret)
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    def get(self, path: str, token: str, **query):
        return self.client.get(
            f"/api/v1/{path}", query_string=query, headers={"Authorization": f"Bearer {token}"}
        )


@pytest.fixture
def tokens(app, client, make_app, school, school_admin, school_data) -> SchoolTokens:
    return SchoolTokens(app, client, make_app, school, school_admin)


def fields_by_entity(scope: str) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for name in CATALOGUE[scope].fields:
        entity, field = name.split(".")
        grouped[entity].add(field)
    return grouped


@pytest.mark.parametrize("scope", READ_SCOPES)
def test_a_token_with_one_scope_sees_exactly_that_scopes_fields(tokens, scope) -> None:
    token = tokens.token(scope)
    seen_rows = 0
    for entity, fields in fields_by_entity(scope).items():
        if entity == "school":
            continue
        response = tokens.get(resource_name(entity), token, limit=50)
        assert response.status_code == 200, (entity, response.get_json())
        assert response.headers["Cache-Control"] == "no-store"
        for document in response.get_json()["data"]:
            assert set(document) == {"id", "updated_at"} | fields, entity
            seen_rows += 1
    if scope != "ThreeYearHistory":
        assert seen_rows, f"the demo data gives {scope} nothing to show"


def test_student_lite_shows_names_and_gender_never_a_date_of_birth(tokens) -> None:
    student = tokens.get("students", tokens.token("StudentLite")).get_json()["data"][0]
    assert {"forename", "surname", "gender"} <= set(student)
    assert "date_of_birth" not in student
    assert "ethnicity" not in student


def test_student_ethnicity_adds_ethnicity_and_nothing_else(tokens) -> None:
    lite = set(tokens.get("students", tokens.token("StudentLite")).get_json()["data"][0])
    both = set(
        tokens.get("students", tokens.token("StudentLite", "StudentEthnicity")).get_json()["data"][
            0
        ]
    )
    assert both - lite == {f.split(".")[1] for f in CATALOGUE["StudentEthnicity"].fields}


def test_a_resource_outside_the_grant_is_403_insufficient_scope(tokens) -> None:
    response = tokens.get("medical-conditions", tokens.token("StudentLite"))
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert "StudentMedical" in challenge.split('scope="')[1]


def test_embargoed_results_need_their_own_scope(tokens) -> None:
    plain = tokens.get("exam-results", tokens.token("ExamsResults"), limit=1000)
    embargoed = tokens.get("exam-results", tokens.token("EmbargoedExamsResults"), limit=1000)
    assert len(embargoed.get_json()["data"]) > len(plain.get_json()["data"])
    assert not any(r["embargoed"] for r in plain.get_json()["data"])


def test_the_school_is_public_to_any_school_token(tokens, school) -> None:
    body = tokens.get("school", tokens.token("Attendance")).get_json()
    assert body == {
        "id": school.id,
        "name": school.name,
        "urn": school.urn,
        # Seeded straight into the tables: nothing has arrived through a sync.
        "sync": {"state": "no_data", "last_success_at": None},
    }


# --- Restrictions and isolation ---------------------------------------------------------------


def test_a_year_group_restriction_limits_pupils_and_their_records(
    app, client, make_app, school, school_admin, school_data
) -> None:
    from authserver.domain.grants import Restrictions
    from authserver.models.mis.structure import Group, GroupMembership

    with app.app_context():
        year = db.session.scalar(
            select(Group)
            .where(Group.school_id == school.id, Group.type == "year")
            .order_by(Group.id)
        )
        members = set(
            db.session.scalars(
                select(GroupMembership.student_id).where(GroupMembership.group_id == year.id)
            )
        )
        year_id = year.id
    assert members
    restricted = SchoolTokens(
        app, client, make_app, school, school_admin, restrictions=Restrictions(group_ids=(year_id,))
    )
    token = restricted.token("Student", "Attendance", "Contact")
    students = restricted.get("students", token, limit=1000).get_json()["data"]
    assert {s["id"] for s in students} <= members
    assert students
    marks = restricted.get("session-marks", token, limit=1000).get_json()["data"]
    assert marks
    assert {m["student_id"] for m in marks} <= members
    links = restricted.get("student-contacts", token, limit=1000).get_json()["data"]
    assert {link["student_id"] for link in links} <= members
    outsider = next(iter(_all_student_ids(app, school.id) - members))
    assert restricted.get(f"students/{outsider}", token).status_code == 404


def _all_student_ids(app, school_id: int) -> set[int]:
    from authserver.models.mis.students import Student

    with app.app_context():
        return set(db.session.scalars(select(Student.id).where(Student.school_id == school_id)))


def test_a_token_never_sees_another_schools_data(app, tokens, make_school) -> None:
    from authserver.demo.school_data import seed_school_data
    from authserver.models import School

    other = make_school(name="Neighbouring School")
    with app.app_context():
        seed_school_data(db.session, db.session.get(School, other.id), students=5, seed=8)
        db.session.commit()
    theirs = _all_student_ids(app, other.id)
    token = tokens.token("StudentLite")
    for student_id in theirs:
        assert tokens.get(f"students/{student_id}", token).status_code == 404
    ours = {s["id"] for s in tokens.get("students", token, limit=1000).get_json()["data"]}
    assert not ours & theirs


@pytest.mark.parametrize("state", ["revoked", "expired", "grant revoked"])
def test_a_dead_token_is_401_invalid_token(app, tokens, school_admin, state) -> None:
    from authserver.domain import grants
    from authserver.models import Token, User

    token = tokens.token("StudentLite")
    with app.app_context():
        if state == "revoked":
            db.session.execute(update(Token).values(revoked_at=dt.datetime.now(dt.UTC)))
        elif state == "expired":
            db.session.execute(
                update(Token).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
        else:
            grants.revoke(
                db.session.scalar(select(Grant)), by=db.session.get(User, school_admin.id)
            )
        db.session.commit()
    response = tokens.get("students", token)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- Pagination, deltas, deletions, includes --------------------------------------------------


def test_cursor_pagination_is_complete_and_stable_under_inserts(app, tokens, school) -> None:
    from authserver.models.mis.students import Student

    token = tokens.token("StudentLite")
    first = tokens.get("students", token, limit=7).get_json()
    assert len(first["data"]) == 7
    assert first["next"]
    with app.app_context():  # a pupil joins while the vendor pages through
        joined = Student(
            school_id=school.id, forename="New", surname="Pupil", enrolment_status="current"
        )
        db.session.add(joined)
        db.session.commit()
        joined_id = joined.id
    seen = [s["id"] for s in first["data"]]
    cursor = first["next"]
    while cursor:
        page = tokens.get("students", token, limit=7, cursor=cursor).get_json()
        seen += [s["id"] for s in page["data"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen))
    assert joined_id in seen
    assert seen == sorted(seen)


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"cursor": "forged"},
        {"updated_after": "yesterday"},
        {"include": "passwords"},
    ],
)
def test_bad_query_parameters_are_400(tokens, query) -> None:
    response = tokens.get("students", tokens.token("StudentLite"), **query)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"


def test_updated_after_returns_only_what_changed(app, tokens, school) -> None:
    from authserver.models.mis.students import Student

    token = tokens.token("StudentLite")
    mark = dt.datetime.now(dt.UTC)
    assert tokens.get("students", token, updated_after=mark.isoformat()).get_json()["data"] == []
    with app.app_context():
        student = db.session.scalar(select(Student).where(Student.school_id == school.id))
        student.surname = "Changed"
        db.session.commit()
        changed_id = student.id
    delta = tokens.get("students", token, updated_after=mark.isoformat()).get_json()["data"]
    assert [s["id"] for s in delta] == [changed_id]
    assert delta[0]["surname"] == "Changed"


def test_deletions_report_removed_records(app, tokens, school) -> None:
    from authserver.models.mis.base import delete_record
    from authserver.models.mis.welfare import DietaryNeed

    token = tokens.token("DietaryNeeds")
    mark = dt.datetime.now(dt.UTC)
    with app.app_context():
        need = db.session.scalar(select(DietaryNeed).where(DietaryNeed.school_id == school.id))
        delete_record(db.session, need)
        db.session.commit()
        gone = need.id
    body = tokens.get("deletions", token, updated_after=mark.isoformat()).get_json()
    assert {"resource": "dietary-needs", "id": gone} in [
        {k: d[k] for k in ("resource", "id")} for d in body["data"]
    ]
    assert tokens.get("deletions", token).status_code == 400


def test_includes_are_checked_like_the_main_resource(tokens) -> None:
    with_contacts = tokens.get(
        "students", tokens.token("StudentLite", "Contact"), include="contacts,attendance-summaries"
    )
    assert with_contacts.status_code == 403  # attendance summaries need Attendance
    ok = tokens.get(
        "students",
        tokens.token("StudentLite", "Contact", "Attendance", "School"),
        include="contacts,attendance-summaries,classes",
    ).get_json()["data"]
    assert any(s["contacts"] for s in ok)
    assert any(s["classes"] for s in ok)
    assert any(s["attendance-summaries"] for s in ok)
    assert any(s["classes"] for s in ok)
    contact = next(c for s in ok for c in s["contacts"])
    assert set(contact) == {"id", "updated_at"} | {
        f.split(".")[1] for f in CATALOGUE["Contact"].fields if f.startswith("contact.")
    }
    refused = tokens.get("students", tokens.token("StudentLite"), include="contacts")
    assert refused.status_code == 403
    parent = tokens.get(
        "session-marks", tokens.token("Attendance", "StudentLite"), include="student", limit=3
    ).get_json()["data"]
    assert parent[0]["student"]["id"] == parent[0]["student_id"]


def test_moments_are_utc_with_z_in_pages_includes_and_deletions(app, tokens, school) -> None:
    from authserver.models.mis.base import delete_record
    from authserver.models.mis.students import Student
    from authserver.models.mis.welfare import DietaryNeed

    whole = dt.datetime(2025, 3, 2, 10, 0, tzinfo=dt.UTC)
    fraction = whole.replace(microsecond=123456)
    with app.app_context():
        first, second = db.session.scalars(
            select(Student.id).where(Student.school_id == school.id).order_by(Student.id).limit(2)
        )
        for student_id, moment in ((first, whole), (second, fraction)):
            db.session.execute(
                update(Student).where(Student.id == student_id).values(updated_at=moment)
            )
        need = db.session.scalar(select(DietaryNeed).where(DietaryNeed.school_id == school.id))
        delete_record(db.session, need)
        db.session.commit()
    token = tokens.token("StudentLite", "Attendance", "DietaryNeeds")
    page = {s["id"]: s for s in tokens.get("students", token, limit=2).get_json()["data"]}
    assert page[first]["updated_at"] == "2025-03-02T10:00:00Z"
    assert page[second]["updated_at"] == "2025-03-02T10:00:00.123456Z"
    marks = tokens.get("session-marks", token, include="student", limit=1000).get_json()["data"]
    included = next(m["student"] for m in marks if m["student_id"] == second)
    assert included["updated_at"] == "2025-03-02T10:00:00.123456Z"
    assert marks[0]["updated_at"].endswith("Z")
    deleted = tokens.get("deletions", token, updated_after="2000-01-01").get_json()["data"]
    assert deleted
    assert all(d["deleted_at"].endswith("Z") for d in deleted)


def test_every_read_is_recorded_for_the_school(app, tokens, school) -> None:
    tokens.get("students", tokens.token("StudentLite", "StudentEthnicity"), limit=3)
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "data:read"))
        assert event.school_id == school.id
        assert event.detail["entity"] == "student"
        assert set(event.detail["scopes"]) == {"StudentLite", "StudentEthnicity"}
        assert "ethnicity" in event.detail["fields"]
        assert event.detail["rows"] == 3
        assert db.session.scalar(select(Grant.last_used_at)) is not None
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "data:read")
            )
            == 1
        )


def test_a_vendor_token_cannot_read_school_data(client, vendor_app) -> None:
    application, secret = vendor_app
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(application.client_id, secret),
    ).get_json()
    response = client.get(
        "/api/v1/students", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert response.status_code == 401


def test_the_dashboard_shows_what_is_used_against_what_was_granted(
    app, tokens, school, school_admin
) -> None:
    from tests.oauth_flow import sign_in

    tokens.get("students", tokens.token("StudentLite"), limit=1)
    browser = app.test_client()
    sign_in(browser, school_admin.email)
    html = browser.get(f"/schools/{school.urn}").get_data(as_text=True)
    used = html.split("Read in the last 30 days</dt><dd>")[1].split("</dd>")[0]
    assert used.strip() == "StudentLite"
    unused = html.split("Never read lately</dt><dd>")[1].split("<span")[0]
    assert "StudentMedical" in unused
    assert "StudentLite" not in unused


@pytest.mark.parametrize(
    "path",
    [
        "students/4013099502034414189857736753152",
        "students/0",
        "students?updated_after=0001-01-01T00:00:00%2B14:00",
        "students?updated_after=9999-12-31T23:59:59-10:00",
        "deletions?updated_after=0001-01-01T00:00:00%2B14:00",
        "students?limit=%D9%A3",
    ],
)
def test_out_of_range_input_is_a_4xx_never_a_500(tokens, path) -> None:
    token = tokens.token("StudentLite")
    response = tokens.client.get(f"/api/v1/{path}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 404)
    assert response.is_json


def test_resource_names_are_plain_english_plurals() -> None:
    from authserver.api.registry import RESOURCES

    assert "staff-disabilities" in RESOURCES
    assert not [name for name in RESOURCES if name.endswith("ys")]
