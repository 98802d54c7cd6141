"""Outbox delivery jobs (replies to residents, staff pushes). Idempotent: a sent message is never sent again."""
from __future__ import annotations

from app.extensions import db
from app.jobs import enqueue
from app.jobs.context import in_app
from app.services import replies


@in_app
def deliver(reply_id: int) -> str:
    state = replies.deliver(reply_id)  # commits step by step
    db.session.commit()
    return state


@in_app
def sweep() -> int:
    """Periodic: settle rows a dead worker left `sending` (VK retried, others «не подтверждена»), then deliver
    pending rows whose job was lost or whose retry time (or a held staff push's moment) has come."""
    replies.recover_stale()
    ids = replies.stale_pending()
    for rid in ids:
        enqueue("app.jobs.delivery.deliver", rid, queue="replies", job_id=f"deliver-{rid}")
    return len(ids)
