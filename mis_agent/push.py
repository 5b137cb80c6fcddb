"""Push a school's records: a delta as batches of changes, a whole-school export as a snapshot.

A file read by `authserver.mis_files` stands in for the MIS's export. Batches carry the
records in dependency order (pupils before their marks) so that every link names a record
the server has or the same batch brings; their ids come from the file's digest, so a rerun
after a crash is answered as the first run was, and nothing is applied twice.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from authserver.mis_files import FileRefused, ParsedFile, read_file
from mis_agent.connector_api import AgentError, ConnectorAPI, SyncPaused, describe, json_or_none

#: The server takes at most 10,000 records a batch; smaller batches are retried faster.
DEFAULT_BATCH_SIZE = 5_000
MAX_BATCH_SIZE = 10_000
#: How long to follow a committed snapshot being applied in the background, and how often.
DEFAULT_WAIT_SECONDS = 3_600.0
POLL_SECONDS = 2.0
#: Problems printed from a refusal (the server sends at most a hundred).
SHOWN_PROBLEMS = 50
COUNT_KINDS = ("added", "changed", "removed", "unchanged")


@dataclass
class Summary:
    """What a push did, per entity: added, changed, removed and unchanged records."""

    file: str
    mode: str
    batches: int = 0
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        for entity, kinds in counts.items():
            self.counts.setdefault(entity, Counter()).update(kinds)

    def lines(self) -> list[str]:
        noun = "batch" if self.batches == 1 else "batches"
        lines = [f"Pushed {self.file} as a {self.mode} in {self.batches} {noun}."]
        width = max([len("entity"), *map(len, self.counts)])
        lines.append(f"  {'entity':<{width}}" + "".join(f"{k:>11}" for k in COUNT_KINDS))
        for entity, kinds in self.counts.items():
            lines.append(f"  {entity:<{width}}" + "".join(f"{kinds[k]:>11}" for k in COUNT_KINDS))
        return lines


# --- Planning: order, batches, ids (no HTTP) ---------------------------------------------------


def dependency_order(entities: Mapping[str, list[dict[str, Any]]]) -> list[str]:
    """The entities, each after those its records link to, else in the order given.

    A link is a field `<entity>_id` (docs/connector.md: `student_id` holds a UPN, `class_id`
    a class's key); links to entities the file does not carry are the server's business.
    """
    names = list(entities)
    needs = {
        name: {
            key.removesuffix("_id")
            for record in records
            for key in record
            if key.endswith("_id") and key.removesuffix("_id") in entities
        }
        - {name}
        for name, records in entities.items()
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and needs[n] <= set(ordered)]
        # A cycle (records of two entities naming each other) goes in the file's order.
        ordered.append(ready[0] if ready else next(n for n in names if n not in ordered))
    return ordered


def changes_of(parsed: ParsedFile) -> Iterator[tuple[str, str, Any]]:
    """(entity, "upsert" or "delete", record or key): upserts in dependency order, then the
    deletions in the reverse order (marks before their pupils)."""
    only_deleted = {e: [] for e in parsed.deletions if e not in parsed.entities}
    order = dependency_order({**parsed.entities, **only_deleted})
    for entity in order:
        for record in parsed.entities.get(entity, []):
            yield entity, "upsert", record
    for entity in reversed(order):
        for key in parsed.deletions.get(entity, []):
            yield entity, "delete", key


def batches(
    changes: Iterable[tuple[str, str, Any]], size: int
) -> Iterator[dict[str, dict[str, list[Any]]]]:
    """Bodies of at most `size` changes, in the order given: sent one after the other, every
    record reaches the server no earlier than the records it links to."""
    body: dict[str, dict[str, list[Any]]] = {}
    held = 0
    for entity, op, value in changes:
        body.setdefault(entity, {}).setdefault(op, []).append(value)
        held += 1
        if held == size:
            yield body
            body, held = {}, 0
    if held:
        yield body


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_id(digest: str, batch_size: int) -> str:
    """The same file sent in batches of the same size gets the same ids: a rerun after a
    crash is answered as the first run was (the server keeps each batch's answer)."""
    return f"{digest[:32]}-{batch_size}"


# --- Sending ----------------------------------------------------------------------------------


def push_file(
    api: ConnectorAPI,
    path: Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    allow_mass_deletion: bool = False,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
) -> Summary:
    """Read a CTF or OneRoster file and push it: a snapshot when it holds whole entities
    (OneRoster bulk), else batches of changes."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise AgentError(f"The batch size is 1 to {MAX_BATCH_SIZE:,} records.")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise AgentError(f"Cannot read {path}: {error.strerror}.") from None
    try:
        parsed = read_file(data, path.name)
    except FileRefused as refused:
        raise AgentError(f"{path} cannot be read: {refused}") from None
    prefix = run_id(file_digest(data), batch_size)
    summary = Summary(path.name, parsed.mode)
    if parsed.mode == "snapshot":
        push_snapshot(api, parsed, prefix, summary, batch_size, allow_mass_deletion, wait_seconds)
    else:
        push_changes(api, parsed, prefix, summary, batch_size)
    return summary


def push_changes(
    api: ConnectorAPI, parsed: ParsedFile, prefix: str, summary: Summary, batch_size: int
) -> None:
    """PUT /changes/{id} for each batch, in order; each is applied whole or not at all."""
    for number, body in enumerate(batches(changes_of(parsed), batch_size), start=1):
        batch = f"{prefix}-{number}"
        response = api.call("PUT", f"changes/{batch}", **gzipped(body))
        answer = accepted(response, f"batch {number}", (200,))
        summary.add(answer.get("counts", {}))
        summary.batches = number


def push_snapshot(
    api: ConnectorAPI,
    parsed: ParsedFile,
    snapshot: str,
    summary: Summary,
    batch_size: int,
    allow_mass_deletion: bool,
    wait_seconds: float,
) -> None:
    """Open the snapshot, send its batches, commit it and follow it until it is applied."""
    if any(parsed.deletions.values()):
        raise AgentError("A snapshot holds records only; this file also deletes some.")
    entities = [e for e, records in parsed.entities.items() if records]
    opened = api.call("PUT", f"snapshots/{snapshot}", json={"entities": entities})
    state = accepted(opened, "the snapshot", (200, 201)).get("state")
    if state == "receiving":
        upserts = changes_of(parsed)
        for number, body in enumerate(batches(upserts, batch_size), start=1):
            path = f"snapshots/{snapshot}/batches/{number}"
            accepted(api.call("PUT", path, **gzipped(body)), f"batch {number}", (200, 201))
            summary.batches = number
    else:
        summary.batches = int(opened.json().get("batches") or 0)  # sent before, answered
    committed = api.call(
        "POST", f"snapshots/{snapshot}/commit", json={"allow_mass_deletion": allow_mass_deletion}
    )
    answer = accepted(committed, "the snapshot's commit", (200, 202))
    if committed.status_code == 202:
        location = committed.headers.get("Location") or f"/connector/v1/snapshots/{snapshot}"
        answer = follow(api, location.split("/connector/v1/", 1)[-1], wait_seconds)
    summary.add(answer.get("counts", {}))


def follow(api: ConnectorAPI, path: str, wait_seconds: float) -> dict[str, Any]:
    """Poll a committed snapshot until it succeeds (its status) or fails (AgentError)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        status = api.get_json(path)
        if status.get("state") == "succeeded":
            return status
        if status.get("state") == "failed":
            raise refused_with(status, "The snapshot failed; nothing of it was applied.")
        if time.monotonic() > deadline:
            raise AgentError(
                f"The snapshot is still {status.get('state')} after {wait_seconds:.0f} s; "
                "run the same push again later to follow it."
            )
        api.sleep(POLL_SECONDS)


def gzipped(body: Mapping[str, Any]) -> dict[str, Any]:
    """Request options for a gzip-compressed JSON body."""
    return {
        "data": gzip.compress(json.dumps(body, ensure_ascii=False).encode(), mtime=0),
        "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    }


def accepted(response: requests.Response, what: str, statuses: tuple[int, ...]) -> dict[str, Any]:
    """The answer's body when its status is one of `statuses`; else the refusal, in words."""
    body = json_or_none(response)
    if response.status_code in statuses and isinstance(body, dict):
        return body
    if response.status_code == 409 and isinstance(body, dict) and body["error"] == "sync_paused":
        raise SyncPaused(f"Not sent: {body.get('error_description')}")
    if response.status_code == 422 and isinstance(body, dict) and "errors" in body:
        raise refused_with(body, f"The server refused {what}; nothing of it was applied.")
    raise AgentError(f"The server refused {what}: {describe(response)}")


def refused_with(body: Mapping[str, Any], message: str) -> AgentError:
    """An AgentError listing the server's problems: entity, index, field and message."""
    problems = list(body.get("errors") or [])
    details = [problem_line(p) for p in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        details.append(f"... and {len(problems) - SHOWN_PROBLEMS} more")
    return AgentError(f"{message} {len(problems)} problem(s):", details=details)


def problem_line(problem: Mapping[str, Any]) -> str:
    """'student[3].upn: The UPN's check letter is wrong (upn)'."""
    where = problem.get("entity") or "batch"
    if problem.get("index") is not None:
        where += f"[{problem['index']}]"
    if problem.get("field"):
        where += f".{problem['field']}"
    return f"{where}: {problem.get('message')} ({problem.get('rule')})"
