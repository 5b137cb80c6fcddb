"""The MIS ingest under load: a 2,000-pupil secondary's full snapshot and a 1% delta, sent as a
connector sends them (over HTTP, gzip, batches of up to 10,000 records), and a vendor reading
the school's pupils alone and while a snapshot is applied.

The records are made here, deterministically (`school_records`); the world (an empty school, its
connector, a vendor's grant and school secret) through the domain functions production uses
(`build`). The driver (`Connector`, `Readers`, `measure`) talks HTTP through a `Send` callable,
so the same code drives gunicorn in `make bench` and Flask's test client in tests/bench.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from authserver.domain.ingest import MAX_BATCH_RECORDS

PUPILS = 2_000
SCHOOL_DAYS = 65  # one autumn term
CONTACTS_PER_PUPIL = 1.5
SUBJECTS = ("EN", "MA", "SC", "HI", "GE", "FR", "AR", "MU", "PE", "CO")
CLASSES_PER_SUBJECT_AND_YEAR = 10
STAFF = 150
YEARS = ("7", "8", "9", "10", "11", "12", "13")
TERM_STARTS = dt.date(2026, 9, 3)
#: The delta's share of the snapshot: about 1%, across pupils, contacts and marks.
DELTA_SHARE = 0.01
#: The order a connector sends entities in (dependencies first, as a reader would expect).
SNAPSHOT_ENTITIES = (
    "staff",
    "subject",
    "class",
    "student",
    "class_membership",
    "contact",
    "student_contact",
    "session_mark",
)
#: What the vendor's token asks for: pupils' names and attendance (as in bench/world.py).
VENDOR_SCOPES = "StudentLite Attendance"
VENDOR_APPLICATION = "Register Radar"
VENDOR_PAGE = "/api/v1/students?limit=1000"

#: Entity -> MIS key -> record, in the order they are sent.
Records = dict[str, dict[str, dict[str, Any]]]
#: (method, path, headers, body) -> (status, parsed JSON body)
Send = Callable[[str, str, dict[str, str], bytes | None], tuple[int, Any]]


# --- The school's records ----------------------------------------------------------------------


def upn(serial: int) -> str:
    """A valid permanent UPN for the bench school's pupil `serial` (the DfE's check letter)."""
    body = f"8234013{10 + serial // 1000:02d}{serial % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, range(2, 14), strict=True))
    return "ABCDEFGHJKLMNPQRTUVWXYZ"[total % 23] + body


def school_days(count: int) -> list[dt.date]:
    """The first `count` weekdays of the term."""
    days, day = [], TERM_STARTS
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _mark_code(rng: random.Random) -> tuple[str, int | None]:
    roll = rng.random()
    if roll < 0.90:
        return rng.choice("/\\"), None
    if roll < 0.94:
        return "L", rng.randint(2, 25)
    return rng.choice("IMNUEC"), None


def school_records(pupils: int = PUPILS, days: int = SCHOOL_DAYS, seed: int = 2026) -> Records:
    """A secondary's full snapshot: staff, subjects, classes, pupils, their class memberships,
    contacts and contact links, and `days` school days of session marks."""
    rng = random.Random(seed)  # noqa: S311 (made-up records, repeatable)
    records: Records = {entity: {} for entity in SNAPSHOT_ENTITIES}
    staff = records["staff"]
    for n in range(STAFF):
        staff[f"st{n}"] = {
            "id": f"st{n}",
            "forename": rng.choice(("Ann", "Ben", "Chidi", "Dawn", "Eitan", "Fatima")),
            "surname": f"Staffer{n}",
            "staff_code": f"S{n:03d}",
            "is_teaching_staff": n < STAFF * 0.7,
            "work_email": f"staff{n}@school.example",
        }
    for code in SUBJECTS:
        records["subject"][f"sub-{code}"] = {"id": f"sub-{code}", "code": code, "name": code}
    for year in YEARS:
        for code in SUBJECTS:
            for group in range(CLASSES_PER_SUBJECT_AND_YEAR):
                key = f"c{year}-{code}-{group}"
                records["class"][key] = {
                    "id": key,
                    "code": f"{year}{code}{group}",
                    "name": f"Year {year} {code} set {group + 1}",
                    "subject_id": f"sub-{code}",
                    "nc_year": year,
                    "staff_id": f"st{rng.randrange(STAFF)}",
                }
    contacts = int(pupils * CONTACTS_PER_PUPIL)
    for n in range(contacts):
        records["contact"][f"k{n}"] = _contact(rng, n)
    for serial in range(pupils):
        _add_pupil(records, rng, serial, pupils, contacts, school_days(days))
    return records


def _contact(rng: random.Random, n: int) -> dict[str, Any]:
    return {
        "id": f"k{n}",
        "title": rng.choice(("Mr", "Mrs", "Ms", "Dr")),
        "forename": rng.choice(("Grace", "Hamid", "Iona", "Jude", "Kofi", "Lena")),
        "surname": f"Parent{n}",
        "email": f"parent{n}@home.example",
        "mobile_telephone": f"07700 9{n % 100000:05d}",
        "postcode": "NE1 4XX",
    }


def _add_pupil(
    records: Records,
    rng: random.Random,
    serial: int,
    pupils: int,
    contacts: int,
    days: list[dt.date],
) -> None:
    """One pupil with their classes, contacts and marks."""
    key = upn(serial)
    year = YEARS[serial * len(YEARS) // max(pupils, 1) % len(YEARS)]
    records["student"][key] = {
        "upn": key,
        "forename": rng.choice(("Aisha", "Ben", "Chloé", "Dev", "Ellie", "Finn", "Zoë")),
        "surname": rng.choice(("O'Brien", "Nkemelu", "Smith", "Kowalski", "Ahmed")),
        "gender": rng.choice(("F", "M")),
        "date_of_birth": f"{2019 - int(year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "nc_year": year,
        "enrolment_status": "C",
        "admission_date": "2026-09-03",
        "postcode": "NE1 4XX",
        "telephone": f"0191 496 {serial % 10000:04d}",
    }
    for code in SUBJECTS:
        group = rng.randrange(CLASSES_PER_SUBJECT_AND_YEAR)
        membership = f"cm{serial}-{code}"
        records["class_membership"][membership] = {
            "id": membership,
            "class_id": f"c{year}-{code}-{group}",
            "student_id": key,
            "start_date": "2026-09-03",
        }
    first = serial * contacts // max(pupils, 1)
    for offset in (0, 1):
        contact = f"k{(first + offset) % contacts}"
        link = f"sc{serial}-{offset}"
        records["student_contact"][link] = {
            "id": link,
            "student_id": key,
            "contact_id": contact,
            "relationship": rng.choice(("Mother", "Father", "Carer", "Grandparent")),
            "parental_responsibility": True,
            "priority": offset + 1,
        }
    for day in days:
        for session in ("AM", "PM"):
            code, late = _mark_code(rng)
            mark = f"m{serial}-{day.isoformat()}-{session}"
            records["session_mark"][mark] = {
                "id": mark,
                "student_id": key,
                "date": day.isoformat(),
                "session": session,
                "code": code,
                "minutes_late": late,
            }


def count(records: Records) -> int:
    """How many records a snapshot of `records` holds."""
    return sum(map(len, records.values()))


@dataclass
class Delta:
    """A batch of changes (its JSON body) and the records as they are once it is applied."""

    body: dict[str, dict[str, list[Any]]]
    after: Records
    size: int


def delta(records: Records, round_number: int, share: float = DELTA_SHARE) -> Delta:
    """About `share` of the records changed: some pupils' and contacts' details, marks
    corrected, a few pupils added (with their classes and contacts) and deleted (their records
    go with them), some marks deleted."""
    rng = random.Random(1000 + round_number)  # noqa: S311 (repeatable)
    after: Records = {entity: dict(rows) for entity, rows in records.items()}
    body: dict[str, dict[str, list[Any]]] = {}

    def upsert(entity: str, record: dict[str, Any]) -> None:
        key = record["upn"] if entity == "student" else record["id"]
        after[entity][key] = record
        body.setdefault(entity, {}).setdefault("upsert", []).append(record)

    def remove(entity: str, key: str) -> None:
        del after[entity][key]
        body.setdefault(entity, {}).setdefault("delete", []).append(key)

    total = count(records)
    pupils = list(records["student"])
    # Pupils deleted: a leaver removed from the MIS takes their marks, classes and links.
    gone = set(rng.sample(pupils, max(1, len(pupils) // 1000)))
    staying = [key for key in pupils if key not in gone]
    for key in rng.sample(staying, max(1, int(len(pupils) * 0.02))):
        telephone = f"07700 {rng.randint(0, 999999):06d}"
        upsert("student", {**records["student"][key], "telephone": telephone})
    for key in rng.sample(list(records["contact"]), max(1, len(records["contact"]) // 100)):
        upsert("contact", {**records["contact"][key], "postcode": f"NE{rng.randint(1, 9)} 1AA"})
    marks = [k for k, r in records["session_mark"].items() if r["student_id"] not in gone]
    corrected = min(max(1, int(total * share * 0.85)), len(marks))
    chosen = rng.sample(marks, corrected + max(1, len(marks) // 2_500))
    for key in chosen[:corrected]:
        old = records["session_mark"][key]
        code = next(c for c in ("N", "/", "\\", "L") if c != old["code"])
        upsert("session_mark", {**old, "code": code, "minutes_late": 5 if code == "L" else None})
    for key in chosen[corrected:]:
        remove("session_mark", key)
    for key in sorted(gone):
        remove("student", key)
        for entity in ("session_mark", "class_membership", "student_contact"):
            for other in [k for k, r in after[entity].items() if r["student_id"] == key]:
                del after[entity][other]
    # Pupils added: new arrivals, with their classes, contacts and the last day's marks.
    last_day = max((r["date"] for r in records["session_mark"].values()), default=None)
    arrivals: Records = {entity: {} for entity in SNAPSHOT_ENTITIES}
    first_serial = 10_000 * (round_number + 1)
    for serial in range(first_serial, first_serial + max(1, len(pupils) // 400)):
        _add_pupil(
            arrivals,
            rng,
            serial,
            len(pupils),
            len(records["contact"]) or 1,
            [dt.date.fromisoformat(last_day)] if last_day else [],
        )
    for entity in SNAPSHOT_ENTITIES:
        for record in arrivals[entity].values():
            upsert(entity, record)
    size = sum(len(v) for part in body.values() for v in part.values())
    return Delta(body, after, size)


def batches(records: Records, size: int = MAX_BATCH_RECORDS) -> Iterator[dict[str, Any]]:
    """The snapshot as batch bodies of at most `size` records, in the order of the entities."""
    body: dict[str, Any] = {}
    held = 0
    for entity in SNAPSHOT_ENTITIES:
        for record in records.get(entity, {}).values():
            body.setdefault(entity, {"upsert": []})["upsert"].append(record)
            held += 1
            if held == size:
                yield body
                body, held = {}, 0
    if held:
        yield body


# --- The world ---------------------------------------------------------------------------------


def build(settings: Any) -> dict[str, Any]:
    """An empty secondary school in the demo trust, its connector, and a vendor's grant and
    school secret there; returns what the driver needs. Seeds the demo world first."""
    from sqlalchemy import select

    from authserver.demo.seed import refresh_statistics, seed_demo
    from authserver.domain import connectors, grants, school_secrets
    from authserver.extensions import db
    from authserver.models import Application, School, User

    demo = seed_demo(
        issuer=settings.issuer,
        password_rounds=settings.bcrypt_rounds,
        secret_key=settings.secret_key,
        schools=1,
        students_per_school=10,
    )
    if demo is None:
        raise RuntimeError("the ingest bench needs an empty database")
    db.session.flush()
    document = demo.as_json()
    trust_admin = db.session.scalar(
        select(User).where(User.email == document["trust_admin"]["email"])
    )
    first = db.session.get(School, document["schools"][0]["id"])
    school = School(urn="149999", name="Ingest Academy", phase="secondary", trust=first.trust)
    db.session.add(school)
    db.session.flush()
    connector, connector_secret = connectors.register(
        db.session, school, "Ingest bench agent", actor="bench"
    )
    vendor = next(a for a in document["applications"] if a["name"] == VENDOR_APPLICATION)
    application = db.session.scalar(
        select(Application).where(Application.client_id == vendor["client_id"])
    )
    choice = grants.scope_choice(application, None)
    grant = grants.approve(
        application, school, approver=trust_admin, choice=choice, optional_scopes=choice.optional
    )
    claimed = school_secrets.claim(grant, application, overlap_seconds=600)
    db.session.commit()
    refresh_statistics()
    db.session.commit()
    return {
        "school_id": school.id,
        "connector_id": connector.client_id,
        "connector_secret": connector_secret,
        "vendor_id": vendor["client_id"],
        "vendor_secret": vendor["client_secret"],
        "school_secret": claimed.value,
        "scope": VENDOR_SCOPES,
    }


# --- The driver --------------------------------------------------------------------------------


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _form(fields: dict[str, str]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


FORM = "application/x-www-form-urlencoded"


def vendor_token(send: Send, world: dict[str, Any]) -> str:
    """A school token of the vendor's application, by the school-secret grant."""
    from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE

    status, body = send(
        "POST",
        "/oauth/token",
        {"Authorization": _basic(world["vendor_id"], world["vendor_secret"]), "Content-Type": FORM},
        _form(
            {
                "grant_type": SCHOOL_SECRET_GRANT_TYPE,
                "school_id": str(world["school_id"]),
                "school_secret": world["school_secret"],
                "scope": world["scope"],
            }
        ),
    )
    if status != 200:
        raise RuntimeError(f"vendor token: {status} {body}")
    return body["access_token"]


