"""Resource servers and token audiences: registering an API by its resource identifier (RFC
8707), rotating and removing its secret, and which resources a token may be meant for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from sqlalchemy import select

from authserver.domain import audit, credentials
from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models.applications import (
    LOOPBACK_HOSTS,
    RESOURCE_SERVER_PREFIX,
    Application,
    ResourceServer,
)
from authserver.models.columns import utcnow
from authserver.models.users import User

#: The platform's own resource API: its resource identifier is the issuer followed by this.
PLATFORM_API_PATH = "/api/v1"
#: How long the previous secret still works after a rotation unless the caller says otherwise:
#: long enough to deploy the new one to the resource server's instances without a gap.
DEFAULT_OVERLAP = dt.timedelta(hours=1)
MAX_OVERLAP = dt.timedelta(hours=24)
MAX_URL_LENGTH = 500

Actor = User | str


class ResourceServerError(ValueError):
    """A resource server's registration or change that breaks a rule; the message says which."""


class TargetRefused(ValueError):
    """A requested resource the application may not have a token for (RFC 8707 invalid_target)."""


def platform_api(issuer: str) -> str:
    """The resource identifier of the platform's own API (/api/v1)."""
    return issuer + PLATFORM_API_PATH


def check_url(url: str, *, allow_loopback_http: bool) -> str:
    """The URL as a resource identifier (RFC 8707 §2): absolute https, no fragment, no query, no
    user name; http only on loopback when `allow_loopback_http` (development). Scheme and host
    are lower-cased, since clients are matched against it exactly."""
    url = url.strip()
    if not url:
        raise ResourceServerError("enter the resource server's URL")
    if len(url) > MAX_URL_LENGTH:
        raise ResourceServerError(f"the URL must be at most {MAX_URL_LENGTH} characters")
    if any(character.isspace() or character in "\"'<>\\" for character in url):
        raise ResourceServerError("the URL contains a character it must not")
    try:
        parts = urlsplit(url)
        hostname, _ = parts.hostname, parts.port
    except ValueError:
        raise ResourceServerError("the URL is not a valid absolute URL") from None
    if not parts.netloc or not hostname or parts.scheme.lower() not in {"https", "http"}:
        raise ResourceServerError("the URL must be an absolute https URL")
    if parts.fragment or "#" in url:
        raise ResourceServerError("the URL must not contain a #fragment")
    if parts.query or "?" in url:
        raise ResourceServerError("the URL must not contain a ?query")
    if "@" in parts.netloc:
        raise ResourceServerError("the URL must not contain a user name or password")
    if parts.scheme.lower() == "http" and not (allow_loopback_http and hostname in LOOPBACK_HOSTS):
        raise ResourceServerError(
            "the URL must use https (http only on 127.0.0.1 or localhost, in development)"
        )
    return parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower()).geturl()


def register(
    name: str, url: str, *, actor: Actor, issuer: str, allow_loopback_http: bool
) -> tuple[ResourceServer, str]:
    """Add a resource server; returns it and its secret (shown once, kept as a digest)."""
    name = " ".join(name.split())
    if not name or len(name) > 200:
        raise ResourceServerError("give the resource server a name of 1 to 200 characters")
    url = check_url(url, allow_loopback_http=allow_loopback_http)
    if url == platform_api(issuer):
        raise ResourceServerError(f"{url} is the platform's own API")
    if db.session.scalar(select(ResourceServer.id).where(ResourceServer.url == url)):
        raise ResourceServerError(f"a resource server with the URL {url} is already registered")
    server = ResourceServer(
        name=name, url=url, client_id=credentials.new_identifier(RESOURCE_SERVER_PREFIX)
    )
    secret = server.issue_client_secret()
    db.session.add(server)
    db.session.flush()
    audit.record(
        AuditAction.RESOURCE_SERVER_REGISTERED,
        actor=actor,
        resource_server=server.client_id,
        name=name,
        url=url,
    )
    return server, secret


def rotate_secret(
    server: ResourceServer, *, actor: Actor, overlap: dt.timedelta = DEFAULT_OVERLAP
) -> str:
    """A new secret for the resource server; the current one keeps working for `overlap` (zero
    ends it at once, as after a leak). Returns the new secret, shown once."""
    if overlap < dt.timedelta(0) or overlap > MAX_OVERLAP:
        raise ResourceServerError("the old secret can keep working for at most 24 hours")
    now = utcnow()
    previous = server.client_secret_digest
    secret = server.issue_client_secret()
    server.previous_secret_digest = previous if overlap else None
    server.previous_secret_expires_at = now + overlap if overlap else None
    server.rotated_at = now
    audit.record(
        AuditAction.RESOURCE_SERVER_SECRET_ROTATED,
        actor=actor,
        resource_server=server.client_id,
        overlap_minutes=round(overlap.total_seconds() / 60),
    )
    return secret


def remove(server: ResourceServer, *, actor: Actor) -> None:
    """Remove the resource server: its secrets stop working at once and applications no longer
    declare it (tokens already issued for it introspect as inactive: nobody can ask)."""
    audit.record(
        AuditAction.RESOURCE_SERVER_REMOVED,
        actor=actor,
        resource_server=server.client_id,
        name=server.name,
        url=server.url,
    )
    db.session.delete(server)
    db.session.flush()


def all_resource_servers() -> list[ResourceServer]:
    """Every registered resource server, by name."""
    return list(
        db.session.scalars(select(ResourceServer).order_by(ResourceServer.name, ResourceServer.id))
    )


def find(client_id: str) -> ResourceServer | None:
    """The resource server with this client id, if any."""
    found: ResourceServer | None = db.session.scalar(
        select(ResourceServer).where(ResourceServer.client_id == client_id)
    )
    return found


def by_client_ids(client_ids: Iterable[str]) -> list[ResourceServer]:
    """The resource servers named by `client_ids`; an unknown one is refused, never dropped."""
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return []
    # Read while an application being registered is not yet in the session: no autoflush.
    with db.session.no_autoflush:
        found = {
            server.client_id: server
            for server in db.session.scalars(
                select(ResourceServer).where(ResourceServer.client_id.in_(wanted))
            )
        }
    unknown = [client_id for client_id in wanted if client_id not in found]
    if unknown:
        raise ResourceServerError(f"no resource server has the client id {unknown[0]}")
    return [found[client_id] for client_id in wanted]


def declared_audience(application: Application, issuer: str) -> list[str]:
    """Every resource the application may have tokens for: the platform's API, then the
    resource servers it declared."""
    return [platform_api(issuer), *(server.url for server in application.resource_servers)]


def choose_audience(requested: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """The audience of a token: the `requested` resources (RFC 8707 §2), each of which must be
    `allowed`; all of `allowed` when none is requested."""
    if not requested:
        return list(allowed)
    refused = [resource for resource in requested if resource not in allowed]
    if refused:
        raise TargetRefused(
            f"{refused[0]} is not a resource server this application may have tokens for"
        )
    return list(dict.fromkeys(requested))


def access_audience(stored: list[str] | None, issuer: str) -> list[str]:
    """An access token's audience: as stored, or for a token issued before audiences were
    stored, the platform's API only (what such tokens' JWTs named)."""
    return stored if stored is not None else [platform_api(issuer)]
