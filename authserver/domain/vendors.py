"""Vendors earn their way to schools: they sign up with what a school needs to know of them, a
platform admin verifies it, and until then their applications may only try demo schools."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select

from authserver.domain import audit, credentials, names
from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models.applications import DATA_LOCATIONS, Application, Vendor
from authserver.models.columns import utcnow
from authserver.models.organisations import School
from authserver.models.users import Role, RoleAssignment, User

# Companies House: eight characters, all digits (England and Wales), or a two-letter prefix
# (SC Scotland, NI Northern Ireland, OC an LLP, ...) and six digits.
COMPANY_NUMBER = re.compile(r"^(\d{8}|[A-Z]{2}\d{6})$")
# The ICO's register of fee payers: Z and seven digits, or Z, a letter and six digits.
ICO_REGISTRATION_NUMBER = re.compile(r"^(Z\d{7}|Z[A-Z]\d{6})$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATA_LOCATION_LABELS = {
    "uk": "In the UK",
    "eea": "In the European Economic Area",
    "elsewhere": "Elsewhere",
}


class VendorDetailsError(ValueError):
    """A detail of a vendor's sign-up that will not do; `field` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


#: The refusals as OAuth error descriptions (RFC 6749 §5.2: printable ASCII, no names).
NOT_VERIFIED_DESCRIPTION = (
    "The vendor of this application is not verified yet: it may ask only demo schools. "
    "A platform admin verifies a vendor before its applications may ask a real school."
)
WITHDRAWN_DESCRIPTION = (
    "The verification of this application's vendor was withdrawn: it may ask real schools "
    "for nothing new until a platform admin verifies it again."
)


class NotVerified(PermissionError):
    """The application's vendor is not verified, and the school is a real one; `description`
    is the refusal for an OAuth or API error."""

    def __init__(self, message: str, *, description: str) -> None:
        super().__init__(message)
        self.description = description


def normal_company_number(value: str) -> str:
    """A company number as Companies House writes it: no spaces, capitals, zero-padded."""
    compact = "".join(value.split()).upper()
    if compact.isdigit() and 6 <= len(compact) < 8:
        compact = compact.zfill(8)
    return compact


def normal_ico_number(value: str) -> str:
    """An ICO registration number without spaces, in capitals."""
    return "".join(value.split()).upper()


@dataclass(frozen=True)
class VendorDetails:
    """What a vendor declares about itself, shown to schools once verified."""

    name: str
    company_number: str
    ico_registration_number: str
    data_protection_contact_name: str
    data_protection_contact_email: str
    data_location: str
    data_location_detail: str = ""
    uses_generative_ai: bool = False
    generative_ai_use: str = ""

    def checked(self) -> VendorDetails:
        """The details normalised, or VendorDetailsError naming the first that will not do."""
        name = self.name.strip()
        if not name:
            raise VendorDetailsError("Enter your organisation's name.", field="name")
        try:
            names.check_honest(name, field="name", label="The organisation name")
        except names.NameRefused as refusal:
            raise VendorDetailsError(str(refusal), field="name") from None
        company = normal_company_number(self.company_number)
        if not COMPANY_NUMBER.match(company):
            raise VendorDetailsError(
                "Enter the company number as Companies House shows it: 8 digits, such as "
                "01234567, or 2 letters and 6 digits, such as SC123456.",
                field="company_number",
            )
        ico = normal_ico_number(self.ico_registration_number)
        if not ICO_REGISTRATION_NUMBER.match(ico):
            raise VendorDetailsError(
                "Enter the registration number from the ICO's register of fee payers, such as "
                "ZA123456 or Z1234567.",
                field="ico_registration_number",
            )
        contact = self.data_protection_contact_name.strip()
        if not contact:
            raise VendorDetailsError(
                "Enter the name of the person schools contact about data protection.",
                field="data_protection_contact_name",
            )
        email = self.data_protection_contact_email.strip()
        if not EMAIL.match(email):
            raise VendorDetailsError(
                "Enter the data protection contact's email address, such as dpo@example.com.",
                field="data_protection_contact_email",
            )
        if self.data_location not in DATA_LOCATIONS:
            raise VendorDetailsError("Choose where pupils' data is stored.", field="data_location")
        detail = self.data_location_detail.strip()
        if self.data_location == "elsewhere" and not detail:
            raise VendorDetailsError(
                "Say in which countries pupils' data is stored, and under what safeguards.",
                field="data_location_detail",
            )
        ai_use = self.generative_ai_use.strip()
        if self.uses_generative_ai and not ai_use:
            raise VendorDetailsError(
                "Say what generative AI does with pupils' data.", field="generative_ai_use"
            )
        for field, label, text in (
            ("data_location_detail", "Where the data is stored", detail),
            ("generative_ai_use", "What generative AI is used for", ai_use),
        ):
            try:
                names.check_visible(text, field=field, label=label, multiline=True)
            except names.NameRefused as refusal:
                raise VendorDetailsError(str(refusal), field=field) from None
        return VendorDetails(
            name=name,
            company_number=company,
            ico_registration_number=ico,
            data_protection_contact_name=contact,
            data_protection_contact_email=email,
            data_location=self.data_location,
            data_location_detail=detail if self.data_location == "elsewhere" else "",
            uses_generative_ai=self.uses_generative_ai,
            generative_ai_use=ai_use if self.uses_generative_ai else "",
        )


