"""Operator commands, run as `flask --app wsgi ...`."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from authserver import instance
from authserver.extensions import db

demo = AppGroup("demo", help="Demo data for trying the product.")


@demo.command("seed")
@click.option("--schools", type=click.IntRange(1, 50), default=2, show_default=True)
@click.option(
    "--students-per-school",
    type=click.IntRange(0, 5000),
    default=None,
    help="Pupils per school [default: 1000 in a secondary, 300 in a primary].",
)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed for the data.")
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the created credentials to this file (mode 0600).",
)
def seed_command(
    schools: int, students_per_school: int | None, seed: int, json_file: Path | None
) -> None:
    """Create a trust, its schools and their data, users, a vendor and its applications."""
    from authserver.demo.seed import refresh_statistics, seed_demo

    settings = current_app.config["SETTINGS"]
    credentials = seed_demo(
        issuer=settings.issuer,
        password_rounds=settings.bcrypt_rounds,
        secret_key=settings.secret_key,
        schools=schools,
        students_per_school=students_per_school,
        seed=seed,
        progress=lambda message: click.echo(f"  seeding {message}"),
    )
    if credentials is None:
        click.echo("The demo data is already there; nothing was changed.")
        if json_file is not None and json_file.exists():
            click.echo(format_logins(json.loads(json_file.read_text())))
        return
    db.session.commit()
    refresh_statistics()
    db.session.commit()
    document = credentials.as_json()
    if json_file is not None:
        fd = instance.create_file(json_file, replace=True)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
        click.echo(f"Credentials written to {json_file} (keep it private).")
    click.echo(format_logins(document))


def format_logins(document: dict) -> str:
    """The sign-ins of a demo credentials document, as lines for a terminal."""
    lines = [
        "Demo sign-ins (shown once; passwords are stored hashed). Each asks for a code from an"
        " authenticator app: add the authenticator key to one, or print the current code with"
        " `flask --app wsgi demo code EMAIL`."
    ]

    def login(label: str, account: dict[str, Any]) -> str:
        line = f"  {label}: {account['email']}  password: {account['password']}"
        if account.get("totp_secret"):
            line += f"  authenticator key: {account['totp_secret']}"
        return line

    for school in document["schools"]:
        lines.append(login(f"{school['name']} admin", school["admin"]))
    for key, label in (
        ("trust_admin", "Trust admin"),
        ("vendor_admin", "Vendor admin"),
        ("unverified_vendor_admin", "Vendor admin (not yet verified)"),
        ("platform_admin", "Platform admin"),
    ):
        if document.get(key):
            lines.append(login(label, document[key]))
    for connector in document.get("connectors", []):
        lines.append(
            f"  MIS connector of school {connector['school_urn']}:"
            f" client_id {connector['client_id']}  client_secret {connector['client_secret']}"
        )
    sign_in = document.get("sign_in") or {}
    for member in sign_in.get("members", []):
        lines.append(
            f"  {member['role'].capitalize()} at school {sign_in['school_urn']} ({member['name']}):"
            f" {member['login']}  password: {member['password']}  (sign-in: /members/sign-in)"
        )
    if sign_in.get("school_admin"):
        admin = sign_in["school_admin"]
        lines.append(
            f"  School admin at school {sign_in['school_urn']} ({admin['name']}): signs in to apps"
            f" with the admin account {admin['login']} and its code  (sign-in: {admin['sign_in']})"
        )
    if sign_in.get("application"):
        app = sign_in["application"]
        lines.append(
            f"  Sign-in application {app['name']}: client_id {app['client_id']}"
            f"  client_secret {app['client_secret']}  (docs/sign-in.md)"
        )
    lines.append(
        "Try importing samples/ctf-year7-cohort.xml or samples/oneroster-school.zip from a"
        " school's MIS data page (/schools/<URN>/data/import), or push them as the connector"
        " does: docs/connector.md."
    )
    if document.get("platform_admin"):
        lines.append(
            "As the platform admin, find a school or trust in the DfE register (a sample) and"
            " onboard it: /platform/establishments."
        )
    return "\n".join(lines)


@demo.command("scale")
@click.option("--schools", type=click.IntRange(1), default=25_000, show_default=True)
@click.option("--applications", type=click.IntRange(1), default=200, show_default=True)
@click.option("--grants", type=click.IntRange(0), default=1_000_000, show_default=True)
@click.option("--tokens", type=click.IntRange(0), default=10_000_000, show_default=True)
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed.")
def scale_command(schools: int, applications: int, grants: int, tokens: int, seed: int) -> None:
    """Add a platform's worth of schools, applications, grants, school secrets and tokens,
    for scale runs (COPY on PostgreSQL). Adds to what is there; run it on a scratch database."""
    from authserver.demo.scale import ScaleSizes, fill

    sizes = ScaleSizes(schools=schools, applications=applications, grants=grants, tokens=tokens)
    try:
        sizes.check()
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    bars: dict[str, Any] = {}

    def progress(table: str, done: int, total: int) -> None:
        if table not in bars:
            for bar in bars.values():
                bar.render_finish()
            bars[table] = click.progressbar(length=total, label=f"{table:18}", show_pos=True)
        bar = bars[table]
        bar.update(done - bar.pos)

    started = time.monotonic()
    fill(sizes, seed=seed, progress=progress)
    for bar in bars.values():
        bar.render_finish()
    click.echo(f"Filled in {time.monotonic() - started:.0f} s.")


@demo.command("logins")
@click.argument("json_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def logins_command(json_file: Path) -> None:
    """Print the sign-ins kept in a credentials file written by `demo seed --json`."""
    click.echo(format_logins(json.loads(json_file.read_text())))


@demo.command("code")
@click.argument("email")
def code_command(email: str) -> None:
    """Print the current authenticator code of a demo account (not in production)."""
    from sqlalchemy import func, select

    from authserver.demo.seed import DEMO_EMAIL_DOMAIN
    from authserver.domain import second_factor
    from authserver.models import User

    if current_app.config["SETTINGS"].is_production:
        raise click.ClickException("demo codes are not available in production")
    address = email.strip().lower()
    if not address.endswith("." + DEMO_EMAIL_DOMAIN) and not address.endswith(
        "@" + DEMO_EMAIL_DOMAIN
    ):
        raise click.ClickException(f"{email} is not a demo account (@…{DEMO_EMAIL_DOMAIN})")
    user = db.session.scalar(select(User).where(func.lower(User.email) == address))
    factor = second_factor.factor_of(user) if user is not None else None
    if factor is None or not factor.is_confirmed:
        raise click.ClickException(f"{email} has no authenticator set up")
    secret = second_factor.secret_of(factor, secret_key=current_app.config["SECRET_KEY"])
    click.echo(second_factor.current_code(secret))


keys = AppGroup("keys", help="Signing keys for JWT access tokens.")


@keys.command("rotate")
def rotate_keys_command() -> None:
    """Make a new signing key; the previous one keeps verifying until its tokens expire."""
    from authserver.signing import rotate_signing_key

    key = rotate_signing_key()
    db.session.commit()
    click.echo(f"New signing key {key.kid} is now signing JWT access tokens.")


@keys.command("rotate-receipts")
def rotate_receipt_keys_command() -> None:
    """Make a new receipt key; the previous one signs no more and stays published for ever."""
    from authserver.signing import rotate_receipt_key

    key = rotate_receipt_key()
    db.session.commit()
    click.echo(f"New receipt key {key.kid} is now signing consent receipts.")


grants_group = AppGroup("grants", help="Schools' grants.")


@grants_group.command("expire")
def expire_command() -> None:
    """Mark grants whose consent has reached its end date as expired, then tell the vendors
    of consents ending within 30 and 7 days, once each (run it from cron)."""
    from authserver.domain.grants import expire_due, remind_due

    expired = expire_due()
    db.session.commit()
    click.echo(f"{len(expired)} grant(s) reached their end date.")
    reminded = remind_due()
    db.session.commit()
    click.echo(f"{len(reminded)} reminder(s) of an end date sent.")


tokens_group = AppGroup("tokens", help="Access and refresh tokens, codes and pushed requests.")


@tokens_group.command("purge")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=5_000,
    show_default=True,
    help="Rows deleted per transaction (smaller: shorter locks).",
)
def purge_command(batch_size: int) -> None:
    """Delete expired tokens, codes and pushed requests, in small batches (run it from cron)."""
    from authserver.domain.tokens import purge_expired
    from authserver.models.columns import utcnow

    now = utcnow()
    totals: dict[str, int] = {}
    while True:
        removed = purge_expired(now, batch_size=batch_size)
        db.session.commit()
        for table, count in removed.items():
            totals[table] = totals.get(table, 0) + count
        if not any(removed.values()):
            break
    click.echo("Purged: " + ", ".join(f"{count} {table}" for table, count in totals.items()) + ".")


resource_servers_group = AppGroup(
    "resource-servers", help="Resource servers: APIs that introspect the tokens meant for them."
)
CLI_ACTOR = "operator (CLI)"


def _resource_server(client_id: str) -> Any:
    from authserver.domain import resource_servers

    server = resource_servers.find(client_id)
    if server is None:
        raise click.UsageError(f"No resource server has the client id {client_id}.")
    return server


@resource_servers_group.command("add")
@click.option("--name", required=True, help="What it is, for people.")
@click.option("--url", required=True, help="Its resource identifier: an absolute https URL.")
def add_resource_server_command(name: str, url: str) -> None:
    """Register a resource server and print its client id and secret (shown once)."""
    from authserver.domain import resource_servers

    settings = current_app.config["SETTINGS"]
    try:
        server, secret = resource_servers.register(
            name,
            url,
            actor=CLI_ACTOR,
            issuer=settings.issuer,
            allow_loopback_http=not settings.is_production,
        )
    except resource_servers.ResourceServerError as error:
        raise click.UsageError(str(error)) from None
    db.session.commit()
    click.echo(f"Resource server {server.name} at {server.url}.")
    click.echo(f"client_id:     {server.client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown once: put it in the resource server's configuration now.")


@resource_servers_group.command("rotate")
@click.argument("client_id")
@click.option(
    "--overlap-minutes",
    type=click.IntRange(0, 24 * 60),
    default=60,
    show_default=True,
    help="How long the old secret keeps working (0: stop it now, as after a leak).",
)
def rotate_resource_server_command(client_id: str, overlap_minutes: int) -> None:
    """Give a resource server a new secret (shown once)."""
    import datetime as dt

    from authserver.domain import resource_servers

    server = _resource_server(client_id)
    secret = resource_servers.rotate_secret(
        server, actor=CLI_ACTOR, overlap=dt.timedelta(minutes=overlap_minutes)
    )
    db.session.commit()
    click.echo(f"client_secret: {secret}")
    if overlap_minutes:
        click.echo(f"The old secret keeps working for {overlap_minutes} minute(s).")
    else:
        click.echo("The old secret stopped working now.")


@resource_servers_group.command("list")
def list_resource_servers_command() -> None:
    """Every registered resource server: client id, URL and name."""
    from authserver.domain import resource_servers

    found = resource_servers.all_resource_servers()
    if not found:
        click.echo("No resource server is registered.")
    for server in found:
        click.echo(f"{server.client_id}  {server.url}  {server.name}")


@resource_servers_group.command("remove")
@click.argument("client_id")
def remove_resource_server_command(client_id: str) -> None:
    """Remove a resource server: its secret stops working and no application declares it."""
    from authserver.domain import resource_servers

    server = _resource_server(client_id)
    resource_servers.remove(server, actor=CLI_ACTOR)
    db.session.commit()
    click.echo(f"Resource server {client_id} removed.")


vendors_group = AppGroup(
    "vendors", help="Vendors: verify them before their applications may ask real schools."
)


def _vendor(vendor_id: int) -> Any:
    from authserver.models import Vendor

    vendor = db.session.get(Vendor, vendor_id)
    if vendor is None:
        raise click.BadParameter(f"no vendor has the id {vendor_id}", param_hint="VENDOR_ID")
    return vendor


def _operator() -> str:
    # The audit log names who acted: the operator's login, as the shell knows it.
    return f"operator {os.environ.get('USER') or 'unknown'} (command line)"


@vendors_group.command("list")
@click.option("--unverified", is_flag=True, help="Only vendors waiting for verification.")
def list_vendors_command(unverified: bool) -> None:
    """List vendors with what they declared and whether they are verified."""
    from sqlalchemy import select

    from authserver.domain import vendors
    from authserver.models import Vendor

    rows = (
        vendors.awaiting_verification()
        if unverified
        else list(db.session.scalars(select(Vendor).order_by(Vendor.id)))
    )
    if not rows:
        click.echo("No vendors.")
    for vendor in rows:
        if vendor.is_verified:
            state = f"verified {vendor.verified_at:%Y-%m-%d} by {vendor.verified_by}"
        elif vendor.verification_withdrawn:
            state = f"verification withdrawn {vendor.verification_withdrawn_at:%Y-%m-%d}"
        else:
            state = "not verified"
        click.echo(
            f"{vendor.id}\t{vendor.name}\tcompany {vendor.company_number or '-'}"
            f"\tICO {vendor.ico_registration_number or '-'}\t{state}"
        )


@vendors_group.command("verify")
@click.argument("vendor_id", type=int)
def verify_vendor_command(vendor_id: int) -> None:
    """Verify a vendor (after checking its company number and ICO registration)."""
    from authserver.domain import vendors

    vendor = _vendor(vendor_id)
    if vendors.verify(vendor, by=_operator()):
        db.session.commit()
        click.echo(f"{vendor.name} is verified: its applications may ask real schools.")
    else:
        click.echo(f"{vendor.name} was already verified; nothing changed.")


@vendors_group.command("unverify")
@click.argument("vendor_id", type=int)
@click.option("--reason", required=True, help="Why: shown to the vendor and its schools.")
def unverify_vendor_command(vendor_id: int, reason: str) -> None:
    """Withdraw a vendor's verification: nothing new at real schools; grants go on."""
    from authserver.domain import vendors

    vendor = _vendor(vendor_id)
    try:
        vendors.withdraw_verification(vendor, by=_operator(), reason=reason)
    except vendors.VendorDetailsError as refusal:
        raise click.ClickException(str(refusal)) from None
    db.session.commit()
    click.echo(f"{vendor.name}'s verification is withdrawn.")


