"""trigram indexes for free-text search in the queue (PostgreSQL only)

Revision ID: 0002_ticket_search_trgm
Revises: 0001_ticket_core
"""
from alembic import op

revision = "0002_ticket_search_trgm"
down_revision = "0001_ticket_core"
branch_labels = None
depends_on = None

COLUMNS = ("summary", "address")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite (the embedded demo) searches without an index
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for col in COLUMNS:
        op.create_index(f"ix_tickets_{col}_trgm", "tickets", [col], postgresql_using="gin",
                        postgresql_ops={col: "gin_trgm_ops"})


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for col in COLUMNS:
        op.drop_index(f"ix_tickets_{col}_trgm", table_name="tickets")
