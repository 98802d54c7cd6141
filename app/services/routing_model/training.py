"""Training data from the database and the train/evaluate runs behind `flask routing train|evaluate` and the
nightly job.

A ticket's route is *confirmed* when staff set or kept its rubric (institution) until the ticket was resolved or
closed: status resolved/closed, not rejected (noise, spam), not merged into another ticket. Imported history is
closed history, so it counts too. The text is the ticket's summary (the resident's first words, as triage read
them), masked (mask.py) before anything learns from it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from app.extensions import db
from app.models import ROUTING_TARGETS, Category, Institution, Ticket
from app.services.intake import routing
from app.services.routing_model import evaluate as ev
from app.services.routing_model import model as learned
from app.services.routing_model import store
from app.services.routing_model.mask import mask_many, strip_html

CONFIRMED_STATUSES = ("resolved", "closed")
HOLDOUT_MIN = 20  # tickets the current model never saw, needed to compare a new model with it


@dataclass
class Example:
    id: int
    text: str
    category: str | None
    institution: str | None


@dataclass
class TargetResult:
    target: str
    n: int
    report: ev.TargetReport | None = None
    stored: bool = False
    version: int | None = None
    reason: str = ""
    comparison: dict = field(default_factory=dict)


def confirmed_clause():
    return (Ticket.status.in_(CONFIRMED_STATUSES), Ticket.reject_reason.is_(None), Ticket.duplicate_of_id.is_(None))


def confirmed_examples() -> list[Example]:
    rows = db.session.execute(select(Ticket.id, Ticket.summary, Ticket.category_id, Ticket.institution_id)
                              .where(*confirmed_clause()).order_by(Ticket.id))
    return [Example(r.id, r.summary or "", str(r.category_id) if r.category_id else None,
                    str(r.institution_id) if r.institution_id else None) for r in rows]


def new_confirmed_count() -> int:
    """Confirmed tickets no current model learned from (all of them when there is no model)."""
    ids = db.session.scalars(select(Ticket.id).where(*confirmed_clause())).all()
    seen = set()
    for target in ROUTING_TARGETS:
        seen |= store.trained_ids(target)
    return sum(1 for i in ids if i not in seen)


def _names() -> dict[str, dict[str, str]]:
    return {"category": {str(i): n for i, n in db.session.execute(select(Category.id, Category.name))},
            "institution": {str(i): n for i, n in db.session.execute(select(Institution.id,
                                                                            Institution.short_name))}}


def _keyword_routes(texts: list[str]) -> tuple[list[str | None], list[str | None]]:
    """The keyword rules' rubric and its default institution for each raw text (as triage reads it)."""
    cats = routing.active_categories()
    cat_out, inst_out = [], []
    for t in texts:
        c = routing.categorize(strip_html(t), cats).category
        cat_out.append(str(c.id) if c is not None else None)
        inst_out.append(str(c.default_institution_id) if c is not None and c.default_institution_id else None)
    return cat_out, inst_out


def _fold_ids(masked: list[str], n_folds: int) -> np.ndarray:
    fold = np.full(len(masked), -1)
    for k, (_tr, te) in enumerate(ev.make_folds(masked, n_folds)):
        fold[te] = k
    return fold


