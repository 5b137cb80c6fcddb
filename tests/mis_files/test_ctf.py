"""A handwritten CTF of two siblings read into connector records, part by part."""

from __future__ import annotations

from authserver.mis_files import ParsedFile, read_file
from authserver.mis_files.ctf import contact_key


def parsed(data: bytes) -> ParsedFile:
    return read_file(data, "siblings.xml")


def by_key(rows: list[dict], key: str = "id") -> dict:
    return {row[key]: row for row in rows}


def test_a_ctf_is_a_delta_from_its_source_school_for_its_destination(ctf_bytes: bytes) -> None:
    result = parsed(ctf_bytes)
    assert (result.format, result.mode) == ("ctf", "delta")
    assert result.school_urn == "140001"  # DestSchool's: the records are for the receiver
    assert "St Mary's CofE Primary School (LA/Estab 935/2001, URN 124999)" in result.source
    assert result.deletions == {}


def test_pupils_keep_every_character_of_their_names_and_their_details(ctf_bytes: bytes) -> None:
    zoe = by_key(parsed(ctf_bytes).entities["student"], "upn")["V935400125001"]
    assert zoe | {} == zoe  # a plain dict
    assert {k: zoe[k] for k in ("forename", "surname", "middle_names", "preferred_forename")} == {
        "forename": "Zoë",
        "surname": "O'Brien-Nkemelu",
        "middle_names": "Adaeze Marie",
        "preferred_forename": "Zo",
    }
    assert zoe["legal_forename"] == "Zoë"
    assert zoe["former_upn"] == "J935400125002"
    assert zoe["date_of_birth"] == "2014-03-09"
    assert zoe["gender"] == "Female"
    assert zoe["nc_year"] == "7"
    assert zoe["ethnicity"] == "Mixed - White and Black African"
    assert zoe["first_language"] == "English"
    assert zoe["enrolment_status"] == "current"
    assert zoe["service_child"] is False
    assert zoe["in_care"] is False
    assert zoe["telephone"] == "01632 960111"


def test_free_meals_now_and_in_the_last_six_years(ctf_bytes: bytes) -> None:
    pupils = by_key(parsed(ctf_bytes).entities["student"], "upn")
    assert (pupils["V935400125001"]["fsm_eligible"], pupils["V935400125001"]["fsm_ever6"]) == (
        False,
        True,
    )
    assert (pupils["Y935400125003"]["fsm_eligible"], pupils["Y935400125003"]["fsm_ever6"]) == (
        True,
        True,
    )


def test_bs7666_and_address_lines_both_become_our_address(ctf_bytes: bytes) -> None:
    pupils = by_key(parsed(ctf_bytes).entities["student"], "upn")
    fields = ("address_line1", "address_line2", "town", "county", "postcode")
    expected = ("Flat 2, 14 Chapel Row", None, "Ipswich", "Suffolk", "IP1 2AB")
    for upn in ("V935400125001", "Y935400125003"):
        assert tuple(pupils[upn][f] for f in fields) == expected


def test_a_parent_of_two_siblings_is_one_contact(ctf_bytes: bytes) -> None:
    result = parsed(ctf_bytes)
    mother = contact_key("Siobhán", "O'Brien", "IP1 2AB")
    contacts = by_key(result.entities["contact"])
    assert set(contacts) == {mother, contact_key("Chidi", "Nkemelu", "CO1 1AA")}
    assert contacts[mother]["mobile_telephone"] == "07700 900123"
    assert contacts[mother]["email"] == "siobhan@example.com"  # from the first sibling
    assert contacts[mother]["postcode"] == "IP1 2AB"  # AddressAsPupil
    links = {(r["student_id"], r["contact_id"]): r for r in result.entities["student_contact"]}
    assert set(links) == {
        ("V935400125001", mother),
        ("Y935400125003", mother),
        ("Y935400125003", contact_key("Chidi", "Nkemelu", "CO1 1AA")),
    }
    father = links[("Y935400125003", contact_key("Chidi", "Nkemelu", "CO1 1AA"))]
    assert (father["relationship"], father["parental_responsibility"], father["priority"]) == (
        "Father",
        True,
        2,
    )
    assert links[("V935400125001", mother)]["relationship"] == "Parent"


