"""Settings: environment first, overrides second, unsafe production settings refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from authserver import create_app
from authserver.config import ConfigError, load_settings


def test_defaults_are_safe_for_development(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'authserver.db'}"
    assert settings.access_token_ttl_seconds == 3600
    assert settings.authorization_code_ttl_seconds <= 60


def test_development_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    second = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={})
    assert len(first.secret_key) >= 48
    assert first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_is_read_and_typed(tmp_path: Path) -> None:
    environ = {
        "ACCESS_TOKEN_TTL_SECONDS": "900",
        "ISSUER": "https://auth.example.org/",
        "DATABASE_URL": "postgresql://db.example.org/auth",
        "TRUSTED_PROXY_COUNT": "1",
    }
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=environ)
    assert settings.access_token_ttl_seconds == 900
    assert settings.issuer == "https://auth.example.org"
    assert settings.database_url == "postgresql+psycopg://db.example.org/auth"
    assert settings.trusted_proxy_count == 1


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {
                "APP_ENV": "production",
                "DATABASE_URL": "postgresql://x/y",
                "ISSUER": "https://a.org",
            },
            "SECRET_KEY must be set",
        ),
        (
            {"APP_ENV": "production", "SECRET_KEY": "k" * 40, "ISSUER": "https://a.org"},
            "DATABASE_URL must point to PostgreSQL",
        ),
        (
            {
                "APP_ENV": "production",
                "SECRET_KEY": "k" * 40,
                "DATABASE_URL": "postgresql://x/y",
                "ISSUER": "http://127.0.0.1:5000",
            },
            "ISSUER must use https",
        ),
        ({"ISSUER": "http://auth.example.org"}, "ISSUER must use https"),
        ({"ISSUER": "https://auth.example.org/?a=b"}, "without query or fragment"),
        ({"ACCESS_TOKEN_TTL_SECONDS": "soon"}, "ACCESS_TOKEN_TTL_SECONDS must be a whole number"),
        ({"AUTHORIZATION_CODE_TTL_SECONDS": "600"}, "60 or less"),
        ({"TRUSTED_PROXY_COUNT": "-1"}, "0 or more"),
        ({"SCHOOL_SECRET_OVERLAP_SECONDS": "-1"}, "0 or more"),
        ({"SYNC_FROM_SKEW_SECONDS": "-1"}, "SYNC_FROM_SKEW_SECONDS must be 0 or more"),
        (
            {
                "APP_ENV": "production",
                "SECRET_KEY": "k" * 40,
                "DATABASE_URL": "postgresql://x/y",
                "ISSUER": "https://a.org",
                "BCRYPT_ROUNDS": "4",
            },
            "12 or more in production",
        ),
        ({"APP_ENV": "staging"}, "APP_ENV must be one of"),
    ],
)
def test_unsafe_settings_are_refused_with_the_setting_named(
    environ: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_production_app_starts_with_safe_settings(tmp_path: Path) -> None:
    app = create_app(
        {
            "APP_ENV": "production",
            "SECRET_KEY": "k" * 40,
            "ISSUER": "https://auth.example.org",
            "DATABASE_URL": "postgresql://db.example.org/auth",
            "INSTANCE_PATH": str(tmp_path),
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MAIL_BACKEND": "pigeon"}, "MAIL_BACKEND must be one of"),
        ({"SMTP_TLS": "maybe"}, "SMTP_TLS must be one of"),
        ({"MAIL_FROM": "nobody"}, "MAIL_FROM must be one email address"),
        (
            {
                "APP_ENV": "production",
                "SECRET_KEY": "k" * 40,
                "DATABASE_URL": "postgresql://x/y",
                "ISSUER": "https://a.org",
                "MAIL_BACKEND": "file",
            },
            "MAIL_BACKEND must be smtp in production",
        ),
    ],
)
def test_unsafe_mail_settings_are_refused(
    environ: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"INSTANCE_PATH": str(tmp_path)}, environ=environ)


def test_mail_defaults_write_files_in_development_and_pick_the_tls_port(tmp_path: Path) -> None:
    settings = load_settings({"INSTANCE_PATH": str(tmp_path)}, environ={"SMTP_TLS": "ssl"})
    assert settings.mail_backend == "file"
    assert settings.smtp_port == 465
    assert settings.mail_from == "no-reply@127.0.0.1"
