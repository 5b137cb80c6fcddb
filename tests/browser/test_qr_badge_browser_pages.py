"""Pupils' QR badges in a browser, axe-checked: a teacher prints their class's badge sheet, a
school admin sees it, and a pupil signs in on a shared device by showing a badge. The camera is
replaced by a picture of the badge's QR code (made by segno) handed to the page's own
decode-and-submit function, the one each camera frame goes through."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from urllib.parse import urlsplit

import segno
from playwright.sync_api import Page
from pypdf import PdfReader

from authserver.domain import badges
from authserver.extensions import db
from authserver.models.members import Member
from authserver.models.organisations import School
from tests.browser.test_school_pages import sign_in
from tests.school_people import PASSWORD, People

# Draw the picture on a canvas and hand its pixels to the page's decoder, as a camera frame is.
FEED_PICTURE = """async (dataUrl) => {
  const picture = new Image();
  picture.src = dataUrl;
  await picture.decode();
  const canvas = document.createElement("canvas");
  canvas.width = picture.width;
  canvas.height = picture.height;
  const context = canvas.getContext("2d");
  context.drawImage(picture, 0, 0);
  return window.badgeSignIn.decodeAndSubmit(
    context.getImageData(0, 0, canvas.width, canvas.height));
}"""


def qr_picture(text: str) -> str:
    """A QR code of `text` as a PNG data URL, as a webcam might see a badge held up to it."""
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=6, border=4)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def school_urn(app, people: People) -> str:
    with app.app_context():
        return db.session.get(School, people.school_id).urn


def member_sign_in(page: Page, live_server: str, urn: str, login: str) -> None:
    page.goto(f"{live_server}/members/sign-in?school={urn}")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert urlsplit(page.url).path == "/members/"


def issued_badge(app, people: People) -> str:
    with app.app_context():
        secret = badges.issue(db.session, db.session.get(Member, people.pupil), by="test")
        db.session.commit()
        return secret


def test_a_teacher_prints_their_classs_badge_sheet(
    app, page: Page, live_server: str, people: People, check_accessibility
) -> None:
    member_sign_in(page, live_server, school_urn(app, people), "ada@school.test")
    page.goto(f"{live_server}/members/badges")
    check_accessibility(page, "badges-teacher-classes")
    with page.expect_navigation():
        page.get_by_role("link", name="7M1: Maths 7M1").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Sign-in badges for 7M1")
    assert page.get_by_role("row", name="Zoë O'Brien-Smith No badge yet").is_visible()
    check_accessibility(page, "badges-sheet")

    with page.expect_download() as download:
        page.get_by_role("button", name="Print badges for pupils who have none").click()
    assert download.value.suggested_filename == "badges-7M1.pdf"
    reader = PdfReader(Path(download.value.path()))
    assert len(reader.pages) == 1
    assert "Zoë O'Brien-Smith" in reader.pages[0].extract_text()

    page.reload()
    assert "Made " in page.get_by_role("row", name="Zoë O'Brien-Smith").inner_text()
    page.get_by_role("button", name="Make new badges for the whole class").click()
    page.wait_for_load_state()
    page.get_by_text("Tick the box to say you understand").wait_for()
    check_accessibility(page, "badges-sheet-reissue-unconfirmed")


def test_a_school_admin_sees_the_badge_sheet(
    app, page: Page, live_server: str, people: People, school_admin, check_accessibility
) -> None:
    urn = school_urn(app, people)
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{urn}/badges")
    check_accessibility(page, "badges-school-classes")
    with page.expect_navigation():
        page.get_by_role("link", name="7M1: Maths 7M1").click()
    assert page.get_by_role("button", name="Print badges for pupils who have none").is_visible()
    check_accessibility(page, "badges-school-sheet")


def test_a_pupil_signs_in_by_showing_their_badge(
    app, page: Page, live_server: str, people: People, check_accessibility
) -> None:
    secret = issued_badge(app, people)
    page.goto(f"{live_server}/members/badge")
    assert page.get_by_role("button", name="Start the camera").is_visible()
    assert not page.get_by_text("This page needs JavaScript").is_visible()
    check_accessibility(page, "badges-sign-in")

    # Any other QR code is not a badge: the page says so and stays.
    assert page.evaluate(FEED_PICTURE, qr_picture("https://example.org/")) == "not-a-badge"
    page.get_by_text("That QR code is not a sign-in badge").wait_for()

    with page.expect_navigation():
        outcome = page.evaluate(FEED_PICTURE, qr_picture(f"{live_server}/members/badge#{secret}"))
    assert outcome == "submitted"
    assert urlsplit(page.url).path == "/members/"
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Zoë O'Brien-Smith"


def test_a_replaced_badge_is_refused_in_plain_words(
    app, page: Page, live_server: str, people: People, check_accessibility
) -> None:
    old = issued_badge(app, people)
    issued_badge(app, people)
    page.goto(f"{live_server}/members/badge")
    with page.expect_navigation():
        page.evaluate(FEED_PICTURE, qr_picture(f"{live_server}/members/badge#{old}"))
    assert page.get_by_role("alert").inner_text().startswith("That badge did not work.")
    check_accessibility(page, "badges-sign-in-refused")


def test_a_badges_link_opened_by_a_phone_camera_app_signs_in_at_a_press(
    app, page: Page, live_server: str, people: People
) -> None:
    secret = issued_badge(app, people)
    page.goto(f"{live_server}/members/badge#{secret}")
    assert page.url == f"{live_server}/members/badge"  # the secret is gone from the address bar
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in with this badge").click()
    assert urlsplit(page.url).path == "/members/"


def test_without_javascript_the_page_says_what_to_do(browser, live_server: str) -> None:
    context = browser.new_context(locale="en-GB", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/members/badge")
    assert page.get_by_text("This page needs JavaScript turned on to use the camera.").is_visible()
    assert page.get_by_text("Ask your teacher for help.").is_visible()
    assert not page.get_by_role("button", name="Start the camera").is_visible()
    assert not page.get_by_role("button", name="Sign in with this badge").is_visible()
    context.close()


def test_a_photo_of_the_badge_signs_in_where_there_is_no_camera(
    app, page: Page, live_server: str, people: People
) -> None:
    secret = issued_badge(app, people)
    page.goto(f"{live_server}/members/badge")
    picture = base64.b64decode(qr_picture(f"{live_server}/members/badge#{secret}").split(",")[1])
    with page.expect_navigation():
        page.set_input_files(
            "#badge-photo",
            files=[{"name": "badge.png", "mimeType": "image/png", "buffer": picture}],
        )
    assert urlsplit(page.url).path == "/members/"
