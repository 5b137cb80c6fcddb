"""Concurrency and fault scenarios, sized by the caller: the tests run them short, `make soak`
runs them long. Each returns what it saw (every reply, and what is wrong); callers assert on it
or print it as a table."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from flask import Flask
from sqlalchemy import func, select

from authserver.domain import credentials
from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import PASSWORD, basic_auth, csrf_token

# A reply slower than this counts as a hang: the client gives up and records a timeout.
CLIENT_TIMEOUT_SECONDS = 5.0
REDIRECT_URI = "https://app.example.com/callback"
ALWAYS_SHARED = default_catalogue().always_shared


@dataclass
class Reply:
    """One HTTP exchange as the caller saw it."""

    status: int  # 0 when no answer came (timeout or refused connection)
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0
    failure: str | None = None  # "timeout" or "connection"
    kind: str = ""

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None

    @property
    def outcome(self) -> str:
        """The reply's class for the soak's table."""
        if self.failure:
            return self.failure
        if self.status == 503:
            return "503"
        if self.status >= 500:
            return "5xx"
        if self.status >= 400:
            return f"4xx {self.error or self.status}"
        return "2xx" if self.status < 300 else "3xx"


class Send(Protocol):
    """Send one request to a server and return the reply (never raises for HTTP trouble)."""

    def __call__(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply: ...


def live(base_url: str, session: requests.Session | None = None) -> Send:
    """Send to a live server with `requests`, giving up after CLIENT_TIMEOUT_SECONDS."""

    def send(
        method: str,
        path: str,
        *,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        started = time.monotonic()
        caller = session or requests
        try:
            answer = caller.request(
                method,
                base_url + path,
                data=data,
                headers=headers,
                timeout=CLIENT_TIMEOUT_SECONDS,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Reply(0, started=started, ended=time.monotonic(), failure="timeout")
        except requests.ConnectionError:
            return Reply(0, started=started, ended=time.monotonic(), failure="connection")
        try:
            body = answer.json()
        except ValueError:
            body = (
                {"html": answer.text} if "html" in answer.headers.get("Content-Type", "") else None
            )
        return Reply(answer.status_code, body, dict(answer.headers), started, time.monotonic())

    return send


def race(calls: list[Callable[[], Reply]]) -> list[Reply]:
    """Run every call at the same moment (threads released together); replies in call order."""
    barrier = threading.Barrier(len(calls))
    replies: list[Reply | None] = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index: int, call: Callable[[], Reply]) -> None:
        try:
            barrier.wait(timeout=30)
            replies[index] = call()
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if failures:
        raise failures[0]
    assert all(reply is not None for reply in replies), "a racing request never finished"
    return replies  # type: ignore[return-value]


@dataclass
class Round:
    """What one scenario round sent and what it found wrong (empty `problems` is a pass)."""

    name: str
    replies: list[Reply] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)


def _introspect(send: Send, token: str, resource_server: tuple[str, str]) -> dict[str, Any]:
    reply = send(
        "POST", "/oauth/introspect", data={"token": token}, headers=basic_auth(*resource_server)
    )
    assert reply.status == 200, (reply.status, reply.body)
    return reply.body or {}


def _token_call(send: Send, data: dict[str, str], client: tuple[str, str]) -> Callable[[], Reply]:
    return lambda: send("POST", "/oauth/token", data=data, headers=basic_auth(*client))


def _statuses(replies: Iterable[Reply]) -> Counter[str]:
    return Counter(r.outcome for r in replies)


# --- Single-use codes and rotating refresh tokens ------------------------------------------


def code_race(
    sends: list[Send],
    *,
    code: str,
    verifier: str,
    client: tuple[str, str],
    resource_server: tuple[str, str],
    n: int = 20,
) -> Round:
    """`n` concurrent redemptions of one authorization code, spread over `sends`: exactly one
    may win, the rest get invalid_grant, and the winner's tokens are revoked as a replay."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    calls = [_token_call(sends[i % len(sends)], data, client) for i in range(n)]
    result = Round("code redeemed 20 times at once", race(calls))
    winners = [r for r in result.replies if r.status == 200]
    losers = [r for r in result.replies if r.status != 200]
    if len(winners) != 1:
        result.problems.append(f"{len(winners)} redemptions succeeded: {_statuses(result.replies)}")
    if any(r.status != 400 or r.error != "invalid_grant" for r in losers):
        result.problems.append(f"a loser was not 400 invalid_grant: {_statuses(losers)}")
    for winner in winners:
        for name in ("access_token", "refresh_token"):
            info = _introspect(sends[0], winner.body[name], resource_server)
            if info != {"active": False}:
                result.problems.append(f"the winner's {name} survived the replay: {info}")
    return result


