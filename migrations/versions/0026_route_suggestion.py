"""route suggestion: the learned router's top three rubrics and institutions kept on a ticket (issue 15, item 4)

Revision ID: 0026_route_suggestion
Revises: 0025_routing_models
Create Date: 2026-11-30 19:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0026_route_suggestion'
down_revision = '0025_routing_models'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('route_suggestion', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('route_suggestion')
