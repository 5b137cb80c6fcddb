"""Telling connected applications that new MIS data arrived (`school.data_changed`), each
only of the entities it may read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from authserver.domain import webhook_outbox
from authserver.domain.disclosure import disclosure_for
from authserver.domain.webhook_outbox import WebhookEvent
from authserver.models.grants import Grant, GrantStatus
from authserver.models.organisations import School


class EntityCounts(Protocol):
    added: int
    changed: int
    removed: int

    @property
    def touched(self) -> int: ...


def announce(session: Session, school_id: int, counts: Mapping[str, EntityCounts]) -> int:
    """Queue `school.data_changed` for every application in force at the school that may read
    one of the changed entities, in the caller's transaction; returns how many were queued."""
    changed = {entity: c for entity, c in counts.items() if c.touched}
    if not changed:
        return 0
    school = session.get(School, school_id)
    if school is None:
        return 0
    grants = session.scalars(
        select(Grant).where(Grant.school_id == school_id, Grant.status == GrantStatus.ACTIVE)
    )
    queued = 0
    for grant in grants:
        if not grant.is_in_force() or not grant.application.webhook_url:
            continue
        disclosure = disclosure_for(
            school_id=school_id, scopes=grant.scopes, restrictions=grant.restrictions
        )
        readable = sorted(e for e in changed if disclosure.may_read(e))
        if not readable:
            continue
        data: dict[str, object] = {
            "school_id": school_id,
            "school_urn": school.urn,
            "entities": readable,
        }
        if not (disclosure.narrowing.group_ids or disclosure.narrowing.class_ids):
            data["counts"] = {
                e: {
                    "added": changed[e].added,
                    "changed": changed[e].changed,
                    "removed": changed[e].removed,
                }
                for e in readable
            }
        webhook_outbox.enqueue(grant.application, WebhookEvent.SCHOOL_DATA_CHANGED, data)
        queued += 1
    return queued
