"""the executor's /my: its summary's counts without reading the institution's every open ticket —
ix_tickets_institution_resolved (this month's resolved, index-only) and workspace_late_counts (overdue tickets by
due hour, kept by a trigger on tickets; PostgreSQL); its list in the index's order — ix_tickets_institution_open_due

This month's resolved were read through ix_tickets_resolved, every institution's, then filtered: at a month's end
at 1 M tickets that was ≈ 14,000 heap rows (150 ms cold, 37 ms warm) for one institution's ≈ 1,400. The overdue
count was an index-only range over the institution's every open ticket past its deadline (18,000 at 1 M, ≈ 3 ms
each /my).
The list (open tickets, nearest deadline first) walked ix_tickets_due filtering every institution's tickets (0.85 ms
for the largest institution) or sorted an institution's every open ticket (1.1-1.3 ms for one of 400): now the
first 51 entries of the institution's range of a partial index of open tickets (0.15-0.25 ms).

workspace_late_counts is append-only (a writer never waits on another: no row is updated by the trigger), one
signed row per change of a ticket's contribution: +1/−1 at the UTC hour of its deadline for a running open ticket,
at 1970-01-01 for a paused one late when paused (always overdue). The reader sums the hours before the current one
and counts the current hour's tickets in the index (app/services/workspace.py), and compacts an institution's rows
now and then (past hours older than a day into the 1970 row, the rest one row an hour).

Revision ID: 0033_workspace_counts
Revises: 0032_low_rated_index
Create Date: 2026-12-01 03:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0033_workspace_counts'
down_revision = '0032_low_rated_index'
branch_labels = None
depends_on = None

RESOLVED = sa.text("resolved_at IS NOT NULL AND imported IS false")
OPEN = sa.text("status IN ('new', 'assigned', 'in_progress', 'waiting_resident')")

# the ticket's contribution: (institution, bucket) or nothing; the same rule as Ticket.is_overdue
_FUNCTION = """
CREATE FUNCTION workspace_late_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_inst integer;
  old_hour timestamptz;
  new_inst integer;
  new_hour timestamptz;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.institution_id IS NOT NULL THEN
    IF OLD.status IN ('new', 'assigned', 'in_progress') AND OLD.resolution_due_at IS NOT NULL THEN
      old_inst := OLD.institution_id;
      old_hour := date_trunc('hour', OLD.resolution_due_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    ELSIF OLD.status = 'waiting_resident' AND OLD.sla_paused_at > OLD.resolution_due_at THEN
      old_inst := OLD.institution_id;
      old_hour := '1970-01-01 00:00:00+00';
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.institution_id IS NOT NULL THEN
    IF NEW.status IN ('new', 'assigned', 'in_progress') AND NEW.resolution_due_at IS NOT NULL THEN
      new_inst := NEW.institution_id;
      new_hour := date_trunc('hour', NEW.resolution_due_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    ELSIF NEW.status = 'waiting_resident' AND NEW.sla_paused_at > NEW.resolution_due_at THEN
      new_inst := NEW.institution_id;
      new_hour := '1970-01-01 00:00:00+00';
    END IF;
  END IF;
  IF old_inst IS NOT DISTINCT FROM new_inst AND old_hour IS NOT DISTINCT FROM new_hour THEN
    RETURN NULL;
  END IF;
  IF old_inst IS NOT NULL THEN
    INSERT INTO workspace_late_counts (institution_id, due_hour, n) VALUES (old_inst, old_hour, -1);
  END IF;
  IF new_inst IS NOT NULL THEN
    INSERT INTO workspace_late_counts (institution_id, due_hour, n) VALUES (new_inst, new_hour, 1);
  END IF;
  RETURN NULL;
END $$;
"""

# TRUNCATE fires no row trigger: the counts go with the tickets
_RESET = """
CREATE FUNCTION workspace_late_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM workspace_late_counts;
  RETURN NULL;
END $$;
"""

# the same statement as app/services/workspace.py REBUILD (kept here: a migration must not import the app)
_REBUILD = """
WITH gone AS (DELETE FROM workspace_late_counts RETURNING 1)
INSERT INTO workspace_late_counts (institution_id, due_hour, n)
SELECT institution_id, hour, count(*) FROM (
  SELECT institution_id,
         CASE WHEN status = 'waiting_resident' OR resolution_due_at < now() - interval '1 day'
              THEN timestamptz '1970-01-01 00:00:00+00'
              ELSE date_trunc('hour', resolution_due_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' END AS hour
  FROM tickets
  WHERE institution_id IS NOT NULL
    AND ((status IN ('new', 'assigned', 'in_progress') AND resolution_due_at IS NOT NULL)
         OR (status = 'waiting_resident' AND sla_paused_at > resolution_due_at))
) AS contributions
GROUP BY institution_id, hour
"""


def upgrade():
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_institution_resolved',
                              ['institution_id', 'resolved_at', 'resolution_due_at'], unique=False,
                              postgresql_where=RESOLVED, sqlite_where=RESOLVED)
        batch_op.create_index('ix_tickets_institution_open_due', ['institution_id', 'resolution_due_at', 'id'],
                              unique=False, postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_table(
        'workspace_late_counts',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('institution_id', sa.Integer(), nullable=False),
        sa.Column('due_hour', sa.DateTime(timezone=True), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_late_counts')),
    )
    op.create_index('ix_workspace_late_counts_institution_hour', 'workspace_late_counts',
                    ['institution_id', 'due_hour', 'n'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(_FUNCTION)
        op.execute("CREATE TRIGGER workspace_late_insert AFTER INSERT ON tickets FOR EACH ROW "
                   "EXECUTE FUNCTION workspace_late_count()")
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}"
                              for c in ("status", "institution_id", "resolution_due_at", "sla_paused_at"))
        op.execute(f"CREATE TRIGGER workspace_late_update AFTER UPDATE ON tickets FOR EACH ROW WHEN ({changed}) "
                   "EXECUTE FUNCTION workspace_late_count()")
        op.execute("CREATE TRIGGER workspace_late_delete AFTER DELETE ON tickets FOR EACH ROW "
                   "EXECUTE FUNCTION workspace_late_count()")
        op.execute(_RESET)
        op.execute("CREATE TRIGGER workspace_late_truncate AFTER TRUNCATE ON tickets FOR EACH STATEMENT "
                   "EXECUTE FUNCTION workspace_late_reset()")
        op.execute(_REBUILD)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in ('workspace_late_insert', 'workspace_late_update', 'workspace_late_delete',
                     'workspace_late_truncate'):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON tickets")
        op.execute("DROP FUNCTION IF EXISTS workspace_late_count()")
        op.execute("DROP FUNCTION IF EXISTS workspace_late_reset()")
    op.drop_index('ix_workspace_late_counts_institution_hour', table_name='workspace_late_counts')
    op.drop_table('workspace_late_counts')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_institution_open_due', postgresql_where=OPEN, sqlite_where=OPEN)
        batch_op.drop_index('ix_tickets_institution_resolved', postgresql_where=RESOLVED, sqlite_where=RESOLVED)