webhooks = AppGroup("webhooks", help="Signed event notifications to vendors' applications.")


@webhooks.command("deliver")
@click.option(
    "--loop",
    is_flag=True,
    help="Keep delivering until stopped (superseded by `jobs worker`, which also retries).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=5,
    show_default=True,
    help="Seconds to wait, when nothing more is due, before looking again.",
)
@click.option(
    "--batches",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many batches (of up to 50 deliveries).",
)
def deliver_webhooks_command(loop: bool, interval: float, batches: int | None) -> None:
    """Send the webhook deliveries that are due; failed ones wait and are retried later.

    Without --loop, sends everything due now and stops. Several may run at once on
    PostgreSQL: each delivery attempt is claimed by one of them only. The worker that sends
    webhooks as they are written is `flask jobs worker`; --loop is kept for old scripts."""
    from sqlalchemy.exc import SQLAlchemyError

    from authserver.webhooks import deliver_due

    log = logging.getLogger("authserver.webhooks")
    limit = 50
    done = 0
    wait = False
    while batches is None or done < batches:
        if wait:
            time.sleep(interval)
        done += 1
        try:
            counts = deliver_due(limit=limit)
        except SQLAlchemyError:
            if not loop:
                raise
            db.session.rollback()
            log.exception("webhook delivery failed; trying again in %g s", interval)
            wait = True
            continue
        attempted = counts["delivered"] + counts["failed"]
        if attempted:
            click.echo(f"Webhooks: {counts['delivered']} delivered, {counts['failed']} failed.")
        # A full batch means more may be due: go again at once. Otherwise wait, or stop.
        wait = attempted < limit
        if wait and not loop:
            click.echo("Webhooks: nothing more is due.")
            return


