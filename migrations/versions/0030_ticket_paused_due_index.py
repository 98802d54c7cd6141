"""an institution's overdue count by index only: sla_paused_at joins (institution_id, status, resolution_due_at)
(issue 16)

The workspace /my counts the institution's paused tickets that were late when paused (sla_paused_at >
resolution_due_at): with the moment of the pause in the index that count reads no table rows (≈ 3,000 heap
blocks of one institution's waiting tickets at 1 M tickets before, a few index pages now).

Revision ID: 0030_ticket_paused_due_index
Revises: 0029_data_versions
Create Date: 2026-11-30 20:45:00

"""
from alembic import op

revision = '0030_ticket_paused_due_index'
down_revision = '0029_data_versions'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_tickets_institution_status_due', table_name='tickets')
    op.create_index('ix_tickets_institution_status_due', 'tickets',
                    ['institution_id', 'status', 'resolution_due_at', 'sla_paused_at'])


def downgrade():
    op.drop_index('ix_tickets_institution_status_due', table_name='tickets')
    op.create_index('ix_tickets_institution_status_due', 'tickets', ['institution_id', 'status', 'resolution_due_at'])
