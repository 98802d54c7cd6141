"""regimes: a ticket's legal regime (local regulation or 59-ФЗ) and its one 59-ФЗ extension

Revision ID: 0006_regimes
Revises: 0005_escalation

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006_regimes'
down_revision = '0005_escalation'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        # Existing tickets are social-network messages under the local regulation.
        batch_op.add_column(sa.Column('regime', sa.String(length=10), server_default='local', nullable=False))
        batch_op.add_column(sa.Column('extended_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('extension_reason', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('extension_reason')
        batch_op.drop_column('extended_at')
        batch_op.drop_column('regime')
