"""The narrowing holds on every path: every resource and every include, listed and read one
record at a time, for grants narrowed to some pupils and some fields, answers without a 5xx,
returns only covered pupils' rows and never a field left out; a link the school left out makes
every include through it unavailable.

The resources and includes come from the registry (itself built from the data model) and
the fields from the catalogue, so a resource or include added later is walked too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.api.registry import RESOURCES, IncludeKind
from authserver.domain.catalogue import default_catalogue
from authserver.domain.grants import Restrictions
from authserver.extensions import db
from authserver.models.mis import ENTITIES
from authserver.models.mis.catering import CashlessAccount
from authserver.models.mis.contacts import StudentContact
from authserver.models.mis.structure import ClassMembership, Group, GroupMembership, TeachingClass
from tests.api.test_resources import READ_SCOPES, SchoolTokens

CATALOGUE = default_catalogue()
#: Every link field a grant can carry: a record's pupil, contact, member of staff, group ...
LINKS = sorted(
    f for scope in CATALOGUE if scope.kind == "read" for f in scope.fields if f.endswith("_id")
)


def _a_plain_field_of_each_entity() -> tuple[str, ...]:
    """One field that is not a link, of every resource's entity with another field to keep
    (so that the resource stays readable, and its includes too)."""
    served = {resource.entity for resource in RESOURCES.values()}
    fields: dict[str, set[str]] = {}
    for name in CATALOGUE.fields_for(READ_SCOPES):
        fields.setdefault(name.partition(".")[0], set()).add(name)
    return tuple(
        sorted(
            min(f for f in names if not f.endswith("_id"))
            for entity, names in fields.items()
            if entity in served and len(names) > 1 and any(not f.endswith("_id") for f in names)
        )
    )


PLAIN_FIELDS = _a_plain_field_of_each_entity()
SHAPES = [
    "whole school",
    "one year group",
    "one class, a field of each left out",
    "one year group, links left out",
]


@pytest.fixture
def school(seeded_school):
    return seeded_school


def _restrictions(shape: str, school_id: int) -> tuple[Restrictions, set[int] | None]:
    """The shape's restrictions, and the pupils they cover (None: all), found independently."""
    if shape == "whole school":
        return Restrictions(), None
    if shape.startswith("one class"):
        taught = db.session.scalar(
            select(TeachingClass.id).where(TeachingClass.school_id == school_id).limit(1)
        )
        pupils = set(
            db.session.scalars(
                select(ClassMembership.student_id).where(ClassMembership.class_id == taught)
            )
        )
        return Restrictions(class_ids=(taught,), excluded_fields=PLAIN_FIELDS), pupils
    year = db.session.scalar(
        select(Group.id)
        .where(Group.school_id == school_id, Group.type == "year")
        .order_by(Group.id)
        .limit(1)
    )
    pupils = set(
        db.session.scalars(
            select(GroupMembership.student_id).where(GroupMembership.group_id == year)
        )
    )
    excluded = tuple(LINKS) if shape.endswith("links left out") else ()
    return Restrictions(group_ids=(year,), excluded_fields=excluded), pupils


def _pupils_of(entity: str, record_id: int) -> set[int] | None:
    """The pupils a record is about, read from the database (None: about no pupil)."""
    model = ENTITIES[entity]
    row = db.session.get(model, record_id)
    if entity == "student":
        return {row.id}
    if entity == "contact":
        return set(
            db.session.scalars(
                select(StudentContact.student_id).where(StudentContact.contact_id == row.id)
            )
        )
    if entity == "cashless_transaction":
        return {db.session.get(CashlessAccount, row.account_id).student_id}
    if entity == "photo":
        if row.person_type == "student":
            return {row.person_id}
        if row.person_type == "contact":
            return _pupils_of("contact", row.person_id)
        return None
    student_id = getattr(row, "student_id", None)
    return None if not hasattr(row, "student_id") or student_id is None else {student_id}


