"""Signing a school's people in to applications with OpenID Connect, through HTTP: discovery,
ID tokens signed with our keys, pairwise subjects, UserInfo per scope, who the school's grant
lets in (and the OIDC error for everyone else), prompt=none and prompt=login, and logout."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from authserver.domain import grants, ingest, members
from authserver.domain.ingest import Changes, Origin
from authserver.extensions import db
from authserver.models.grants import Grant
from authserver.models.members import MemberRole
from authserver.models.mis.contacts import Contact
from authserver.models.organisations import School
from authserver.models.users import User
from tests.connector.conftest import upn
from tests.oauth_flow import OAuthFlow, basic_auth, csrf_token, query_of
from tests.school_people import PASSWORD, People

REDIRECT = "https://app.example.com/callback"
SIGNED_OUT = "https://app.example.com/signed-out"
SIGN_IN_SCOPES = {
    "openid": "To let pupils, staff and parents sign in.",
    "profile": "To greet people by name.",
    "email": "To send staff their reports.",
    "SignInRole": "To show pupils and teachers different pages.",
    "SignInSchool": "To know the school.",
    "SignInClasses": "To put pupils in their classes.",
    "SignInChildren": "To show parents their children.",
    "SignInYearGroup": "To set work for the year group.",
}
EVERYTHING = " ".join(SIGN_IN_SCOPES)


def urn_of(app, school_id: int) -> str:
    with app.app_context():
        return db.session.get(School, school_id).urn


@pytest.fixture
def sign_in_app(make_app):
    """An application asking for sign-in (openid required, the claim scopes optional) and
    some data."""
    return make_app(
        name="Reading Rocket",
        required={"openid": SIGN_IN_SCOPES["openid"], "StudentLite": "To list pupils."},
        optional={k: v for k, v in SIGN_IN_SCOPES.items() if k != "openid"},
        redirect_uris=[REDIRECT],
        post_logout_redirect_uris=[SIGNED_OUT],
    )


def approve(app, school_admin, application, secret, **decision: Any) -> None:
    """The school admin approves the application on the consent screen, every optional scope
    ticked unless `optional` says which."""
    decision.setdefault("optional", tuple(k for k in SIGN_IN_SCOPES if k != "openid"))
    admin = OAuthFlow(app.test_client(), application.client_id, secret, REDIRECT)
    assert admin.sign_in(school_admin.email).status_code == 302
    admin.start()
    decided = admin.decide(**decision)
    assert decided.status_code == 302, re.findall(r'decision-error"><p>([^<]*)', decided.text)
    assert "code" in query_of(decided)


@dataclass
class Member:
    """A member's browser, signing in to one application."""

    flow: OAuthFlow
    urn: str

    def sign_in(self, login: str, path: str | None = None) -> Any:
        """Sign in on the members' page (at `path`, the sign-in URL we were sent to)."""
        path = path or f"/members/sign-in?school={self.urn}"
        page = self.flow.client.get(path)
        assert page.status_code == 200, page.get_data(as_text=True)[:300]
        return self.flow.client.post(
            path,
            data={
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "school": self.urn,
                "login": login,
                "password": PASSWORD,
            },
        )

    def sign_out(self) -> None:
        page = self.flow.client.get("/members/")
        assert page.status_code == 200, page.get_data(as_text=True)[-3000:]
        home = page.get_data(as_text=True)
        self.flow.client.post("/members/sign-out", data={"csrf_token": csrf_token(home)})

    def authorize(self, login: str | None = None, **overrides: Any) -> Any:
        """Start at the authorization endpoint; sign in as `login` if sent to sign in."""
        self.nonce = secrets.token_urlsafe(12)
        overrides.setdefault("scope", EVERYTHING)
        overrides.setdefault("nonce", self.nonce)
        response = self.flow.start(**overrides)
        if login is not None and response.status_code == 302:
            location = response.headers["Location"]
            if location.startswith("/members/sign-in"):
                signed_in = self.sign_in(login, location)
                assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:500]
                response = self.flow.client.get(signed_in.headers["Location"])
        return response

    def tokens(self, login: str | None = None, **overrides: Any) -> dict[str, Any]:
        answer = query_of(self.authorize(login, **overrides))
        assert "code" in answer, answer
        exchanged = self.flow.exchange(answer["code"])
        assert exchanged.status_code == 200, exchanged.get_json()
        return exchanged.get_json()

    def userinfo(self, access_token: str, method: str = "GET") -> Any:
        return self.flow.client.open(
            "/oauth/userinfo", method=method, headers={"Authorization": f"Bearer {access_token}"}
        )


