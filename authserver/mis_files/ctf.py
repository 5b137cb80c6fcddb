"""The DfE Common Transfer File (XML, root `CTfile`) read into connector records.

The element names and nesting are the DfE's, as MIS exports write them (see README.md for the
versions we read and where the names were checked). A CTF is about some pupils, not the whole
school, so it is always a delta: upserts only. What each part of `CTFpupilData/Pupil` becomes:

- the pupil's own elements (UPN, Surname, Forename, DOB, Sex or, before it was renamed, Gender),
  `BasicDetails`, `FSMhistory/FSMinstance`, `LookedAfter/InCare`, `Address` (a `BS7666Address`
  or `AddressLines`, with PostCode and County beside them), `Phones/Phone` and `Email` ->
  `student`, keyed by UPN;
- `Contacts/Contact` -> `contact` and `student_contact`. A CTF contact has no identifier, so
  its key is derived: `contact_key` hashes the contact's forename, surname and postcode (their
  own address's, or the pupil's when `Address/AddressAsPupil` is true), case-folded. A parent
  listed on two siblings' records is therefore one contact; a parent who moves house, or is
  spelt differently on the two records, becomes a second contact;
- `SENhistory` (`SEN` spells and the `SENneeds/SENneed` beside them) -> the pupil's
  `sen_status` and `sen_need` rows;
- `Attendance/YearData` -> `attendance_summary` (the Sessions* totals) and, from
  `AttendSessions` (an AttendanceStartDate and an AttendanceMarks string, two marks a calendar
  day, morning then afternoon), `session_mark` rows; '#' (no school) and '-' or ' ' (no mark)
  are skipped;
- `StageAssessments/KeyStage/StageAssessment` -> `assessment_aspect` (one per key stage,
  subject, method and component) and `assessment_result`;
- `SchoolHistory/School` -> `school_history`.

Every other element with a value (`NAWdetails`, `UniqueLearnerNumber`, `Disabilities`, ...) is
listed in `unmapped`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections import Counter
from typing import Any

from authserver.domain.upn import valid_upn
from authserver.mis_files import FileRefused, ParsedFile, codes, xmltree
from authserver.mis_files.xmltree import Element

#: The root element; the admissions file (`ATfile`) is a different document.
ROOT = "CTfile"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "1", "y", "yes"}
_FALSE = {"false", "0", "n", "no", "u"}
#: A pupil's FSM counts for "ever 6" if it was current at any time in the six years before.
EVER6_YEARS = 6
MAX_KEY = 64


def read(data: bytes, filename: str) -> ParsedFile:
    """Read a CTF's bytes; FileRefused naming the line and element of anything wrong."""
    root = xmltree.parse(data, filename)
    if root.tag != ROOT:
        raise FileRefused(
            f"this XML's root element is {root.tag}, not CTfile: it is not a Common Transfer File",
            file=filename,
            line=root.line,
        )
    reader = _Reader(filename)
    source, school_urn = reader.header(root)
    pupils = root.findall("CTFpupilData/Pupil")
    if root.find("CTFpupilData") is None:
        raise FileRefused("the file has no CTFpupilData element", file=filename, line=root.line)
    for pupil in pupils:
        reader.pupil(pupil)
    unmapped = Counter(_shown(node.path) for node in xmltree.unread(root))
    return ParsedFile(
        format="ctf",
        mode="delta",
        entities={entity: rows for entity, rows in reader.entities.items() if rows},
        unmapped=[
            f"{path}: {count} value{'s' if count > 1 else ''} ha{'ve' if count > 1 else 's'} "
            "no place yet"
            for path, count in sorted(unmapped.items())
        ],
        source=source,
        school_urn=school_urn,
        notes=reader.notes,
    )


def contact_key(forename: str, surname: str, postcode: str | None) -> str:
    """The key we give a CTF contact: stable for the same name at the same postcode."""
    parts = (forename, surname, re.sub(r"\s+", "", postcode or ""))
    basis = "\x1f".join(unicodedata.normalize("NFC", part).casefold().strip() for part in parts)
    return "ctf-contact-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