def _walk(
    app, tokens: SchoolTokens, token: str, covered: set[int] | None, excluded: set[str]
) -> list[str]:
    """Read every resource with each of its includes, as a list and as its first record, and
    say what is wrong with each answer."""
    problems: list[str] = []
    for name, resource in sorted(RESOURCES.items()):
        first = None
        for include in [None, *sorted(resource.includes)]:
            asked = {"include": include} if include else {}
            reads = [(name, {"limit": 200, **asked})]
            if first is not None:
                reads.append((f"{name}/{first}", asked))
            for path, query in reads:
                response = tokens.get(path, token, **query)
                where = f"{path}?include={include}"
                if response.status_code >= 500:
                    problems.append(f"{where}: {response.status_code}")
                    continue
                withheld = include and _withheld_links(resource, include, excluded)
                if withheld:
                    body = response.get_json()
                    if response.status_code != 400 or withheld[0] not in body["error_description"]:
                        problems.append(f"{where}: {response.status_code}, not refused: {withheld}")
                    continue
                if response.status_code != 200:
                    problems.append(f"{where}: {response.status_code} {response.get_json()}")
                    continue
                body = response.get_json()
                documents = body["data"] if path == name else [body]
                if first is None and documents:
                    first = documents[0]["id"]
                problems += _answer_problems(
                    app, where, resource, include, documents, covered, excluded
                )
    return problems


def _answer_problems(
    app,
    where: str,
    resource,
    include: str | None,
    documents: list[dict],
    covered: set[int] | None,
    excluded: set[str],
) -> list[str]:
    """What is wrong with an answer's documents: a field left out sent, a pupil not covered."""
    pairs = []
    for document in documents:
        pairs.append((resource.entity, document))
        if include:
            related = document[include]
            for item in related if isinstance(related, list) else [related]:
                if item is not None:
                    pairs.append((resource.includes[include].entity, item))
    problems = [
        f"{where}: {entity}.{key} was left out but sent"
        for entity, document in pairs
        for key in document
        if f"{entity}.{key}" in excluded
    ]
    if covered is not None:
        with app.app_context():
            for entity, document in pairs:
                problems += _uncovered(entity, document, covered, where)
    return problems


def _withheld_links(resource, include: str, excluded: set[str]) -> list[str]:
    spec = resource.includes[include]
    if spec.kind is IncludeKind.PARENT:
        links = [f"{resource.entity}.student_id"]
    elif spec.kind is IncludeKind.CHILDREN:
        links = [f"{spec.entity}.student_id"]
    else:
        links = [
            f"{spec.link.__entity__}.student_id",
            f"{spec.link.__entity__}.{spec.link_column.key}",
        ]
    return [link for link in links if link in excluded]


def _uncovered(entity: str, document: dict, covered: set[int], where: str) -> list[str]:
    pupils = _pupils_of(entity, document["id"])
    if pupils is None or pupils & covered:
        return []
    return [f"{where}: {entity} {document['id']} is about pupils {sorted(pupils)}"]


@pytest.mark.parametrize("shape", SHAPES)
def test_every_resource_and_include_keeps_to_the_narrowing(
    app, client, make_app, school, school_admin, school_data, shape
) -> None:
    with app.app_context():
        restrictions, covered = _restrictions(shape, school.id)
    tokens = SchoolTokens(app, client, make_app, school, school_admin, restrictions=restrictions)
    token = tokens.token()
    problems = _walk(app, tokens, token, covered, set(restrictions.excluded_fields))
    assert problems == [], "\n".join(problems[:40])


def test_a_left_out_pupil_link_cannot_be_joined_back(
    app, client, make_app, school, school_admin, school_data
) -> None:
    """Conditions shared without saying whose stay so by every path."""
    left_out = ("medical_condition.student_id",)
    tokens = SchoolTokens(
        app, client, make_app, school, school_admin, Restrictions(excluded_fields=left_out)
    )
    token = tokens.token()
    conditions = tokens.get("medical-conditions", token).get_json()["data"]
    assert conditions
    assert all("student_id" not in c for c in conditions)
    for path, query in [
        ("medical-conditions", {"include": "student"}),
        (f"medical-conditions/{conditions[0]['id']}", {"include": "student"}),
        ("students", {"include": "medical-conditions"}),
        ("medical-conditions", {"student_id": "1"}),
        ("medical-conditions", {"sort": "student_id"}),
        ("medical-conditions", {"fields": "student_id"}),
    ]:
        response = tokens.get(path, token, **query)
        assert response.status_code == 400, (path, query)
        assert response.get_json()["error"] == "invalid_request"


