"""A school's connection as a test verb: approved the way the consent screen approves, with
its school secret, and a vendor's sync reading the real API through it."""

from __future__ import annotations

from typing import Any

from authserver.extensions import db
from authserver.models.applications import SCHOOL_SECRET_GRANT_TYPE
from tests.oauth_flow import basic_auth


class Connection:
    """An application approved at a school (optional scopes all ticked, `excluded` fields left
    out); `read` calls /api/v1 with a token from the school secret, as a nightly sync does."""

    def __init__(
        self,
        app,
        client,
        make_app,
        school,
        school_admin,
        *,
        name: str = "Maths App",
        required: dict[str, str],
        optional: dict[str, str] | None = None,
        excluded: tuple[str, ...] = (),
    ) -> None:
        from authserver.domain import grants, school_secrets
        from authserver.domain.grants import Restrictions
        from authserver.models import Application, School, User

        self.application, self.secret = make_app(
            name=name, required=required, optional=optional or {}
        )
        with app.app_context():
            model = db.session.get(Application, self.application.id)
            choice = grants.scope_choice(model, None)
            grant = grants.approve(
                model,
                db.session.get(School, school.id),
                approver=db.session.get(User, school_admin.id),
                choice=choice,
                optional_scopes=choice.optional,
                restrictions=Restrictions(excluded_fields=excluded),
            )
            self.school_secret = school_secrets.claim(grant, model, overlap_seconds=600).value
            db.session.commit()
            self.grant_id = grant.id
        self.client, self.school = client, school
        self._tokens: dict[tuple[str, ...], str] = {}

    def token(self, *scopes: str) -> str:
        """An access token for these scopes of the grant (all of them if none are named)."""
        if scopes not in self._tokens:
            data = {
                "grant_type": SCHOOL_SECRET_GRANT_TYPE,
                "school_id": str(self.school.id),
                "school_secret": self.school_secret,
            }
            if scopes:
                data["scope"] = " ".join(scopes)
            response = self.client.post(
                "/oauth/token",
                data=data,
                headers=basic_auth(self.application.client_id, self.secret),
            )
            assert response.status_code == 200, response.get_json()
            self._tokens[scopes] = response.get_json()["access_token"]
        return self._tokens[scopes]

    def read(self, path: str, *scopes: str, **query: Any) -> list[dict[str, Any]]:
        """One page of a resource, as the API answers it (with a token for `scopes`, or the
        whole grant); the read is recorded."""
        response = self.client.get(
            f"/api/v1/{path}",
            query_string=query,
            headers={"Authorization": f"Bearer {self.token(*scopes)}"},
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()["data"]
