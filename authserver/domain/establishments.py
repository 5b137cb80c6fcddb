"""The DfE's register of establishments (GIAS): reading its CSV extract, keeping the register
and the schools and trusts on the platform in step with it, and onboarding from it."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select

from authserver.domain import audit
from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.establishments import CLOSED, Establishment, RegisterTrust
from authserver.models.organisations import School, Trust
from authserver.models.users import User

# The register's own column names; the real extract has some 130 more, which are ignored.
URN = "URN"
LA_CODE = "LA (code)"
LA_NAME = "LA (name)"
NUMBER = "EstablishmentNumber"
NAME = "EstablishmentName"
TYPE = "TypeOfEstablishment (name)"
STATUS = "EstablishmentStatus (name)"
PHASE = "PhaseOfEducation (name)"
POSTCODE = "Postcode"
TRUST_CODE = "Trusts (code)"
TRUST_NAME = "Trusts (name)"
COLUMNS = (
    URN,
    LA_CODE,
    LA_NAME,
    NUMBER,
    NAME,
    TYPE,
    STATUS,
    PHASE,
    POSTCODE,
    TRUST_CODE,
    TRUST_NAME,
)
#: The columns every row must fill in.
FILLED = (URN, NAME, STATUS, PHASE)
#: The longest value each column may hold (the model's columns).
LONGEST = {
    URN: 16,
    LA_CODE: 10,
    LA_NAME: 100,
    NUMBER: 10,
    NAME: 200,
    TYPE: 100,
    STATUS: 40,
    PHASE: 40,
    POSTCODE: 10,
    TRUST_CODE: 20,
    TRUST_NAME: 200,
}
STATUSES = ("Open", "Open, but proposed to close", "Proposed to open", CLOSED)
#: The register's phases of education, and the phase a school on the platform is given.
PHASES = {
    "Not applicable": "not applicable",
    "Nursery": "nursery",
    "Primary": "primary",
    "Middle deemed primary": "primary",
    "Secondary": "secondary",
    "Middle deemed secondary": "secondary",
    "16 plus": "16 plus",
    "All-through": "all-through",
}
URN_PATTERN = re.compile(r"[1-9][0-9]{5,6}")
CODE_PATTERN = re.compile(r"[0-9A-Za-z-]+")
DIGITS = re.compile(r"[0-9]+")
UTF8_BOM = b"\xef\xbb\xbf"
#: The shortest reason that explains adding a school the register does not have.
SHORTEST_REASON = 10


class RegisterRefused(ValueError):
    """A register file that cannot be imported: the message names the line and column."""

    def __init__(self, line: int, column: str | None, problem: str) -> None:
        self.line, self.column, self.problem = line, column, problem
        where = f"Line {line}" + (f", column “{column}”" if column else "")
        super().__init__(f"{where}: {problem}")


class OnboardingRefused(ValueError):
    """An onboarding that breaks a rule; the message says which, in plain words."""


class NotAPlatformAdmin(OnboardingRefused):
    """Only a platform admin brings schools and trusts onto the platform."""


@dataclass(frozen=True)
class RegisterRow:
    """One establishment as a line of the register gives it."""

    line: int
    urn: str
    name: str
    la_code: str
    la_name: str
    establishment_number: str
    type_name: str
    status: str
    phase_name: str
    postcode: str
    trust_code: str | None
    trust_name: str | None

    def entry_values(self) -> dict[str, Any]:
        """The row as the register's columns of an Establishment."""
        return {
            "name": self.name,
            "la_code": self.la_code,
            "la_name": self.la_name,
            "establishment_number": self.establishment_number,
            "type_name": self.type_name,
            "status": self.status,
            "phase_name": self.phase_name,
            "postcode": self.postcode,
            "trust_code": self.trust_code,
        }


# --- Reading the file ---------------------------------------------------------------------------


def _line_of(content: bytes, offset: int) -> int:
    return content.count(b"\n", 0, offset) + 1


