"""A CTF laid out as a school MIS exports one (the DfE's element names and nesting, Welsh
details included) read into records, with everything we have no field for listed."""

from __future__ import annotations

import pytest

from authserver.domain.upn import valid_upn
from authserver.mis_files import FileRefused, ParsedFile, read_file
from authserver.mis_files.ctf import contact_key
from tests.mis_files.conftest import DATA

EXPORT = (DATA / "ctf-mis-export.xml").read_text(encoding="utf-8")
ELIN, DYLAN, AMIRA = "K681234501101", "Z681234501102", "N681234501103"


def parsed(text: str = EXPORT) -> ParsedFile:
    return read_file(text.encode(), "681LLLL_CTF_6814012_001.xml")


def by_key(rows: list[dict], key: str = "id") -> dict:
    return {row[key]: row for row in rows}


def test_a_welsh_schools_file_with_no_urn_names_its_school_by_la_and_estab() -> None:
    result = parsed()
    assert result.school_urn is None  # Welsh schools have no URN in the header
    assert result.source == (
        "CTF 25.0 from Ysgol Gynradd Coed-y-Gof (LA/Estab 681/2345) made by Example MIS"
    )
    assert result.notes == []


def test_welsh_upns_are_valid_and_a_wrong_check_letter_is_not() -> None:
    assert valid_upn(ELIN)
    assert valid_upn("V935400125001")  # England's, as before
    assert not valid_upn("A681234501101")
    assert not valid_upn("K699234501101")  # no local authority has 699


def test_pupils_from_the_real_element_names() -> None:
    pupils = by_key(parsed().entities["student"], "upn")
    assert set(pupils) == {ELIN, DYLAN, AMIRA}
    elin = pupils[ELIN]
    assert {k: elin[k] for k in ("gender", "preferred_surname", "middle_names", "nc_year")} == {
        "gender": "Female",  # from Sex
        "preferred_surname": "Jones",
        "middle_names": "Haf",
        "nc_year": "6",
    }
    assert (elin["first_language"], elin["ethnicity"]) == ("Welsh", "White - British")
    assert elin["telephone"] == "07700 900501"  # the mobile before the home phone
    assert pupils[DYLAN]["gender"] == "Male"
    assert (pupils[AMIRA]["in_care"], pupils[AMIRA]["first_language"]) == (True, "Arabic")


def test_free_meals_from_the_fsm_history() -> None:
    pupils = by_key(parsed().entities["student"], "upn")
    assert (pupils[ELIN]["fsm_eligible"], pupils[ELIN]["fsm_ever6"]) == (False, True)
    assert (pupils[DYLAN]["fsm_eligible"], pupils[DYLAN]["fsm_ever6"]) == (False, False)
    assert (pupils[AMIRA]["fsm_eligible"], pupils[AMIRA]["fsm_ever6"]) == (True, True)


def test_bs7666_and_address_lines_with_county_beside_them() -> None:
    pupils = by_key(parsed().entities["student"], "upn")
    fields = ("address_line1", "address_line2", "town", "county", "postcode")
    assert tuple(pupils[ELIN][f] for f in fields) == (
        "12 Heol y Deri",
        "Rhiwbina",
        "Cardiff",
        "Cardiff",
        "CF14 6HF",
    )
    assert tuple(pupils[AMIRA][f] for f in fields) == (
        "7 Clos y Wern",
        "Llanishen",
        "Cardiff",
        "South Glamorgan",
        "CF14 5BB",
    )


