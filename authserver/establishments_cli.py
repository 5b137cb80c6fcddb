"""Operator commands for the DfE's register of establishments (GIAS): importing its extract
and onboarding schools and trusts from it (`flask --app wsgi establishments ...`)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from authserver.extensions import db

establishments = AppGroup(
    "establishments", help="The DfE register of establishments (GIAS): import, onboard."
)
CLI_ACTOR = "operator (CLI)"


@establishments.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Load a GIAS establishment CSV (the "edubasealldata" extract, Windows-1252): adds and
    updates register entries and trusts, and the schools and trusts on the platform, in one
    transaction. A file with any problem changes nothing."""
    from authserver.domain import establishments as register

    content = file.read_bytes()
    click.echo(f"Reading {file.name} ({len(content):,} bytes)...")
    try:
        rows = register.read_register(content)
    except register.RegisterRefused as refused:
        raise click.ClickException(f"{file.name}: {refused} Nothing was imported.") from None
    with click.progressbar(length=len(rows), label="Importing", show_pos=True) as bar:
        done = [0]

        def progress(now: int) -> None:
            bar.update(now - done[0])
            done[0] = now

        try:
            summary = register.import_register(rows, actor=CLI_ACTOR, progress=progress)
        except Exception:
            db.session.rollback()
            raise
    db.session.commit()
    click.echo(
        f"Establishments: {summary.added:,} added, {summary.updated:,} updated, "
        f"{summary.closed:,} closed, {summary.unchanged:,} unchanged."
    )
    click.echo(f"Trusts: {summary.trusts_added:,} added, {summary.trusts_updated:,} updated.")
    click.echo(
        f"On the platform: {summary.schools_updated:,} school(s) updated, "
        f"{summary.schools_closed:,} closed, {summary.platform_trusts_updated:,} trust(s) renamed."
    )


def _platform_admin(email: str):  # type: ignore[no-untyped-def]
    from authserver.models.users import User

    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active or not user.is_platform_admin:
        raise click.UsageError(f"{email} is not a platform admin: --by must name one.")
    return user


@establishments.command("onboard")
@click.argument("urn", required=False)
@click.option("--trust", "trust_code", help="Onboard this trust (its register code) instead.")
@click.option(
    "--by", "email", required=True, help="The platform admin doing it (their email address)."
)
def onboard_command(urn: str | None, trust_code: str | None, email: str) -> None:
    """Onboard the register's establishment URN as a school, or with --trust CODE a trust and
    all its open schools. Audited under the platform admin named by --by."""
    from authserver.domain import establishments as register

    if (urn is None) == (trust_code is None):
        raise click.UsageError("Give either a URN or --trust CODE.")
    user = _platform_admin(email)
    try:
        if urn is not None:
            entry = register.find_establishment(urn.strip())
            if entry is None:
                raise click.UsageError(f"The register has no establishment with the URN {urn}.")
            school = register.onboard_school(entry, by=user)
            message = f"Onboarded {school.name} (URN {school.urn})."
        else:
            register_trust = register.find_register_trust((trust_code or "").strip())
            if register_trust is None:
                raise click.UsageError(f"The register has no trust with the code {trust_code}.")
            done = register.onboard_trust(register_trust, by=user)
            message = (
                f"Onboarded {done.trust.name} (trust {done.trust.code}): "
                f"{len(done.added)} school(s) added, {len(done.joined)} already here joined it."
            )
    except register.OnboardingRefused as refused:
        db.session.rollback()
        raise click.ClickException(f"{str(refused)[:1].upper()}{str(refused)[1:]}.") from None
    db.session.commit()
    click.echo(message)
