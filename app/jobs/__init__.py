"""Queue names, `enqueue()` and `enqueue_after_commit()`. Imports no job or service modules.

Jobs take ids and strings, never objects (JSON serializer). With REDIS_URL unset (the embedded default)
a job runs in-process, in an application context of its own (its own session and transaction).
When Redis is configured but down, enqueueing logs and gives up: the rows are committed already, and
the periodic sweepers (and `flask intake replay`) pick the work up again — nothing is lost.
"""
from __future__ import annotations

import importlib
import logging
from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

# In priority order: a worker given several queues (worker.py without names serves them all) takes the first
# queue's jobs first, so acknowledgements and replies never wait behind an intake backlog (issue 16).
QUEUES = ("acks", "replies", "intake", "default", "low")
log = logging.getLogger(__name__)
_PENDING = "jobs.after_commit"


_connections: dict = {}


def redis_connection():
    """One client (connection pool) per Redis URL and process; redis-py resets the pool after a fork."""
    from redis import Redis

    url = current_app.config["REDIS_URL"]
    if url not in _connections:
        _connections[url] = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    return _connections[url]


def get_queue(name: str = "default"):
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=redis_connection(), serializer=JSONSerializer)


# Dotted paths that moved, old → new. Job entry points stay in app/jobs/* under their names (RQ resolves
# queued jobs by path); this table covers paths stored elsewhere — the digest's workbook builder kept on
# Reply rows (`address["attachments"]`, services/replies._attachments) from before issue 11. Keep an entry
# for one release after the move.
MOVED = {
    "app.services.digest.workbook": "app.services.board.digest.workbook",
}


def resolve(path: str):
    """The function a dotted path names (old paths in MOVED still resolve)."""
    module, _, func = MOVED.get(path, path).rpartition(".")
    return getattr(importlib.import_module(module), func)


def enqueue(path: str, *args, queue: str = "default", job_id: str | None = None, delay: float | None = None,
            **kwargs):
    """Run `path(*args)` as a job on `queue` (in-process when there is no Redis). Call after commit.
    `delay`: seconds to wait before the job runs (RQ's scheduler; dropped in-process, where the periodic sweep
    picks the work up). `job_id`: RQ's id (a second enqueue with the same id replaces the waiting one)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if not current_app.config.get("REDIS_URL"):
        if delay:
            return None  # no scheduler without Redis: the periodic sweep picks it up
        with current_app.app_context():
            return resolve(path)(*args)
    q = get_queue(queue)
    if delay:
        return q.enqueue_in(timedelta(seconds=delay), path, *args, job_id=job_id, **kwargs)
    return q.enqueue(path, *args, job_id=job_id, **kwargs)


def enqueue_after_commit(session: Session, path: str, *args, queue: str = "default", job_id: str | None = None,
                         delay: float | None = None, inline: bool = False, once: bool = False):
    """Enqueue once the current transaction has committed (a worker never sees a row that isn't there yet).
    inline=True calls `path(*args)` right after the commit instead (for cheap hooks that decide what to enqueue).
    once=True: nothing more when the same request is already waiting for this commit (a batch asks once)."""
    item = (path, args, queue, job_id, delay, inline)
    pending = session.info.setdefault(_PENDING, [])
    if once and item in pending:
        return
    pending.append(item)


# Jobs that could not run in-process or be enqueued, by dotted path, since the process started (each is also
# logged with its arguments). The sweepers pick the work up again; this says how often they had to.
failures: Counter = Counter()


def _run_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for path, args, queue, job_id, delay, inline in pending or ():
        try:
            if inline:
                resolve(path)(*args)
            else:
                enqueue(path, *args, queue=queue, job_id=job_id, delay=delay)
        except Exception:  # Redis down, or an in-process job failed: the sweepers retry
            failures[path] += 1
            log.exception("job failed or not enqueued: %s%r on queue %s (%d such failures so far)", path, args, queue,
                          failures[path])


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def register() -> None:
    """Attach the after-commit hook that runs `enqueue_after_commit` requests (and the rollback hook that drops
    them) to every SQLAlchemy session. Called by the app factory; idempotent."""
    if not event.contains(Session, "after_commit", _run_pending):
        event.listen(Session, "after_commit", _run_pending)
        event.listen(Session, "after_rollback", _drop_pending)
