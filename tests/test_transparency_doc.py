"""docs/transparency.md's check of a consent receipt, run as written (its program, curl, python3)
against a demo world served by gunicorn, as a DPO would run it against `make run`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import unavailable
from tests.live_processes import SOURCE_ROOT, LiveServer, app_on

DOC = SOURCE_ROOT / "docs" / "transparency.md"
RECEIPT_FILE = re.compile(r"consent-receipt-[\w-]+-v\d+\.json")
# What differs from one demo world to the next: key ids, client ids and moments.
VARYING = (
    (re.compile(r"receipt-[0-9a-f]{32}"), "<kid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"), "<moment>"),
)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def masked(text: str) -> str:
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    return text


def run(script: str, work: Path) -> subprocess.CompletedProcess[str]:
    venv = SOURCE_ROOT / ".venv" / "bin"  # python3 with joserfc, as `pip install joserfc` gives
    return subprocess.run(  # noqa: S603 (the doc's own commands)
        ["bash", "-euo", "pipefail", "-c", script],  # noqa: S607
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": f"{venv}:/usr/bin:/bin:/usr/local/bin"},
    )


@pytest.mark.live
def test_a_receipt_is_checked_offline_as_the_doc_says(tmp_path: Path) -> None:
    """On SQLite, as `make run` serves it, whichever database the suite runs on."""
    if shutil.which("curl") is None:
        unavailable("curl is not installed")
    install, fetch_and_check = blocks("sh")
    assert install.strip() == "python3 -m pip install joserfc"
    (program,) = blocks("python")
    valid, not_valid = blocks("text")

    database = f"sqlite:///{tmp_path / 'demo.db'}"
    instance = tmp_path / "instance"
    app = app_on(database, instance)
    with app.app_context():
        from authserver import receipts
        from authserver.extensions import db
        from authserver.models import Application, Grant, GrantReceipt

        db.create_all()
        seeded = app.test_cli_runner().invoke(args=["demo", "seed", "--students-per-school", "40"])
        assert seeded.exit_code == 0, seeded.output
        # What the school admin downloads from the dashboard: the doc's connection.
        kept = db.session.scalar(
            select(GrantReceipt)
            .join(Grant, Grant.id == GrantReceipt.grant_id)
            .join(Application, Application.id == Grant.application_id)
            .where(Application.name == "Lunchbox Catering")
        )
        grant = kept.grant
        name = f"consent-receipt-{grant.school.urn}-{grant.application.client_id}-v1.json"
        downloaded = receipts.download(kept)
        db.session.commit()
    work = tmp_path / "dpo"
    work.mkdir()
    (work / name).write_bytes(downloaded)
    (work / "verify_receipt.py").write_text(program)

    with LiveServer(database, instance_path=instance) as server:
        script = RECEIPT_FILE.sub(name, fetch_and_check).replace(
            "http://127.0.0.1:5000", server.url
        )
        checked = run(script, work)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert masked(checked.stdout) == masked(valid)

    # Offline from here: the server is gone, the key set saved beside the receipt.
    tampered = json.loads(downloaded)
    tampered["receipt"]["grant"]["expires_at"] = "2099-01-01T00:00:00+00:00"
    (work / name).write_text(json.dumps(tampered))
    refused = run(RECEIPT_FILE.sub(name, fetch_and_check.splitlines()[-1]), work)
    assert refused.returncode == 1
    assert refused.stderr == not_valid