@dataclass
class Timing:
    """One ingest, end to end: seconds sending, seconds applying, records."""

    records: int
    send_s: float
    apply_s: float
    state: str
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.send_s + self.apply_s

    @property
    def records_per_second(self) -> float:
        return self.records / self.total_s if self.total_s else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "send_s": round(self.send_s, 2),
            "apply_s": round(self.apply_s, 2),
            "total_s": round(self.total_s, 2),
            "records_per_second": round(self.records_per_second),
            "state": self.state,
        }


class Connector:
    """The school's MIS agent: a client-credentials token, then /connector/v1 calls, gzip."""

    def __init__(self, send: Send, world: dict[str, Any]) -> None:
        self.send = send
        status, body = send(
            "POST",
            "/oauth/token",
            {
                "Authorization": _basic(world["connector_id"], world["connector_secret"]),
                "Content-Type": FORM,
            },
            _form({"grant_type": "client_credentials"}),
        )
        if status != 200:
            raise RuntimeError(f"connector token: {status} {body}")
        self.bearer = f"Bearer {body['access_token']}"

    def call(
        self, method: str, path: str, body: Any = None, *, compress: bool = False
    ) -> tuple[int, Any]:
        """One request; batches of records go gzip-compressed, as docs/connector.md allows."""
        headers = {"Authorization": self.bearer}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
            if compress:
                data = gzip.compress(data, compresslevel=5)
                headers["Content-Encoding"] = "gzip"
        return self.send(method, f"/connector/v1/{path}", headers, data)

    def snapshot(
        self,
        snapshot_id: str,
        records: Records,
        *,
        batch_records: int = MAX_BATCH_RECORDS,
        while_applying: Callable[[], Any] | None = None,
    ) -> Timing:
        """Open, send every batch, commit, and wait until it has applied; `while_applying`
        starts just before the commit (the vendor's readers)."""
        started = time.perf_counter()
        entities = [e for e in SNAPSHOT_ENTITIES if records.get(e)]
        status, body = self.call("PUT", f"snapshots/{snapshot_id}", {"entities": entities})
        _expect(status, body, (200, 201), "open")
        for number, batch in enumerate(batches(records, batch_records)):
            status, body = self.call(
                "PUT", f"snapshots/{snapshot_id}/batches/{number}", batch, compress=True
            )
            _expect(status, body, (200, 201), f"batch {number}")
        sent = time.perf_counter()
        if while_applying is not None:
            while_applying()
        status, body = self.call(
            "POST", f"snapshots/{snapshot_id}/commit", {"allow_mass_deletion": True}
        )
        _expect(status, body, (200, 202), "commit")
        while body.get("state") not in ("succeeded", "failed"):
            time.sleep(0.2)
            status, body = self.call("GET", f"snapshots/{snapshot_id}")
            _expect(status, body, (200,), "status")
        done = time.perf_counter()
        if body["state"] != "succeeded":
            raise RuntimeError(f"snapshot {snapshot_id} failed: {body.get('summary')}")
        return Timing(count(records), sent - started, done - sent, body["state"], body["counts"])

    def changes(self, batch_id: str, change: Delta) -> Timing:
        """Send one batch of changes; it is applied before the answer comes."""
        started = time.perf_counter()
        status, body = self.call("PUT", f"changes/{batch_id}", change.body, compress=True)
        _expect(status, body, (200,), "changes")
        return Timing(
            change.size, 0.0, time.perf_counter() - started, body["state"], body["counts"]
        )


