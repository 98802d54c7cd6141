"""staff telegram: a staff user's linked Telegram chat (one-time link code) and notifications pushed there once

Revision ID: 0007_staff_telegram
Revises: 0006_regimes
Create Date: 2026-11-23 09:00:58.205901

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007_staff_telegram'
down_revision = '0006_regimes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('telegram_chat_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('telegram_link_code', sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_telegram_link_code'), ['telegram_link_code'])


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_telegram_link_code'), type_='unique')
        batch_op.drop_column('telegram_link_code')
        batch_op.drop_column('telegram_chat_id')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('sent_at')
