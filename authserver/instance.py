"""The instance folder and what the server writes there: readable by its owner only.

It holds the development database, the generated secret key and the demo credentials. Modes
are given when each is created, so that no umask, however permissive, can widen them.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def make_folder(path: Path) -> None:
    """Create `path` and any missing parents, each readable by its owner only."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        # A umask can only take bits away from 0o700: nothing wider can come of it.
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)


def create_file(path: Path, *, replace: bool = False) -> int:
    """Open `path` for writing as an owner-only file and return its descriptor.

    Without `replace`, FileExistsError if it is there already; with it, an existing file is
    emptied and its mode narrowed too.
    """
    make_folder(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, FILE_MODE)
    if replace:
        # The mode given to open applies only to a file it creates.
        os.fchmod(fd, FILE_MODE)
    return fd


def create_empty_file(path: Path) -> None:
    """Create `path` empty and owner-only if it is missing and its folder exists (a SQLite
    database, before SQLite creates it with the umask's mode; its -wal and -shm files take
    the database's mode)."""
    if path.exists() or not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:  # another process made it first
        return
