"""Concurrency on PostgreSQL: single-use codes, rotating refresh tokens and a scope change hold
under simultaneous requests, in one process and across two gunicorn servers; a token or secret
issued as the school narrows never outlives the narrowing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from authserver.extensions import db
from tests.consent.change_pages import submitted
from tests.live_processes import LiveServer, running, wait_for
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token
from tests.scenario_client import (
    REDIRECT_URI,
    Reply,
    Send,
    approval_acknowledged,
    approval_form,
    live,
    race,
    school_token,
    sign_in_live,
    vendor_bearer,
)
from tests.scenario_races import (
    ALWAYS_SHARED,
    code_race,
    prepare_scope_change,
    refresh_race,
    scope_change_race,
)

pytestmark = [pytest.mark.postgresql_only, pytest.mark.live]

Senders = Callable[[int], list[Send]]


def in_process(app: Flask) -> Send:
    """Send through a test client of its own (so each thread keeps its own cookies)."""
    client = app.test_client()

    def send(
        method: str, path: str, *, data: dict | None = None, headers: dict | None = None
    ) -> Reply:
        started = time.monotonic()
        response = client.open(path, method=method, data=data, headers=headers)
        body = response.get_json(silent=True)
        if body is None and response.mimetype == "text/html":
            body = {"html": response.get_data(as_text=True)}
        return Reply(response.status_code, body, dict(response.headers), started, time.monotonic())

    return send


@pytest.fixture(scope="module")
def two_servers(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list]:
    """Two gunicorn servers (two workers each) on their own ports, sharing the test database,
    as production runs several behind a load balancer."""
    instance = tmp_path_factory.mktemp("live")
    first = LiveServer(database_url, instance_path=instance)
    second = LiveServer(database_url, issuer=first.url, instance_path=instance)
    with running(first, second):
        yield [first, second]
        for server in (first, second):
            assert server.is_running()
            assert "Traceback" not in server.log()


@pytest.fixture(params=["one process", "two gunicorn servers"])
def senders(request: pytest.FixtureRequest, app: Flask) -> Senders:
    """`senders(n)`: n ways to send requests, each its own client, spread over the servers."""
    if request.param == "one process":
        return lambda n: [in_process(app) for _ in range(n)]
    servers = request.getfixturevalue("two_servers")
    return lambda n: [live(servers[i % len(servers)].url, requests.Session()) for i in range(n)]


@pytest.fixture
def resource_server_credentials(resource_server) -> tuple[str, str]:
    server, secret = resource_server
    return server.client_id, secret


def test_one_code_redeemed_twenty_times_at_once_wins_once_and_its_tokens_die(
    app, flow, senders, resource_server_credentials
) -> None:
    from authserver.models import AuditEvent

    result = code_race(
        senders(20),
        code=flow.code(),
        verifier=flow.verifier,
        client=(flow.client_id, flow.client_secret),
        resource_server=resource_server_credentials,
    )
    assert Counter((r.status, r.error) for r in result.replies) == {
        (200, None): 1,
        (400, "invalid_grant"): 19,
    }
    assert result.problems == []
    with app.app_context():
        replays = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "code:replayed")
        ).all()
    assert replays  # RFC 6749 §4.1.2: the replay revoked what the code gave
    assert sum(event.detail["tokens_revoked"] for event in replays) >= 1


def test_one_refresh_token_used_twenty_times_at_once_wins_at_most_once_and_the_family_dies(
    app, flow, senders, resource_server_credentials
) -> None:
    from authserver.models import Token

    tokens = flow.tokens()
    result = refresh_race(
        senders(20),
        tokens=tokens,
        client=(flow.client_id, flow.client_secret),
        resource_server=resource_server_credentials,
    )
    statuses = Counter((r.status, r.error) for r in result.replies)
    assert statuses[(200, None)] <= 1
    assert statuses[(200, None)] + statuses[(400, "invalid_grant")] == 20
    assert result.problems == []
    with app.app_context():
        family = db.session.scalars(select(Token).where(Token.user_id.is_not(None))).all()
    assert len(family) == 1 + statuses[(200, None)]
    assert all(token.revoked_at is not None for token in family)


def test_a_scope_change_approved_while_the_vendor_claims_and_asks_stays_consistent(
    app, senders
) -> None:
    change = prepare_scope_change(app, label="concurrency")
    admins, vendors = senders(2), senders(4)
    result = scope_change_race(app, change, admin_sends=admins, vendor_sends=vendors, rounds=3)
    assert result.problems == []
    kinds = Counter((r.kind, r.status) for r in result.replies)
    assert kinds[("claim", 201)] == 6
    assert kinds[("token", 200)] == 12  # the old secret works on, within its overlap
    # The double click: one click approves; the other lands on the dashboard or is told that
    # the request has already been answered.
    approvals = [r for r in result.replies if r.kind == "approval"]
    assert sorted(r.status for r in approvals) in ([302, 302], [302, 400])
    assert all("already been answered" in r.body["html"] for r in approvals if r.status == 400)


# --- A narrowing racing the token endpoint and claims, the interleaving chosen ---------------
#
# Each test below stops one request inside the server at a chosen point (holding its
# transaction open), runs the other until it finishes or waits on the first's locks, then lets
# the first go on: the interleaving that would let a token or secret outlive the school's
# narrowing happens every time, rather than once in many rounds.


@dataclass
class Hold:
    """Where the server stops the first request that gets there, until `release` is set."""

    point: str  # the start of an SQL statement, or "COMMIT"
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    backend_pid: int = 0  # the PostgreSQL backend of the held transaction


@contextmanager
def holding(app: Flask, point: str) -> Iterator[Hold]:
    """Stop the first request that reaches `point` (one request only), on the app's engine."""
    hold = Hold(point)
    once = threading.Lock()

    def stop(connection: sa.Connection) -> None:
        if not once.acquire(blocking=False):
            return
        hold.backend_pid = connection.connection.dbapi_connection.info.backend_pid
        hold.reached.set()
        hold.release.wait(timeout=30)

    def before_statement(connection: sa.Connection, _cursor, statement: str, *_: object) -> None:
        if statement.startswith(point):
            stop(connection)

    def before_commit(connection: sa.Connection) -> None:
        if point == "COMMIT":
            stop(connection)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", before_statement)
    sa.event.listen(engine, "commit", before_commit)
    try:
        yield hold
    finally:
        hold.release.set()
        sa.event.remove(engine, "before_cursor_execute", before_statement)
        sa.event.remove(engine, "commit", before_commit)


