"""What the server writes under instance/ is readable by its owner only, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Settings a developer's shell might carry that would send the commands elsewhere.
OUTSIDE_SETTINGS = ("APP_ENV", "DATABASE_URL", "SECRET_KEY", "INSTANCE_PATH", "REDIS_URL")


def flask(cwd: Path, umask: int, *args: str) -> None:
    """Run `flask --app wsgi ...` as `make run` does, from `cwd`, under `umask`."""
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_SETTINGS}
    env |= {"PYTHONPATH": str(ROOT), "BCRYPT_ROUNDS": "4"}
    result = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=cwd,
        env=env,
        umask=umask,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_make_run_leaves_nothing_under_instance_that_others_can_read(
    tmp_path: Path, umask: int
) -> None:
    flask(tmp_path, umask, "db", "upgrade")
    seed = ["--schools", "1", "--students-per-school", "3"]
    flask(tmp_path, umask, "demo", "seed", *seed, "--json", "instance/demo-credentials.json")
    folder = tmp_path / "instance"
    database = folder / "authserver.db"
    # A reader holding the database open, as a running server does, brings its -wal and -shm.
    connection = sqlite3.connect(database)
    try:
        connection.execute("SELECT count(*) FROM schools").fetchone()
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}
    finally:
        connection.close()

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {
        "authserver.db",
        "authserver.db-wal",
        "authserver.db-shm",
        "secret_key",
        "demo-credentials.json",
    } <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
