"""Registering vendors' applications and resource servers: the rules they must meet."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from authserver.domain import audit, credentials, grants, names, resource_servers
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import Catalogue, default_catalogue
from authserver.extensions import db
from authserver.models.applications import (
    ACCESS_TOKEN_FORMATS,
    LOOPBACK_HOSTS,
    TOKEN_ENDPOINT_AUTH_METHODS,
    Application,
    ApplicationRename,
    ApplicationScope,
    Vendor,
)
from authserver.models.grants import AccessRequest, AccessRequestStatus, Grant, GrantStatus
from authserver.models.organisations import School


class RegistrationError(ValueError):
    """An application's registration breaks a rule; the message says which."""


@dataclass(frozen=True)
class ScopeRequest:
    """A scope an application asks for, with the purpose shown to the school."""

    scope: str
    purpose: str
    required: bool = True


def check_redirect_uri(uri: str) -> str:
    """Refuse a redirect URI that is not absolute https (or http on loopback) or has a fragment."""
    parts = urlsplit(uri)
    if parts.username is not None or "@" in parts.netloc:
        raise RegistrationError(f"redirect URI {uri!r} must not contain a user name or password")
    if any(character in uri for character in " ;,\"'<>"):
        raise RegistrationError(f"redirect URI {uri!r} contains a character it must not")
    if parts.fragment or "#" in uri:
        raise RegistrationError(f"redirect URI {uri!r} must not contain a fragment")
    if not parts.netloc or parts.scheme not in {"https", "http"}:
        raise RegistrationError(f"redirect URI {uri!r} must be an absolute https URL")
    # RFC 9700 §2.1: plain http only for native apps on loopback.
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise RegistrationError(f"redirect URI {uri!r} must use https")
    return uri


def check_scope_requests(
    requests: Sequence[ScopeRequest], catalogue: Catalogue | None = None
) -> list[ScopeRequest]:
    """Every scope known, asked for once, with a purpose; PublicSchoolData is never asked for."""
    catalogue = catalogue or default_catalogue()
    catalogue.require_known([r.scope for r in requests])
    seen: set[str] = set()
    for request in requests:
        scope = catalogue[request.scope]
        if request.scope in seen:
            raise RegistrationError(f"scope {request.scope} is listed twice")
        seen.add(request.scope)
        if not scope.consent_required:
            raise RegistrationError(f"{request.scope} is always shared and needs no request")
        if scope.deprecated:
            raise RegistrationError(f"{request.scope} is deprecated and cannot be requested")
        if not request.purpose.strip():
            raise RegistrationError(f"say why the application needs {request.scope}")
    return list(requests)


