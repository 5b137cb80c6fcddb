"""The second factor: who must have one, setting up an authenticator app (TOTP, RFC 6238),
checking its codes (each accepted once) and single-use recovery codes, and resetting it.

Secrets are sealed under a key derived from SECRET_KEY (passed in); recovery codes are kept as
SHA-256 digests (80 random bits each, so a digest cannot be reversed by search)."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import pyotp
from cryptography.fernet import InvalidToken
from sqlalchemy import delete, func, or_, select, update

from authserver.domain import audit, credentials, mail
from authserver.domain.audit import AuditAction
from authserver.domain.catalogue import Catalogue
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.second_factors import RecoveryCode, SecondFactor
from authserver.models.sessions import UserSession
from authserver.models.users import Role, User

SEAL_PURPOSE = "totp secret"
#: RFC 6238 §5.2: one step either side allows for a slow typist and a clock a little off.
STEP_SECONDS = 30
ACCEPTED_STEPS = (-1, 0, 1)
CODE_DIGITS = 6
RECOVERY_CODE_COUNT = 10
# 32 letters and digits (no 0/o, 1/l): 16 of them are 80 random bits.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 16
#: The name an authenticator app shows beside the account.
ISSUER_NAME = "School Data Access"


class SecondFactorError(ValueError):
    """A second-factor change that cannot be made; the message says why, for people."""


class Method(enum.StrEnum):
    """How a person proved their second factor."""

    AUTHENTICATOR = "authenticator"
    RECOVERY_CODE = "recovery_code"


@dataclass(frozen=True)
class Check:
    """A code that was accepted: how, and (for a recovery code) how many remain."""

    method: Method
    recovery_codes_left: int | None = None


class Awaited(enum.StrEnum):
    """What a signed-in session still needs before the person may do anything."""

    SET_UP = "set_up"
    CODE = "code"


def requires_second_factor(user: User) -> bool:
    """Whether this person must have a second factor: a platform admin, or anyone who may
    approve data sharing or manage (connections, the connector, people). View-only staff
    sign in with their password alone."""
    return any(a.role == Role.PLATFORM_ADMIN or a.can_approve or a.can_manage for a in user.roles)


def factor_of(user: User) -> SecondFactor | None:
    """The person's authenticator, confirmed or still being set up."""
    return db.session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))


def is_enrolled(user: User) -> bool:
    """Whether the person has an authenticator in use."""
    factor = factor_of(user)
    return factor is not None and factor.is_confirmed


def awaited(found: UserSession) -> Awaited | None:
    """What the session still needs: an authenticator set up, a code, or nothing."""
    factor = factor_of(found.user)
    if factor is not None and factor.is_confirmed:
        return Awaited.CODE if found.second_factor_at is None else None
    return Awaited.SET_UP if requires_second_factor(found.user) else None


def _seal(secret: str, secret_key: str) -> str:
    return credentials.seal(secret.encode("ascii"), secret_key=secret_key, purpose=SEAL_PURPOSE)


class SecondFactorUnreadable(SecondFactorError):
    """The stored authenticator secret does not open with this server's key: SECRET_KEY was
    changed after the authenticator was set up. Recovery codes still work (they are digests)."""


def _unseal(factor: SecondFactor, secret_key: str) -> str:
    try:
        return credentials.unseal(
            factor.totp_secret_sealed, secret_key=secret_key, purpose=SEAL_PURPOSE
        ).decode("ascii")
    except InvalidToken:
        raise SecondFactorUnreadable(
            f"the authenticator secret of user {factor.user_id} does not open with this SECRET_KEY"
        ) from None


def secret_of(factor: SecondFactor, *, secret_key: str) -> str:
    """The authenticator's secret, unsealed (for the demo's code command only)."""
    return _unseal(factor, secret_key)


def begin_set_up(user: User, *, secret_key: str, secret: str | None = None) -> str:
    """The secret of an authenticator being set up (the same one until it is confirmed, so a
    reloaded page still matches what was scanned); `secret` is for seeding a demo."""
    factor = factor_of(user)
    if factor is not None and factor.is_confirmed:
        raise SecondFactorError("An authenticator is already set up for this account.")
    if factor is not None:
        try:
            return _unseal(factor, secret_key)
        except SecondFactorUnreadable:
            # Nothing was scanned that can still be checked: start the set-up again.
            db.session.delete(factor)
            db.session.flush()
    # RFC 4226 §4 asks for 160 bits of secret: 32 base32 characters.
    secret = secret or pyotp.random_base32(32)
    db.session.add(SecondFactor(user_id=user.id, totp_secret_sealed=_seal(secret, secret_key)))
    db.session.flush()
    return secret


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER_NAME)