def test_contacts_with_address_as_pupil_inside_their_address() -> None:
    result = parsed()
    mother = contact_key("Gwenllian", "Prys-Jones", "CF14 6HF")
    father = contact_key("Rhodri", "Jones", "CF64 1AA")
    carer = contact_key("Sian", "Evans", "CF14 5BB")
    contacts = by_key(result.entities["contact"])
    assert set(contacts) == {mother, father, carer}  # the siblings' mother once
    assert (contacts[mother]["town"], contacts[mother]["postcode"]) == ("Cardiff", "CF14 6HF")
    assert contacts[mother]["work_telephone"] == "029 2018 0999"
    assert contacts[father]["address_line1"] == "Flat 4, Tŷ Glas, Ffordd yr Eglwys"
    assert contacts[father]["county"] == "Vale of Glamorgan"
    assert contacts[carer]["home_telephone"] == "029 2018 0777"
    links = {(r["student_id"], r["contact_id"]): r for r in result.entities["student_contact"]}
    assert set(links) == {(ELIN, mother), (ELIN, father), (DYLAN, mother), (AMIRA, carer)}
    assert (links[(AMIRA, carer)]["relationship"], links[(AMIRA, carer)]["priority"]) == (
        "Foster carer",
        1,
    )
    assert links[(AMIRA, carer)]["parental_responsibility"] is False


def test_the_current_sen_spell_and_its_ranked_needs() -> None:
    result = parsed()
    pupils = by_key(result.entities["student"], "upn")
    assert (pupils[ELIN]["sen_status"], pupils[AMIRA]["sen_status"]) == ("SEN support", "EHC plan")
    assert pupils[DYLAN]["sen_status"] is None
    needs = sorted((n["student_id"], n["rank"], n["need_type"], n["start_date"]) for n in (
        result.entities["sen_need"]
    ))  # fmt: skip
    assert needs == [
        (ELIN, 1, "SLCN", "2023-01-09"),
        (ELIN, 2, "ASD", "2023-01-09"),
        (AMIRA, 1, "SEMH", "2024-04-01"),  # the open spell's start, not the closed one's
    ]


def test_attendance_marks_from_attend_sessions() -> None:
    result = parsed()
    marks = "".join(m["code"] for m in result.entities["session_mark"])
    assert marks == "/\\LI/\\VV/O/\\"  # the weekend's '####' are no marks
    days = sorted({m["date"] for m in result.entities["session_mark"]})
    assert days == [f"2025-07-{day}" for day in ("14", "15", "16", "17", "18", "21")]
    summaries = by_key(result.entities["attendance_summary"], "start_date")
    assert summaries["2023-09-01"] == summaries["2023-09-01"] | {
        "end_date": "2024-08-31",  # totals with no marks: the academic year of Year
        "possible_sessions": 380,
        "attended_sessions": 362,
    }
    assert summaries["2025-07-14"] == summaries["2025-07-14"] | {
        "end_date": "2025-07-21",
        "possible_sessions": 12,
        "attended_sessions": 8,  # the CTF's 10 less the two educational-visit sessions
        "approved_activity_sessions": 2,
        "authorised_absence_sessions": 1,
        "unauthorised_absence_sessions": 1,
        "late_sessions": 1,
    }


def test_key_stage_results_and_school_history() -> None:
    result = parsed()
    aspects = {a["name"] for a in result.entities["assessment_aspect"]}
    assert aspects == {"KS2 MAT TA OUT", "KS2 WEL TA OUT"}
    values = sorted((r["value"], r["result_set"], r["recorded_on"]) for r in (
        result.entities["assessment_result"]
    ))  # fmt: skip
    assert values == [("4", "KS2 2025", "2025-06-27"), ("5", "KS2 2025", "2025-06-27")]
    schools = sorted(
        (s["student_id"], s["la_estab"], s["entry_date"], s["leaving_reason"])
        for s in result.entities["school_history"]
    )
    assert schools == [
        (ELIN, "6811001", "2016-09-05", "Transferred to another school"),
        (ELIN, "6812345", "2017-09-04", None),
        (AMIRA, "6812345", "2022-01-10", None),
    ]


