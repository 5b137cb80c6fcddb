"""The README's promises: its configuration table names every setting the server reads."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from authserver.config import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_configuration_table_lists_every_setting() -> None:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", section, flags=re.MULTILINE))
    read = {f.name.upper() for f in fields(Settings) if f.name not in {"env", "extra"}} | {
        "APP_ENV"
    }
    assert documented == read


def test_the_quick_start_names_the_two_commands() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quick_start
    assert "make test" in quick_start


def test_every_path_in_the_map_of_the_code_exists() -> None:
    section = README.read_text().split("## Map of the code", 1)[1].split("\n## ", 1)[0]
    root = README.parent
    named = re.findall(r"^\| `([^`]+)`", section, flags=re.MULTILINE)
    assert named
    assert [path for path in named if not (root / path).exists()] == []
