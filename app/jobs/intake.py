"""Intake jobs: triage stored messages in batches; sweep what a lost enqueue left behind. Idempotent."""
from __future__ import annotations

from flask import current_app

from app.extensions import db
from app.jobs import enqueue, redis_connection
from app.jobs.context import in_app
from app.services import intake

MAX_BATCHES = 50  # one job triages at most this many batches, then yields the worker
TRIAGE_FLAG = "om:intake:triage-requested"  # set while a triage job is queued: one job serves many webhooks


def request_triage() -> None:
    """After a webhook stored messages: make sure one triage job is on its way (not one per message)."""
    if not current_app.config.get("REDIS_URL"):
        enqueue("app.jobs.intake.triage", queue="intake")  # in-process
        return
    if redis_connection().set(TRIAGE_FLAG, "1", nx=True, ex=5):
        enqueue("app.jobs.intake.triage", queue="intake")


@in_app
def triage() -> int:
    """Triage stored messages batch by batch (each batch commits on its own). Returns how many."""
    if current_app.config.get("REDIS_URL"):
        redis_connection().delete(TRIAGE_FLAG)  # arrivals from now on ask for a new job
    done = 0
    for _ in range(MAX_BATCHES):
        n = intake.triage_pending()
        db.session.commit()
        done += n
        if n < intake.TRIAGE_BATCH:
            break
    return done


@in_app
def sweep() -> int:
    """Periodic: triage whatever is still untriaged (Redis was down, a worker died)."""
    return triage()