def check_https_url(url: str, what: str) -> str:
    """Refuse a link shown to schools (privacy policy, terms, website) that is not https."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise RegistrationError(f"{what} must be an https URL")
    return url


def check_initiate_login_uri(uri: str) -> str:
    """Refuse a sign-in start URL that is not an absolute https URL without a fragment (OpenID
    Connect Core §4: it must use https; a member's browser is sent there)."""
    parts = urlsplit(uri)
    if parts.scheme != "https" or not parts.netloc:
        raise RegistrationError("the sign-in start URL must be an https URL")
    if parts.fragment or "#" in uri:
        raise RegistrationError("the sign-in start URL must not contain a fragment")
    if parts.username is not None or "@" in parts.netloc:
        raise RegistrationError("the sign-in start URL must not contain a user name or password")
    if len(uri) > 500:
        raise RegistrationError("the sign-in start URL may have at most 500 characters")
    return uri


@dataclass(frozen=True)
class Registration:
    """What a vendor registers for an application, first made or changed: one set of rules."""

    name: str
    redirect_uris: Sequence[str]
    scopes: Sequence[ScopeRequest]
    privacy_policy_url: str
    description: str = ""
    terms_url: str | None = None
    website_url: str | None = None
    # OpenID Connect Core §4: where the school's launcher starts the application's sign-in;
    # "" for none.
    initiate_login_uri: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"  # noqa: S105 (a method name)
    require_pushed_authorization_requests: bool = False
    access_token_format: str = "opaque"  # noqa: S105 (a format name)
    # Client ids of the registered resource servers the application calls (the platform's API
    # is always allowed); None keeps what an application declares now.
    resource_servers: Sequence[str] | None = None
    # Where members may be sent back after signing out (OpenID Connect RP-Initiated Logout).
    post_logout_redirect_uris: Sequence[str] = ()

    def check(self) -> None:
        """Raise RegistrationError unless every rule holds."""
        if not self.name.strip():
            raise RegistrationError("an application needs a name")
        names.check_honest(self.name, field="name", label="The application name")
        names.check_honest(
            self.description, field="description", label="The description", multiline=True
        )
        if not self.redirect_uris:
            raise RegistrationError("register at least one redirect URI")
        if self.token_endpoint_auth_method not in TOKEN_ENDPOINT_AUTH_METHODS:
            raise RegistrationError(
                f"unknown token endpoint auth method {self.token_endpoint_auth_method}"
            )
        if self.access_token_format not in ACCESS_TOKEN_FORMATS:
            raise RegistrationError(f"unknown access token format {self.access_token_format}")
        for uri in [*self.redirect_uris, *self.post_logout_redirect_uris]:
            check_redirect_uri(uri)
        check_https_url(self.privacy_policy_url, "the privacy policy")
        if self.terms_url:
            check_https_url(self.terms_url, "the terms of use")
        if self.website_url:
            check_https_url(self.website_url, "the website")
        if self.initiate_login_uri:
            check_initiate_login_uri(self.initiate_login_uri)
        check_scope_requests(self.scopes)

    def apply_to(self, application: Application) -> bool:
        """Write the (checked) registration onto the application; returns whether the scopes
        it asks for, or which of them are required, changed."""
        application.name = self.name.strip()
        application.description = self.description
        application.redirect_uris = list(dict.fromkeys(self.redirect_uris))
        application.post_logout_redirect_uris = list(dict.fromkeys(self.post_logout_redirect_uris))
        application.privacy_policy_url = self.privacy_policy_url
        application.terms_url = self.terms_url
        application.website_url = self.website_url
        application.initiate_login_uri = self.initiate_login_uri or None
        application.token_endpoint_auth_method = self.token_endpoint_auth_method
        application.require_pushed_authorization_requests = (
            self.require_pushed_authorization_requests
        )
        application.access_token_format = self.access_token_format
        if self.resource_servers is not None:
            try:
                application.resource_servers = resource_servers.by_client_ids(self.resource_servers)
            except resource_servers.ResourceServerError as refusal:
                raise RegistrationError(str(refusal)) from None
        before = {(row.scope, row.required) for row in application.scope_requests}
        # Change rows in place: a scope dropped and asked for again must not collide with itself.
        kept = {row.scope: row for row in application.scope_requests}
        rows = []
        for request in self.scopes:
            row = kept.get(request.scope) or ApplicationScope(scope=request.scope)
            row.required = request.required
            row.purpose = request.purpose.strip()
            rows.append(row)
        application.scope_requests = rows
        return {(row.scope, row.required) for row in rows} != before


def check_not_imitating(name: str, vendor: Vendor) -> None:
    """Refuse a name that looks like (has the skeleton of) a verified application of another
    vendor: schools trust the name they see on the consent screen."""
    others = db.session.scalars(
        select(Application.name)
        .join(Application.vendor)
        .where(Vendor.verified_at.is_not(None), Application.vendor_id != vendor.id)
    )
    copied = names.imitated(name, others)
    if copied is not None:
        raise names.NameRefused(
            f"The application name “{name.strip()}” looks too much like “{copied}”, another "
            "vendor's verified application: choose a name of your own",
            field="name",
        )


def register_application(vendor: Vendor, **fields: Any) -> tuple[Application, str | None]:
    """Add an application for `vendor` (`fields` as in `Registration`); returns it and its
    client secret (shown once), or None for a public client."""
    registration = Registration(**fields)
    registration.check()
    check_not_imitating(registration.name, vendor)
    application = Application(vendor=vendor, client_id=credentials.new_identifier())
    registration.apply_to(application)
    secret = None if application.is_public else application.issue_client_secret()
    db.session.add(application)
    db.session.flush()
    return application, secret


def update_application(application: Application, **fields: Any) -> Application:
    """Change an application's registration under the same rules as `register_application`.

    The scope requests are replaced by `fields["scopes"]`; options not given keep their value.
    The client secret is not touched, and an application cannot turn from a confidential client
    into a public one or back (a secret would linger or be missing): register another instead.
    When the scopes asked for change, every grant in force drops the scopes no longer asked
    for (a new version; one left with nothing ends), and every school with a grant (or a
    pending request) is asked again for what is new; the grants go on working meanwhile.
    """
    kept_options = {
        option: getattr(application, option)
        for option in KEPT_UNLESS_GIVEN
        if fields.get(option) is None
    }
    registration = Registration(**{**fields, **kept_options})
    registration.check()
    method = registration.token_endpoint_auth_method
    if (method == "none") != application.is_public:
        kind = "public" if application.is_public else "confidential"
        raise RegistrationError(
            f"a {kind} client cannot change to {method}; register a new application instead"
        )
    previous_name = application.name
    if registration.name.strip() != previous_name:
        check_not_imitating(registration.name, application.vendor)
    scopes_changed = registration.apply_to(application)
    db.session.flush()
    if application.name != previous_name:
        _tell_connected_schools_of_rename(application, previous_name)
    if scopes_changed:
        # What is no longer asked for stops being shared now; what is new is asked for.
        grants.drop_scopes_no_longer_asked(application)
        grants.ask_again_after_change(application)
    return application


def _tell_connected_schools_of_rename(application: Application, previous_name: str) -> None:
    """Keep the rename, and write it into the audit log of every school that approved the
    application (their dashboards show it beside the connection)."""
    rename = ApplicationRename(
        application=application, previous_name=previous_name, new_name=application.name
    )
    db.session.add(rename)
    db.session.flush()
    connected = db.session.scalars(
        select(Grant.school_id).where(
            Grant.application_id == application.id, Grant.status == GrantStatus.ACTIVE
        )
    )
    for school_id in connected:
        audit.record(
            AuditAction.APPLICATION_RENAMED,
            actor=application,
            school=school_id,
            application=application,
            previous_name=previous_name,
            new_name=application.name,
            summary=f"{previous_name} renamed itself {application.name}.",
        )


# Options an edit may leave out (the vendor's page shows no field for some of them).
KEPT_UNLESS_GIVEN = (
    "token_endpoint_auth_method",
    "require_pushed_authorization_requests",
    "access_token_format",
    "initiate_login_uri",
    "post_logout_redirect_uris",
)


class SchoolAccess(enum.StrEnum):
    """Where an application stands with one school, as its vendor sees it."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class SchoolStatus:
    """One school's answer to an application: the state, since when, and the grant in force."""

    school: School
    status: SchoolAccess
    since: dt.datetime
    grant: Grant | None = None
    request: AccessRequest | None = None

    @property
    def grant_version(self) -> int | None:
        """The version of the grant in force, if there is one (also while asking for more)."""
        return self.grant.version if self.grant and self.grant.is_in_force() else None


def _status_of(
    school: School, grant: Grant | None, requests: Sequence[AccessRequest]
) -> SchoolStatus | None:
    pending = next((r for r in requests if r.is_pending), None)
    if pending is not None:
        return SchoolStatus(school, SchoolAccess.PENDING, pending.created_at, grant, pending)
    if grant is not None and grant.is_in_force():
        return SchoolStatus(school, SchoolAccess.APPROVED, grant.approved_at, grant)
    # Nothing in force: the latest of the grant's end and the last refusal says why.
    ends: list[SchoolStatus] = []
    if grant is not None and grant.status == GrantStatus.REVOKED:
        ends.append(
            SchoolStatus(school, SchoolAccess.REVOKED, grant.revoked_at or grant.updated_at, grant)
        )
    elif grant is not None and grant.expires_at is not None:
        ends.append(SchoolStatus(school, SchoolAccess.EXPIRED, grant.expires_at, grant))
    latest = requests[-1] if requests else None
    if latest is not None and latest.status in {
        AccessRequestStatus.REJECTED,
        AccessRequestStatus.WITHDRAWN,
    }:
        state = SchoolAccess(latest.status.value)
        ends.append(
            SchoolStatus(school, state, latest.decided_at or latest.updated_at, grant, latest)
        )
    return max(ends, key=lambda s: s.since, default=None)


def school_statuses(application: Application) -> list[SchoolStatus]:
    """Every school the application has asked or been approved by, and where it stands there:
    pending (a request awaits the school), approved (a grant in force, with its version),
    rejected (the latest request refused, nothing in force), revoked (the grant withdrawn),
    expired or withdrawn. By school name."""
    grants = db.session.scalars(
        select(Grant)
        .where(Grant.application_id == application.id)
        .options(selectinload(Grant.school))
    )
    requests = db.session.scalars(
        select(AccessRequest)
        .where(AccessRequest.application_id == application.id)
        .order_by(AccessRequest.created_at, AccessRequest.id)
        .options(selectinload(AccessRequest.school))
    )
    schools: dict[int, School] = {}
    grant_of: dict[int, Grant] = {}
    requests_of: dict[int, list[AccessRequest]] = {}
    for grant in grants:
        schools[grant.school_id] = grant.school
        grant_of[grant.school_id] = grant
    for request in requests:
        schools[request.school_id] = request.school
        requests_of.setdefault(request.school_id, []).append(request)
    statuses = [
        _status_of(school, grant_of.get(school_id), requests_of.get(school_id, []))
        for school_id, school in schools.items()
    ]
    return sorted(
        (s for s in statuses if s is not None), key=lambda s: (s.school.name, s.school.urn)
    )


def scope_requests_from(
    required: Mapping[str, str], optional: Mapping[str, str] | None = None
) -> list[ScopeRequest]:
    """Build scope requests from {scope: purpose} maps of required and optional scopes."""
    return [ScopeRequest(s, p, True) for s, p in required.items()] + [
        ScopeRequest(s, p, False) for s, p in (optional or {}).items()
    ]
