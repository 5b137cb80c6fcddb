"""The authorisation server for school data sharing: `create_app` is the composition root."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import URL, make_url

from authserver import instance
from authserver.config import Settings, load_settings
from authserver.redaction import keep_secrets_out_of_logs

SOURCE_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application; `config` overrides settings read from the environment."""
    settings = load_settings(config)
    app = Flask(
        __name__,
        instance_path=settings.instance_path,
        template_folder=str(SOURCE_ROOT / "templates"),
        static_folder=str(SOURCE_ROOT / "static"),
    )
    _configure(app, settings)
    if settings.trusted_proxy_count:
        # Behind TLS-terminating proxies, trust their X-Forwarded-* headers (and only theirs).
        from werkzeug.middleware.proxy_fix import ProxyFix

        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_error_pages(app)
    return app


#: The few endpoints (or blueprints) that take more than MAX_CONTENT_LENGTH: a connector's
#: batches of 10,000 records (gzip or not) and a school's uploaded CTF or OneRoster file.
#: Applied by authserver.web.malformed_input before anything reads a body.
LARGE_BODIES = {"connector": 32 * 1024 * 1024, "school_data.upload": 51 * 1024 * 1024}


def _configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.is_development and settings.env != "testing",
        # Sign-in and consent forms are short; nothing legitimate needs more.
        MAX_CONTENT_LENGTH=1024 * 1024,
        BODY_LIMITS=LARGE_BODIES,
        JSON_SORT_KEYS=False,
    )
    app.config.update(settings.extra)
    logging.getLogger("authserver").setLevel(settings.log_level)
    keep_secrets_out_of_logs()


DATABASE_CONNECT_TIMEOUT_SECONDS = 3


def _engine_options(database_url: str) -> dict[str, Any]:
    # SQL parameters carry password hashes and secret digests: keep them out of SQL logging
    # and out of the text of database errors, which end up in logs.
    hidden = {"hide_parameters": True}
    if database_url.startswith("sqlite"):
        return {**hidden, "connect_args": {"timeout": 15}}
    # A database that accepts the connection but never answers must not hang requests: after
    # DATABASE_CONNECT_TIMEOUT_SECONDS the request gets a 503 (a URL's own connect_timeout wins).
    return {
        **hidden,
        "pool_pre_ping": True,
        "pool_size": 5,
        "max_overflow": 5,
        "connect_args": {"connect_timeout": DATABASE_CONNECT_TIMEOUT_SECONDS}
        if "connect_timeout=" not in database_url
        else {},
    }


def _init_extensions(app: Flask) -> None:
    from authserver import models  # noqa: F401  (every table on the metadata)
    from authserver.extensions import csrf, db, limiter, migrate
    from authserver.models.columns import render_migration_item

    database = _sqlite_path(app.config["SQLALCHEMY_DATABASE_URI"])
    if database is not None and not database.is_absolute():
        # Flask-SQLAlchemy puts a relative SQLite path in the instance folder, making it with
        # the umask's mode when it is missing: make it first, owner-only.
        instance.make_folder(Path(app.instance_path))
    db.init_app(app)
    # Batch mode lets Alembic alter SQLite tables (it has almost no ALTER TABLE).
    migrate.init_app(
        app,
        db,
        directory=str(SOURCE_ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        render_item=render_migration_item,
    )
    csrf.init_app(app)
    settings = app.config["SETTINGS"]
    # Redis shares counts across workers and machines; memory suits one process.
    from authserver.web import limiter_storage

    app.config.setdefault(
        "RATELIMIT_STORAGE_URI", settings.redis_url or f"{limiter_storage.SCHEME}://"
    )
    # Should Redis go away, count in this process's memory until it is back, rather than fail
    # every request; and never wait long for it.
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1})
    limiter.init_app(app)
    from authserver import jobs

    jobs.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _tune_sqlite(app)


def _tune_sqlite(app: Flask) -> None:
    from sqlalchemy import event

    from authserver.extensions import db

    with app.app_context():
        engine = db.engine
    database = _sqlite_path(engine.url)
    if database is not None:
        # SQLite would create the file with the umask's mode; its -wal and -shm files take the
        # database's mode.
        instance.create_empty_file(database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed while one writer commits; foreign keys are off by default.
        cursor.execute("PRAGMA foreign_keys=ON")
        if ":memory:" not in str(engine.url) and engine.url.database:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def _sqlite_path(url: str | URL) -> Path | None:
    """The file of a SQLite database URL (None: another database, in memory, a URI name)."""
    url = make_url(url)
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)


def _register_blueprints(app: Flask) -> None:
    from werkzeug.routing import IntegerConverter

    class DatabaseId(IntegerConverter):
        """`<int:...>` in our URLs is a database id: out of range is simply not found."""

        def __init__(self, url_map: object, *args: object, **kwargs: object) -> None:
            kwargs.setdefault("min", 1)
            kwargs.setdefault("max", 2**31 - 1)  # PostgreSQL's integer
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = DatabaseId
    from authserver.api import bp as api_bp
    from authserver.connector import bp as connector_bp
    from authserver.extensions import csrf
    from authserver.oauth.server import init_server
    from authserver.oauth.views import bp as oauth_bp
    from authserver.web import security_headers
    from consent.account import bp as account_bp
    from consent.authorize import bp as authorize_bp
    from consent.badges import bp as badges_bp
    from consent.dashboard import bp as dashboard_bp
    from consent.launcher import bp as launcher_bp
    from consent.member_signin import bp as members_bp
    from consent.openid_sign_in import bp as openid_bp
    from consent.password_reset import bp as password_reset_bp
    from consent.people import bp as people_bp
    from consent.platform import bp as platform_bp
    from consent.platform_vendors import bp as platform_vendors_bp
    from consent.resource_servers import bp as resource_servers_bp
    from consent.school_data import bp as school_data_bp
    from consent.school_sign_in import bp as school_sign_in_bp
    from consent.second_factor import bp as second_factor_bp
    from consent.signin import bp as signin_bp
    from consent.transparency import bp as transparency_bp
    from consent.vendor import bp as vendor_bp
    from consent.vendor_signup import bp as vendor_signup_bp
    from consent.views import bp as consent_bp

    init_server(app)
    # Machine endpoints authenticate clients and tokens, never cookies: CSRF does not apply.
    csrf.exempt(oauth_bp)
    csrf.exempt(api_bp)
    csrf.exempt(connector_bp)
    for blueprint in (
        oauth_bp,
        api_bp,
        connector_bp,
        consent_bp,
        signin_bp,
        second_factor_bp,
        authorize_bp,
        dashboard_bp,
        platform_bp,
        school_data_bp,
        account_bp,
        vendor_bp,
        people_bp,
        password_reset_bp,
        resource_servers_bp,
        vendor_signup_bp,
        platform_vendors_bp,
        members_bp,
        badges_bp,
        launcher_bp,
        school_sign_in_bp,
        openid_bp,
        transparency_bp,
    ):
        app.register_blueprint(blueprint)
    security_headers.init_app(app)


def _register_cli(app: Flask) -> None:
    from authserver.cli import register_commands

    register_commands(app)


def _register_error_pages(app: Flask) -> None:
    from authserver.web import malformed_input
    from authserver.web.errors import init_app

    init_app(app)
    malformed_input.init_app(app)