@pytest.fixture
def decision() -> dict[str, Any]:
    """How the school decides (every pupil, unless a test narrows it)."""
    return {}


@pytest.fixture
def member(app, people: People, sign_in_app, school_admin, decision):
    application, secret = sign_in_app
    extra = {k: [str(v)] for k, v in decision.items()}
    approve(
        app,
        school_admin,
        application,
        secret,
        extra={"audience": "some", **extra} if extra else None,
    )
    flow = OAuthFlow(app.test_client(), application.client_id, secret, REDIRECT)
    return Member(flow, urn_of(app, people.school_id))


def verified_claims(client, id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ID token's header and claims, its signature checked against our JWKS."""
    keys = KeySet.import_key_set(client.get("/oauth/jwks").get_json())
    token = jwt.decode(id_token, keys, algorithms=["RS256"])
    return token.header, token.claims


# Discovery


def test_the_discovery_document_names_every_endpoint_and_what_we_support(app, client) -> None:
    document = client.get("/.well-known/openid-configuration").get_json()
    issuer = app.config["SETTINGS"].issuer
    assert document["issuer"] == issuer
    assert document["authorization_endpoint"] == issuer + "/oauth/authorize"
    assert document["token_endpoint"] == issuer + "/oauth/token"
    assert document["userinfo_endpoint"] == issuer + "/oauth/userinfo"
    assert document["end_session_endpoint"] == issuer + "/oauth/end-session"
    assert document["jwks_uri"] == issuer + "/oauth/jwks"
    assert document["subject_types_supported"] == ["pairwise"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert set(SIGN_IN_SCOPES) <= set(document["scopes_supported"])
    assert {"sub", "role", "school_urn", "children", "nonce", "sid"} <= set(
        document["claims_supported"]
    )
    # The RFC 8414 document stays as it was, beside it.
    assert "userinfo_endpoint" not in client.get("/.well-known/oauth-authorization-server").json


# The school's decision


def test_the_consent_screen_shows_sign_in_as_its_own_part(app, sign_in_app, school_admin):
    application, secret = sign_in_app
    admin = OAuthFlow(app.test_client(), application.client_id, secret, REDIRECT)
    admin.sign_in(school_admin.email)
    page = admin.start().get_data(as_text=True)
    part = page.split('id="sign-in-part"', 1)[1].split("</section>", 1)[0]
    assert "Signing in your school's people" in part
    assert 'id="required-openid"' in part
    assert 'value="SignInChildren"' in part  # an optional claim scope, to tick
    assert "StudentLite" not in part
    data_part = page.split('id="required-heading"', 1)[1].split("</section>", 1)[0]
    assert "StudentLite" in data_part
    assert "openid" not in data_part


# ID tokens


def test_a_pupil_signs_in_and_the_id_token_is_signed_with_our_key(app, member, people) -> None:
    tokens = member.tokens("zoe.obrien")
    assert tokens["scope"].split() == list(SIGN_IN_SCOPES)
    header, claims = verified_claims(member.flow.client, tokens["id_token"])
    published = [key["kid"] for key in member.flow.client.get("/oauth/jwks").json["keys"]]
    assert header["alg"] == "RS256"
    assert header["kid"] in published
    assert claims["iss"] == app.config["SETTINGS"].issuer
    assert claims["aud"] == member.flow.client_id
    assert claims["nonce"] == member.nonce
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:schooldata:acr:password"
    assert isinstance(claims["auth_time"], int)
    assert claims["auth_time"] <= claims["iat"]
    assert len(claims["sid"]) == 32
    assert "at_hash" in claims
    assert claims["role"] == "student"
    assert claims["year_group"] == "7"
    assert claims["given_name"] == "Zoë"
    assert claims["family_name"] == "O'Brien-Smith"
    assert claims["school_urn"] == member.urn
    assert claims["classes"] == ["7M1"]


def test_without_a_nonce_the_id_token_has_none(member) -> None:
    tokens = member.tokens("zoe.obrien", nonce=None)
    _, claims = verified_claims(member.flow.client, tokens["id_token"])
    assert "nonce" not in claims


def test_a_sign_in_never_carries_data_scopes(member) -> None:
    tokens = member.tokens("zoe.obrien", scope="openid StudentLite")
    assert tokens["scope"] == "openid"
    data = member.flow.client.get(
        "/api/v1/students", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert data.status_code == 403


def test_the_school_admin_s_own_token_carries_no_sign_in_scopes(app, sign_in_app, school_admin):
    application, secret = sign_in_app
    admin = OAuthFlow(app.test_client(), application.client_id, secret, REDIRECT)
    admin.sign_in(school_admin.email)
    tokens = admin.tokens()
    assert "id_token" not in tokens
    assert tokens["scope"].split() == ["StudentLite"]


# Pairwise subjects


def test_subjects_are_pairwise_between_applications_and_stable_between_sessions(
    app, member, people, make_app, school_admin
) -> None:
    first = member.tokens("zoe.obrien")
    _, claims = verified_claims(member.flow.client, first["id_token"])
    member.sign_out()
    again = member.tokens("zoe.obrien")
    _, claims_again = verified_claims(member.flow.client, again["id_token"])
    assert claims_again["sub"] == claims["sub"]
    assert claims_again["sid"] != claims["sid"]

    other, other_secret = make_app(
        name="Maths Mountain",
        required={"openid": "Sign-in."},
        optional={},
        redirect_uris=[REDIRECT],
    )
    approve(app, school_admin, other, other_secret, optional=())
    elsewhere = Member(OAuthFlow(member.flow.client, other.client_id, other_secret, REDIRECT), "")
    elsewhere.urn = member.urn
    _, other_claims = verified_claims(
        member.flow.client, elsewhere.tokens("zoe.obrien", scope="openid")["id_token"]
    )
    assert other_claims["sub"] != claims["sub"]
    assert set(other_claims) >= {"sub"}
    assert "name" not in other_claims


# UserInfo


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_returns_the_claims_of_every_scope(member, method) -> None:
    tokens = member.tokens("zoe.obrien")
    answer = member.userinfo(tokens["access_token"], method)
    assert answer.status_code == 200
    info = answer.get_json()
    _, claims = verified_claims(member.flow.client, tokens["id_token"])
    assert info["sub"] == claims["sub"]
    assert info["name"] == "Zoë O'Brien-Smith"
    assert info["role"] == "student"
    assert info["year_group"] == "7"
    assert info["classes"] == ["7M1"]
    assert info["school_urn"] == member.urn
    assert "email" not in info  # the school holds none for this pupil


@pytest.mark.parametrize(
    ("scope", "claims"),
    [
        ("openid", {"sub"}),
        ("openid profile", {"sub", "name", "given_name", "family_name"}),
        ("openid email SignInRole", {"sub", "email", "email_verified", "role"}),
        ("openid SignInClasses", {"sub", "classes"}),
    ],
)
def test_userinfo_releases_only_what_the_token_s_scopes_do(member, scope, claims) -> None:
    tokens = member.tokens("ada@school.test", scope=scope)
    info = member.userinfo(tokens["access_token"]).get_json()
    assert set(info) == claims
    if "email" in claims:
        assert info["email"] == "ada@school.test"
        assert info["email_verified"] is False
        assert info["role"] == "teacher"


def test_a_parent_sees_their_children_by_this_application_s_subject(member) -> None:
    child = member.tokens("zoe.obrien", scope="openid")
    _, child_claims = verified_claims(member.flow.client, child["id_token"])
    member.sign_out()
    parent = member.tokens("grace@home.test", scope="openid SignInChildren SignInRole")
    info = member.userinfo(parent["access_token"]).get_json()
    assert info["role"] == "parent"
    assert info["children"] == [{"sub": child_claims["sub"], "year_group": "7"}]


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "invalid_request"),
        ({"Authorization": "Bearer not-a-token"}, 401, "invalid_token"),
    ],
)
def test_userinfo_without_a_good_token_is_an_rfc_6750_error(client, headers, status, error):
    answer = client.get("/oauth/userinfo", headers=headers)
    assert answer.status_code == status
    assert answer.get_json()["error"] == error
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_refuses_a_school_s_data_token(app, sign_in_app, school_admin) -> None:
    application, secret = sign_in_app
    admin = OAuthFlow(app.test_client(), application.client_id, secret, REDIRECT)
    admin.sign_in(school_admin.email)
    answer = admin.client.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {admin.tokens()['access_token']}"}
    )
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "invalid_token"


