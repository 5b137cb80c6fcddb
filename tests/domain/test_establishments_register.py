"""Reading and importing the DfE register over generated files (Hypothesis): every valid row
read back as written, whatever the other columns and their order; any one bad value refused
by its line and column; an import followed by the same import changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from authserver.domain import establishments as register
from authserver.extensions import db
from authserver.models import Establishment, RegisterTrust
from tests.register_files import COLUMNS, register_csv, row

pytestmark = pytest.mark.fuzz

# Letters a school's name holds in the register, Windows-1252's own among them.
NAME_LETTERS = st.sampled_from(
    list(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '&-(),.éëèâôçÆœ"
        "\N{RIGHT SINGLE QUOTATION MARK}\N{EN DASH}"
    )
)
names = st.text(NAME_LETTERS, min_size=1, max_size=60).map(str.strip).filter(bool)
trusts = st.none() | st.sampled_from(["9001", "9002", "16743"])
TRUST_NAMES = {"9001": "Northfield Learning Trust", "9002": "Harbour Lights", "16743": "Æsc Trust"}


@st.composite
def registers(draw) -> list[dict[str, str]]:
    urns = draw(st.lists(st.integers(100_000, 9_999_999), min_size=1, max_size=25, unique=True))
    rows = []
    for urn in urns:
        trust = draw(trusts)
        rows.append(
            row(
                str(urn),
                draw(names),
                **{
                    "EstablishmentStatus (name)": draw(st.sampled_from(register.STATUSES)),
                    "PhaseOfEducation (name)": draw(st.sampled_from(sorted(register.PHASES))),
                    "Postcode": draw(st.sampled_from(["", "NF1 1AA", "ZZ99 9ZZ"])),
                    "Trusts (code)": trust or "",
                    "Trusts (name)": TRUST_NAMES[trust] if trust else "",
                    # A column the import never reads may hold anything, commas and quotes too.
                    "Street": draw(
                        st.text(NAME_LETTERS | st.sampled_from([",", '"']), max_size=20)
                    ),
                },
            )
        )
    return rows


@settings(max_examples=80, deadline=None)
@given(rows=registers(), data=st.data())
def test_every_row_is_read_as_written(rows, data) -> None:
    columns = data.draw(st.permutations(COLUMNS))
    read = register.read_register(register_csv(rows, columns=columns))
    assert [(r.urn, r.name, r.status, r.phase_name, r.trust_code, r.postcode) for r in read] == [
        (
            values["URN"],
            values["EstablishmentName"],
            values["EstablishmentStatus (name)"],
            values["PhaseOfEducation (name)"],
            values["Trusts (code)"] or None,
            values["Postcode"],
        )
        for values in rows
    ]
    assert [r.line for r in read] == list(range(2, len(rows) + 2))


BAD_VALUES = {
    "URN": ["", "12345", "0123456", "14000A", "140 001"],
    "EstablishmentName": ["", "A" * 201, "tab\there"],
    "EstablishmentStatus (name)": ["", "open", "Shut"],
    "PhaseOfEducation (name)": ["", "primary", "Infant"],
    "LA (code)": ["9a9"],
    "Postcode": ["NF1 1AA TOO LONG"],
}


@settings(max_examples=80, deadline=None)
@given(rows=registers(), data=st.data())
def test_one_bad_value_is_refused_by_its_line_and_column(rows, data) -> None:
    index = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(sorted(BAD_VALUES)))
    rows[index] = {**rows[index], column: data.draw(st.sampled_from(BAD_VALUES[column]))}
    with pytest.raises(register.RegisterRefused) as refused:
        register.read_register(register_csv(rows))
    assert (refused.value.line, refused.value.column) == (index + 2, column)
    assert str(refused.value).startswith(f"Line {index + 2}, column “{column}”: ")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=registers(), second=registers())
def test_importing_twice_changes_nothing_the_second_time(app, first, second) -> None:
    with app.app_context():
        outer = db.session.begin_nested()  # each example undone, inside the test's transaction
        try:
            summary = register.import_register(
                register.read_register(register_csv(first)), actor="test"
            )
            assert summary.added == len(first)
            # A later register: some of the same URNs, some new.
            later = register.read_register(register_csv(second))
            changed = register.import_register(later, actor="test")
            again = register.import_register(later, actor="test")
            assert not again.changed_anything
            assert again.unchanged == len(second)
            assert changed.added + changed.updated + changed.closed + changed.unchanged == len(
                second
            )
            stored = {
                e.urn: (e.name, e.status, e.trust_code)
                for e in db.session.scalars(select(Establishment))
            }
            for r in later:
                assert stored[r.urn] == (r.name, r.status, r.trust_code)
            assert len(stored) == len({values["URN"] for values in first + second})
            assert db.session.scalar(select(func.count()).select_from(RegisterTrust)) == len(
                {r.trust_code for r in later + register.read_register(register_csv(first))} - {None}
            )
        finally:
            outer.rollback()
