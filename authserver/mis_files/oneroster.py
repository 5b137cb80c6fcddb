"""A OneRoster 1.1 or 1.2 CSV bundle (a zip) read into connector records.

The manifest says, file by file, `bulk` (the file holds every record: a snapshot) or `delta`
(changes: rows with `status=tobedeleted` are deletions). What each file becomes:

- users.csv: `student` (role student; keyed by the UPN in `identifier`, or in a `metadata.upn`
  column, so a pupil without a valid UPN is refused), `staff` (teacher, administrator, aide),
  `contact` (parent, guardian, relative) and `student_contact` from `agentSourcedIds`;
- demographics.csv: the pupil's (or staff member's) date of birth and sex;
- classes.csv: `class`, and `subject` from the class's (or its course's) subjectCodes/subjects;
- enrollments.csv: `class_membership` for pupils; a teacher's becomes the class's `staff_id`;
- orgs.csv: the school org names the source and its URN (`identifier`); academicSessions.csv
  and courses.csv have no place of their own (the school's calendar and course catalogue are
  not ingested from files) and are listed in `unmapped`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from authserver.domain.upn import valid_upn
from authserver.mis_files import MAX_FILE_BYTES, FileRefused, ParsedFile

KNOWN_FILES = (
    "manifest.csv",
    "orgs.csv",
    "users.csv",
    "roles.csv",
    "classes.csv",
    "courses.csv",
    "enrollments.csv",
    "academicSessions.csv",
    "demographics.csv",
)
MAX_MEMBERS = 40
STAFF_ROLES = {"teacher", "administrator", "aide", "proctor"}
AGENT_ROLES = {"parent": "Parent", "guardian": "Guardian", "relative": "Relative"}
SEXES = {"male": "Male", "female": "Female", "other": "Other"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_KEY = 64


@dataclass
class _Row:
    """One CSV row: its file, line and values, and the columns a reader took."""

    file: str
    line: int
    values: dict[str, str]
    taken: set[str] = field(default_factory=set)

    def get(self, column: str) -> str:
        self.taken.add(column)
        return (self.values.get(column) or "").strip()

    def raw(self, column: str) -> str:
        """The value exactly as written (names keep every character)."""
        self.taken.add(column)
        return self.values.get(column) or ""

    def refuse(self, column: str | None, message: str) -> FileRefused:
        return FileRefused(message, file=self.file, line=self.line, column=column)


def read(data: bytes, filename: str) -> ParsedFile:
    """Read a OneRoster zip's bytes; FileRefused naming the file, line and column at fault."""
    texts, notes = _unzip(data, filename)
    if "manifest.csv" not in texts:
        raise FileRefused(
            "the zip has no manifest.csv: it is not a OneRoster bundle", file=filename
        )
    return _Bundle(texts, notes).read()


