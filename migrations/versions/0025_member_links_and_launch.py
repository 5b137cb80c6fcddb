"""member links (invitations to choose a password, magic links) and applications' sign-in
start URL (OpenID Connect third-party initiated login)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 04:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('member_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('sent_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_links_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_links')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_member_links_token_digest'))
    )
    with op.batch_alter_table('member_links', schema=None) as batch_op:
        batch_op.create_index('ix_member_links_member_id_used_at', ['member_id', 'used_at'], unique=False)

    # In place on SQLite too (recreate='never'): copying the table would trip the foreign keys
    # that point at it.
    with op.batch_alter_table('applications', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('initiate_login_uri', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('applications', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('initiate_login_uri')

    with op.batch_alter_table('member_links', schema=None) as batch_op:
        batch_op.drop_index('ix_member_links_member_id_used_at')

    op.drop_table('member_links')
