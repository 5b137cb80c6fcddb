"""Browser tests: the server on a loopback port, Debian's Chromium driven by Playwright, and
axe-core on every page a test visits.

Every test under tests/browser is marked `browser` (see `pytest_collection_modifyitems`), so
`pytest -m "not browser"` leaves them out. Without Chromium they are skipped, or fail under CI.
"""

from __future__ import annotations

import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from authserver import create_app
from authserver.extensions import db
from tests.authenticator import code_for
from tests.conftest import TEST_SECRET_KEY, unavailable
from tests.oauth_flow import PASSWORD, pkce_pair
from tests.school_people import people  # noqa: F401 (the members fixture, for these tests too)

HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
AXE = Axe()
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `browser` (the hook sees the whole session's items)."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- The server --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only: browser tests check pages, not storage (overrides the per-backend fixture
    of tests/conftest.py, which the `app` fixture then uses here)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'test.db'}"
    app = create_app(
        {
            "DATABASE_URL": url,
            "APP_ENV": "testing",
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("browser-instance")),
        }
    )
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


@pytest.fixture(scope="module")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server on a loopback port, on the `app` fixture's database; yields its base URL
    (also its issuer). One per module: rows live in the database, which `app` empties after
    each test, so the server itself carries nothing from one test to the next."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    live = create_app(
        {
            "DATABASE_URL": database_url,
            "APP_ENV": "testing",
            "ISSUER": issuer,
            "INSTANCE_PATH": str(tmp_path_factory.mktemp("live")),
            # The key `app` sealed test people's authenticator secrets under (make_user).
            "SECRET_KEY": TEST_SECRET_KEY,
            "BCRYPT_ROUNDS": 4,
        }
    )
    server = make_server("127.0.0.1", port, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield issuer
    server.shutdown()
    thread.join()
    server.server_close()
    with live.app_context():
        db.engine.dispose()


# --- The browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium (Playwright's own browser download is not used)."""
    if not CHROMIUM.exists():
        unavailable(
            f"{CHROMIUM} is missing: `apt-get install chromium` (make test does it as root)"
        )
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
    except PlaywrightError as error:
        playwright.stop()
        unavailable(f"Playwright cannot launch {CHROMIUM}: {launch_failure(error)}")
    yield chromium
    chromium.close()
    playwright.stop()


def launch_failure(error: PlaywrightError) -> str:
    """The gist of a failed launch: the error, the browser's stderr and its exit status."""
    lines = (error.message or str(error)).strip().splitlines()
    gist = [line.strip(" -") for line in lines[1:] if "[err]" in line or "did exit" in line]
    return "; ".join([lines[0], *gist[-6:]])


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no cookies from other tests)."""
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


# --- Accessibility -----------------------------------------------------------------------------


def check_accessibility(page: Page, name: str) -> None:
    """Save a full-page screenshot as screenshots/<name>.png, then fail on any axe-core
    violation of WCAG 2.0, 2.1 or 2.2 at level A or AA."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    violations = AXE.run(page, options=AXE_OPTIONS).response["violations"]
    if violations:
        pytest.fail(describe_violations(page.url, name, violations), pytrace=False)


def describe_violations(url: str, name: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"axe-core found {len(violations)} violation(s) on {url} ({name}):"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} [{violation['impact']}]: {violation['help']}"
            f" ({violation['helpUrl']})"
        )
        for node in violation["nodes"]:
            target = " ".join(
                part if isinstance(part, str) else " >> ".join(part) for part in node["target"]
            )
            lines.append(f"    {target}: {node['html'][:160]}")
    return "\n".join(lines)


@pytest.fixture(name="check_accessibility")
def check_accessibility_fixture() -> Callable[[Page, str], None]:
    """`check_accessibility(page, name)`: axe-core on the page, and a screenshot."""
    return check_accessibility


# --- Keyboard ----------------------------------------------------------------------------------


def focused(page: Page, selector: str) -> bool:
    """Whether the focused element matches a CSS selector."""
    return page.evaluate("s => document.activeElement?.matches(s) ?? false", selector)


def describe_focus(page: Page) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e ? e.outerHTML.slice(0, 120) : 'nothing'; }"
    )


def tab_to(page: Page, selector: str, *, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has focus; fail after `limit` presses."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if focused(page, selector):
            return
    pytest.fail(f"{selector} is not reached with {limit} presses of Tab", pytrace=False)


def press_tab_onto(page: Page, selector: str) -> None:
    """One press of Tab must move focus onto `selector`."""
    page.keyboard.press("Tab")
    assert focused(page, selector), f"Tab went to {describe_focus(page)}, not {selector}"


# --- The authorization flow --------------------------------------------------------------------

CALLBACK_PAGE = (
    "<!doctype html><html lang='en'><head><title>Back at the app</title></head>"
    "<body><main><h1>Back at the app</h1></main></body></html>"
)


def loopback_redirect_uri() -> str:
    """A vendor's callback on a loopback port; nothing listens there (see `capture_callbacks`)."""
    return f"http://127.0.0.1:{free_port()}/callback"


def capture_callbacks(page: Page, redirect_uri: str) -> list[str]:
    """Intercept navigations to `redirect_uri` (with any query), answer them with a small page,
    and record their URLs in the list returned."""
    seen: list[str] = []
    pattern = re.compile(re.escape(redirect_uri) + r"(\?.*)?$")

    def fulfil(route: Route) -> None:
        seen.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body=CALLBACK_PAGE)

    page.route(pattern, fulfil)
    return seen


