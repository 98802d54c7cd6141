"""board: partial indexes for the worklist: open tickets residents reopened, answers rated 1-2

Revision ID: 0009_board_reopened_index
Revises: 0008_board
Create Date: 2026-11-23 12:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0009_board_reopened_index'
down_revision = '0008_board'
branch_labels = None
depends_on = None

WHERE = sa.text("reopen_count > 0 AND status IN ('new', 'assigned', 'in_progress', 'waiting_resident')")
LOW = sa.text("rating <= 2")


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_reopened_open', [sa.text('reopen_count DESC'), sa.text('updated_at DESC')],
                              unique=False, postgresql_where=WHERE, sqlite_where=WHERE)
        batch_op.create_index('ix_tickets_low_rated', ['rated_at'], unique=False, postgresql_where=LOW,
                              sqlite_where=LOW)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_low_rated', postgresql_where=LOW, sqlite_where=LOW)
        batch_op.drop_index('ix_tickets_reopened_open', postgresql_where=WHERE, sqlite_where=WHERE)
