"""`flask demo scale`: a platform-sized database, written in bulk (COPY on PostgreSQL), whose
rows behave like real ones."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from authserver.extensions import db
from authserver.models.columns import utcnow

SIZES = ["--schools", "7", "--applications", "3", "--grants", "12", "--tokens", "40"]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_scale_fills_every_table_with_consistent_rows(app, cli, monkeypatch) -> None:
    from authserver.demo import scale
    from authserver.models import Application, Grant, School, SchoolSecret, Token

    # Take the large-table path (indexes and constraints dropped, then rebuilt) at test size.
    monkeypatch.setattr(scale, "REBUILD_INDEXES_FROM_ROWS", 10)
    result = cli.invoke(args=["demo", "scale", *SIZES])
    assert result.exit_code == 0, result.output
    again = cli.invoke(args=["demo", "scale", *SIZES])  # adds, never collides
    assert again.exit_code == 0, again.output

    with app.app_context():
        assert (count(School), count(Application), count(Grant)) == (14, 6, 24)
        assert (count(SchoolSecret), count(Token)) == (24, 80)
        pairs = db.session.execute(select(Grant.school_id, Grant.application_id)).all()
        assert len(set(pairs)) == len(pairs)
        for token in db.session.scalars(select(Token)):
            assert (token.school_id, token.application_id) == (
                token.grant.school_id,
                token.grant.application_id,
            )
        # Ids given explicitly must leave the sequences ready for ordinary inserts.
        db.session.add(School(urn="999999", name="After the fill"))
        db.session.commit()
        # The rebuilt constraints hold: a second token with a taken digest is refused.
        taken, application_id = db.session.execute(
            select(Token.access_token_digest, Token.application_id).limit(1)
        ).one()
        with pytest.raises(IntegrityError, match="access_token_digest"):
            db.session.execute(
                insert(Token).values(
                    application_id=application_id,
                    grant_type="client_credentials",
                    token_format="opaque",
                    access_token_digest=taken,
                    family_id="x",
                    expires_at=utcnow(),
                )
            )
        db.session.rollback()
        indexes = {i["name"] for i in inspect(db.engine).get_indexes("tokens")}
        assert {"ix_tokens_expires_at", "ix_tokens_family_id"} <= indexes


def test_scale_refuses_more_grants_than_pairs(cli) -> None:
    result = cli.invoke(
        args=[
            "demo",
            "scale",
            "--schools",
            "2",
            "--applications",
            "2",
            "--grants",
            "5",
            "--tokens",
            "0",
        ]
    )
    assert result.exit_code == 2
    assert "more grants than" in result.output
