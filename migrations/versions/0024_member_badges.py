"""member_badges: pupils' QR badges, kept as digests, one live badge per member

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 03:53:06.671889

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_badges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('secret_digest', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=254), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_badges_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_badges')),
    sa.UniqueConstraint('secret_digest', name=op.f('uq_member_badges_secret_digest'))
    )
    with op.batch_alter_table('member_badges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_badges_member_id'), ['member_id'], unique=False)
        batch_op.create_index('uq_member_badges_live', ['member_id'], unique=True, sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))



def downgrade():
    with op.batch_alter_table('member_badges', schema=None) as batch_op:
        batch_op.drop_index('uq_member_badges_live', sqlite_where=sa.text('revoked_at IS NULL'), postgresql_where=sa.text('revoked_at IS NULL'))
        batch_op.drop_index(batch_op.f('ix_member_badges_member_id'))

    op.drop_table('member_badges')
