"""Intake jobs: triage stored messages in batches; sweep what a lost enqueue left behind. Idempotent."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services import intake

MAX_BATCHES = 50  # one job triages at most this many batches, then yields the worker


@in_app
def triage() -> int:
    """Triage stored messages batch by batch (each batch commits on its own). Returns how many."""
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
