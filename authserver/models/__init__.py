"""Every model, imported so that the metadata (and Alembic) sees every table."""

from authserver.models import mis
from authserver.models.applications import Application, ApplicationScope, ResourceServer, Vendor
from authserver.models.organisations import School, Trust
from authserver.models.users import Role, RoleAssignment, User

__all__ = [
    "Application",
    "ApplicationScope",
    "ResourceServer",
    "Role",
    "RoleAssignment",
    "School",
    "Trust",
    "User",
    "Vendor",
    "mis",
]