def test_sparse_fieldsets_send_only_what_is_asked_and_record_it(
    app, client, make_app, school, school_admin, school_data
) -> None:
    from authserver.models import AuditEvent

    tokens = SchoolTokens(app, client, make_app, school, school_admin)
    token = tokens.token()
    body = tokens.get(
        "students", token, limit=3, include="contacts", fields="surname,contacts.email"
    ).get_json()
    for student in body["data"]:
        assert set(student) == {"id", "updated_at", "surname", "contacts"}
        for contact in student["contacts"]:
            assert set(contact) == {"id", "updated_at", "email"}
    record = tokens.get(f"students/{body['data'][0]['id']}", token, fields="forename").get_json()
    assert set(record) == {"id", "updated_at", "forename"}
    with app.app_context():
        reads = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "data:read").order_by(AuditEvent.id)
        ).all()
    assert reads[-2].detail["read_fields"] == ["contact.email", "student.surname"]
    assert reads[-1].detail["read_fields"] == ["student.forename"]
    for fields in ("nope", "contacts.nope", "groups.name", ""):
        response = tokens.get("students", token, include="contacts", fields=fields)
        assert response.status_code == 400, fields


def _agency_kinds(app, links: list[dict]) -> set[str]:
    from authserver.models.mis.agencies import Agency, Agent

    with app.app_context():
        return {
            db.session.get(Agency, db.session.get(Agent, link["agent_id"]).agency_id).agency_type
            for link in links
        }


@pytest.mark.parametrize(
    ("scope", "kind"),
    [
        ("StudentMedical", "medical"),
        ("SocialServices", "social_services"),
        ("AgencyAgentOther", "other"),
    ],
)
def test_each_kind_of_agency_link_needs_its_own_scope(
    app, client, make_app, school, school_admin, school_data, scope, kind
) -> None:
    """A health grant does not learn which pupils social care works with, nor the reverse."""
    with app.app_context():
        _link_an_agency_of_each_kind(school.id)
    tokens = SchoolTokens(app, client, make_app, school, school_admin)
    links = tokens.get("student-agents", tokens.token(scope), limit=1000).get_json()["data"]
    assert links
    assert _agency_kinds(app, links) == {kind}


def _link_an_agency_of_each_kind(school_id: int) -> None:
    from authserver.models.mis.agencies import AGENCY_TYPES, Agency, Agent, StudentAgent
    from authserver.models.mis.students import Student

    pupil = db.session.scalar(
        select(Student.id)
        .where(Student.school_id == school_id, Student.enrolment_status != "leaver")
        .order_by(Student.id)
        .limit(1)
    )
    for kind in AGENCY_TYPES:
        agency = Agency(school_id=school_id, name=f"A {kind} agency", agency_type=kind)
        db.session.add(agency)
        db.session.flush()
        agent = Agent(school_id=school_id, agency_id=agency.id, forename="Sam", surname="Lee")
        db.session.add(agent)
        db.session.flush()
        db.session.add(StudentAgent(school_id=school_id, student_id=pupil, agent_id=agent.id))
    db.session.commit()


def test_withdrawing_one_kind_of_agency_link_tells_the_vendor_to_delete_those_links(
    app, client, make_app, school, school_admin, school_data
) -> None:
    from authserver.domain import grants, school_secrets
    from authserver.models import Grant, User

    with app.app_context():
        _link_an_agency_of_each_kind(school.id)
    tokens = SchoolTokens(app, client, make_app, school, school_admin)
    token = tokens.token()
    every = tokens.get("student-agents", token, limit=1000).get_json()["data"]
    social = {link["id"] for link in every if _agency_kinds(app, [link]) == {"social_services"}}
    since = tokens.get("deletions", token, updated_after="2000-01-01").get_json()["data"]
    assert social
    assert not any(d.get("id") in social for d in since)
    with app.app_context():
        grant = db.session.scalar(select(Grant).order_by(Grant.id.desc()).limit(1))
        grants.change(
            grant,
            by=db.session.get(User, school_admin.id),
            scopes=[s for s in grant.scopes if s != "SocialServices"],
            restrictions=Restrictions.from_json(grant.restrictions),
            expires_at=grant.expires_at,
        )
        db.session.commit()
        claimed = school_secrets.claim(grant, grant.application, overlap_seconds=0)
        db.session.commit()
        tokens.school_secret = claimed.value
    token = tokens.token()
    feed = tokens.get("deletions", token, updated_after="2000-01-01", limit=1000).get_json()["data"]
    gone = {d["id"] for d in feed if d["resource"] == "student-agents" and "id" in d}
    assert social <= gone
    assert all(d["reason"] == "scope_withdrawn" for d in feed if d.get("id") in social)
    left = tokens.get("student-agents", token, limit=1000).get_json()["data"]
    assert not {link["id"] for link in left} & social