def _expect(status: int, body: Any, wanted: tuple[int, ...], what: str) -> None:
    if status not in wanted:
        raise RuntimeError(f"{what}: {status} {str(body)[:500]}")


@dataclass
class Latencies:
    """A reader's measured requests: latency in ms of each, and the failures."""

    ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.ms)

        def pct(p: float) -> float:
            return (
                round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 2) if ordered else 0.0
            )

        return {
            "requests": len(ordered),
            "errors": self.errors,
            "requests_per_second": round(len(ordered) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1], 2) if ordered else 0.0,
            "mean_ms": round(statistics.fmean(ordered), 2) if ordered else 0.0,
        }


class Readers:
    """A vendor reading the school's pupils on `connections` keep-alive connections, each
    request after the last, until stopped (a small concurrent client, as wrk would)."""

    def __init__(self, make_send: Callable[[], Send], token: str, connections: int) -> None:
        self.make_send, self.token, self.connections = make_send, token, connections
        self.stop = threading.Event()
        self.result = Latencies()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = 0.0

    def _read(self) -> None:
        send = self.make_send()
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.stop.is_set():
            began = time.perf_counter()
            try:
                status, _ = send("GET", VENDOR_PAGE, headers, None)
            except Exception:  # a refused or reset connection is a failed read, measured
                status = 0
            took = (time.perf_counter() - began) * 1000
            with self._lock:
                if status == 200:
                    self.result.ms.append(took)
                else:
                    self.result.errors += 1

    def start(self) -> None:
        self._started = time.perf_counter()
        for _ in range(self.connections):
            thread = threading.Thread(target=self._read, daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> Latencies:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self.result.seconds = time.perf_counter() - self._started
        return self.result

    def run_for(self, seconds: float) -> Latencies:
        self.start()
        time.sleep(seconds)
        return self.finish()


def measure(
    send: Send,
    make_send: Callable[[], Send],
    world: dict[str, Any],
    *,
    pupils: int = PUPILS,
    days: int = SCHOOL_DAYS,
    batch_records: int = MAX_BATCH_RECORDS,
    readers: int = 2,
    read_seconds: float = 8.0,
    log: Callable[[str], None] = lambda _message: None,
) -> dict[str, Any]:
    """The whole ingest bench against one server: the first full snapshot, the vendor's reads
    alone, the next night's snapshot (1% changed) with the vendor reading throughout its
    application, then a 1% delta as a batch of changes."""
    records = school_records(pupils, days)
    connector = Connector(send, world)
    log(f"first snapshot: {count(records):,} records")
    first = connector.snapshot("initial", records, batch_records=batch_records)
    log(f"  {first.total_s:.1f} s ({first.records_per_second:,.0f} records/s)")
    token = vendor_token(send, world)
    # The vendor's first read starts the grant's view ledger: once, before the timed reads.
    status, body = send("GET", VENDOR_PAGE, {"Authorization": f"Bearer {token}"}, None)
    _expect(status, body, (200,), "first read")
    alone = Readers(make_send, token, readers).run_for(read_seconds)
    log(f"reads alone: p99 {alone.summary()['p99_ms']} ms")
    nightly = delta(records, 1)
    during = Readers(make_send, token, readers)
    second = connector.snapshot(
        "nightly", nightly.after, batch_records=batch_records, while_applying=during.start
    )
    under_load = during.finish()
    log(
        f"next snapshot: {second.total_s:.1f} s; reads during its application: p99 "
        f"{under_load.summary()['p99_ms']} ms"
    )
    change = delta(nightly.after, 2)
    applied = connector.changes("delta-2", change)
    log(f"delta of {change.size:,} records: {applied.total_s:.2f} s")
    return {
        "pupils": pupils,
        "days": days,
        "batch_records": batch_records,
        "readers": readers,
        "snapshot": {**first.as_dict(), "counts": first.counts},
        "nightly_snapshot": {**second.as_dict(), "counts": second.counts},
        "delta": {**applied.as_dict(), "counts": applied.counts},
        "reads_alone": alone.summary(),
        "reads_during_apply": under_load.summary(),
    }


# --- The report --------------------------------------------------------------------------------

#: The issue's aims: seconds end to end, and the reads' p99 during an apply against alone.
SNAPSHOT_TARGET_S = 60.0
DELTA_TARGET_S = 2.0
READ_P99_TARGET_RATIO = 2.0


def targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each aim of one backend's run, measured, and whether it was met."""
    alone = result["reads_alone"]["p99_ms"]
    during = result["reads_during_apply"]["p99_ms"]
    ratio = during / alone if alone else float("inf")
    failed = result["reads_during_apply"]["errors"]
    return [
        {
            "measure": "snapshot: total_s",
            "aim": SNAPSHOT_TARGET_S,
            "measured": result["snapshot"]["total_s"],
            "met": result["snapshot"]["total_s"] < SNAPSHOT_TARGET_S,
        },
        {
            "measure": "delta: total_s",
            "aim": DELTA_TARGET_S,
            "measured": result["delta"]["total_s"],
            "met": result["delta"]["total_s"] < DELTA_TARGET_S,
        },
        {
            "measure": "reads: p99 during apply / alone",
            "aim": READ_P99_TARGET_RATIO,
            "measured": round(ratio, 2),
            "met": ratio <= READ_P99_TARGET_RATIO and not failed,
        },
    ]


def markdown(report: dict[str, Any]) -> str:
    """The ingest section's tables, as docs/performance.md shows them."""
    lines = [
        "| database | run | records | sent s | applied s | total s | records/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, result in report["backends"].items():
        for name, label in (
            ("snapshot", "first full snapshot"),
            ("nightly_snapshot", "next full snapshot (1% changed)"),
            ("delta", "1% delta (batch of changes)"),
        ):
            run = result[name]
            lines.append(
                f"| {backend} | {label} | {run['records']:,} | {run['send_s']} | "
                f"{run['apply_s']} | {run['total_s']} | {run['records_per_second']:,} |"
            )
    lines += [
        "",
        "| database | vendor reads | requests | errors | requests/s | p50 ms | p99 ms | max ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend, result in report["backends"].items():
        for name, label in (
            ("reads_alone", "alone"),
            ("reads_during_apply", "during the next snapshot's apply"),
        ):
            reads = result[name]
            lines.append(
                f"| {backend} | {label} | {reads['requests']:,} | {reads['errors']} | "
                f"{reads['requests_per_second']} | {reads['p50_ms']} | {reads['p99_ms']} | "
                f"{reads['max_ms']} |"
            )
    lines += [
        "",
        "| database | target | aim | measured | met |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for backend, result in report["backends"].items():
        for check in targets(result):
            met = "yes" if check["met"] else "**no**"
            lines.append(
                f"| {backend} | {check['measure']} | {check['aim']} | {check['measured']} | {met} |"
            )
    return "\n".join(lines) + "\n"