# Who the school lets in


@pytest.fixture
def narrowed(people: People, decision: dict[str, Any]) -> None:
    """The school shares with the application only for class 7M1."""
    decision["class_ids"] = people.class_id


def another_family(app, people: People) -> None:
    """A parent of the Year 9 pupil (outside class 7M1), with a password."""
    with app.app_context():
        changes = Changes()
        changes.upserts["contact"] = [
            (Origin(0), {"id": "p2", "forename": "Ola", "surname": "Okafor", "email": "ola@h.test"})
        ]
        changes.upserts["student_contact"] = [
            (Origin(1), {"id": "sc2", "student_id": upn(2), "contact_id": "p2"})
        ]
        ingest.apply(db.session, people.school_id, changes)
        contact = db.session.scalar(select(Contact).where(Contact.mis_id == "p2"))
        made = members.enrol(db.session, contact, by="test")
        rounds = app.config["SETTINGS"].bcrypt_rounds
        members.set_password(db.session, made, PASSWORD, rounds=rounds, by="test")
        db.session.commit()


@pytest.mark.parametrize(
    ("login", "let_in"),
    [
        ("zoe.obrien", True),  # Year 7, in 7M1
        ("ada@school.test", True),  # teaches 7M1
        ("grace@home.test", True),  # Zoë's parent
        ("sam.okafor", False),  # Year 9: outside the grant's groups
        ("ola@h.test", False),  # a parent of another family's child (Sam)
    ],
)
def test_a_narrowed_grant_signs_in_only_the_people_it_covers(
    app, narrowed, member, people, login, let_in
) -> None:
    another_family(app, people)
    answer = query_of(member.authorize(login))
    if let_in:
        assert "code" in answer
        return
    assert answer["error"] == "access_denied"
    assert answer["state"] == member.flow.state
    assert answer["iss"] == app.config["SETTINGS"].issuer
    assert "has not let this application sign you in" in answer["error_description"]


