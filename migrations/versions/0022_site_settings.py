"""site settings: one row a key, the value as JSON (the public «Лучшие участники» block, issue 14)

Revision ID: 0022_site_settings
Revises: 0021_rating
Create Date: 2026-11-30 17:45:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0022_site_settings'
down_revision = '0021_rating'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'site_settings',
        sa.Column('key', sa.String(100), primary_key=True),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), sa.ForeignKey('users.id'), nullable=True),
    )


def downgrade():
    op.drop_table('site_settings')