def decode_register(content: bytes) -> str:
    """The file's text: Windows-1252 as the DfE writes it, or UTF-8 when it starts with a
    byte-order mark (a spreadsheet's "CSV UTF-8"); anything else is refused by line."""
    if content.startswith(UTF8_BOM):
        try:
            return content[len(UTF8_BOM) :].decode("utf-8")
        except UnicodeDecodeError as error:
            line = _line_of(content, error.start + len(UTF8_BOM))
            raise RegisterRefused(
                line, None, "the file says it is UTF-8 but this line is not."
            ) from None
    nul = content.find(b"\x00")
    if nul >= 0:
        raise RegisterRefused(
            _line_of(content, nul),
            None,
            "the file holds NUL bytes: it is not a CSV text file (UTF-16, or a spreadsheet?). "
            "Use the DfE's CSV download as it comes.",
        )
    try:
        text = content.decode("cp1252")
    except UnicodeDecodeError as error:
        raise RegisterRefused(
            _line_of(content, error.start),
            None,
            f"byte 0x{content[error.start]:02X} is not Windows-1252 text, the encoding of the "
            "DfE's extract. Use the file as downloaded.",
        ) from None
    if not content.isascii() and _is_utf8(content):
        # Read as Windows-1252, UTF-8 would give "Ã©" for "é": refuse rather than misspell.
        first = next(n for n, line in enumerate(content.split(b"\n"), 1) if not line.isascii())
        raise RegisterRefused(
            first,
            None,
            "this line is UTF-8, but the DfE's extract is Windows-1252, so names would be "
            "misspelt. Use the file as downloaded, or save it as “CSV UTF-8”.",
        )
    return text


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_register(content: bytes) -> list[RegisterRow]:
    """Every row of a GIAS establishment CSV, checked; the first problem refuses the file."""
    text = decode_register(content)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise RegisterRefused(1, None, "the file is empty.")
        positions = _positions(header)
        rows: list[RegisterRow] = []
        seen: dict[str, int] = {}
        trust_names: dict[str, tuple[str, int]] = {}
        line = reader.line_num + 1
        for record in reader:
            start, line = line, reader.line_num + 1
            if not record or all(not value.strip() for value in record):
                continue
            if len(record) != len(header):
                raise RegisterRefused(
                    start,
                    None,
                    f"this line has {len(record)} values but the first line names "
                    f"{len(header)} columns (a comma or quote out of place?).",
                )
            row = _row(start, {name: record[i].strip() for name, i in positions.items()})
            if row.urn in seen:
                raise RegisterRefused(
                    start, URN, f"URN {row.urn} is already on line {seen[row.urn]}."
                )
            seen[row.urn] = start
            if row.trust_code is not None and row.trust_name is not None:
                named, where = trust_names.setdefault(row.trust_code, (row.trust_name, start))
                if named != row.trust_name:
                    raise RegisterRefused(
                        start,
                        TRUST_NAME,
                        f"trust {row.trust_code} is “{named}” on line {where}, "
                        f"not “{row.trust_name}”.",
                    )
            rows.append(row)
    except csv.Error as error:
        raise RegisterRefused(
            reader.line_num or 1, None, f"this is not valid CSV ({error})."
        ) from None
    return rows


def _positions(header: Sequence[str]) -> dict[str, int]:
    names = [name.strip().lstrip("\ufeff") for name in header]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        listed = ", ".join(f"“{name}”" for name in missing)
        raise RegisterRefused(
            1,
            missing[0],
            f"the first line has no column {listed}. The file must be the DfE's establishment "
            "fields CSV (edubasealldata), with its own column names.",
        )
    for name in COLUMNS:
        if names.count(name) > 1:
            raise RegisterRefused(1, name, "this column is named twice.")
    return {name: names.index(name) for name in COLUMNS}


def _row(line: int, values: dict[str, str]) -> RegisterRow:
    for name in COLUMNS:
        value = values[name]
        if name in FILLED and not value:
            raise RegisterRefused(line, name, "this is empty; every establishment needs one.")
        if len(value) > LONGEST[name]:
            raise RegisterRefused(
                line, name, f"this is {len(value)} characters long; at most {LONGEST[name]}."
            )
        if any(ord(character) < 32 for character in value):
            raise RegisterRefused(line, name, "this holds a control character.")
    if not URN_PATTERN.fullmatch(values[URN]):
        raise RegisterRefused(
            line, URN, f"“{values[URN]}” is not a URN (six or seven digits, such as 140001)."
        )
    if values[STATUS] not in STATUSES:
        raise RegisterRefused(
            line,
            STATUS,
            f"“{values[STATUS]}” is not a status of the register ({_listed(STATUSES)}).",
        )
    if values[PHASE] not in PHASES:
        raise RegisterRefused(
            line,
            PHASE,
            f"“{values[PHASE]}” is not a phase of the register ({_listed(PHASES)}).",
        )
    for name in (LA_CODE, NUMBER):
        if values[name] and not DIGITS.fullmatch(values[name]):
            raise RegisterRefused(line, name, f"“{values[name]}” is not a number.")
    code, trust = values[TRUST_CODE] or None, values[TRUST_NAME] or None
    if code is not None and not CODE_PATTERN.fullmatch(code):
        raise RegisterRefused(line, TRUST_CODE, f"“{code}” is not a trust's code.")
    if (code is None) != (trust is None):
        missing = TRUST_NAME if trust is None else TRUST_CODE
        raise RegisterRefused(line, missing, "a trust needs both its code and its name.")
    return RegisterRow(
        line=line,
        urn=values[URN],
        name=values[NAME],
        la_code=values[LA_CODE],
        la_name=values[LA_NAME],
        establishment_number=values[NUMBER],
        type_name=values[TYPE],
        status=values[STATUS],
        phase_name=values[PHASE],
        postcode=values[POSTCODE],
        trust_code=code,
        trust_name=trust,
    )