mail_group = AppGroup("mail", help="Email: the outbox of invitations, resets and notices.")


@mail_group.command("send")
@click.option(
    "--batches",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many batches of up to 50 messages (default: until none is due).",
)
def send_mail_command(batches: int | None) -> None:
    """Queue the reminders of invitations ending within a day, then send every message that
    is due; failed ones wait (1, 2, 4 ... minutes) and are retried by a later run or the worker."""
    from authserver import jobs, mail_delivery

    reminded = jobs.remind_expiring_invitations()
    if reminded:
        click.echo(f"Mail: {reminded} invitation reminder(s) queued.")
    done = 0
    while batches is None or done < batches:
        done += 1
        counts = mail_delivery.deliver_due(limit=50)
        attempted = counts["sent"] + counts["failed"]
        if attempted:
            click.echo(f"Mail: {counts['sent']} sent, {counts['failed']} failed (retried later).")
        if attempted < 50:
            break
    click.echo("Mail: nothing more is due.")


jobs_group = AppGroup("jobs", help="Background jobs and webhook sends on the task queue.")


@jobs_group.command("worker")
@click.option(
    "--processes", type=click.IntRange(1, 64), default=1, show_default=True, help="Processes."
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Messages each process handles at once.",
)
def worker_command(processes: int, threads: int) -> None:
    """Run jobs and send webhooks from the task queue (TASK_BROKER_URL) until stopped.

    Run one or more on any machine beside the web workers; each also sweeps up deliveries
    and jobs whose message was lost. Without a broker, it delivers due webhooks on a timer
    (jobs then run in the web process that asks for them)."""
    from authserver import jobs

    if processes > 1:
        _supervise(processes, threads)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = jobs.Worker(app, threads=threads)
    where = "in-process (no TASK_BROKER_URL)" if worker.queue.in_process else "the broker"
    click.echo(f"Worker: {threads} thread(s) on {where}; stop with Ctrl-C or SIGTERM.")
    worker.run_until_signalled()
    click.echo("Worker: stopped.")


