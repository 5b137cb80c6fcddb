"""members: the school's pupils, staff and parents who sign in, their sessions, the roles a
school lets sign in and the applications it assigns

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 03:40:39.666607

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('school_sign_ins',
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.String(length=254), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_school_sign_ins_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('school_id', name=op.f('pk_school_sign_ins'))
    )
    op.create_table('members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=100), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=100), nullable=True),
    sa.Column('password_set_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(CASE WHEN student_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN staff_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END) = 1', name=op.f('ck_members_one_person')),
    sa.ForeignKeyConstraint(['contact_id'], ['mis_contacts.id'], name=op.f('fk_members_contact_id_mis_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_members_school_id_schools'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['mis_staff.id'], name=op.f('fk_members_staff_id_mis_staff'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['mis_students.id'], name=op.f('fk_members_student_id_mis_students'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_members_contact_id')),
    sa.UniqueConstraint('school_id', 'username', name=op.f('uq_members_school_id_username')),
    sa.UniqueConstraint('staff_id', name=op.f('uq_members_staff_id')),
    sa.UniqueConstraint('student_id', name=op.f('uq_members_student_id'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_school_id_email', ['school_id', 'email'], unique=False)

    op.create_table('app_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('nc_year', sa.String(length=3), nullable=True),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('assigned_by', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('nc_year IS NULL OR class_id IS NULL', name=op.f('ck_app_assignments_year_or_class')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_app_assignments_application_id_applications'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['class_id'], ['mis_classes.id'], name=op.f('fk_app_assignments_class_id_mis_classes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_app_assignments_school_id_schools'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_assignments')),
    sa.UniqueConstraint('school_id', 'application_id', 'role', 'nc_year', 'class_id', name='uq_app_assignments_who')
    )
    with op.batch_alter_table('app_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_app_assignments_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_app_assignments_class_id'), ['class_id'], unique=False)

    op.create_table('member_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('shared_device', sa.Boolean(), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('idle_timeout_seconds', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=50), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_sessions_member_id_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_sessions')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_member_sessions_token_digest'))
    )
    with op.batch_alter_table('member_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_member_sessions_member_id_ended_at', ['member_id', 'ended_at'], unique=False)



def downgrade():
    with op.batch_alter_table('member_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_member_sessions_member_id_ended_at')

    op.drop_table('member_sessions')
    with op.batch_alter_table('app_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_app_assignments_class_id'))
        batch_op.drop_index(batch_op.f('ix_app_assignments_application_id'))

    op.drop_table('app_assignments')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_school_id_email')

    op.drop_table('members')
    op.drop_table('school_sign_ins')
