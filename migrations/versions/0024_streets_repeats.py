"""streets (the city's street list), tickets.street_id/house, repeat_suggestions (issue 15, items 5-6)

Revision ID: 0024_streets_repeats
Revises: 0023_ticket_import
Create Date: 2026-11-30 18:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0024_streets_repeats'
down_revision = '0023_ticket_import'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'streets',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('name', sa.String(200), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('core', sa.String(200), nullable=False),
        sa.Column('aliases', sa.Text(), nullable=False, server_default=''),
        sa.Column('district', sa.String(120), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('kind', 'core', name='uq_streets_kind_core'),
    )
    op.create_index('ix_streets_core', 'streets', ['core'])
    with op.batch_alter_table('tickets') as batch:  # batch: SQLite (the embedded default) alters by copy-and-move
        batch.add_column(sa.Column('street_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('house', sa.String(20), nullable=True))
        batch.create_foreign_key('fk_tickets_street_id_streets', 'streets', ['street_id'], ['id'], ondelete='SET NULL')
        batch.create_index('ix_tickets_street_id', ['street_id'])
    op.create_table(
        'repeat_suggestions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('ticket_id', sa.Integer(), sa.ForeignKey('tickets.id', ondelete='CASCADE'), nullable=False),
        sa.Column('other_id', sa.Integer(), sa.ForeignKey('tickets.id', ondelete='CASCADE'), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('reason', sa.String(20), nullable=False),
        sa.Column('dismissed', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('dismissed_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('ticket_id', 'other_id', name='uq_repeat_suggestions_ticket_id_other_id'),
    )
    op.create_index('ix_repeat_suggestions_other', 'repeat_suggestions', ['other_id'])


def downgrade():
    op.drop_index('ix_repeat_suggestions_other', table_name='repeat_suggestions')
    op.drop_table('repeat_suggestions')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_index('ix_tickets_street_id')
        batch.drop_constraint('fk_tickets_street_id_streets', type_='foreignkey')
        batch.drop_column('house')
        batch.drop_column('street_id')
    op.drop_index('ix_streets_core', table_name='streets')
    op.drop_table('streets')
