"""What the server writes under instance/ is readable by its owner only, whatever the umask."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from authserver import create_app


@contextmanager
def umask_of(mask: int) -> Iterator[None]:
    """Run under `mask` (each xdist worker is its own process, so only this test sees it)."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def flask(folder: Path, *args: str) -> None:
    """Run `flask --app wsgi ...` as `make run` does, with the development defaults (the
    instance folder, its generated secret key and SQLite database), in this process."""
    app = create_app({"APP_ENV": "development", "INSTANCE_PATH": str(folder), "BCRYPT_ROUNDS": 4})
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_make_run_leaves_nothing_under_instance_that_others_can_read(
    tmp_path: Path, umask: int
) -> None:
    folder = tmp_path / "instance"
    seed = ["--schools", "1", "--students-per-school", "3"]
    with umask_of(umask):
        flask(folder, "db", "upgrade")
        flask(folder, "demo", "seed", *seed, "--json", str(folder / "demo-credentials.json"))
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
    files = {n: m for n, m in modes.items() if not (folder / n).is_dir()}
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}
    # Folders (the development mail, for one) are the owner's alone, and so is all they hold.
    for path in folder.rglob("*"):
        wanted = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == wanted, path.relative_to(folder)
