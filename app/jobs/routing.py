"""The learned router's nightly retraining (issue 15). Idempotent: without enough new confirmed tickets it does
nothing; a new model is stored only when it beats the current one."""
from __future__ import annotations

import logging

from flask import current_app

from app.extensions import db
from app.jobs.context import in_app
from app.services.routing_model import training

log = logging.getLogger(__name__)


@in_app
def retrain() -> dict:
    """Periodic (daily, low queue): train both targets when ≥ ROUTING_RETRAIN_MIN_NEW confirmed tickets are new."""
    need = int(current_app.config.get("ROUTING_RETRAIN_MIN_NEW") or 200)
    new = training.new_confirmed_count()
    if new < need:
        return {"new": new, "trained": False}
    results = training.run(progress=log.info)
    db.session.commit()
    return {"new": new, "trained": True,
            "stored": {r.target: r.version for r in results if r.stored},
            "reasons": {r.target: r.reason for r in results}}