def account_exists(email: str) -> bool:
    """Whether someone already signs in with `email` (any case)."""
    found = db.session.scalar(
        select(User.id).where(func.lower(User.email) == email.strip().lower())
    )
    return found is not None


def sign_up(
    details: VendorDetails,
    *,
    admin_name: str,
    admin_email: str,
    password: str,
    password_rounds: int,
) -> User | None:
    """Create an unverified vendor and its first vendor admin; returns the admin, or None
    (creating nothing) when the email already has an account: the caller answers alike."""
    checked = details.checked()
    if account_exists(admin_email):
        return None
    vendor = Vendor(
        name=checked.name,
        company_number=checked.company_number,
        ico_registration_number=checked.ico_registration_number,
        data_protection_contact_name=checked.data_protection_contact_name,
        data_protection_contact_email=checked.data_protection_contact_email,
        data_location=checked.data_location,
        data_location_detail=checked.data_location_detail or None,
        uses_generative_ai=checked.uses_generative_ai,
        generative_ai_use=checked.generative_ai_use or None,
    )
    db.session.add(vendor)
    db.session.flush()
    admin = User(email=admin_email.strip().lower(), name=admin_name.strip())
    admin.password_hash = credentials.hash_password(password, password_rounds)
    # The first admin looks after the vendor: its applications and its team.
    admin.roles.append(RoleAssignment(role=Role.VENDOR_ADMIN, vendor_id=vendor.id, can_manage=True))
    db.session.add(admin)
    db.session.flush()
    audit.record(
        AuditAction.VENDOR_SIGNED_UP,
        actor=admin,
        vendor_id=vendor.id,
        vendor=vendor.name,
        company_number=vendor.company_number,
        ico_registration_number=vendor.ico_registration_number,
    )
    return admin


def verify(vendor: Vendor, *, by: User | str) -> bool:
    """A platform admin (or an operator, by name) vouches for the vendor; returns False if it
    was verified already (nothing changes)."""
    if vendor.is_verified:
        return False
    vendor.verified_at = utcnow()
    vendor.verified_by = by.email if isinstance(by, User) else by
    vendor.verification_withdrawn_at = None
    vendor.verification_withdrawal_reason = None
    db.session.flush()
    audit.record(
        AuditAction.VENDOR_VERIFIED,
        actor=by,
        vendor_id=vendor.id,
        vendor=vendor.name,
        company_number=vendor.company_number,
        ico_registration_number=vendor.ico_registration_number,
    )
    return True


