"""Fixtures: an app per test on each database backend, inside a transaction rolled back after
it, and role-named actors built the way production builds them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import jinja2
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from authserver import create_app
from authserver.extensions import db
from authserver.models.audit import AUDIT_TABLE
from authserver.models.grants import RECEIPTS_TABLE

IN_CI = bool(os.environ.get("CI"))
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
# Runs sharing one PostgreSQL database (two checkouts, parallel jobs) each name their own schema.
# Under pytest-xdist each worker has its own schema (and its own SQLite file, in its own tmp).
SUITE_SCHEMA = "_".join(
    filter(
        None,
        [os.environ.get("TEST_DATABASE_SCHEMA", "suite"), os.environ.get("PYTEST_XDIST_WORKER")],
    )
)
TEST_SECRET_KEY = "test-secret-key-not-for-production"
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def unavailable(reason: str) -> None:
    """Skip on a laptop, but fail under CI, where every service must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must run every test)")
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    if IN_CI and not POSTGRES_URL:
        raise pytest.UsageError("CI must set TEST_DATABASE_URL: the suite runs on PostgreSQL too")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgresql_only` exist only in their PostgreSQL variant (not skipped on
    SQLite: they test what only PostgreSQL has, such as row locks)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec else None
        if item.get_closest_marker("postgresql_only") and backend != "postgresql":
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def postgres_url(schema: str | None = None) -> str:
    """The PostgreSQL test database, optionally confined to one schema."""
    url = sa.make_url(POSTGRES_URL)
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    if schema:
        url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def reset_postgres_schema(schema: str) -> None:
    """Drop and recreate one schema of the test database, so a run starts empty."""
    engine = sa.create_engine(postgres_url())
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as error:
        unavailable(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {error.orig}")
    finally:
        engine.dispose()


class Databases:
    """The run's databases, one per backend (and per xdist worker), made on first use and kept
    to the end: pytest tears a parametrized session fixture down each time the backend changes,
    and remaking PostgreSQL's schema every time would cost seconds."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.urls: dict[str, str] = {}
        self.engines: dict[str, sa.Engine] = {}

    def url(self, backend: str) -> str:
        """The backend's database with every table created."""
        if backend not in self.urls:
            if backend == "sqlite":
                url = f"sqlite:///{self.tmp_path_factory.mktemp('db') / 'test.db'}"
            else:
                reset_postgres_schema(SUITE_SCHEMA)
                url = postgres_url(SUITE_SCHEMA)
            app = create_app(app_config(url, self.tmp_path_factory.mktemp("instance")))
            with app.app_context():
                db.create_all()
                db.engine.dispose()
            self.urls[backend] = url
        return self.urls[backend]

    def engine(self, url: str) -> sa.Engine:
        """The engine rolled-back tests on `url` take their connection from, built as the app
        builds it (SQLite's pragmas included)."""
        if url not in self.engines:
            builder = create_app(app_config(url, self.tmp_path_factory.mktemp("engine")))
            with builder.app_context():
                engine = db.engine
            if engine.dialect.name == "sqlite":
                # pysqlite begins transactions late and ends them before DDL on its own, which
                # breaks SAVEPOINT; SQLAlchemy's recipe: autocommit, and BEGIN emitted by us.
                sa.event.listen(engine, "connect", _sqlite_autocommit)
                sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
            self.engines[url] = engine
        return self.engines[url]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def _sqlite_autocommit(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """Every database of the run (see `Databases`)."""
    store = Databases(tmp_path_factory)
    # A session joining a test's connection works in a savepoint of its own: a view's commit
    # releases it, its rollback goes back to it, and the test's transaction stays open.
    db.session.session_factory.configure(join_transaction_mode="create_savepoint")
    yield store
    store.close()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, databases: Databases) -> str:
    """One database per backend (and per xdist worker) for the whole run, every table created."""
    return databases.url(request.param)


def app_config(database_url: str, instance_path: Path, **settings: object) -> dict[str, object]:
    """The settings of an app under test on `database_url`."""
    return {
        "DATABASE_URL": database_url,
        "APP_ENV": "testing",
        "INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": TEST_SECRET_KEY,
        # bcrypt's cost is a setting; production refuses less than 12.
        "BCRYPT_ROUNDS": 4,
        **settings,
    }


@pytest.fixture(scope="session")
def database_engine(database_url: str, databases: Databases) -> sa.Engine:
    """The engine of the backend's database that rolled-back tests connect through."""
    return databases.engine(database_url)


class CompiledTemplates(jinja2.BytecodeCache):
    """Templates compiled once per run rather than once per app, as a production process
    compiles them once (Jinja still recompiles a template whose source has changed)."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = CompiledTemplates()


def commits_for_real(item: pytest.Item) -> bool:
    """Whether a test's writes must really be committed: other processes or threads racing on
    their own connections (`live`), or a browser's concurrent requests (`browser`)."""
    return any(item.get_closest_marker(name) for name in ("live", "browser"))


@pytest.fixture
def app_settings() -> dict[str, object]:
    """Settings added to `app`'s; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    database_url: str,
    database_engine: sa.Engine,
    tmp_path: Path,
    app_settings: dict[str, object],
) -> Iterator[Flask]:
    """A fresh application on the backend's database, inside a transaction rolled back after
    the test (a view's commit only releases a savepoint). Tests marked `live` or `browser`
    commit for real, and every row is removed afterwards.

    No app context is held during the test: each client request gets its own, as in
    production. Use `with app.app_context():` to look at the database.
    """
    app = create_app(app_config(database_url, tmp_path / "instance", **app_settings))
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    if commits_for_real(request.node):
        yield app
        with app.app_context():
            db.session.remove()
            empty_database(db.engine)
            db.engine.dispose()
        return
    with database_engine.connect() as connection:
        transaction = connection.begin()
        join_transaction(app, connection)
        yield app
        with app.app_context():
            db.session.remove()
        transaction.rollback()


def join_transaction(app: Flask, connection: sa.Connection) -> None:
    """Point `app`'s sessions at the test's connection, in place of its own engine (the way
    Flask-SQLAlchemy's maintainers suggest: pallets-eco/flask-sqlalchemy#1171)."""
    with app.app_context():
        db.engines[None].dispose()
        db.engines[None] = connection  # type: ignore[index]


@pytest.fixture
def same_database(app: Flask) -> Iterator[Callable[[Flask], Flask]]:
    """`same_database(other)`: another app on the test's database (another worker, a server in
    a thread) made to see what the test writes: in a rolled-back test it joins the test's
    connection; its sessions are removed afterwards."""
    joined: list[Flask] = []
    with app.app_context():
        bind = db.engines[None]

    def join(other: Flask) -> Flask:
        if isinstance(bind, sa.Connection):
            join_transaction(other, bind)
        joined.append(other)
        return other

    yield join
    for other in joined:
        with other.app_context():
            db.session.remove()
            if not isinstance(db.engines[None], sa.Connection):
                db.engine.dispose()


def empty_database(engine: sa.Engine) -> None:
    """Remove every row of every table, committed (after a test or a world that committed)."""
    with engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            empty(connection, table)


def empty(connection: sa.Connection, table: sa.Table) -> None:
    """Remove every row of a table. PostgreSQL's trigger refuses DELETE on the audit log;
    TRUNCATE does not fire it, and needs the table owner's rights, which the suite has and a
    production application role should not."""
    if connection.dialect.name == "postgresql" and table.name in (AUDIT_TABLE, RECEIPTS_TABLE):
        # Fail rather than wait for ever should a stray connection still hold the table.
        connection.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(sa.text(f"TRUNCATE {table.name}"))
    else:
        connection.execute(table.delete())


def saved(obj):
    """Commit, load every attribute and detach, so a test may read the object anywhere."""
    db.session.commit()
    db.session.refresh(obj)
    db.session.expunge(obj)
    return obj


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def cli(app: Flask):
    return app.test_cli_runner()


# --- Actors, built through the same domain functions production uses -----------------------

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_school(app: Flask):
    """Make a school (optionally in a trust)."""
    from authserver.models import School

    counter = iter(range(100000, 999999))

    def make(
        *, name: str = "Test Academy", phase: str = "secondary", trust_id=None, is_demo=False
    ) -> School:
        with app.app_context():
            school = School(
                urn=str(next(counter)), name=name, phase=phase, trust_id=trust_id, is_demo=is_demo
            )
            db.session.add(school)
            return saved(school)

    return make


@pytest.fixture
def make_user(app: Flask):
    """Make a user holding one role; the password is PASSWORD."""
    from authserver.models import Role, RoleAssignment, User

    counter = iter(range(1, 100000))

    def make(
        role: Role,
        *,
        can_approve: bool = True,
        can_manage: bool = True,
        email: str | None = None,
        enrolled: bool = True,
        **organisation,
    ):
        """`organisation` is school=, trust= or vendor= (objects), as the role needs. Unless
        `enrolled` is false, the person's authenticator is set up (tests/authenticator.py)."""
        from tests.authenticator import enrol

        ids = {f"{kind}_id": value.id for kind, value in organisation.items()}
        with app.app_context():
            user = User(email=email or f"user{next(counter)}@example.org", name="Test User")
            user.set_password(PASSWORD, rounds=4)
            user.roles.append(
                RoleAssignment(role=role, can_approve=can_approve, can_manage=can_manage, **ids)
            )
            db.session.add(user)
            db.session.flush()
            if enrolled:
                enrol(user, app.config["SECRET_KEY"])
            return saved(user)

    return make


@pytest.fixture
def school(make_school):
    return make_school()


@pytest.fixture
def school_admin(make_user, school):
    from authserver.models import Role

    return make_user(Role.SCHOOL_ADMIN, school=school, can_approve=True)


@pytest.fixture
def make_vendor(app: Flask):
    """Make a vendor with the details sign-up asks for, verified by a platform operator (as
    `flask vendors verify` does) unless `verified=False`."""
    from authserver.domain import vendors
    from authserver.models import Vendor

    def make(*, name: str = "Test Vendor Ltd", verified: bool = True) -> Vendor:
        with app.app_context():
            vendor = make_vendor_row(name)
            if verified:
                vendors.verify(vendor, by="operator (test fixture)")
            return saved(vendor)

    return make


def make_vendor_row(name: str):
    """A vendor with plausible declared details, added to the session (not yet verified)."""
    from authserver.models import Vendor

    vendor = Vendor(
        name=name,
        company_number="01234567",
        ico_registration_number="ZA123456",
        data_protection_contact_name="Dana Protector",
        data_protection_contact_email="dpo@vendor.example.com",
        data_location="uk",
        uses_generative_ai=False,
    )
    db.session.add(vendor)
    db.session.flush()
    return vendor


@pytest.fixture
def vendor(make_vendor):
    """A verified vendor: its applications may ask real schools."""
    return make_vendor()


@pytest.fixture
def unverified_vendor(make_vendor):
    """A vendor that signed up and is waiting for a platform admin."""
    return make_vendor(name="Fresh Start Apps Ltd", verified=False)


@pytest.fixture
def make_app(app: Flask, vendor, resource_server):
    """Register an application; returns (application, client_secret). It declares every
    registered resource server (`resource_server` among them) unless `resource_servers=` says
    which (client ids)."""
    from authserver.domain.applications import register_application, scope_requests_from
    from authserver.models import Vendor

    def make(
        *,
        required: dict[str, str] | None = None,
        optional: dict[str, str] | None = None,
        redirect_uris: list[str] | None = None,
        owner=None,
        **options,
    ):
        """`owner` is the vendor (the verified `vendor` fixture unless given)."""
        with app.app_context():
            return _register(required, optional, redirect_uris, owner or vendor, **options)

    def _register(required, optional, redirect_uris, owner, **options):
        from authserver.models import ResourceServer

        # Unless the test says otherwise, the application calls every registered resource server.
        options.setdefault(
            "resource_servers", list(db.session.scalars(sa.select(ResourceServer.client_id)))
        )
        application, secret = register_application(
            db.session.get(Vendor, owner.id),
            name=options.pop("name", "Register Radar"),
            redirect_uris=redirect_uris or ["https://app.example.com/callback"],
            scopes=scope_requests_from(
                required
                if required is not None
                else {
                    "StudentLite": "To show pupils' names.",
                    "Attendance": "To analyse attendance.",
                },
                optional
                if optional is not None
                else {"Contact": "To phone parents.", "DietaryNeeds": "To warn of allergies."},
            ),
            privacy_policy_url="https://app.example.com/privacy",
            terms_url="https://app.example.com/terms",
            **options,
        )
        return saved(application), secret

    return make


@pytest.fixture
def vendor_app(make_app):
    """A confidential application: (application, client_secret)."""
    return make_app()


@pytest.fixture
def make_resource_server(app: Flask):
    """Register a resource server; returns (server, client_secret)."""
    from authserver.domain.resource_servers import register

    counter = iter(range(1, 100000))

    def make(*, name: str = "Test resource server", url: str | None = None):
        with app.app_context():
            server, secret = register(
                name,
                url or f"https://rs{next(counter)}.example.net/api",
                actor="test",
                issuer=app.config["SETTINGS"].issuer,
                allow_loopback_http=False,
            )
            return saved(server), secret

    return make


@pytest.fixture
def resource_server(make_resource_server):
    """The resource server the test's vendors call (every application `make_app` registers
    declares it unless told otherwise): (server, client_secret)."""
    return make_resource_server()


@pytest.fixture
def flow(client, vendor_app, school_admin):
    """A vendor's code flow with the school admin already signed in (tests/oauth_flow.py)."""
    from tests.oauth_flow import OAuthFlow

    application, secret = vendor_app
    flow = OAuthFlow(client, application.client_id, secret, "https://app.example.com/callback")
    flow.sign_in(school_admin.email)
    return flow