def _listed(values: Iterable[str]) -> str:
    return ", ".join(f"“{value}”" for value in values)


# --- Importing ----------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import changed: register entries, register trusts, and the platform's own."""

    added: int = 0
    updated: int = 0
    closed: int = 0
    unchanged: int = 0
    trusts_added: int = 0
    trusts_updated: int = 0
    schools_updated: int = 0
    schools_closed: int = 0
    platform_trusts_updated: int = 0
    changed_schools: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.added
            or self.updated
            or self.closed
            or self.trusts_added
            or self.trusts_updated
            or self.schools_updated
            or self.schools_closed
            or self.platform_trusts_updated
        )

    def as_json(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "closed": self.closed,
            "unchanged": self.unchanged,
            "trusts_added": self.trusts_added,
            "trusts_updated": self.trusts_updated,
            "schools_updated": self.schools_updated,
            "schools_closed": self.schools_closed,
            "platform_trusts_updated": self.platform_trusts_updated,
        }


def import_register(
    rows: Sequence[RegisterRow],
    *,
    actor: User | str,
    progress: Callable[[int], None] = lambda _done: None,
) -> ImportSummary:
    """Bring the register and the platform's schools and trusts in step with `rows` (read and
    checked by `read_register`); changes only what differs, so a second import of the same
    file changes nothing. The caller commits once."""
    summary = ImportSummary()
    now = utcnow()
    entries = {e.urn: e for e in db.session.scalars(select(Establishment))}
    register_trusts = {t.code: t for t in db.session.scalars(select(RegisterTrust))}
    schools = {s.urn: s for s in db.session.scalars(select(School))}
    trusts = {t.code: t for t in db.session.scalars(select(Trust).where(Trust.code.is_not(None)))}

    for row in rows:
        if row.trust_code is not None and row.trust_name is not None:
            _import_trust(row.trust_code, row.trust_name, register_trusts, trusts, summary, actor)
    for done, row in enumerate(rows, 1):
        _import_entry(row, entries, summary, now)
        school = schools.get(row.urn)
        if school is not None:
            _update_school(school, row, trusts, summary, actor, now)
        if done % 500 == 0 or done == len(rows):
            progress(done)
    db.session.flush()
    if summary.changed_anything:
        audit.record(AuditAction.REGISTER_IMPORTED, actor=actor, **summary.as_json())
    return summary


def _import_trust(
    code: str,
    name: str,
    register_trusts: dict[str, RegisterTrust],
    trusts: dict[str | None, Trust],
    summary: ImportSummary,
    actor: User | str,
) -> None:
    known = register_trusts.get(code)
    if known is None:
        register_trusts[code] = RegisterTrust(code=code, name=name)
        db.session.add(register_trusts[code])
        summary.trusts_added += 1
    elif known.name != name:
        known.name = name
        known.imported_at = utcnow()
        summary.trusts_updated += 1
    platform = trusts.get(code)
    if platform is not None and platform.name != name:
        audit.record(
            AuditAction.TRUST_UPDATED_FROM_REGISTER,
            actor=actor,
            trust_id=platform.id,
            code=code,
            name={"from": platform.name, "to": name},
        )
        platform.name = name
        summary.platform_trusts_updated += 1


def _import_entry(
    row: RegisterRow, entries: dict[str, Establishment], summary: ImportSummary, now: Any
) -> None:
    entry = entries.get(row.urn)
    values = row.entry_values()
    if entry is None:
        entries[row.urn] = Establishment(urn=row.urn, imported_at=now, **values)
        db.session.add(entries[row.urn])
        summary.added += 1
        return
    changed = {name: value for name, value in values.items() if getattr(entry, name) != value}
    if not changed:
        summary.unchanged += 1
        return
    closing = changed.get("status") == CLOSED
    for name, value in changed.items():
        setattr(entry, name, value)
    entry.imported_at = now
    if closing:
        summary.closed += 1
    else:
        summary.updated += 1


