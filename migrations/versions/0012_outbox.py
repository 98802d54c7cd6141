"""One outbox for every outbound message: staff pushes as outbox rows, parts tracked one by one, «sending»
committed before each platform call (crash → «unconfirmed»), ticket warning moments in working time

Revision ID: 0012_outbox
Revises: 0011_secweb
Create Date: 2026-11-30 09:00:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0012_outbox'
down_revision = '0011_secweb'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("replies") as batch:
        batch.alter_column("state", existing_type=sa.String(10), type_=sa.String(20), existing_nullable=False)
        batch.add_column(sa.Column("notification_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("address", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("parts", sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch.create_foreign_key("fk_replies_notification_id_notifications", "notifications",
                                 ["notification_id"], ["id"])
        batch.create_index("ix_replies_notification_id", ["notification_id"])
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("first_response_warn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resolution_warn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("resolution_warn_at")
        batch.drop_column("first_response_warn_at")
    with op.batch_alter_table("replies") as batch:
        batch.drop_index("ix_replies_notification_id")
        batch.drop_constraint("fk_replies_notification_id_notifications", type_="foreignkey")
        batch.drop_column("parts")
        batch.drop_column("address")
        batch.drop_column("sending_at")
        batch.drop_column("notification_id")
        batch.alter_column("state", existing_type=sa.String(20), type_=sa.String(10), existing_nullable=False)
