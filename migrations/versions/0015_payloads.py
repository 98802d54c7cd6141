"""The place a resident sent from a messenger (location / venue): coordinates and its name on the ticket

Revision ID: 0015_payloads
Revises: 0014_intake
Create Date: 2026-11-30 09:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0015_payloads'
down_revision = '0014_intake'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('latitude', sa.Float(), nullable=True))
        batch.add_column(sa.Column('longitude', sa.Float(), nullable=True))
        batch.add_column(sa.Column('place_text', sa.String(length=300), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('place_text')
        batch.drop_column('longitude')
        batch.drop_column('latitude')
