"""Honest evaluation of the learned router: cross-validated on folds grouped by the masked text (a text and its
duplicates — the same appeal sent twice, a copy-paste — always sit in the same fold), next to the keyword rules'
score on the same folds; the per-class table, the most confused pairs, and the threshold above which the model's
answers are right at least 95 % of the time (with the share of appeals it would route alone).

Pure computation on lists: no database here (app/services/routing_model/training.py reads the tickets).
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from app.services.routing_model import model as learned
from app.services.routing_model.mask import EMAIL, NAME, PHONE
from app.services.text import words

TARGET_PRECISION = 0.95
NEVER = 1.01  # the threshold when no level reaches the target precision: the model never routes alone
_TOKENS = frozenset(t.lower() for t in (PHONE, EMAIL, NAME))


def group_key(masked_text: str) -> int:
    """Texts equal once masked, lower-cased and stripped of punctuation and of the mask's tokens (the same appeal
    signed with a phone, or not) share a key."""
    norm = " ".join(w for w in words(masked_text) if w not in _TOKENS)
    return int.from_bytes(hashlib.blake2b(norm.encode("utf-8"), digest_size=7).digest(), "big")


def make_folds(masked_texts: list[str], n_folds: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train indexes, test indexes) per fold; no group is split. Deterministic."""
    from sklearn.model_selection import GroupKFold

    groups = np.array([group_key(t) for t in masked_texts])
    n = min(n_folds, len(set(groups.tolist())))
    if n < 2:
        raise ValueError("need at least two distinct texts to cross-validate")
    return [(tr, te) for tr, te in GroupKFold(n_splits=n).split(np.zeros(len(groups)), groups=groups)]


def cross_predict(masked_texts: list[str], labels: list[str], folds, C: float = learned.DEFAULT_C,  # noqa: N803
                  progress=None) -> tuple[list[str], np.ndarray]:
    """(label list, out-of-fold probabilities n × labels): each text scored by a model that never saw it (nor
    its duplicates). A fold whose training part has one label predicts that label with probability 1."""
    label_list = sorted(set(labels))
    col = {lab: j for j, lab in enumerate(label_list)}
    proba = np.zeros((len(labels), len(label_list)))
    texts = np.array(masked_texts, dtype=object)
    y = np.array(labels, dtype=object)
    for k, (tr, te) in enumerate(folds, 1):
        if progress:
            progress(f"fold {k}/{len(folds)}: training on {len(tr)}, testing on {len(te)}")
        seen = sorted(set(y[tr].tolist()))
        if len(seen) < 2:
            proba[te, col[seen[0]]] = 1.0
            continue
        m = learned.train(texts[tr].tolist(), y[tr].tolist(), C=C)
        p = m.proba(texts[te].tolist())
        for j, lab in enumerate(m.labels):
            proba[te, col[lab]] = p[:, j]
    return label_list, proba


