"""The executor's workspace: this month's SLA compliance of the institution."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, func, or_, select

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
    resolved = and_(Ticket.resolved_at >= since, Ticket.imported.is_(False))  # imported history: no deadlines
    row = db.session.execute(
        select(func.count().filter(resolved),
               func.count().filter(resolved, Ticket.resolved_at <= Ticket.resolution_due_at),
               func.count().filter(Ticket.is_overdue(now)))
        .where(Ticket.institution_id == institution_id,
               or_(resolved, Ticket.status.in_(OPEN_STATUSES)))).one()
    total, on_time, overdue = row
    return {"resolved": total, "on_time": on_time, "overdue": overdue,
            "percent": round(100 * on_time / total) if total else None, "since": since}
