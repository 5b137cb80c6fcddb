"""The boundaries of the code, checked by folder: whatever a module is called, the rules of the
folder it sits in apply to it (see authserver/domain/README.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSITION_ROOT = ROOT / "authserver" / "__init__.py"


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from authserver import webhooks` imports the module authserver.webhooks.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_under(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def parsed(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def is_under(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


@pytest.mark.parametrize("path", modules_under("authserver"), ids=relative)
def test_the_server_never_imports_the_browser_side(path: Path) -> None:
    if path == COMPOSITION_ROOT:
        return  # the composition root registers every blueprint
    assert not [name for name in imported_modules(parsed(path)) if is_under(name, "consent")]


# What the core (domain and models) may not reach: the web framework, HTTP in or out, and every
# layer of ours that sits around it.
CORE_FORBIDDEN = (
    "flask",
    "flask_limiter",
    "flask_wtf",
    "flask_migrate",
    "werkzeug",
    "requests",
    "authlib",
    "consent",
    "authserver.api",
    "authserver.oauth",
    "authserver.web",
    "authserver.webhooks",
    "authserver.cli",
    "authserver.demo",
    "authserver.receipts",
    "authserver.signing",
)
# The only things of ours the core reaches outside itself: the database handle and settings.
CORE_ALLOWED_OUTSIDE = ("authserver.extensions", "authserver.config")


@pytest.mark.parametrize(
    "path", modules_under("authserver/domain", "authserver/models"), ids=relative
)
def test_the_domain_and_models_know_nothing_of_http(path: Path) -> None:
    names = imported_modules(parsed(path))
    assert not sorted(name for name in names if is_under(name, *CORE_FORBIDDEN))
    ours = {name for name in names if is_under(name, "authserver") and name != "authserver"}
    outside = {
        name
        for name in ours
        if not is_under(name, "authserver.domain", "authserver.models", *CORE_ALLOWED_OUTSIDE)
    }
    assert not outside


def calls_named(tree: ast.AST, *names: str) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", "")
            )
            if name in names:
                found.append(f"{name}() at line {node.lineno}")
    return found


@pytest.mark.parametrize(
    "path", modules_under("authserver/domain", "authserver/models"), ids=relative
)
def test_the_domain_never_commits_nor_reads_the_app(path: Path) -> None:
    """The request (or command) is the unit of work: the domain adds and flushes, the caller
    commits. Settings are passed in, never read from the current app."""
    assert not calls_named(parsed(path), "commit", "rollback")
    # Without flask among its imports (above), nor current_app, nor request can be reached.


@pytest.mark.parametrize("path", modules_under("authserver/web"), ids=relative)
def test_http_plumbing_knows_no_endpoint(path: Path) -> None:
    """Errors, headers, malformed input and rate limits serve every blueprint and know none."""
    names = imported_modules(parsed(path))
    assert not [
        name
        for name in names
        if is_under(name, "authserver.api", "authserver.oauth", "consent", "authserver.demo")
    ]


@pytest.mark.parametrize("path", modules_under("authserver/oauth"), ids=relative)
def test_the_protocol_layer_knows_neither_api_nor_browser(path: Path) -> None:
    names = imported_modules(parsed(path))
    assert not [name for name in names if is_under(name, "authserver.api", "consent")]


@pytest.mark.parametrize("path", modules_under("authserver/connector"), ids=relative)
def test_the_connector_api_reaches_neither_the_browser_side_nor_the_vendor_resources(
    path: Path,
) -> None:
    """A connector writes a school's data and reads its queue; the vendor API's resources and
    the browser side are none of its business (the bearer-token plumbing is shared)."""
    names = imported_modules(parsed(path))
    assert not [
        name
        for name in names
        if is_under(name, "consent", "authserver.oauth.views")
        or (is_under(name, "authserver.api") and not is_under(name, "authserver.api.protection"))
    ]


@pytest.mark.parametrize("path", modules_under("authserver/api"), ids=relative)
def test_the_resource_api_never_reaches_the_browser_side_or_oauth_views(path: Path) -> None:
    names = imported_modules(parsed(path))
    assert not [name for name in names if is_under(name, "consent", "authserver.oauth.views")]


@pytest.mark.parametrize("path", modules_under("authserver/mis_files"), ids=relative)
def test_the_file_readers_know_no_http_and_store_nothing(path: Path) -> None:
    """Uploaded files are read into records here and stored by the ingest. Only the samples
    module, which makes files from the demo world, reaches the database or the demo."""
    tree = parsed(path)
    names = imported_modules(tree)
    allowed = ("authserver.demo", "authserver.extensions", "sqlalchemy")
    allowed = allowed if path.name == "samples.py" else ()
    forbidden = (*CORE_FORBIDDEN, "sqlalchemy", "authserver.extensions")
    assert not sorted(
        name for name in names if is_under(name, *forbidden) and not is_under(name, *allowed)
    )
    assert not calls_named(tree, "commit", "rollback")


def test_every_folder_of_the_server_has_its_rules() -> None:
    """A new package under authserver/ must be placed in one of the layers above."""
    placed = {"domain", "models", "web", "oauth", "api", "connector", "demo", "mis_files"}
    packages = {path.parent.name for path in (ROOT / "authserver").glob("*/__init__.py")}
    assert packages <= placed, f"unplaced packages: {sorted(packages - placed)}"


def test_the_domain_says_what_may_not_happen_inside_it() -> None:
    readme = (ROOT / "authserver" / "domain" / "README.md").read_text()
    for rule in ("No Flask", "request", "No commit", "Settings passed in"):
        assert rule in readme


def test_one_word_one_meaning_in_module_names() -> None:
    """ "grant" is the school's consent record; OAuth's grant types live in grant_types.py.
    No two modules outside tests share a name across packages where they mean different
    things (connections, grants)."""
    stems: dict[str, list[str]] = {}
    for path in modules_under("authserver", "consent"):
        if path.name != "__init__.py":
            stems.setdefault(path.stem, []).append(relative(path))
    assert stems["grants"] == ["authserver/domain/grants.py", "authserver/models/grants.py"]
    assert len(stems.get("connections", [])) <= 1


# The reference MIS connector speaks to the server as any connector would: over HTTP. Of ours
# it may use only the file readers, which know nothing of the server.
AGENT_ALLOWED_OURS = ("mis_agent", "authserver.mis_files")
AGENT_ALLOWED_THIRD_PARTY = ("requests",)


@pytest.mark.parametrize("path", modules_under("mis_agent"), ids=relative)
def test_the_reference_connector_knows_the_server_only_through_http(path: Path) -> None:
    names = imported_modules(parsed(path))
    outside = sorted(
        name
        for name in names
        if name.split(".")[0] not in sys.stdlib_module_names
        and not is_under(name, *AGENT_ALLOWED_OURS, *AGENT_ALLOWED_THIRD_PARTY)
    )
    assert not outside