@pytest.fixture
def waits_on(database_url: str) -> Iterator[Callable[[int], bool]]:
    """`waits_on(pid)`: whether any transaction is waiting for a lock the backend `pid` holds."""
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    observer = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    blocked = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"
    )
    yield lambda pid: bool(observer.scalar(blocked, {"pid": pid}))
    observer.close()
    engine.dispose()


def interleave(
    app: Flask,
    waits_on: Callable[[int], bool],
    *,
    first: Callable[[], Reply],
    held_at: str,
    then: Callable[[], Reply],
) -> tuple[Reply, Reply]:
    """Run `first` until the server holds it at `held_at`; run `then` until it is answered or
    waits on the held transaction's locks; release `first`. Returns both replies."""
    replies: dict[str, Reply] = {}
    failures: list[BaseException] = []

    def run(name: str, call: Callable[[], Reply]) -> threading.Thread:
        def target() -> None:
            try:
                replies[name] = call()
            except BaseException as error:
                failures.append(error)

        thread = threading.Thread(target=target)
        thread.start()
        return thread

    with holding(app, held_at) as hold:
        first_thread = run("first", first)
        wait_for(
            lambda: hold.reached.is_set() or not first_thread.is_alive(),
            timeout=10,
            what=f"the first request to reach {held_at}",
        )
        assert hold.reached.is_set(), f"the first request never reached {held_at}: {replies}"
        then_thread = run("then", then)
        wait_for(
            lambda: not then_thread.is_alive() or waits_on(hold.backend_pid),
            timeout=10,
            what="the second request to finish or wait on the first",
        )
        hold.release.set()
        first_thread.join(timeout=30)
        then_thread.join(timeout=30)
    if failures:
        raise failures[0]
    assert set(replies) == {"first", "then"}, "a request never finished"
    return replies["first"], replies["then"]


