"""Honest names over HTTP: an application's name and description refuse hidden characters
(whatever they are and wherever they sit), claims of a school's or public body's endorsement,
and lookalikes of another vendor's verified application; a rename after a school approved is
shown on that school's dashboard and written in its audit log."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from authserver.domain.audit import AuditAction
from authserver.extensions import db
from authserver.models import Application, AuditEvent
from tests.consent.vendor_forms import NEW, count, page_token, registration
from tests.oauth_flow import OAuthFlow

CALLBACK = "https://app.example.com/callback"
EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    # One signed-in client serves every example: each is another post to the same server.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# Well-known troublemakers, then anything Unicode files as control or format.
NAMED_INVISIBLES = [
    "\u202e",  # right-to-left override
    "\u202d",  # left-to-right override
    "\u2066",  # left-to-right isolate
    "\u2067",  # right-to-left isolate
    "\u2069",  # pop directional isolate
    "\u200b",  # zero width space
    "\u200d",  # zero width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero width no-break space
    "\u00ad",  # soft hyphen
    "\u180e",  # mongolian vowel separator
    "\u3164",  # hangul filler
    "\x07",
    "\x1b",
    "\u2028",  # line separator
]
INVISIBLE = st.sampled_from(NAMED_INVISIBLES) | st.characters(
    categories=["Cc", "Cf"], exclude_characters="\x00\n\r\t"
)
VISIBLE_TEXT = st.text(
    alphabet=st.characters(categories=["Lu", "Ll", "Nd"]), min_size=3, max_size=30
).filter(lambda text: text.strip())


def post_new(client, token: str, **overrides):
    return client.post(NEW, data={"csrf_token": token, **registration(**overrides)})


@pytest.fixture
def token(signed_in) -> str:
    return page_token(signed_in, NEW)


@EXAMPLES
@given(text=VISIBLE_TEXT, hidden=INVISIBLE, where=st.floats(0, 1))
def test_a_hidden_character_anywhere_in_the_name_is_refused(
    app, signed_in, token, text, hidden, where
) -> None:
    cut = int(len(text) * where)
    response = post_new(signed_in, token, name=f"Lunch {text[:cut]}{hidden}{text[cut:]}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The application name contains a hidden or control character" in html
    assert f"U+{ord(hidden):04X}" in html
    assert 'id="name-error"' in html
    assert count(app, Application) == 0


@EXAMPLES
@given(text=VISIBLE_TEXT, hidden=INVISIBLE, where=st.floats(0, 1))
def test_a_hidden_character_anywhere_in_the_description_is_refused(
    app, signed_in, token, text, hidden, where
) -> None:
    cut = int(len(text) * where)
    response = post_new(signed_in, token, description=f"{text[:cut]}{hidden}{text[cut:]}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The description contains a hidden or control character" in html
    assert 'id="description-error"' in html
    assert count(app, Application) == 0


def test_line_breaks_in_a_description_are_kept(app, signed_in, token) -> None:
    response = post_new(signed_in, token, description="Orders meals.\r\nWarns of allergies.")
    assert response.status_code == 201
    with app.app_context():
        assert "Warns of allergies." in db.session.scalar(select(Application.description))


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("name", "Lunch Line, approved by Northfield Academy"),
        ("name", "Endorsed by the DfE: Lunch Line"),
        ("name", "DfE-approved Lunch Line"),
        ("name", "Ofsted Recommended Meals"),
        ("name", "The Official Northfield Academy App"),
        ("name", "Official school meals app"),
        ("name", "Lunch Line (school-endorsed)"),
        ("name", "Recommended\u00a0by teachers"),  # a no-break space is still a space
        ("description", "Accredited by the Department for Education."),
        ("description", "The official catering partner of your school."),
        ("description", "Trusted by 500 schools and\ncertified by the local authority."),
    ],
)
def test_a_claim_of_endorsement_is_refused(app, signed_in, token, field, text) -> None:
    response = post_new(signed_in, token, **{field: text})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "must not claim an endorsement" in html
    assert f'id="{field}-error"' in html
    assert count(app, Application) == 0


@pytest.mark.parametrize(
    "name", ["Approvals Tracker", "Officially Fun Phonics", "Recommended Reads", "Backed Up"]
)
def test_ordinary_words_are_not_claims(signed_in, token, name) -> None:
    assert post_new(signed_in, token, name=name).status_code == 201


@pytest.fixture
def rival_app(make_vendor, make_app):
    """A verified application of another vendor."""
    return make_app(owner=make_vendor(name="Rival Ltd"), name="Register Radar")


@pytest.mark.parametrize(
    "lookalike",
    [
        "Register Radar",
        "REGISTER RADAR",
        "register-radar",
        "Register  Radar!",
        "Reg1ster Radar",
        "RegIster Radar",
        "R\u0435gister R\u0430dar",  # Cyrillic e and a
        "\uff32egister Radar",  # fullwidth R
        "R\u00e9gister Radar",  # an accent
        "Register Rad\u0430r",
    ],
)
def test_a_lookalike_of_another_vendors_verified_application_is_refused(
    app, signed_in, token, rival_app, lookalike
) -> None:
    response = post_new(signed_in, token, name=lookalike)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "looks too much like “Register Radar”" in html
    assert 'id="name-error"' in html


@EXAMPLES
@given(
    separators=st.lists(st.sampled_from([" ", "-", ".", "_", "  ", "·"]), min_size=2, max_size=2),
    upper=st.booleans(),
)
def test_spacing_and_case_do_not_escape_the_lookalike_check(
    signed_in, token, rival_app, separators, upper
) -> None:
    name = f"Register{separators[0]}Radar{separators[1]}"
    name = unicodedata.normalize("NFC", name.upper() if upper else name)
    assert post_new(signed_in, token, name=name).status_code == 400


def test_an_unverified_vendors_name_blocks_no_one(
    signed_in, token, make_app, unverified_vendor
) -> None:
    make_app(owner=unverified_vendor, name="Register Radar")
    assert post_new(signed_in, token, name="Register Radar").status_code == 201


def test_a_rename_is_shown_to_every_connected_school(
    app, client, signed_in, make_app, school, school_admin, make_school, make_user
) -> None:
    from authserver.models import Role

    application, secret = make_app(
        name="Lunch Line",
        required={"StudentLite": "To show pupils' names at the till."},
        optional={"DietaryNeeds": "To warn the kitchen of allergies."},
    )
    other = make_school(name="Second Academy")
    other_admin = make_user(Role.SCHOOL_ADMIN, school=other, can_approve=True)
    for admin in (school_admin, other_admin):
        flow = OAuthFlow(
            app.test_client(), application.client_id, secret, "https://app.example.com/callback"
        )
        flow.sign_in(admin.email)
        flow.tokens()
    edit = f"/vendor/applications/{application.id}/edit"
    answer = signed_in.post(
        edit,
        data={
            "csrf_token": page_token(signed_in, edit),
            **registration(name="Lunch Line Plus", redirect_uris=CALLBACK),
        },
    )
    assert answer.status_code == 302
    for urn, admin in ((school.urn, school_admin), (other.urn, other_admin)):
        viewer = app.test_client()
        OAuthFlow(viewer, "", None, "").sign_in(admin.email)
        dashboard = viewer.get(f"/schools/{urn}").get_data(as_text=True)
        assert "Previously called <strong>Lunch Line</strong>, renamed Lunch Line Plus on" in (
            dashboard
        )
    with app.app_context():
        renamed = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.action == str(AuditAction.APPLICATION_RENAMED))
            )
        )
    assert {event.school_id for event in renamed} == {school.id, other.id}
    assert {event.detail["previous_name"] for event in renamed} == {"Lunch Line"}
    assert {event.detail["new_name"] for event in renamed} == {"Lunch Line Plus"}


def test_a_school_that_approved_after_the_rename_is_not_told_of_it(
    app, signed_in, make_app, school, school_admin
) -> None:
    application, secret = make_app(
        name="Lunch Line",
        required={"StudentLite": "To show pupils' names at the till."},
        optional={"DietaryNeeds": "To warn the kitchen of allergies."},
    )
    edit = f"/vendor/applications/{application.id}/edit"
    signed_in.post(
        edit,
        data={
            "csrf_token": page_token(signed_in, edit),
            **registration(name="Lunch Line Plus", redirect_uris=CALLBACK),
        },
    )
    flow = OAuthFlow(
        app.test_client(), application.client_id, secret, "https://app.example.com/callback"
    )
    flow.sign_in(school_admin.email)
    flow.tokens()
    dashboard = flow.client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert "Lunch Line Plus" in dashboard
    assert "Previously called" not in dashboard
