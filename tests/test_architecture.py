"""The boundaries of the code: which package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules_under(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize(
    "path", modules_under("authserver"), ids=lambda p: str(p.relative_to(ROOT))
)
def test_the_server_never_imports_the_browser_side(path: Path) -> None:
    if path == ROOT / "authserver" / "__init__.py":
        return  # the composition root registers every blueprint
    assert not any(name.split(".")[0] == "consent" for name in imported_modules(path))


DOMAIN = [
    "authserver/grants.py",
    "authserver/tokens.py",
    "authserver/applications.py",
    "authserver/audit.py",
    "authserver/credentials.py",
    "authserver/catalogue/__init__.py",
]


@pytest.mark.parametrize(
    "relative", DOMAIN + [str(p.relative_to(ROOT)) for p in modules_under("authserver/models")]
)
def test_the_domain_and_models_know_nothing_of_http(relative: str) -> None:
    names = imported_modules(ROOT / relative)
    forbidden = {"flask.request", "werkzeug", "authserver.api", "authserver.oauth.views"}
    assert not {n for n in names if n in forbidden or n.startswith("werkzeug")}
    for name in names:
        assert not name.startswith(("authserver.api", "authserver.oauth.views", "consent"))
    source = (ROOT / relative).read_text()
    assert "from flask import request" not in source
    assert "Blueprint" not in source