def _update_school(
    school: School,
    row: RegisterRow,
    trusts: dict[str | None, Trust],
    summary: ImportSummary,
    actor: User | str,
    now: Any,
) -> None:
    changes: dict[str, dict[str, Any]] = {}
    phase = PHASES[row.phase_name]
    if school.name != row.name:
        changes["name"] = {"from": school.name, "to": row.name}
        school.name = row.name
    if school.phase != phase:
        changes["phase"] = {"from": school.phase, "to": phase}
        school.phase = phase
    target = trusts.get(row.trust_code) if row.trust_code is not None else None
    # A trust made on the platform before the register (no code) is the platform's own
    # arrangement: the register moves a school out of it only into a trust it knows.
    keep = target is None and school.trust is not None and school.trust.code is None
    if not keep and school.trust_id != (target.id if target else None):
        changes["trust"] = {
            "from": school.trust.name if school.trust else None,
            "to": target.name if target else None,
        }
        school.trust = target
    if changes:
        audit.record(
            AuditAction.SCHOOL_UPDATED_FROM_REGISTER, actor=actor, school=school, changes=changes
        )
        summary.schools_updated += 1
        summary.changed_schools.append(school.urn)
    closed = row.status == CLOSED
    if closed and school.closed_at is None:
        school.closed_at = now
        audit.record(AuditAction.SCHOOL_CLOSED, actor=actor, school=school, status=row.status)
        summary.schools_closed += 1
        summary.changed_schools.append(school.urn)
    elif not closed and school.closed_at is not None:
        school.closed_at = None
        audit.record(AuditAction.SCHOOL_REOPENED, actor=actor, school=school, status=row.status)
        summary.schools_updated += 1
        summary.changed_schools.append(school.urn)


