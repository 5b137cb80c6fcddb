"""docs/security.md keeps its promise: every row cites tests, and every cited test exists, so a
row without a test or a renamed test fails the suite."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "security.md"
NODE_ID = re.compile(r"^(tests/[\w/]+\.py)::(test_\w+)(?:\[([^\]]+)\])?$")
SEPARATOR = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")

# What the Hardening issue requires the document to cover, by the section that states it.
REQUIRED_SECTIONS = [
    "RFC 9700 §2.1.1",  # PKCE
    "RFC 9700 §2.1.2",  # no implicit grant
    "RFC 9700 §2.2.2",  # refresh token rotation
    "RFC 9700 §2.3",  # privilege restriction
    "RFC 9700 §2.4",  # no password grant
    "RFC 9700 §2.5",  # client authentication
    "RFC 9700 §4.1",  # exact redirect matching
    "RFC 9700 §4.2",  # Referer
    "RFC 9700 §4.4",  # mix-up
    "RFC 9700 §4.5",  # code injection
    "RFC 9700 §4.7",  # the client's CSRF (state)
    "RFC 9700 §4.8",  # PKCE downgrade
    "RFC 9700 §4.11",  # open redirectors
    "RFC 9700 §4.12",  # 307
    "RFC 9700 §4.14",  # refresh token protection
    "RFC 9700 §4.16",  # clickjacking
    "RFC 6749 §10.12",  # CSRF on the decision
    "RFC 6819 §5.1.5.3",  # lifetimes
    "RFC 6819 §5.1.4.1.3",  # secrets as digests
]


def table_rows(text: str) -> list[dict[str, str]]:
    """Every body row of every Markdown table in `text`, as {column heading: cell}."""
    rows: list[dict[str, str]] = []
    lines = text.splitlines()
    headings: list[str] | None = None
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("|"):
            headings = None
            continue
        if SEPARATOR.match(stripped.replace(" ", "")):
            headings = _cells(lines[number - 1])
            continue
        following = lines[number + 1].strip() if number + 1 < len(lines) else ""
        if headings is not None and not SEPARATOR.match(following.replace(" ", "")):
            rows.append(dict(zip(headings, _cells(stripped), strict=True)))
    return rows


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """The test functions a module defines, at top level or in a class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    )


def missing(node_id: str) -> str | None:
    """Why `node_id` does not name a test of this suite, or None if it does."""
    match = NODE_ID.match(node_id)
    if not match:
        return f"{node_id!r} is not a node id like tests/x.py::test_name[case]"
    relative, name, case = match.groups()
    path = ROOT / relative
    if not path.is_file():
        return f"{relative} does not exist"
    if name not in defined_tests(path):
        return f"{relative} defines no {name}"
    if case and f'"{case}"' not in path.read_text(encoding="utf-8"):
        return f"{relative} has no case {case!r} (an id or a string parameter)"
    return None


def cited(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def sections_of(rule: str) -> set[str]:
    """The sections a rule cites: "RFC 9700 §2.1, §4.11.2" gives both, each with its RFC."""
    found, rfc = set(), None
    for token in re.findall(r"RFC \d+|§[\d.]*\d", rule):
        if token.startswith("RFC"):
            rfc = token
        elif rfc:
            found.add(f"{rfc} {token}")
    return found


ROWS = table_rows(DOCUMENT.read_text(encoding="utf-8"))
TESTED_ROWS = [row for row in ROWS if "Tests" in row]


def test_the_document_has_its_tables() -> None:
    assert len(TESTED_ROWS) >= 30
    assert all(row.get("Rule") for row in TESTED_ROWS), "every row names its rule"


def row_problems(row: dict[str, str]) -> list[str]:
    """What is wrong with one row's Tests cell: nothing cited, or a citation that is stale."""
    node_ids = cited(row.get("Tests", ""))
    if not node_ids:
        return [f"no test cited for {row['Rule']!r}"]
    return [problem for node_id in node_ids if (problem := missing(node_id))]


@pytest.mark.parametrize("row", TESTED_ROWS, ids=[row["Rule"][:40] for row in TESTED_ROWS])
def test_every_row_cites_tests_that_exist(row: dict[str, str]) -> None:
    assert not row_problems(row)


@pytest.mark.parametrize("section", REQUIRED_SECTIONS)
def test_the_required_rules_are_covered(section: str) -> None:
    covered = set().union(*(sections_of(row["Rule"]) for row in TESTED_ROWS))
    assert any(s == section or s.startswith(section + ".") for s in covered), section


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("`tests/oauth/test_security_bcp.py::test_no_such_test`", "defines no"),
        ("`tests/oauth/test_gone.py::test_state_comes_back_exactly_as_sent`", "does not exist"),
        (
            "`tests/oauth/test_security_bcp.py::test_state_comes_back_exactly_as_sent[no-such-case]`",
            "case",
        ),
        ("`test_state_comes_back_exactly_as_sent`", "not a node id"),
    ],
)
def test_a_renamed_or_invented_test_is_caught(cell: str, problem: str) -> None:
    (node_id,) = cited(cell)
    assert problem in (missing(node_id) or "")


def test_sections_are_read_with_their_rfc() -> None:
    assert sections_of("RFC 9700 §2.1, §4.11.2 Open redirectors (RFC 6819 §4.4.1.9)") == {
        "RFC 9700 §2.1",
        "RFC 9700 §4.11.2",
        "RFC 6819 §4.4.1.9",
    }


def test_a_row_without_tests_is_caught() -> None:
    text = "| Rule | How | Tests |\n| --- | --- | --- |\n| RFC 9700 §4.16 | Framing refused. |  |\n"
    (row,) = table_rows(text)
    assert row_problems(row) == ["no test cited for 'RFC 9700 §4.16'"]
