"""Queue names and `enqueue()`. Imports no job or service modules (breaks the cycle).

Jobs take ids and strings, never objects (JSON serializer). With REDIS_URL unset
(the embedded default) a job runs in-process right away, so nothing needs Redis.
"""
from __future__ import annotations

import importlib
import logging

from flask import current_app

QUEUES = ("intake", "replies", "default", "low")
log = logging.getLogger(__name__)


def redis_connection():
    from redis import Redis

    return Redis.from_url(current_app.config["REDIS_URL"])


def get_queue(name: str = "default"):
    from rq import Queue
    from rq.serializers import JSONSerializer

    return Queue(name, connection=redis_connection(), serializer=JSONSerializer)


def resolve(path: str):
    module, _, func = path.rpartition(".")
    return getattr(importlib.import_module(module), func)


def enqueue(path: str, *args, queue: str = "default", job_id: str | None = None, **kwargs):
    """Run `path(*args)` as a job on `queue` (in-process when there is no Redis). Call after commit."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    if not current_app.config.get("REDIS_URL"):
        return resolve(path)(*args)
    return get_queue(queue).enqueue(path, *args, job_id=job_id, **kwargs)
