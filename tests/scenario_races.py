"""Concurrency scenarios, sized by the caller (the tests run them short, `make soak` long): a code
and a refresh token used many times at once, and a scope change approved while the vendor works."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select

from authserver.domain.catalogue import default_catalogue
from authserver.extensions import db
from tests.oauth_flow import PASSWORD, basic_auth
from tests.scenario_client import (
    REDIRECT_URI,
    Reply,
    Round,
    Send,
    approval_acknowledged,
    approval_form,
    race,
    school_token,
    sign_in_live,
    vendor_bearer,
)

ALWAYS_SHARED = default_catalogue().always_shared


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
    from authserver.domain import grants, school_secrets, vendors
    from authserver.domain.applications import (
        register_application,
        scope_requests_from,
        update_application,
    )
    from authserver.models import Role, RoleAssignment, School, User
    from tests.authenticator import enrol
    from tests.conftest import make_vendor_row
    from tests.live_processes import LIVE_SECRET_KEY

    with app.app_context():
        vendor = make_vendor_row(f"Race Vendor {label}")
        vendors.verify(vendor, by="operator (test)")
        school = School(urn=str(next(_race_urns)), name=f"Race School {label}")
        admin = User(email=f"race-admin-{label}@example.org", name="Race Admin")
        admin.set_password(PASSWORD, rounds=4)
        db.session.add_all([school, admin])
        db.session.flush()
        admin.roles.append(
            RoleAssignment(
                role=Role.SCHOOL_ADMIN, school_id=school.id, can_approve=True, can_manage=True
            )
        )
        # The live servers' key (tests/live_processes.py), which seals the secret.
        enrol(admin, LIVE_SECRET_KEY)
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
