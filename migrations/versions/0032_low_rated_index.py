"""board: the worklist's partial indexes cover its reads: low ratings (rated_at, rating, id, institution_id),
reopened open tickets (… , institution_id)

The worklist reads the latest low ratings of each value and counts a period's low ratings index-only (at 1 M
tickets the year's list took 97 ms and its count 46 ms through the heap); an institution's or direction's count of
reopened open tickets is index-only too (a BitmapAnd with the institution's every ticket took 8-28 ms).

Revision ID: 0032_low_rated_index
Revises: 0031_board_rollups
Create Date: 2026-11-30 21:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0032_low_rated_index'
down_revision = '0031_board_rollups'
branch_labels = None
depends_on = None

LOW = sa.text("rating <= 2")
REOPENED = sa.text("reopen_count > 0 AND status IN ('new', 'assigned', 'in_progress', 'waiting_resident')")


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_low_rated', postgresql_where=LOW, sqlite_where=LOW)
        batch_op.create_index('ix_tickets_low_rated', ['rated_at', 'rating', 'id', 'institution_id'], unique=False,
                              postgresql_where=LOW, sqlite_where=LOW)
        batch_op.drop_index('ix_tickets_reopened_open', postgresql_where=REOPENED, sqlite_where=REOPENED)
        batch_op.create_index('ix_tickets_reopened_open',
                              [sa.text('reopen_count DESC'), sa.text('updated_at DESC'), 'institution_id'],
                              unique=False, postgresql_where=REOPENED, sqlite_where=REOPENED)


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_reopened_open', postgresql_where=REOPENED, sqlite_where=REOPENED)
        batch_op.create_index('ix_tickets_reopened_open', [sa.text('reopen_count DESC'), sa.text('updated_at DESC')],
                              unique=False, postgresql_where=REOPENED, sqlite_where=REOPENED)
        batch_op.drop_index('ix_tickets_low_rated', postgresql_where=LOW, sqlite_where=LOW)
        batch_op.create_index('ix_tickets_low_rated', ['rated_at'], unique=False, postgresql_where=LOW,
                              sqlite_where=LOW)
