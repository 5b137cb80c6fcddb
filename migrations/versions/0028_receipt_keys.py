"""receipt keys of their own, never dropped; stored consent receipts immutable

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 10:00:00.000000

"""
import base64
import json

from alembic import op
import sqlalchemy as sa

from authserver.models.grants import (
    DROP_RECEIPTS_IMMUTABLE_FUNCTION,
    DROP_RECEIPTS_IMMUTABLE_TRIGGER,
    RECEIPTS_IMMUTABLE_FUNCTION,
    RECEIPTS_IMMUTABLE_TRIGGER,
)


# revision identifiers, used by Alembic.
revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('receipt_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=10), nullable=False),
    sa.Column('encrypted_private_key', sa.Text(), nullable=True),
    sa.Column('public_jwk', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_keys')),
    sa.UniqueConstraint('kid', name=op.f('uq_receipt_keys_kid'))
    )
    _keep_the_keys_that_signed_receipts()
    # SQLite has no such triggers here; there the ORM's refusal is the guard.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(RECEIPTS_IMMUTABLE_FUNCTION)
        op.execute(RECEIPTS_IMMUTABLE_TRIGGER)


def _keep_the_keys_that_signed_receipts():
    """Receipts signed before this revision were signed by access-token signing keys, which
    leave the JWKS 400 days after retirement: their public halves join the receipt key set (to
    verify only: the private half stays where it was), so those receipts stay checkable."""
    bind = op.get_bind()
    kids = set()
    for (signature,) in bind.execute(
        sa.text('SELECT signature FROM grant_receipts WHERE signature IS NOT NULL')
    ):
        header = signature.split('.')[0]
        try:
            kids.add(json.loads(base64.urlsafe_b64decode(header + '=' * (-len(header) % 4)))['kid'])
        except (ValueError, KeyError, TypeError):
            continue  # not a JWS of ours: nothing to keep for it
    if not kids:
        return
    # In SQL, so that each database copies its own column types as they are.
    bind.execute(
        sa.text(
            'INSERT INTO receipt_keys'
            ' (kid, algorithm, encrypted_private_key, public_jwk, created_at, retired_at)'
            ' SELECT kid, algorithm, NULL, public_jwk, created_at, retired_at'
            ' FROM signing_keys WHERE kid IN :kids'
        ).bindparams(sa.bindparam('kids', expanding=True)),
        {'kids': sorted(kids)},
    )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(DROP_RECEIPTS_IMMUTABLE_TRIGGER)
        op.execute(DROP_RECEIPTS_IMMUTABLE_FUNCTION)
    op.drop_table('receipt_keys')
