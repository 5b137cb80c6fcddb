"""resource servers named by URL, declared by applications; tokens carry their audience

Resource servers registered before this get a placeholder identifier under the reserved
.invalid domain: no token is meant for it, so they see every token as inactive until a platform
admin registers them again with their real URL. Tokens and codes issued before keep a NULL
audience: an access token of that age is for the platform's API only (what its JWT said).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('resource_servers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_digest', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rotated_at', sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE resource_servers SET url = 'https://unregistered.invalid/' || client_id"
    )
    with op.batch_alter_table('resource_servers', schema=None) as batch_op:
        batch_op.alter_column('url', existing_type=sa.String(length=500), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_resource_servers_url'), ['url'])

    op.create_table('application_resource_servers',
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('resource_server_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_resource_servers_application_id_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['resource_server_id'], ['resource_servers.id'], name=op.f('fk_application_resource_servers_resource_server_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('application_id', 'resource_server_id', name=op.f('pk_application_resource_servers'))
    )
    with op.batch_alter_table('application_resource_servers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_resource_servers_resource_server_id'), ['resource_server_id'], unique=False)

    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.JSON(), nullable=True))
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('refresh_audience', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_column('refresh_audience')
        batch_op.drop_column('audience')
    with op.batch_alter_table('authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('audience')

    with op.batch_alter_table('application_resource_servers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_resource_servers_resource_server_id'))
    op.drop_table('application_resource_servers')

    with op.batch_alter_table('resource_servers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_resource_servers_url'), type_='unique')
        batch_op.drop_column('rotated_at')
        batch_op.drop_column('previous_secret_expires_at')
        batch_op.drop_column('previous_secret_digest')
        batch_op.drop_column('url')
