"""What /admin/routing shows: the current model of each target and the last evaluation report.

The report takes seconds to compute (cross-validation), so a page never computes it: a job (app/jobs/routing.py)
stores it as the site setting `routing_report` and the page shows the last one with its date. Caller commits."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import ROUTING_TARGETS, RoutingModel, utcnow
from app.services import settings

REPORT_KEY = "routing_report"
REQUEST_KEY = "routing_report_requested"
TITLES = {"category": "Рубрика", "institution": "Учреждение"}


@dataclass
class Current:
    target: str
    model: RoutingModel | None

    @property
    def scores(self) -> dict:
        scores = self.model.scores if self.model is not None else None
        return scores if isinstance(scores, dict) else {}  # a stored value of another shape shows no figures


def current_models() -> list[Current]:
    rows = {m.target: m for m in db.session.scalars(select(RoutingModel).where(RoutingModel.is_current.is_(True)))}
    return [Current(t, rows.get(t)) for t in ROUTING_TARGETS]


def _when(value) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def store_report(results, source: str, n_folds: int) -> dict:
    """Keep the reports of a train/evaluate run (app/services/routing_model/training.run) as the last report."""
    payload = {"at": utcnow().isoformat(), "source": source, "folds": int(n_folds),
               "targets": [{"target": r.target, "n": int(r.n), "reason": r.reason, "stored": bool(r.stored),
                            "version": r.version, "report": r.report.as_dict() if r.report is not None else None}
                           for r in results]}
    settings.set(None, REPORT_KEY, payload)
    return payload


JOBS = {"evaluate": ("app.jobs.routing.evaluate_report", (5,)),  # `flask routing evaluate`, 5 folds
        "train": ("app.jobs.routing.retrain", (True,))}  # forced: whatever the number of new tickets


def request(actor, kind: str) -> None:
    """Ask for an evaluation or a retraining (a job on the low queue, enqueued once the caller commits); the page
    says it is under way until a newer report is stored."""
    path, args = JOBS[kind]
    settings.set(actor, REQUEST_KEY, {"at": utcnow().isoformat(), "kind": kind})
    enqueue_after_commit(db.session, path, *args, queue="low", job_id=f"routing-{kind}")


def last_report() -> dict | None:
    """The last stored report with `at` as a datetime, or None. A stored value of another shape is ignored."""
    value = settings.get(REPORT_KEY)
    if not isinstance(value, dict) or not isinstance(value.get("targets"), list):
        return None
    keys = ("top1", "top3", "macro_f1", "keywords_top1", "keywords_none", "threshold", "auto_share",
            "auto_precision", "n", "n_classes", "per_class", "confused")
    targets = []
    for t in value["targets"]:
        if not isinstance(t, dict) or t.get("target") not in ROUTING_TARGETS:
            continue
        rep = t.get("report")
        rep = rep if isinstance(rep, dict) and all(k in rep for k in keys) else None
        targets.append({"target": t["target"], "n": t.get("n"), "reason": str(t.get("reason") or ""),
                        "stored": bool(t.get("stored")), "version": t.get("version"), "report": rep})
    return {"at": _when(value.get("at")), "source": str(value.get("source") or ""), "folds": value.get("folds"),
            "targets": targets}


def pending() -> dict | None:
    """The evaluation or training asked for after the last stored report (its job has not finished yet)."""
    value = settings.get(REQUEST_KEY)
    if not isinstance(value, dict) or _when(value.get("at")) is None:
        return None
    asked = _when(value["at"])
    last = last_report()
    if last is not None and last["at"] is not None and last["at"] >= asked:
        return None
    return {"at": asked, "kind": value.get("kind")}
