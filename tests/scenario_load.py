"""The fault scenario: PostgreSQL restarted under load. Seeds the world, runs the load, judges
every reply and looks for lost or half-written data; `table` prints any scenario's rounds."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask
from sqlalchemy import func, select

from authserver.domain import credentials
from authserver.extensions import db
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import PASSWORD, basic_auth, csrf_token
from tests.scenario_client import (
    CLIENT_TIMEOUT_SECONDS,
    REDIRECT_URI,
    Reply,
    Round,
    Send,
    approval_acknowledged,
    live,
    school_token,
    sign_in_live,
    vendor_bearer,
)

# --- PostgreSQL restarted under load ---------------------------------------------------------


@dataclass
class World:
    """What the fault scenario seeds: one connected school, many waiting for a decision."""

    client: tuple[str, str]
    resource_server: tuple[str, str]
    admin_email: str
    school_id: int
    school_secret: str
    waiting: list[tuple[int, str, int]]  # (school id, URN, request id)


def seed_world(app: Flask, *, waiting_schools: int) -> World:
    """Migrate an empty database and seed it through the domain functions."""
    from flask_migrate import upgrade

    from authserver.domain import grants, resource_servers, school_secrets, vendors
    from authserver.domain.applications import register_application, scope_requests_from
    from authserver.models import Role, RoleAssignment, School, Trust, User
    from tests.authenticator import enrol
    from tests.conftest import make_vendor_row
    from tests.live_processes import LIVE_SECRET_KEY

    with app.app_context():
        upgrade()
        trust = Trust(name="Soak Trust")
        schools = [
            School(urn=f"{500000 + n}", name=f"Soak School {n}", trust=trust)
            for n in range(waiting_schools + 1)
        ]
        admin = User(email="trust-admin@example.org", name="Trust Admin")
        admin.set_password(PASSWORD, rounds=4)
        vendor = make_vendor_row("Soak Vendor")
        vendors.verify(vendor, by="operator (test)")
        db.session.add_all([trust, *schools, admin])
        db.session.flush()
        admin.roles.append(
            RoleAssignment(
                role=Role.TRUST_ADMIN, trust_id=trust.id, can_approve=True, can_manage=True
            )
        )
        server, server_secret = resource_servers.register(
            "Soak resource server",
            "https://rs.soak.example.net/api",
            actor="soak",
            issuer=app.config["SETTINGS"].issuer,
            allow_loopback_http=False,
        )
        # The live servers' key (tests/live_processes.py), which seals the secret.
        enrol(admin, LIVE_SECRET_KEY)
        application, client_secret = register_application(
            vendor,
            resource_servers=[server.client_id],
            name="Soak App",
            redirect_uris=[REDIRECT_URI],
            scopes=scope_requests_from({"StudentLite": "Names.", "Attendance": "Registers."}),
            privacy_policy_url="https://app.example.com/privacy",
        )
        grant = grants.approve(
            application,
            schools[0],
            approver=admin,
            choice=grants.scope_choice(application, None, None),
        )
        claimed = school_secrets.claim(grant, application, overlap_seconds=600)
        waiting = []
        for school in schools[1:]:
            request, _ = grants.request_access(application, school, actor=application)
            waiting.append((school, request))
        db.session.commit()
        return World(
            (application.client_id, client_secret),
            (server.client_id, server_secret),
            admin.email,
            schools[0].id,
            claimed.value,
            [(school.id, school.urn, request.id) for school, request in waiting],
        )


@dataclass
class Outage:
    """When the database was stopping, down, and starting (monotonic clock): a reply inside
    [down_from, down_until] must be a 503; one near either edge may be either."""

    stopping_from: float
    down_from: float
    down_until: float


KINDS = ("token", "introspect", "api", "approval")
EXPECTED = {
    "token": {200},
    "introspect": {200},
    "api": {200},
    "approval page": {200},
    "approval": {302},
    "claim": {201},
}


@dataclass
class LoadRecord:
    """Everything the load sent, and the writes the server acknowledged."""

    replies: list[Reply] = field(default_factory=list)
    approved: set[int] = field(default_factory=set)  # school ids acknowledged
    claimed: list[str] = field(default_factory=list)  # secret values acknowledged
    issued: list[str] = field(default_factory=list)  # access tokens acknowledged
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, reply: Reply, kind: str) -> Reply:
        reply.kind = kind
        with self.changed:
            self.replies.append(reply)
            self.changed.notify_all()
        return reply

    def count(self, *, since: float, status: int | None = None, kind: str | None = None) -> int:
        """Replies to requests sent after `since`: successes (or of one status, or one kind)."""
        with self.changed:
            return sum(
                1
                for r in self.replies
                if r.started >= since
                and (kind is None or r.kind == kind)
                and (r.status == status if status is not None else r.status in EXPECTED[r.kind])
            )

    def wait_until(self, condition: Callable[[], bool], *, timeout: float) -> bool:
        """Wait (bounded) until `condition` holds, re-checking on every reply."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True


