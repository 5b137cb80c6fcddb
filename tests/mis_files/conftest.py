"""Helpers for the upload-file tests: the handwritten fixtures, as bytes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def bundle(files: dict[str, str | bytes]) -> bytes:
    """A zip of the given files (name: text or bytes), as a school would upload it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def oneroster_files() -> dict[str, str | bytes]:
    """The handwritten OneRoster bundle's files, to change one before zipping."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted((DATA / "oneroster").iterdir())}


@pytest.fixture
def ctf_bytes() -> bytes:
    return (DATA / "ctf-siblings.xml").read_bytes()


@pytest.fixture
def oneroster_bytes() -> bytes:
    return bundle(oneroster_files())
