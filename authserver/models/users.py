"""People who sign in, and the roles that decide what they see and may do."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import Boolean, CheckConstraint, Enum, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.domain import credentials
from authserver.extensions import db
from authserver.models.columns import UTCDateTime, utcnow
from authserver.models.organisations import School, Trust


class Role(enum.StrEnum):
    """What a person is to the platform; each role is held for one organisation."""

    SCHOOL_ADMIN = "school_admin"
    TRUST_ADMIN = "trust_admin"
    VENDOR_ADMIN = "vendor_admin"
    PLATFORM_ADMIN = "platform_admin"


class User(db.Model):
    """A person with a sign-in: school, trust, vendor or platform staff."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    roles: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    def set_password(self, password: str, *, rounds: int) -> None:
        """Store a bcrypt hash of `password` at cost `rounds` (the `bcrypt_rounds` setting)."""
        self.password_hash = credentials.hash_password(password, rounds)

    def check_password(self, password: str) -> bool:
        """Whether `password` is this user's password."""
        return credentials.password_matches(password, self.password_hash)

    def has_role(self, role: Role) -> bool:
        return any(assignment.role == role for assignment in self.roles)

    @property
    def is_platform_admin(self) -> bool:
        return self.has_role(Role.PLATFORM_ADMIN)

    def administered_school_ids(self) -> set[int]:
        """Ids of every school this user administers, directly or through a trust."""
        ids = {a.school_id for a in self.roles if a.role == Role.SCHOOL_ADMIN and a.school_id}
        trust_ids = [a.trust_id for a in self.roles if a.role == Role.TRUST_ADMIN and a.trust_id]
        if trust_ids:
            ids.update(db.session.scalars(select(School.id).where(School.trust_id.in_(trust_ids))))
        return ids

    def administered_schools(self) -> list[School]:
        """The schools this user administers, by name."""
        ids = self.administered_school_ids()
        if not ids:
            return []
        return list(
            db.session.scalars(select(School).where(School.id.in_(ids)).order_by(School.name))
        )

    def can_approve_for(self, school: School) -> bool:
        """Whether this user holds the approver right for `school` (consent on its behalf)."""
        for a in self.roles:
            if not a.can_approve:
                continue
            if a.role == Role.SCHOOL_ADMIN and a.school_id == school.id:
                return True
            if a.role == Role.TRUST_ADMIN and school.trust_id and a.trust_id == school.trust_id:
                return True
        return False

    def _school_assignments(self, school: School) -> list[RoleAssignment]:
        return [
            a
            for a in self.roles
            if (a.role == Role.SCHOOL_ADMIN and a.school_id == school.id)
            or (a.role == Role.TRUST_ADMIN and school.trust_id and a.trust_id == school.trust_id)
        ]

    def can_manage_for(self, school: School) -> bool:
        """Whether this user may manage `school`: its connections, connector, imports, people."""
        return any(a.can_manage for a in self._school_assignments(school))

    def can_manage_trust(self, trust_id: int) -> bool:
        """Whether this user manages the trust (its people, and every school in it)."""
        return any(
            a.can_manage and a.role == Role.TRUST_ADMIN and a.trust_id == trust_id
            for a in self.roles
        )

    def can_manage_vendor(self, vendor_id: int) -> bool:
        """Whether this user manages the vendor's team."""
        return any(
            a.can_manage and a.role == Role.VENDOR_ADMIN and a.vendor_id == vendor_id
            for a in self.roles
        )

    def vendor_ids(self) -> set[int]:
        """Ids of the vendors this user administers."""
        return {a.vendor_id for a in self.roles if a.role == Role.VENDOR_ADMIN and a.vendor_id}


class RoleAssignment(db.Model):
    """One role held by one user for one organisation (or the whole platform)."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        CheckConstraint(
            "(role = 'school_admin' AND school_id IS NOT NULL AND trust_id IS NULL"
            " AND vendor_id IS NULL)"
            " OR (role = 'trust_admin' AND trust_id IS NOT NULL AND school_id IS NULL"
            " AND vendor_id IS NULL)"
            " OR (role = 'vendor_admin' AND vendor_id IS NOT NULL AND school_id IS NULL"
            " AND trust_id IS NULL)"
            " OR (role = 'platform_admin' AND school_id IS NULL AND trust_id IS NULL"
            " AND vendor_id IS NULL)",
            name="one_organisation_per_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    trust_id: Mapped[int | None] = mapped_column(ForeignKey("trusts.id"), index=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    # Everyone with a role may view. Managing (connections, the connector, imports, people) and
    # approving data sharing are separate rights, chosen per person.
    can_manage: Mapped[bool] = mapped_column(Boolean, default=False)
    # A school decides who may consent on its behalf; other admins see read-only.
    can_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="roles")
    school: Mapped[School | None] = relationship()
    trust: Mapped[Trust | None] = relationship()