def run_load(
    world: World, base_urls: list[str], stop: threading.Event, record: LoadRecord
) -> list[threading.Thread]:
    """Start the load, spread over the servers: token requests, introspections and API reads
    in a loop each, and a school admin approving one waiting request after another (then the
    vendor claiming that school's secret)."""
    client, rs = world.client, world.resource_server
    admin = live(base_urls[0], requests.Session())
    first = school_token(admin, client, world.school_id, world.school_secret)
    assert first.status == 200, (first.status, first.body)
    token = first.body["access_token"]
    sign_in_live(admin, world.admin_email)
    bearer = vendor_bearer(admin, client)
    waiting = list(world.waiting)

    def ask_for_token(send: Send) -> None:
        reply = school_token(send, client, world.school_id, world.school_secret)
        if record.add(reply, "token").status == 200:
            with record.changed:
                record.issued.append(reply.body["access_token"])

    def introspect(send: Send) -> None:
        reply = send("POST", "/oauth/introspect", data={"token": token}, headers=basic_auth(*rs))
        record.add(reply, "introspect")

    def read_api(send: Send) -> None:
        reply = send("GET", "/api/v1/school", headers={"Authorization": f"Bearer {token}"})
        record.add(reply, "api")

    def approve_next(send: Send) -> None:
        if not waiting:
            stop.wait()  # nothing left to approve: idle until the load stops
            return
        school_id, urn, request_id = waiting.pop(0)
        path = f"/schools/{urn}/requests/{request_id}"
        page = record.add(send("GET", path), "approval page")
        if page.status != 200:
            return  # never posted: it must stay undecided
        form = {"csrf_token": csrf_token(page.body["html"]), "school": urn, "approve": "1"}
        decided = record.add(send("POST", path, data=form), "approval")
        if not approval_acknowledged(decided, urn):
            return
        with record.changed:
            record.approved.add(school_id)
        claim_path = f"/api/v1/connections/{school_id}/secret"
        claimed = record.add(send("POST", claim_path, headers=bearer), "claim")
        if claimed.status == 201:
            with record.changed:
                record.claimed.append(claimed.body["school_secret"])

    def loop(send: Send, step: Callable[[Send], None]) -> Callable[[], None]:
        def run() -> None:
            while not stop.is_set():
                step(send)

        return run

    steps = [ask_for_token, introspect, read_api] * len(base_urls)
    threads = [
        threading.Thread(
            target=loop(live(base_urls[i % len(base_urls)], requests.Session()), step),
            daemon=True,
        )
        for i, step in enumerate(steps)
    ]
    threads.append(threading.Thread(target=loop(admin, approve_next), daemon=True))
    for thread in threads:
        thread.start()
    return threads


def judge_load(record: LoadRecord, outages: list[Outage], *, grace_seconds: float = 1.0) -> Round:
    """Every reply inside an outage is 503 with Retry-After; no other 5xx and no timeout ever;
    outside the outages (after a short grace) every reply is a success."""
    result = Round("PostgreSQL restarted under load", list(record.replies))
    for reply in record.replies:
        if reply.failure:
            took = reply.ended - reply.started
            result.problems.append(f"{reply.kind}: {reply.failure} after {took:.1f} s")
            continue
        if reply.status >= 500 and reply.status != 503:
            result.problems.append(f"{reply.kind}: {reply.status}")
        if reply.status == 503 and "Retry-After" not in reply.headers:
            result.problems.append(f"{reply.kind}: 503 without Retry-After")
        inside = any(o.down_from <= reply.started and reply.ended <= o.down_until for o in outages)
        near = any(
            reply.ended >= o.stopping_from and reply.started <= o.down_until + grace_seconds
            for o in outages
        )
        if inside and reply.status != 503:
            result.problems.append(f"{reply.kind}: {reply.status} while the database was down")
        if not near and reply.status not in EXPECTED[reply.kind]:
            result.problems.append(f"{reply.kind}: {reply.outcome} while the database was up")
    return result


