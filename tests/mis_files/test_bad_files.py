"""Files we refuse, each with a plain-English reason and where it lies."""

from __future__ import annotations

import io
import zipfile

import pytest

from authserver.mis_files import MAX_FILE_BYTES, FileRefused, read_file
from tests.mis_files.conftest import DATA, bundle, oneroster_files

CTF = (DATA / "ctf-siblings.xml").read_text(encoding="utf-8")


def refusal(data: bytes, filename: str = "upload") -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        read_file(data, filename)
    return caught.value


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(
    ("change", "element", "words"),
    [
        (("<DOB>2014-03-09", "<DOB>2013-02-30"), "Pupil/DOB", "'2013-02-30' is not a date"),
        (("<UPN>Y935400125003", "<UPN>V935400125001"), "Pupil/UPN", "given to two pupils"),
        (("<UPN>V935400125001", "<UPN>A935400125001"), "Pupil/UPN", "not a valid UPN"),
        (("<Forename>Zoë</Forename>", ""), "Pupil/Forename", "required but missing"),
        (("<SENtypeRank>1", "<SENtypeRank>first"), "SENtypeRank", "not a whole number"),
        (
            ("<Responsibility>true", "<Responsibility>perhaps"),
            "Responsibility",
            "not true or false",
        ),
        (
            ("<DateTime>2025-07-18T14:05:00</DateTime>", ""),
            "Header/DateTime",
            "required but missing",
        ),
    ],
)
def test_bad_values_name_their_line_and_element(
    change: tuple[str, str], element: str, words: str
) -> None:
    text = CTF.replace(*change, 1)
    error = refusal(text.encode(), "siblings.xml")
    assert words in error.message
    assert error.element is not None
    assert error.element.endswith(element)
    assert error.line is not None
    assert error.line > 1
    assert str(error).startswith(f"siblings.xml, line {error.line}, element ")


def test_the_date_error_reads_as_the_school_would_want() -> None:
    text = CTF.replace("<DOB>2014-03-09", "<DOB>2013-02-30", 1)
    error = refusal(text.encode(), "siblings.xml")
    expected_line = line_of(text, "2013-02-30")
    assert str(error) == (
        f"siblings.xml, line {expected_line}, element Pupil/DOB: '2013-02-30' is not a date "
        "(YYYY-MM-DD)"
    )


def test_truncated_xml() -> None:
    error = refusal(CTF[: len(CTF) // 2].encode())
    assert "truncated" in error.message
    assert error.line is not None


def test_a_file_that_says_utf8_but_is_windows_1252() -> None:
    error = refusal(CTF.encode("cp1252"))
    assert "not valid UTF-8" in error.message
    assert error.line == line_of(CTF, "Zoë")


@pytest.mark.parametrize(
    "prologue",
    [
        '<!DOCTYPE CTfile [<!ENTITY lol "lol">]>',
        '<!DOCTYPE CTfile SYSTEM "http://example.com/ctf.dtd">',
        '<!DOCTYPE CTfile [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ],
)
def test_doctype_and_entity_tricks(prologue: str) -> None:
    text = CTF.replace("<CTfile>", prologue + "\n<CTfile>", 1)
    error = refusal(text.encode())
    assert "DOCTYPE" in error.message or "entities" in error.message


def test_a_billion_laughs() -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    text = (
        f'<?xml version="1.0"?><!DOCTYPE CTfile [<!ENTITY l0 "lol">{laughs}]><CTfile>&l9;</CTfile>'
    )
    assert "DOCTYPE" in refusal(text.encode()).message


def test_xml_that_is_not_a_ctf() -> None:
    assert "not a Common Transfer File" in refusal(b"<html><body/></html>").message


@pytest.mark.parametrize("data", [b"surname,forename\nSmith,Jo\n", b"", b"%PDF-1.7"])
def test_an_unknown_format(data: bytes) -> None:
    assert "neither a Common Transfer File" in refusal(data, "pupils.csv").message


def test_a_file_over_the_limit() -> None:
    assert "more than" in refusal(b"<" + b" " * MAX_FILE_BYTES).message


def test_a_zip_bomb_is_refused_before_extracting() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.csv", "propertyName,value\n")
        archive.writestr("users.csv", b"\0" * (MAX_FILE_BYTES + 1))
    data = buffer.getvalue()
    assert len(data) < 200_000
    assert "uncompressed" in refusal(data).message


def test_a_zip_with_a_nested_path() -> None:
    files = oneroster_files() | {"../evil.csv": "x"}
    assert "top level" in refusal(bundle(files)).message


def test_a_zip_without_a_manifest() -> None:
    assert "no manifest.csv" in refusal(bundle({"users.csv": "sourcedId\n"})).message


def with_file(name: str, old: str, new: str) -> bytes:
    files = oneroster_files()
    assert old in files[name]
    files[name] = files[name].replace(old, new, 1)
    return bundle(files)


@pytest.mark.parametrize(
    ("name", "old", "new", "where", "words"),
    [
        ("enrollments.csv", "e-1,active,2025-11-01T09:00:00Z,c-1", "e-1,active,,c-9",
         ("enrollments.csv", 2, "classSourcedId"), "'c-9' is not a class"),
        ("users.csv", "V935400125001", "",
         ("users.csv", 2, "identifier"), "no UPN"),
        ("users.csv", "V935400125001", "ADM-0001",
         ("users.csv", 2, "identifier"), "'ADM-0001' is not a valid UPN"),
        ("users.csv", "Y935400125003", "V935400125001",
         ("users.csv", 3, "identifier"), "UPN V935400125001 is also the pupil's at line 2"),
        ("demographics.csv", "2014-03-09", "2014-02-30",
         ("demographics.csv", 2, "birthDate"), "'2014-02-30' is not a date"),
        ("users.csv", "u-2,active", "u-1,active",
         ("users.csv", 3, "sourcedId"), "also the user at line 2"),
    ],
)  # fmt: skip
def test_bad_rows_name_their_file_line_and_column(
    name: str, old: str, new: str, where: tuple[str, int, str], words: str
) -> None:
    error = refusal(with_file(name, old, new))
    assert (error.file, error.line, error.column) == where
    assert words in error.message


def test_a_dangling_agent_in_a_snapshot() -> None:
    files = oneroster_files()
    files["manifest.csv"] = files["manifest.csv"].replace(",delta", ",bulk")
    for name in ("users.csv", "classes.csv", "enrollments.csv"):
        files[name] = "\n".join(
            line for line in files[name].splitlines() if "tobedeleted" not in line
        )
    files["users.csv"] = files["users.csv"].replace('"p-1,p-2"', '"p-1,p-7"')
    error = refusal(bundle(files))
    assert (error.file, error.column) == ("users.csv", "agentSourcedIds")
    assert "'p-7' is not a user" in error.message