def _subset_folds(fold: np.ndarray, idx: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The common folds restricted to one target's examples (positions within the subset)."""
    sub = fold[idx]
    return [(np.flatnonzero(sub != k), np.flatnonzero(sub == k)) for k in sorted(set(sub.tolist()))
            if (sub == k).any() and (sub != k).any()]


def _compare(target: str, ids: np.ndarray, masked: list[str], labels: list[str], new_correct: np.ndarray
             ) -> tuple[bool, str, dict]:
    """Whether the new model beats the current one on the tickets the current one never saw (the new model's
    answers there are out-of-fold: neither model saw them)."""
    found = store.current(target)
    if found is None:
        return True, "моделей ещё нет", {}
    current_model, _threshold = found
    seen = set(current_model.meta.get("ticket_ids") or [])
    holdout = np.array([i for i, tid in enumerate(ids.tolist()) if tid not in seen], dtype=int)
    if len(holdout) < HOLDOUT_MIN:
        return False, f"новых подтверждённых обращений {len(holdout)} < {HOLDOUT_MIN}: не на чем сравнить", {}
    preds = current_model.predict_many([masked[i] for i in holdout], k=1)
    cur = float(np.mean([p[0][0] == labels[i] for p, i in zip(preds, holdout, strict=True)]))
    new = float(new_correct[holdout].mean())
    cmp = {"holdout": int(len(holdout)), "current_top1": cur, "new_top1": new}
    if new > cur:
        return True, f"новая модель лучше: {100 * new:.1f} % против {100 * cur:.1f} % на {len(holdout)}", cmp
    return False, f"новая модель не лучше: {100 * new:.1f} % против {100 * cur:.1f} % на {len(holdout)}", cmp


def run(min_n: int = 50, n_folds: int = 5, save: bool = True, progress=None,
        C: float = learned.DEFAULT_C) -> list[TargetResult]:  # noqa: N803
    """Cross-validate both targets on the same folds; with `save`, train on everything and store each target's
    model when it beats the current one. Caller commits."""
    say = progress or (lambda _msg: None)
    t0 = time.monotonic()
    examples = confirmed_examples()
    say(f"подтверждённых обращений: {len(examples)}")
    results = []
    if len(examples) < max(min_n, 2):
        return [TargetResult(t, len(examples), reason=f"мало данных: {len(examples)} < {min_n}")
                for t in ROUTING_TARGETS]
    raw = [e.text for e in examples]
    masked = mask_many(raw)
    say(f"тексты очищены ({time.monotonic() - t0:.1f} с)")
    kw = dict(zip(ROUTING_TARGETS, _keyword_routes(raw), strict=True))
    if len({ev.group_key(t) for t in masked}) < 2:  # one text (after masking) for all: nothing to check on
        return [TargetResult(t, len(examples), reason="мало данных: все тексты одинаковые, проверить не на чем")
                for t in ROUTING_TARGETS]
    fold = _fold_ids(masked, n_folds)
    names = _names()
    ids_all = np.array([e.id for e in examples])
    for target in ROUTING_TARGETS:
        idx = np.array([i for i, e in enumerate(examples) if getattr(e, target)], dtype=int)
        labels = [getattr(examples[i], target) for i in idx]
        if len(idx) < min_n or len(set(labels)) < 2:
            results.append(TargetResult(target, len(idx), reason=f"мало данных: {len(idx)} обращений, "
                                                                  f"{len(set(labels))} классов"))
            continue
        texts = [masked[i] for i in idx]
        folds = _subset_folds(fold, idx)
        if not folds:  # the target's examples all sit in one fold (one text): nothing to check on
            results.append(TargetResult(target, len(idx), reason=f"мало данных: {len(idx)} обращений с одним "
                                                                  f"текстом, проверить не на чем"))
            continue
        say(f"{target}: {len(idx)} обращений, {len(set(labels))} классов, {len(folds)} фолдов")
        rep, correct = ev.evaluate(target, texts, labels, [kw[target][i] for i in idx], folds, names[target],
                                   C=C, progress=lambda m, t=target: say(f"{t}: {m}"))
        result = TargetResult(target, len(idx), report=rep)
        if save:
            better, result.reason, result.comparison = _compare(target, ids_all[idx], texts, labels, correct)
            if better:
                say(f"{target}: обучение на всех {len(idx)}")
                final = learned.train(texts, labels, C=C)
                scores = rep.as_dict() | {"comparison": result.comparison}
                row = store.put(target, final, scores, rep.threshold, ids_all[idx])
                result.stored, result.version = True, row.version
        results.append(result)
        say(f"{target}: готово ({time.monotonic() - t0:.1f} с)")
    return results
