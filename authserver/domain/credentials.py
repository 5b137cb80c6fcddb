"""Secrets and passwords: machine secrets as SHA-256 digests, people's passwords as bcrypt."""

from __future__ import annotations

import base64
import hashlib
import secrets

import bcrypt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# 32 bytes = 256 bits of entropy: a digest of such a value cannot be reversed by search.
MACHINE_SECRET_BYTES = 32
# bcrypt reads at most 72 bytes; longer passwords are refused rather than silently cut.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 12


class PasswordPolicyError(ValueError):
    """A password that we refuse to store."""


def new_secret() -> str:
    """A fresh 256-bit random secret, URL-safe."""
    return secrets.token_urlsafe(MACHINE_SECRET_BYTES)


def new_identifier(prefix: str = "") -> str:
    """A public random identifier (client ids and the like), not a secret."""
    return prefix + secrets.token_urlsafe(18)


def digest(secret: str) -> str:
    """The SHA-256 hex digest under which a machine secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str | None, stored_digest: str | None) -> bool:
    """Whether `secret` is the one behind `stored_digest`, compared in constant time."""
    if not secret or not stored_digest:
        return False
    return secrets.compare_digest(digest(secret), stored_digest)


#: zxcvbn's scores run 0 to 4; below 3 a password falls to a guessing attack worth making.
MIN_PASSWORD_SCORE = 3


def password_problem(password: str, *, about: tuple[str, ...] = ()) -> str | None:
    """Why a person's new password will not do (too short, too long, or common or guessable,
    `about` being words of theirs, such as their email, that it must not lean on), or None."""
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]

    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters: a few unrelated words work well."
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return f"Use at most {MAX_PASSWORD_BYTES} bytes (about {MAX_PASSWORD_BYTES} letters)."
    verdict = zxcvbn(password[:MAX_PASSWORD_BYTES], user_inputs=list(about))
    if verdict["score"] < MIN_PASSWORD_SCORE:
        warning = verdict["feedback"].get("warning") or "It would be easy to guess."
        return f"Choose another password. {warning}".strip()
    return None


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of a person's password, refusing ones bcrypt would truncate."""
    encoded = password.encode("utf-8")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise PasswordPolicyError(f"a password may have at most {MAX_PASSWORD_BYTES} bytes")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds)).decode("ascii")


def password_matches(password: str, password_hash: str | None) -> bool:
    """Whether `password` is the one behind a bcrypt hash."""
    encoded = password.encode("utf-8")
    if not password_hash or len(encoded) > MAX_PASSWORD_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))


def _box(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"authserver {purpose}".encode()
    ).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(plaintext: bytes, *, secret_key: str, purpose: str) -> str:
    """Encrypt a secret the server must read back later (signing keys, webhook secrets), under a
    key derived from SECRET_KEY for one purpose; digests are used for everything else."""
    return _box(secret_key, purpose).encrypt(plaintext).decode("ascii")


def unseal(sealed: str, *, secret_key: str, purpose: str) -> bytes:
    """Decrypt what `seal` encrypted for the same purpose."""
    return _box(secret_key, purpose).decrypt(sealed.encode("ascii"))
