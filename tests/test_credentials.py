"""Secrets are 256-bit and kept as digests; passwords are bcrypt and never truncated."""

from __future__ import annotations

import base64

import pytest

from authserver.domain import credentials


def test_machine_secrets_are_256_bit_and_stored_as_sha256_digests() -> None:
    secret = credentials.new_secret()
    raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    assert len(raw) == 32
    stored = credentials.digest(secret)
    assert len(stored) == 64
    assert secret not in stored
    assert credentials.secret_matches(secret, stored)
    assert not credentials.secret_matches(secret + "x", stored)
    assert not credentials.secret_matches(None, stored)
    assert not credentials.secret_matches(secret, None)


def test_passwords_are_bcrypt_hashed() -> None:
    hashed = credentials.hash_password("correct horse battery")
    assert hashed.startswith("$2b$")
    assert credentials.password_matches("correct horse battery", hashed)
    assert not credentials.password_matches("correct horse batterz", hashed)


@pytest.mark.parametrize("password", ["short", "é" * 40])
def test_password_policy_refuses_short_and_truncated_passwords(password: str) -> None:
    with pytest.raises(credentials.PasswordPolicyError):
        credentials.hash_password(password)


def test_an_overlong_password_never_matches() -> None:
    hashed = credentials.hash_password("a" * 72)
    assert not credentials.password_matches("a" * 73, hashed)
