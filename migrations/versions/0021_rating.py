"""rating: frozen ratings of closed periods, «к поощрению» marks, clearances of «проверить накрутку» (issue 14)

Revision ID: 0021_rating
Revises: 0020_account_confirm
Create Date: 2026-11-30 16:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0021_rating'
down_revision = '0020_account_confirm'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rating_snapshots',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(10), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('direction_id', sa.Integer(), sa.ForeignKey('directions.id'), nullable=False),
        sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('kind', 'start', 'direction_id', name='uq_rating_snapshots_period'),
    )
    op.create_index('ix_rating_snapshots_direction_id', 'rating_snapshots', ['direction_id'])
    op.create_table(
        'rating_snapshot_rows',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('snapshot_id', sa.Integer(), sa.ForeignKey('rating_snapshots.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('institution_id', sa.Integer(), sa.ForeignKey('institutions.id'), nullable=False),
        sa.Column('place', sa.Integer(), nullable=True),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('flags', sa.JSON(), nullable=False),
        sa.Column('ranks', sa.JSON(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.UniqueConstraint('snapshot_id', 'institution_id', name='uq_rating_snapshot_rows'),
    )
    op.create_index('ix_rating_snapshot_rows_institution_id', 'rating_snapshot_rows', ['institution_id'])
    op.create_table(
        'rating_marks',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('snapshot_id', sa.Integer(), sa.ForeignKey('rating_snapshots.id', ondelete='CASCADE'),
                  nullable=False),
        sa.Column('institution_id', sa.Integer(), sa.ForeignKey('institutions.id'), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('marked_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('snapshot_id', 'institution_id', name='uq_rating_marks'),
    )
    op.create_index('ix_rating_marks_institution_id', 'rating_marks', ['institution_id'])
    op.create_table(
        'growth_clearances',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('account_id', sa.Integer(), sa.ForeignKey('accounts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('cleared_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
        sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.UniqueConstraint('account_id', 'day', name='uq_growth_clearances'),
    )


def downgrade():
    op.drop_table('growth_clearances')
    op.drop_index('ix_rating_marks_institution_id', table_name='rating_marks')
    op.drop_table('rating_marks')
    op.drop_index('ix_rating_snapshot_rows_institution_id', table_name='rating_snapshot_rows')
    op.drop_table('rating_snapshot_rows')
    op.drop_index('ix_rating_snapshots_direction_id', table_name='rating_snapshots')
    op.drop_table('rating_snapshots')
