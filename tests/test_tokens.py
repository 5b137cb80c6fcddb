"""`flask tokens purge`: dead credentials go, in batches; nothing that can still matter does."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from authserver.domain.tokens import CODE_RETENTION_SECONDS
from authserver.extensions import db
from authserver.models.columns import utcnow
from authserver.models.tokens import AuthorizationCode, Token
from tests.oauth_flow import basic_auth


def age(app, *, access_token: str | None = None, hours: float, refresh: bool = False) -> None:
    """Move a token's expiry (and its refresh token's, if asked) `hours` into the past."""
    from authserver.domain import credentials

    then = utcnow() - dt.timedelta(hours=hours)
    values = {"expires_at": then} | ({"refresh_expires_at": then} if refresh else {})
    with app.app_context():
        db.session.execute(
            update(Token)
            .where(Token.access_token_digest == credentials.digest(access_token))
            .values(**values)
        )
        db.session.commit()


def introspect(client, resource_server, token: str) -> dict:
    server, secret = resource_server
    return client.post(
        "/oauth/introspect", data={"token": token}, headers=basic_auth(server.client_id, secret)
    ).get_json()


def test_purge_removes_dead_tokens_and_keeps_what_can_still_be_used(
    app, cli, client, flow, resource_server
) -> None:
    dead = flow.tokens()  # access and refresh both expired: gone
    age(app, access_token=dead["access_token"], hours=1, refresh=True)
    refreshable = flow.tokens()  # access expired, refresh alive: kept, and still refreshes
    age(app, access_token=refreshable["access_token"], hours=1)
    rotated = flow.tokens()  # used refresh token, alive: kept so that a replay is caught
    successor = flow.refresh(rotated["refresh_token"]).get_json()
    live = flow.tokens()
    with app.app_context():
        before = db.session.scalar(select(db.func.count()).select_from(Token))

    result = cli.invoke(args=["tokens", "purge", "--batch-size", "1"])

    assert result.exit_code == 0, result.output
    assert "Purged: 1 tokens" in result.output
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(Token)) == before - 1
    assert introspect(client, resource_server, dead["access_token"]) == {"active": False}
    assert introspect(client, resource_server, live["access_token"])["active"] is True
    assert flow.refresh(refreshable["refresh_token"]).status_code == 200
    replay = flow.refresh(rotated["refresh_token"])
    assert replay.get_json()["error"] == "invalid_grant"
    assert introspect(client, resource_server, successor["access_token"]) == {"active": False}


def test_purge_keeps_used_codes_for_a_day_so_a_replay_still_revokes(
    app, cli, client, flow, resource_server
) -> None:
    recent = flow.code()
    recent_tokens = flow.exchange(recent).get_json()
    flow.exchange(flow.code())
    with app.app_context():
        codes = db.session.scalars(select(AuthorizationCode.id).order_by(AuthorizationCode.id))
        kept, purged = codes.all()
        ages = {kept: 3600, purged: CODE_RETENTION_SECONDS + 60}
        for code_id, seconds in ages.items():
            db.session.execute(
                update(AuthorizationCode)
                .where(AuthorizationCode.id == code_id)
                .values(expires_at=utcnow() - dt.timedelta(seconds=seconds))
            )
        db.session.commit()

    result = cli.invoke(args=["tokens", "purge"])

    assert "1 authorization_codes" in result.output
    with app.app_context():
        assert db.session.scalars(select(AuthorizationCode.id)).all() == [kept]
    assert flow.exchange(recent).get_json()["error"] == "invalid_grant"
    assert introspect(client, resource_server, recent_tokens["access_token"]) == {"active": False}


def test_purge_with_nothing_to_do_says_so(cli) -> None:
    result = cli.invoke(args=["tokens", "purge"])
    assert result.exit_code == 0
    assert result.output.strip() == (
        "Purged: 0 tokens, 0 authorization_codes, 0 pushed_authorization_requests."
    )