@dataclass
class Connection:
    """An application connected to a school: a code flow's tokens and a claimed school secret,
    with a narrowing and the vendor's requests ready to send."""

    app: Flask
    client: tuple[str, str]
    school_id: int
    urn: str
    grant_id: int
    admin_email: str
    tokens: dict[str, Any]
    school_secret: str
    year_7: int
    bearer: dict[str, str]
    flow: OAuthFlow

    def narrowing(self, kind: str, admin: Send | None = None) -> Callable[[], Reply]:
        """The school admin's narrowing, its form loaded: the grant revoked from the dashboard,
        a request approved for Year 7 only (the grant was for the whole school), or the
        connection changed to Year 7 in place."""
        admin = admin or in_process(self.app)
        sign_in_live(admin, self.admin_email)
        if kind == "revoke":
            page = admin("GET", f"/schools/{self.urn}")
            path = f"/schools/{self.urn}/connections/{self.grant_id}/revoke"
            form = {"csrf_token": csrf_token(page.body["html"])}
        elif kind == "change page":
            # The same narrowing made in place from the dashboard, confirmed in one post.
            path = f"/schools/{self.urn}/connections/{self.grant_id}/change"
            page = admin("GET", path)
            form = submitted(
                page.body["html"],
                path,
                audience="some",
                group_ids=[str(self.year_7)],
                confirm="1",
            )
        else:
            asked = self.app.test_client().post(
                "/api/v1/access-requests", json={"school_urn": self.urn}, headers=self.bearer
            )
            assert asked.status_code == 201, asked.get_json()
            request_id = asked.get_json()["id"]
            path = f"/schools/{self.urn}/requests/{request_id}"
            form = approval_form(admin, self.urn, request_id)
            form.update(audience="some", group_ids=[str(self.year_7)])
        return lambda: admin("POST", path, data=form)

    def asking(self, kind: str, vendor: Send | None = None) -> Callable[[], Reply]:
        """The vendor's request: a token for the school secret, a refresh, a code (approved
        again, unchanged, by the school admin) exchanged, or a secret claim."""
        vendor = vendor or in_process(self.app)
        if kind == "code":
            data = {
                "grant_type": "authorization_code",
                "code": self.flow.code(),
                "redirect_uri": REDIRECT_URI,
                "code_verifier": self.flow.verifier,
            }
            return lambda: vendor(
                "POST", "/oauth/token", data=data, headers=basic_auth(*self.client)
            )
        if kind == "school secret":
            return lambda: school_token(vendor, self.client, self.school_id, self.school_secret)
        if kind == "refresh":
            data = {"grant_type": "refresh_token", "refresh_token": self.tokens["refresh_token"]}
            return lambda: vendor(
                "POST", "/oauth/token", data=data, headers=basic_auth(*self.client)
            )
        return lambda: vendor(
            "POST", f"/api/v1/connections/{self.school_id}/secret", headers=self.bearer
        )


@pytest.fixture
def connection(app, flow, school, school_admin) -> Connection:
    from authserver.models import Grant
    from authserver.models.mis.structure import Group

    tokens = flow.tokens()
    vendor = in_process(app)
    client = (flow.client_id, flow.client_secret)
    bearer = vendor_bearer(vendor, client)
    claimed = vendor("POST", f"/api/v1/connections/{school.id}/secret", headers=bearer)
    assert claimed.status == 201, claimed.body
    with app.app_context():
        year_7 = Group(school_id=school.id, type="year", name="Year 7", nc_year="7")
        db.session.add(year_7)
        db.session.commit()
        grant_id = db.session.scalar(select(Grant.id).where(Grant.school_id == school.id))
        return Connection(
            app,
            client,
            school.id,
            school.urn,
            grant_id,
            school_admin.email,
            tokens,
            claimed.body["school_secret"],
            year_7.id,
            bearer,
            flow,
        )


def beyond_the_grant(app: Flask, grant_id: int) -> list[str]:
    """The grant's live tokens and secrets that reach further than it allows now (anything
    live at all once it is revoked)."""
    from authserver.domain.grants import Restrictions, narrows
    from authserver.models import Grant, SchoolSecret, Token
    from authserver.models.columns import utcnow

    problems = []
    with app.app_context():
        grant = db.session.get(Grant, grant_id)
        now = utcnow()
        allowed = Restrictions.from_json(grant.restrictions)

        def wider(scopes: list[str], restrictions: dict) -> bool:
            kept = [s for s in scopes if s not in ALWAYS_SHARED]
            return not grant.is_in_force(now) or narrows(
                kept, Restrictions.from_json(restrictions), grant.scopes, allowed
            )

        for token in db.session.scalars(select(Token).where(Token.grant_id == grant_id)):
            live = token.revoked_at is None and (
                token.expires_at > now
                or (token.refresh_used_at is None and (token.refresh_expires_at or now) > now)
            )
            if live and wider(token.scopes, token.restrictions):
                problems.append(f"live token v{token.grant_version} {token.restrictions}")
        for secret in db.session.scalars(
            select(SchoolSecret).where(SchoolSecret.grant_id == grant_id)
        ):
            if not secret.has_ended(now) and wider(secret.scopes, secret.restrictions):
                problems.append(f"live secret v{secret.grant_version} {secret.restrictions}")
    return problems


