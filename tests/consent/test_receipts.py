"""Consent evidence that lasts: each decision's receipt is made and signed with the decision,
kept unchanged, downloadable for every past version, and checkable offline against receipt
keys that are never dropped, whatever keys are rotated or retired since."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from joserfc import jws
from joserfc.jwk import KeySet
from sqlalchemy import select, update

from authserver.extensions import db
from authserver.models import GrantReceipt, ReceiptKey, SigningKey
from authserver.models.grants import ReceiptIsImmutable
from tests.consent import test_connection_changes as changes
from tests.oauth_flow import csrf_token, query_of

# The connection the change tests make (an approval through the OAuth flow) and its change page.
year_groups = changes.year_groups
connection = changes.connection
change_page = changes.change_page

RECEIPT_KEYS = "/.well-known/receipt-keys.json"


def receipt_path(school, grant_id: int, version: int) -> str:
    return f"/schools/{school.urn}/connections/{grant_id}/receipts/{version}"


def kept_receipts(app) -> list[tuple[int, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(GrantReceipt.version, GrantReceipt.signature).order_by(GrantReceipt.version)
        )
        return [tuple(row) for row in rows]


def run_in_a_savepoint(statement: str) -> None:
    with db.session.begin_nested():
        db.session.execute(sa.text(statement))


def verify_offline(downloaded: bytes, published_keys: dict) -> dict:
    """What a DPO does with the two files, no server in reach: the receipt, if it verifies."""
    signed = json.loads(downloaded)
    token = jws.deserialize_compact(
        signed["signature"], KeySet.import_key_set(published_keys), algorithms=["RS256"]
    )
    receipt = json.loads(token.payload)
    assert receipt == signed["receipt"]  # what is shown is exactly what was signed
    return receipt


def test_each_decision_makes_and_signs_its_receipt_with_the_decision(
    app, client, school, school_admin, change_page, connection, year_groups
) -> None:
    grant_id = connection["grant_id"]
    # Signed at the decision, before anyone asks for it.
    ((version, signature),) = kept_receipts(app)
    assert version == 1
    assert signature is not None

    change_page.confirm(
        scopes=["StudentLite", "Attendance"],
        audience="some",
        group_ids=[str(year_groups["Year 8"])],
        duration="end_of_year",
    )
    assert [v for v, s in kept_receipts(app) if s] == [1, 2]
    keys = client.get(RECEIPT_KEYS).get_json()
    first = verify_offline(client.get(receipt_path(school, grant_id, 1)).data, keys)
    second = verify_offline(client.get(receipt_path(school, grant_id, 2)).data, keys)

    assert first["format"] == 2
    assert first["decision"]["kind"] == "approved"
    assert first["decision"]["by"] == {"kind": "school_admin", "email": school_admin.email}
    assert first["grant"]["groups"] == []
    assert first["grant"]["people_excluded"] == []
    assert first["grant"]["expires_at"] is None
    assert first["accepted"]["agreement"] is None
    assert set(first["accepted"]) == {"privacy_policy_url", "terms_url", "agreement"}

    assert second["decision"]["kind"] == "changed"
    assert second["grant"]["version"] == 2
    assert [s["name"] for s in second["grant"]["scopes"]] == ["StudentLite", "Attendance"]
    assert second["grant"]["groups"] == ["Year 8"]
    assert second["grant"]["restrictions"]["group_ids"] == [year_groups["Year 8"]]
    assert second["grant"]["expires_at"] is not None
    assert "student.forename" in second["grant"]["fields"]
    assert second["decision"]["at"] == second["grant"]["approved_at"]


def test_a_revocation_makes_no_receipt_and_a_renewal_makes_its_own(
    app, client, school, connection
) -> None:
    grant_id = connection["grant_id"]
    page = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    revoked = client.post(
        f"/schools/{school.urn}/connections/{grant_id}/revoke",
        data={"csrf_token": csrf_token(page)},
    )
    assert revoked.status_code == 302
    assert [v for v, _ in kept_receipts(app)] == [1]  # withdrawing is no consent to record
    # The receipt of the version that ended is still there, as it was.
    current = client.get(f"/schools/{school.urn}/connections/{grant_id}/receipt")
    assert current.data == client.get(receipt_path(school, grant_id, 1)).data

    flow = connection["flow"]
    flow.start()
    query_of(flow.decide(optional=()))
    assert [v for v, s in kept_receipts(app) if s] == [1, 2]
    renewed = client.get(receipt_path(school, grant_id, 2)).get_json()["receipt"]
    assert renewed["decision"]["kind"] == "approved"
    assert [s["name"] for s in renewed["grant"]["scopes"]] == ["StudentLite", "Attendance"]


def test_a_stored_receipt_is_never_changed_and_downloads_are_the_same_bytes(
    app, client, school, connection
) -> None:
    path = receipt_path(school, connection["grant_id"], 1)
    downloaded = client.get(path).data
    with app.app_context():
        kept = db.session.scalar(select(GrantReceipt))
        kept.document = {**kept.document, "grant": {}}
        with pytest.raises(ReceiptIsImmutable):
            db.session.flush()
        db.session.rollback()
        kept = db.session.scalar(select(GrantReceipt))
        kept.signature = kept.signature[:-4] + "AAAA"
        with pytest.raises(ReceiptIsImmutable):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.scalar(select(GrantReceipt)))
        with pytest.raises(ReceiptIsImmutable):
            db.session.flush()
        db.session.rollback()
        with pytest.raises(ReceiptIsImmutable):
            db.session.execute(update(GrantReceipt).values(version=9))
        db.session.rollback()
        if db.session.get_bind().dialect.name == "postgresql":
            # Below the application too: the database refuses a rewrite by plain SQL.
            for statement in (
                "UPDATE grant_receipts SET signature = 'forged'",
                "UPDATE grant_receipts SET document = '{}'",
                "DELETE FROM grant_receipts",
            ):
                with pytest.raises(sa.exc.DBAPIError, match="immutable"):
                    run_in_a_savepoint(statement)
    assert client.get(path).data == downloaded
    assert client.get(
        f"/schools/{school.urn}/connections/{connection['grant_id']}/receipt"
    ).data == (downloaded)


def test_rotating_and_retiring_keys_leaves_every_old_receipt_verifiable_offline(
    app, client, cli, school, change_page, connection
) -> None:
    grant_id = connection["grant_id"]
    old = client.get(receipt_path(school, grant_id, 1)).data
    old_kid = jws.extract_compact(json.loads(old)["signature"].encode()).headers()["kid"]

    rotated = cli.invoke(args=["keys", "rotate-receipts"])
    assert rotated.exit_code == 0, rotated.output
    assert cli.invoke(args=["keys", "rotate"]).exit_code == 0
    change_page.confirm(scopes=["StudentLite", "Attendance"])
    new = client.get(receipt_path(school, grant_id, 2)).data
    new_kid = jws.extract_compact(json.loads(new)["signature"].encode()).headers()["kid"]
    assert new_kid != old_kid
    assert cli.invoke(args=["keys", "rotate-receipts"]).exit_code == 0
    # Years pass: every key retired long ago; the access tokens' JWKS has dropped its old keys.
    with app.app_context():
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3650)
        db.session.execute(
            update(ReceiptKey).where(ReceiptKey.retired_at.is_not(None)).values(retired_at=long_ago)
        )
        db.session.execute(
            update(SigningKey).where(SigningKey.retired_at.is_not(None)).values(retired_at=long_ago)
        )
        db.session.commit()

    published = client.get(RECEIPT_KEYS)
    assert published.status_code == 200
    keys = published.get_json()
    assert {old_kid, new_kid} <= {key["kid"] for key in keys["keys"]}
    assert all("d" not in key for key in keys["keys"])  # public halves only
    assert verify_offline(old, keys)["grant"]["version"] == 1
    assert verify_offline(new, keys)["grant"]["version"] == 2
    # The old receipt's bytes have not moved either.
    assert client.get(receipt_path(school, grant_id, 1)).data == old


def test_a_receipt_kept_unsigned_before_is_signed_by_a_receipt_key_once(
    app, client, school, connection
) -> None:
    """Receipts kept before this change were signed on first download: one never downloaded
    is signed then, by a receipt key, as it was kept, and stays so."""
    with app.app_context():
        legacy = GrantReceipt(
            grant_id=connection["grant_id"],
            version=7,
            document={"type": "consent-receipt", "grant": {"version": 7}},
            signature=None,
        )
        db.session.add(legacy)
        db.session.commit()
    path = receipt_path(school, connection["grant_id"], 7)
    first = client.get(path).data
    assert client.get(path).data == first
    receipt = verify_offline(first, client.get(RECEIPT_KEYS).get_json())
    assert receipt == {"type": "consent-receipt", "grant": {"version": 7}}
    assert kept_receipts(app)[-1][1] == json.loads(first)["signature"]


def test_the_dashboard_links_every_past_versions_receipt(
    app, client, school, change_page, connection
) -> None:
    change_page.confirm(scopes=["StudentLite", "Attendance"])
    change_page.confirm(scopes=["StudentLite", "Attendance", "Contact"])
    html = client.get(f"/schools/{school.urn}").get_data(as_text=True)
    assert f'href="{RECEIPT_KEYS}">receipt keys</a>' in html
    keys = client.get(RECEIPT_KEYS).get_json()
    for version in (1, 2, 3):
        path = receipt_path(school, connection["grant_id"], version)
        assert f'href="{path}"' in html
        assert verify_offline(client.get(path).data, keys)["grant"]["version"] == version


def test_the_receipt_keys_are_not_the_access_token_keys(client, connection) -> None:
    receipt_kids = {key["kid"] for key in client.get(RECEIPT_KEYS).get_json()["keys"]}
    token_kids = {key["kid"] for key in client.get("/oauth/jwks").get_json()["keys"]}
    assert receipt_kids
    assert not receipt_kids & token_kids


def test_approving_nothing_new_but_a_new_end_date_is_a_version_with_its_own_receipt(
    app, client, school, connection
) -> None:
    """Each receipt states its version's end: a school that approves again ticking nothing new
    but choosing an end date makes a new version, so the earlier receipt stays true."""
    flow = connection["flow"]
    flow.start()
    query_of(flow.decide(optional=(), extra={"duration": "end_of_year"}))
    assert [v for v, s in kept_receipts(app) if s] == [1, 2]
    keys = client.get(RECEIPT_KEYS).get_json()
    first = verify_offline(client.get(receipt_path(school, connection["grant_id"], 1)).data, keys)
    second = verify_offline(client.get(receipt_path(school, connection["grant_id"], 2)).data, keys)
    assert first["grant"]["expires_at"] is None
    assert second["grant"]["expires_at"] is not None
    assert first["grant"]["scopes"] == second["grant"]["scopes"]
