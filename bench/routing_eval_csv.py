#!/usr/bin/env python3
"""The learned router against the keyword rules on a labelled CSV of appeals (id,text,rubric,institution,…), e.g.
the 525 hand-written appeals of tests/data/appeals_eval.csv (issue 15's closing note). No database: the keyword
rules are the demo city's rubrics (app/demo/data.py CATEGORIES: stems and default institution).

    python bench/routing_eval_csv.py tests/data/appeals_eval.csv [--folds 5] [--C 10] [--tune]

Cross-validated with the same grouping as `flask routing evaluate` (a text and its masked duplicates in one fold).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--C", type=float, default=None)
    ap.add_argument("--tune", action="store_true", help="also print top-1 for a few C")
    args = ap.parse_args()

    from app.demo.data import CATEGORIES
    from app.models import Category
    from app.services.intake import routing
    from app.services.routing_model import evaluate as ev
    from app.services.routing_model import model as learned
    from app.services.routing_model.mask import mask_many, strip_html

    with open(args.csv, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    raw = [r["text"] for r in rows]
    t0 = time.perf_counter()
    masked = mask_many(raw)
    print(f"{len(rows)} appeals, masked in {1000 * (time.perf_counter() - t0):.0f} ms")
    cats = []
    default_inst = {}
    for i, (code, name, _direction, inst_slug, _policy, stems, *_rest) in enumerate(CATEGORIES, 1):
        cats.append(Category(id=i, code=code, name=name, keywords=stems, is_active=True))
        default_inst[code] = inst_slug
    kw_cat, kw_inst = [], []
    for t in raw:
        c = routing.categorize(strip_html(t), cats).category
        kw_cat.append(c.code if c is not None else None)
        kw_inst.append(default_inst.get(c.code) if c is not None else None)
    folds = ev.make_folds(masked, args.folds)
    C = args.C or learned.DEFAULT_C  # noqa: N806
    if args.tune:
        for c in (1, 3, 10, 30, 100):
            for target in ("rubric", "institution"):
                rep, _ = ev.evaluate(target, masked, [r[target] for r in rows], kw_cat, folds, C=c)
                print(f"C={c:<5} {target:12} top-1 {rep.top1:.3f} top-3 {rep.top3:.3f} macro-F1 {rep.macro_f1:.3f}")
    for target, kw in (("rubric", kw_cat), ("institution", kw_inst)):
        t0 = time.perf_counter()
        rep, correct = ev.evaluate(target, masked, [r[target] for r in rows], kw, folds, C=C)
        print(ev.format_report(rep))
        print(f"(cross-validation took {time.perf_counter() - t0:.1f} s)\n")
        if target == "rubric":
            label_list, proba = ev.cross_predict(masked, [r["rubric"] for r in rows], folds, C=C)
            via = [default_inst.get(label_list[i]) for i in proba.argmax(axis=1)]
            share = sum(v == r["institution"] for v, r in zip(via, rows, strict=True)) / len(rows)
            print(f"institution as the model's rubric's default institution: top-1 {100 * share:.1f} %\n")


if __name__ == "__main__":
    main()
