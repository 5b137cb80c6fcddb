"""docs/webhooks.md shows real bodies: each one, and one of every event type, is as the OpenAPI
document's `webhooks` section says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from authserver.domain.webhook_outbox import WebhookEvent
from tests.webhook_deliveries import assert_matches_document

DOC = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"


def documented_bodies() -> list[dict]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [json.loads(line) for block in blocks for line in block.splitlines() if line.strip()]


def test_every_documented_body_matches_the_openapi_document(client) -> None:
    bodies = documented_bodies()
    for body in bodies:
        assert_matches_document(client, body)
    assert {body["type"] for body in bodies} >= {str(event) for event in WebhookEvent} - {
        "connection.revoked"
    }  # the revoked body is the signed example at the top


def test_the_signed_example_matches_too(client) -> None:
    text = DOC.read_text()
    example = re.search(r"\n\n(\{\"id\":.*\"type\":\"connection.revoked\".*\})\n", text)
    assert example, "the signed example delivery is missing"
    assert_matches_document(client, json.loads(example.group(1)))


def test_a_body_that_breaks_the_schema_is_caught(client) -> None:
    body = next(b for b in documented_bodies() if b["type"] == "connection.scopes_changed")
    body["data"]["changes"].pop("narrowed")
    with pytest.raises(AssertionError, match="narrowed"):
        assert_matches_document(client, body)