def withdraw_verification(vendor: Vendor, *, by: User | str, reason: str) -> None:
    """Take the vendor's verification back: its applications can ask no real school for anything
    new. Grants already made go on (each is its school's decision, and the school is shown
    the withdrawal); the vendor's pending requests wait, and cannot be approved meanwhile."""
    reason = reason.strip()
    if not reason:
        raise VendorDetailsError(
            "Say why verification is withdrawn: the vendor and the schools it works with are "
            "shown the reason.",
            field="reason",
        )
    if not vendor.is_verified:
        raise VendorDetailsError("This vendor is not verified.", field="reason")
    vendor.verified_at = None
    vendor.verification_withdrawn_at = utcnow()
    vendor.verification_withdrawal_reason = reason
    db.session.flush()
    audit.record(
        AuditAction.VENDOR_VERIFICATION_WITHDRAWN,
        actor=by,
        vendor_id=vendor.id,
        vendor=vendor.name,
        reason=reason,
    )


def may_ask(application: Application, school: School) -> bool:
    """Whether the application may ask the school for something new (a request, an
    authorization, an approval): any verified vendor's may; an unverified one's only a demo
    school."""
    return school.is_demo or application.vendor.is_verified


def check_may_ask(application: Application, school: School) -> None:
    """Raise NotVerified unless the application may ask the school for something new."""
    if not may_ask(application, school):
        raise _refusal(application)


def check_may_take_tokens(application: Application, school: School) -> None:
    """Raise NotVerified if the application may not take new tokens for the school's grant:
    a vendor never verified gets none for a real school. After a withdrawal, the grants made
    while verified go on (the school decides whether to end them)."""
    vendor = application.vendor
    if not (school.is_demo or vendor.is_verified or vendor.verification_withdrawn):
        raise _refusal(application)


def _refusal(application: Application) -> NotVerified:
    withdrawn = application.vendor.verification_withdrawn
    return NotVerified(
        refusal_for(application),
        description=WITHDRAWN_DESCRIPTION if withdrawn else NOT_VERIFIED_DESCRIPTION,
    )


def refusal_for(application: Application) -> str:
    """Why an unverified vendor's application is refused a real school, for its developers."""
    vendor = application.vendor
    if vendor.verification_withdrawn:
        return (
            f"{vendor.name}'s verification was withdrawn, so {application.name} cannot ask real "
            "schools for anything new until a platform admin verifies it again. Demo schools "
            "still work."
        )
    return (
        f"{vendor.name} is not verified yet, so {application.name} can only be tried on demo "
        "schools. A platform admin verifies a vendor's company number, ICO registration and "
        "data protection details before its applications may ask a real school."
    )


def awaiting_verification() -> list[Vendor]:
    """Vendors not verified (never, or no longer), oldest first: the platform admin's queue."""
    return list(
        db.session.scalars(
            select(Vendor).where(Vendor.verified_at.is_(None)).order_by(Vendor.created_at)
        )
    )


def verified_vendors() -> list[Vendor]:
    """Verified vendors, by name."""
    return list(
        db.session.scalars(
            select(Vendor).where(Vendor.verified_at.is_not(None)).order_by(Vendor.name)
        )
    )


def location_label(vendor: Vendor) -> str:
    """Where the vendor stores pupils' data, in words for a school."""
    if vendor.data_location is None:
        return "Not declared"
    label = DATA_LOCATION_LABELS[vendor.data_location]
    if vendor.data_location == "elsewhere" and vendor.data_location_detail:
        return f"{label}: {vendor.data_location_detail}"
    return label


def generative_ai_label(vendor: Vendor) -> str:
    """Whether the vendor uses generative AI on pupils' data, in words for a school."""
    if vendor.uses_generative_ai is None:
        return "Not declared"
    if not vendor.uses_generative_ai:
        return "No"
    return f"Yes: {vendor.generative_ai_use}" if vendor.generative_ai_use else "Yes"