def test_a_role_the_school_turned_off_cannot_sign_in(app, member, people) -> None:
    assert "code" in query_of(member.authorize("zoe.obrien"))
    with app.app_context():
        roles = [MemberRole.TEACHER, MemberRole.PARENT]
        members.set_enabled_roles(db.session, people.school_id, roles, by="test")
        db.session.commit()
    # The pupil's session ends with their role: a silent request is told to sign in...
    silent = query_of(member.authorize(prompt="none"))
    assert silent["error"] == "login_required"
    assert silent["iss"] == app.config["SETTINGS"].issuer
    # ...and signing in is refused in plain words.
    refused = member.sign_in("zoe.obrien")
    assert refused.status_code == 401
    assert "has not turned on sign-in for you" in refused.get_data(as_text=True)


def test_turning_a_role_off_stops_its_tokens_too(app, member, people) -> None:
    """Not only new sign-ins: UserInfo and refresh stop at once for a role turned off."""
    tokens = member.tokens("zoe.obrien")
    assert member.userinfo(tokens["access_token"]).status_code == 200
    with app.app_context():
        roles = [MemberRole.TEACHER, MemberRole.PARENT]
        members.set_enabled_roles(db.session, people.school_id, roles, by="test")
        db.session.commit()
    after = member.userinfo(tokens["access_token"])
    assert after.status_code == 401
    assert after.get_json()["error"] == "invalid_token"
    refreshed = member.flow.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"


