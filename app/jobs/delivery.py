"""Reply delivery jobs. Idempotent: a sent reply is never sent again."""
from __future__ import annotations

from app.extensions import db
from app.jobs import enqueue
from app.jobs.context import in_app
from app.services import replies


@in_app
def deliver(reply_id: int) -> str:
    state = replies.deliver(reply_id)
    db.session.commit()
    return state


@in_app
def sweep() -> int:
    """Periodic: deliver pending replies whose job was lost or whose retry time has come."""
    ids = replies.stale_pending()
    for rid in ids:
        enqueue("app.jobs.delivery.deliver", rid, queue="replies", job_id=f"deliver-{rid}")
    return len(ids)
