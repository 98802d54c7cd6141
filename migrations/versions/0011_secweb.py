"""users.session_version: part of the session id, raised to end every session of a user

Revision ID: 0011_secweb
Revises: 0010_vk_residents_unnamed
Create Date: 2026-11-30 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0011_secweb'
down_revision = '0010_vk_residents_unnamed'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('session_version', sa.Integer(), server_default='1', nullable=False))


def downgrade():
    with op.batch_alter_table('users') as batch:
        batch.drop_column('session_version')
