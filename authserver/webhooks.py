"""Signed webhook notifications to vendors' applications, sent from the outbox.

A change that a vendor should hear about adds an event to the outbox in its own transaction
(`authserver.domain.webhook_outbox.enqueue`); nothing is sent then. Once it commits, a message
on the task queue (`authserver.jobs`) has a worker call `deliver_one`, which sends the event
signed as Standard Webhooks (standardwebhooks.com) prescribes and, on failure, says when to try
again (exponential back-off, then hourly, for ever: an event is never dropped); the worker's
sweep finds deliveries whose message was lost (`overdue_deliveries`). `deliver_due` sends
everything due at once (`flask --app wsgi webhooks deliver`, and the worker without a broker).
A receiver that is slow, failing or gone therefore never holds up the person making the change.
See docs/webhooks.md for what a receiver sees and how it checks the signature.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import secrets
import socket
import threading
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from cryptography.fernet import InvalidToken
from flask import current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import Select, select, update
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from authserver.domain.credentials import MACHINE_SECRET_BYTES, seal, unseal
from authserver.extensions import db
from authserver.models.applications import LOOPBACK_HOSTS, Application
from authserver.models.columns import utcnow
from authserver.models.webhooks import WebhookDelivery, WebhookDeliveryStatus

log = logging.getLogger("authserver.webhooks")

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SEAL_PURPOSE = "webhook secrets"
SIGNATURE_VERSION = "v1"
MAX_URL_LENGTH = 500
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_WAIT = dt.timedelta(hours=1)
MAX_ERROR_LENGTH = 200
USER_AGENT = "SchoolDataAccess-Webhooks/1"
WAITING = (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING)


class WebhookURLError(ValueError):
    """A webhook URL we refuse to send to; the message says why."""


class Headers(Protocol):
    """Anything with `items()`: a dict, `requests`' or Werkzeug's headers, an `http.server`
    request's `headers`."""

    def items(self) -> Any: ...


# --- Configuring an application's webhook -----------------------------------------------------


#: Local-use NAT64 (RFC 8215): the IPv4 address may sit anywhere after the prefix, so the whole
#: block is refused rather than guessed at.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
#: The well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
#: The generic message a vendor sees for any failure to reach the host, whatever the cause: a
#: name that does not resolve, an address refused here, a closed port or an unreachable host
#: must read alike, or the message would help map the server's own network.
UNREACHABLE = "could not connect to the webhook host"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressInfo = tuple[Any, ...]  # one of socket.getaddrinfo's answers


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: IPv4-mapped, 6to4, NAT64 or the old
    IPv4-compatible form; None for a plain IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_WELL_KNOWN or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: Address) -> bool:
    """Whether a production server may connect to `ip`: global, not multicast, and not an
    IPv6 form of an IPv4 address that is not (Python's own tables differ between versions)."""
    if ip.is_multicast or not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL_USE:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not is_public_address(embedded):
            return False
    return True


def _address_of(info: AddressInfo) -> Address:
    return ipaddress.ip_address(str(info[4][0]).split("%")[0])


def refuses_internal_address(url: str) -> str | None:
    """Why events must not be sent to `url` from a production server, or None: a vendor must
    not be able to make us call into our own network (SSRF), so every address the name
    resolves to must be public. The worker checks the very addresses it then connects to."""
    parts = urlsplit(url)
    try:
        resolved = _resolve(parts.hostname or "", _port_of(parts.scheme, parts.port))
    except OSError:
        return UNREACHABLE
    return None if all(is_public_address(_address_of(info)) for info in resolved) else UNREACHABLE


def _port_of(scheme: str, port: int | None) -> int:
    return port if port is not None else {"https": 443, "http": 80}.get(scheme, 443)


def _resolve(host: str, port: int) -> list[AddressInfo]:
    """Every address `host` has for a TCP connection to `port`, looked up once."""
    return list(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))


