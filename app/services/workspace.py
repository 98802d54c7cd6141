"""The executor's workspace: this month's SLA compliance of the institution."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.models import OPEN_STATUSES, Ticket


def month_start(now: datetime) -> datetime:
    """The first moment of the current month in the city's time zone."""
    local = now.astimezone(ZoneInfo(current_app.config["CITY_TZ"]))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def summary(institution_id: int, now: datetime) -> dict:
    """This month's SLA compliance of the institution, in one aggregate query: {"resolved", "on_time",
    "overdue", "percent" (None without resolved tickets), "since"}."""
    since = month_start(now)
    # Two index ranges, not one OR over the institution's every ticket (that read ≈ 55 ms at 1 M tickets on each /my):
    # this month's resolved (ix_tickets_resolved), its open ones (ix_tickets_institution_status_created).
    total, on_time = db.session.execute(
        select(func.count(), func.count().filter(Ticket.resolved_at <= Ticket.resolution_due_at))
        .where(Ticket.institution_id == institution_id, Ticket.resolved_at >= since,
               Ticket.imported.is_(False))).one()  # imported history: no deadlines
    # Ticket.is_overdue split into its two halves, each an index-only range (ix_tickets_institution_status_due, which
    # holds sla_paused_at too): the running clocks past their deadline, and the paused ones late when paused.
    running = [st for st in OPEN_STATUSES if st != "waiting_resident"]
    late = (select(func.count()).where(Ticket.institution_id == institution_id, Ticket.status.in_(running),
                                       Ticket.resolution_due_at < now).scalar_subquery())
    paused_late = (select(func.count()).where(Ticket.institution_id == institution_id,
                                              Ticket.status == "waiting_resident",
                                              Ticket.sla_paused_at > Ticket.resolution_due_at).scalar_subquery())
    overdue = db.session.scalar(select(late + paused_late))
    row = (total, on_time, overdue)
    total, on_time, overdue = row
    return {"resolved": total, "on_time": on_time, "overdue": overdue,
            "percent": round(100 * on_time / total) if total else None, "since": since}
