"""The demo world: a trust, its demo schools and their data, a verified vendor with three
applications, and a vendor waiting for verification."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from authserver.demo.school_data import seed_school_data
from authserver.domain import establishments, resource_servers, second_factor, vendors
from authserver.domain.applications import (
    register_application,
    scope_requests_from,
)
from authserver.extensions import db
from authserver.models import Role, RoleAssignment, School, Trust, User, Vendor

DEMO_TRUST_NAME = "Northfield Learning Trust"
#: The demo trust's code in the sample register, samples/gias-establishments.csv.
DEMO_TRUST_CODE = "9001"
SAMPLE_REGISTER = Path(__file__).resolve().parents[2] / "samples" / "gias-establishments.csv"
DEMO_EMAIL_DOMAIN = "example.org"
DEFAULT_STUDENTS = {"secondary": 1000, "primary": 300}

# Three applications whose requests differ as real ones do: from routine to sensitive.
DEMO_APPLICATIONS: list[dict[str, Any]] = [
    {
        "name": "Register Radar",
        "description": "Spots attendance patterns early and tells the right member of staff.",
        "slug": "register-radar",
        "required": {
            "StudentLite": "To show each pupil by name on the attendance dashboard.",
            "Student": "To know each pupil's year group and enrolment dates.",
            "Attendance": "To analyse session and lesson attendance marks.",
            "SchoolLite": "To show registration groups and houses.",
        },
        "optional": {
            "Contact": "To let staff phone the right parent about a long absence.",
        },
    },
    {
        "name": "Lunchbox Catering",
        "description": "Takes meal orders and keeps pupils' allergies in front of the kitchen.",
        "slug": "lunchbox",
        "required": {
            "StudentLite": "To put each pupil's name on their meal order.",
            "DietaryNeeds": "So the kitchen never serves a pupil something they are allergic to.",
            "StudentMeals": "To know which meals each pupil has chosen.",
        },
        "optional": {
            "StudentMedical": "To warn kitchen staff about conditions such as diabetes.",
            "Cashless": "To take payment from the school's cashless accounts.",
        },
    },
    {
        "name": "Safe Haven",
        "description": "A safeguarding log for designated safeguarding leads.",
        "slug": "safe-haven",
        "required": {
            "Student": "To record concerns against the right pupil.",
            "Contact": "To know who holds parental responsibility.",
            "StudentFamily": "To flag children in care and young carers.",
            "SocialServices": "To see existing social care involvement before acting.",
        },
        "optional": {
            "StudentMedical": "To take medical needs into account in a safety plan.",
            "SEN": "To adapt support for pupils with special educational needs.",
            "StudentEthnicity": "To monitor that safeguarding is applied fairly across groups.",
        },
    },
]


#: The demo's external resource server: an API run elsewhere that introspects the tokens meant
#: for it (tokens name it in their audience).
DEMO_RESOURCE_SERVER = {"name": "Demo resource server", "url": "https://rs.demo.example.com/api"}


@dataclass
class DemoCredentials:
    """What the seed created that a person needs to try the product; shown once."""

    issuer: str
    schools: list[dict[str, Any]] = field(default_factory=list)
    trust_admin: dict[str, Any] = field(default_factory=dict)
    vendor_admin: dict[str, Any] = field(default_factory=dict)
    unverified_vendor_admin: dict[str, Any] = field(default_factory=dict)
    platform_admin: dict[str, Any] = field(default_factory=dict)
    applications: list[dict[str, Any]] = field(default_factory=list)
    resource_servers: list[dict[str, str]] = field(default_factory=list)
    connectors: list[dict[str, str]] = field(default_factory=list)
    # Pupils, parents and staff who sign in to the demo sign-in application (docs/sign-in.md).
    sign_in: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "schools": self.schools,
            "trust_admin": self.trust_admin,
            "vendor_admin": self.vendor_admin,
            "unverified_vendor_admin": self.unverified_vendor_admin,
            "platform_admin": self.platform_admin,
            "applications": self.applications,
            "resource_servers": self.resource_servers,
            "connectors": self.connectors,
            "sign_in": self.sign_in,
        }


def refresh_statistics() -> None:
    """Tell the query planner what was just loaded, as after any bulk load: until autovacuum
    gets to it, PostgreSQL would plan a page of pupils as if the tables were empty (30 times
    slower).

    Only this application's tables: a bare ANALYZE on PostgreSQL takes a lock on every table
    of every schema in the database, in one transaction, and runs out of lock slots where
    one database holds many (as the test suite's schemas do)."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(text("ANALYZE"))
        return
    for table in db.metadata.sorted_tables:
        connection.execute(text(f'ANALYZE "{table.name}"'))


def is_seeded() -> bool:
    """Whether the demo world is already in the database."""
    return db.session.scalar(select(Trust.id).where(Trust.name == DEMO_TRUST_NAME)) is not None


def _password() -> str:
    # Random even for the demo: an instance left reachable must not open with a known password.
    return secrets.token_urlsafe(12)


def _add_user(
    email: str,
    name: str,
    role: Role,
    *,
    password_rounds: int,
    secret_key: str,
    can_approve: bool = False,
    can_manage: bool = False,
    **organisation: Any,
) -> dict[str, Any]:
    password = _password()
    user = User(email=email, name=name)
    user.set_password(password, rounds=password_rounds)
    user.roles.append(
        RoleAssignment(role=role, can_approve=can_approve, can_manage=can_manage, **organisation)
    )
    db.session.add(user)
    db.session.flush()
    login: dict[str, Any] = {"email": email, "password": password}
    if second_factor.requires_second_factor(user):
        # Set up as a person would, confirmed with the previous step's code so that the
        # current one is still good for a first sign-in straight after seeding.
        secret = second_factor.begin_set_up(user, secret_key=secret_key)
        earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=second_factor.STEP_SECONDS)
        login["recovery_codes"] = second_factor.confirm_set_up(
            user,
            second_factor.current_code(secret, earlier),
            secret_key=secret_key,
            notify=False,  # the seed set it up, not the person: no "was this you?" email
        )
        login["totp_secret"] = secret
    return login


