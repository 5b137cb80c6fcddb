"""Settings read once from the environment, typed, with safe development defaults."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authserver import instance

ENVIRONMENTS = ("development", "production", "testing")


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Every setting the server reads; the environment variable is the upper-cased name."""

    env: str = "development"
    database_url: str = ""
    secret_key: str = ""
    issuer: str = "http://127.0.0.1:5000"
    instance_path: str = ""
    access_token_ttl_seconds: int = 3600
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    authorization_code_ttl_seconds: int = 60
    par_request_ttl_seconds: int = 60
    school_secret_overlap_seconds: int = 600
    bcrypt_rounds: int = 12
    trusted_proxy_count: int = 0
    redis_url: str = ""
    # Redis (redis://) or RabbitMQ (amqp://) for background jobs; empty: run them in-process.
    task_broker_url: str = ""
    task_queue_prefix: str = "authserver"
    task_redis_heartbeat_timeout_seconds: int = 60
    sign_in_failures_per_account: str = "10 per 15 minutes"
    sign_in_failures_per_address: str = "50 per 15 minutes"
    vendor_sign_ups_per_address: str = "10 per hour"
    # Wrong second-factor codes (at sign-in, step-up or on the account page): a six-digit code
    # must not be guessable by trying.
    second_factor_failures_per_account: str = "5 per 15 minutes"
    second_factor_failures_per_address: str = "50 per 15 minutes"
    # Approving special-category data asks for the second factor again when the last check
    # is older than this.
    step_up_minutes: int = 15
    token_requests_per_client: str = "300 per minute"  # noqa: S105 (a rate, not a secret)
    introspection_requests_per_resource_server: str = "6000 per minute"
    api_requests_per_token: str = "1200 per minute"  # noqa: S105 (a rate, not a secret)
    connector_requests_per_token: str = "600 per minute"  # noqa: S105 (a rate, not a secret)
    # A full snapshot may remove at most this share of a school's pupils or staff unless the
    # connector says the removal is intended (a wrong MIS filter must not empty a school).
    snapshot_deletion_guard_percent: int = 20
    # How far before the moment of a read `sync_from` (where a vendor's next sync starts) is
    # put: longer than any write outside an ingest (a request's) takes from the moment it
    # stamps a record to its commit, with the servers' clocks' disagreement. No request runs
    # longer than gunicorn's timeout (30 s unless `--timeout` says otherwise); an ingest's
    # writes are covered by its own marker, whatever they take (see views.sync_from).
    sync_from_skew_seconds: int = 30
    # Browser sessions: idle limits (shorter for anyone who may approve or manage), and the
    # longest a session may last however busy.
    session_idle_minutes_privileged: int = 30
    session_idle_minutes: int = 120
    session_absolute_hours: int = 12
    # Members' sessions (pupils, staff and parents signing in to their school's applications):
    # idle limits on a shared classroom device and elsewhere; the absolute limit is as above.
    member_session_idle_minutes_shared: int = 10
    member_session_idle_minutes: int = 120
    # Pupils' QR badges (256 random bits: never guessed, so these stop a copied or old badge
    # being tried over and over, not guessing). Every attempt with one badge counts against
    # that badge alone; only refused badges count against an address, which a whole school's
    # devices may share, so its limit is generous and its window short.
    badge_sign_ins_per_badge: str = "10 per 10 minutes"
    badge_sign_in_failures_per_address: str = "100 per 10 minutes"
    # Password resets asked for, counted whatever the answer (it never says whether the
    # address has an account), per address asked about and per IP address.
    password_resets_per_account: str = "5 per hour"  # noqa: S105 (a rate, not a secret)
    password_resets_per_address: str = "30 per hour"  # noqa: S105 (a rate, not a secret)
    # Mail: "smtp" sends through SMTP_HOST; "file" writes each message as an .eml file under
    # instance/mail/ (the default outside production). Empty: smtp in production, file elsewhere.
    mail_backend: str = ""
    mail_from: str = ""
    smtp_host: str = "localhost"
    # 0: the TLS mode's usual port (587 for starttls, 465 for ssl, 25 for none).
    smtp_port: int = 0
    smtp_tls: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: int = 10
    log_level: str = "INFO"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def is_production(self) -> bool:
        return self.env == "production"


