"""A handwritten OneRoster delta bundle read into connector records."""

from __future__ import annotations

from authserver.mis_files import read_file
from tests.mis_files.conftest import bundle, oneroster_files


def test_a_delta_manifest_gives_a_delta_with_deletions(oneroster_bytes: bytes) -> None:
    result = read_file(oneroster_bytes, "roster.zip")
    assert (result.format, result.mode) == ("oneroster", "delta")
    assert result.school_urn == "140001"
    assert result.source == "OneRoster org Kingsmead School"
    assert result.deletions == {
        "student": ["N815200124010"],
        "class": ["c-2"],
        "class_membership": ["e-3"],
    }


def test_users_become_pupils_staff_and_contacts(oneroster_bytes: bytes) -> None:
    entities = read_file(oneroster_bytes, "roster.zip").entities
    pupils = {p["upn"]: p for p in entities["student"]}
    zoe = pupils["V935400125001"]
    assert (zoe["forename"], zoe["surname"], zoe["middle_names"]) == (
        "Zoë",
        "O'Brien-Nkemelu",
        "Adaeze",
    )
    assert (zoe["nc_year"], zoe["date_of_birth"], zoe["gender"]) == ("7", "2014-03-09", "Female")
    assert pupils["Y935400125003"]["nc_year"] == "R"
    [teacher] = entities["staff"]
    assert teacher == teacher | {
        "id": "t-1",
        "staff_code": "JHA",
        "work_email": "j.hale@school.example.org",
        "work_telephone": "01632 960000",
        "is_teaching_staff": True,
    }
    contacts = {c["id"]: c for c in entities["contact"]}
    assert contacts["p-1"]["forename"] == "Siobhán"
    assert contacts["p-1"]["mobile_telephone"] == "07700 900123"


def test_agents_become_links_with_their_order(oneroster_bytes: bytes) -> None:
    links = read_file(oneroster_bytes, "roster.zip").entities["student_contact"]
    found = {(r["student_id"], r["contact_id"]): (r["relationship"], r["priority"]) for r in links}
    assert found == {
        ("V935400125001", "p-1"): ("Parent", 1),
        ("V935400125001", "p-2"): ("Guardian", 2),
        ("Y935400125003", "p-1"): ("Parent", 1),
    }


def test_classes_subjects_memberships_and_teachers(oneroster_bytes: bytes) -> None:
    entities = read_file(oneroster_bytes, "roster.zip").entities
    [subject] = entities["subject"]
    assert (subject["code"], subject["name"]) == ("MA", "Mathematics")
    [teaching] = entities["class"]
    assert teaching == {
        "id": "c-1",
        "code": "7X/Ma1",
        "name": "7X/Ma1 Maths",
        "subject_id": subject["id"],
        "nc_year": "7",
        "staff_id": "t-1",
    }
    [membership] = entities["class_membership"]
    assert membership == {
        "id": "e-1",
        "class_id": "c-1",
        "student_id": "V935400125001",
        "start_date": "2025-09-03",
        "end_date": None,
    }


def test_columns_with_no_place_are_listed(oneroster_bytes: bytes) -> None:
    unmapped = read_file(oneroster_bytes, "roster.zip").unmapped
    assert "users.csv/username: 5 values have no place yet" in unmapped
    assert "demographics.csv/demographicRaceTwoOrMoreRaces: 1 value has no place yet" in unmapped
    assert "classes.csv/location: 1 value has no place yet" in unmapped
    assert "academicSessions.csv: 1 row has no place yet" in unmapped


def test_a_upn_may_come_in_a_metadata_column() -> None:
    files = oneroster_files()
    users = files["users.csv"].splitlines()
    users[0] += ",metadata.upn"
    users[1] = users[1].replace("V935400125001", "ADM-0001") + ",V935400125001"
    files["users.csv"] = "\n".join(line if i < 2 else line + "," for i, line in enumerate(users))
    pupils = read_file(bundle(files), "roster.zip").entities["student"]
    assert "V935400125001" in {p["upn"] for p in pupils}


def test_a_windows_1252_csv_is_read_faithfully_and_said_so() -> None:
    files = oneroster_files()
    files["users.csv"] = files["users.csv"].encode("cp1252")
    result = read_file(bundle(files), "roster.zip")
    assert "Siobhán" in {c["forename"] for c in result.entities["contact"]}
    assert result.notes == ["users.csv is not UTF-8; it was read as Windows-1252"]


def test_a_bulk_manifest_gives_a_snapshot() -> None:
    files = oneroster_files()
    files["manifest.csv"] = files["manifest.csv"].replace(",delta", ",bulk")
    for name in ("users.csv", "classes.csv", "enrollments.csv"):
        files[name] = "\n".join(
            line for line in files[name].splitlines() if "tobedeleted" not in line
        )
    result = read_file(bundle(files), "roster.zip")
    assert (result.mode, result.deletions) == ("snapshot", {})