def test_what_has_no_place_is_listed_and_nothing_we_hold_is() -> None:
    unmapped = {entry.split(":")[0] for entry in parsed().unmapped}
    assert unmapped == {
        "Pupil/UniqueLearnerNumber",
        "Pupil/UCI",
        "Pupil/BasicDetails/FormerSurname",
        "Pupil/BasicDetails/EthnicitySource",
        "Pupil/BasicDetails/MedicalFlag",
        "Pupil/BasicDetails/Disabilities/Disability",
        # The home language: only the first language has a field.
        "Pupil/BasicDetails/Languages/Type/LanguageType",
        "Pupil/BasicDetails/Languages/Type/Language",
        "Pupil/FSMhistory/FSMreviewDate",
        "Pupil/FSMhistory/FSMinstance/UKcountry",
        "Pupil/NAWdetails/SpeakWelsh",
        "Pupil/NAWdetails/HomeWelsh",
        "Pupil/NAWdetails/NationalIdentity",
        "Pupil/NAWdetails/WelshSource",
        "Pupil/NAWdetails/EALAcquisition",
        "Pupil/NAWdetails/LanguageSource",
        "Pupil/LookedAfter/CareAuthority",
        "Pupil/Address/BS7666Address/PostTown",  # "CARDIFF" beside Town "Cardiff"
        "Pupil/Address/BS7666Address/UniquePropertyReferenceNumber",
        "Pupil/Address/Country",
        "Pupil/Address/Easting",
        "Pupil/Address/Northing",
        # The pupil's second phone: we keep one.
        "Pupil/Phones/Phone/TelephoneType",
        "Pupil/Phones/Phone/PhoneNo",
        # A closed SEN spell: only the current one has a place.
        "Pupil/SENhistory/SEN/StartDate",
        "Pupil/SENhistory/SEN/EndDate",
        "Pupil/SENhistory/SEN/SENprovision",
        "Pupil/StageAssessments/KeyStage/StageAssessment/Locale",
        "Pupil/StageAssessments/KeyStage/StageAssessment/ResultStatus",
        "Pupil/StageAssessments/KeyStage/StageAssessment/ResultQualifier",
        "Pupil/SchoolHistory/School/LastSchool",
    }


def test_an_older_ctf_saying_gender_reads_the_same() -> None:
    older = EXPORT.replace("<Sex>", "<Gender>").replace("</Sex>", "</Gender>")
    older = older.replace("<CTFversion>25.0", "<CTFversion>15.0")
    assert parsed(older).entities["student"] == parsed().entities["student"]


def test_a_contact_flagging_address_as_pupil_beside_address_is_read_too() -> None:
    flagged = "<Address>\n            <AddressAsPupil>true</AddressAsPupil>\n          </Address>"
    assert EXPORT.count(flagged) == 3
    beside = EXPORT.replace(flagged, "<AddressAsPupil>true</AddressAsPupil>")
    assert parsed(beside).entities["contact"] == parsed().entities["contact"]


@pytest.mark.parametrize(
    ("change", "element", "words"),
    [
        (
            ("<AttendanceStartDate>2025-07-14</AttendanceStartDate>", ""),
            "Attendance/YearData/AttendSessions",
            "needs its AttendanceStartDate",
        ),
        (
            ("<AttendanceStartDate>2025-07-14", "<AttendanceStartDate>14/07/2025"),
            "AttendSessions/AttendanceStartDate",
            "not a date",
        ),
        (("<FSMstartDate>2020-01-06", "<FSMstartDate>2020-13-06"), "FSMstartDate", "not a date"),
        (("<InCare>true", "<InCare>sometimes"), "LookedAfter/InCare", "not true or false"),
        (
            ("<AddressAsPupil>true", "<AddressAsPupil>maybe"),
            "Address/AddressAsPupil",
            "not true or false",
        ),
        (("<SessionsPossible>380", "<SessionsPossible>lots"), "SessionsPossible", "whole number"),
    ],
)
def test_bad_values_in_the_real_elements_name_their_line_and_element(
    change: tuple[str, str], element: str, words: str
) -> None:
    text = EXPORT.replace(*change, 1)
    with pytest.raises(FileRefused) as caught:
        parsed(text)
    error = caught.value
    assert words in error.message
    assert error.element is not None
    assert error.element.endswith(element)
    assert error.line is not None
    assert error.line > 1