def wait_for_callback(
    page: Page, redirect_uri: str, callbacks: list[str], console: list[str]
) -> None:
    """Wait until the browser is sent to the callback; fail at once, saying why, if the
    browser refuses to go (a Content Security Policy, say), or after the usual timeout."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not callbacks and time.monotonic() < deadline:
        if any("Content Security Policy" in message for message in console):
            break
        page.wait_for_timeout(50)  # lets Playwright dispatch the route handler and events
    if not callbacks:
        pytest.fail(
            "\n".join(
                [f"the browser was not sent to {redirect_uri}; it is at {page.url}", *console]
            ),
            pytrace=False,
        )
    # The route handler sees the request before the page gets there: wait for the arrival, so
    # that the test's next navigation does not interrupt this one.
    page.wait_for_url(re.compile(re.escape(redirect_uri) + r"(\?.*)?$"), timeout=TIMEOUT_MS)


def sign_in_with_keyboard(page: Page, email: str, password: str) -> None:
    """On the sign-in page: Tab to the email field, type, Tab, type, Enter; then, when the
    server asks for it, the code from the person's authenticator app the same way."""
    tab_to(page, "input[name=email]")
    page.keyboard.type(email)
    press_tab_onto(page, "input[name=password]")
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if urlsplit(page.url).path == "/sign-in/code":
        type_code(page, email)


def type_code(page: Page, email: str) -> None:
    """On the code page: Tab to the code, type the app's code, Enter. Should this person have
    signed in once already within these 30 seconds, the app's next code is the one to type."""
    for steps_ahead in (0, 1):
        tab_to(page, "input[name=code]")
        page.keyboard.type(code_for(email, steps_ahead=steps_ahead))
        with page.expect_navigation():
            page.keyboard.press("Enter")
        if urlsplit(page.url).path != "/sign-in/code":
            return
        page.fill("input[name=code]", "")
    pytest.fail(f"the code page refused {email}'s codes", pytrace=False)


def click_decision(optional: Iterable[str], approve: bool) -> Callable[[Page], None]:
    """Tick `optional` scopes and press Approve, or press Deny, with the mouse."""

    def decide(page: Page) -> None:
        for scope in optional:
            page.check(f"input[name=optional_scopes][value={scope}]")
        page.get_by_role("button", name="Approve" if approve else "Deny").click()

    return decide


def exchange_code(
    live_server: str, client_id: str, secret: str, code: str, redirect_uri: str, verifier: str
) -> requests.Response:
    """The vendor's back channel: the code and PKCE verifier for tokens (HTTP basic auth)."""
    return requests.post(
        f"{live_server}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=10,
    )


def authorize_in_browser(
    page: Page,
    live_server: str,
    application: Any,
    secret: str | None,
    *,
    email: str,
    password: str = PASSWORD,
    optional: Iterable[str] = (),
    approve: bool = True,
    decide: Callable[[Page], None] | None = None,
    scope: Iterable[str] | None = None,
    name: str = "consent",
) -> dict[str, Any]:
    """A vendor sends a school admin through the authorization endpoint in the browser.

    The admin signs in with the keyboard, sees the consent page (axe-checked, like the sign-in
    page; screenshots `<name>-sign-in` and `<name>-page`), and decides: by default ticking
    `optional` and pressing Approve (or Deny), or as `decide(page)` does. The callback must
    carry the request's `state` and the server's `iss`. When it carries a code and `secret` is
    given, the code is exchanged at the token endpoint.

    `application` must be registered with exactly one redirect URI, on loopback (see
    `loopback_redirect_uri`); `scope` defaults to everything it registered.

    Returns `params` (the callback's query), `callback` (its URL), `verifier`, `state`,
    `redirect_uri` and `token` (the token response's JSON, or None).
    """
    [redirect_uri] = application.redirect_uris
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": application.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(application.requested_scopes if scope is None else scope),
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    callbacks = capture_callbacks(page, redirect_uri)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))

    page.goto(f"{live_server}/oauth/authorize?{query}")
    assert urlsplit(page.url).path == "/sign-in", f"not sent to sign in: {page.url}"
    check_accessibility(page, f"{name}-sign-in")
    sign_in_with_keyboard(page, email, password)
    page.wait_for_url(lambda url: urlsplit(url).path == "/oauth/authorize")
    assert page.get_by_role("heading", level=1).inner_text().startswith(application.name)
    check_accessibility(page, f"{name}-page")

    (decide or click_decision(optional, approve))(page)
    wait_for_callback(page, redirect_uri, callbacks, console)
    assert len(callbacks) == 1, callbacks
    params = {k: v[0] for k, v in parse_qs(urlsplit(callbacks[0]).query).items()}
    assert params.get("state") == state, params
    assert params.get("iss") == live_server, params
    token = None
    if "code" in params and secret is not None:
        response = exchange_code(
            live_server, application.client_id, secret, params["code"], redirect_uri, verifier
        )
        assert response.status_code == 200, response.text
        token = response.json()
    return {
        "params": params,
        "callback": callbacks[0],
        "verifier": verifier,
        "state": state,
        "redirect_uri": redirect_uri,
        "token": token,
    }


@pytest.fixture(name="authorize_in_browser")
def authorize_in_browser_fixture() -> Callable[..., dict[str, Any]]:
    """`authorize_in_browser(page, live_server, application, secret, email=..., ...)`."""
    return authorize_in_browser
