"""The scope catalogue: the packaged file loads, matches the seed list, and bad files fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from authserver.domain.catalogue import (
    CATALOGUE_PATH,
    CatalogueError,
    UnknownScopeError,
    default_catalogue,
    load_catalogue,
)
from authserver.models.mis import ENTITIES, entity_fields

# The sign-in scopes (OpenID Connect), each with the claims it releases.
SIGN_IN_SCOPES = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name"),
    "email": ("email", "email_verified"),
    "SignInRole": ("role",),
    "SignInSchool": ("school_urn",),
    "SignInClasses": ("classes",),
    "SignInChildren": ("children",),
    "SignInYearGroup": ("year_group",),
}

# The 74 scopes of the published list we follow, in its order.
SEED_SCOPES = [
    "Address", "AgencyAgent", "AgencyAgentOther", "Applications", "AssessmentResults",
    "Attendance", "Cashless", "Conduct", "ConductComments", "Contact", "ContactFreeText",
    "ContactGender", "DietaryNeeds", "EmbargoedExamsResults", "EmergeForWeb", "EmergeViaXod",
    "EndpointInfo", "ExamsResults", "FundingMonitoring", "NHSNumber", "ParentalConsents",
    "Photos", "Post16Study", "SEN", "SENEHCP", "SENEvents", "SENReviews", "SENStatements",
    "SENTypes", "School", "SchoolLite", "SocialServices", "Staff", "StaffAbsence",
    "StaffAddress", "StaffChecks", "StaffContractual", "StaffDisability", "StaffEmployment",
    "StaffEthnicity", "StaffExtended", "StaffFinancial", "StaffFreeText", "StaffLite",
    "StaffNextOfKin", "StaffPersonalContact", "StaffQualifications", "StaffReligion", "Student",
    "StudentAlternativeProvision", "StudentDeceased", "StudentDemographic", "StudentDetentions",
    "StudentEthnicity", "StudentExclusions", "StudentExtended", "StudentFamily",
    "StudentFreeText", "StudentFunding", "StudentGenderIdentity", "StudentHistory",
    "StudentInterventions", "StudentLite", "StudentMeals", "StudentMedical", "StudentPregnancy",
    "StudentReligion", "StudentSchoolHistory", "ThreeYearHistory", "UPN", "WritebackAssessment",
    "WritebackAttendance", "WritebackConduct", "WritebackPhotos",
]  # fmt: skip

PACKAGED = CATALOGUE_PATH.read_text(encoding="utf-8")

EXTRA_SCOPE = """
[[scopes]]
name = "{name}"
category = "{category}"
kind = "{kind}"
sensitive = false
description = "A scope added by a test."
fields = [{fields}]
"""


def extra_scope(
    name: str = "TestScope",
    *,
    category: str = "Students",
    kind: str = "read",
    fields: str = '"student.forename"',
) -> str:
    """A TOML [[scopes]] block, to append before the labels of the packaged file."""
    return EXTRA_SCOPE.format(name=name, category=category, kind=kind, fields=fields)


def write_catalogue(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scopes.toml"
    path.write_text(text, encoding="utf-8")
    return path


def with_extra_scope(tmp_path: Path, block: str) -> Path:
    """The packaged catalogue with one more scope inserted before the label tables."""
    head, marker, tail = PACKAGED.partition("\n[entities.school]\n")
    return write_catalogue(tmp_path, head + block + marker + tail)


def replaced(tmp_path: Path, old: str, new: str) -> Path:
    """The packaged catalogue with one exact piece of text replaced."""
    assert PACKAGED.count(old) == 1, old
    return write_catalogue(tmp_path, PACKAGED.replace(old, new))


def assert_only_problem(path: Path, message: str) -> None:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert len(caught.value.problems) == 1, caught.value.problems
    assert message in caught.value.problems[0]


# The packaged catalogue


def test_packaged_catalogue_loads_with_every_seed_scope_and_public_data() -> None:
    catalogue = default_catalogue()
    assert len(SEED_SCOPES) == 74
    assert len(catalogue.scopes) == 75 + len(SIGN_IN_SCOPES)
    assert set(catalogue.scopes) == {*SEED_SCOPES, "PublicSchoolData", *SIGN_IN_SCOPES}
    assert default_catalogue() is catalogue


def test_public_school_data_needs_no_consent_and_only_it() -> None:
    catalogue = default_catalogue()
    public = catalogue["PublicSchoolData"]
    assert public.consent_required is False
    assert public.category == "Public"
    assert public.fields == ("school.name", "school.urn")
    assert [s.name for s in catalogue if not s.consent_required] == ["PublicSchoolData"]


def test_student_lite_has_names_and_gender_but_not_date_of_birth() -> None:
    fields = default_catalogue()["StudentLite"].fields
    assert {"student.forename", "student.surname", "student.gender"} <= set(fields)
    assert "student.date_of_birth" not in fields
    assert "student.date_of_birth" in default_catalogue()["Student"].fields


def test_student_includes_student_lite() -> None:
    catalogue = default_catalogue()
    assert set(catalogue["StudentLite"].fields) <= set(catalogue["Student"].fields)
    assert set(catalogue["StaffLite"].fields) <= set(catalogue["Staff"].fields)


def test_student_ethnicity_unlocks_ethnicity_only() -> None:
    assert default_catalogue()["StudentEthnicity"].fields == ("student.ethnicity",)


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("StudentEthnicity", True),
        ("StudentReligion", True),
        ("StudentMedical", True),
        ("DietaryNeeds", True),
        ("NHSNumber", True),
        ("SEN", True),
        ("SENEHCP", True),
        ("StudentGenderIdentity", True),
        ("StudentPregnancy", True),
        ("SocialServices", True),
        ("StaffDisability", True),
        ("StaffEthnicity", True),
        ("StudentLite", False),
        ("Student", False),
        ("Attendance", False),
        ("Contact", False),
        ("StaffLite", False),
        ("PublicSchoolData", False),
        ("WritebackAttendance", False),
    ],
)
def test_sensitive_flags(name: str, sensitive: bool) -> None:
    assert default_catalogue()[name].sensitive is sensitive


@pytest.mark.parametrize(
    "field",
    [
        "student.ethnicity",
        "student.religion",
        "student.nhs_number",
        "student.gender_identity",
        "student.pregnant",
        "student.sen_status",
        "staff.ethnicity",
        "staff.religion",
        "medical_condition.condition",
        "dietary_need.description",
        "sen_need.need_type",
        "ehc_plan.status",
        "social_services_involvement.involvement_type",
        "staff_disability.description",
        "student_agent.student_id",
    ],
)
def test_special_category_fields_are_only_behind_sensitive_scopes(field: str) -> None:
    scopes = default_catalogue().scopes_unlocking(field)
    assert scopes
    assert all(scope.sensitive for scope in scopes), [s.name for s in scopes]


def test_writeback_scopes_are_write_kind_in_writeback_category() -> None:
    catalogue = default_catalogue()
    writes = [s.name for s in catalogue if s.kind == "write"]
    assert sorted(writes) == [
        "WritebackAssessment",
        "WritebackAttendance",
        "WritebackConduct",
        "WritebackPhotos",
    ]
    assert all(catalogue[name].category == "Writeback" for name in writes)
    assert "session_mark.code" in catalogue["WritebackAttendance"].fields
    assert "lesson_mark.code" in catalogue["WritebackAttendance"].fields


def test_emerge_via_xod_is_deprecated_and_empty() -> None:
    scope = default_catalogue()["EmergeViaXod"]
    assert scope.deprecated
    assert scope.fields == ()
    assert [s.name for s in default_catalogue() if s.deprecated] == ["EmergeViaXod"]


def test_every_scope_has_a_declared_category_and_a_description() -> None:
    catalogue = default_catalogue()
    grouped = catalogue.by_category()
    assert list(grouped) == list(catalogue.categories)
    assert sum(len(scopes) for scopes in grouped.values()) == 75 + len(SIGN_IN_SCOPES)
    for scope in catalogue:
        assert scope.category in catalogue.categories
        assert 20 < len(scope.description) < 400, scope.name


def test_every_entity_and_field_has_a_label() -> None:
    catalogue = default_catalogue()
    for entity in ENTITIES:
        assert catalogue.entity_label(entity)
        for name in entity_fields(entity):
            assert catalogue.field_label(f"{entity}.{name}")
    assert catalogue.entity_label("student") == "Pupils"
    assert catalogue.field_label("student.date_of_birth") == "Date of birth"
    with pytest.raises(KeyError):
        catalogue.field_label("student.shoe_size")


def test_fields_for_unions_scopes() -> None:
    catalogue = default_catalogue()
    fields = catalogue.fields_for(["StudentLite", "StudentEthnicity"])
    assert "student.ethnicity" in fields
    assert "student.forename" in fields
    assert "student.religion" not in fields
    assert catalogue.fields_for([]) == frozenset()


def test_scopes_for_entity_and_unlocking_field() -> None:
    catalogue = default_catalogue()
    readers = [s.name for s in catalogue.scopes_for_entity("session_mark")]
    assert readers == ["Attendance"]
    writers = [s.name for s in catalogue.scopes_for_entity("session_mark", kind="write")]
    assert writers == ["WritebackAttendance"]
    assert [s.name for s in catalogue.scopes_unlocking("student.upn")] == ["UPN"]
    unlocking = {s.name for s in catalogue.scopes_unlocking("student.forename")}
    assert {"StudentLite", "Student"} <= unlocking
    with pytest.raises(KeyError):
        catalogue.scopes_for_entity("spaceship")


def test_lookup_helpers() -> None:
    catalogue = default_catalogue()
    assert "Attendance" in catalogue
    assert "Teleport" not in catalogue
    assert catalogue.get("Teleport") is None
    assert catalogue.get("Attendance") is catalogue["Attendance"]
    assert [s.name for s in catalogue][:2] == ["PublicSchoolData", "SchoolLite"]
    assert catalogue["Attendance"].entities[0] == "attendance_code"


def test_require_known_keeps_order_and_raises_on_unknown() -> None:
    catalogue = default_catalogue()
    assert catalogue.require_known(["Student", "UPN", "Student"]) == ["Student", "UPN"]
    with pytest.raises(UnknownScopeError) as caught:
        catalogue.require_known(["Student", "Teleport", "Mindreading"])
    assert caught.value.names == ("Teleport", "Mindreading")
    assert str(caught.value) == "unknown scope(s): Teleport, Mindreading"
    with pytest.raises(UnknownScopeError):
        catalogue.fields_for(["Teleport"])
    with pytest.raises(UnknownScopeError):
        catalogue["Teleport"]


# Validation: each rule has a failing file


def test_invalid_toml_is_a_catalogue_error(tmp_path: Path) -> None:
    path = write_catalogue(tmp_path, "categories = [\n")
    with pytest.raises(CatalogueError, match="not valid TOML"):
        load_catalogue(path)


def test_duplicate_scope_names_are_rejected(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope("Student"))
    assert_only_problem(path, "scope 'Student' is declared more than once")


def test_unknown_category_is_rejected(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(category="Gossip"))
    assert_only_problem(path, "unknown category 'Gossip'")


def test_kind_must_be_read_or_write(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(kind="delete"))
    assert_only_problem(path, "kind must be 'read' or 'write'")


def test_field_must_be_entity_dot_field(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(fields='"forename"'))
    assert_only_problem(path, "'forename' is not of the form 'entity.field'")


def test_field_must_name_a_known_entity(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(fields='"pupil.forename"'))
    assert_only_problem(path, "names unknown entity 'pupil'")


def test_field_must_exist_on_the_entity(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(fields='"student.shoe_size"'))
    assert_only_problem(path, "entity 'student' has no field 'shoe_size'")


def test_bookkeeping_columns_are_not_fields(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(fields='"student.school_id"'))
    assert_only_problem(path, "entity 'student' has no field 'school_id'")


def test_every_field_needs_a_label(tmp_path: Path) -> None:
    path = replaced(tmp_path, 'nhs_number = "NHS number"\n', "")
    assert_only_problem(path, "field 'student.nhs_number' has no label")


def test_every_entity_needs_a_label(tmp_path: Path) -> None:
    path = replaced(tmp_path, '[entities.room]\nlabel = "Rooms"\n', "[entities.room]\n")
    assert_only_problem(path, "entity 'room' has no label")


def test_labels_for_unknown_fields_are_rejected(tmp_path: Path) -> None:
    path = replaced(tmp_path, 'nhs_number = "NHS number"\n', 'nhs_number = "NHS number"\n'
                    'shoe_size = "Shoe size"\n')  # fmt: skip
    assert_only_problem(path, "label for unknown field 'student.shoe_size'")


def test_every_field_must_be_readable_through_a_current_scope(tmp_path: Path) -> None:
    path = replaced(
        tmp_path, 'fields = ["student.upn", "student.former_upn"]', 'fields = ["student.upn"]'
    )
    assert_only_problem(path, "not readable through any current read scope: student.former_upn")


def test_a_deprecated_scope_does_not_make_a_field_readable(tmp_path: Path) -> None:
    text = PACKAGED.replace(
        'fields = ["student.upn", "student.former_upn"]', 'fields = ["student.upn"]'
    ).replace("fields = []", 'fields = ["student.former_upn"]')
    path = write_catalogue(tmp_path, text)
    assert_only_problem(path, "not readable through any current read scope: student.former_upn")


def test_write_scopes_only_write_mis_fields(tmp_path: Path) -> None:
    path = with_extra_scope(
        tmp_path, extra_scope(category="Writeback", kind="write", fields='"school.name"')
    )
    assert_only_problem(path, "'school.name' cannot be written: it is not MIS data")


def test_a_current_scope_must_unlock_fields(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope(fields=""))
    assert_only_problem(path, "unlocks no fields; only a deprecated scope may be empty")


def test_only_public_read_scopes_may_skip_consent(tmp_path: Path) -> None:
    block = extra_scope().replace("sensitive = false", "sensitive = true\nconsent_required = false")
    path = with_extra_scope(tmp_path, block)
    assert_only_problem(path, "only a non-sensitive read scope can skip consent")


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, extra_scope().replace("sensitive", "sensitve"))
    with pytest.raises(CatalogueError, match="unknown key"):
        load_catalogue(path)


def test_flags_must_be_booleans(tmp_path: Path) -> None:
    path = with_extra_scope(
        tmp_path, extra_scope().replace("sensitive = false", 'sensitive = "no"')
    )
    assert_only_problem(path, "sensitive must be true or false")


def test_small_bad_catalogue_reports_every_problem(tmp_path: Path) -> None:
    path = write_catalogue(
        tmp_path,
        'categories = ["Students"]\n' + extra_scope(kind="peek", fields='"student.nope"'),
    )
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    message = str(caught.value)
    assert "kind must be 'read' or 'write'" in message
    assert "entity 'student' has no field 'nope'" in message
    assert "entity 'student' has no label" in message
    assert "not readable through any current read scope" in message


def test_the_always_shared_scopes_are_those_that_need_no_consent() -> None:
    catalogue = default_catalogue()
    assert catalogue.always_shared == {"PublicSchoolData"}
    assert all(not catalogue[name].consent_required for name in catalogue.always_shared)


# Sign-in scopes: claims, not fields


def test_sign_in_scopes_are_their_own_category_and_release_claims_only() -> None:
    catalogue = default_catalogue()
    assert catalogue.sign_in_scopes == tuple(SIGN_IN_SCOPES)
    assert [s.name for s in catalogue.by_category()["Sign-in"]] == list(SIGN_IN_SCOPES)
    for name, claims in SIGN_IN_SCOPES.items():
        scope = catalogue[name]
        assert scope.is_sign_in
        assert scope.claims == claims
        assert scope.fields == ()
        assert scope.consent_required
        assert not scope.sensitive
    assert not catalogue["StudentLite"].is_sign_in
    assert catalogue.claims_for(["openid", "profile", "Attendance"]) == {
        "sub",
        "name",
        "given_name",
        "family_name",
    }


def sign_in_scope(claims: str, *, category: str = "Sign-in", fields: str | None = None) -> str:
    block = EXTRA_SCOPE.format(name="SignInTest", category=category, kind="read", fields=fields)
    if fields is None:
        block = block.replace("fields = [None]\n", "")
    return block + f"claims = [{claims}]\n"


def test_a_claim_the_server_cannot_release_is_rejected(tmp_path: Path) -> None:
    path = with_extra_scope(tmp_path, sign_in_scope('"sub", "shoe_size"'))
    assert_only_problem(path, "scope 'SignInTest': no such claim 'shoe_size'")


@pytest.mark.parametrize(
    ("category", "fields"),
    [("Students", ""), ("Sign-in", '"student.forename"')],
    ids=["outside Sign-in", "with fields"],
)
def test_a_scope_releasing_claims_is_a_sign_in_scope_without_fields(
    tmp_path: Path, category: str, fields: str
) -> None:
    path = with_extra_scope(tmp_path, sign_in_scope('"sub"', category=category, fields=fields))
    assert_only_problem(path, "a scope releasing claims is a read scope of category 'Sign-in'")
