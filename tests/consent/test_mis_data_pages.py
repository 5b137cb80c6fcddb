"""The school's MIS data page: sync health in words, recent syncs with their errors, the
connector's credentials (shown once), pausing and resuming, for a school and a trust."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import Role
from authserver.models.connectors import Connector
from authserver.models.organisations import School, Trust
from tests.conftest import PASSWORD
from tests.connector.conftest import Agent, pupil
from tests.oauth_flow import sign_in


def signed_in(client, user):
    """The client signed in as `user`: password, then their authenticator's code (or, for a
    person made without one, setting it up)."""
    response = sign_in(client, user.email, PASSWORD)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    return client


def csrf(page) -> str:
    return re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    ).group(1)


@pytest.fixture
def admin(make_user, school):
    return make_user(Role.SCHOOL_ADMIN, school=school)


def test_the_page_says_no_data_yet_and_offers_a_connector(client, admin, school) -> None:
    signed_in(client, admin)
    page = client.get(f"/schools/{school.urn}/data")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No data has arrived from the MIS yet." in text
    assert "Register a connector" in text
    assert page.headers["Cache-Control"] == "no-store"


def test_registering_shows_the_secret_once_and_it_works(app, client, admin, school) -> None:
    signed_in(client, admin)
    page = client.get(f"/schools/{school.urn}/data")
    shown = client.post(
        f"/schools/{school.urn}/data/connectors",
        data={"name": "SIMS agent", "csrf_token": csrf(page)},
    )
    assert shown.status_code == 200
    text = shown.get_data(as_text=True)
    assert "It will not be shown again" in text
    client_id = re.search(r'id="client-id" value="([^"]+)"', text).group(1)
    secret = re.search(r'id="client-secret" value="([^"]+)"', text).group(1)
    assert shown.headers["Cache-Control"] == "no-store"
    again = client.get(f"/schools/{school.urn}/data").get_data(as_text=True)
    assert client_id in again
    assert secret not in again
    from tests.oauth_flow import basic_auth

    token = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
    )
    assert token.status_code == 200


def test_a_form_without_its_csrf_token_changes_nothing(app, client, admin, school) -> None:
    signed_in(client, admin)
    refused = client.post(f"/schools/{school.urn}/data/connectors", data={"name": "x"})
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Connector)) is None


def test_another_schools_page_is_not_found(client, admin, make_school) -> None:
    other = make_school(name="Other School")
    signed_in(client, admin)
    assert client.get(f"/schools/{other.urn}/data").status_code == 404


def test_a_failed_sync_is_explained_and_the_last_good_one_kept(app, client, admin, school) -> None:
    agent = Agent(app, app.test_client(), school.id)
    assert agent.changes({"student": {"upsert": [pupil(1)]}}).status_code == 200
    bad = {"student": {"upsert": [{**pupil(2), "upn": "B12"}]}}
    assert agent.changes(bad).status_code == 422
    signed_in(client, admin)
    text = client.get(f"/schools/{school.urn}/data").get_data(as_text=True)
    assert "The latest sync failed" in text
    assert "Pupils, record 1 of batch b2 (upn)" in text
    assert "is not a valid UPN" in text
    assert "1 added, 0 changed, 0 removed" in text


def test_rotating_and_revoking_from_the_page(app, client, admin, school) -> None:
    agent = Agent(app, app.test_client(), school.id)
    with app.app_context():
        connector_id = db.session.scalar(select(Connector.id))
    signed_in(client, admin)
    page = client.get(f"/schools/{school.urn}/data")
    rotated = client.post(
        f"/schools/{school.urn}/data/connectors/{connector_id}/rotate",
        data={"overlap": "0", "csrf_token": csrf(page)},
    )
    assert "stopped working" in rotated.get_data(as_text=True)
    assert agent.token_response().status_code == 401
    client.post(
        f"/schools/{school.urn}/data/connectors/{connector_id}/revoke",
        data={"csrf_token": csrf(page)},
    )
    with app.app_context():
        assert db.session.get(Connector, connector_id).revoked_at is not None


def test_pausing_and_resuming_a_school(app, client, admin, school) -> None:
    agent = Agent(app, app.test_client(), school.id)
    signed_in(client, admin)
    page = client.get(f"/schools/{school.urn}/data")
    client.post(
        f"/schools/{school.urn}/data/pause",
        data={"reason": "Year rollover", "csrf_token": csrf(page)},
    )
    text = client.get(f"/schools/{school.urn}/data").get_data(as_text=True)
    assert "Sync is paused" in text
    assert agent.changes({"student": {"upsert": [pupil(1)]}}).status_code == 409
    client.post(f"/schools/{school.urn}/data/resume", data={"csrf_token": csrf(page)})
    assert agent.changes({"student": {"upsert": [pupil(1)]}}).status_code == 200


def test_a_trust_pauses_every_school_at_once(app, client, make_school, make_user) -> None:
    with app.app_context():
        trust = Trust(name="Oak Trust")
        db.session.add(trust)
        db.session.commit()
        trust_id = trust.id
    schools = [make_school(name=f"Oak {n}", trust_id=trust_id) for n in (1, 2)]
    with app.app_context():
        trust = db.session.get(Trust, trust_id)
    trust_admin = make_user(Role.TRUST_ADMIN, trust=trust)
    signed_in(client, trust_admin)
    page = client.get("/schools")
    assert "MIS sync" in page.get_data(as_text=True)
    client.post(f"/trusts/{trust_id}/pause", data={"reason": "Rollover", "csrf_token": csrf(page)})
    for school in schools:
        agent = Agent(app, app.test_client(), school.id)
        assert agent.changes({"student": {"upsert": [pupil(1)]}}).status_code == 409
    text = client.get("/schools").get_data(as_text=True)
    assert "Resume sync at every school of Oak Trust" in text
    client.post(f"/trusts/{trust_id}/resume", data={"csrf_token": csrf(page)})
    with app.app_context():
        from authserver.domain import sync_health

        assert all(sync_health.health_of(db.session, s.id).state == "no_data" for s in schools)
    _ = School


# --- Imports ---------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def upload(client, school, name: str, content: bytes):
    import io

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    page = client.get(f"/schools/{school.urn}/data/import")
    # Encoded here, in memory: the test client would spool a large body to a temporary file
    # it never closes.
    boundary, body = encode_multipart(
        {"csrf_token": csrf(page), "file": FileStorage(io.BytesIO(content), filename=name)}
    )
    return client.post(
        f"/schools/{school.urn}/data/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def test_an_uploaded_ctf_is_shown_before_it_is_applied(app, client, admin, school) -> None:
    signed_in(client, admin)
    sent = upload(client, school, "year7.xml", (SAMPLES / "ctf-year7-cohort.xml").read_bytes())
    assert sent.status_code == 302
    page = client.get(sent.headers["Location"])
    text = page.get_data(as_text=True)
    assert "What this file will change" in text
    assert "A Common Transfer File (CTF)" in text
    assert "it removes nothing" in text
    assert "What this server has no place for yet" in text
    with app.app_context():
        from authserver.models.mis.students import Student

        assert db.session.scalar(select(Student.id)) is None  # nothing applied yet
    applied = client.post(sent.headers["Location"] + "/apply", data={"csrf_token": csrf(page)})
    assert applied.status_code == 302
    done = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Imported" in done
    overview = client.get(f"/schools/{school.urn}/data").get_data(as_text=True)
    assert "File import: year7.xml" in overview
    assert "1,570 added" in overview


def test_a_broken_file_is_explained_with_its_line(app, client, admin, school) -> None:
    signed_in(client, admin)
    broken = (SAMPLES / "ctf-year7-cohort.xml").read_bytes()[:5_000]
    sent = upload(client, school, "cut.xml", broken)
    text = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "The file was not imported" in text
    assert "line" in text
    assert "Nothing from it was kept" in text


def test_an_upload_needs_a_file_and_its_csrf_token(app, client, admin, school) -> None:
    import io

    signed_in(client, admin)
    empty = upload(client, school, "empty.xml", b"")
    assert empty.status_code == 400
    assert (
        "empty" in empty.get_data(as_text=True).lower()
        or "choose a file" in empty.get_data(as_text=True).lower()
    )
    forged = client.post(
        f"/schools/{school.urn}/data/import",
        data={"file": (io.BytesIO(b"<x/>"), "a.xml")},
        content_type="multipart/form-data",
    )
    assert forged.status_code == 400


def test_a_whole_school_bundle_that_removes_many_asks_first(app, client, admin, school) -> None:
    from tests.test_mis_import_cli import bundle_with_pupils

    signed_in(client, admin)
    first = upload(client, school, "all.zip", (SAMPLES / "oneroster-school.zip").read_bytes())
    page = client.get(first.headers["Location"])
    client.post(first.headers["Location"] + "/apply", data={"csrf_token": csrf(page)})
    cut = upload(client, school, "cut.zip", bundle_with_pupils(10))
    page = client.get(cut.headers["Location"])
    text = page.get_data(as_text=True)
    assert "would remove 230 of the school&#39;s 240 pupils" in text
    refused = client.post(cut.headers["Location"] + "/apply", data={"csrf_token": csrf(page)})
    assert refused.status_code == 302
    with app.app_context():
        from authserver.models.mis.students import Student

        assert db.session.scalar(select(func.count()).select_from(Student)) == 240
    client.post(
        cut.headers["Location"] + "/apply",
        data={"csrf_token": csrf(page), "allow_mass_deletion": "y"},
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Student)) == 10


def test_an_import_still_being_read_shows_progress_and_refreshes(
    app, client, admin, school
) -> None:
    from authserver.domain import jobs
    from authserver.models.sync import SyncKind, SyncRun, SyncState

    with app.app_context():
        run = SyncRun(
            school_id=school.id,
            kind=SyncKind.IMPORT,
            state=SyncState.QUEUED,
            report={"filename": "big.xml"},
        )
        db.session.add(run)
        db.session.flush()
        # A job no worker has taken yet (enqueued, never committed through the queue).
        job = jobs.Job(
            school_id=school.id,
            kind="sync.read_file",
            payload={"run": run.id},
            state="running",
            progress_done=120_000,
            progress_total=260_000,
            message="Importing attendance: 120,000 of 260,000 marks",
            attempts=1,
        )
        db.session.add(job)
        db.session.flush()
        run.job_id = job.id
        db.session.commit()
        run_id = run.id
    signed_in(client, admin)
    page = client.get(f"/schools/{school.urn}/data/imports/{run_id}")
    assert page.headers["Refresh"] == "2"
    text = page.get_data(as_text=True)
    assert "Importing attendance: 120,000 of 260,000 marks" in text
    assert '<progress max="100" value="46">' in text


def test_a_file_larger_than_the_sites_forms_is_taken(app, client, admin, school) -> None:
    signed_in(client, admin)
    padded = (
        (SAMPLES / "ctf-year7-cohort.xml")
        .read_bytes()
        .replace(b"</CTfile>", b"<!--" + b"x" * 3_000_000 + b"-->\n</CTfile>")
    )
    sent = upload(client, school, "padded.xml", padded)
    assert sent.status_code == 302
    assert "What this file will change" in client.get(sent.headers["Location"]).get_data(
        as_text=True
    )


def test_a_snapshot_being_applied_shows_its_progress(app, client, admin, school) -> None:
    from authserver.domain import jobs
    from authserver.models.sync import SyncKind, SyncRun, SyncState

    with app.app_context():
        run = SyncRun(school_id=school.id, kind=SyncKind.SNAPSHOT, state=SyncState.RUNNING)
        db.session.add(run)
        job = jobs.Job(
            school_id=school.id,
            kind="sync.apply",
            payload={},
            state="running",
            progress_done=130_000,
            progress_total=260_000,
            message="session mark: 130,000 records",
            attempts=1,
        )
        db.session.add(job)
        db.session.flush()
        run.job_id = job.id
        db.session.commit()
    signed_in(client, admin)
    text = client.get(f"/schools/{school.urn}/data").get_data(as_text=True)
    assert "Running" in text
    assert '<progress max="100" value="50">' in text
