"""The README's promises: its configuration table names every setting the server reads."""

from __future__ import annotations

import os
import re
import subprocess
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


def test_make_run_on_another_port_issues_from_that_port() -> None:
    """`PORT=5077 make run` serves on 5077, so its tokens and metadata must name 5077 too."""
    commands = subprocess.run(
        ["make", "-n", "run", "PORT=5077"],  # noqa: S607 (make from PATH, as a person runs it)
        cwd=README.parent,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k not in ("ISSUER", "PORT")},
    ).stdout
    served = [line for line in commands.splitlines() if " run --host " in line]
    assert served, commands
    assert all(line.startswith("ISSUER=http://127.0.0.1:5077 ") for line in served)
    seeded = [line for line in commands.splitlines() if " demo seed " in line]
    assert seeded, commands
    assert all(line.startswith("ISSUER=http://127.0.0.1:5077 ") for line in seeded)