def refresh_race(
    sends: list[Send],
    *,
    tokens: dict[str, Any],
    client: tuple[str, str],
    resource_server: tuple[str, str],
    n: int = 20,
) -> Round:
    """`n` concurrent uses of one refresh token: at most one may succeed, the rest get
    invalid_grant, and afterwards the whole family is revoked."""
    data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    calls = [_token_call(sends[i % len(sends)], data, client) for i in range(n)]
    result = Round("refresh token used 20 times at once", race(calls))
    winners = [r for r in result.replies if r.status == 200]
    losers = [r for r in result.replies if r.status != 200]
    if len(winners) > 1:
        result.problems.append(f"{len(winners)} refreshes succeeded: {_statuses(result.replies)}")
    if any(r.status != 400 or r.error != "invalid_grant" for r in losers):
        result.problems.append(f"a loser was not 400 invalid_grant: {_statuses(losers)}")
    family = [tokens["access_token"], tokens["refresh_token"]]
    for winner in winners:
        family += [winner.body["access_token"], winner.body["refresh_token"]]
    for token in family:
        info = _introspect(sends[0], token, resource_server)
        if info != {"active": False}:
            result.problems.append(f"a token of the family is still active: {info}")
    return result


# --- A scope change approved while the vendor claims secrets and asks for tokens -----------


@dataclass
class ScopeChange:
    """An approved connection at version 1 whose application now asks for more."""

    application_id: int
    client: tuple[str, str]
    school_id: int
    school_urn: str
    request_id: int
    admin_email: str
    first_secret: str


_race_urns = itertools.count(900000)


def prepare_scope_change(app: Flask, *, label: str) -> ScopeChange:
    """Through the domain: a school approves v1 (StudentLite, Attendance), the vendor claims a
    secret, then the application requires Contact too, which opens a request at the school."""
    from authserver.domain import grants, school_secrets
    from authserver.domain.applications import (
        register_application,
        scope_requests_from,
        update_application,
    )
    from authserver.models import Role, RoleAssignment, School, User, Vendor

    with app.app_context():
        vendor = Vendor(name=f"Race Vendor {label}")
        school = School(urn=str(next(_race_urns)), name=f"Race School {label}")
        admin = User(email=f"race-admin-{label}@example.org", name="Race Admin")
        admin.set_password(PASSWORD, rounds=4)
        db.session.add_all([vendor, school, admin])
        db.session.flush()
        admin.roles.append(
            RoleAssignment(role=Role.SCHOOL_ADMIN, school_id=school.id, can_approve=True)
        )
        required = {"StudentLite": "Names.", "Attendance": "Registers."}
        application, client_secret = register_application(
            vendor,
            name=f"Race App {label}",
            redirect_uris=[REDIRECT_URI],
            scopes=scope_requests_from(required),
            privacy_policy_url="https://app.example.com/privacy",
        )
        grant = grants.approve(
            application,
            school,
            approver=admin,
            choice=grants.scope_choice(application, None, None),
        )
        claimed = school_secrets.claim(grant, application, overlap_seconds=600)
        update_application(
            application,
            name=application.name,
            redirect_uris=application.redirect_uris,
            privacy_policy_url=application.privacy_policy_url,
            scopes=scope_requests_from({**required, "Contact": "To phone parents."}),
        )
        request = grants.pending_request(application, school)
        assert request is not None
        assert request.required_scopes == ["Contact"]
        db.session.commit()
        return ScopeChange(
            application.id,
            (application.client_id, client_secret),
            school.id,
            school.urn,
            request.id,
            admin.email,
            claimed.value,
        )