def manual_entry(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _step(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def current_code(secret: str, now: dt.datetime | None = None) -> str:
    """The code an authenticator with this secret shows now (for the demo command)."""
    return pyotp.TOTP(secret).at(_step(now or utcnow()) * STEP_SECONDS)


def _accept_totp(factor: SecondFactor, code: str, secret_key: str, now: dt.datetime) -> bool:
    """Accept a code of the accepted steps newer than the last one used, and remember its step;
    the conditional UPDATE makes a code good once even when two requests race with it."""
    totp = pyotp.TOTP(_unseal(factor, secret_key))
    current = _step(now)
    for step in (current + offset for offset in ACCEPTED_STEPS):
        if factor.last_used_step is not None and step <= factor.last_used_step:
            continue
        if not secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            continue
        result = db.session.execute(
            update(SecondFactor)
            .where(
                SecondFactor.id == factor.id,
                or_(SecondFactor.last_used_step.is_(None), SecondFactor.last_used_step < step),
            )
            .values(last_used_step=step)
            .execution_options(synchronize_session=False)
        )
        db.session.refresh(factor)
        return getattr(result, "rowcount", 0) == 1
    return False


def normalised_recovery_code(text: str) -> str:
    """A recovery code as typed (any case, with or without dashes and spaces), normalised."""
    return "".join(ch for ch in text.lower() if ch not in " -")


def _accept_recovery_code(user: User, code: str, now: dt.datetime) -> bool:
    normal = normalised_recovery_code(code)
    if len(normal) != RECOVERY_CODE_LENGTH:
        return False
    result = db.session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_digest == credentials.digest(normal),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def recovery_codes_left(user: User) -> int:
    """How many of the person's recovery codes are still unused."""
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def check(
    user: User, code: str, *, secret_key: str, now: dt.datetime | None = None
) -> Check | None:
    """Whether `code` (from the authenticator, or a recovery code) proves the person's second
    factor; an accepted code is used up, and a recovery code's use is audited. None: refused."""
    now = now or utcnow()
    factor = factor_of(user)
    if factor is None or not factor.is_confirmed:
        return None
    typed = "".join(code.split())
    if len(typed) == CODE_DIGITS and typed.isdigit():
        if _accept_totp(factor, typed, secret_key, now):
            return Check(Method.AUTHENTICATOR)
    elif len(typed) <= 40 and _accept_recovery_code(user, typed, now):
        left = recovery_codes_left(user)
        audit.record(AuditAction.RECOVERY_CODE_USED, actor=user, left=left)
        return Check(Method.RECOVERY_CODE, recovery_codes_left=left)
    audit.record(AuditAction.SECOND_FACTOR_FAILED, actor=user)
    return None


def confirm_set_up(
    user: User,
    code: str,
    *,
    secret_key: str,
    now: dt.datetime | None = None,
    notify: bool = True,
) -> list[str]:
    """Put the authenticator being set up in use once a current code from it is typed; returns
    the person's first recovery codes (shown once). `notify`: email the person (not when the
    demo seed sets one up, with nobody to tell)."""
    now = now or utcnow()
    factor = factor_of(user)
    if factor is None or factor.is_confirmed:
        raise SecondFactorError("Start setting up your authenticator again.")
    typed = "".join(code.split())
    if not (len(typed) == CODE_DIGITS and typed.isdigit()) or not _accept_totp(
        factor, typed, secret_key, now
    ):
        raise SecondFactorError(
            "That code does not match. Check the app shows this account, and type the code it "
            "shows now."
        )
    factor.confirmed_at = now
    codes = _replace_recovery_codes(user, now)
    audit.record(AuditAction.SECOND_FACTOR_ENROLLED, actor=user)
    if notify:
        notify_second_factor_changed(user, change="set up", actor=user)
    return codes


def _new_recovery_code() -> str:
    return "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))


def shown(code: str) -> str:
    """A recovery code as shown to its person: four groups of four."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _replace_recovery_codes(user: User, now: dt.datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_digest=credentials.digest(code), created_at=now)
        for code in codes
    )
    db.session.flush()
    return [shown(code) for code in codes]


def regenerate_recovery_codes(user: User, *, now: dt.datetime | None = None) -> list[str]:
    """New recovery codes in place of every old one (the caller has checked a current code)."""
    if not is_enrolled(user):
        raise SecondFactorError("Set up an authenticator first.")
    codes = _replace_recovery_codes(user, now or utcnow())
    audit.record(AuditAction.RECOVERY_CODES_REPLACED, actor=user)
    notify_second_factor_changed(user, change="new recovery codes", actor=user)
    return codes


def reset(user: User, *, actor: User, reason: str = "") -> None:
    """Remove the person's authenticator and recovery codes: they set up a new one at their
    next step (the caller has checked a current code, or is a platform admin)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    audit.record(
        AuditAction.SECOND_FACTOR_RESET,
        actor=actor,
        person=user.email,
        by_someone_else=actor.id != user.id,
        reason=reason[:500],
    )
    notify_second_factor_changed(user, change="reset", actor=actor)


def notify_second_factor_changed(user: User, *, change: str, actor: User) -> None:
    """Tell the person by email that their second factor changed (a phone that is not theirs
    set up, codes made anew, a reset), in the same unit of work as the change."""
    mail.security_notice(user, mail.NoticeKind.SECOND_FACTOR_CHANGED, what=change)
    audit.record(
        AuditAction.SECURITY_NOTICE_DUE,
        actor=actor,
        notice="second factor changed",
        person=user.email,
        change=change,
    )


def sensitive_among(scopes: Iterable[str], catalogue: Catalogue) -> list[str]:
    """The special-category scopes among `scopes`."""
    return [name for name in scopes if name in catalogue and catalogue[name].sensitive]


def is_fresh(checked_at: dt.datetime | None, window: dt.timedelta, now: dt.datetime) -> bool:
    """Whether a second-factor check at `checked_at` is recent enough for a step-up."""
    return checked_at is not None and now - checked_at <= window


def step_up_due(
    scopes: Iterable[str],
    checked_at: dt.datetime | None,
    *,
    window: dt.timedelta,
    catalogue: Catalogue,
    now: dt.datetime | None = None,
) -> bool:
    """Whether approving `scopes` needs the second factor again: some are special-category
    data and the last check is older than `window` (the STEP_UP_MINUTES setting)."""
    if not sensitive_among(scopes, catalogue):
        return False
    return not is_fresh(checked_at, window, now or utcnow())