def test_introspection_names_the_person_as_the_id_token_does_and_stops_with_sign_in(
    app, member, people
) -> None:
    tokens = member.tokens("zoe.obrien")
    _, claims = verified_claims(member.flow.client, tokens["id_token"])

    def introspect() -> dict[str, Any]:
        answer = member.flow.client.post(
            "/oauth/introspect",
            data={"token": tokens["access_token"]},
            headers=basic_auth(member.flow.client_id, member.flow.client_secret),
        )
        assert answer.status_code == 200
        return answer.get_json()

    assert introspect()["sub"] == claims["sub"]
    with app.app_context():
        roles = [MemberRole.TEACHER, MemberRole.PARENT]
        members.set_enabled_roles(db.session, people.school_id, roles, by="test")
        db.session.commit()
    assert introspect() == {"active": False}


def test_a_pupil_leaving_the_grant_s_class_loses_their_tokens(app, narrowed, member, people):
    tokens = member.tokens("zoe.obrien")
    assert member.userinfo(tokens["access_token"]).status_code == 200
    with app.app_context():
        changes = Changes()
        changes.deletes["class_membership"] = [(Origin(0), "cm1")]
        ingest.apply(db.session, people.school_id, changes)
        db.session.commit()
    assert member.userinfo(tokens["access_token"]).status_code == 401
    assert member.flow.refresh(tokens["refresh_token"]).status_code == 400


def test_a_pupil_leaving_the_mis_loses_their_tokens(app, member, people) -> None:
    tokens = member.tokens("zoe.obrien")
    with app.app_context():
        changes = Changes()
        changes.deletes["student"] = [(Origin(0), upn(1))]
        ingest.apply(db.session, people.school_id, changes)
        db.session.commit()
    assert member.userinfo(tokens["access_token"]).status_code == 401
    assert member.flow.refresh(tokens["refresh_token"]).status_code == 400


def test_revoking_the_connection_ends_sign_in_at_once(app, member, people, sign_in_app) -> None:
    tokens = member.tokens("zoe.obrien")
    assert member.userinfo(tokens["access_token"]).status_code == 200
    with app.app_context():
        grant = db.session.scalar(select(Grant).where(Grant.school_id == people.school_id))
        admin = db.session.scalar(select(User))
        grants.revoke(grant, by=admin)
        db.session.commit()
    after = member.userinfo(tokens["access_token"])
    assert after.status_code == 401
    assert after.get_json()["error"] == "invalid_token"
    answer = query_of(member.authorize())
    assert answer["error"] == "access_denied"
    refreshed = member.flow.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"


def test_an_application_without_the_school_s_sign_in_approval_is_refused(
    app, people, make_app, school_admin
) -> None:
    application, secret = make_app(
        name="Data Only", required={"openid": "Sign-in."}, redirect_uris=[REDIRECT]
    )
    flow = Member(OAuthFlow(app.test_client(), application.client_id, secret, REDIRECT), "")
    flow.urn = urn_of(app, people.school_id)
    answer = query_of(flow.authorize("zoe.obrien", scope="openid"))
    assert answer["error"] == "access_denied"


# prompt


