"""Connector records written out as a CTF or a OneRoster bundle: the inverse of the readers,
for sample files and tests (we never send these files anywhere).

The CTF has the DfE's element names and nesting, in the order MIS exports write them, so that
what the readers are tested on looks like what schools upload.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from authserver.mis_files import codes

Records = dict[str, list[dict[str, Any]]]
ADDRESS = ("address_line1", "address_line2", "town", "county", "postcode")
APPROVED = codes.APPROVED_ACTIVITY_CODES


@dataclass(frozen=True)
class SchoolDetails:
    """Who the file is from: the header of a CTF, the school org of a OneRoster bundle."""

    name: str
    urn: str
    la_code: str
    establishment_number: str
    made_at: dt.datetime


def write_ctf(records: Records, school: SchoolDetails) -> bytes:
    """A CTF (UTF-8 XML) holding the pupils of `records` and what hangs off them.

    It is the file a school exports to itself (when it changes MIS, say): source and
    destination are both `school`.
    """
    by_pupil = _by_pupil(records)
    contacts = {c["id"]: c for c in records.get("contact", [])}
    aspects = {a["id"]: a for a in records.get("assessment_aspect", [])}
    subjects = {s["id"]: s for s in records.get("subject", [])}
    root = ET.Element("CTfile")
    header = _sub(root, "Header")
    _text(header, "DocumentName", "Common Transfer File")
    _text(header, "CTFversion", "25.0")
    _text(header, "DateTime", school.made_at.strftime("%Y-%m-%dT%H:%M:%S"))
    _text(header, "DocumentQualifier", "partial")
    _text(header, "SupplierID", "School Data Sharing demo")
    source = _sub(header, "SourceSchool")
    _text(source, "LEA", school.la_code)
    _text(source, "Estab", school.establishment_number)
    _text(source, "URN", school.urn)
    _text(source, "SchoolName", school.name)
    _text(source, "AcademicYear", str(_academic_year(school.made_at.date())))
    destination = _sub(header, "DestSchool")
    _text(destination, "LEA", school.la_code)
    _text(destination, "Estab", school.establishment_number)
    _text(destination, "URN", school.urn)
    data = _sub(root, "CTFpupilData")
    for student in records.get("student", []):
        upn = student["upn"]
        related = by_pupil[upn]
        pupil = _sub(data, "Pupil")
        _text(pupil, "UPN", upn)
        _text(pupil, "Surname", student.get("legal_surname") or student["surname"])
        _text(pupil, "Forename", student.get("legal_forename") or student["forename"])
        _text(pupil, "DOB", student.get("date_of_birth"))
        # Current CTFs call it Sex; older ones Gender (the reader takes both).
        _text(pupil, "Sex", _coded(codes.GENDERS, student.get("gender")))
        details = _sub(pupil, "BasicDetails")
        _text(details, "FormerUPN", student.get("former_upn"))
        _text(details, "PreferredSurname", student.get("preferred_surname"))
        _text(details, "PreferredForename", student.get("preferred_forename"))
        _text(details, "MiddleNames", student.get("middle_names"))
        _text(details, "NCyearActual", student.get("nc_year"))
        _text(details, "Ethnicity", _coded(codes.ETHNICITIES, student.get("ethnicity")))
        if student.get("first_language"):
            kind = _sub(_sub(details, "Languages"), "Type")
            _text(kind, "LanguageType", "F")
            _text(kind, "Language", codes.code(codes.LANGUAGES, student["first_language"]))
        _text(
            details,
            "EnrolStatus",
            _coded(codes.ENROLMENT_STATUSES, student.get("enrolment_status")),
        )
        if student.get("service_child"):
            _text(details, "ServiceChild", "Y")
        _fsm(pupil, student, school.made_at.date())
        if student.get("in_care"):
            _text(_sub(pupil, "LookedAfter"), "InCare", "true")
        _sen(pupil, student, related["sen_need"])
        _address(pupil, student)
        if student.get("telephone"):
            _phones(pupil, [("M", student["telephone"])])
        _text(pupil, "Email", student.get("email"))
        _contacts(pupil, student, related["student_contact"], contacts)
        _attendance(pupil, related["session_mark"], related["attendance_summary"])
        _assessments(pupil, student, related["assessment_result"], aspects, subjects)
        _history(pupil, related["school_history"])
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _by_pupil(records: Records) -> dict[str, dict[str, list[dict[str, Any]]]]:
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for entity, rows in records.items():
        for row in rows:
            if entity != "student" and row.get("student_id"):
                grouped[row["student_id"]][entity].append(row)
    return grouped


def _sub(parent: ET.Element, tag: str) -> ET.Element:
    return ET.SubElement(parent, tag)


def _text(parent: ET.Element, tag: str, value: object) -> None:
    if value is None or value == "":
        return
    ET.SubElement(parent, tag).text = str(value)


def _coded(table: dict[str, Any], value: str | None) -> str | None:
    return codes.code(table, value) if value else None


def _academic_year(day: dt.date) -> int:
    return day.year if day.month >= 9 else day.year - 1


def _fsm(pupil: ET.Element, student: dict[str, Any], today: dt.date) -> None:
    # Our records hold flags, not dates: an open spell for "now", a closed one for "ever 6".
    if student.get("fsm_eligible"):
        spell = (today.replace(year=today.year - 1), None)
    elif student.get("fsm_ever6"):
        spell = (today.replace(year=today.year - 3), today.replace(year=today.year - 2))
    else:
        return
    instance = _sub(_sub(pupil, "FSMhistory"), "FSMinstance")
    _text(instance, "FSMstartDate", spell[0].isoformat())
    _text(instance, "FSMendDate", spell[1].isoformat() if spell[1] else None)
    _text(instance, "UKcountry", "ENG")


def _sen(pupil: ET.Element, student: dict[str, Any], needs: list[dict[str, Any]]) -> None:
    status = student.get("sen_status")
    if not status and not needs:
        return
    history = _sub(pupil, "SENhistory")
    spell = _sub(history, "SEN")
    starts = sorted(n["start_date"] for n in needs if n.get("start_date"))
    _text(spell, "StartDate", starts[0] if starts else None)
    provisions = {word: code for code, word in codes.SEN_PROVISIONS.items() if word}
    _text(spell, "SENprovision", provisions.get(status, status) if status else "N")
    if needs:
        listed = _sub(history, "SENneeds")
        for need in sorted(needs, key=lambda n: n.get("rank") or 0):
            entry = _sub(listed, "SENneed")
            _text(entry, "SENtypeRank", need.get("rank"))
            _text(entry, "SENtype", need["need_type"].upper())


def _address(parent: ET.Element, row: dict[str, Any]) -> None:
    if not any(row.get(name) for name in ADDRESS):
        return
    address = _sub(parent, "Address")
    if any(row.get(name) for name in ADDRESS[:3]):
        lines = _sub(address, "AddressLines")
        for index, name in enumerate(ADDRESS[:3]):
            _text(lines, f"AddressLine{index + 1}", row.get(name))
    _text(address, "County", row.get("county"))
    _text(address, "PostCode", row.get("postcode"))


def _phones(parent: ET.Element, phones: list[tuple[str, str | None]]) -> None:
    phones = [(kind, number) for kind, number in phones if number]
    if not phones:
        return
    listed = _sub(parent, "Phones")
    for kind, number in phones:
        phone = _sub(listed, "Phone")
        _text(phone, "TelephoneType", kind)
        _text(phone, "PhoneNo", number)


def _contacts(
    pupil: ET.Element,
    student: dict[str, Any],
    links: list[dict[str, Any]],
    contacts: dict[str, dict[str, Any]],
) -> None:
    if not links:
        return
    listed = _sub(pupil, "Contacts")
    for link in sorted(links, key=lambda link: link.get("priority") or 99):
        person = contacts[link["contact_id"]]
        contact = _sub(listed, "Contact")
        _text(contact, "Order", link.get("priority"))
        _text(contact, "Title", person.get("title"))
        _text(contact, "Surname", person.get("legal_surname") or person["surname"])
        _text(contact, "Forename", person.get("legal_forename") or person["forename"])
        _text(contact, "MiddleNames", person.get("middle_names"))
        _text(contact, "Relationship", _coded(codes.RELATIONSHIPS, link.get("relationship")))
        _text(contact, "Responsibility", "true" if link.get("parental_responsibility") else "false")
        if all(person.get(name) == student.get(name) for name in ADDRESS):
            # The flag stands in Address in place of the address lines.
            _text(_sub(contact, "Address"), "AddressAsPupil", "true")
        else:
            _address(contact, person)
        _phones(
            contact,
            [
                ("H", person.get("home_telephone")),
                ("M", person.get("mobile_telephone")),
                ("W", person.get("work_telephone")),
            ],
        )
        _text(contact, "Email", person.get("email"))


def _attendance(
    pupil: ET.Element, marks: list[dict[str, Any]], summaries: list[dict[str, Any]]
) -> None:
    years: dict[int, dict[str, Any]] = defaultdict(lambda: {"marks": {}, "summary": None})
    for mark in marks:
        day = dt.date.fromisoformat(mark["date"])
        years[_academic_year(day)]["marks"][(day, mark["session"])] = mark["code"]
    for summary in summaries:
        years[_academic_year(dt.date.fromisoformat(summary["start_date"]))]["summary"] = summary
    if not years:
        return
    attendance = _sub(pupil, "Attendance")
    for year, held in sorted(years.items()):
        entry = _sub(attendance, "YearData")
        _text(entry, "Year", year)
        summary = held["summary"]
        if summary:
            _text(entry, "SessionsPossible", summary["possible_sessions"])
            _text(entry, "SessionsAuthorised", summary["authorised_absence_sessions"])
            # CTF counts approved educational activity as attendance.
            attended = summary["attended_sessions"] + summary["approved_activity_sessions"]
            _text(entry, "SessionsAttended", attended)
            _text(entry, "SessionsUnauthorised", summary["unauthorised_absence_sessions"])
        if held["marks"]:
            first = min(day for day, _ in held["marks"])
            if summary:
                first = min(first, dt.date.fromisoformat(summary["start_date"]))
            last = max(day for day, _ in held["marks"])
            string = []
            for offset in range((last - first).days + 1):
                day = first + dt.timedelta(days=offset)
                for part in ("AM", "PM"):
                    filler = "#" if day.weekday() >= 5 else "-"
                    string.append(held["marks"].get((day, part), filler))
            session = _sub(entry, "AttendSessions")
            _text(session, "AttendanceStartDate", first.isoformat())
            _text(session, "AttendanceMarks", "".join(string))


def _key_stage(nc_year: str | None) -> str:
    if nc_year in {None, "", "N1", "N2", "R"}:
        return "EYF"
    number = int(nc_year) if nc_year.isdigit() else 0  # type: ignore[union-attr]
    return "KS1" if number <= 2 else "KS2" if number <= 6 else "KS3" if number <= 9 else "KS4"


def _assessments(
    pupil: ET.Element,
    student: dict[str, Any],
    results: list[dict[str, Any]],
    aspects: dict[str, dict[str, Any]],
    subjects: dict[str, dict[str, Any]],
) -> None:
    if not results:
        return
    stage = _sub(_sub(pupil, "StageAssessments"), "KeyStage")
    _text(stage, "Stage", _key_stage(student.get("nc_year")))
    for result in results:
        aspect = aspects[result["aspect_id"]]
        subject = subjects.get(aspect.get("subject_id") or "")
        entry = _sub(stage, "StageAssessment")
        _text(entry, "Locale", "ENG")
        recorded = result.get("recorded_on")
        _text(entry, "Year", recorded[:4] if recorded else None)
        _text(entry, "Subject", subject["code"] if subject else "OTH")
        _text(entry, "Method", "TA")
        _text(entry, "Component", aspect["name"])
        _text(entry, "Result", result.get("value"))
        _text(entry, "ResultDate", recorded)


def _history(pupil: ET.Element, schools: list[dict[str, Any]]) -> None:
    if not schools:
        return
    listed = _sub(pupil, "SchoolHistory")
    for school in schools:
        entry = _sub(listed, "School")
        la_estab = school.get("la_estab") or ""
        _text(entry, "LEA", la_estab[:3])
        _text(entry, "Estab", la_estab[3:])
        _text(entry, "URN", school.get("school_urn"))
        _text(entry, "SchoolName", school["school_name"])
        _text(entry, "EntryDate", school.get("entry_date"))
        _text(entry, "LeavingDate", school.get("leaving_date"))
        _text(entry, "LeavingReason", school.get("leaving_reason"))


# --- OneRoster ----------------------------------------------------------------------------

USER_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "orgSourcedIds",
    "role",
    "username",
    "userIds",
    "givenName",
    "familyName",
    "middleName",
    "identifier",
    "email",
    "sms",
    "phone",
    "agentSourcedIds",
    "grades",
    "password",
)
DEMOGRAPHIC_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "birthDate",
    "sex",
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
    "countryOfBirthCode",
    "stateOfBirthAbbreviation",
    "cityOfBirth",
    "publicSchoolResidenceStatus",
)
CLASS_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "grades",
    "courseSourcedId",
    "classCode",
    "classType",
    "location",
    "schoolSourcedId",
    "termSourcedIds",
    "subjects",
    "subjectCodes",
    "periods",
)
COURSE_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "schoolYearSourcedId",
    "title",
    "courseCode",
    "grades",
    "orgSourcedId",
    "subjects",
    "subjectCodes",
)
ENROLLMENT_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "classSourcedId",
    "schoolSourcedId",
    "userSourcedId",
    "role",
    "primary",
    "beginDate",
    "endDate",
)
ORG_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "name",
    "type",
    "identifier",
    "parentSourcedId",
)
SESSION_COLUMNS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "type",
    "startDate",
    "endDate",
    "parentSourcedId",
    "schoolYear",
)
#: Our contact relationships as OneRoster's three agent roles.
AGENT_ROLES = {"Foster carer": "guardian", "Carer": "guardian", "Grandparent": "relative"}


def oneroster_grade(nc_year: str | None) -> str:
    """Our NC year as a OneRoster grade: two digits, or KG for Reception."""
    if not nc_year:
        return ""
    if nc_year == "R":
        return "KG"
    return nc_year.zfill(2) if nc_year.isdigit() else nc_year


def student_sourced_id(upn: str) -> str:
    """The sourcedId our sample bundles give a pupil (the UPN travels as `identifier`)."""
    return f"student-{upn}"


def write_oneroster(records: Records, school: SchoolDetails) -> bytes:
    """A OneRoster 1.1 bulk CSV bundle (a zip) of `records`' pupils, staff, contacts, classes."""
    org = "org-" + school.urn
    year = _academic_year(school.made_at.date())
    term = f"year-{year}"
    subjects = {s["id"]: s for s in records.get("subject", [])}
    students = records.get("student", [])
    links = records.get("student_contact", [])
    agents: dict[str, list[str]] = defaultdict(list)
    for link in sorted(links, key=lambda link: link.get("priority") or 99):
        agents[student_sourced_id(link["student_id"])].append(link["contact_id"])
        agents[link["contact_id"]].append(student_sourced_id(link["student_id"]))
    roles = {
        link["contact_id"]: AGENT_ROLES.get(link.get("relationship") or "", "parent")
        for link in links
    }
    users, demographics = [], []
    for student in students:
        sourced = student_sourced_id(student["upn"])
        users.append(
            _user(sourced, org, "student", student, agents[sourced], student["upn"])
            | {
                "grades": oneroster_grade(student.get("nc_year")),
                "phone": student.get("telephone") or "",
            }
        )
        sex = {"Male": "male", "Female": "female"}.get(student.get("gender") or "", "")
        demographics.append(
            dict.fromkeys(DEMOGRAPHIC_COLUMNS, "")
            | {"sourcedId": sourced, "birthDate": student.get("date_of_birth") or "", "sex": sex}
        )
    for person in records.get("staff", []):
        users.append(
            _user(person["id"], org, "teacher", person, [], person.get("staff_code") or "")
            | {"email": person.get("work_email") or "", "phone": person.get("work_telephone") or ""}
        )
    for person in records.get("contact", []):
        users.append(
            _user(
                person["id"],
                org,
                roles.get(person["id"], "parent"),
                person,
                agents[person["id"]],
                "",
            )
            | {
                "sms": person.get("mobile_telephone") or "",
                "phone": person.get("home_telephone") or "",
            }
        )
    classes, courses, enrollments = [], {}, []
    for row in records.get("class", []):
        subject = subjects.get(row.get("subject_id") or "")
        subject_name = subject["name"] if subject else "General"
        year_name = row.get("nc_year") or "all"
        course = f"course-{subject['code'] if subject else 'general'}-{year_name}"
        courses[course] = dict.fromkeys(COURSE_COLUMNS, "") | {
            "sourcedId": course,
            "schoolYearSourcedId": term,
            "orgSourcedId": org,
            "title": f"{subject_name}, year {year_name}",
            "grades": oneroster_grade(row.get("nc_year")),
            "subjects": subject["name"] if subject else "",
            "subjectCodes": subject["code"] if subject else "",
        }
        classes.append(
            dict.fromkeys(CLASS_COLUMNS, "")
            | {
                "sourcedId": row["id"],
                "title": row["name"],
                "classCode": row["code"],
                "grades": oneroster_grade(row.get("nc_year")),
                "courseSourcedId": course,
                "classType": "scheduled",
                "schoolSourcedId": org,
                "termSourcedIds": term,
                "subjects": subject["name"] if subject else "",
                "subjectCodes": subject["code"] if subject else "",
            }
        )
        if row.get("staff_id"):
            enrollments.append(
                dict.fromkeys(ENROLLMENT_COLUMNS, "")
                | {
                    "sourcedId": f"{row['id']}-teacher",
                    "classSourcedId": row["id"],
                    "schoolSourcedId": org,
                    "userSourcedId": row["staff_id"],
                    "role": "teacher",
                    "primary": "true",
                }
            )
    for membership in records.get("class_membership", []):
        enrollments.append(
            dict.fromkeys(ENROLLMENT_COLUMNS, "")
            | {
                "sourcedId": membership["id"],
                "classSourcedId": membership["class_id"],
                "schoolSourcedId": org,
                "userSourcedId": student_sourced_id(membership["student_id"]),
                "role": "student",
                "primary": "false",
                "beginDate": membership.get("start_date") or "",
                "endDate": membership.get("end_date") or "",
            }
        )
    files = {
        "manifest.csv": _csv(
            ("propertyName", "value"),
            [
                {"propertyName": name, "value": value}
                for name, value in (
                    ("manifest.version", "1.0"),
                    ("oneroster.version", "1.1"),
                    ("file.academicSessions", "bulk"),
                    ("file.categories", "absent"),
                    ("file.classes", "bulk"),
                    ("file.classResources", "absent"),
                    ("file.courses", "bulk"),
                    ("file.courseResources", "absent"),
                    ("file.demographics", "bulk"),
                    ("file.enrollments", "bulk"),
                    ("file.lineItems", "absent"),
                    ("file.orgs", "bulk"),
                    ("file.resources", "absent"),
                    ("file.results", "absent"),
                    ("file.users", "bulk"),
                    ("source.systemName", "School Data Sharing demo"),
                    ("source.systemCode", "demo"),
                )
            ],
        ),
        "orgs.csv": _csv(
            ORG_COLUMNS,
            [
                dict.fromkeys(ORG_COLUMNS, "")
                | {
                    "sourcedId": org,
                    "name": school.name,
                    "type": "school",
                    "identifier": school.urn,
                }
            ],
        ),
        "academicSessions.csv": _csv(
            SESSION_COLUMNS,
            [
                dict.fromkeys(SESSION_COLUMNS, "")
                | {
                    "sourcedId": term,
                    "title": f"{year}/{(year + 1) % 100:02d}",
                    "type": "schoolYear",
                    "startDate": f"{year}-09-01",
                    "endDate": f"{year + 1}-08-31",
                    "schoolYear": str(year + 1),
                }
            ],
        ),
        "users.csv": _csv(USER_COLUMNS, users),
        "demographics.csv": _csv(DEMOGRAPHIC_COLUMNS, demographics),
        "courses.csv": _csv(COURSE_COLUMNS, list(courses.values())),
        "classes.csv": _csv(CLASS_COLUMNS, classes),
        "enrollments.csv": _csv(ENROLLMENT_COLUMNS, enrollments),
    }
    buffer = io.BytesIO()
    stamp = school.made_at.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in files.items():
            # A fixed timestamp, so the same records always make the same bytes.
            member = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
            member.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(member, text)
    return buffer.getvalue()


def _user(
    sourced: str, org: str, role: str, person: dict[str, Any], agents: list[str], identifier: str
) -> dict[str, str]:
    return dict.fromkeys(USER_COLUMNS, "") | {
        "sourcedId": sourced,
        "enabledUser": "true",
        "orgSourcedIds": org,
        "role": role,
        "username": person.get("email") or person.get("work_email") or sourced,
        "givenName": person.get("legal_forename") or person["forename"],
        "familyName": person.get("legal_surname") or person["surname"],
        "middleName": person.get("middle_names") or "",
        "identifier": identifier,
        "email": person.get("email") or "",
        "agentSourcedIds": ",".join(agents),
    }


def _csv(columns: tuple[str, ...], rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: "" if row.get(name) is None else row[name] for name in columns})
    return buffer.getvalue()
