"""What the vendor's page tests share: the registration form's fields, a client credentials
request, a count of rows and a page's CSRF token."""

from __future__ import annotations

from sqlalchemy import func, select

from authserver.extensions import db
from tests.oauth_flow import basic_auth, csrf_token

NEW = "/vendor/applications/new"


def registration(**overrides) -> dict[str, str]:
    data = {
        "name": "Lunch Line",
        "description": "Pre-ordered school meals.",
        "redirect_uris": "https://lunch.example.com/callback\nhttp://127.0.0.1:8765/callback\n",
        "privacy_policy_url": "https://lunch.example.com/privacy",
        "terms_url": "https://lunch.example.com/terms",
        "website_url": "",
        "token_endpoint_auth_method": "client_secret_basic",
        "scope_StudentLite": "required",
        "purpose_StudentLite": "To show pupils' names at the till.",
        "scope_DietaryNeeds": "optional",
        "purpose_DietaryNeeds": "To warn the kitchen of allergies.",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def client_credentials(client, client_id: str, secret: str):
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
    )


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def page_token(client, path: str = "/vendor") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))
