"""Every model, imported so that the metadata (and Alembic) sees every table."""

from authserver.models import mis
from authserver.models.applications import (
    Application,
    ApplicationRename,
    ApplicationScope,
    ResourceServer,
    Vendor,
)
from authserver.models.audit import AuditEvent
from authserver.models.badges import MemberBadge
from authserver.models.connectors import Connector, ConnectorToken
from authserver.models.establishments import Establishment, RegisterTrust
from authserver.models.field_use import FieldUseDay
from authserver.models.grants import (
    AccessRequest,
    AccessRequestStatus,
    Grant,
    GrantReceipt,
    GrantReminder,
    GrantStatus,
)
from authserver.models.jobs import Job, JobState
from authserver.models.keys import ReceiptKey, SigningKey
from authserver.models.mail import OutboxMessage
from authserver.models.members import (
    AppAssignment,
    Member,
    MemberLink,
    MemberLinkKind,
    MemberRole,
    MemberSession,
    MemberSubject,
    SchoolSignIn,
)
from authserver.models.organisations import School, Trust
from authserver.models.people import Invitation, KnownBrowser, PasswordReset
from authserver.models.school_secrets import SchoolSecret
from authserver.models.second_factors import RecoveryCode, SecondFactor
from authserver.models.sessions import UserSession
from authserver.models.sync import SchoolSync, StagedBatch, StagedRecord, SyncFile, SyncRun
from authserver.models.tokens import AuthorizationCode, PushedAuthorizationRequest, Token
from authserver.models.users import Role, RoleAssignment, User
from authserver.models.views import ViewField, ViewMember, ViewState, ViewTombstone
from authserver.models.webhooks import WebhookDelivery
from authserver.models.writebacks import IdempotencyKey, Writeback, WritebackItem

__all__ = [
    "AccessRequest",
    "AccessRequestStatus",
    "AppAssignment",
    "Application",
    "ApplicationRename",
    "ApplicationScope",
    "AuditEvent",
    "AuthorizationCode",
    "Connector",
    "ConnectorToken",
    "Establishment",
    "FieldUseDay",
    "Grant",
    "GrantReceipt",
    "GrantReminder",
    "GrantStatus",
    "IdempotencyKey",
    "Invitation",
    "Job",
    "JobState",
    "KnownBrowser",
    "Member",
    "MemberBadge",
    "MemberLink",
    "MemberLinkKind",
    "MemberRole",
    "MemberSession",
    "MemberSubject",
    "OutboxMessage",
    "PasswordReset",
    "PushedAuthorizationRequest",
    "ReceiptKey",
    "RecoveryCode",
    "RegisterTrust",
    "ResourceServer",
    "Role",
    "RoleAssignment",
    "School",
    "SchoolSecret",
    "SchoolSignIn",
    "SchoolSync",
    "SecondFactor",
    "SigningKey",
    "StagedBatch",
    "StagedRecord",
    "SyncFile",
    "SyncRun",
    "Token",
    "Trust",
    "User",
    "UserSession",
    "Vendor",
    "ViewField",
    "ViewMember",
    "ViewState",
    "ViewTombstone",
    "WebhookDelivery",
    "Writeback",
    "WritebackItem",
    "mis",
]
