"""Untrusted XML parsed safely into a small tree whose elements know their line and path.

defusedxml's expat reader refuses DTDs (so no entity expansion of any kind) and external
references; we build our own tree from its SAX events because ElementTree forgets where an
element was, and a school needs "line 212" to find a bad date.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler
from xml.sax.xmlreader import InputSource, Locator

import defusedxml
from defusedxml.expatreader import DefusedExpatParser

from authserver.mis_files import FileRefused

_DECLARATION = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(eq=False)
class Element:
    """One XML element: its name, text, children, line and path from the root's child."""

    tag: str
    line: int
    path: str
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text: str = ""
    #: Set once a reader has put the element's value somewhere (see `unread`).
    read: bool = False

    def find(self, path: str) -> Element | None:
        """The first descendant along a '/'-separated path of tags, or None."""
        node: Element | None = self
        for tag in path.split("/"):
            node = next((c for c in node.children if c.tag == tag), None) if node else None
        return node

    def findall(self, path: str) -> list[Element]:
        """Every descendant along a '/'-separated path of tags."""
        nodes = [self]
        for tag in path.split("/"):
            nodes = [c for n in nodes for c in n.children if c.tag == tag]
        return nodes

    def value(self, path: str) -> str | None:
        """The text of the element at `path` (marked read), or None when absent or empty."""
        node = self.find(path)
        if node is None:
            return None
        node.read = True
        return node.text if node.text.strip() else None

    def iter(self) -> Iterator[Element]:
        """This element and all below it, in document order."""
        yield self
        for child in self.children:
            yield from child.iter()

    def mark_read(self) -> None:
        """Mark this element and all below it as read (a part consumed as a whole)."""
        for node in self.iter():
            node.read = True


def unread(root: Element) -> list[Element]:
    """Leaf elements holding a value that no reader took."""
    return [
        node for node in root.iter() if not node.children and node.text.strip() and not node.read
    ]


class _TreeBuilder(ContentHandler):
    def __init__(self) -> None:
        super().__init__()
        self.locator: Locator | None = None
        self.root: Element | None = None
        self.stack: list[Element] = []
        self.texts: list[list[str]] = []

    def setDocumentLocator(self, locator: Locator) -> None:
        self.locator = locator

    def line(self) -> int:
        return self.locator.getLineNumber() if self.locator else 0

    def startElement(self, name: str, attrs: object) -> None:
        parent = self.stack[-1] if self.stack else None
        path = name if parent is None or parent.parent is None else f"{parent.path}/{name}"
        node = Element(tag=name, line=self.line(), path=path, parent=parent)
        if parent is None:
            self.root = node
        else:
            parent.children.append(node)
        self.stack.append(node)
        self.texts.append([])

    def characters(self, content: str) -> None:
        if self.texts:
            self.texts[-1].append(content)

    def endElement(self, name: str) -> None:
        node = self.stack.pop()
        node.text = "".join(self.texts.pop())


def parse(data: bytes, filename: str) -> Element:
    """Parse untrusted XML into a tree; FileRefused naming the line for anything wrong."""
    _check_encoding(data, filename)
    builder = _TreeBuilder()
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(builder)
    source = InputSource()
    source.setByteStream(io.BytesIO(data))
    try:
        parser.parse(source)
    except SAXParseException as error:
        reason = error.getMessage()
        if "no element found" in reason or "unclosed token" in reason:
            reason = "the file ends before the XML does (is it truncated?)"
        else:
            reason = f"this is not well-formed XML ({reason})"
        raise FileRefused(
            reason, file=filename, line=error.getLineNumber(), column=error.getColumnNumber()
        ) from None
    except defusedxml.DTDForbidden:
        raise FileRefused(
            "the file has a DOCTYPE declaration, which a CTF never needs and we do not accept",
            file=filename,
            line=builder.line() or 1,
        ) from None
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise FileRefused(
            "the file declares entities or external references, which we do not accept",
            file=filename,
            line=builder.line() or 1,
        ) from None
    if builder.root is None:
        raise FileRefused("the file holds no XML element", file=filename)
    return builder.root


def _check_encoding(data: bytes, filename: str) -> None:
    """A file that says (or, having no declaration, is assumed to be) UTF-8 must be UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return  # UTF-16 with a byte order mark: expat checks it
    match = _DECLARATION.match(data.lstrip(b"\xef\xbb\xbf"))
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    if declared.replace("_", "-") not in {"utf-8", "utf8"}:
        return  # expat decodes what it knows (ISO-8859-1, US-ASCII) and refuses the rest
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        said = "says it is UTF-8" if match else "has no encoding declaration, so must be UTF-8"
        raise FileRefused(
            f"the file {said} but byte 0x{data[error.start]:02X} is not valid UTF-8 "
            "(was it saved as Windows-1252? Export it again as UTF-8)",
            file=filename,
            line=line,
            column=column,
        ) from None
