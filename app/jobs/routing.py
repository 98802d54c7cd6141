"""The learned router's jobs (issue 15): the nightly retraining and the on-demand evaluation behind /admin/routing.
Idempotent: without enough new confirmed tickets the nightly run does nothing; a new model is stored only when it
beats the current one. Each run keeps its report as the last one the admin page shows."""
from __future__ import annotations

import logging

from flask import current_app

from app.extensions import db
from app.jobs.context import in_app
from app.models import ROUTING_TARGETS
from app.services.routing_model import overview, training

log = logging.getLogger(__name__)


@in_app
def retrain(force: bool = False) -> dict:
    """Periodic (daily, low queue): train both targets when ≥ ROUTING_RETRAIN_MIN_NEW confirmed tickets are new.
    force=True (the admin's «Обучить сейчас») trains whatever their number."""
    need = int(current_app.config.get("ROUTING_RETRAIN_MIN_NEW") or 200)
    new = training.new_confirmed_count()
    if new < need and not force:
        return {"new": new, "trained": False}
    results = training.run(progress=log.info)
    overview.store_report(results, "train", 5)
    db.session.commit()
    return {"new": new, "trained": True,
            "stored": {r.target: r.version for r in results if r.stored},
            "reasons": {r.target: r.reason for r in results}}


@in_app
def evaluate_report(folds: int = 5) -> dict:
    """Cross-validate both targets next to the keyword rules (nothing stored but the report) — `flask routing
    evaluate` for the admin page."""
    folds = min(max(int(folds), 2), 20)
    try:
        results = training.run(min_n=2, n_folds=folds, save=False, progress=log.info)
    except ValueError as exc:  # e.g. every confirmed text the same: nothing to cross-validate
        results = [training.TargetResult(t, 0, reason=str(exc)) for t in ROUTING_TARGETS]
    overview.store_report(results, "evaluate", folds)
    db.session.commit()
    return {"targets": {r.target: (r.report.top1 if r.report is not None else None) for r in results}}
