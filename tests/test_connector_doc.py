"""docs/connector.md's walkthrough, run as written (bash, curl, python3) against a demo world
served by gunicorn, as a developer would run it against `make run`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.live_processes import SOURCE_ROOT, LiveServer, app_on

DOC = SOURCE_ROOT / "docs" / "connector.md"


def walkthrough() -> str:
    """The shell blocks of "Try it against `make run`", in order, as one script."""
    text = DOC.read_text()
    section = text.split("## Try it against `make run`", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


@pytest.mark.live
def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    """On SQLite, as `make run` serves it, whichever database the suite runs on."""
    if shutil.which("curl") is None:
        unavailable("curl is not installed")
    database = f"sqlite:///{tmp_path / 'demo.db'}"
    instance = tmp_path / "instance"
    app = app_on(database, instance)
    with app.app_context():
        from authserver.extensions import db

        db.create_all()
    seeded = app.test_cli_runner().invoke(
        args=[
            "demo",
            "seed",
            "--students-per-school",
            "40",
            "--json",
            str(instance / "demo-credentials.json"),
        ]
    )
    assert seeded.exit_code == 0, seeded.output
    # The doc's commands run from a checkout: its samples and its .venv, this instance folder.
    work = tmp_path / "checkout"
    work.mkdir()
    (work / "instance").symlink_to(instance)
    (work / "samples").symlink_to(SOURCE_ROOT / "samples")
    (work / ".venv").symlink_to(SOURCE_ROOT / ".venv")
    with LiveServer(database, instance_path=instance) as server:
        script = walkthrough().replace("http://127.0.0.1:5000", server.url)
        finished = subprocess.run(  # noqa: S603 (our own script)
            ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "PYTHONPATH": str(SOURCE_ROOT)},
        )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert '"state": "succeeded"' in output or '"state":"succeeded"' in output
    assert "not a valid UPN" in output
    assert '"school":{"urn":"140001"' in output
    # The reference connector's push of the sample CTF, and its summary.
    assert "Pushed ctf-year7-cohort.xml as a delta in" in output
