"""`python -m mis_agent push|writebacks|status`: the reference connector's commands.

The client secret comes from the environment (MIS_AGENT_CLIENT_SECRET) or a file
(--secret-file), never from the command line, where process lists and shell history keep it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mis_agent import push, writebacks
from mis_agent.connector_api import AgentError, ConnectorAPI

SECRET_VARIABLE = "MIS_AGENT_CLIENT_SECRET"  # noqa: S105 (the variable's name, not a secret)


def parser() -> argparse.ArgumentParser:
    """The commands and their options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", required=True, help="The server's address, e.g. https://...")
    common.add_argument("--client-id", required=True, help="The connector's client id.")
    common.add_argument(
        "--secret-file",
        type=Path,
        help=f"A file holding the client secret (else the {SECRET_VARIABLE} variable).",
    )
    main = argparse.ArgumentParser(prog="python -m mis_agent", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)

    send = commands.add_parser(
        "push", parents=[common], help="Send a CTF or OneRoster file's records."
    )
    send.add_argument("file", type=Path, help="A CTF (XML) or a OneRoster bundle (zip).")
    send.add_argument(
        "--batch-size",
        type=int,
        default=push.DEFAULT_BATCH_SIZE,
        help=f"Records per batch (at most {push.MAX_BATCH_SIZE:,}; "
        f"default {push.DEFAULT_BATCH_SIZE:,}).",
    )
    send.add_argument(
        "--allow-mass-deletion",
        action="store_true",
        help="Say that a snapshot removing many of the school's records is intended.",
    )
    send.add_argument(
        "--wait",
        type=float,
        default=push.DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help="How long to follow a snapshot applied in the background.",
    )

    queue = commands.add_parser(
        "writebacks", parents=[common], help="Pull what vendors wrote and acknowledge it."
    )
    mode = queue.add_mutually_exclusive_group(required=True)
    mode.add_argument("--apply-to", type=Path, metavar="DIR", help="Apply items to a folder.")
    mode.add_argument("--reject-all", metavar="REASON", help="Reject every item, saying why.")
    mode.add_argument("--accept-all", action="store_true", help="Acknowledge every item.")

    commands.add_parser("status", parents=[common], help="The school's sync status and runs.")
    return main


def client_secret(arguments: argparse.Namespace) -> str:
    """The secret from --secret-file or the environment."""
    if arguments.secret_file is not None:
        try:
            secret = arguments.secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise AgentError(f"Cannot read {arguments.secret_file}: {error.strerror}.") from None
    else:
        secret = os.environ.get(SECRET_VARIABLE, "").strip()
    if not secret:
        raise AgentError(f"No client secret: set {SECRET_VARIABLE} or pass --secret-file.")
    return secret


def run_push(api: ConnectorAPI, arguments: argparse.Namespace) -> None:
    summary = push.push_file(
        api,
        arguments.file,
        batch_size=arguments.batch_size,
        allow_mass_deletion=arguments.allow_mass_deletion,
        wait_seconds=arguments.wait,
    )
    print("\n".join(summary.lines()))


def run_writebacks(api: ConnectorAPI, arguments: argparse.Namespace) -> None:
    if arguments.apply_to is not None:
        handle: writebacks.Handler = writebacks.FolderMIS(arguments.apply_to).apply
    elif arguments.reject_all is not None:
        handle = writebacks.reject_with(arguments.reject_all)
    else:
        handle = writebacks.accept
    outcomes = writebacks.settle_queue(api, handle, print)
    done = ", ".join(f"{n} {state}" for state, n in sorted(outcomes.items())) or "nothing queued"
    print(f"Writebacks: {done}.")


def run_status(api: ConnectorAPI, _arguments: argparse.Namespace) -> None:
    status: dict[str, Any] = api.get_json("status")
    school, sync = status["school"], status["sync"]
    print(f"{school['name']} (URN {school['urn']}): sync {sync['state']}")
    print(f"  last success: {sync.get('last_success_at') or 'never'}")
    if sync.get("paused_at"):
        print(f"  paused since {sync['paused_at']}: {sync.get('pause_reason') or ''}".rstrip())
    print("Last runs:" if status["runs"] else "No runs yet.")
    for run in status["runs"]:
        totals = {
            kind: sum(c.get(kind, 0) for c in (run.get("counts") or {}).values())
            for kind in ("added", "changed", "removed")
        }
        counted = ", ".join(f"{n} {kind}" for kind, n in totals.items())
        print(f"  {run['created_at']}  {run['kind']:<8} {run['state']:<9} {counted}")
        if run.get("summary"):
            print(f"      {run['summary']}")


COMMANDS = {"push": run_push, "writebacks": run_writebacks, "status": run_status}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is 0, 1 (failed) or 3 (the school paused its sync)."""
    arguments = parser().parse_args(argv)
    try:
        api = ConnectorAPI(arguments.server, arguments.client_id, client_secret(arguments))
        COMMANDS[arguments.command](api, arguments)
    except AgentError as error:
        print(f"mis_agent: {error.message}", file=sys.stderr)
        for line in error.details:
            print(f"  {line}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