def _unzip(data: bytes, filename: str) -> tuple[dict[str, str], list[str]]:
    """The bundle's CSV files as text, after checking sizes and names before extracting."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
        members = bundle.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise FileRefused(f"the zip cannot be opened ({error})", file=filename) from None
    if len(members) > MAX_MEMBERS:
        raise FileRefused(
            f"the zip holds {len(members)} files; a bundle has at most {MAX_MEMBERS}", file=filename
        )
    total = sum(member.file_size for member in members)
    if total > MAX_FILE_BYTES:
        raise FileRefused(
            f"the zip's files come to {total:,} bytes uncompressed, more than the "
            f"{MAX_FILE_BYTES:,} we accept",
            file=filename,
        )
    texts: dict[str, str] = {}
    notes: list[str] = []
    for member in members:
        name = member.filename
        if member.is_dir() or "/" in name or "\\" in name or name.startswith("."):
            raise FileRefused(
                f"the zip holds {name!r}: a bundle's CSV files must sit at its top level",
                file=filename,
            )
        if name in texts:
            raise FileRefused(f"the zip holds {name} twice", file=filename)
        try:
            with bundle.open(member) as stream:
                # Never trust the sizes the zip declares: stop reading past the limit.
                raw = stream.read(MAX_FILE_BYTES + 1)
        except (zipfile.BadZipFile, OSError, RuntimeError) as error:
            raise FileRefused(f"{name} cannot be extracted ({error})", file=filename) from None
        if len(raw) > MAX_FILE_BYTES or len(raw) > member.file_size:
            raise FileRefused(f"{name} is larger than the zip says", file=filename)
        texts[name] = _decode(raw, name, notes)
    return texts, notes


def _decode(raw: bytes, name: str, notes: list[str]) -> str:
    """UTF-8 (with or without a byte order mark); else Windows-1252 when every byte is one of
    its characters, which is what spreadsheet programs on Windows save."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        utf8_error = error
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        line = raw.count(b"\n", 0, utf8_error.start) + 1
        raise FileRefused(
            f"byte 0x{raw[utf8_error.start]:02X} is neither UTF-8 nor Windows-1252: save the "
            "file as UTF-8",
            file=name,
            line=line,
        ) from None
    notes.append(f"{name} is not UTF-8; it was read as Windows-1252")
    return text


def derived_key(*parts: str) -> str:
    """A key made of other keys, hashed when it would be longer than a key may be."""
    key = "~".join(parts)
    if len(key) <= MAX_KEY:
        return key
    return key[:40] + "~" + hashlib.sha256(key.encode()).hexdigest()[:20]


def nc_year(grade: str) -> str | None:
    """Our NC year from a OneRoster grade ('07', 'Y7', 'KG' for Reception), or None."""
    grade = grade.strip().upper().removeprefix("Y").removeprefix("EAR")
    if grade in {"KG", "R", "RECEPTION"}:
        return "R"
    if grade.isdigit() and 1 <= int(grade) <= 14:
        return str(int(grade))
    return None


