"""Intake takes network values of any length (permalink and command argument as text); the acknowledgement of a
burst is sent once its window has passed (tickets.ack_due_at); each resident's answer to «Проблема решена?»
is kept (verdict_answers)

Revision ID: 0014_intake
Revises: 0013_secintake
Create Date: 2026-11-30 09:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0014_intake'
down_revision = '0013_secintake'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("permalink", existing_type=sa.String(500), type_=sa.Text(), existing_nullable=True)
        batch.alter_column("command_arg", existing_type=sa.String(200), type_=sa.Text(), existing_nullable=True)
    op.add_column("tickets", sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tickets_ack_due", "tickets", ["ack_due_at"],
                    postgresql_where=sa.text("ack_due_at IS NOT NULL"), sqlite_where=sa.text("ack_due_at IS NOT NULL"))
    op.create_table(
        "verdict_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("resident_id", sa.Integer(), sa.ForeignKey("residents.id"), nullable=False),
        sa.Column("verdict", sa.String(10), nullable=True),
        sa.Column("verdict_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("ticket_id", "resident_id"),
    )
    op.create_index("ix_verdict_answers_rated", "verdict_answers", ["rated_at"])


def downgrade():
    op.drop_index("ix_verdict_answers_rated", table_name="verdict_answers")
    op.drop_table("verdict_answers")
    op.drop_index("ix_tickets_ack_due", table_name="tickets")
    op.drop_column("tickets", "ack_due_at")
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("command_arg", existing_type=sa.Text(), type_=sa.String(200), existing_nullable=True)
        batch.alter_column("permalink", existing_type=sa.Text(), type_=sa.String(500), existing_nullable=True)
