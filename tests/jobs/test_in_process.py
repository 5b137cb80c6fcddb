"""Without a broker (the embedded default) a job runs in the process that asked for it, as soon
as that transaction commits: succeeded, failed in plain English, or never, if rolled back."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from authserver import jobs
from authserver.domain import jobs as domain
from authserver.domain.jobs import UnknownJobKind
from authserver.extensions import db
from authserver.models import Job, JobState, School
from tests.jobs.conftest import ask_for, status_of, urns
from tests.jobs.job_kinds import SECRET_IN_ERROR


def schools_with(app, wanted: list[str]) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(School).where(School.urn.in_(wanted))
        )


def test_a_job_runs_once_its_transaction_commits(app, school) -> None:
    wanted = urns(3)
    job_id = ask_for(app, "test.make_schools", {"urns": wanted}, school_id=school.id)
    status = status_of(app, job_id)
    assert status.state == JobState.SUCCEEDED
    assert status.result == {"schools": 3}
    assert (status.progress_done, status.progress_total) == (3, 3)
    assert status.percent_done == 100
    assert status.message == "Creating schools: 1 of 3"
    assert status.error is None
    assert status.attempts == 1
    assert status.created_at <= status.started_at <= status.finished_at
    assert status.finished
    assert schools_with(app, wanted) == 3


def test_a_job_asked_for_in_a_rolled_back_transaction_never_runs(app) -> None:
    wanted = urns(1)
    with app.app_context():
        job = domain.enqueue("test.make_schools", {"urns": wanted})
        assert job.id is not None
        assert job.state == JobState.QUEUED
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Job)) == 0
        db.session.commit()  # a later commit of the same session sends nothing stale
    assert schools_with(app, wanted) == 0


def test_an_expected_failure_is_told_in_plain_english_and_its_work_undone(app) -> None:
    wanted = urns(1)
    job_id = ask_for(app, "test.refuse", {"urn": wanted[0]})
    status = status_of(app, job_id)
    assert status.state == JobState.FAILED
    assert status.error == "The file is not a CTF file: its first line should be <CTfile>."
    assert status.result is None
    assert status.finished_at is not None
    assert schools_with(app, wanted) == 0


@pytest.mark.live  # the progress was committed beside the job's transaction, as in production
def test_an_unexpected_error_is_an_internal_error_and_logged_without_secrets(
    app, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="authserver.jobs"):
        job_id = ask_for(app, "test.crash", {})
    status = status_of(app, job_id)
    assert status.state == JobState.FAILED
    assert status.error == jobs.INTERNAL_ERROR
    assert SECRET_IN_ERROR not in (status.error or "")
    assert status.message == "Starting"
    [record] = [r for r in caplog.records if r.name == "authserver.jobs"]
    assert "raised an unexpected error" in record.getMessage()
    # The traceback is there for the operator, without the exception's message.
    assert 'job_kinds.py", line' in record.getMessage()
    assert "RuntimeError" in record.getMessage()
    assert "hunter2" not in caplog.text


def test_a_job_function_may_not_commit_its_own_work(app) -> None:
    wanted = urns(1)
    job_id = ask_for(app, "test.commit", {"urn": wanted[0]})
    status = status_of(app, job_id)
    assert (status.state, status.error) == (JobState.FAILED, jobs.INTERNAL_ERROR)
    assert schools_with(app, wanted) == 0


def test_an_unknown_kind_is_refused_when_asked_for(app) -> None:
    with app.app_context(), pytest.raises(UnknownJobKind):
        domain.enqueue("test.no_such_kind", {})


def test_a_redelivered_message_does_not_run_a_finished_job_again(app) -> None:
    wanted = urns(1)
    job_id = ask_for(app, "test.make_schools", {"urns": wanted})
    before = status_of(app, job_id)
    with app.app_context():
        jobs.run_job(job_id)  # the broker delivers the message a second time
    after = status_of(app, job_id)
    assert after == before
    assert schools_with(app, wanted) == 1


def test_a_job_found_running_was_left_by_a_dead_worker_and_runs_again(app) -> None:
    """Its worker's work rolled back with it: it starts from the beginning."""
    wanted = urns(2)
    with app.app_context():
        job = Job(kind="test.make_schools", payload={"urns": wanted}, state=JobState.RUNNING)
        job.attempts, job.progress_done = 1, 1
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        jobs.run_job(job_id)
    status = status_of(app, job_id)
    assert (status.state, status.attempts) == (JobState.SUCCEEDED, 2)
    assert schools_with(app, wanted) == 2


def test_an_admin_sees_only_their_own_schools_jobs(app, make_school) -> None:
    ours, theirs = make_school(), make_school()
    job_id = ask_for(app, "test.nothing", {}, school_id=ours.id)
    assert status_of(app, job_id, school_id=ours.id).state == JobState.SUCCEEDED
    assert status_of(app, job_id, school_id=theirs.id) is None
    assert status_of(app, job_id + 1000) is None
    with app.app_context():
        assert [s.id for s in domain.school_jobs(ours.id)] == [job_id]
        assert domain.school_jobs(theirs.id) == []
    nothing = status_of(app, job_id)
    assert nothing.result == {}
    assert nothing.percent_done == 100