def sign_in_live(send: Send, email: str) -> None:
    """Sign in through the form, over `send` (which must keep cookies)."""
    page = send("GET", "/sign-in")
    reply = send(
        "POST",
        "/sign-in",
        data={"csrf_token": csrf_token(page.body["html"]), "email": email, "password": PASSWORD},
    )
    assert reply.status == 302, (reply.status, reply.body)


def approval_form(send: Send, urn: str, request_id: int) -> dict[str, str] | None:
    """The filled-in approval of a pending request, read from its consent page (None if the
    page did not load)."""
    page = send("GET", f"/schools/{urn}/requests/{request_id}")
    if page.status != 200:
        return None
    return {"csrf_token": csrf_token(page.body["html"]), "school": urn, "approve": "1"}


def approval_acknowledged(reply: Reply, urn: str) -> bool:
    """Whether the consent form's answer says the approval was kept (back to the dashboard)."""
    return reply.status == 302 and reply.headers.get("Location", "").endswith(f"/schools/{urn}")


def vendor_bearer(send: Send, client: tuple[str, str]) -> dict[str, str]:
    """The application's own token for the management API."""
    reply = send(
        "POST",
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(*client),
    )
    assert reply.status == 200, (reply.status, reply.body)
    return {"Authorization": "Bearer " + reply.body["access_token"]}


def school_token(send: Send, client: tuple[str, str], school_id: int, secret: str) -> Reply:
    """Turn a school secret into a token (the extension grant)."""
    return send(
        "POST",
        "/oauth/token",
        headers=basic_auth(*client),
        data={
            "grant_type": SCHOOL_SECRET_GRANT_TYPE,
            "school_id": str(school_id),
            "school_secret": secret,
        },
    )


def scope_change_race(
    app: Flask,
    change: ScopeChange,
    *,
    admin_sends: list[Send],
    vendor_sends: list[Send],
    rounds: int = 3,
) -> Round:
    """The school approves (each admin send submits the same form: a double click) while the
    vendor claims secrets and asks for tokens with new and old secrets, all at once."""
    for send in admin_sends:
        sign_in_live(send, change.admin_email)
    forms = [approval_form(send, change.school_urn, change.request_id) for send in admin_sends]
    assert all(forms), "the consent page of the request did not load"
    bearer = vendor_bearer(vendor_sends[0], change.client)
    path = f"/schools/{change.school_urn}/requests/{change.request_id}"

    def approve(send: Send, form: dict[str, str]) -> Callable[[], Reply]:
        return lambda: send("POST", path, data=form)

    def claim_and_use(send: Send) -> Callable[[], Reply]:
        def run() -> Reply:
            last = Reply(0)
            for _ in range(rounds):
                claimed = send(
                    "POST", f"/api/v1/connections/{change.school_id}/secret", headers=bearer
                )
                claimed.kind = "claim"
                replies.append(claimed)
                if claimed.status == 201:
                    last = school_token(
                        send, change.client, change.school_id, claimed.body["school_secret"]
                    )
                    last.kind = "token"
                    replies.append(last)
            return last

        return run

    def use_old_secret(send: Send) -> Callable[[], Reply]:
        def run() -> Reply:
            last = Reply(0)
            for _ in range(rounds):
                last = school_token(send, change.client, change.school_id, change.first_secret)
                last.kind = "token"
                replies.append(last)
            return last

        return run

    replies: list[Reply] = []
    calls = [approve(s, f) for s, f in zip(admin_sends, forms, strict=True)]
    # Half the vendor's senders claim and use new secrets, half go on with the first one.
    calls += [claim_and_use(s) for s in vendor_sends[::2]]
    calls += [use_old_secret(s) for s in vendor_sends[1::2]]
    approvals = race(calls)[: len(admin_sends)]
    result = Round("scope change approved while the vendor claims and asks", replies + approvals)
    for reply in approvals:
        reply.kind = "approval"
    if not any(approval_acknowledged(r, change.school_urn) for r in approvals):
        result.problems.append(f"no approval was acknowledged: {_statuses(approvals)}")
    result.problems += scope_change_problems(app, change, replies)
    return result


