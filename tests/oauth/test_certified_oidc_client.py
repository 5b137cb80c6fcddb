"""The certified OpenID Connect client (openid-client, run by Node: tests/oidc_client/) signs a
demo pupil in against the server under gunicorn: discovery, code + PKCE + nonce + state, its own
ID token checks, UserInfo. The member's browser sign-in is done here, with requests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import unavailable
from tests.live_processes import SOURCE_ROOT, LiveServer, app_on

CLIENT_DIR = SOURCE_ROOT / "tests" / "oidc_client"
SCOPE = "openid profile SignInRole SignInSchool SignInYearGroup"


def _seeded(tmp_path: Path) -> tuple[str, Path, dict]:
    database = f"sqlite:///{tmp_path / 'demo.db'}"
    instance = tmp_path / "instance"
    app = app_on(database, instance)
    with app.app_context():
        from authserver.extensions import db

        db.create_all()
    credentials = instance / "demo-credentials.json"
    seeded = app.test_cli_runner().invoke(
        args=["demo", "seed", "--students-per-school", "40", "--json", str(credentials)]
    )
    assert seeded.exit_code == 0, seeded.output
    return database, instance, json.loads(credentials.read_text())["sign_in"]


def _browser_sign_in(authorization_url: str, server_url: str, school_urn: str, member) -> str:
    """A browser at the authorization URL: sent to sign in, signs in, comes back with a code;
    returns the callback URL (not followed: nothing listens there)."""
    browser = requests.Session()
    answer = browser.get(authorization_url, allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text[:500]
    sign_in_url = urljoin(server_url, answer.headers["Location"])
    assert "/members/sign-in" in sign_in_url
    page = browser.get(sign_in_url, timeout=30)
    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page.text)
    assert token, page.text[:500]
    signed_in = browser.post(
        sign_in_url,
        data={
            "csrf_token": token.group(1),
            "school": school_urn,
            "login": member["login"],
            "password": member["password"],
        },
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302, signed_in.text[:500]
    back = browser.get(
        urljoin(server_url, signed_in.headers["Location"]), allow_redirects=False, timeout=30
    )
    assert back.status_code == 302, back.text[:500]
    return back.headers["Location"]


@pytest.mark.live
def test_the_certified_client_signs_a_pupil_in(tmp_path: Path) -> None:
    """On SQLite, as `make run` serves it, whichever database the suite runs on."""
    node = shutil.which("node")
    if node is None or not (CLIENT_DIR / "node_modules" / "openid-client").is_dir():
        unavailable("Node and tests/oidc_client's packages are needed (make test installs them)")
    database, instance, sign_in = _seeded(tmp_path)
    application = sign_in["application"]
    pupil = next(m for m in sign_in["members"] if m["role"] == "student")
    with LiveServer(database, instance_path=instance) as server:
        relying_party = subprocess.Popen(  # noqa: S603 (our own script)
            [node, "sign_in.mjs"],
            cwd=CLIENT_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={
                "PATH": "/usr/bin:/bin:/usr/local/bin",
                "ISSUER": server.url,
                "CLIENT_ID": application["client_id"],
                "CLIENT_SECRET": application["client_secret"],
                "REDIRECT_URI": application["redirect_uris"][0],
                "SCOPE": SCOPE,
            },
        )
        try:
            assert relying_party.stdout is not None
            first = relying_party.stdout.readline()
            assert first, relying_party.communicate(timeout=30)[1]
            started = json.loads(first)
            callback = _browser_sign_in(
                started["authorization_url"], server.url, sign_in["school_urn"], pupil
            )
            out, err = relying_party.communicate(callback + "\n", timeout=60)
        finally:
            if relying_party.poll() is None:
                relying_party.kill()
                relying_party.wait()
    assert relying_party.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    claims, userinfo = result["id_token_claims"], result["userinfo"]
    assert claims["iss"] == server.url
    assert claims["aud"] == application["client_id"]
    assert claims["nonce"] == started["nonce"]
    assert claims["amr"] == ["pwd"]
    assert result["scope"] == SCOPE
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["role"] == "student"
    assert userinfo["name"] == pupil["name"]
    assert userinfo["school_urn"] == sign_in["school_urn"]
    assert userinfo["year_group"]
    assert "email" not in userinfo
    assert result["end_session_url"].startswith(server.url + "/oauth/end-session?")
