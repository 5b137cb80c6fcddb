"""`flask mis import`: the sample CTF and OneRoster files into a school, previewed, applied in
one transaction, idempotent when imported again; bad files named by line and element."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models.mis.attendance import SessionMark
from authserver.models.mis.contacts import Contact
from authserver.models.mis.students import Student
from authserver.models.sync import SyncRun

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CTF = SAMPLES / "ctf-year7-cohort.xml"
ONEROSTER = SAMPLES / "oneroster-school.zip"


def bundle_with_pupils(keep: int) -> bytes:
    """The sample bundle cut down to its first `keep` pupils, their enrolments and their
    parents, as a wrongly filtered export from an MIS would be."""
    import csv
    import io
    import zipfile

    source = zipfile.ZipFile(ONEROSTER)
    users = list(csv.DictReader(io.StringIO(source.read("users.csv").decode())))
    pupils = [u["sourcedId"] for u in users if u["role"] == "student"][:keep]
    kept = {u["sourcedId"] for u in users if u["role"] in ("teacher", "administrator")}
    kept |= set(pupils)
    kept |= {
        u["sourcedId"]
        for u in users
        if u["role"] not in ("student", "teacher", "administrator")
        and set(u["agentSourcedIds"].split(",")) <= set(pupils)
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            text = source.read(name).decode()
            if name in ("users.csv", "demographics.csv", "enrollments.csv"):
                rows = list(csv.DictReader(io.StringIO(text)))
                column = "userSourcedId" if name == "enrollments.csv" else "sourcedId"
                buffer = io.StringIO()
                writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
                writer.writeheader()
                kept_rows = [r for r in rows if r[column] in kept]
                for row in kept_rows:
                    if "agentSourcedIds" in row:
                        agents = [a for a in row["agentSourcedIds"].split(",") if a in kept]
                        row["agentSourcedIds"] = ",".join(agents)
                writer.writerows(kept_rows)
                text = buffer.getvalue()
            target.writestr(name, text)
    return out.getvalue()


def count(app, model, school) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(model).where(model.school_id == school.id)
        )


def test_the_sample_ctf_imports_and_again_changes_nothing(app, cli, school) -> None:
    first = cli.invoke(args=["mis", "import", str(CTF), "--school", school.urn, "--yes"])
    assert first.exit_code == 0, first.output
    assert "Imported: 1,570 added, 0 changed, 0 removed" in first.output
    assert "Not imported (no place for it yet)" in first.output
    assert count(app, Student, school) == 30
    assert count(app, SessionMark, school) == 582
    again = cli.invoke(args=["mis", "import", str(CTF), "--school", school.urn, "--yes"])
    assert "Imported: 0 added, 0 changed, 0 removed" in again.output
    with app.app_context():
        runs = db.session.scalars(select(SyncRun.state).where(SyncRun.school_id == school.id))
        assert list(runs) == ["succeeded", "succeeded"]


def test_a_dry_run_shows_the_changes_and_keeps_nothing(app, cli, school) -> None:
    shown = cli.invoke(args=["mis", "import", str(ONEROSTER), "--school", school.urn, "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert "every record of these kinds" in shown.output
    assert "student" in shown.output
    assert "Dry run: nothing was changed." in shown.output
    assert count(app, Student, school) == 0


def test_a_whole_school_bundle_replaces_and_its_guard_holds(app, cli, school, tmp_path) -> None:
    cli.invoke(args=["mis", "import", str(ONEROSTER), "--school", school.urn, "--yes"])
    assert count(app, Student, school) == 240
    assert count(app, Contact, school) > 0
    # The same school's bundle with most pupils gone: a wrong export, refused whole.
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bundle_with_pupils(10))
    refused = cli.invoke(args=["mis", "import", str(cut), "--school", school.urn, "--yes"])
    assert refused.exit_code == 1
    assert "would remove" in refused.output
    assert count(app, Student, school) == 240


def test_a_bad_file_is_named_and_nothing_is_kept(app, cli, school, tmp_path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(CTF.read_bytes()[:20_000])
    answer = cli.invoke(args=["mis", "import", str(broken), "--school", school.urn, "--yes"])
    assert answer.exit_code == 1
    assert "broken.xml" in answer.output
    assert "line" in answer.output
    assert count(app, Student, school) == 0
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello")
    answer = cli.invoke(args=["mis", "import", str(unknown), "--school", school.urn])
    assert answer.exit_code == 1
    assert "notes.txt" in answer.output