def threshold_for(max_prob, correct, target: float = TARGET_PRECISION) -> tuple[float, float, float]:
    """(threshold, share auto-routed, precision of those): the lowest probability t such that the predictions
    with top probability ≥ t are right at least `target` of the time. None reaches it: (NEVER, 0, 0)."""
    max_prob = np.asarray(max_prob, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    if not len(max_prob):
        return NEVER, 0.0, 0.0
    order = np.argsort(-max_prob, kind="stable")
    p, c = max_prob[order], correct[order]
    precision = np.cumsum(c) / np.arange(1, len(c) + 1)
    # a threshold includes every tie: only the last index of each run of equal probabilities is a cut
    last_of_tie = np.append(p[1:] != p[:-1], True)
    ok = np.flatnonzero(last_of_tie & (precision >= target))
    if not len(ok):
        return NEVER, 0.0, 0.0
    i = ok[-1]
    return float(p[i]), float((i + 1) / len(p)), float(precision[i])


@dataclass
class TargetReport:
    target: str
    n: int
    n_classes: int
    n_folds: int
    top1: float
    top3: float
    macro_f1: float
    keywords_top1: float  # the keyword rules on the same texts (every text is in exactly one test fold)
    keywords_none: float  # share the keyword rules leave without a route
    threshold: float
    auto_share: float
    auto_precision: float
    per_class: list[dict] = field(default_factory=list)
    confused: list[dict] = field(default_factory=list)  # the most confused (true, predicted) pairs
    fold_top1: list[float] = field(default_factory=list)
    fold_keywords_top1: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def report(target: str, labels: list[str], label_list: list[str], proba: np.ndarray, folds,
           keyword_labels: list[str | None], names: dict[str, str] | None = None, top_confused: int = 10
           ) -> TargetReport:
    from sklearn.metrics import precision_recall_fscore_support

    names = names or {}
    y = np.array(labels, dtype=object)
    order = np.argsort(-proba, axis=1)
    pred = np.array([label_list[i] for i in order[:, 0]], dtype=object)
    top3 = np.array([y[r] in {label_list[i] for i in order[r, :3]} for r in range(len(y))])
    correct = pred == y
    kw = np.array([k if k is not None else "" for k in keyword_labels], dtype=object)
    kw_correct = kw == y
    present = sorted(set(labels))
    prec, rec, f1, support = precision_recall_fscore_support(y, pred, labels=present, zero_division=0)
    t, share, t_prec = threshold_for(proba.max(axis=1), correct)
    pairs = Counter((a, b) for a, b in zip(y.tolist(), pred.tolist(), strict=True) if a != b)
    return TargetReport(
        target=target, n=len(y), n_classes=len(present), n_folds=len(folds),
        top1=float(correct.mean()), top3=float(top3.mean()),
        macro_f1=float(np.mean(f1)) if len(f1) else 0.0,
        keywords_top1=float(kw_correct.mean()), keywords_none=float((kw == "").mean()),
        threshold=t, auto_share=share, auto_precision=t_prec,
        per_class=[{"label": lab, "name": names.get(lab, lab), "support": int(s), "precision": float(p),
                    "recall": float(r), "f1": float(f)}
                   for lab, p, r, f, s in zip(present, prec, rec, f1, support, strict=True)],
        confused=[{"true": a, "true_name": names.get(a, a), "predicted": b, "predicted_name": names.get(b, b),
                   "count": n} for (a, b), n in pairs.most_common(top_confused)],
        fold_top1=[float(correct[te].mean()) for _tr, te in folds],
        fold_keywords_top1=[float(kw_correct[te].mean()) for _tr, te in folds],
    )


def evaluate(target: str, masked_texts: list[str], labels: list[str], keyword_labels: list[str | None], folds,
             names: dict[str, str] | None = None, C: float = learned.DEFAULT_C, progress=None  # noqa: N803
             ) -> tuple[TargetReport, np.ndarray]:
    """The report and the out-of-fold «top-1 right» of every text (the store compares models on them)."""
    labels = [str(x) for x in labels]
    label_list, proba = cross_predict(masked_texts, labels, folds, C=C, progress=progress)
    rep = report(target, labels, label_list, proba, folds, keyword_labels, names)
    pred = np.array([label_list[i] for i in proba.argmax(axis=1)], dtype=object)
    return rep, pred == np.array(labels, dtype=object)


def format_report(rep: TargetReport | dict, title: str = "") -> str:
    """The report as plain text tables (the CLI prints it)."""
    r = rep if isinstance(rep, dict) else rep.as_dict()
    pct = lambda x: f"{100 * x:5.1f} %"  # noqa: E731
    lines = [f"== {title or r['target']}: {r['n']} обращений, {r['n_classes']} классов, {r['n_folds']} фолдов ==",
             f"{'':28}{'модель':>10}{'ключевые слова':>18}",
             f"{'top-1':28}{pct(r['top1']):>10}{pct(r['keywords_top1']):>18}",
             f"{'top-3':28}{pct(r['top3']):>10}{'—':>18}",
             f"{'macro-F1':28}{r['macro_f1']:>10.3f}{'—':>18}",
             f"{'без маршрута':28}{'—':>10}{pct(r['keywords_none']):>18}"]
    if r["threshold"] <= 1:
        lines.append(f"Порог {r['threshold']:.3f}: сам маршрутизирует {pct(r['auto_share']).strip()}, "
                     f"из них верно {pct(r['auto_precision']).strip()}")
    else:
        lines.append("Порог: ни на каком уровне уверенности 95 % верных не набирается — модель только подсказывает")
    lines.append(f"{'класс':40}{'n':>6}{'точн.':>8}{'полн.':>8}{'F1':>7}")
    for c in sorted(r["per_class"], key=lambda c: -c["support"]):
        lines.append(f"{str(c['name'])[:39]:40}{c['support']:>6}{c['precision']:>8.2f}{c['recall']:>8.2f}"
                     f"{c['f1']:>7.2f}")
    if r["confused"]:
        lines.append("Чаще всего путает (верный → предсказанный):")
        for c in r["confused"]:
            lines.append(f"  {c['count']:>5}  {str(c['true_name'])[:40]} → {str(c['predicted_name'])[:40]}")
    return "\n".join(lines)
