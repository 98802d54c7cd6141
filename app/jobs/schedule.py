"""Every periodic job, in one place, and the loop that enqueues them (`python worker.py --schedule`).

Our own small loop instead of `rq cron`: rq 2.12's CronJob enqueues with the pickle serializer, while our
workers take JSON only. Several schedulers may run (one per machine for resilience): a Redis lock lets only
one of them enqueue per tick. Each job is an idempotent tick, so a late or doubled run does no harm.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from app.jobs import enqueue, redis_connection, resolve

log = logging.getLogger(__name__)
LOCK_KEY = "om:scheduler:lock"


@dataclass(frozen=True)
class Periodic:
    path: str
    queue: str
    every: int  # seconds


PERIODIC = (
    Periodic("app.jobs.intake.sweep", "intake", 30),  # untriaged messages (Redis was down, a worker died)
    Periodic("app.jobs.intake.vk_names", "default", 300),  # VK residents still unnamed (VK failed, job lost)
    Periodic("app.jobs.intake.ok_comments", "intake", 300),  # OK pushes no comments: those under our OK posts
    Periodic("app.jobs.delivery.sweep", "replies", 60),  # replies whose delivery job was lost
    # cross-posting: scheduled posts whose moment came, retries due, copies a dead worker left «sending»
    Periodic("app.jobs.publishing.sweep", "default", 60),
    Periodic("app.jobs.escalation.sweep", "default", 60),  # SLA warnings and breaches, each recorded once
    Periodic("app.jobs.control.sweep_late", "default", 300),  # late control orders, each escalated once
    Periodic("app.jobs.board.refresh_rollups", "low", 60),  # the board's daily rollups: dirty days recomputed
    Periodic("app.jobs.board.refresh_snapshots", "low", 60),  # the board's figures of the standard periods
    Periodic("app.jobs.board.refresh_direction_snapshots", "low", 600),  # each direction's quarter and year
    Periodic("app.jobs.stats.refresh", "low", 300),  # open statistics: participants' blocks, the city's /stats
    Periodic("app.jobs.board.detect_hotspots", "low", 600),  # recurring problems (same street, same wording)
    Periodic("app.jobs.board.weekly_digest", "low", 3600),  # the head's digest, once a week from Monday 08:00
    Periodic("app.jobs.housekeeping.purge_login_attempts", "low", 24 * 3600),
    Periodic("app.jobs.rating.refresh", "low", 600),  # this month/quarter/year of each direction, kept for /rating
    Periodic("app.jobs.rating.freeze_closed", "low", 24 * 3600),  # the rating of each closed month/quarter/year
    Periodic("app.jobs.rating.monthly_digest", "low", 3600),  # the head's rating digest, once a month from the 1st
    Periodic("app.jobs.housekeeping.close_unanswered", "low", 3600),  # «Проблема решена?» unanswered N days
    # the participants' figures: accounts whose last attempt is older than COLLECT_EVERY_HOURS, in chunks
    Periodic("app.jobs.accounts.collect_due", "low", 600),
    # the learned router retrained when ROUTING_RETRAIN_MIN_NEW confirmed tickets are new since its last model
    Periodic("app.jobs.routing.retrain", "low", 24 * 3600),
)


def tick(last_run: dict, now: float | None = None, lock_ttl: int = 10) -> list[str]:
    """Enqueue the periodic jobs that are due; returns their paths. Only the lock holder enqueues.
    `last_run` is this scheduler's state (last run per job, and its identity for the lock)."""
    now = time.time() if now is None else now
    conn = redis_connection()
    me = last_run.setdefault("_owner", uuid.uuid4().hex)
    if not conn.set(LOCK_KEY, me, nx=True, ex=lock_ttl) and (conn.get(LOCK_KEY) or b"").decode() != me:
        return []
    conn.expire(LOCK_KEY, lock_ttl)
    done = []
    for p in PERIODIC:
        if p.path not in last_run or now - last_run[p.path] >= p.every:
            enqueue(p.path, queue=p.queue, job_id="periodic-" + p.path.replace(".", "_"))
            last_run[p.path] = now
            done.append(p.path)
    return done


def run_due_inline(last_run: dict, now: float | None = None) -> list[str]:
    """Without Redis (the embedded demo): run the due periodic jobs here, one after another, so acknowledgements
    held for a burst, SLA warnings and the board's snapshots happen as they would with a worker. A job that
    fails is logged and tried again at its next turn; returns the paths that ran."""
    now = time.time() if now is None else now
    done = []
    for p in PERIODIC:
        if p.path in last_run and now - last_run[p.path] < p.every:
            continue
        last_run[p.path] = now
        try:
            resolve(p.path)()
            done.append(p.path)
        except Exception:  # noqa: BLE001 — one job's failure stops no other
            log.exception("periodic job %s failed", p.path)
    return done


def run_forever(interval: float = 1.0) -> None:
    last_run: dict = {}
    log.info("scheduler started: %s", ", ".join(f"{p.path} every {p.every}s" for p in PERIODIC))
    while True:
        try:
            tick(last_run)
        except Exception:  # Redis away for a moment: try again next second
            log.exception("scheduler tick failed")
        time.sleep(interval)
