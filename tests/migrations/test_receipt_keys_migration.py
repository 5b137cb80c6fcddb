"""Migration 0028 gives receipts keys of their own: the access-token keys that had signed
receipts before join the receipt key set (to verify only), so those receipts stay checkable
after the keys leave the JWKS."""

from __future__ import annotations

import datetime as dt
import json

import flask_migrate
import sqlalchemy as sa
from flask import Flask
from joserfc import jws
from sqlalchemy import select

from authserver.extensions import db


def test_the_keys_that_signed_earlier_receipts_join_the_receipt_key_set(
    migrating_app: Flask,
) -> None:
    from authserver.models import Application, Grant, GrantReceipt, ReceiptKey, School, Vendor
    from authserver.receipts import verify_receipt
    from authserver.signing import ALGORITHM, active_signing_key, rotate_signing_key

    app = migrating_app
    with app.app_context():
        flask_migrate.upgrade(revision="0027")
        # Only receipt_keys is new since 0027, so today's other models fit the tables.
        school = School(urn="100001", name="Kept Academy", phase="primary")
        application = Application(
            vendor=Vendor(name="Vendor"),
            name="Old App",
            description="",
            client_id="old-app",
            redirect_uris=[],
            privacy_policy_url="https://app.example.com/privacy",
        )
        grant = Grant(application=application, school=school, scopes=["StudentLite"])
        db.session.add(grant)
        db.session.flush()
        # As receipts were signed before: on first download, by the access-token key.
        document = {"type": "consent-receipt", "grant": {"version": 1}}
        key = active_signing_key()
        payload = json.dumps(document, sort_keys=True, separators=(",", ":"))
        signature = jws.serialize_compact({"alg": ALGORITHM, "kid": key.kid}, payload, key)
        db.session.add_all(
            [
                GrantReceipt(grant_id=grant.id, version=1, document=document, signature=signature),
                GrantReceipt(grant_id=grant.id, version=2, document=document, signature=None),
            ]
        )
        rotate_signing_key()  # a key that signed nothing is not a receipt key
        db.session.commit()

        flask_migrate.upgrade()
        (kept,) = db.session.scalars(select(ReceiptKey)).all()
        assert kept.kid == key.kid
        assert kept.encrypted_private_key is None  # it verifies; it signs no receipt
        # Years later, the key long gone from the JWKS of access tokens:
        db.session.execute(
            sa.text("UPDATE signing_keys SET retired_at = :at"),
            {"at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)},
        )
        db.session.commit()
        assert verify_receipt({"receipt": document, "signature": signature})
        db.session.close()  # its read lock would hold up the DROP TABLE on PostgreSQL
        flask_migrate.downgrade(revision="0027")  # and back, with the receipts in place
        assert "receipt_keys" not in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
