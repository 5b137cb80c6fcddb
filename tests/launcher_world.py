"""The launcher's world as test verbs: an application connected to a school the way the
consent screen approves it, and a member signed in through the members' sign-in form."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from authserver.extensions import db
from tests.oauth_flow import csrf_token
from tests.school_people import PASSWORD


def connect(
    app: Flask, application, school, approver, *, optional=None, **restrictions: Any
) -> int:
    """Approve the application at the school as the consent screen does (every optional scope
    ticked unless `optional` says which; `restrictions` as Restrictions takes them); the grant's
    id."""
    from authserver.domain import grants
    from authserver.domain.grants import Restrictions
    from authserver.models import Application, School, User

    with app.app_context():
        model = db.session.get(Application, application.id)
        choice = grants.scope_choice(model, None)
        grant = grants.approve(
            model,
            db.session.get(School, school.id),
            approver=db.session.get(User, approver.id),
            choice=choice,
            optional_scopes=choice.optional if optional is None else optional,
            restrictions=Restrictions(**restrictions),
        )
        db.session.commit()
        return grant.id


def sign_in_member(client: FlaskClient, school_urn: str, login: str, password: str = PASSWORD):
    """Sign a pupil, teacher or parent in on a shared device, as they would."""
    page = client.get(f"/members/sign-in?school={school_urn}")
    return client.post(
        "/members/sign-in",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "school": school_urn,
            "login": login,
            "password": password,
            "shared_device": "y",
        },
    )
