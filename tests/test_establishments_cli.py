"""`flask establishments import` and `onboard`: the DfE register loaded in one transaction, a
bad file refused by line and column with nothing written, re-imports that change nothing, and
onboarding only by a platform admin."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AuditEvent, Establishment, RegisterTrust, Role, School, Trust
from tests.register_files import COLUMNS, SAMPLE, register_csv, row


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def run_import(cli, tmp_path, content: bytes, name: str = "edubasealldata20260101.csv"):
    path = tmp_path / name
    path.write_bytes(content)
    return cli.invoke(args=["establishments", "import", str(path)])


def add_school(app, urn: str, **values) -> None:
    with app.app_context():
        db.session.add(School(urn=urn, **{"name": "Old name", "phase": "secondary", **values}))
        db.session.commit()


def test_the_sample_register_is_imported(app, cli) -> None:
    result = cli.invoke(args=["establishments", "import", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "Importing" in result.output
    assert "Establishments: 11 added, 0 updated, 0 closed, 0 unchanged." in result.output
    assert "Trusts: 2 added, 0 updated." in result.output
    assert count(app, Establishment) == 11
    assert count(app, Establishment, Establishment.status == "Closed") == 2
    assert count(app, RegisterTrust) == 2
    with app.app_context():
        entry = db.session.scalar(select(Establishment).where(Establishment.urn == "140102"))
        # Windows-1252 read as such: the diaeresis survives.
        assert entry.name == "Brontë Fields Infant School"
        assert entry.dfe_number == "999/2102"
        assert entry.trust_code is None
        trust = db.session.scalar(select(RegisterTrust).where(RegisterTrust.code == "9002"))
        assert trust.name == "Harbour Lights Academy Trust"
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "register:imported")
        )
        assert event.actor == "operator (CLI)"
        assert event.detail["added"] == 11
    # Nothing in the register is a school on the platform until it is onboarded.
    assert count(app, School) == 0


def test_importing_the_same_file_again_changes_nothing(app, cli) -> None:
    assert cli.invoke(args=["establishments", "import", str(SAMPLE)]).exit_code == 0
    events = count(app, AuditEvent)
    again = cli.invoke(args=["establishments", "import", str(SAMPLE)])
    assert again.exit_code == 0, again.output
    assert "Establishments: 0 added, 0 updated, 0 closed, 11 unchanged." in again.output
    assert "Trusts: 0 added, 0 updated." in again.output
    assert "0 school(s) updated, 0 closed" in again.output
    assert count(app, AuditEvent) == events


def test_the_schools_and_trusts_on_the_platform_follow_the_register(app, cli, tmp_path) -> None:
    with app.app_context():
        db.session.add(Trust(name="HARBOUR LIGHTS (old name)", code="9002"))
        db.session.commit()
    add_school(app, "150001")
    add_school(app, "150002", name="Shore Primary", phase="primary")
    rows = [
        row(
            "150001",
            "Harbour Lights Academy",
            **{
                "PhaseOfEducation (name)": "All-through",
                "Trusts (code)": "9002",
                "Trusts (name)": "Harbour Lights Academy Trust",
            },
        ),
        row("150002", "Shore Primary", **{"EstablishmentStatus (name)": "Closed"}),
    ]
    result = run_import(cli, tmp_path, register_csv(rows))
    assert result.exit_code == 0, result.output
    assert "2 added" in result.output
    assert "1 school(s) updated, 1 closed, 1 trust(s) renamed" in result.output
    with app.app_context():
        first = db.session.scalar(select(School).where(School.urn == "150001"))
        assert (first.name, first.phase, first.trust.code) == (
            "Harbour Lights Academy",
            "all-through",
            "9002",
        )
        assert first.trust.name == "Harbour Lights Academy Trust"
        assert not first.is_closed
        second = db.session.scalar(select(School).where(School.urn == "150002"))
        assert second.is_closed
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {
            "school:updated_from_register",
            "school:closed",
            "trust:updated_from_register",
        } <= actions
        [update] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "school:updated_from_register")
        )
        assert update.school_id == first.id
        assert update.detail["changes"]["name"] == {
            "from": "Old name",
            "to": "Harbour Lights Academy",
        }

    # The school's closing, as a later register says it, is counted once and marked once.
    rows[0]["EstablishmentStatus (name)"] = "Closed"
    later = run_import(cli, tmp_path, register_csv(rows))
    assert "0 added, 0 updated, 1 closed, 1 unchanged" in later.output
    assert "0 school(s) updated, 1 closed" in later.output
    assert count(app, School, School.closed_at.is_not(None)) == 2


def test_a_trust_made_before_the_register_keeps_its_schools(app, cli, tmp_path) -> None:
    with app.app_context():
        trust = Trust(name="A trust the platform made")
        db.session.add(trust)
        db.session.flush()
        db.session.add(School(urn="150003", name="Kept", phase="primary", trust_id=trust.id))
        db.session.commit()
    assert run_import(cli, tmp_path, register_csv([row("150003", "Kept")])).exit_code == 0
    with app.app_context():
        school = db.session.scalar(select(School).where(School.urn == "150003"))
        assert school.trust is not None
        assert school.trust.name == "A trust the platform made"


GOOD = row("140101", "Riverside Primary")


def lines(*rows) -> list[dict[str, str]]:
    return [GOOD, *rows]


BAD_FILES = {
    "a missing column": (
        register_csv([GOOD], columns=[c for c in COLUMNS if c != "Trusts (code)"]),
        "Line 1, column “Trusts (code)”",
    ),
    "a URN that is not one": (
        register_csv(lines(row("14A102"))),
        "Line 3, column “URN”: “14A102” is not a URN",
    ),
    "an empty URN": (register_csv(lines(row(""))), "Line 3, column “URN”: this is empty"),
    "an unknown status": (
        register_csv(lines(row("140102", **{"EstablishmentStatus (name)": "Shut"}))),
        "Line 3, column “EstablishmentStatus (name)”: “Shut” is not a status",
    ),
    "an unknown phase": (
        register_csv(lines(row("140102", **{"PhaseOfEducation (name)": "Infants"}))),
        "Line 3, column “PhaseOfEducation (name)”: “Infants” is not a phase",
    ),
    "a duplicate URN": (
        register_csv(lines(row("140102"), row("140101"))),
        "Line 4, column “URN”: URN 140101 is already on line 2.",
    ),
    "an empty name": (
        register_csv(lines(row("140102", ""))),
        "Line 3, column “EstablishmentName”: this is empty",
    ),
    "a trust code without its name": (
        register_csv(lines(row("140102", **{"Trusts (code)": "9002"}))),
        "Line 3, column “Trusts (name)”: a trust needs both",
    ),
    "one trust with two names": (
        register_csv(
            [
                row("140101", **{"Trusts (code)": "9002", "Trusts (name)": "Harbour"}),
                row("140102", **{"Trusts (code)": "9002", "Trusts (name)": "Harbor"}),
            ]
        ),
        "Line 3, column “Trusts (name)”: trust 9002 is “Harbour” on line 2",
    ),
    "a name too long": (
        register_csv(lines(row("140102", "A" * 201))),
        "Line 3, column “EstablishmentName”: this is 201 characters long",
    ),
    "a line with a value too many": (
        register_csv([GOOD]) + b"140102," + b",".join([b"x"] * len(COLUMNS)) + b"\r\n",
        "Line 3: this line has 20 values",
    ),
    "UTF-8 in place of Windows-1252": (
        register_csv(lines(row("140102", "Brontë Fields")), encoding="utf-8"),
        "Line 3: this line is UTF-8",
    ),
    "a byte Windows-1252 does not have": (
        register_csv(lines()) + b"140102,999,Northfield,2001,Bad \x81 name\r\n",
        "Line 3: byte 0x81 is not Windows-1252 text",
    ),
    "UTF-16": (
        register_csv(lines(), encoding="utf-16"),
        "Line 1: the file holds NUL bytes",
    ),
    "an unterminated quote": (
        register_csv(lines()) + b'140102,"Never closed\r\n',
        "is not valid CSV",
    ),
    "an empty file": (b"", "Line 1: the file is empty."),
}


@pytest.mark.parametrize(("content", "message"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_is_refused_by_line_and_column_and_changes_nothing(
    app, cli, tmp_path, content: bytes, message: str
) -> None:
    add_school(app, "140101", name="Kept as it was")
    result = run_import(cli, tmp_path, content)
    assert result.exit_code == 1
    assert message in result.output
    assert "Nothing was imported." in result.output
    assert count(app, Establishment) == 0
    assert count(app, RegisterTrust) == 0
    assert count(app, AuditEvent) == 0
    assert count(app, School, School.name == "Kept as it was") == 1


def test_a_refused_file_leaves_the_register_as_it_was(app, cli, tmp_path) -> None:
    assert cli.invoke(args=["establishments", "import", str(SAMPLE)]).exit_code == 0
    renamed = SAMPLE.read_bytes().replace(b"Riverside Community", b"Riverbank Community")
    broken = renamed + b"140999,999,Northfield,1,X,01,Community school,1,Gone\r\n"
    result = run_import(cli, tmp_path, broken)
    assert result.exit_code == 1
    assert count(app, Establishment, Establishment.name.like("Riverbank%")) == 0
    assert count(app, Establishment) == 11


def test_a_utf8_file_with_its_byte_order_mark_is_read(app, cli, tmp_path) -> None:
    content = b"\xef\xbb\xbf" + register_csv([row("140102", "Brontë Fields")], encoding="utf-8")
    assert run_import(cli, tmp_path, content).exit_code == 0
    assert count(app, Establishment, Establishment.name == "Brontë Fields") == 1


# --- onboarding ----------------------------------------------------------------------------------


@pytest.fixture
def platform_admin(make_user):
    return make_user(Role.PLATFORM_ADMIN, email="platform@example.org")


@pytest.fixture
def loaded(cli) -> None:
    assert cli.invoke(args=["establishments", "import", str(SAMPLE)]).exit_code == 0


def onboard(cli, *args: str):
    return cli.invoke(args=["establishments", "onboard", *args])


def test_a_platform_admin_onboards_a_school(app, cli, loaded, platform_admin) -> None:
    result = onboard(cli, "140101", "--by", "platform@example.org")
    assert result.exit_code == 0, result.output
    assert "Onboarded Riverside Community Primary School (URN 140101)." in result.output
    with app.app_context():
        school = db.session.scalar(select(School).where(School.urn == "140101"))
        assert school.phase == "primary"
        [event] = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "school:onboarded")
        )
        assert (event.school_id, event.actor_user_id) == (school.id, platform_admin.id)
    again = onboard(cli, "140101", "--by", "platform@example.org")
    assert again.exit_code == 1
    assert "already on the platform" in again.output


def test_a_platform_admin_onboards_a_trust_with_its_open_schools(
    app, cli, loaded, platform_admin
) -> None:
    result = onboard(cli, "--trust", "9002", "--by", "platform@example.org")
    assert result.exit_code == 0, result.output
    assert "4 school(s) added" in result.output
    with app.app_context():
        trust = db.session.scalar(select(Trust).where(Trust.code == "9002"))
        # The closed one (140205) is left out.
        assert [s.urn for s in sorted(trust.schools, key=lambda s: s.urn)] == [
            "140201",
            "140202",
            "140203",
            "140204",
        ]
        assert count(app, AuditEvent, AuditEvent.action == "trust:onboarded") == 1
        assert count(app, AuditEvent, AuditEvent.action == "school:onboarded") == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["140101", "--by", "someone@example.org"], "is not a platform admin"),
        (["999998", "--by", "platform@example.org"], "no establishment with the URN 999998"),
        (["--trust", "1234", "--by", "platform@example.org"], "no trust with the code 1234"),
        (["140103", "--by", "platform@example.org"], "is closed, according to the DfE register"),
        (["--by", "platform@example.org"], "Give either a URN or --trust CODE"),
        (["140101", "--trust", "9002", "--by", "platform@example.org"], "Give either"),
    ],
)
def test_onboarding_refusals(app, cli, loaded, platform_admin, args, message) -> None:
    result = onboard(cli, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert count(app, School) == 0


def test_only_a_platform_admin_may_onboard(app, cli, loaded, school_admin) -> None:
    result = onboard(cli, "140101", "--by", school_admin.email)
    assert result.exit_code == 2
    assert "is not a platform admin" in result.output
    assert count(app, School, School.urn == "140101") == 0
