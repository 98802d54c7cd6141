"""The executor's workspace: this month's SLA compliance of the institution."""
from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, func, select, text, true
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import OPEN_STATUSES, Ticket, UTCDateTime, WorkspaceLateCount

log = logging.getLogger(__name__)

RUNNING = tuple(st for st in OPEN_STATUSES if st != "waiting_resident")  # the clock runs: late past the deadline
# workspace_late_counts rows before the hour above which a reader compacts its institution's rows (a few hundred
# rows summed cost less than the index range they replace; past that they are folded into one row an hour)
COMPACT_ABOVE = 300
# hours older than a day before the database's clock are folded into the 1970 row by a compaction (COMPACT,
# REBUILD); a reader whose hour is earlier than the database's clock minus 23 hours counts live (a compaction may
# have folded its hour; the hour between is a margin for the clocks of two transactions)
KEPT_SINCE = timedelta(hours=23)

# An institution's rows: deleted and summed back in one statement (one snapshot: a writer's row not yet committed
# is neither deleted nor summed, it stays and counts once committed; two compactions at once each re-insert only
# what they deleted), past hours older than FOLD_AFTER into the 1970 row, the others one row an hour.
COMPACT = text("""
WITH gone AS (DELETE FROM workspace_late_counts WHERE institution_id = :institution RETURNING due_hour, n)
INSERT INTO workspace_late_counts (institution_id, due_hour, n)
SELECT :institution, h, sum(n) FROM (
  SELECT CASE WHEN due_hour < now() - interval '1 day' THEN timestamptz '1970-01-01 00:00:00+00'
              ELSE due_hour END AS h, n FROM gone) AS folded
GROUP BY h HAVING sum(n) <> 0""")

# every institution's rows built from the tickets (migration 0033 does the same; `flask workspace
# rebuild-late-counts` after a load with the triggers off)
REBUILD = text("""
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
GROUP BY institution_id, hour""")


def month_start(now: datetime) -> datetime:
    """The first moment of the current month in the city's time zone."""
    local = now.astimezone(ZoneInfo(current_app.config["CITY_TZ"]))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def kept() -> bool:
    """The overdue counts are kept by the trigger of migration 0033 on PostgreSQL only."""
    return db.session.get_bind().dialect.name == "postgresql"


def _live_overdue(institution_id, now):
    """Ticket.is_overdue split into its two halves, each an index-only range (ix_tickets_institution_status_due,
    which holds sla_paused_at too): the running clocks past their deadline, and the paused ones late when paused."""
    late = (select(func.count()).where(Ticket.institution_id == institution_id, Ticket.status.in_(RUNNING),
                                       Ticket.resolution_due_at < now).scalar_subquery())
    paused_late = (select(func.count()).where(Ticket.institution_id == institution_id,
                                              Ticket.status == "waiting_resident",
                                              Ticket.sla_paused_at > Ticket.resolution_due_at).scalar_subquery())
    return late + paused_late


@cache
def _statements():
    """The summary's statements, built once a process (building them cost more than running them): bound
    parameters institution, since, hour, now."""
    institution, since = bindparam("institution"), bindparam("since", type_=UTCDateTime)
    hour, now = bindparam("hour", type_=UTCDateTime), bindparam("now", type_=UTCDateTime)
    # this month's resolved and on time: an index-only range of ix_tickets_institution_resolved
    resolved = (select(func.count().label("total"),
                       func.count().filter(Ticket.resolved_at <= Ticket.resolution_due_at).label("on_time"))
                .where(Ticket.institution_id == institution, Ticket.resolved_at >= since,
                       Ticket.imported.is_(False))  # imported history: no deadlines
                .subquery())
    # overdue now = the kept rows of the hours before this one (running tickets due then, paused ones late)
    # + this hour's running tickets already past their deadline (an index range of a few rows)
    rows = (select(func.coalesce(func.sum(WorkspaceLateCount.n), 0).label("late"), func.count().label("rows"))
            .where(WorkspaceLateCount.institution_id == institution, WorkspaceLateCount.due_hour < hour)
            .subquery())
    this_hour = (select(func.count()).where(Ticket.institution_id == institution, Ticket.status.in_(RUNNING),
                                            Ticket.resolution_due_at >= hour, Ticket.resolution_due_at < now)
                 .scalar_subquery())
    kept_stmt = (select(resolved.c.total, resolved.c.on_time, rows.c.late, rows.c.rows, this_hour, func.now())
                 .select_from(resolved.join(rows, true())))
    live_stmt = select(resolved.c.total, resolved.c.on_time, _live_overdue(institution, now))
    return kept_stmt, live_stmt


def summary(institution_id: int, now: datetime) -> dict:
    """This month's SLA compliance of the institution, in one statement: {"resolved", "on_time", "overdue",
    "percent" (None without resolved tickets), "since"}."""
    since = month_start(now)
    kept_stmt, live_stmt = _statements()
    params = {"institution": institution_id, "since": since, "now": now}
    if kept():
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        total, on_time, late, nrows, within, db_now = db.session.execute(kept_stmt, {**params, "hour": hour}).one()
        if hour >= db_now - KEPT_SINCE:
            if nrows > COMPACT_ABOVE:
                compact_soon(institution_id)
            return _result(total, on_time, late + within, since)
        # a moment older than what a compaction may have folded (a report of the past, a test's clock): live
    total, on_time, overdue = db.session.execute(live_stmt, params).one()
    return _result(total, on_time, overdue, since)


def _result(total: int, on_time: int, overdue: int, since: datetime) -> dict:
    return {"resolved": total, "on_time": on_time, "overdue": overdue,
            "percent": round(100 * on_time / total) if total else None, "since": since}


COMPACT_LOCK = 1640033  # pg_try_advisory_xact_lock(COMPACT_LOCK, institution): one compaction of an institution at once


def compact(institution_id: int, connection) -> bool:
    """Fold the institution's workspace_late_counts rows (COMPACT) on `connection`, in its transaction; False when
    another transaction is compacting them (two would lock the same rows in any order: a deadlock)."""
    if not connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key, :institution)"),
                             {"key": COMPACT_LOCK, "institution": institution_id}):
        return False
    connection.execute(COMPACT, {"institution": institution_id})
    return True


def compact_soon(institution_id: int) -> None:
    """Compact in a transaction of its own (the request's is a reader's); a failure only leaves the rows as they
    were (the counts stay exact, the next reader tries again)."""
    try:
        with db.engine.begin() as conn:
            compact(institution_id, conn)
    except SQLAlchemyError:
        log.exception("workspace_late_counts: compaction of institution %s failed", institution_id)


def rebuild(connection) -> None:
    """Every institution's rows from the tickets (REBUILD), on `connection`, in its transaction."""
    connection.execute(REBUILD)
