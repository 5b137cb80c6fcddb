"""The writeback queue: pull what vendors wrote, oldest first, apply each item to the MIS and
acknowledge it as applied (with the MIS's key) or rejected (with the MIS's reason).

"The MIS" of the reference connector is a folder: each applied item is appended to
`writebacks.jsonl` in it as one JSON line, before it is acknowledged. An item found there
already (applied, then the agent stopped before acknowledging) is acknowledged again, not
applied twice: a real MIS should key what it applies by the item's id in the same way.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mis_agent.connector_api import AgentError, ConnectorAPI, describe

PAGE_SIZE = 100
APPLIED_FILE = "writebacks.jsonl"


@dataclass(frozen=True)
class Decision:
    """What to tell the server about one item."""

    state: str  # "applied" or "rejected"
    mis_id: str | None = None
    reason: str | None = None

    def body(self) -> dict[str, Any]:
        if self.state == "rejected":
            return {"state": "rejected", "reason": self.reason}
        return {"state": "applied", "mis_id": self.mis_id}


Handler = Callable[[dict[str, Any]], Decision]


def mis_key(item: dict[str, Any]) -> str | None:
    """The MIS's key for the item's record: the one the MIS already has, or a new one made
    up for a record the item creates."""
    if item.get("mis_id"):
        return str(item["mis_id"])
    return f"agent-{item['id']}" if item.get("op") == "create" else None


class FolderMIS:
    """A stand-in for the MIS: items appended to a JSON-lines file in a folder."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / APPLIED_FILE
        self.applied: dict[int, str | None] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self.applied[entry["item"]["id"]] = entry["mis_id"]

    def apply(self, item: dict[str, Any]) -> Decision:
        """Write the item as one line (on disk before we say so), once per item."""
        if item["id"] not in self.applied:
            entry = {"mis_id": mis_key(item), "item": item}
            with self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
                file.flush()
                os.fsync(file.fileno())
            self.applied[item["id"]] = entry["mis_id"]
        return Decision("applied", mis_id=self.applied[item["id"]])


def accept(item: dict[str, Any]) -> Decision:
    """Say every item was applied, without keeping anything (for trying the queue out)."""
    return Decision("applied", mis_id=mis_key(item))


def reject_with(reason: str) -> Handler:
    return lambda item: Decision("rejected", reason=reason)


def queued_items(api: ConnectorAPI) -> Iterator[dict[str, Any]]:
    """The school's queued items, oldest first, page by page."""
    cursor: str | None = None
    while True:
        params = {"limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
        page = api.get_json("writebacks", params=params)
        yield from page["data"]
        cursor = page.get("next")
        if not cursor:
            return


def settle_queue(api: ConnectorAPI, handle: Handler, report: Callable[[str], None]) -> Counter:
    """Handle and acknowledge every queued item; how many ended in each way."""
    outcomes: Counter[str] = Counter()
    for item in queued_items(api):
        decision = handle(item)
        response = api.call(
            "POST", f"writebacks/{item['id']}/acknowledgement", json=decision.body()
        )
        what = f"item {item['id']} ({item['op']} {item['entity']} {item['record_id']})"
        if response.status_code == 200:
            outcomes[decision.state] += 1
            detail = decision.mis_id if decision.state == "applied" else decision.reason
            report(f"{decision.state}: {what}" + (f" -> {detail}" if detail else ""))
        elif response.status_code in (404, 409):  # gone, or settled the other way meanwhile
            outcomes["skipped"] += 1
            report(f"skipped: {what}: {describe(response)}")
        else:
            raise AgentError(
                f"The server refused the acknowledgement of {what}: " + describe(response)
            )
    return outcomes
