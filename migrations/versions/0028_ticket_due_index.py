"""an institution's overdue tickets by index: (institution_id, status, resolution_due_at) (issue 16)

Revision ID: 0028_ticket_due_index
Revises: 0027_routing_rules
Create Date: 2026-11-30 19:20:00

"""
from alembic import op

revision = '0028_ticket_due_index'
down_revision = '0027_routing_rules'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_tickets_institution_status_due', 'tickets', ['institution_id', 'status', 'resolution_due_at'])


def downgrade():
    op.drop_index('ix_tickets_institution_status_due', table_name='tickets')
