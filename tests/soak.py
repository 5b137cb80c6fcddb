"""`make soak`: the long concurrency and fault scenarios against two gunicorn servers and a
private PostgreSQL, ending in a table. Exits 1 if any scenario found a problem or lost data.

    python -m tests.soak [--rounds 5] [--restarts 3] [--replies-per-phase 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from flask import Flask

from authserver.extensions import db
from tests.live_processes import (
    GENEROUS_RATE_LIMITS,
    LiveServer,
    PrivatePostgres,
    Unavailable,
    app_on,
    running,
)
from tests.oauth_flow import OAuthFlow
from tests.scenario_client import REDIRECT_URI, Round, Send, live
from tests.scenario_load import restart_under_load, seed_world, table
from tests.scenario_races import code_race, prepare_scope_change, refresh_race, scope_change_race


def merged(name: str, rounds: list[Round]) -> Round:
    """One table row for several rounds of a scenario."""
    total = Round(name)
    for r in rounds:
        total.replies += r.replies
        total.problems += r.problems
        total.lost += r.lost
    return total


def signed_in_flow(app: Flask, client: tuple[str, str], email: str) -> OAuthFlow:
    """The school admin's browser (in process, on the same database) that makes the codes."""
    flow = OAuthFlow(app.test_client(), client[0], client[1], REDIRECT_URI)
    flow.sign_in(email)
    return flow


def concurrency_rounds(
    app: Flask, urls: list[str], resource_server: tuple[str, str], rounds: int
) -> list[Round]:
    """Codes, refresh tokens and scope changes raced across both servers, `rounds` times."""
    import requests

    def senders(n: int) -> list[Send]:
        return [live(urls[i % len(urls)], requests.Session()) for i in range(n)]

    codes, refreshes, changes = [], [], []
    for n in range(rounds):
        change = prepare_scope_change(app, label=f"code-{n}")
        flow = signed_in_flow(app, change.client, change.admin_email)
        code = flow.code()
        codes.append(
            code_race(
                senders(20),
                code=code,
                verifier=flow.verifier,
                client=change.client,
                resource_server=resource_server,
            )
        )
        change = prepare_scope_change(app, label=f"refresh-{n}")
        flow = signed_in_flow(app, change.client, change.admin_email)
        refreshes.append(
            refresh_race(
                senders(20),
                tokens=flow.tokens(),
                client=change.client,
                resource_server=resource_server,
            )
        )
        change = prepare_scope_change(app, label=f"scope-{n}")
        changes.append(
            scope_change_race(app, change, admin_sends=senders(2), vendor_sends=senders(4))
        )
    return [
        merged(f"code redeemed 20 times at once (x{rounds})", codes),
        merged(f"refresh token used 20 times at once (x{rounds})", refreshes),
        merged(f"scope change raced with claims and tokens (x{rounds})", changes),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its table; 0 when nothing went wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each race")
    parser.add_argument("--restarts", type=int, default=3, help="PostgreSQL restarts")
    parser.add_argument(
        "--replies-per-phase",
        type=int,
        default=200,
        help="successful replies before each stop, and 503s before each start",
    )
    options = parser.parse_args(argv)
    try:
        database = PrivatePostgres()
    except Unavailable as missing:
        print(f"soak: {missing}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="authserver-soak-"))
    with database:
        app = app_on(database.url, workdir / "instance")
        # Enough waiting requests for an approval every few requests throughout the run.
        waiting = 100 + options.replies_per_phase * (options.restarts + 1)
        world = seed_world(app, waiting_schools=waiting)
        settings = {"instance_path": workdir / "live", "environment": GENEROUS_RATE_LIMITS}
        first = LiveServer(database.url, **settings)
        second = LiveServer(database.url, issuer=first.url, **settings)
        with running(first, second):
            urls = [first.url, second.url]
            print(f"soak: PostgreSQL restarted {options.restarts} times under load ...")
            restarts, recoveries = restart_under_load(
                app,
                database,
                world,
                urls,
                restarts=options.restarts,
                replies_per_phase=options.replies_per_phase,
                phase_timeout_seconds=120,
            )
            print(f"soak: {options.rounds} rounds of each race ...")
            rounds = [
                restarts,
                *concurrency_rounds(app, urls, world.resource_server, options.rounds),
            ]
            logs = first.log() + second.log()
        with app.app_context():
            db.engine.dispose()
    print()
    print(table(rounds))
    shown = ", ".join("never" if s is None else f"{s:.1f} s" for s in recoveries)
    print(f"\nRecovery after each restart (first success of every kind of request): {shown}")
    failed = False
    for r in rounds:
        for problem in r.problems[:20]:
            print(f"PROBLEM {r.name}: {problem}")
        for loss in r.lost[:20]:
            print(f"LOST {r.name}: {loss}")
        failed = failed or bool(r.problems or r.lost)
    if "Traceback" in logs:
        print("PROBLEM: the servers logged a traceback (see the gunicorn logs in", workdir, ")")
        failed = True
    print("\nsoak:", "FAILED" if failed else "passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
