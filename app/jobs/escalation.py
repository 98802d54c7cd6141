"""Escalation job: the periodic SLA sweep (warnings and breaches, each recorded once). Idempotent."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services.sla import escalation


@in_app
def sweep() -> dict:
    """Periodic: record the warnings and breaches due now, committing after each batch."""
    result = escalation.SweepResult()
    for result in escalation.sweep_batches():
        db.session.commit()
    return {"warnings": result.warnings, "breaches": result.breaches}