def test_the_contact_key_ignores_case_and_spaces_in_the_postcode() -> None:
    assert contact_key("SIOBHÁN", "o'brien", "ip12ab") == contact_key(
        "Siobhán", "O'Brien", "IP1 2AB"
    )
    assert contact_key("Siobhán", "O'Brien", "IP1 2AB") != contact_key(
        "Siobhán", "O'Brien", "IP1 2AC"
    )


def test_sen_status_and_needs(ctf_bytes: bytes) -> None:
    result = parsed(ctf_bytes)
    assert by_key(result.entities["student"], "upn")["V935400125001"]["sen_status"] == "SEN support"
    [need] = result.entities["sen_need"]
    assert need["student_id"] == "V935400125001"
    assert (need["need_type"], need["rank"], need["start_date"]) == ("SpLD", 1, "2022-09-05")


def test_the_marks_string_becomes_dated_session_marks_skipping_non_school_days(
    ctf_bytes: bytes,
) -> None:
    marks = [
        (m["date"], m["session"], m["code"]) for m in parsed(ctf_bytes).entities["session_mark"]
    ]
    assert marks == [
        ("2025-07-17", "AM", "/"),
        ("2025-07-17", "PM", "\\"),
        ("2025-07-18", "AM", "L"),
        ("2025-07-18", "PM", "I"),
        ("2025-07-21", "AM", "V"),  # the weekend's four '#' are no marks
        ("2025-07-21", "PM", "\\"),
    ]


def test_the_year_totals_become_a_summary(ctf_bytes: bytes) -> None:
    [summary] = parsed(ctf_bytes).entities["attendance_summary"]
    assert summary == summary | {
        "student_id": "V935400125001",
        "start_date": "2025-07-17",
        "end_date": "2025-07-21",
        "possible_sessions": 6,
        "attended_sessions": 4,  # the CTF's 5 less the educational visit, kept apart
        "approved_activity_sessions": 1,
        "authorised_absence_sessions": 1,
        "unauthorised_absence_sessions": 0,
        "late_sessions": 1,
    }


def test_stage_assessments_and_school_history(ctf_bytes: bytes) -> None:
    result = parsed(ctf_bytes)
    [aspect] = result.entities["assessment_aspect"]
    [score] = result.entities["assessment_result"]
    assert aspect["name"] == "KS2 MAT TT SCS"
    assert (score["aspect_id"], score["value"], score["result_set"], score["recorded_on"]) == (
        aspect["id"],
        "108",
        "KS2 2025",
        "2025-07-08",
    )
    [school] = result.entities["school_history"]
    assert (school["school_name"], school["la_estab"], school["leaving_date"]) == (
        "St Mary's CofE Primary School",
        "9352001",
        "2025-07-18",
    )


def test_every_value_with_no_place_is_listed(ctf_bytes: bytes) -> None:
    unmapped = parsed(ctf_bytes).unmapped
    assert "Pupil/UniqueLearnerNumber: 2 values have no place yet" in unmapped
    assert "Pupil/NAWdetails/SpeakWelsh: 1 value has no place yet" in unmapped
    assert (
        "Pupil/Address/BS7666Address/UniquePropertyReferenceNumber: 1 value has no place yet"
        in unmapped
    )
    assert "Pupil/StageAssessments/KeyStage/StageAssessment/Locale: 1 value has no place yet" in (
        unmapped
    )


def test_every_record_uses_our_entities_and_fields(ctf_bytes: bytes) -> None:
    from authserver.models.mis import ENTITIES, entity_fields

    for entity, rows in parsed(ctf_bytes).entities.items():
        assert entity in ENTITIES
        for row in rows:
            assert set(row) - {"id"} <= set(entity_fields(entity)), entity
