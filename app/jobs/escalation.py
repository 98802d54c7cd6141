"""Escalation job: the periodic SLA sweep (warnings and breaches, each recorded once). Idempotent."""
from __future__ import annotations

from app.jobs.context import in_app
from app.services.sla import escalation


@in_app
def sweep() -> dict:
    """Periodic: record the warnings and breaches due now; the service commits after each batch."""
    result = escalation.sweep()
    return {"warnings": result.warnings, "breaches": result.breaches}
