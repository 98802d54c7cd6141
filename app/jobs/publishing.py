"""Cross-posting jobs (issue 13): a publication's due copies, one copy (a retry, «отправить ещё раз»), and the
periodic sweep. Idempotent: each copy is claimed before it is sent, so a doubled job publishes nothing twice."""
from __future__ import annotations

from app.extensions import db
from app.jobs import enqueue
from app.jobs.context import in_app
from app.services.publishing import outbox


@in_app
def publish_due(publication_id: int) -> dict:
    """Deliver the publication's due copies (threads per network; commits as it goes)."""
    outcome = outbox.publish_due(int(publication_id))
    db.session.commit()
    if outcome.get("left"):  # its time budget ran out: the rest in a job of its own
        enqueue("app.jobs.publishing.publish_due", int(publication_id), queue=outbox.QUEUE)
    return outcome


@in_app
def deliver(delivery_id: int) -> str:
    state = outbox.deliver(int(delivery_id))
    db.session.commit()
    return state


@in_app
def sweep() -> int:
    """Periodic: settle copies a dead worker left `sending` (VK retried, others «не подтверждено»), then enqueue
    the publications whose copies are due (a scheduled post's moment, a retry's time, a lost job)."""
    outbox.recover_stale()
    ids = outbox.due_publications()
    db.session.commit()
    for pid in ids:
        enqueue("app.jobs.publishing.publish_due", pid, queue=outbox.QUEUE, job_id=f"publish-due-{pid}")
    return len(ids)
