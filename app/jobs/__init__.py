"""Queue names, `enqueue()` and `enqueue_after_commit()`. Imports no job or service modules.

Jobs take ids and strings, never objects (JSON serializer). With REDIS_URL unset (the embedded default)
a job runs in-process, in an application context of its own (its own session and transaction).
When Redis is configured but down, enqueueing logs and gives up: the rows are committed already, and
the periodic sweepers (and `flask intake replay`) pick the work up again — nothing is lost.
"""
from __future__ import annotations

import importlib
import logging

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

QUEUES = ("intake", "replies", "default", "low")
log = logging.getLogger(__name__)
_PENDING = "jobs.after_commit"


def redis_connection():
    from redis import Redis

    return Redis.from_url(current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)


def get_queue(name: str = "default"):
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=redis_connection(), serializer=JSONSerializer)


def resolve(path: str):
    module, _, func = path.rpartition(".")
    return getattr(importlib.import_module(module), func)


def enqueue(path: str, *args, queue: str = "default", job_id: str | None = None, delay: float | None = None,
            **kwargs):
    """Run `path(*args)` as a job on `queue` (in-process when there is no Redis). Call after commit."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if not current_app.config.get("REDIS_URL"):
        if delay:
            return None  # no scheduler without Redis: the periodic sweep picks it up
        with current_app.app_context():
            return resolve(path)(*args)
    q = get_queue(queue)
    if delay:
        from datetime import timedelta

        return q.enqueue_in(timedelta(seconds=delay), path, *args, job_id=job_id, **kwargs)
    return q.enqueue(path, *args, job_id=job_id, **kwargs)


def enqueue_after_commit(session: Session, path: str, *args, queue: str = "default", job_id: str | None = None,
                         delay: float | None = None):
    """Enqueue once the current transaction has committed (a worker never sees a row that isn't there yet)."""
    session.info.setdefault(_PENDING, []).append((path, args, queue, job_id, delay))


@event.listens_for(Session, "after_commit")
def _run_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for path, args, queue, job_id, delay in pending or ():
        try:
            enqueue(path, *args, queue=queue, job_id=job_id, delay=delay)
        except Exception:  # Redis down, or an in-process job failed: the sweepers retry
            log.exception("could not run or enqueue %s%r", path, args)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
