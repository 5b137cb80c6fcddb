"""vendor verification, demo schools, application renames

Revision ID: 0018
Revises: 0016
Create Date: 2027-01-11 09:00:00.000000

Vendors made before this migration declared nothing and stay unverified: an operator checks each
and runs `flask --app wsgi vendors verify ID` (their grants at schools keep working meanwhile).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('application_renames',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('previous_name', sa.String(length=200), nullable=False),
    sa.Column('new_name', sa.String(length=200), nullable=False),
    sa.Column('renamed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_application_renames_application_id_applications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_application_renames'))
    )
    with op.batch_alter_table('application_renames', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_renames_application_id'), ['application_id'], unique=False)

    # In place on SQLite too (recreate='never'): copying these tables would trip the foreign
    # keys that point at them.
    with op.batch_alter_table('schools', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('is_demo', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('vendors', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('company_number', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('ico_registration_number', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('data_protection_contact_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('data_protection_contact_email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('data_location', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('data_location_detail', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('uses_generative_ai', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('generative_ai_use', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verified_by', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('verification_withdrawn_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verification_withdrawal_reason', sa.Text(), nullable=True))


def downgrade():
    # In place on SQLite too (recreate='never'): copying these tables would trip the foreign
    # keys that point at them.
    with op.batch_alter_table('vendors', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('verification_withdrawal_reason')
        batch_op.drop_column('verification_withdrawn_at')
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
        batch_op.drop_column('generative_ai_use')
        batch_op.drop_column('uses_generative_ai')
        batch_op.drop_column('data_location_detail')
        batch_op.drop_column('data_location')
        batch_op.drop_column('data_protection_contact_email')
        batch_op.drop_column('data_protection_contact_name')
        batch_op.drop_column('ico_registration_number')
        batch_op.drop_column('company_number')

    with op.batch_alter_table('schools', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('is_demo')

    with op.batch_alter_table('application_renames', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_renames_application_id'))

    op.drop_table('application_renames')
