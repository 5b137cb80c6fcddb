"""Recording audit events with a fixed vocabulary of "subject:verb" actions."""

from __future__ import annotations

import enum
from typing import Any

from authserver.extensions import db
from authserver.models.applications import Application
from authserver.models.audit import AuditEvent
from authserver.models.columns import utcnow
from authserver.models.organisations import School
from authserver.models.users import User


class AuditAction(enum.StrEnum):
    APPLICATION_REGISTERED = "application:registered"
    APPLICATION_CHANGED = "application:changed"
    APPLICATION_RENAMED = "application:renamed"
    VENDOR_SIGNED_UP = "vendor:signed_up"
    VENDOR_VERIFIED = "vendor:verified"
    VENDOR_VERIFICATION_WITHDRAWN = "vendor:verification_withdrawn"
    CLIENT_SECRET_ROTATED = "application:client_secret_rotated"  # noqa: S105 (an action name)
    ACCESS_REQUESTED = "access_request:created"
    ACCESS_REQUEST_REJECTED = "access_request:rejected"
    GRANT_APPROVED = "grant:approved"
    GRANT_SCOPES_CHANGED = "grant:scopes_changed"
    GRANT_DENIED = "grant:denied"
    GRANT_REVOKED = "grant:revoked"
    SCHOOL_SECRET_CLAIMED = "school_secret:claimed"  # noqa: S105 (an action name)
    SCHOOL_SECRET_ROTATED = "school_secret:rotated"  # noqa: S105 (an action name)
    ACCESS_REQUEST_WITHDRAWN = "access_request:withdrawn"
    GRANT_GIVEN_UP = "grant:given_up"
    GRANT_EXPIRED = "grant:expired"
    GRANT_CHANGED = "grant:changed"
    GRANT_EXPIRY_REMINDED = "grant:expiry_reminded"
    DATA_READ = "data:read"
    DATA_WRITTEN = "data:written"
    DATA_CORRECTED = "data:corrected"
    DATA_WITHDRAWN = "data:withdrawn"
    WRITEBACK_APPLIED = "writeback:applied"
    WRITEBACK_REJECTED = "writeback:rejected"
    TOKEN_ISSUED = "token:issued"  # noqa: S105 (an action name)
    TOKEN_REVOKED = "token:revoked"  # noqa: S105 (an action name)
    CODE_REPLAYED = "code:replayed"
    REFRESH_REPLAYED = "refresh_token:replayed"
    USER_SIGNED_IN = "user:signed_in"
    USER_SIGN_IN_FAILED = "user:sign_in_failed"
    PASSWORD_CHANGED = "user:password_changed"  # noqa: S105 (an action name)
    SECOND_FACTOR_ENROLLED = "user:second_factor_enrolled"
    SECOND_FACTOR_PASSED = "user:second_factor_passed"
    SECOND_FACTOR_FAILED = "user:second_factor_failed"
    SECOND_FACTOR_RESET = "user:second_factor_reset"
    RECOVERY_CODE_USED = "user:recovery_code_used"
    RECOVERY_CODES_REPLACED = "user:recovery_codes_replaced"
    SECURITY_NOTICE_DUE = "user:security_notice_due"
    WEBHOOK_SET = "application:webhook_set"
    WEBHOOK_REMOVED = "application:webhook_removed"
    WEBHOOK_REPLAYED = "webhook:replayed"
    CONNECTOR_REGISTERED = "connector:registered"
    CONNECTOR_SECRET_ROTATED = "connector:secret_rotated"  # noqa: S105 (an action name)
    CONNECTOR_REVOKED = "connector:revoked"
    RESOURCE_SERVER_REGISTERED = "resource_server:registered"
    RESOURCE_SERVER_SECRET_ROTATED = "resource_server:secret_rotated"  # noqa: S105 (an action name)
    RESOURCE_SERVER_REMOVED = "resource_server:removed"
    SYNC_APPLIED = "sync:applied"
    SYNC_FAILED = "sync:failed"
    SYNC_PAUSED = "sync:paused"
    SYNC_RESUMED = "sync:resumed"
    REGISTER_IMPORTED = "register:imported"
    SCHOOL_ONBOARDED = "school:onboarded"
    SCHOOL_ADDED_OUTSIDE_REGISTER = "school:added_outside_register"
    SCHOOL_UPDATED_FROM_REGISTER = "school:updated_from_register"
    SCHOOL_CLOSED = "school:closed"
    SCHOOL_REOPENED = "school:reopened"
    TRUST_ONBOARDED = "trust:onboarded"
    TRUST_UPDATED_FROM_REGISTER = "trust:updated_from_register"
    INVITATION_SENT = "invitation:sent"
    INVITATION_REMINDED = "invitation:reminded"
    INVITATION_WITHDRAWN = "invitation:withdrawn"
    INVITATION_ACCEPTED = "invitation:accepted"
    ROLE_CHANGED = "role:changed"
    ROLE_REMOVED = "role:removed"
    PASSWORD_RESET_REQUESTED = "user:password_reset_requested"  # noqa: S105 (an action name)
    PASSWORD_RESET_COMPLETED = "user:password_reset_completed"  # noqa: S105 (an action name)
    MEMBER_ENROLLED = "member:enrolled"
    MEMBER_PASSWORD_SET = "member:password_set"  # noqa: S105 (an action name)
    MEMBER_SIGNED_IN = "member:signed_in"
    MEMBER_SIGN_IN_FAILED = "member:sign_in_failed"
    MEMBER_SIGNED_OUT = "member:signed_out"
    MEMBER_BADGE_ISSUED = "member:badge_issued"
    MEMBER_BADGE_REISSUED = "member:badge_reissued"
    MEMBER_BADGE_REFUSED = "member:badge_refused"
    MEMBER_SIGNED_IN_TO_APPLICATION = "member:signed_in_to_application"
    SIGN_IN_ROLES_CHANGED = "school:sign_in_roles_changed"
    APPLICATION_ASSIGNED = "application:assigned"
    APPLICATION_UNASSIGNED = "application:unassigned"
    APPLICATION_LAUNCHED = "application:launched"
    MEMBER_INVITED = "member:invited"
    MEMBER_MAGIC_LINK_SENT = "member:magic_link_sent"
    MEMBER_LINK_USED = "member:link_used"


def record(
    action: AuditAction,
    *,
    actor: User | Application | str,
    school: School | int | None = None,
    application: Application | int | None = None,
    **detail: Any,
) -> int:
    """Write an audit event in the current transaction (it commits with the action or not at
    all); returns its id."""
    if isinstance(actor, User):
        actor_user_id, actor_text = actor.id, actor.email
    elif isinstance(actor, Application):
        actor_user_id, actor_text = None, f"application {actor.client_id}"
    else:
        actor_user_id, actor_text = None, actor
    # A plain INSERT rather than an ORM object: every API read records one, and nothing reads
    # an event back in the request that wrote it. The ids it refers to already exist.
    result = db.session.connection().execute(
        AuditEvent.__table__.insert(),
        {
            "occurred_at": utcnow(),
            "action": str(action),
            "actor": actor_text,
            "actor_user_id": actor_user_id,
            "school_id": school.id if isinstance(school, School) else school,
            "application_id": (
                application.id if isinstance(application, Application) else application
            ),
            "detail": detail,
        },
    )
    key = result.inserted_primary_key
    if key is None:  # SQLAlchemy's type allows it; a single-row INSERT always has its key
        raise RuntimeError("the audit event was written without an id")
    return int(key[0])
