"""What the learned router says about one appeal, for triage and the queue: the three likeliest rubrics and
institutions with their probabilities, and whether the top one clears its target's threshold."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Category, Institution
from app.services.routing_model import store
from app.services.routing_model.mask import mask


@dataclass
class Suggestion:
    category: list[tuple[Category, float]] = field(default_factory=list)
    institution: list[tuple[Institution, float]] = field(default_factory=list)
    category_sure: bool = False
    institution_sure: bool = False

    @property
    def empty(self) -> bool:
        return not self.category and not self.institution


def _top(target: str, masked: str, entity, k: int) -> tuple[list, bool]:
    found = store.current(target)
    if found is None:
        return [], False
    m, threshold = found
    try:
        predicted = m.predict(masked, k=k + 2)  # a few spare: a rubric or institution may be gone since
    except Exception as exc:  # noqa: BLE001 — a model that loads but cannot predict must never stop triage
        current_app.logger.error("routing model %s cannot predict, not used: %s: %s", target, type(exc).__name__, exc)
        return [], False
    if not predicted:
        return [], False
    ids = [int(label) for label, _p in predicted if label.isascii() and label.isdigit()]
    found = {o.id: o for o in db.session.scalars(select(entity).where(entity.id.in_(ids), entity.is_active))}
    out = [(found[int(label)], p) for label, p in predicted
           if label.isascii() and label.isdigit() and int(label) in found][:k]
    # sure only of the model's own first choice (not of a runner-up promoted because the first is gone)
    sure = bool(out) and str(out[0][0].id) == predicted[0][0] and out[0][1] >= threshold
    return out, sure


def suggest(text: str | None, k: int = 3) -> Suggestion:
    """Empty when no model is stored (or the text has no words); `*_sure`: the top probability reaches the
    target's stored threshold (set by the evaluation so that such routes are ≥ 95 % right)."""
    masked = mask(text)
    if not masked.strip():
        return Suggestion()
    cats, cat_sure = _top("category", masked, Category, k)
    insts, inst_sure = _top("institution", masked, Institution, k)
    return Suggestion(category=cats, institution=insts, category_sure=cat_sure, institution_sure=inst_sure)