# --- Finding ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchPage:
    """One page of establishments matching a search, with the schools already onboarded."""

    query: str
    entries: list[Establishment]
    onboarded: set[str]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def search(query: str, *, page: int = 1, per_page: int = 20) -> SearchPage:
    """Establishments whose URN is `query`, or whose name holds every word of it, by name."""
    query = " ".join(query.split())
    condition: Any
    if DIGITS.fullmatch(query):
        condition = or_(Establishment.urn == query, Establishment.name.contains(query))
    else:
        words = [word.lower() for word in query.split()] or [""]
        condition = and_(
            *(func.lower(Establishment.name).contains(word, autoescape=True) for word in words)
        )
    total = db.session.scalar(select(func.count()).select_from(Establishment).where(condition))
    page = max(1, page)
    entries = list(
        db.session.scalars(
            select(Establishment)
            .where(condition)
            .order_by(Establishment.name, Establishment.urn)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return SearchPage(
        query, entries, _onboarded(e.urn for e in entries), total or 0, page, per_page
    )


def _onboarded(urns: Iterable[str]) -> set[str]:
    wanted = list(urns)
    if not wanted:
        return set()
    return set(db.session.scalars(select(School.urn).where(School.urn.in_(wanted))))


def find_establishment(urn: str) -> Establishment | None:
    """The register entry with this URN, if the register has it."""
    return db.session.scalar(select(Establishment).where(Establishment.urn == urn))


def find_register_trust(code: str) -> RegisterTrust | None:
    """The register's trust with this code."""
    return db.session.scalar(select(RegisterTrust).where(RegisterTrust.code == code))


def establishments_of(trust: RegisterTrust) -> list[Establishment]:
    """The register's establishments in a trust, by name."""
    return list(
        db.session.scalars(
            select(Establishment)
            .where(Establishment.trust_code == trust.code)
            .order_by(Establishment.name)
        )
    )


def platform_trust_of(register_trust: RegisterTrust) -> Trust | None:
    """The trust on the platform made from this register trust, if it is onboarded."""
    return db.session.scalar(select(Trust).where(Trust.code == register_trust.code))


def school_of(urn: str) -> School | None:
    """The school on the platform with this URN."""
    return db.session.scalar(select(School).where(School.urn == urn))


def onboarded_urns(entries: Iterable[Establishment]) -> set[str]:
    """Which of these establishments are schools on the platform."""
    return _onboarded(e.urn for e in entries)


# --- Onboarding ---------------------------------------------------------------------------------


def _check_platform_admin(by: User) -> None:
    if not (by.is_active and by.is_platform_admin):
        raise NotAPlatformAdmin("only a platform admin may bring schools onto the platform")


def _new_school(entry: Establishment, trust: Trust | None) -> School:
    school = School(
        urn=entry.urn,
        name=entry.name,
        phase=PHASES.get(entry.phase_name, "not applicable"),
        trust=trust,
    )
    db.session.add(school)
    return school


def onboard_school(entry: Establishment, *, by: User) -> School:
    """Make a register entry a school on the platform (in its trust, if that trust is on the
    platform); a closed establishment or one already onboarded is refused."""
    _check_platform_admin(by)
    if school_of(entry.urn) is not None:
        raise OnboardingRefused(f"{entry.name} (URN {entry.urn}) is already on the platform")
    if entry.is_closed:
        raise OnboardingRefused(
            f"{entry.name} (URN {entry.urn}) is closed, according to the DfE register"
        )
    trust = (
        db.session.scalar(select(Trust).where(Trust.code == entry.trust_code))
        if entry.trust_code
        else None
    )
    school = _new_school(entry, trust)
    db.session.flush()
    audit.record(
        AuditAction.SCHOOL_ONBOARDED,
        actor=by,
        school=school,
        urn=entry.urn,
        source="register",
        trust_code=trust.code if trust else None,
    )
    return school


@dataclass(frozen=True)
class TrustOnboarding:
    """What onboarding a trust did: the platform's trust, schools added and schools joined."""

    trust: Trust
    added: list[School]
    joined: list[School]


def onboard_trust(register_trust: RegisterTrust, *, by: User) -> TrustOnboarding:
    """Bring a trust onto the platform with every open school the register gives it; schools
    of the trust already on the platform join it. Asking twice adds only what is new."""
    _check_platform_admin(by)
    trust = db.session.scalar(select(Trust).where(Trust.code == register_trust.code))
    created = trust is None
    if trust is None:
        trust = Trust(name=register_trust.name, code=register_trust.code)
        db.session.add(trust)
        db.session.flush()
    added: list[School] = []
    joined: list[School] = []
    for entry in establishments_of(register_trust):
        school = school_of(entry.urn)
        if school is not None:
            if school.trust_id != trust.id:
                school.trust = trust
                joined.append(school)
            continue
        if entry.is_closed:
            continue
        school = _new_school(entry, trust)
        added.append(school)
    if not created and not added and not joined:
        raise OnboardingRefused(
            f"{register_trust.name} and all its open schools are already on the platform"
        )
    db.session.flush()
    audit.record(
        AuditAction.TRUST_ONBOARDED,
        actor=by,
        trust_id=trust.id,
        code=trust.code,
        added=[s.urn for s in added],
        joined=[s.urn for s in joined],
    )
    for school in added:
        audit.record(
            AuditAction.SCHOOL_ONBOARDED,
            actor=by,
            school=school,
            urn=school.urn,
            source="register",
            trust_code=trust.code,
        )
    return TrustOnboarding(trust, added, joined)


def add_school_outside_register(
    *, urn: str, name: str, phase: str, reason: str, by: User
) -> School:
    """Add a school the register does not have (a new school not yet listed, say), with the
    platform admin's written reason, which the audit log keeps."""
    _check_platform_admin(by)
    urn, name, reason = urn.strip(), " ".join(name.split()), reason.strip()
    if not URN_PATTERN.fullmatch(urn):
        raise OnboardingRefused("a URN is six or seven digits, such as 140001")
    if school_of(urn) is not None:
        raise OnboardingRefused(f"a school with the URN {urn} is already on the platform")
    if find_establishment(urn) is not None:
        raise OnboardingRefused(
            f"the DfE register has URN {urn}: onboard it from the register instead"
        )
    if not name or len(name) > LONGEST[NAME]:
        raise OnboardingRefused(f"enter the school's name, in at most {LONGEST[NAME]} characters")
    if phase not in set(PHASES.values()):
        raise OnboardingRefused("choose the school's phase")
    if len(reason) < SHORTEST_REASON:
        raise OnboardingRefused("say why this school is added without the register, in a sentence")
    school = School(urn=urn, name=name, phase=phase)
    db.session.add(school)
    db.session.flush()
    audit.record(
        AuditAction.SCHOOL_ADDED_OUTSIDE_REGISTER,
        actor=by,
        school=school,
        urn=urn,
        name=name,
        reason=reason,
    )
    return school
