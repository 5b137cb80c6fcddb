"""The consent screen: required versus optional, plain words, narrowing, only what changes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models.grants import Grant
from tests.oauth_flow import OAuthFlow, basic_auth, query_of

REDIRECT_URI = "https://app.example.com/callback"


@pytest.fixture
def year_groups(app, school) -> dict[str, int]:
    """Year 7 and Year 8 of the school, as its MIS holds them."""
    from authserver.models.mis.structure import Group

    with app.app_context():
        groups = {
            name: Group(school_id=school.id, type="year", name=name, nc_year=year)
            for name, year in (("Year 7", "7"), ("Year 8", "8"))
        }
        db.session.add_all(groups.values())
        db.session.commit()
        return {name: group.id for name, group in groups.items()}


@pytest.fixture
def flow(client, make_app, school_admin) -> OAuthFlow:
    application, secret = make_app(
        required={"StudentLite": "To show pupils' names.", "Attendance": "To analyse attendance."},
        optional={
            "StudentMedical": "To warn staff of medical needs.",
            "Contact": "To phone parents.",
        },
    )
    flow = OAuthFlow(client, application.client_id, secret, REDIRECT_URI)
    flow.sign_in(school_admin.email)
    return flow


def grant_of(app) -> Grant:
    with app.app_context():
        grant = db.session.scalar(select(Grant))
        db.session.expunge(grant)
        return grant


def test_the_screen_separates_required_from_optional_in_plain_words(flow) -> None:
    html = flow.start().get_data(as_text=True)
    required = html.split('id="required-heading"')[1].split('id="optional-heading"')[0]
    optional = html.split('id="optional-heading"')[1]
    assert "StudentLite" in required
    assert "Attendance" in required
    assert 'name="optional_scopes"' not in required  # required scopes have no control
    assert "StudentMedical" in optional
    # Optional scopes start unticked.
    for box in re.findall(r'<input type="checkbox" name="optional_scopes"[^>]*>', html):
        assert "checked" not in box
    # Fields in plain English, the purpose, and a marker on special-category data.
    assert "Date of birth" not in required  # StudentLite shares no date of birth
    assert "Why they ask:" in html
    assert "To warn staff of medical needs." in html
    medical = optional.split('<label for="optional-StudentMedical">')[1].split("</label>")[0]
    assert "Sensitive" in medical
    assert "PublicSchoolData" not in html
    assert "privacy policy" in html


def test_scopes_are_grouped_by_category(flow) -> None:
    html = flow.start().get_data(as_text=True)
    assert re.search(r"<h3>Students</h3>", html)


def test_approving_records_the_terms_and_privacy_policy_accepted(app, flow) -> None:
    flow.tokens()
    grant = grant_of(app)
    assert grant.accepted_privacy_policy_url == "https://app.example.com/privacy"
    assert grant.accepted_terms_url == "https://app.example.com/terms"


def test_a_school_can_share_with_some_year_groups_only(
    app, client, flow, year_groups, resource_server
) -> None:
    flow.start()
    params = query_of(
        flow.decide(
            optional=("Contact",),
            extra={"audience": "some", "group_ids": [str(year_groups["Year 7"])]},
        )
    )
    token = flow.exchange(params["code"]).get_json()
    grant = grant_of(app)
    assert grant.restrictions["group_ids"] == [year_groups["Year 7"]]
    server, secret = resource_server
    info = client.post(
        "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=basic_auth(server.client_id, secret),
    ).get_json()
    assert info["restrictions"]["group_ids"] == [year_groups["Year 7"]]


def test_choosing_some_pupils_needs_a_group(flow, year_groups) -> None:
    flow.start()
    response = flow.decide(extra={"audience": "some"})
    assert response.status_code == 400
    assert "Choose at least one year group or class" in response.get_data(as_text=True)


def test_a_group_of_another_school_cannot_be_chosen(flow, year_groups) -> None:
    flow.start()
    response = flow.decide(extra={"audience": "some", "group_ids": ["999999"]})
    assert response.status_code == 400


def test_a_school_can_leave_out_details_of_an_optional_scope(app, flow) -> None:
    flow.start()
    page = flow.client.get(f"/oauth/authorize?{flow.query}").get_data(as_text=True)
    contact_fields = re.findall(r'id="field-Contact-([^"]+)"', page)
    assert "contact.email" in contact_fields
    kept = [f for f in contact_fields if f != "contact.email"]
    params = query_of(flow.decide(optional=("Contact",), extra={"shared_fields": kept}))
    assert "code" in params
    assert "contact.email" in grant_of(app).restrictions["excluded_fields"]


def test_leaving_out_a_records_pupil_says_what_it_does_not_hide(flow) -> None:
    html = flow.start().get_data(as_text=True)
    hint = re.search(r'<p class="hint" id="pupil-link-StudentMedical">(.*?)</p>', html, re.S)
    assert hint, "no word on leaving out whose medical conditions they are"
    assert "hides whose record it is in each read" in hint.group(1)
    assert "can still match records to pupils by when they come and go" in hint.group(1)
    assert "leave StudentMedical out altogether" in hint.group(1)
    [link] = re.findall(r'<input[^>]*value="medical_condition.student_id"[^>]*>', html)
    assert 'aria-describedby="pupil-link-StudentMedical"' in link
    [condition] = re.findall(r'<input[^>]*value="medical_condition.condition"[^>]*>', html)
    assert "aria-describedby" not in condition


def test_details_of_required_scopes_cannot_be_left_out(flow) -> None:
    flow.start()
    response = flow.decide(extra={"shared_fields": ["student.forename"]})
    assert response.status_code == 400


def test_a_second_request_shows_only_what_changes_and_keeps_the_rest(app, flow) -> None:
    flow.tokens()  # required scopes only: version 1
    html = flow.start().get_data(as_text=True)
    assert "What changes" in html
    assert 'id="required-heading"' not in html  # nothing required is new
    assert 'value="Contact"' in html
    params = query_of(flow.decide(optional=("Contact",)))
    token = flow.exchange(params["code"]).get_json()
    assert set(token["scope"].split()) == {"StudentLite", "Attendance", "Contact"}
    grant = grant_of(app)
    assert grant.version == 2
    assert set(grant.scopes) == {"StudentLite", "Attendance", "Contact"}


def test_approving_again_without_change_keeps_the_version(app, flow) -> None:
    flow.tokens()
    flow.tokens()
    assert grant_of(app).version == 1