def _supervise(processes: int, threads: int) -> None:
    """Run `processes` single-process workers and restart any that dies, until signalled."""
    import signal
    import subprocess
    import sys

    from flask.cli import ScriptInfo

    info = click.get_current_context().find_object(ScriptInfo)
    app_option = ["--app", info.app_import_path] if info and info.app_import_path else []
    command = [sys.executable, "-m", "flask", *app_option, "jobs", "worker"]
    command += ["--threads", str(threads)]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    children = [subprocess.Popen(command) for _ in range(processes)]  # noqa: S603 (our own)
    while not stopping:
        for index, child in enumerate(children):
            if child.poll() is not None and not stopping:
                click.echo(f"Worker process {child.pid} exited ({child.returncode}); restarting.")
                children[index] = subprocess.Popen(command)  # noqa: S603
        time.sleep(1)
    for child in children:
        child.send_signal(signal.SIGTERM)
    for child in children:
        child.wait()


def register_commands(app: Flask) -> None:
    """Attach every command group to the app."""
    app.cli.add_command(demo)
    app.cli.add_command(keys)
    app.cli.add_command(webhooks)
    app.cli.add_command(jobs_group)
    app.cli.add_command(mail_group)
    app.cli.add_command(grants_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(resource_servers_group)
    from authserver.establishments_cli import establishments

    app.cli.add_command(vendors_group)
    from authserver.mis_cli import mis

    app.cli.add_command(mis)
    app.cli.add_command(establishments)