NARROWINGS = ["revoke", "some pupils", "change page"]


def test_a_narrowing_raced_by_token_requests_and_a_refresh_leaves_nothing_wider(
    app, connection, senders
) -> None:
    admin, *vendors = senders(6)
    calls = [connection.narrowing("some pupils", admin), connection.asking("refresh", vendors[0])]
    calls += [connection.asking("school secret", vendor) for vendor in vendors[1:]]
    narrowed, *asked = race(calls)
    assert approval_acknowledged(narrowed, connection.urn), narrowed.status
    assert {(r.status, r.error) for r in asked} <= {(200, None), (400, "invalid_grant")}
    assert beyond_the_grant(app, connection.grant_id) == []


@pytest.mark.parametrize("narrowing", NARROWINGS)
@pytest.mark.parametrize("asking", ["school secret", "refresh", "code"])
def test_a_token_being_issued_as_the_school_narrows_stops_with_the_rest(
    app, connection, waits_on, resource_server_credentials, asking, narrowing
) -> None:
    # The vendor's request has read the secret, refresh token or code and is about to store
    # its new token when the school narrows: the narrowing must stop that token too.
    asked, narrowed = interleave(
        app,
        waits_on,
        first=connection.asking(asking),
        held_at="INSERT INTO tokens",
        then=connection.narrowing(narrowing),
    )
    assert asked.status == 200, asked.body
    assert approval_acknowledged(narrowed, connection.urn), narrowed.status
    send = in_process(app)
    for name in ("access_token", "refresh_token"):
        if name in asked.body:
            reply = send(
                "POST",
                "/oauth/introspect",
                data={"token": asked.body[name]},
                headers=basic_auth(*resource_server_credentials),
            )
            assert reply.body == {"active": False}
    assert beyond_the_grant(app, connection.grant_id) == []


@pytest.mark.parametrize("narrowing", NARROWINGS)
def test_a_school_secret_used_as_a_narrowing_commits_gives_no_token(
    app, connection, waits_on, narrowing
) -> None:
    narrowed, asked = interleave(
        app,
        waits_on,
        first=connection.narrowing(narrowing),
        held_at="COMMIT",
        then=connection.asking("school secret"),
    )
    assert approval_acknowledged(narrowed, connection.urn), narrowed.status
    assert (asked.status, asked.error) == (400, "invalid_grant")
    assert beyond_the_grant(app, connection.grant_id) == []


@pytest.mark.parametrize("narrowing", NARROWINGS)
def test_a_refresh_as_a_narrowing_commits_is_refused_and_is_not_taken_for_a_replay(
    app, connection, waits_on, narrowing
) -> None:
    from authserver.models import AuditEvent

    narrowed, asked = interleave(
        app,
        waits_on,
        first=connection.narrowing(narrowing),
        held_at="COMMIT",
        then=connection.asking("refresh"),
    )
    assert approval_acknowledged(narrowed, connection.urn), narrowed.status
    assert (asked.status, asked.error) == (400, "invalid_grant")
    assert beyond_the_grant(app, connection.grant_id) == []
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    assert "refresh_token:replayed" not in actions


def test_a_secret_claimed_as_a_narrowing_commits_is_bound_to_the_narrowed_grant(
    app, connection, waits_on
) -> None:
    narrowed, claimed = interleave(
        app,
        waits_on,
        first=connection.narrowing("some pupils"),
        held_at="COMMIT",
        then=connection.asking("claim"),
    )
    assert approval_acknowledged(narrowed, connection.urn), narrowed.status
    assert claimed.status == 201, claimed.body
    assert claimed.body["grant_version"] == 2
    assert beyond_the_grant(app, connection.grant_id) == []
    token = school_token(
        in_process(app), connection.client, connection.school_id, claimed.body["school_secret"]
    )
    assert token.status == 200, token.body
    assert token.body["grant_version"] == 2


def test_a_secret_claimed_as_a_revocation_commits_is_refused(app, connection, waits_on) -> None:
    revoked, claimed = interleave(
        app,
        waits_on,
        first=connection.narrowing("revoke"),
        held_at="COMMIT",
        then=connection.asking("claim"),
    )
    assert approval_acknowledged(revoked, connection.urn), revoked.status
    assert (claimed.status, claimed.error) == (404, "not_found")
    assert beyond_the_grant(app, connection.grant_id) == []