_INT_FIELDS = {f.name for f in fields(Settings) if f.type == "int"}
RATE_LIMIT_SETTINGS = (
    "sign_in_failures_per_account",
    "sign_in_failures_per_address",
    "badge_sign_ins_per_badge",
    "badge_sign_in_failures_per_address",
    "vendor_sign_ups_per_address",
    "second_factor_failures_per_account",
    "second_factor_failures_per_address",
    "token_requests_per_client",
    "introspection_requests_per_resource_server",
    "api_requests_per_token",
    "connector_requests_per_token",
    "password_resets_per_account",
    "password_resets_per_address",
)
MAIL_BACKENDS = ("smtp", "file")
SMTP_TLS_MODES = {"starttls": 587, "ssl": 465, "none": 25}


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = environ.get(f.name.upper())
        if raw is None or raw == "":
            continue
        if f.name in _INT_FIELDS:
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise ConfigError(f"{f.name.upper()} must be a whole number, got {raw!r}") from None
        else:
            values[f.name] = raw
    # APP_ENV is the conventional name; ENV alone is too easily set by other tools.
    if environ.get("APP_ENV"):
        values["env"] = environ["APP_ENV"]
    else:
        values.pop("env", None)
    return values


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build the settings from the environment, then `overrides`, then check them."""
    environ = os.environ if environ is None else environ
    values = _from_environment(environ)
    extra: dict[str, Any] = {}
    known = {f.name for f in fields(Settings)}
    for key, value in (overrides or {}).items():
        name = "env" if key == "APP_ENV" else key.lower()
        if name in known - {"extra"}:
            values[name] = value
        elif key.isupper() and not key.startswith(("SQLALCHEMY_", "WTF_", "SESSION_", "TESTING")):
            raise ConfigError(f"unknown setting {key}")
        else:
            # Flask and extension settings pass straight through to app.config.
            extra[key] = value
    settings = replace(Settings(), **values, extra=extra)
    return _finish(settings)


def _finish(settings: Settings) -> Settings:
    if settings.env not in ENVIRONMENTS:
        raise ConfigError(f"APP_ENV must be one of {', '.join(ENVIRONMENTS)}; got {settings.env!r}")
    instance_path = settings.instance_path or str(Path.cwd() / "instance")
    settings = replace(settings, instance_path=instance_path)
    database_url = settings.database_url or f"sqlite:///{Path(instance_path) / 'authserver.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    settings = replace(settings, database_url=database_url)

    for name in ("access_token_ttl_seconds", "authorization_code_ttl_seconds"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name.upper()} must be positive")
    # RFC 6749 §4.1.2 recommends at most ten minutes; we hold codes to one.
    if settings.authorization_code_ttl_seconds > 60:
        raise ConfigError("AUTHORIZATION_CODE_TTL_SECONDS must be 60 or less")
    if not 4 <= settings.bcrypt_rounds <= 16:
        raise ConfigError("BCRYPT_ROUNDS must be between 4 and 16")
    if settings.is_production and settings.bcrypt_rounds < 12:
        raise ConfigError("BCRYPT_ROUNDS must be 12 or more in production")
    if settings.step_up_minutes < 1:
        raise ConfigError("STEP_UP_MINUTES must be 1 or more")
    if settings.school_secret_overlap_seconds < 0:
        raise ConfigError("SCHOOL_SECRET_OVERLAP_SECONDS must be 0 or more")
    if settings.sync_from_skew_seconds < 0:
        raise ConfigError("SYNC_FROM_SKEW_SECONDS must be 0 or more")
    if settings.trusted_proxy_count < 0:
        raise ConfigError("TRUSTED_PROXY_COUNT must be 0 or more")
    if settings.task_broker_url and urlsplit(settings.task_broker_url).scheme not in (
        "redis",
        "rediss",
        "amqp",
        "amqps",
    ):
        raise ConfigError("TASK_BROKER_URL must be a redis:// or amqp:// URL, or empty")
    if not settings.task_queue_prefix.replace("_", "").isalnum():
        raise ConfigError("TASK_QUEUE_PREFIX must be letters, digits and underscores")
    if settings.task_redis_heartbeat_timeout_seconds < 1:
        raise ConfigError("TASK_REDIS_HEARTBEAT_TIMEOUT_SECONDS must be 1 or more")
    for name in RATE_LIMIT_SETTINGS:
        _check_rate_limit(name, getattr(settings, name))

    issuer = urlsplit(settings.issuer)
    if issuer.query or issuer.fragment or not issuer.netloc:
        raise ConfigError("ISSUER must be an absolute URL without query or fragment")
    if settings.issuer.endswith("/"):
        settings = replace(settings, issuer=settings.issuer.rstrip("/"))
    loopback = issuer.hostname in {"127.0.0.1", "localhost", "::1"}
    # RFC 8414 §2: the issuer is https; plain http only on loopback during development.
    if issuer.scheme != "https" and not (
        issuer.scheme == "http" and loopback and not settings.is_production
    ):
        raise ConfigError(
            "ISSUER must use https (http is allowed only on 127.0.0.1 in development)"
        )

    if settings.is_production:
        if not settings.secret_key:
            raise ConfigError("SECRET_KEY must be set in production (a long random string)")
        if database_url.startswith("sqlite"):
            raise ConfigError("DATABASE_URL must point to PostgreSQL in production, not SQLite")
    elif not settings.secret_key:
        settings = replace(settings, secret_key=_development_secret_key(Path(instance_path)))
    return _finish_mail(settings)


def _finish_mail(settings: Settings) -> Settings:
    """Resolve the mail backend and port, refusing what could not send (or would not, in
    production: the file backend writes mail nobody receives)."""
    backend = settings.mail_backend or ("smtp" if settings.is_production else "file")
    if backend not in MAIL_BACKENDS:
        raise ConfigError(f"MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}")
    if settings.smtp_tls not in SMTP_TLS_MODES:
        raise ConfigError(f"SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}")
    port = settings.smtp_port or SMTP_TLS_MODES[settings.smtp_tls]
    if not 0 < port < 65536:
        raise ConfigError("SMTP_PORT must be a port number (1 to 65535)")
    if settings.smtp_timeout_seconds < 1:
        raise ConfigError("SMTP_TIMEOUT_SECONDS must be 1 or more")
    if settings.is_production and backend != "smtp":
        raise ConfigError("MAIL_BACKEND must be smtp in production")
    mail_from = settings.mail_from or f"no-reply@{urlsplit(settings.issuer).hostname}"
    if "@" not in mail_from or any(c in mail_from for c in "\r\n"):
        raise ConfigError("MAIL_FROM must be one email address")
    return replace(settings, mail_backend=backend, smtp_port=port, mail_from=mail_from)


def _check_rate_limit(name: str, value: str) -> None:
    """A limit Flask-Limiter would only refuse at the first request is refused at start-up."""
    from limits import parse_many

    try:
        rates = parse_many(value)
    except ValueError:
        rates = []
    # Zero would refuse every request: a limit is never a way to switch an endpoint off.
    if not rates or any(rate.amount < 1 for rate in rates):
        raise ConfigError(f"{name.upper()} must be a rate such as '300 per minute', got {value!r}")


def _development_secret_key(instance_path: Path) -> str:
    """A key generated once per checkout and kept in instance/, so sessions survive restarts."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    try:
        fd = instance.create_file(key_file)
    except FileExistsError:  # another worker won the race; use its key
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
