"""ticket import: imported history (issue 15) — `tickets.imported`, `tickets.import_key` (unique where set)

Revision ID: 0023_ticket_import
Revises: 0022_site_settings
Create Date: 2026-11-30 18:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0023_ticket_import'
down_revision = '0022_site_settings'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('tickets', sa.Column('imported', sa.Boolean(), nullable=False, server_default='0'))
    op.add_column('tickets', sa.Column('import_key', sa.String(64), nullable=True))
    op.create_index('ix_tickets_import_key', 'tickets', ['import_key'], unique=True,
                    postgresql_where=sa.text('import_key IS NOT NULL'),
                    sqlite_where=sa.text('import_key IS NOT NULL'))


def downgrade():
    op.drop_index('ix_tickets_import_key', table_name='tickets')
    op.drop_column('tickets', 'import_key')
    op.drop_column('tickets', 'imported')