def scope_change_problems(app: Flask, change: ScopeChange, replies: list[Reply]) -> list[str]:
    """The end state after a scope change race: one grant at version 2 with each version
    approved once, at most one live secret per version, no secret or token beyond what the
    school approved at its version, and every reply consistent with that."""
    from authserver.models import AccessRequest, AuditEvent, Grant, SchoolSecret, Token

    problems: list[str] = []
    for reply in replies:
        if reply.failure or reply.status >= 500:
            problems.append(f"a {reply.kind} got {reply.outcome}")
    with app.app_context():
        grants = db.session.scalars(
            select(Grant).where(
                Grant.application_id == change.application_id, Grant.school_id == change.school_id
            )
        ).all()
        if len(grants) != 1 or grants[0].version != 2:
            problems.append(
                f"expected one grant at version 2: {[(g.id, g.version) for g in grants]}"
            )
        decisions = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.application_id == change.application_id,
                AuditEvent.school_id == change.school_id,
                AuditEvent.action.in_(["grant:approved", "grant:scopes_changed"]),
            )
        ).all()
        versions = Counter(event.detail["version"] for event in decisions)
        if versions != Counter({1: 1, 2: 1}):
            problems.append(f"each version must be decided once: {dict(versions)}")
        approved = {event.detail["version"]: set(event.detail["scopes"]) for event in decisions}
        request = db.session.get(AccessRequest, change.request_id)
        if str(request.status) != "approved" or request.grant_version != 2:
            problems.append(f"the request is {request.status} at {request.grant_version}")
        secrets = db.session.scalars(
            select(SchoolSecret).where(SchoolSecret.application_id == change.application_id)
        ).all()
        live = Counter(
            s.grant_version for s in secrets if s.superseded_at is None and s.revoked_at is None
        )
        if any(count > 1 for count in live.values()):
            problems.append(f"more than one live secret for a version: {dict(live)}")
        for secret in secrets:
            if set(secret.scopes) != approved.get(secret.grant_version):
                problems.append(f"secret {secret.id} v{secret.grant_version}: {secret.scopes}")
        for token in db.session.scalars(
            select(Token).where(
                Token.application_id == change.application_id, Token.school_id.is_not(None)
            )
        ):
            allowed = approved.get(token.grant_version, set()) | ALWAYS_SHARED
            if not set(token.scopes) <= allowed:
                problems.append(f"token {token.id} v{token.grant_version} has {token.scope}")
    for reply in replies:
        if reply.status not in (200, 201):
            continue
        version = reply.body["grant_version"]
        if not set(reply.body["scope"].split()) <= approved.get(version, set()) | ALWAYS_SHARED:
            problems.append(f"a {reply.kind} at v{version} gave {reply.body['scope']}")
    return problems


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

    from authserver.domain import grants, school_secrets
    from authserver.domain.applications import (
        register_application,
        register_resource_server,
        scope_requests_from,
    )
    from authserver.models import Role, RoleAssignment, School, Trust, User, Vendor

    with app.app_context():
        upgrade()
        trust = Trust(name="Soak Trust")
        schools = [
            School(urn=f"{500000 + n}", name=f"Soak School {n}", trust=trust)
            for n in range(waiting_schools + 1)
        ]
        admin = User(email="trust-admin@example.org", name="Trust Admin")
        admin.set_password(PASSWORD, rounds=4)
        vendor = Vendor(name="Soak Vendor")
        db.session.add_all([trust, *schools, admin, vendor])
        db.session.flush()
        admin.roles.append(
            RoleAssignment(role=Role.TRUST_ADMIN, trust_id=trust.id, can_approve=True)
        )
        application, client_secret = register_application(
            vendor,
            name="Soak App",
            redirect_uris=[REDIRECT_URI],
            scopes=scope_requests_from({"StudentLite": "Names.", "Attendance": "Registers."}),
            privacy_policy_url="https://app.example.com/privacy",
        )
        server, server_secret = register_resource_server("Soak resource server")
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
