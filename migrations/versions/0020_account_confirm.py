"""account confirm: an account an SM-specialist adds waits for the press service's confirmation before the app
publishes to it (the city's bot administering a channel proves nothing about who owns it); the accounts that exist
are confirmed here, so nothing changes for them

Revision ID: 0020_account_confirm
Revises: 0019_post_deleted
Create Date: 2026-11-30 16:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0020_account_confirm'
down_revision = '0019_post_deleted'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('confirmed_by_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_accounts_confirmed_by_id_users', 'users', ['confirmed_by_id'], ['id'])
    op.execute(sa.text("UPDATE accounts SET confirmed_at = CURRENT_TIMESTAMP WHERE confirmed_at IS NULL"))


def downgrade():
    with op.batch_alter_table('accounts') as batch:
        batch.drop_constraint('fk_accounts_confirmed_by_id_users', type_='foreignkey')
        batch.drop_column('confirmed_by_id')
        batch.drop_column('confirmed_at')
