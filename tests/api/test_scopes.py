"""The public scope catalogue: JSON for machines, CSV for data protection officers, a page."""

from __future__ import annotations

import csv
import io

from authserver.domain.catalogue import default_catalogue


def test_the_catalogue_as_json(client) -> None:
    response = client.get("/api/v1/scopes")
    assert response.status_code == 200
    body = response.get_json()
    catalogue = default_catalogue()
    assert [s["name"] for s in body["scopes"]] == [s.name for s in catalogue]
    assert body["categories"] == list(catalogue.categories)
    ethnicity = next(s for s in body["scopes"] if s["name"] == "StudentEthnicity")
    assert ethnicity["sensitive"] is True
    assert ethnicity["kind"] == "read"
    assert ethnicity["consent_required"] is True
    assert all({"name", "label"} == set(f) for f in ethnicity["fields"])
    public = next(s for s in body["scopes"] if s["name"] == "PublicSchoolData")
    assert public["consent_required"] is False


def test_the_catalogue_as_csv(client) -> None:
    response = client.get("/api/v1/scopes.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(default_catalogue().scopes)
    by_name = {row["name"]: row for row in rows}
    assert by_name["StudentReligion"]["sensitive"] == "true"
    assert by_name["StudentLite"]["sensitive"] == "false"
    assert "student.date_of_birth" not in by_name["StudentLite"]["fields"].split()
    assert by_name["WritebackAttendance"]["kind"] == "write"


def test_the_catalogue_page_is_readable(client) -> None:
    response = client.get("/scopes")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for scope in default_catalogue():
        assert f'id="scope-{scope.name}"' in html
    assert "Sensitive" in html
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_errors_are_json_and_pages_are_html(client) -> None:
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.get_json()["error"] == "not_found"
    wrong_method = client.post("/api/v1/scopes")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "Go to the home page" in page.get_data(as_text=True)
