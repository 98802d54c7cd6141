"""the board's daily rollups: board_rollups, board_category_rollups, board_dirty,
board_rollup_state and a trigger on tickets (issue 16)

Revision ID: 0031_board_rollups
Revises: 0030_ticket_paused_due_index
Create Date: 2026-11-30 20:50:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0031_board_rollups'
down_revision = '0030_ticket_paused_due_index'
branch_labels = None
depends_on = None

# The columns the board's figures read (app/services/board/figures.py): a change to any of them marks the
# ticket's creation, resolution and rating days dirty.
_WATCHED = ("status", "reject_reason", "imported", "institution_id", "created_at", "resolved_at", "rated_at",
            "rating", "first_responded_at", "resolution_due_at", "sla_paused_at", "reopen_count")

_FUNCTION = """
CREATE FUNCTION board_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  zone text;
  upto date;
BEGIN
  -- first the lock, then the state: a rebuild or the day's advance (app/services/board/rollups.py) takes it
  -- exclusively to move marking_through, so it waits for writers in flight and later writers see the new value
  PERFORM pg_advisory_xact_lock_shared(1640016);
  SELECT tz, marking_through INTO zone, upto FROM board_rollup_state WHERE id = 1;
  IF upto IS NULL THEN
    RETURN NULL;
  END IF;
  IF TG_LEVEL = 'STATEMENT' THEN
    INSERT INTO board_dirty (day)
    SELECT DISTINCT v.d FROM new_rows n,
      LATERAL (VALUES ((n.created_at AT TIME ZONE zone)::date), ((n.resolved_at AT TIME ZONE zone)::date),
                      ((n.rated_at AT TIME ZONE zone)::date)) AS v(d)
    WHERE v.d < upto;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO board_dirty (day)
    SELECT DISTINCT v.d FROM (VALUES ((OLD.created_at AT TIME ZONE zone)::date),
                                     ((OLD.resolved_at AT TIME ZONE zone)::date),
                                     ((OLD.rated_at AT TIME ZONE zone)::date)) AS v(d)
    WHERE v.d < upto;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    INSERT INTO board_dirty (day)
    SELECT DISTINCT v.d FROM (VALUES ((NEW.created_at AT TIME ZONE zone)::date),
                                     ((NEW.resolved_at AT TIME ZONE zone)::date),
                                     ((NEW.rated_at AT TIME ZONE zone)::date)) AS v(d)
    WHERE v.d < upto;
  END IF;
  RETURN NULL;
END $$;
"""

# TRUNCATE fires no row trigger: the rollups no longer describe the table, the board computes live until the next
# `flask board rebuild-rollups`.
_RESET = """
CREATE FUNCTION board_rollups_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE board_rollup_state SET built_through = NULL, marking_through = NULL;
  RETURN NULL;
END $$;
"""


def upgrade():
    op.create_table(
        'board_rollups',
        sa.Column('grain', sa.SmallInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('imported', sa.Boolean(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            'touched', 'received', 'open', 'late', 'running', 'reopened', 'ever_resolved', 'resolved', 'on_time',
            'sla_resolved')],
        sa.Column('resolution_seconds', sa.Float(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in ('rated', 'rating_sum', 'good', 'running_all',
                                                                'paused_late')],
        sa.Column('first_hist', sa.LargeBinary(), nullable=False),
        sa.Column('resolution_hist', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('grain', 'day', 'institution_id', 'imported', name=op.f('pk_board_rollups')),
    )
    op.create_table(
        'board_category_rollups',
        sa.Column('grain', sa.SmallInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('category_id', sa.Integer(), nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('imported', sa.Boolean(), nullable=False),
        sa.Column('received', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('grain', 'day', 'category_id', 'institution_id', 'imported',
                                name=op.f('pk_board_category_rollups')),
    )
    op.create_table(
        'board_dirty',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_board_dirty')),
    )
    op.create_index(op.f('ix_board_dirty_day'), 'board_dirty', ['day'])
    op.create_table(
        'board_rollup_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('tz', sa.String(64), nullable=False),
        sa.Column('marking_through', sa.Date(), nullable=True),
        sa.Column('built_through', sa.Date(), nullable=True),
        sa.Column('built_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_board_rollup_state')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_FUNCTION)
        op.execute("CREATE TRIGGER board_dirty_insert AFTER INSERT ON tickets REFERENCING NEW TABLE AS new_rows "
                   "FOR EACH STATEMENT EXECUTE FUNCTION board_mark_dirty()")
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _WATCHED)
        op.execute(f"CREATE TRIGGER board_dirty_update AFTER UPDATE ON tickets FOR EACH ROW WHEN ({changed}) "
                   "EXECUTE FUNCTION board_mark_dirty()")
        op.execute("CREATE TRIGGER board_dirty_delete AFTER DELETE ON tickets FOR EACH ROW "
                   "EXECUTE FUNCTION board_mark_dirty()")
        op.execute(_RESET)
        op.execute("CREATE TRIGGER board_rollups_truncate AFTER TRUNCATE ON tickets FOR EACH STATEMENT "
                   "EXECUTE FUNCTION board_rollups_reset()")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in ('board_dirty_insert', 'board_dirty_update', 'board_dirty_delete', 'board_rollups_truncate'):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON tickets")
        op.execute("DROP FUNCTION IF EXISTS board_mark_dirty()")
        op.execute("DROP FUNCTION IF EXISTS board_rollups_reset()")
    op.drop_table('board_rollup_state')
    op.drop_index(op.f('ix_board_dirty_day'), table_name='board_dirty')
    op.drop_table('board_dirty')
    op.drop_table('board_category_rollups')
    op.drop_table('board_rollups')