def _seed_unverified_vendor(password_rounds: int, secret_key: str) -> dict[str, Any]:
    """A vendor that signed up and waits for a platform admin: its application may try the
    demo schools, and the platform's Vendors page lists it for verification."""
    vendor = Vendor(
        name="Quillstone Tutoring Ltd",
        company_number="SC654321",
        ico_registration_number="Z7654321",
        data_protection_contact_name="Callum Reid",
        data_protection_contact_email=f"privacy@quillstone.{DEMO_EMAIL_DOMAIN}",
        data_location="elsewhere",
        data_location_detail="In the United States (AWS us-east-1), under the UK IDTA.",
        uses_generative_ai=True,
        generative_ai_use="Drafts feedback on pupils' homework for teachers to check and edit.",
    )
    db.session.add(vendor)
    db.session.flush()
    login = _add_user(
        f"dev@quillstone.{DEMO_EMAIL_DOMAIN}",
        "Quillstone developer",
        Role.VENDOR_ADMIN,
        vendor_id=vendor.id,
        password_rounds=password_rounds,
        secret_key=secret_key,
        can_manage=True,
    )
    register_application(
        vendor,
        name="Quillstone Homework Feedback",
        description="Suggests feedback on homework; a teacher checks every word.",
        redirect_uris=["http://127.0.0.1:8710/callback"],
        scopes=scope_requests_from(
            {"StudentLite": "To show each pupil's name beside their homework."},
            {"SchoolLite": "To group homework by class."},
        ),
        privacy_policy_url="https://quillstone.example.com/privacy",
    )
    return login


