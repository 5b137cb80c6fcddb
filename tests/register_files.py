"""Register files for the tests: GIAS establishment CSVs laid out as the DfE's extract (its own
column names, more columns than the import reads, Windows-1252, CRLF), with made-up schools."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "gias-establishments.csv"

# A realistic run of the extract's columns: the ones read, and others around them (ignored).
COLUMNS = (
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (code)",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (code)",
    "EstablishmentStatus (name)",
    "OpenDate",
    "PhaseOfEducation (code)",
    "PhaseOfEducation (name)",
    "NumberOfPupils",
    "Trusts (code)",
    "Trusts (name)",
    "Street",
    "Town",
    "Postcode",
    "SchoolWebsite",
)


def row(urn: str, name: str = "Made-up Primary School", **values: str) -> dict[str, str]:
    """One row of the register; `values` are keyed by the register's column names."""
    return {
        "URN": urn,
        "LA (code)": "999",
        "LA (name)": "Northfield",
        "EstablishmentNumber": "2001",
        "EstablishmentName": name,
        "TypeOfEstablishment (code)": "01",
        "TypeOfEstablishment (name)": "Community school",
        "EstablishmentStatus (code)": "1",
        "EstablishmentStatus (name)": "Open",
        "OpenDate": "01-01-1974",
        "PhaseOfEducation (code)": "2",
        "PhaseOfEducation (name)": "Primary",
        "NumberOfPupils": "210",
        "Trusts (code)": "",
        "Trusts (name)": "",
        "Street": "School Lane",
        "Town": "Northfield",
        "Postcode": "NF1 1AA",
        "SchoolWebsite": "",
        **values,
    }


def register_csv(
    rows: Iterable[Mapping[str, str]],
    *,
    columns: Sequence[str] = COLUMNS,
    encoding: str = "cp1252",
) -> bytes:
    """The rows as the DfE writes them: a header line of column names, CRLF, Windows-1252."""
    text = io.StringIO(newline="")
    table = csv.writer(text, lineterminator="\r\n")
    table.writerow(columns)
    for values in rows:
        table.writerow([values.get(name, "") for name in columns])
    return text.getvalue().encode(encoding)
