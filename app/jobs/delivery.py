"""Outbox delivery jobs (replies to residents, staff pushes). Idempotent: a sent message is never sent again."""
from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.jobs import enqueue, redis_connection
from app.jobs.context import in_app
from app.services import replies


@in_app
def deliver(reply_id: int) -> str:
    state = replies.deliver(reply_id)  # commits step by step
    db.session.commit()
    return state


ACKS_FLAG = "om:delivery:acks-requested"  # set while a deliver_acks job is queued (as jobs/intake.TRIAGE_FLAG)
ACKS_FLAG_TTL = 3600  # seconds: only a safety net for a queued job lost with Redis's data (as jobs/intake's flags)
ACK_BATCH = 500
ACK_ROUNDS = 20  # batches per job; more left: the job asks for the next one and yields the worker


def request_acks() -> None:
    """After a commit made acknowledgements: make sure one deliver_acks job is on its way on the «acks» queue."""
    if not current_app.config.get("REDIS_URL"):
        enqueue("app.jobs.delivery.deliver_acks", queue="acks")  # in-process
        return
    redis = redis_connection()
    if redis.set(ACKS_FLAG, "1", nx=True, ex=ACKS_FLAG_TTL):
        try:
            enqueue("app.jobs.delivery.deliver_acks", queue="acks")
        except Exception:
            redis.delete(ACKS_FLAG)  # not queued: the next commit asks again (and the sweep finds them)
            raise


@in_app
def deliver_acks() -> int:
    """Deliver the pending acknowledgements, oldest first, each as `deliver` does (locked, never twice: a row
    another worker is sending is skipped). Returns how many were tried."""
    if current_app.config.get("REDIS_URL"):
        redis_connection().delete(ACKS_FLAG)  # acknowledgements made from now on ask for a new job
    done, last = 0, 0
    for _ in range(ACK_ROUNDS):
        ids = replies.pending_acks(ACK_BATCH, after_id=last)
        db.session.commit()
        for rid in ids:
            replies.deliver(rid)  # commits step by step
            db.session.commit()
        done += len(ids)
        if len(ids) < ACK_BATCH:
            return done
        last = ids[-1]
    request_acks()  # more than a job's share: the next job goes on
    return done


@in_app
def sweep() -> int:
    """Periodic: settle rows a dead worker left `sending` (VK retried, others «не подтверждена»), then deliver
    pending rows whose job was lost or whose retry time (or a held staff push's moment) has come."""
    replies.recover_stale()
    ids = replies.stale_pending()
    for rid in ids:
        enqueue("app.jobs.delivery.deliver", rid, queue="replies", job_id=f"deliver-{rid}")
    return len(ids)