def seed_demo(
    *,
    issuer: str,
    password_rounds: int,
    secret_key: str,
    schools: int = 2,
    students_per_school: int | None = None,
    seed: int = 2026,
    today: dt.date | None = None,
    progress: Callable[[str], None] = lambda _message: None,
    mid_year: bool = True,
) -> DemoCredentials | None:
    """Create the demo world unless it exists; returns its credentials, or None if seeded.

    With `mid_year`, the first school is a term into its use of the product (see mid_year.py);
    that step commits."""
    if is_seeded():
        return None
    credentials = DemoCredentials(issuer=issuer)
    trust = Trust(name=DEMO_TRUST_NAME, code=DEMO_TRUST_CODE)
    db.session.add(trust)
    names = ["Northfield Academy", "Meadowbank Primary School"]
    for index in range(schools):
        phase = "secondary" if index % 2 == 0 else "primary"
        name = names[index] if index < len(names) else f"Northfield School {index + 1}"
        # Demo schools: their pupils are made up, so unverified vendors may try them.
        school = School(urn=str(140001 + index), name=name, phase=phase, trust=trust, is_demo=True)
        db.session.add(school)
        db.session.flush()
        pupils = students_per_school if students_per_school is not None else DEFAULT_STUDENTS[phase]
        progress(f"{name}: {pupils} pupils")
        seed_school_data(db.session, school, students=pupils, seed=seed + index, today=today)
        slug = name.lower().split()[0]
        admin = _add_user(
            f"admin@{slug}.{DEMO_EMAIL_DOMAIN}",
            f"{name} admin",
            Role.SCHOOL_ADMIN,
            can_approve=True,
            can_manage=True,
            school=school,
            password_rounds=password_rounds,
            secret_key=secret_key,
        )
        office = _add_user(
            f"office@{slug}.{DEMO_EMAIL_DOMAIN}",
            f"{name} office (read-only)",
            Role.SCHOOL_ADMIN,
            can_approve=False,
            school=school,
            password_rounds=password_rounds,
            secret_key=secret_key,
        )
        credentials.schools.append(
            {
                "id": school.id,
                "urn": school.urn,
                "name": school.name,
                "phase": phase,
                "admin": admin,
                "read_only_admin": office,
            }
        )
    # The register, with the demo schools and a few more for a platform admin to onboard.
    progress("the DfE register of establishments (a sample)")
    establishments.import_register(
        establishments.read_register(SAMPLE_REGISTER.read_bytes()), actor="demo seed"
    )
    credentials.trust_admin = _add_user(
        f"trust@northfield.{DEMO_EMAIL_DOMAIN}",
        "Trust data lead",
        Role.TRUST_ADMIN,
        can_approve=True,
        can_manage=True,
        trust=trust,
        password_rounds=password_rounds,
        secret_key=secret_key,
    )
    credentials.platform_admin = _add_user(
        f"platform@{DEMO_EMAIL_DOMAIN}",
        "Platform operator",
        Role.PLATFORM_ADMIN,
        password_rounds=password_rounds,
        secret_key=secret_key,
    )

    vendor = Vendor(
        name="Brightside Learning Ltd",
        website_url="https://brightside.example.com",
        company_number="09876543",
        ico_registration_number="ZA765432",
        data_protection_contact_name="Priya Shah",
        data_protection_contact_email=f"dpo@brightside.{DEMO_EMAIL_DOMAIN}",
        data_location="uk",
        uses_generative_ai=False,
    )
    db.session.add(vendor)
    db.session.flush()
    vendors.verify(vendor, by="the demo seed")
    credentials.vendor_admin = _add_user(
        f"dev@brightside.{DEMO_EMAIL_DOMAIN}",
        "Brightside developer",
        Role.VENDOR_ADMIN,
        can_manage=True,
        vendor_id=vendor.id,
        password_rounds=password_rounds,
        secret_key=secret_key,
    )
    # Registered first, so that the demo applications can declare that they call it.
    server, server_secret = resource_servers.register(
        DEMO_RESOURCE_SERVER["name"],
        DEMO_RESOURCE_SERVER["url"],
        actor="demo seed",
        issuer=issuer,
        allow_loopback_http=False,
    )
    credentials.resource_servers.append(
        {
            "name": server.name,
            "url": server.url,
            "client_id": server.client_id,
            "client_secret": server_secret,
        }
    )
    for port, spec in enumerate(DEMO_APPLICATIONS, start=8701):
        redirect_uris = [
            f"http://127.0.0.1:{port}/callback",
            f"https://{spec['slug']}.example.com/oauth/callback",
        ]
        application, secret = register_application(
            vendor,
            name=spec["name"],
            description=spec["description"],
            redirect_uris=redirect_uris,
            scopes=scope_requests_from(spec["required"], spec["optional"]),
            privacy_policy_url=f"https://{spec['slug']}.example.com/privacy",
            terms_url=f"https://{spec['slug']}.example.com/terms",
            website_url=f"https://{spec['slug']}.example.com",
            resource_servers=[server.client_id],
        )
        credentials.applications.append(
            {
                "name": application.name,
                "client_id": application.client_id,
                "client_secret": secret,
                "redirect_uris": application.redirect_uris,
                "required_scopes": application.required_scopes,
                "optional_scopes": application.optional_scopes,
            }
        )
    credentials.unverified_vendor_admin = _seed_unverified_vendor(password_rounds, secret_key)
    if credentials.schools:
        from authserver.demo.sign_in import seed_sign_in

        # The last demo school: the first is busy being a term into its use of the product.
        chosen = credentials.schools[-1]
        progress(f"{chosen['name']}: pupils, a parent and a teacher who sign in")
        db.session.flush()
        credentials.sign_in = seed_sign_in(
            db.session.get(School, chosen["id"]),
            db.session.scalar(select(User).where(User.email == chosen["admin"]["email"])),
            vendor,
            password_rounds=password_rounds,
        )
    if mid_year and credentials.schools:
        from authserver.demo.mid_year import bring_to_mid_year

        first = credentials.schools[0]
        progress(f"{first['name']}: a term of use, a request waiting, nightly syncs")
        db.session.flush()
        school = db.session.get(School, first["id"])
        admin = db.session.scalar(select(User).where(User.email == first["admin"]["email"]))
        credentials.connectors.append(
            bring_to_mid_year(school, admin, today=today or dt.datetime.now(dt.UTC).date())
        )
    return credentials
