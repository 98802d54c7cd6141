"""Control orders job: escalate late orders (each once; safe with several workers at once)."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services import control


@in_app
def sweep_late() -> dict:
    """Periodic: every late open order not escalated yet gets its event and notifications, once."""
    escalated = control.sweep_late()
    db.session.commit()
    return {"escalated": len(escalated)}
