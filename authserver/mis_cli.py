"""Operator commands for schools' MIS data: connectors, sync status, file imports
(`flask --app wsgi mis ...`)."""

from __future__ import annotations

import datetime as dt

import click
from flask.cli import AppGroup
from sqlalchemy import select

from authserver.extensions import db

mis = AppGroup("mis", help="Schools' MIS data: connectors, sync status, file imports.")
connector_group = AppGroup("connector", help="A school's MIS connector credentials.")
mis.add_command(connector_group)


def _school(urn: str):  # type: ignore[no-untyped-def]
    from authserver.models.organisations import School

    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None:
        raise click.UsageError(f"No school has the URN {urn}.")
    return school


def _connector(client_id: str):  # type: ignore[no-untyped-def]
    from authserver.domain import connectors

    connector = connectors.find(db.session, client_id)
    if connector is None:
        raise click.UsageError(f"No connector has the client id {client_id}.")
    return connector


@connector_group.command("add")
@click.option("--school", "urn", required=True, help="The school's URN.")
@click.option("--name", default="MIS connector", show_default=True, help="What it is, for people.")
def add_command(urn: str, name: str) -> None:
    """Register a connector for a school and print its client id and secret (shown once)."""
    from authserver.domain import connectors

    school = _school(urn)
    try:
        connector, secret = connectors.register(db.session, school, name, actor="operator (CLI)")
    except connectors.ConnectorError as error:
        raise click.UsageError(str(error)) from None
    db.session.commit()
    click.echo(f"Connector for {school.name} ({school.urn}).")
    click.echo(f"client_id:     {connector.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown once: keep it in the MIS agent's configuration now.")


@connector_group.command("rotate")
@click.argument("client_id")
@click.option(
    "--overlap-hours",
    type=click.FloatRange(0, 168),
    default=24,
    show_default=True,
    help="How long the old secret keeps working (0: stop it now, as after a leak).",
)
def rotate_command(client_id: str, overlap_hours: float) -> None:
    """Give a connector a new secret (shown once)."""
    from authserver.domain import connectors

    connector = _connector(client_id)
    try:
        secret = connectors.rotate_secret(
            db.session,
            connector,
            actor="operator (CLI)",
            overlap=dt.timedelta(hours=overlap_hours),
        )
    except connectors.ConnectorError as error:
        raise click.UsageError(str(error)) from None
    db.session.commit()
    click.echo(f"client_secret: {secret}")
    if overlap_hours:
        click.echo(f"The old secret keeps working for {overlap_hours:g} hour(s).")
    else:
        click.echo("The old secret and its tokens stopped working now.")


@connector_group.command("revoke")
@click.argument("client_id")
def revoke_command(client_id: str) -> None:
    """End a connector: its secrets and tokens stop working at once."""
    from authserver.domain import connectors

    connector = _connector(client_id)
    connectors.revoke(db.session, connector, actor="operator (CLI)")
    db.session.commit()
    click.echo(f"Connector {client_id} revoked.")


@connector_group.command("list")
@click.option("--school", "urn", required=True, help="The school's URN.")
def list_command(urn: str) -> None:
    """A school's connectors."""
    from authserver.domain import connectors

    school = _school(urn)
    found = connectors.connectors_of(db.session, school.id)
    if not found:
        click.echo(f"{school.name} has no connector.")
    for connector in found:
        state = "revoked" if connector.revoked_at else "active"
        used = (
            connector.last_used_at.isoformat(timespec="minutes")
            if connector.last_used_at
            else "never"
        )
        click.echo(f"{connector.client_id}  {state:8}  last used {used}  {connector.name}")


@mis.command("status")
@click.option("--all", "show_all", is_flag=True, help="List every school, not only the troubled.")
def status_command(show_all: bool) -> None:
    """Schools whose sync is failing or stale (exit status 1 when there are any)."""
    from authserver.domain.sync_health import Health, health_of
    from authserver.models.organisations import School

    troubled = 0
    for school in db.session.scalars(select(School).order_by(School.urn)):
        health = health_of(db.session, school.id)
        bad = health.state in (Health.FAILING, Health.STALE)
        troubled += bad
        if not (bad or show_all):
            continue
        last = (
            health.last_success_at.isoformat(timespec="minutes")
            if health.last_success_at
            else "never"
        )
        line = f"{school.urn}  {health.state:8}  last good sync {last}  {school.name}"
        if health.state is Health.FAILING and health.last_error_summary:
            line += f"\n        {health.last_error_summary}"
        click.echo(line)
    if not troubled:
        click.echo("No school's sync is failing or stale.")
    else:
        raise SystemExit(1)
