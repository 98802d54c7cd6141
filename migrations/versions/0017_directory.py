"""directory: an index of daily snapshots by day, for the public directory's growth over 30 days (one day's
snapshots of every account in one index range instead of a probe per account)

Revision ID: 0017_directory
Revises: 0016_participants
Create Date: 2026-11-30 12:00:00

"""
from alembic import op

revision = '0017_directory'
down_revision = '0016_participants'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_account_snapshots_taken_on', 'account_snapshots', ['taken_on'])


def downgrade():
    op.drop_index('ix_account_snapshots_taken_on', table_name='account_snapshots')
