"""The school's page of writes waiting for its MIS: the queue as CSV, and marking what was typed
in as applied (CSRF on), only for the school's own admins."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.api.conftest import school_data, seeded_school  # noqa: F401 (fixtures)
from tests.api.test_writeback import Ids, WritebackTokens
from tests.oauth_flow import csrf_token, sign_in


@pytest.fixture
def school(seeded_school):  # noqa: F811 (the seeded school in place of an empty one)
    return seeded_school


@pytest.fixture
def written(app, client, make_app, school, school_admin, school_data):  # noqa: F811
    """A vendor's batch of two behaviour incidents, one with a formula-like comment."""
    tokens = WritebackTokens(app, client, make_app, school, school_admin)
    ids = Ids(app, school.id)
    batch = [
        {
            "student_id": ids.students[0],
            "occurred_on": "2031-03-03",
            "behaviour_type": "Disruption in lesson",
        },
        {
            "student_id": ids.students[1],
            "occurred_on": "2031-03-04",
            "behaviour_type": "Late to lesson",
            "comment": "=HYPERLINK(1)",
        },
    ]
    response = tokens.post("behaviours", tokens.token("WritebackConduct"), batch)
    assert response.status_code == 201
    return tokens, response.get_json()


def test_the_queue_downloads_as_csv_oldest_first(client, school, school_admin, written) -> None:
    sign_in(client, school_admin.email)
    page = client.get(f"/schools/{school.urn}/writebacks")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "Writes waiting for your MIS" in page.get_data(as_text=True)
    download = client.get(f"/schools/{school.urn}/writebacks.csv")
    assert download.mimetype == "text/csv"
    assert "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [r["record_id"] for r in rows] == [str(d["id"]) for d in written[1]["data"]]
    assert rows[0]["operation"] == "create"
    assert rows[0]["resource"] == "behaviours"
    assert rows[0]["behaviour_type"] == "Disruption in lesson"
    assert rows[0]["pupil"]
    assert rows[1]["comment"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet


def test_marking_writes_applied_settles_them_for_the_vendor(
    client, school, school_admin, written
) -> None:
    tokens, body = written
    sign_in(client, school_admin.email)
    page = client.get(f"/schools/{school.urn}/writebacks").get_data(as_text=True)
    first_item = re.search(r'name="items" value="(\d+)"', page).group(1)
    refused = client.post(f"/schools/{school.urn}/writebacks/applied", data={"items": first_item})
    assert refused.status_code == 400  # no CSRF token
    response = client.post(
        f"/schools/{school.urn}/writebacks/applied",
        data={"csrf_token": csrf_token(page), "items": first_item},
    )
    assert response.status_code == 302
    status = tokens.get(f"writebacks/{body['writeback']['id']}", tokens.token()).get_json()
    assert [i["state"] for i in status["items"]] == ["applied", "queued"]
    download = client.get(f"/schools/{school.urn}/writebacks.csv").get_data(as_text=True)
    assert len(list(csv.DictReader(io.StringIO(download)))) == 1


def test_another_schools_queue_is_not_found(client, make_school, make_user, written) -> None:
    from authserver.models import Role

    other = make_school(name="Elsewhere")
    admin = make_user(Role.SCHOOL_ADMIN, school=other, can_approve=True)
    sign_in(client, admin.email)
    assert (
        client.get(f"/schools/{other.urn}/writebacks.csv").get_data(as_text=True).count("\n") == 1
    )
    from tests.api.conftest import SEEDED_URN

    for path in ("writebacks", "writebacks.csv"):
        assert client.get(f"/schools/{SEEDED_URN}/{path}").status_code == 404