def lost_writes(app: Flask, world: World, record: LoadRecord) -> tuple[list[str], list[str]]:
    """(lost, half_written): acknowledged writes missing afterwards, and writes present only in
    part (a grant without its audit event or decided request, a secret or token without its
    audit event, an unacknowledged approval that left some of itself behind but not all)."""
    from authserver.models import AccessRequest, AuditEvent, Grant, SchoolSecret, Token

    lost: list[str] = []
    half: list[str] = []
    with app.app_context():
        for school_id, _urn, request_id in world.waiting:
            grant = db.session.scalar(select(Grant).where(Grant.school_id == school_id))
            request = db.session.get(AccessRequest, request_id)
            events = db.session.scalar(
                select(func.count()).where(
                    AuditEvent.school_id == school_id, AuditEvent.action == "grant:approved"
                )
            )
            parts = (grant is not None, str(request.status) == "approved", events == 1)
            if school_id in record.approved and not all(parts):
                lost.append(f"acknowledged approval at school {school_id}: {parts}")
            elif school_id not in record.approved and any(parts) and not all(parts):
                # Unacknowledged may still be whole: when the database goes away between
                # committing and answering COMMIT, the write stands but the server cannot know
                # it, and says 503. What must never be is a part of one.
                half.append(f"unacknowledged approval at school {school_id} left {parts}")
        stored_secrets = set(db.session.scalars(select(SchoolSecret.secret_digest)))
        lost += [
            "an acknowledged school secret"
            for value in record.claimed
            if credentials.digest(value) not in stored_secrets
        ]
        stored_tokens = set(db.session.scalars(select(Token.access_token_digest)))
        lost += [
            "an acknowledged token"
            for value in record.issued
            if credentials.digest(value) not in stored_tokens
        ]
        secret_events = db.session.scalar(
            select(func.count()).where(
                AuditEvent.action.in_(["school_secret:claimed", "school_secret:rotated"])
            )
        )
        if len(stored_secrets) != secret_events:
            half.append(f"{len(stored_secrets)} school secrets, {secret_events} audit events")
        school_tokens = db.session.scalar(
            select(func.count()).where(Token.grant_type == SCHOOL_SECRET_GRANT_TYPE)
        )
        token_events = db.session.scalar(
            select(func.count()).where(AuditEvent.action == "token:issued")
        )
        if school_tokens != token_events:
            half.append(f"{school_tokens} school tokens, {token_events} audit events")
    return lost, half


def restart_under_load(
    app: Flask,
    database: Any,
    world: World,
    base_urls: list[str],
    *,
    restarts: int = 1,
    replies_per_phase: int = 40,
    phase_timeout_seconds: float = 30.0,
) -> tuple[Round, list[float | None]]:
    """Load the servers; `restarts` times: stop PostgreSQL (fast) once the load has had
    `replies_per_phase` successes, start it again once as many requests met the outage, and
    wait until every kind of request succeeds again. Then judge every reply and look for lost
    or half-written data. Returns the round and each restart's recovery time in seconds."""
    stop = threading.Event()
    record = LoadRecord()
    threads = run_load(world, base_urls, stop, record)
    outages: list[Outage] = []
    recoveries: list[float | None] = []
    problems: list[str] = []
    began = time.monotonic()
    try:
        for _ in range(restarts):
            if not record.wait_until(
                lambda since=began: record.count(since=since) >= replies_per_phase,
                timeout=phase_timeout_seconds,
            ):
                problems.append("the load made too little progress with the database up")
            stopping_from = time.monotonic()
            database.stop("fast")
            down_from = time.monotonic()
            if not record.wait_until(
                lambda since=down_from: record.count(since=since, status=503) >= replies_per_phase,
                timeout=phase_timeout_seconds,
            ):
                problems.append("too few requests met the outage")
            down_until = time.monotonic()
            database.start()
            outages.append(Outage(stopping_from, down_from, down_until))
            back = time.monotonic()
            recovered = record.wait_until(
                lambda since=back: all(record.count(since=since, kind=k) for k in KINDS),
                timeout=phase_timeout_seconds,
            )
            recoveries.append(time.monotonic() - back if recovered else None)
            if not recovered:
                problems.append("the servers did not recover without a restart")
            began = time.monotonic()
        if not record.wait_until(
            lambda: record.count(since=began) >= replies_per_phase, timeout=phase_timeout_seconds
        ):
            problems.append("the load made too little progress after the last restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_SECONDS * 3)
    result = judge_load(record, outages)
    result.problems = problems + result.problems
    lost, half = lost_writes(app, world, record)
    result.lost += lost
    result.problems += half
    return result, recoveries


def table(rounds: Iterable[Round]) -> str:
    """The soak's report: one line per scenario."""
    header = ("scenario", "requests", "2xx/3xx", "4xx", "503", "5xx", "timeouts", "problems")
    rows = [(*header, "data lost")]
    for r in rounds:
        outcomes = Counter(reply.outcome for reply in r.replies)
        fourxx = ", ".join(
            f"{k[4:]}:{v}" for k, v in sorted(outcomes.items()) if k.startswith("4xx")
        )
        rows.append(
            (
                r.name,
                str(len(r.replies)),
                str(outcomes["2xx"] + outcomes["3xx"]),
                fourxx or "0",
                str(outcomes["503"]),
                str(outcomes["5xx"]),
                str(outcomes["timeout"] + outcomes["connection"]),
                str(len(r.problems)),
                str(len(r.lost)),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
