"""routing models: the learned router's trained models, one current a target (issue 15)

Revision ID: 0025_routing_models
Revises: 0024_streets_repeats
Create Date: 2026-11-30 18:05:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0025_routing_models'
down_revision = '0024_streets_repeats'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'routing_models',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('target', sa.String(20), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('n_train', sa.Integer(), nullable=False),
        sa.Column('scores', sa.JSON(), nullable=False),
        sa.Column('threshold', sa.Float(), nullable=False),
        sa.Column('blob', sa.LargeBinary(), nullable=False),
        sa.Column('is_current', sa.Boolean(), nullable=False),
    )
    op.create_index('ix_routing_models_target_version', 'routing_models', ['target', 'version'], unique=True)
    op.create_index('ux_routing_models_current', 'routing_models', ['target'], unique=True,
                    postgresql_where=sa.text('is_current'), sqlite_where=sa.text('is_current'))


def downgrade():
    op.drop_index('ux_routing_models_current', table_name='routing_models')
    op.drop_index('ix_routing_models_target_version', table_name='routing_models')
    op.drop_table('routing_models')
