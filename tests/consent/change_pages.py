"""What the tests of changing a connection share: a form read as a browser would submit it."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any


class _Form(HTMLParser):
    def __init__(self, action: str | None) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.values: dict[str, list[str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.inside = self.action is None or attributes.get("action") == self.action
            return
        if tag != "input" or not self.inside or not attributes.get("name"):
            return
        kind = attributes.get("type", "text")
        if kind in {"checkbox", "radio"} and "checked" not in attributes:
            return
        if kind == "submit":
            return
        self.values.setdefault(attributes["name"] or "", []).append(attributes.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def submitted(html: str, action: str | None = None, **overrides: Any) -> dict[str, Any]:
    """What a browser would post from the form (at `action`) as the page shows it, with
    `overrides` put over it (a list for several values, None to send nothing)."""
    parser = _Form(action)
    parser.feed(html)
    data: dict[str, Any] = dict(parser.values)
    for name, value in overrides.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data