def derived_key(*parts: object) -> str:
    """A record key built from its parts; hashed when it would be longer than a key may be."""
    key = "-".join(str(part) for part in parts if part is not None and part != "")
    if len(key) <= MAX_KEY:
        return key
    return key[:40] + "-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _shown(path: str) -> str:
    return path.removeprefix("CTFpupilData/")


class _Reader:
    """Turns a CTF tree into records, checking values as it goes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.file_date = dt.date.min
        self.entities: dict[str, list[dict[str, Any]]] = {
            name: []
            for name in (
                "student",
                "contact",
                "student_contact",
                "sen_need",
                "session_mark",
                "attendance_summary",
                "assessment_aspect",
                "assessment_result",
                "school_history",
            )
        }
        self.upn_lines: dict[str, int] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.contact_lines: dict[str, int] = {}
        self.aspects: set[str] = set()
        self.notes: list[str] = []

    # --- values -------------------------------------------------------------------------

    def refuse(self, node: Element, message: str) -> FileRefused:
        return FileRefused(message, file=self.filename, line=node.line, element=_shown(node.path))

    def required(self, parent: Element, path: str) -> tuple[str, Element]:
        node = parent.find(path)
        if node is None or not node.text.strip():
            where = f"{_shown(parent.path)}/{path}"
            raise FileRefused(
                f"{where} is required but missing",
                file=self.filename,
                line=parent.line,
                element=where,
            )
        node.read = True
        return node.text, node

    def date(self, parent: Element, path: str) -> dt.date | None:
        node = parent.find(path)
        if node is None or not node.text.strip():
            if node is not None:
                node.read = True
            return None
        node.read = True
        return self.date_of(node)

    def date_of(self, node: Element) -> dt.date:
        text = node.text.strip()
        try:
            if not _DATE.match(text):
                raise ValueError(text)
            return dt.date.fromisoformat(text)
        except ValueError:
            raise self.refuse(node, f"{text!r} is not a date (YYYY-MM-DD)") from None

    def flag(self, parent: Element, path: str) -> bool | None:
        node = parent.find(path)
        if node is None or not node.text.strip():
            return None
        node.read = True
        text = node.text.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.refuse(node, f"{node.text.strip()!r} is not true or false")

    def number(self, parent: Element, path: str) -> int | None:
        node = parent.find(path)
        if node is None or not node.text.strip():
            return None
        node.read = True
        text = node.text.strip()
        if not text.isascii() or not text.isdigit():
            raise self.refuse(node, f"{text!r} is not a whole number")
        return int(text)

    def upn(self, node: Element) -> str:
        value = node.text.strip().upper()
        if not valid_upn(value):
            raise self.refuse(node, f"{node.text.strip()!r} is not a valid UPN")
        return value

    # --- header -------------------------------------------------------------------------

    def header(self, root: Element) -> tuple[str, str | None]:
        header = root.find("Header")
        if header is None:
            raise FileRefused("the file has no Header element", file=self.filename, line=root.line)
        stamp, node = self.required(header, "DateTime")
        try:
            self.file_date = dt.datetime.fromisoformat(stamp.strip()).date()
        except ValueError:
            raise self.refuse(node, f"{stamp.strip()!r} is not a date and time") from None
        for name in ("DocumentName", "DocumentQualifier", "DataQualifier", "DataDescriptor"):
            header.value(name)  # about the file, not the school's data
        version = header.value("CTFversion")
        supplier = header.value("SupplierID")
        school = header.find("SourceSchool")
        if school is None:
            raise FileRefused(
                "Header/SourceSchool is required but missing",
                file=self.filename,
                line=header.line,
                element="Header/SourceSchool",
            )
        name = school.value("SchoolName") or "an unnamed school"
        la, estab, urn = school.value("LEA"), school.value("Estab"), school.value("URN")
        school.value("AcademicYear")
        dest_urn = header.value("DestSchool/URN")
        header.value("DestSchool/LEA")
        header.value("DestSchool/Estab")
        words = [f"CTF {version}" if version else "CTF", f"from {name}"]
        if la or estab:
            urn_words = f", URN {urn}" if urn else ""
            words.append(f"(LA/Estab {la or '?'}/{estab or '?'}{urn_words})")
        if supplier:
            words.append(f"made by {supplier}")
        # The records are for the school the file is going to, when it says which.
        return " ".join(words), (dest_urn or urn)

    # --- pupils -------------------------------------------------------------------------

    def pupil(self, pupil: Element) -> None:
        _, upn_node = self.required(pupil, "UPN")
        upn = self.upn(upn_node)
        if upn in self.upn_lines:
            raise self.refuse(
                upn_node,
                f"UPN {upn} is given to two pupils (lines {self.upn_lines[upn]} and "
                f"{upn_node.line})",
            )
        self.upn_lines[upn] = upn_node.line
        surname, _ = self.required(pupil, "Surname")
        forename, _ = self.required(pupil, "Forename")
        _, dob_node = self.required(pupil, "DOB")
        details = pupil.find("BasicDetails") or Element("BasicDetails", pupil.line, "")
        former = details.find("FormerUPN")
        former_upn = None
        if former is not None and former.text.strip():
            former.read = True
            former_upn = self.upn(former)
        gender = _sex(pupil)
        enrolment = details.value("EnrolStatus")
        ethnicity = details.value("Ethnicity")
        address = self.address(pupil.find("Address"))
        record: dict[str, Any] = {
            "upn": upn,
            "former_upn": former_upn,
            "forename": forename,
            "surname": surname,
            "legal_forename": forename,
            "legal_surname": surname,
            "preferred_forename": details.value("PreferredForename"),
            "preferred_surname": details.value("PreferredSurname"),
            "middle_names": details.value("MiddleNames"),
            "gender": codes.word(codes.GENDERS, gender) if gender else None,
            "date_of_birth": self.date_of(dob_node).isoformat(),
            "nc_year": details.value("NCyearActual"),
            "enrolment_status": codes.word(codes.ENROLMENT_STATUSES, enrolment)
            if enrolment
            else None,
            "ethnicity": codes.word(codes.ETHNICITIES, ethnicity) if ethnicity else None,
            "first_language": self.first_language(details),
            **self.fsm(pupil),
            "in_care": bool(self.flag(pupil, "LookedAfter/InCare")),
            "service_child": bool(self.flag(details, "ServiceChild")),
            "sen_status": None,
            **address,
            "telephone": self.phones(pupil.find("Phones"), ("M", "H", "W")).get("telephone"),
            "email": pupil.value("Email"),
        }
        self.entities["student"].append(record)
        self.contacts_of(pupil, upn, address)
        record["sen_status"] = self.sen(pupil, upn)
        self.attendance(pupil, upn)
        self.assessments(pupil, upn)
        self.history(pupil, upn)

    def first_language(self, details: Element) -> str | None:
        for kind in details.findall("Languages/Type"):
            if (kind.value("LanguageType") or "").strip().upper() == "F":
                language = kind.value("Language")
                return codes.word(codes.LANGUAGES, language) if language else None
        return None

    def fsm(self, pupil: Element) -> dict[str, bool]:
        """Free school meals now, and at any time in the six years before the file."""
        eligible = ever6 = False
        six_years_ago = self.file_date.replace(year=self.file_date.year - EVER6_YEARS)
        for instance in pupil.findall("FSMhistory/FSMinstance"):
            start = self.date(instance, "FSMstartDate")
            end = self.date(instance, "FSMendDate")
            if start is not None and start > self.file_date:
                continue
            if end is None or end >= self.file_date:
                eligible = ever6 = True
            elif end >= six_years_ago:
                ever6 = True
        return {"fsm_eligible": eligible, "fsm_ever6": ever6}

    def address(self, address: Element | None) -> dict[str, str | None]:
        """Our five address fields from an `Address`: a BS7666 address or free address lines.

        The DfE's `Address` holds one of the two, with PostCode, County, Country and the
        grid reference beside it. What we have no field for (UPRN, AddressLine5, Country,
        Easting/Northing, a County as well as an AddressLine4) stays unread and so is listed.
        """
        fields: dict[str, str | None] = dict.fromkeys(
            ("address_line1", "address_line2", "town", "county", "postcode")
        )
        if address is None:
            return fields
        fields["postcode"] = address.value("PostCode")
        county = address.value("County")
        bs7666 = address.find("BS7666Address")
        lines = address.find("AddressLines")
        if bs7666 is not None:
            paon, road = bs7666.value("PAON"), bs7666.value("Street")
            # "12 Heol y Deri", but "Tŷ Glas, Heol y Deri" when the PAON is a house name.
            glue = " " if paon and paon.strip()[:1].isdigit() else ", "
            street = glue.join(filter(None, (paon, road)))
            fields["address_line1"] = ", ".join(filter(None, (bs7666.value("SAON"), street)))
            fields["address_line1"] = fields["address_line1"] or None
            fields["address_line2"] = bs7666.value("Locality")
            fields["town"] = bs7666.value("Town") or bs7666.value("PostTown")
            if bs7666.value("PostTown") and fields["town"] != bs7666.value("PostTown"):
                bs7666.find("PostTown").read = False  # type: ignore[union-attr]
            fields["county"] = county or bs7666.value("AdministrativeArea")
        elif lines is not None:
            # Free lines have no fixed meaning; MIS exports put the town third, the county fourth.
            for index, name in enumerate(("address_line1", "address_line2", "town")):
                fields[name] = lines.value(f"AddressLine{index + 1}")
            fields["county"] = county or lines.value("AddressLine4")
        else:
            fields["county"] = county
        return fields

    def phones(self, phones: Element | None, order: tuple[str, ...]) -> dict[str, str]:
        """The first phone of each type in `order`, as telephone; the others stay unread."""
        if phones is None:
            return {}
        found: dict[str, Element] = {}
        for phone in phones.findall("Phone"):
            kind = (phone.find("TelephoneType") or Element("", 0, "")).text.strip().upper()
            found.setdefault(kind, phone)
        for kind in order:
            if kind in found:
                phone = found[kind]
                phone.mark_read()
                number = phone.value("PhoneNo")
                return {"telephone": number} if number else {}
        return {}

    def contact_phones(self, phones: Element | None) -> dict[str, str | None]:
        fields: dict[str, str | None] = {
            "home_telephone": None,
            "mobile_telephone": None,
            "work_telephone": None,
        }
        if phones is None:
            return fields
        names = {"H": "home_telephone", "M": "mobile_telephone", "W": "work_telephone"}
        for phone in phones.findall("Phone"):
            kind = (phone.find("TelephoneType") or Element("", 0, "")).text.strip().upper()
            name = names.get(kind)
            if name and fields[name] is None:
                phone.mark_read()
                fields[name] = phone.value("PhoneNo")
        return fields

    # --- contacts -----------------------------------------------------------------------

    def contacts_of(self, pupil: Element, upn: str, pupil_address: dict[str, Any]) -> None:
        for contact in pupil.findall("Contacts/Contact"):
            surname, _ = self.required(contact, "Surname")
            forename, _ = self.required(contact, "Forename")
            # The DfE puts the flag inside Address, in place of the address; some writers put
            # it beside Address instead.
            as_pupil = self.flag(contact, "Address/AddressAsPupil")
            if as_pupil is None:
                as_pupil = self.flag(contact, "AddressAsPupil")
            # With the flag, any address given as well stays unread, so it is listed.
            address = dict(pupil_address) if as_pupil else self.address(contact.find("Address"))
            key = contact_key(forename, surname, address["postcode"])
            gender = _sex(contact)
            record: dict[str, Any] = {
                "id": key,
                "title": contact.value("Title"),
                "forename": forename,
                "middle_names": contact.value("MiddleNames"),
                "surname": surname,
                "legal_forename": forename,
                "legal_surname": surname,
                "gender": codes.word(codes.GENDERS, gender) if gender else None,
                "email": contact.value("Email"),
                **self.contact_phones(contact.find("Phones")),
                **address,
            }
            self.add_contact(key, record, contact)
            relationship = contact.value("Relationship")
            self.entities["student_contact"].append(
                {
                    "id": derived_key(upn, key),
                    "student_id": upn,
                    "contact_id": key,
                    "relationship": codes.word(codes.RELATIONSHIPS, relationship)
                    if relationship
                    else None,
                    "parental_responsibility": bool(self.flag(contact, "Responsibility")),
                    "priority": self.number(contact, "Order"),
                }
            )

    def add_contact(self, key: str, record: dict[str, Any], node: Element) -> None:
        """The same contact met again (a sibling's record): fill gaps, note disagreements."""
        known = self.contacts.get(key)
        if known is None:
            self.contacts[key] = record
            self.contact_lines[key] = node.line
            self.entities["contact"].append(record)
            return
        for name, value in record.items():
            if value is None:
                continue
            if known[name] is None:
                known[name] = value
            elif known[name] != value:
                self.notes.append(
                    f"line {node.line}: contact {record['forename']} {record['surname']} has "
                    f"{name} {value!r} here but {known[name]!r} at line "
                    f"{self.contact_lines[key]}; the first was kept"
                )

    # --- SEN, attendance, assessment, history --------------------------------------------

    def sen(self, pupil: Element, upn: str) -> str | None:
        """The pupil's current SEN provision, and its needs as `sen_need` rows."""
        history = pupil.find("SENhistory")
        if history is None:
            return None
        spells = history.findall("SEN")
        # The current spell is the open one (else the latest); past spells have no place.
        current = max(spells, key=_spell_order, default=None)
        status = start = end = None
        if current is not None:
            start, end = self.date(current, "StartDate"), self.date(current, "EndDate")
            provision = current.value("SENprovision")
            if provision:
                status = codes.SEN_PROVISIONS.get(provision.strip().upper(), provision)
        for need in history.findall("SENneeds/SENneed"):
            kind, _ = self.required(need, "SENtype")
            need_type, description = codes.SEN_TYPES.get(kind.strip().upper(), (kind, None))
            rank = self.number(need, "SENtypeRank")
            self.entities["sen_need"].append(
                {
                    "id": derived_key(upn, "sen", rank, need_type),
                    "student_id": upn,
                    "need_type": need_type,
                    "description": description,
                    "rank": rank,
                    "start_date": _iso(start),
                    "end_date": _iso(end),
                }
            )
        return status

    def attendance(self, pupil: Element, upn: str) -> None:
        for year in pupil.findall("Attendance/YearData"):
            academic_year = self.number(year, "Year")
            for name in ("LEA", "Estab", "SchoolName"):
                year.value(name)  # which school the year was at: our summary keeps no school
            marks = self.marks(year, upn)
            totals = {
                name: self.number(year, f"Sessions{name}")
                for name in ("Possible", "Authorised", "Attended", "Unauthorised")
            }
            counted = Counter(code for _, _, code in marks)
            approved = sum(counted[c] for c in codes.APPROVED_ACTIVITY_CODES)
            late = sum(counted[c] for c in codes.LATE_CODES)
            if any(value is None for value in totals.values()):
                if not marks:
                    continue  # neither totals nor marks: nothing to summarise
                # Totals missing: count them from the marks, as the DfE counts them.
                totals = {
                    "Possible": sum(n for c, n in counted.items() if c not in {"X", "Y", "Z", "#"}),
                    "Authorised": sum(counted[c] for c in codes.AUTHORISED_CODES),
                    "Attended": sum(counted[c] for c in codes.PRESENT_CODES) + approved,
                    "Unauthorised": sum(counted[c] for c in codes.UNAUTHORISED_CODES),
                }
            start = self.date(year, "AttendSessions/AttendanceStartDate")
            start = start or (marks[0][0] if marks else None)
            if start is None and academic_year is not None:
                start = dt.date(academic_year, 9, 1)
            end = marks[-1][0] if marks else None
            if end is None and academic_year is not None:
                end = dt.date(academic_year + 1, 8, 31)
            if start is None or end is None:
                raise self.refuse(year, "attendance needs a Year or an AttendanceStartDate")
            self.entities["attendance_summary"].append(
                {
                    "id": derived_key(upn, "attendance", start.isoformat()),
                    "student_id": upn,
                    "start_date": start.isoformat(),
                    "end_date": end.isoformat(),
                    "possible_sessions": totals["Possible"],
                    # CTF counts approved educational activity as attendance; we keep it apart.
                    "attended_sessions": max(0, (totals["Attended"] or 0) - approved),
                    "approved_activity_sessions": approved,
                    "authorised_absence_sessions": totals["Authorised"],
                    "unauthorised_absence_sessions": totals["Unauthorised"],
                    "late_sessions": late,
                }
            )

    def marks(self, year: Element, upn: str) -> list[tuple[dt.date, str, str]]:
        """The year's session marks as (date, AM/PM, code), and their `session_mark` rows."""
        session = year.find("AttendSessions")
        if session is None:
            return []
        string_node = session.find("AttendanceMarks")
        if string_node is None or not string_node.text.strip():
            return []
        string_node.read = True
        start_node = session.find("AttendanceStartDate")
        if start_node is None or not start_node.text.strip():
            raise self.refuse(session, "AttendanceMarks needs its AttendanceStartDate")
        start = self.date_of(start_node)
        start_node.read = True
        marks = []
        for index, mark in enumerate(string_node.text.strip("\r\n\t")):
            if mark in codes.NOT_A_MARK:
                continue
            if not mark.isprintable() or not mark.isascii():
                raise self.refuse(
                    string_node, f"{mark!r} (session {index + 1}) is not a register code"
                )
            day = start + dt.timedelta(days=index // 2)
            part = "AM" if index % 2 == 0 else "PM"
            marks.append((day, part, mark))
            self.entities["session_mark"].append(
                {
                    "id": derived_key(upn, day.isoformat(), part),
                    "student_id": upn,
                    "date": day.isoformat(),
                    "session": part,
                    "code": mark,
                }
            )
        return marks

    def assessments(self, pupil: Element, upn: str) -> None:
        seen: dict[tuple[object, ...], int] = {}
        for stage_node in pupil.findall("StageAssessments/KeyStage"):
            stage, _ = self.required(stage_node, "Stage")
            for result in stage_node.findall("StageAssessment"):
                subject, _ = self.required(result, "Subject")
                method = result.value("Method")
                component = result.value("Component")
                year = result.value("Year")
                aspect_id = derived_key("ctf", stage, subject, method, component)
                if aspect_id not in self.aspects:
                    self.aspects.add(aspect_id)
                    self.entities["assessment_aspect"].append(
                        {
                            "id": aspect_id,
                            "name": " ".join(filter(None, (stage, subject, method, component))),
                            "result_type": "Grade",
                            "grade_set": None,
                            "description": None,
                        }
                    )
                recorded = self.date(result, "ResultDate")
                # Results the file does not tell apart (same stage, subject, method, component,
                # year and date) are told apart by their order, which a re-export keeps.
                basis = (upn, aspect_id, year, _iso(recorded))
                seen[basis] = seen.get(basis, 0) + 1
                ordinal = seen[basis] if seen[basis] > 1 else None
                self.entities["assessment_result"].append(
                    {
                        "id": derived_key(*basis, ordinal),
                        "student_id": upn,
                        "aspect_id": aspect_id,
                        "result_set": " ".join(filter(None, (stage, year))),
                        "value": result.value("Result"),
                        "recorded_on": _iso(recorded),
                    }
                )

    def history(self, pupil: Element, upn: str) -> None:
        for school in pupil.findall("SchoolHistory/School"):
            la, estab = school.value("LEA"), school.value("Estab")
            la_estab = f"{la}{estab}" if la and estab else None
            name = school.value("SchoolName") or (f"{la}/{estab}" if la_estab else None)
            if name is None:
                raise self.refuse(school, "a school in the history needs a SchoolName or LEA/Estab")
            entry = self.date(school, "EntryDate")
            self.entities["school_history"].append(
                {
                    "id": derived_key(upn, "school", la_estab or name, _iso(entry)),
                    "student_id": upn,
                    "school_name": name,
                    "school_urn": school.value("URN"),
                    "la_estab": la_estab,
                    "entry_date": _iso(entry),
                    "leaving_date": _iso(self.date(school, "LeavingDate")),
                    "leaving_reason": school.value("LeavingReason"),
                }
            )


def _sex(person: Element) -> str | None:
    """A pupil's or contact's sex: `Sex` in current CTFs, `Gender` in older ones."""
    return person.value("Sex") or person.value("Gender")


def _spell_order(spell: Element) -> tuple[bool, str]:
    """Open spells first, then the latest start (ISO dates sort as text)."""
    end, start = spell.find("EndDate"), spell.find("StartDate")
    return (end is None or not end.text.strip(), start.text.strip() if start is not None else "")


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
