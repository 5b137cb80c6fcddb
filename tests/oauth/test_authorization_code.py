"""The authorization code flow with PKCE, and every rule of it proved by a failing request."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models import Role
from authserver.models.tokens import AuthorizationCode
from tests.oauth_flow import OAuthFlow, basic_auth, pkce_pair, query_of

REDIRECT_URI = "https://app.example.com/callback"


def introspect(client, resource_server, token: str) -> dict:
    server, secret = resource_server
    response = client.post(
        "/oauth/introspect", data={"token": token}, headers=basic_auth(server.client_id, secret)
    )
    assert response.status_code == 200
    return response.get_json()


def test_the_whole_flow_grants_required_and_ticked_optional_scopes(app, flow, school) -> None:
    flow.start()
    decision = flow.decide(optional=("Contact",))
    params = query_of(decision)
    assert decision.headers["Location"].startswith(REDIRECT_URI + "?")
    assert params["state"] == flow.state
    assert params["iss"] == app.config["SETTINGS"].issuer
    assert len(params["code"]) >= 43  # at least 128 bits of a 62-letter alphabet

    response = flow.exchange(params["code"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    token = response.get_json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert set(token["scope"].split()) == {"StudentLite", "Attendance", "Contact"}
    assert token["school_id"] == school.id
    assert token["grant_version"] == 1
    assert token["access_token"] != token["refresh_token"]


def test_codes_and_tokens_are_stored_only_as_digests(app, flow) -> None:
    code = flow.code()
    token = flow.exchange(code).get_json()
    with app.app_context():
        dump = "\n".join(
            str(row) for row in db.session.execute(select(AuthorizationCode.__table__)).all()
        )
        tokens_dump = "\n".join(
            str(row) for row in db.session.execute(select(db.metadata.tables["tokens"])).all()
        )
    assert code not in dump
    assert token["access_token"] not in tokens_dump
    assert token["refresh_token"] not in tokens_dump


def test_deny_sends_access_denied_with_state_and_iss(app, flow) -> None:
    flow.start()
    params = query_of(flow.decide(approve=False))
    assert params["error"] == "access_denied"
    assert params["state"] == flow.state
    assert params["iss"] == app.config["SETTINGS"].issuer
    assert "code" not in params


def test_a_signed_out_admin_is_sent_to_sign_in_and_back(client, vendor_app, school_admin) -> None:
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    response = flow.start()
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    flow.sign_in(school_admin.email)
    assert flow.start().status_code == 200


def test_the_consent_page_cannot_be_framed_or_cached(flow) -> None:
    response = flow.start()
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


# --- The authorization request: errors shown as a page, never redirected --------------------


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"client_id": "no-such-client"}, id="unknown client"),
        pytest.param({"client_id": None}, id="missing client"),
        pytest.param({"redirect_uri": "https://evil.example.com/callback"}, id="foreign redirect"),
        pytest.param({"redirect_uri": REDIRECT_URI + "/"}, id="trailing slash"),
        pytest.param({"redirect_uri": REDIRECT_URI + "?x=1"}, id="added query"),
        pytest.param({"redirect_uri": "https://APP.example.com/callback"}, id="other case"),
        pytest.param(
            {"redirect_uri": "https://app.example.com/callback/../callback"}, id="dot segments"
        ),
    ],
)
def test_an_untrusted_client_or_redirect_gets_an_error_page_not_a_redirect(flow, overrides) -> None:
    response = flow.start(**overrides)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "cannot be completed" in response.get_data(as_text=True)


def test_redirect_uri_is_required_when_several_are_registered(
    client, make_app, school_admin
) -> None:
    application, secret = make_app(redirect_uris=[REDIRECT_URI, "https://app.example.com/other"])
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    response = flow.start(redirect_uri=None)
    assert response.status_code == 400
    assert "Location" not in response.headers


# --- The authorization request: errors redirected to a known-good redirect URI --------------


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        pytest.param(
            {"code_challenge": None, "code_challenge_method": None}, "invalid_request", id="no PKCE"
        ),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="plain PKCE"),
        pytest.param({"code_challenge_method": None}, "invalid_request", id="PKCE without method"),
        pytest.param({"code_challenge": "short"}, "invalid_request", id="malformed challenge"),
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"scope": "StudentLite NoSuchScope"}, "invalid_scope", id="unknown scope"),
        pytest.param({"scope": "StudentMedical"}, "invalid_scope", id="scope not registered"),
    ],
)
def test_a_bad_request_from_a_known_client_is_redirected_with_its_error(
    app, flow, overrides, error
) -> None:
    params = query_of(flow.start(**overrides))
    assert params["error"] == error
    assert params["state"] == flow.state
    assert params["iss"] == app.config["SETTINGS"].issuer
    assert "code" not in params


def test_repeated_parameters_are_refused(flow) -> None:
    flow.start()
    response = flow.client.get(f"/oauth/authorize?{flow.query}&scope=StudentLite&scope=Attendance")
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_scope_may_ask_for_a_subset(flow) -> None:
    token = flow.tokens(scope="Attendance")
    assert token["scope"] == "Attendance"


def test_public_school_data_needs_no_consent_and_is_granted_when_asked(flow) -> None:
    token = flow.tokens(scope="StudentLite PublicSchoolData")
    assert set(token["scope"].split()) == {"StudentLite", "PublicSchoolData"}


# --- Who may decide --------------------------------------------------------------------------


def test_an_admin_without_the_approver_right_cannot_decide(
    client, vendor_app, school, make_user
) -> None:
    viewer = make_user(Role.SCHOOL_ADMIN, school=school, can_approve=False)
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(viewer.email)
    response = flow.start()
    assert response.status_code == 403
    assert "cannot approve" in response.get_data(as_text=True)


def test_a_school_the_admin_does_not_administer_is_refused(flow, make_school) -> None:
    other = make_school(name="Elsewhere High")
    response = flow.start(school=other.urn)
    assert response.status_code == 403


def test_a_trust_admin_chooses_the_school(client, vendor_app, make_school, make_user, app) -> None:
    from authserver.models import Trust

    with app.app_context():
        trust = Trust(name="Test Trust")
        db.session.add(trust)
        db.session.commit()
        trust_id = trust.id
    first = make_school(name="First", trust_id=trust_id)
    second = make_school(name="Second", trust_id=trust_id)
    admin = make_user(Role.TRUST_ADMIN, trust=trust, can_approve=True)
    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(admin.email)
    page = flow.start().get_data(as_text=True)
    assert first.name in page
    assert second.name in page
    params = query_of(flow.decide(school=second.urn))
    assert flow.exchange(params["code"]).get_json()["school_id"] == second.id


def test_the_decision_needs_a_csrf_token(flow) -> None:
    flow.start()
    response = flow.client.post(f"/oauth/authorize?{flow.query}", data={"approve": "1"})
    assert response.status_code == 400
    assert "Location" not in response.headers


# --- The token request -----------------------------------------------------------------------


def test_a_code_works_once_and_its_replay_revokes_the_tokens(client, flow, resource_server) -> None:
    code = flow.code()
    first = flow.exchange(code).get_json()
    assert introspect(client, resource_server, first["access_token"])["active"] is True
    replay = flow.exchange(code)
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens issued from the replayed code are revoked.
    assert introspect(client, resource_server, first["access_token"]) == {"active": False}
    assert flow.refresh(first["refresh_token"]).get_json()["error"] == "invalid_grant"


def test_an_expired_code_is_refused(app, flow) -> None:
    code = flow.code()
    with app.app_context():
        db.session.execute(
            update(AuthorizationCode).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
        db.session.commit()
    assert flow.exchange(code).get_json()["error"] == "invalid_grant"


def test_codes_live_sixty_seconds_at_most(app, flow) -> None:
    flow.code()
    with app.app_context():
        row = db.session.scalar(select(AuthorizationCode))
        assert (row.expires_at - row.created_at).total_seconds() <= 60


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        pytest.param({"code_verifier": pkce_pair()[0]}, 400, "invalid_grant", id="wrong verifier"),
        pytest.param({"code_verifier": None}, 400, "invalid_request", id="no verifier"),
        pytest.param({"code_verifier": "too-short"}, 400, "invalid_request", id="bad verifier"),
        pytest.param(
            {"redirect_uri": "https://app.example.com/other"},
            400,
            "invalid_grant",
            id="other redirect",
        ),
        pytest.param({"redirect_uri": None}, 400, "invalid_grant", id="no redirect"),
        pytest.param({"code": "not-a-code"}, 400, "invalid_grant", id="unknown code"),
        pytest.param({"code": None}, 400, "invalid_request", id="no code"),
    ],
)
def test_token_request_errors(flow, overrides, status, error) -> None:
    code = flow.code()
    response = flow.exchange(code, **overrides)
    assert response.status_code == status
    body = response.get_json()
    assert body["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def test_a_code_cannot_be_redeemed_by_another_client(flow, make_app) -> None:
    other, other_secret = make_app(name="Other app")
    code = flow.code()
    response = flow.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
        },
        headers=basic_auth(other.client_id, other_secret),
    )
    assert response.get_json()["error"] == "invalid_grant"
    # The rightful client can still redeem it: injection did not burn it.
    assert flow.exchange(code).status_code == 200


def test_client_authentication_failure_is_401_with_www_authenticate(flow) -> None:
    code = flow.code()
    response = flow.token_request(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": flow.verifier,
        },
        headers=basic_auth(flow.client_id, "wrong-secret"),
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param(
            {"data": {"grant_type": "password", "username": "a", "password": "b"}},
            "unsupported_grant_type",
            id="password grant",
        ),
        pytest.param(
            {"data": {"grant_type": "implicit"}}, "unsupported_grant_type", id="made-up grant"
        ),
        pytest.param({"data": {}}, "invalid_request", id="no grant type"),
        pytest.param(
            {
                "data": {"grant_type": "client_credentials"},
                "query_string": {"grant_type": "client_credentials"},
            },
            "invalid_request",
            id="parameters in the URL",
        ),
        pytest.param(
            {
                "data": "grant_type=client_credentials&grant_type=client_credentials",
                "content_type": "application/x-www-form-urlencoded",
            },
            "invalid_request",
            id="repeated parameter",
        ),
        pytest.param(
            {"json": {"grant_type": "client_credentials"}}, "invalid_request", id="JSON body"
        ),
    ],
)
def test_malformed_token_requests(client, vendor_app, kwargs, error) -> None:
    application, secret = vendor_app
    response = client.post(
        "/oauth/token", headers=basic_auth(application.client_id, secret), **kwargs
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def test_a_grant_revoked_before_the_exchange_stops_the_code(app, flow, school_admin) -> None:
    from authserver.domain import grants
    from authserver.models import User
    from authserver.models.grants import Grant

    code = flow.code()
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        grants.revoke(grant, by=db.session.get(User, school_admin.id))
        db.session.commit()
    assert flow.exchange(code).get_json()["error"] == "invalid_grant"


def test_a_public_client_uses_pkce_without_a_secret(client, make_app, school_admin) -> None:
    application, secret = make_app(
        token_endpoint_auth_method="none", redirect_uris=["http://127.0.0.1:8765/callback"]
    )
    assert secret is None
    flow = OAuthFlow(client, application.client_id, None, "http://127.0.0.1:8765/callback")
    flow.sign_in(school_admin.email)
    token = flow.tokens()
    assert token["school_id"]
    refreshed = flow.refresh(token["refresh_token"])
    assert refreshed.status_code == 200


def test_approving_nothing_is_a_readable_refusal_not_an_error(
    client, make_app, school_admin
) -> None:
    application, secret = make_app(required={}, optional={"Contact": "To phone parents."})
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    flow.start()
    response = flow.decide(optional=())
    assert response.status_code == 400
    assert "There is nothing to approve" in response.get_data(as_text=True)
    assert "Location" not in response.headers