class _Bundle:
    def __init__(self, texts: dict[str, str], notes: list[str]) -> None:
        self.texts = texts
        self.notes = notes
        self.rows: dict[str, list[_Row]] = {}
        self.entities: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.deletions: dict[str, list[str]] = defaultdict(list)
        self.unmapped: list[str] = []

    # --- files --------------------------------------------------------------------------

    def csv(self, name: str) -> list[_Row]:
        text = self.texts[name]
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise FileRefused("the file is empty (no header row)", file=name, line=1) from None
        except csv.Error as error:
            raise FileRefused(f"this is not valid CSV ({error})", file=name, line=1) from None
        header = [column.strip() for column in header]
        if len(set(header)) != len(header):
            repeated = next(c for c in header if header.count(c) > 1)
            raise FileRefused(f"the header names {repeated!r} twice", file=name, line=1)
        rows = []
        line = reader.line_num
        try:
            for values in reader:
                start, line = line + 1, reader.line_num
                if not any(value.strip() for value in values):
                    continue
                if len(values) != len(header):
                    raise FileRefused(
                        f"the row has {len(values)} values but the header {len(header)}",
                        file=name,
                        line=start,
                    )
                rows.append(_Row(name, start, dict(zip(header, values, strict=True))))
        except csv.Error as error:
            raise FileRefused(
                f"this is not valid CSV ({error})", file=name, line=line + 1
            ) from None
        return rows

    def manifest(self) -> dict[str, str]:
        settings = {}
        for row in self.csv("manifest.csv"):
            settings[row.get("propertyName")] = row.get("value")
        return settings

    def read(self) -> ParsedFile:
        manifest = self.manifest()
        modes = {}
        for name in KNOWN_FILES[1:]:
            declared = manifest.get(f"file.{name.removesuffix('.csv')}", "absent").lower()
            if declared not in {"bulk", "delta", "absent"}:
                raise FileRefused(
                    f"file.{name.removesuffix('.csv')} is {declared!r}: it must be bulk, delta "
                    "or absent",
                    file="manifest.csv",
                )
            if declared == "absent":
                if name in self.texts:
                    self.unmapped.append(f"{name}: in the zip but absent in the manifest, not read")
                continue
            if name not in self.texts:
                raise FileRefused(
                    f"the manifest lists {name} but the zip does not hold it", file="manifest.csv"
                )
            modes[name] = declared
            self.rows[name] = self.csv(name)
        for name in sorted(set(self.texts) - set(KNOWN_FILES)):
            self.unmapped.append(f"{name}: a file OneRoster bundles do not have, not read")
        if "users.csv" not in self.rows:
            raise FileRefused("the bundle has no users.csv", file="manifest.csv")
        if len(set(modes.values())) > 1:
            raise FileRefused(
                "the manifest mixes bulk and delta files; send all of one kind",
                file="manifest.csv",
            )
        self.delta = modes["users.csv"] == "delta"
        source, urn = self.orgs()
        self.users()
        self.demographics()
        self.classes()
        self.enrollments()
        for name in ("academicSessions.csv", "courses.csv"):
            if self.rows.get(name):
                count = len(self.rows[name])
                self.unmapped.append(
                    f"{name}: {count} row{'s have' if count > 1 else ' has'} no place yet"
                )
                for row in self.rows[name]:
                    row.taken.update(row.values)
        self.count_unmapped()
        for key in (
            "manifest.version",
            "oneroster.version",
            "source.systemName",
            "source.systemCode",
        ):
            manifest.pop(key, None)
        return ParsedFile(
            format="oneroster",
            mode="delta" if self.delta else "snapshot",
            entities={name: rows for name, rows in self.entities.items() if rows},
            unmapped=self.unmapped,
            source=source,
            school_urn=urn,
            deletions={name: keys for name, keys in self.deletions.items() if keys},
            notes=self.notes,
        )

    def live(self, name: str) -> list[_Row]:
        """The file's rows that are records (tobedeleted rows are taken as deletions)."""
        rows = []
        for row in self.rows.get(name, []):
            if not row.get("sourcedId"):
                raise row.refuse("sourcedId", "every row needs a sourcedId")
            status = row.get("status").lower()
            row.get("dateLastModified")
            if status not in {"", "active", "tobedeleted"}:
                raise row.refuse("status", f"{status!r} is not active or tobedeleted")
            if status == "tobedeleted":
                if not self.delta:
                    raise row.refuse("status", "a bulk file cannot delete: leave the row out")
                continue
            rows.append(row)
        return rows

    def deleted(self, name: str) -> list[_Row]:
        return [r for r in self.rows.get(name, []) if r.get("status").lower() == "tobedeleted"]

    def count_unmapped(self) -> None:
        counts: Counter[str] = Counter()
        for name, rows in self.rows.items():
            for row in rows:
                for column, value in row.values.items():
                    if column not in row.taken and value.strip():
                        counts[f"{name}/{column}"] += 1
        self.unmapped.extend(
            f"{where}: {n} value{'s' if n > 1 else ''} ha{'ve' if n > 1 else 's'} no place yet"
            for where, n in sorted(counts.items())
        )

    # --- values -------------------------------------------------------------------------

    def date(self, row: _Row, column: str) -> str | None:
        text = row.get(column)
        if not text:
            return None
        try:
            if not _DATE.match(text[:10]) or (len(text) > 10 and text[10] != "T"):
                raise ValueError(text)
            return dt.date.fromisoformat(text[:10]).isoformat()
        except ValueError:
            raise row.refuse(column, f"{text!r} is not a date (YYYY-MM-DD)") from None

    # --- entities -----------------------------------------------------------------------

    def orgs(self) -> tuple[str, str | None]:
        schools = [r for r in self.live("orgs.csv") if r.get("type").lower() == "school"]
        if not schools:
            return "a OneRoster bundle with no school org", None
        school = schools[0]
        name, identifier = school.raw("name"), school.get("identifier")
        urn = identifier if identifier.isdigit() and len(identifier) == 6 else None
        if urn is None and identifier:
            school.taken.discard("identifier")
        school.get("parentSourcedId")
        return f"OneRoster org {name or school.get('sourcedId')}", urn

    def users(self) -> None:
        self.user_roles: dict[str, str] = {}
        self.upns: dict[str, str] = {}  # student sourcedId -> UPN
        self.people: dict[str, dict[str, Any]] = {}
        roles = self.roles_file()
        rows = self.live("users.csv")
        seen: dict[str, int] = {}
        for row in rows:
            sourced = row.get("sourcedId")
            if sourced in seen:
                raise row.refuse(
                    "sourcedId", f"{sourced!r} is also the user at line {seen[sourced]}"
                )
            seen[sourced] = row.line
            role = (row.get("role") if "role" in row.values else roles.get(sourced, "")).lower()
            if not role:
                raise row.refuse("role", "the user has no role")
            self.user_roles[sourced] = role
            if role == "student":
                self.student(row)
            elif role in STAFF_ROLES:
                self.staff(row, teaching=role == "teacher")
            elif role in AGENT_ROLES:
                self.contact(row, role)
            else:
                row.taken.clear()  # a role with no place: every value of the row is unmapped
                self.unmapped.append(f"users.csv line {row.line}: role {role!r} has no place yet")
        upn_lines: dict[str, int] = {}
        for row in rows:
            upn = self.upns.get(row.get("sourcedId"))
            if upn is None:
                continue
            if upn in upn_lines:
                raise row.refuse(
                    "identifier", f"UPN {upn} is also the pupil's at line {upn_lines[upn]}"
                )
            upn_lines[upn] = row.line
        self.links(rows)
        for row in self.deleted("users.csv"):
            role = (row.get("role") or roles.get(row.get("sourcedId"), "")).lower()
            if role == "student":
                self.deletions["student"].append(self.upn_of(row))
            elif role in STAFF_ROLES:
                self.deletions["staff"].append(row.get("sourcedId"))
            elif role in AGENT_ROLES:
                self.deletions["contact"].append(row.get("sourcedId"))

    def roles_file(self) -> dict[str, str]:
        """OneRoster 1.2 keeps roles in roles.csv: each user's primary role."""
        roles: dict[str, str] = {}
        for row in self.live("roles.csv"):
            user, role = row.get("userSourcedId"), row.get("role")
            if row.get("roleType").lower() == "primary" or user not in roles:
                roles[user] = role
            for column in ("orgSourcedId", "roleType"):
                row.get(column)
        return roles

    def upn_of(self, row: _Row) -> str:
        candidates = [("identifier", row.get("identifier"))]
        candidates += [(c, row.get(c)) for c in row.values if c.lower() == "metadata.upn"]
        for _, value in candidates:
            if value and valid_upn(value.upper()):
                return value.upper()
        for column, value in candidates:
            if value:
                row.taken.discard(column)
        given = next((v for _, v in candidates if v), "")
        raise row.refuse(
            "identifier",
            f"{given!r} is not a valid UPN; pupils are keyed by UPN, so put it in identifier "
            "(or a metadata.upn column)"
            if given
            else "the pupil has no UPN; pupils are keyed by UPN, so put it in identifier (or a "
            "metadata.upn column)",
        )

    def names(self, row: _Row) -> dict[str, Any]:
        forename, surname = row.raw("givenName"), row.raw("familyName")
        if not forename.strip():
            raise row.refuse("givenName", "the user has no givenName")
        if not surname.strip():
            raise row.refuse("familyName", "the user has no familyName")
        return {
            "forename": forename,
            "surname": surname,
            "middle_names": row.raw("middleName") or None,
            "legal_forename": forename,
            "legal_surname": surname,
        }

    def student(self, row: _Row) -> None:
        upn = self.upn_of(row)
        self.upns[row.get("sourcedId")] = upn
        grades = [g for g in row.get("grades").split(",") if g.strip()]
        year = nc_year(grades[0]) if len(grades) == 1 else None
        if grades and year is None:
            row.taken.discard("grades")
        for column in ("enabledUser", "orgSourcedIds"):
            row.get(column)
        record = {
            "upn": upn,
            **self.names(row),
            "preferred_forename": row.raw("preferredGivenName") or None,
            "preferred_surname": row.raw("preferredFamilyName") or None,
            "email": row.get("email") or None,
            "telephone": row.get("phone") or row.get("sms") or None,
            "nc_year": year,
            "gender": None,
            "date_of_birth": None,
        }
        if row.values.get("phone", "").strip() and row.values.get("sms", "").strip():
            row.taken.discard("sms")
        self.people[row.get("sourcedId")] = record
        self.entities["student"].append(record)

    def staff(self, row: _Row, *, teaching: bool) -> None:
        code = row.get("identifier")
        if len(code) > 10:
            row.taken.discard("identifier")
        for column in ("enabledUser", "orgSourcedIds"):
            row.get(column)
        names = self.names(row)
        record = {
            "id": row.get("sourcedId"),
            **names,
            "preferred_forename": row.raw("preferredGivenName") or None,
            "staff_code": code if code and len(code) <= 10 else None,
            "work_email": row.get("email") or None,
            "work_telephone": row.get("phone") or None,
            "is_teaching_staff": teaching,
            "gender": None,
            "date_of_birth": None,
        }
        self.people[row.get("sourcedId")] = record
        self.entities["staff"].append(record)

    def contact(self, row: _Row, role: str) -> None:
        for column in ("enabledUser", "orgSourcedIds"):
            row.get(column)
        record = {
            "id": row.get("sourcedId"),
            **self.names(row),
            "email": row.get("email") or None,
            "home_telephone": row.get("phone") or None,
            "mobile_telephone": row.get("sms") or None,
        }
        self.people[row.get("sourcedId")] = record
        self.entities["contact"].append(record)

    def links(self, rows: list[_Row]) -> None:
        """student_contact from agentSourcedIds, which either side (or both) may list."""
        pairs: dict[tuple[str, str], int | None] = {}
        for row in rows:
            sourced = row.get("sourcedId")
            role = self.user_roles[sourced]
            agents = [a.strip() for a in row.get("agentSourcedIds").split(",") if a.strip()]
            for position, agent in enumerate(agents, start=1):
                other = self.user_roles.get(agent)
                if other is None:
                    if self.delta:
                        continue  # may be on the server already; the ingest checks the link
                    raise row.refuse("agentSourcedIds", f"{agent!r} is not a user in users.csv")
                if role == "student" and other in AGENT_ROLES:
                    pairs[(sourced, agent)] = position
                elif role in AGENT_ROLES and other == "student":
                    pairs.setdefault((agent, sourced), None)
        for (student, contact), priority in pairs.items():
            role = self.user_roles[contact]
            self.entities["student_contact"].append(
                {
                    "id": derived_key(self.upns[student], contact),
                    "student_id": self.upns[student],
                    "contact_id": contact,
                    "relationship": AGENT_ROLES[role],
                    "parental_responsibility": role in {"parent", "guardian"},
                    "priority": priority,
                }
            )

    def demographics(self) -> None:
        for row in self.live("demographics.csv"):
            sourced = row.get("sourcedId")
            person = self.people.get(sourced)
            if person is None or ("upn" not in person and "staff_code" not in person):
                raise row.refuse(
                    "sourcedId", f"{sourced!r} is not a pupil or member of staff in users.csv"
                )
            person["date_of_birth"] = self.date(row, "birthDate")
            sex = row.get("sex").lower()
            if sex:
                person["gender"] = SEXES.get(sex, row.get("sex"))

    def classes(self) -> None:
        self.class_ids: dict[str, dict[str, Any]] = {}
        courses = {row.get("sourcedId"): row for row in self.live("courses.csv")}
        subjects: dict[str, dict[str, Any]] = {}
        for row in self.live("classes.csv"):
            sourced = row.get("sourcedId")
            if sourced in self.class_ids:
                raise row.refuse("sourcedId", f"{sourced!r} is the id of two classes")
            grades = [g for g in row.get("grades").split(",") if g.strip()]
            year = nc_year(grades[0]) if len(grades) == 1 else None
            if grades and year is None:
                row.taken.discard("grades")
            subject_id = self.subject(row, subjects)
            course_id = row.get("courseSourcedId")
            if subject_id is None and course_id in courses:
                subject_id = self.subject(courses[course_id], subjects)
            elif (
                course_id
                and course_id not in courses
                and "courses.csv" in self.rows
                and not self.delta
            ):
                raise row.refuse("courseSourcedId", f"{course_id!r} is not in courses.csv")
            row.get("schoolSourcedId")
            title = row.raw("title")
            if not title.strip():
                raise row.refuse("title", "the class has no title")
            record = {
                "id": sourced,
                "code": row.get("classCode") or title[:30],
                "name": title,
                "subject_id": subject_id,
                "nc_year": year,
                "staff_id": None,
            }
            self.class_ids[sourced] = record
            self.entities["class"].append(record)
        self.entities["subject"].extend(subjects.values())
        for row in self.deleted("classes.csv"):
            self.deletions["class"].append(row.get("sourcedId"))

    def subject(self, row: _Row, subjects: dict[str, dict[str, Any]]) -> str | None:
        codes = [c.strip() for c in row.get("subjectCodes").split(",") if c.strip()]
        names = [n.strip() for n in row.get("subjects").split(",") if n.strip()]
        if not codes and not names:
            return None
        code = (codes or names)[0][:20]
        key = f"subject-{code}"
        subjects.setdefault(key, {"id": key, "code": code, "name": (names or codes)[0]})
        if len(codes) > 1 or len(names) > 1:
            self.notes.append(
                f"{row.file} line {row.line}: only the first of several subjects was kept"
            )
        return key

    def enrollments(self) -> None:
        teachers: dict[str, list[tuple[bool, str]]] = defaultdict(list)
        for row in self.live("enrollments.csv"):
            class_id, user = row.get("classSourcedId"), row.get("userSourcedId")
            row.get("schoolSourcedId")
            if class_id not in self.class_ids:
                raise row.refuse("classSourcedId", f"{class_id!r} is not a class in classes.csv")
            role = row.get("role").lower() or self.user_roles.get(user, "")
            if user not in self.user_roles:
                raise row.refuse("userSourcedId", f"{user!r} is not a user in users.csv")
            if role == "student":
                if user not in self.upns:
                    raise row.refuse("userSourcedId", f"{user!r} is not a pupil in users.csv")
                row.get("primary")
                self.entities["class_membership"].append(
                    {
                        "id": row.get("sourcedId"),
                        "class_id": class_id,
                        "student_id": self.upns[user],
                        "start_date": self.date(row, "beginDate"),
                        "end_date": self.date(row, "endDate"),
                    }
                )
            elif role == "teacher":
                primary = row.get("primary").lower() == "true"
                teachers[class_id].append((primary, user))
                for column in ("beginDate", "endDate"):
                    row.get(column)
            else:
                row.taken.clear()
                self.unmapped.append(
                    f"enrollments.csv line {row.line}: role {role!r} has no place yet"
                )
        for class_id, staff in teachers.items():
            staff.sort(key=lambda pair: not pair[0])  # the primary teacher first
            self.class_ids[class_id]["staff_id"] = staff[0][1]
            if len(staff) > 1:
                self.notes.append(
                    f"class {class_id} has {len(staff)} teachers; we hold one, {staff[0][1]}"
                )
        for row in self.deleted("enrollments.csv"):
            self.deletions["class_membership"].append(row.get("sourcedId"))
