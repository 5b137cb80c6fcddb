"""Files a school uploads instead of running a connector: a DfE Common Transfer File (CTF, XML)
or a OneRoster 1.1/1.2 CSV bundle (a zip), read into the connector's records.

`read_file` only reads: it recognises the format from the bytes, checks them, and returns the
records of docs/connector.md (pupils keyed by UPN, everything else by a string `id`, links as
`*_id` holding the linked record's key). Storing them is the ingest's job. Anything in the file
that has no place in our data model is listed in `ParsedFile.unmapped`, never dropped silently;
anything wrong with the file raises `FileRefused`, naming where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: The largest file (or, for a zip, the largest total of its uncompressed members) we read.
MAX_FILE_BYTES = 50 * 1024 * 1024

Format = Literal["ctf", "oneroster"]
Mode = Literal["delta", "snapshot"]


class FileRefused(Exception):
    """A file we will not read, with a plain-English reason and where in the file it lies."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | str | None = None,
        element: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.element = element
        super().__init__(self.where() + message)

    def where(self) -> str:
        """'users.csv, line 5, column sourcedId: ' or '' when the whole file is at fault."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        if self.element:
            parts.append(f"element {self.element}")
        return ", ".join(parts) + ": " if parts else ""


@dataclass
class ParsedFile:
    """What a file holds, as connector records ready for the ingest."""

    format: Format
    #: "delta": upserts (and `deletions`) for some records; "snapshot": every record of the
    #: entities the file carries, so records missing from it are gone.
    mode: Mode
    entities: dict[str, list[dict[str, Any]]]
    #: Each element or column that has no place in our data model, with how many values.
    unmapped: list[str]
    #: Who sent the file, in words (the CTF's source school, the OneRoster school org).
    source: str
    school_urn: str | None = None
    #: Keys of records the file deletes (OneRoster `status=tobedeleted`), by entity.
    deletions: dict[str, list[str]] = field(default_factory=dict)
    #: Things the school should know about how the file was read (e.g. its encoding).
    notes: list[str] = field(default_factory=list)


def read_file(data: bytes, filename: str) -> ParsedFile:
    """Read an uploaded CTF or OneRoster zip into connector records; FileRefused if we cannot.

    The format is recognised from the content; the filename is only used in messages.
    """
    from authserver.mis_files import ctf, oneroster

    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(
            f"the file is {len(data):,} bytes, more than the {MAX_FILE_BYTES:,} we accept",
            file=filename,
        )
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return oneroster.read(data, filename)
    if _looks_like_xml(data):
        return ctf.read(data, filename)
    raise FileRefused(
        "this is neither a Common Transfer File (XML) nor a OneRoster bundle (a zip with "
        "manifest.csv)",
        file=filename,
    )


def _looks_like_xml(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark
        return True
    return head.startswith(b"<")


__all__ = ["MAX_FILE_BYTES", "FileRefused", "ParsedFile", "read_file"]