def _resolve_within(host: str, port: int, seconds: float) -> list[AddressInfo]:
    """As `_resolve`, giving up after `seconds` (TimeoutError): the system's resolver takes no
    timeout, and a vendor's slow name server must not hold the worker for ever."""
    found: list[AddressInfo] = []
    failed: list[OSError] = []
    done = threading.Event()

    def look_up() -> None:
        try:
            found.extend(_resolve(host, port))
        except OSError as failure:
            failed.append(failure)
        finally:
            done.set()

    # A daemon thread: one stuck in the resolver is left behind, not waited for.
    threading.Thread(target=look_up, name="webhook-dns", daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(f"no DNS answer within {seconds:g} s")
    if failed:
        raise failed[0]
    return found


def check_webhook_url(url: str) -> str:
    """The URL, trimmed, if events may be sent to it: absolute https (plain http only to
    loopback, for development), no user name or password, no fragment."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise WebhookURLError(f"the webhook URL must be at most {MAX_URL_LENGTH} characters")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise WebhookURLError("the webhook URL must not contain spaces")
    parts = urlsplit(url)
    if parts.username is not None or "@" in parts.netloc:
        raise WebhookURLError("the webhook URL must not contain a user name or password")
    if parts.fragment or "#" in url:
        raise WebhookURLError("the webhook URL must not contain a fragment (#...)")
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise WebhookURLError("the webhook URL must be an absolute https URL")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when asked)
    except ValueError:
        raise WebhookURLError("the webhook URL has a port that is not a number") from None
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise WebhookURLError("the webhook URL must use https (plain http only on 127.0.0.1)")
    return url


def new_signing_secret() -> str:
    """A fresh signing secret as vendors see it: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(MACHINE_SECRET_BYTES)).decode()


def set_webhook(application: Application, url: str) -> str:
    """Send the application's events to `url`, signed with a new secret, which is returned to
    be shown once (the previous secret stops signing at once). Raises WebhookURLError."""
    url = check_webhook_url(url)
    if current_app.config["SETTINGS"].is_production and urlsplit(url).scheme != "https":
        raise WebhookURLError("the webhook URL must use https")
    application.webhook_url = url
    secret = new_signing_secret()
    application.webhook_secret_sealed = seal(
        secret.encode("ascii"), secret_key=current_app.config["SECRET_KEY"], purpose=SEAL_PURPOSE
    )
    return secret


def remove_webhook(application: Application) -> None:
    """Stop sending; events not yet delivered are kept, and go out if a URL is set again."""
    application.webhook_url = None
    application.webhook_secret_sealed = None


def signing_secret(application: Application) -> str | None:
    """The application's signing secret, unsealed (for signing; never shown again)."""
    if not application.webhook_secret_sealed:
        return None
    return unseal(
        application.webhook_secret_sealed,
        secret_key=current_app.config["SECRET_KEY"],
        purpose=SEAL_PURPOSE,
    ).decode("ascii")


# --- Signing -----------------------------------------------------------------------------------