def test_prompt_none_without_a_session_answers_login_required(app, member) -> None:
    answer = query_of(member.authorize(prompt="none"))
    assert answer["error"] == "login_required"
    assert answer["state"] == member.flow.state
    assert answer["iss"] == app.config["SETTINGS"].issuer


def test_prompt_none_with_a_session_signs_in_silently(member) -> None:
    assert "code" in query_of(member.authorize("zoe.obrien"))
    assert "code" in query_of(member.authorize(prompt="none"))


def test_without_a_session_the_member_is_sent_to_sign_in_and_back(member) -> None:
    response = member.authorize()
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/members/sign-in?")
    assert parse_qs(urlsplit(location).query)["next"][0].startswith("/oauth/authorize?")


def test_prompt_login_asks_again_even_when_signed_in(member) -> None:
    first = member.tokens("zoe.obrien")
    _, claims = verified_claims(member.flow.client, first["id_token"])
    asked = member.authorize(prompt="login")
    assert asked.status_code == 302
    assert asked.headers["Location"].startswith("/members/sign-in")
    # A forged marker does not skip the question.
    forged = member.flow.client.get(f"/oauth/authorize?{member.flow.query}&login_asked=1")
    assert forged.headers["Location"].startswith("/members/sign-in")
    again = member.tokens("zoe.obrien", prompt="login")
    _, claims_again = verified_claims(member.flow.client, again["id_token"])
    assert claims_again["sid"] != claims["sid"]
    assert claims_again["auth_time"] >= claims["auth_time"]


def test_prompt_none_and_login_together_is_invalid(member) -> None:
    assert "code" in query_of(member.authorize("zoe.obrien"))
    assert query_of(member.authorize(prompt="none login"))["error"] == "invalid_request"


# RP-initiated logout


def test_logout_ends_the_member_s_session_and_returns_to_the_registered_uri(member) -> None:
    tokens = member.tokens("zoe.obrien")
    answer = member.flow.client.get(
        "/oauth/end-session",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": SIGNED_OUT,
            "state": "bye",
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{SIGNED_OUT}?state=bye"
    # Signed out on the server: home asks to sign in, a silent request is told to sign in.
    assert member.flow.client.get("/members/").headers["Location"].startswith("/members/sign-in")
    assert query_of(member.authorize(prompt="none"))["error"] == "login_required"


def test_logout_to_an_unregistered_uri_is_refused_with_a_page(member) -> None:
    tokens = member.tokens("zoe.obrien")
    answer = member.flow.client.get(
        "/oauth/end-session",
        query_string={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example.net/",
        },
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "has not registered" in answer.get_data(as_text=True)
    assert "code" in query_of(member.authorize(prompt="none"))  # still signed in


def test_logout_without_a_hint_asks_the_member_first(member) -> None:
    member.tokens("zoe.obrien")
    page = member.flow.client.get("/oauth/end-session")
    assert page.status_code == 200
    assert "Yes, sign me out" in page.get_data(as_text=True)
    assert "code" in query_of(member.authorize(prompt="none"))
    confirmed = member.flow.client.post(
        "/oauth/end-session",
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "confirm": "1"},
    )
    assert confirmed.status_code == 200
    assert "You have signed out" in confirmed.get_data(as_text=True)
    assert query_of(member.authorize(prompt="none"))["error"] == "login_required"


def test_logout_with_the_hint_of_another_session_asks_first(member) -> None:
    earlier = member.tokens("zoe.obrien")
    member.sign_out()
    member.tokens("zoe.obrien")
    page = member.flow.client.get(
        "/oauth/end-session", query_string={"id_token_hint": earlier["id_token"]}
    )
    assert page.status_code == 200
    assert "Yes, sign me out" in page.get_data(as_text=True)
    assert "code" in query_of(member.authorize(prompt="none"))  # still signed in


def test_a_bad_id_token_hint_is_refused_with_a_page(member) -> None:
    answer = member.flow.client.get("/oauth/end-session?id_token_hint=not.a.token")
    assert answer.status_code == 400
    assert "Location" not in answer.headers
