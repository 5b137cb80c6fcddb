"""The launcher and the school's sign-in page in a browser, by keyboard and axe-checked: the
admin turns a role off and gives an app; a pupil finds big links and opens one with Enter,
through our launch endpoint to the app's sign-in start URL; a parent of two children sees a
shelf per child."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route

from authserver.models.members import MemberRole
from tests.browser.conftest import focused, press_tab_onto, sign_in_with_keyboard, tab_to
from tests.browser.test_school_pages import sign_in
from tests.consent.test_launcher_pages import give, second_child
from tests.launcher_world import connect
from tests.school_people import PASSWORD, People

START = "https://rocket.example.com/login"
APP_PAGE = (
    "<!doctype html><html lang='en'><head><title>Reading Rocket</title></head>"
    "<body><main><h1>Reading Rocket is starting its sign-in</h1></main></body></html>"
)


@pytest.fixture
def apps(app, make_app, school, school_admin):
    rocket, _ = make_app(
        name="Reading Rocket", initiate_login_uri=START, website_url="https://rocket.example.com/"
    )
    maths, _ = make_app(name="Maths Mountain", website_url="https://maths.example.com/")
    for application in (rocket, maths):
        connect(app, application, school, school_admin)
    return {"rocket": rocket, "maths": maths}


def member_sign_in(page: Page, live_server: str, school, login: str) -> None:
    """The members' sign-in form, with the keyboard only."""
    page.goto(f"{live_server}/members/sign-in?school={school.urn}")
    tab_to(page, "input[name=login]")
    page.keyboard.type(login)
    press_tab_onto(page, "input[name=password]")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/sign-in" not in url)


def test_the_admin_turns_a_role_off_and_gives_an_app_with_the_keyboard(
    page: Page, live_server: str, school_admin, school, people: People, apps, check_accessibility
) -> None:
    sign_in(page, live_server, school_admin.email)
    page.goto(f"{live_server}/schools/{school.urn}/sign-in")
    check_accessibility(page, "launcher-admin-sign-in")
    tab_to(page, "input[name=roles][value=parent]")
    page.keyboard.press("Space")
    tab_to(page, "#save-roles")
    page.keyboard.press("Enter")
    saved = "Saved. Who may sign in: pupils; teachers and other staff; school admins."
    page.get_by_text(saved).wait_for()
    assert page.locator("#role-parent td").nth(1).inner_text() == "Off"
    tab_to(page, "select[name=application]")
    page.select_option("select[name=application]", label="Reading Rocket")
    tab_to(page, "input[name=role][value=student]")
    page.keyboard.press("Space")
    page.select_option("select[name=nc_year]", label="Year 7")
    tab_to(page, "#give-app")
    page.keyboard.press("Enter")
    page.get_by_text("Saved: pupils in Year 7 now have Reading Rocket.").wait_for()
    check_accessibility(page, "launcher-admin-app-given")

    page.goto(f"{live_server}/schools/{school.urn}/sign-in/people")
    tab_to(page, f"#password-{people.pupil}")
    page.keyboard.press("Enter")
    page.locator("#new-password").wait_for()
    assert re.fullmatch(r"[a-z]+-[a-z]+-[a-z]+-\d\d", page.input_value("#new-password"))
    check_accessibility(page, "launcher-admin-pupil-password")


def test_a_pupil_opens_an_app_from_big_links_with_the_keyboard(
    app, page: Page, live_server: str, school, people: People, apps, check_accessibility
) -> None:
    give(app, school, apps["rocket"], MemberRole.STUDENT)
    give(app, school, apps["maths"], MemberRole.STUDENT)
    started: list[str] = []

    def vendor(route: Route) -> None:
        started.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body=APP_PAGE)

    page.route(re.compile(re.escape(START) + r"\?.*"), vendor)
    member_sign_in(page, live_server, school, "zoe.obrien")
    assert page.get_by_role("heading", level=1).inner_text() == "Hello, Zoë O'Brien-Smith"
    check_accessibility(page, "launcher-pupil")
    links = page.locator("a.launch-card")
    assert links.count() == 2
    # Big enough to find and tap: the name is at least 24px and the card at least 90px tall.
    name_size = page.eval_on_selector(
        ".launch-name", "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert name_size >= 24
    assert links.first.bounding_box()["height"] >= 90
    assert "Opens the app's website" in links.first.inner_text()  # Maths Mountain, by name
    tab_to(page, f"#open-{apps['rocket'].id}")
    assert focused(page, "a.launch-card")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Reading Rocket is starting its sign-in").wait_for()
    [url] = started
    assert url.startswith(START + "?iss=")
    assert "target_link_uri=https%3A%2F%2Frocket.example.com%2F" in url


def test_a_parent_of_two_children_sees_a_shelf_for_each(
    app, page: Page, live_server: str, school, people: People, apps, check_accessibility
) -> None:
    second_child(app, school)
    give(app, school, apps["rocket"], MemberRole.PARENT, nc_year="7")
    give(app, school, apps["maths"], MemberRole.PARENT, nc_year="9")
    member_sign_in(page, live_server, school, "grace@home.test")
    headings = page.get_by_role("heading", level=2).all_inner_texts()
    assert headings == ["Apps for Zoë (Year 7)", "Apps for Sam (Year 9)"]
    assert (
        page.locator("#shelf-child-" + str(_student_id(app, "Zoë")) + " ~ ul").inner_text().strip()
        == "Reading Rocket"
    )
    check_accessibility(page, "launcher-parent-two-children")
    tab_to(page, f"#open-{apps['maths'].id}")


def _student_id(app, forename: str) -> int:
    from sqlalchemy import select

    from authserver.extensions import db
    from authserver.models.mis.students import Student

    with app.app_context():
        return db.session.scalar(select(Student.id).where(Student.forename == forename))


def test_a_school_admin_signs_in_to_apps_with_their_account_by_keyboard(
    app, page: Page, live_server: str, school, people: People, apps, make_user, check_accessibility
) -> None:
    from authserver.models.users import Role
    from tests.conftest import PASSWORD as ACCOUNT_PASSWORD

    make_user(Role.SCHOOL_ADMIN, school=school, email="ada@school.test")  # the teacher
    give(app, school, apps["rocket"], MemberRole.SCHOOL_ADMIN)
    page.goto(f"{live_server}/members/sign-in?school={school.urn}")
    tab_to(page, "a[href*='/members/sign-in/admin']")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/sign-in?next=" in url)
    sign_in_with_keyboard(page, "ada@school.test", ACCOUNT_PASSWORD)
    page.wait_for_url(lambda url: "/members/sign-in/admin" in url)
    assert page.get_by_role("heading", level=1).inner_text().endswith("as a school admin")
    check_accessibility(page, "launcher-school-admin-sign-in")
    tab_to(page, "input[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: url.rstrip("/").endswith("/members"))
    assert page.locator(f"#open-{apps['rocket'].id}").count() == 1
    check_accessibility(page, "launcher-school-admin")