def _secret_bytes(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook signing secret is whsec_ and base64") from None


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` and base64 of HMAC-SHA256 over id.timestamp.body."""
    content = f"{event_id}.{timestamp}.".encode() + body
    mac = hmac.new(_secret_bytes(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac).decode('ascii')}"


def signed_headers(
    secret: str, event_id: str, body: bytes, *, now: dt.datetime | None = None
) -> dict[str, str]:
    timestamp = int((now or utcnow()).timestamp())
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, event_id, timestamp, body),
    }


def verify_signature(
    secret: str,
    headers: Headers,
    body: bytes,
    *,
    tolerance_seconds: int = 300,
    now: dt.datetime | None = None,
) -> bool:
    """Whether `body` came signed with `secret` (a `whsec_...` string) within
    `tolerance_seconds` of `now`: what a receiver checks before trusting a delivery."""
    found = {str(name).lower(): str(value) for name, value in headers.items()}
    event_id = found.get("webhook-id")
    timestamp = found.get("webhook-timestamp", "")
    signatures = found.get("webhook-signature", "")
    if not event_id or not timestamp.isdigit() or not signatures:
        return False
    moment = (now or utcnow()).timestamp()
    if abs(moment - int(timestamp)) > tolerance_seconds:
        return False
    if isinstance(body, str):
        body = body.encode("utf-8")
    expected = sign(secret, event_id, int(timestamp), body).encode("ascii")
    return any(
        hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
        for candidate in signatures.split()
    )


# --- The worker --------------------------------------------------------------------------------


def backoff(failed_attempts: int) -> dt.timedelta:
    """How long to wait after the n-th failed attempt: 30 s, 1, 2, 4 ... minutes, at most 1 h."""
    exponent = max(failed_attempts - 1, 0)
    if exponent >= 8:  # 30 s * 2^7 is already past the hour
        return LONGEST_WAIT
    return min(FIRST_RETRY * 2**exponent, LONGEST_WAIT)


def _waiting() -> Select[tuple[WebhookDelivery]]:
    """Deliveries still to send to an application that has a webhook URL."""
    return (
        select(WebhookDelivery)
        .join(Application, Application.id == WebhookDelivery.application_id)
        .where(WebhookDelivery.status.in_(WAITING), Application.webhook_url.is_not(None))
    )


def _claim_next(now: dt.datetime) -> WebhookDelivery | None:
    """The oldest due delivery, locked for this worker's transaction; rows another worker holds
    are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite has one writer anyway)."""
    return db.session.scalar(
        _waiting()
        .where(WebhookDelivery.next_attempt_at <= now)
        # Oldest event first, so a receiver that comes back hears of changes in their order.
        .order_by(WebhookDelivery.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """The delivery, locked for this worker's transaction, if it is still to send and no other
    worker holds it (the same claim as `_claim_next`, for one row)."""
    return db.session.scalar(
        _waiting()
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )


class UnreachableHost(requests.ConnectionError):
    """The host cannot be sent to: it does not resolve, or not only to addresses we allow."""


class PinnedTransport(HTTPAdapter):
    """A transport that connects to `host` only at `addresses` (resolved and checked before),
    never resolving the name again, so a DNS answer that changes between check and connect
    (rebinding) is never used; the Host header, TLS's SNI and its certificate check still use
    the name. Each exchange must also end within `seconds`, all told: requests' timeout bounds
    each read, so a receiver that trickles its answer a byte at a time would otherwise hold the
    worker for ever; at the deadline the sockets it opened are shut."""

    def __init__(self, seconds: float, host: str, addresses: list[AddressInfo]) -> None:
        self.seconds = seconds
        self.host = _host_key(host)
        self.addresses = addresses
        self.expired = threading.Event()
        self._sockets: list[socket.socket] = []
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The pool manager, with connections that open their sockets as `_connect` does."""
        super().init_poolmanager(*args, **kwargs)
        transport = self

        def pinned(pool_class: Any) -> type:
            class Connection(pool_class.ConnectionCls):
                def _new_conn(self) -> socket.socket:
                    return transport._connect(self)

            return type(pool_class.__name__, (pool_class,), {"ConnectionCls": Connection})

        manager = self.poolmanager
        manager.pool_classes_by_scheme = {
            scheme: pinned(pool_class)
            for scheme, pool_class in manager.pool_classes_by_scheme.items()
        }

    def _connect(self, connection: Any) -> socket.socket:
        """A socket connected to the first of the checked addresses that answers."""
        if _host_key(connection.host) != self.host:
            raise NewConnectionError(connection, "not the host whose addresses were checked")
        failure: OSError | None = None
        for family, kind, protocol, _, address in self.addresses:
            sock = socket.socket(family, kind, protocol)
            try:
                for option in connection.socket_options or ():
                    sock.setsockopt(*option)
                if isinstance(connection.timeout, int | float):
                    sock.settimeout(connection.timeout)
                if connection.source_address:
                    sock.bind(connection.source_address)
                sock.connect(address)
            except OSError as error:
                sock.close()
                failure = error
                continue
            self._sockets.append(sock)
            return sock
        if isinstance(failure, TimeoutError):
            raise ConnectTimeoutError(connection, "connect timed out") from failure
        raise NewConnectionError(connection, f"could not connect: {failure}") from failure

    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        """Send as HTTPAdapter does, giving up when the deadline passes (requests.Timeout)."""
        timer = threading.Timer(self.seconds, self._expire)
        timer.daemon = True
        timer.start()
        try:
            response = super().send(*args, **kwargs)
        except requests.RequestException as failure:
            if self.expired.is_set():
                raise requests.Timeout(f"no answer within {self.seconds:g} s") from failure
            raise
        finally:
            timer.cancel()
        # A shut socket can also read as the end of a truncated answer: not an answer at all.
        if self.expired.is_set():
            response.close()
            raise requests.Timeout(f"no answer within {self.seconds:g} s")
        return response

    def _expire(self) -> None:
        self.expired.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):  # already closed: nothing to stop
                sock.shutdown(socket.SHUT_RDWR)


def _host_key(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _post(
    url: str, body: bytes, headers: dict[str, str], timeout_seconds: float, *, public_only: bool
) -> int:
    """POST `body` and return the answer's status, all within `timeout_seconds`; raises
    requests.RequestException (requests.Timeout when the time ran out, UnreachableHost when the
    name does not resolve or, with `public_only`, resolves to any address that is not public).

    The name is resolved once, here, and the connection made to those very addresses."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = _resolve_within(host, _port_of(parts.scheme, parts.port), timeout_seconds)
    except OSError as failure:
        log.warning("webhook host %s does not resolve: %s", host, failure)
        raise UnreachableHost(UNREACHABLE) from None
    if public_only:
        refused = sorted(
            {str(_address_of(i)) for i in addresses if not is_public_address(_address_of(i))}
        )
        if refused:
            # The operator may see where the name led; the vendor sees only UNREACHABLE.
            log.warning("webhook host %s refused: it resolves to %s", host, ", ".join(refused))
            raise UnreachableHost(UNREACHABLE)
    with requests.Session() as http:  # one per attempt: the deadline is the exchange's own
        # No proxies, .netrc credentials or CA bundles from the environment: only what is here.
        http.trust_env = False
        transport = PinnedTransport(timeout_seconds, host, addresses)
        http.mount("https://", transport)
        http.mount("http://", transport)
        with http.post(
            url,
            data=body,
            headers=headers,
            timeout=timeout_seconds,
            allow_redirects=False,
            stream=True,  # the answer's body is never read
        ) as response:
            return response.status_code


def _describe(error: requests.RequestException, timeout_seconds: float) -> str:
    """A short account of a failed send, for the vendor's page (never a secret)."""
    if isinstance(error, requests.Timeout):
        return f"no answer within {timeout_seconds:g} s"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS failed (certificate or handshake)"
    if isinstance(error, requests.ConnectionError):
        if "Connection aborted" in str(error):
            return "the connection was closed without an answer"
        # Refused, unreachable and refused by policy alike (see UNREACHABLE).
        return UNREACHABLE
    return f"could not send ({type(error).__name__})"


def _attempt(
    delivery: WebhookDelivery,
    *,
    now: dt.datetime,
    timeout_seconds: float,
) -> bool:
    """Send the delivery once and record the outcome on it; True when delivered (2xx)."""
    application = delivery.application
    delivery.attempts += 1
    delivery.last_attempt_at = now
    status_code: int | None = None
    error: str | None = None
    try:
        secret = signing_secret(application)
    except InvalidToken:
        secret, error = None, "the signing secret cannot be read (was SECRET_KEY changed?)"
    # Production sends only to public addresses; development and tests reach loopback receivers.
    public_only = current_app.config["SETTINGS"].is_production
    if error is None and secret is not None and application.webhook_url:
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signed_headers(secret, delivery.event_id, body, now=now),
        }
        try:
            status_code = _post(
                application.webhook_url, body, headers, timeout_seconds, public_only=public_only
            )
        except requests.RequestException as failure:
            error = _describe(failure, timeout_seconds)
        except Exception as failure:  # one odd delivery must not stop the worker for all others
            log.exception("webhook %s could not be sent", delivery.event_id)
            error = f"could not send ({type(failure).__name__})"
    elif error is None:
        error = "no signing secret: set the webhook URL again"
    delivery.last_status_code = status_code
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = None
        return True
    delivery.status = WebhookDeliveryStatus.RETRYING
    delivery.last_error = (error or f"HTTP {status_code}")[:MAX_ERROR_LENGTH]
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    return False


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one message for a delivery came to: `retry_at` is when its next message is due
    (None: no further message, because it was delivered, or this message was a duplicate)."""

    delivered: bool = False
    failed: bool = False
    retry_at: dt.datetime | None = None


def deliver_one(
    delivery_id: int,
    attempts: int,
    *,
    now: dt.datetime | None = None,
    timeout_seconds: float = 5.0,
) -> Outcome:
    """Send the delivery once if it is due, committed; `attempts` is the count its message was
    scheduled at, so that of two messages for one attempt (the sweep's and a slow original),
    the second finds the count moved on and is dropped rather than doubling the chain."""
    moment = now or utcnow()
    delivery = _claim(delivery_id)
    if delivery is None or delivery.attempts != attempts or delivery.next_attempt_at is None:
        # Delivered, no URL now, a duplicate, or another worker holds it and will go on.
        db.session.rollback()
        return Outcome()
    if delivery.next_attempt_at > moment:
        # Early (another machine's clock, a replay's fresh schedule): wait out the rest.
        retry_at = delivery.next_attempt_at
        db.session.rollback()
        return Outcome(retry_at=retry_at)
    delivered = _attempt(delivery, now=moment, timeout_seconds=timeout_seconds)
    event_id, error, retry_at = delivery.event_id, delivery.last_error, delivery.next_attempt_at
    client_id, attempts = delivery.application.client_id, delivery.attempts
    db.session.commit()
    if delivered:
        log.info("webhook %s delivered to %s", event_id, client_id)
        return Outcome(delivered=True)
    log.warning("webhook %s to %s failed (attempt %d): %s", event_id, client_id, attempts, error)
    return Outcome(failed=True, retry_at=retry_at)


def overdue_deliveries(
    now: dt.datetime, grace: dt.timedelta, limit: int = 1000
) -> list[tuple[int, int]]:
    """(id, attempts) of deliveries due for longer than `grace`: their message is taken to be
    lost (a broker that dropped it, a process that died before the broker heard of it)."""
    rows = db.session.execute(
        _waiting()
        .where(WebhookDelivery.next_attempt_at <= now - grace)
        .order_by(WebhookDelivery.id)
        .limit(limit)
        .with_only_columns(WebhookDelivery.id, WebhookDelivery.attempts)
    )
    return [(row.id, row.attempts) for row in rows]


def mark_resent(delivery_ids: list[int], now: dt.datetime) -> None:
    """Note that the sweep has just re-sent these deliveries' messages (they stay due, and
    the next sweep gives them a grace period again). Does not commit."""
    if delivery_ids:
        db.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids))
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


def deliver_due(
    *, now: dt.datetime | None = None, limit: int = 50, timeout_seconds: float = 5.0
) -> dict[str, int]:
    """Send up to `limit` due deliveries, one transaction each (committed per delivery); returns
    how many were delivered and how many attempts failed (those wait, then go again).

    `now` fixes the clock (for tests); by default each attempt uses the current time."""
    counts = {"delivered": 0, "failed": 0}
    for _ in range(limit):
        moment = now or utcnow()
        delivery = _claim_next(moment)
        if delivery is None:
            db.session.rollback()
            break
        delivered = _attempt(delivery, now=moment, timeout_seconds=timeout_seconds)
        event_id, attempts, error = delivery.event_id, delivery.attempts, delivery.last_error
        client_id = delivery.application.client_id
        db.session.commit()
        if delivered:
            counts["delivered"] += 1
            log.info("webhook %s delivered to %s", event_id, client_id)
        else:
            counts["failed"] += 1
            log.warning(
                "webhook %s to %s failed (attempt %d): %s", event_id, client_id, attempts, error
            )
    return counts
