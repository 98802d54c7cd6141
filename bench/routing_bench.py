#!/usr/bin/env python3
"""Speed of the learned router (issue 15): training on 100,000 tickets ≤ 60 s and routing one message ≤ 5 ms on
this 2-core machine.

    python bench/routing_bench.py [--train 100000] [--route 1000]
    python bench/routing_bench.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench   # + suggest()

Synthetic appeals (bench/routing_synth.py: 20 topics, shared words, typos, addresses). Measured: masking, fitting
one target (mask + lemmas + TF-IDF + logistic regression), save/load of the pickle-free blob, and routing one
message (mask + both targets' predictions; with --database-url, the whole `routing_model.suggest()` through the
store's cached current models, inside a transaction rolled back at the end). A benchmark: it asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--route", type=int, default=1000)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    if args.database_url:  # before the app's config is imported
        os.environ["DATABASE_URL"] = args.database_url
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(48))
        os.environ.pop("REDIS_URL", None)

    from app.services.routing_model import model as learned
    from app.services.routing_model.mask import mask, mask_many
    from bench.routing_synth import appeals

    texts, labels = appeals(args.train)
    t0 = time.perf_counter()
    masked = mask_many(texts)
    t_mask = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = learned.train(masked, labels)
    t_fit = time.perf_counter() - t0
    # the institution target: another labelling of the same texts (two topics share an institution)
    inst = [f"i{hash(lab) % 12}" for lab in labels]
    t0 = time.perf_counter()
    m2 = learned.train(masked, inst)
    t_fit2 = time.perf_counter() - t0
    t0 = time.perf_counter()
    blob = learned.save(m)
    t_save = time.perf_counter() - t0
    t0 = time.perf_counter()
    learned.load(blob)
    t_load = time.perf_counter() - t0
    print(f"train on {args.train:,}: mask {t_mask:.1f} s, fit rubric {t_fit:.1f} s, fit institution {t_fit2:.1f} s"
          f" → mask + one target {t_mask + t_fit:.1f} s, both {t_mask + t_fit + t_fit2:.1f} s")
    print(f"model: {len(blob) / 1e6:.1f} MB, save {1000 * t_save:.0f} ms, load {1000 * t_load:.0f} ms")

    probe, _ = appeals(args.route, seed=99)
    took = []
    for text in probe:
        t0 = time.perf_counter()
        x = mask(text)
        m.predict(x)
        m2.predict(x)
        took.append((time.perf_counter() - t0) * 1000)
    print(f"route one message (mask + 2 predictions), {args.route}: median {statistics.median(took):.2f} ms, "
          f"p95 {sorted(took)[int(0.95 * len(took))]:.2f} ms, max {max(took):.2f} ms")

    if args.database_url:
        from sqlalchemy import select

        from app import create_app
        from app.extensions import db
        from app.models import Category, Institution
        from app.services.routing_model import store, suggest

        app = create_app()
        with app.app_context():
            cat_ids = db.session.scalars(select(Category.id).limit(20)).all()
            inst_ids = db.session.scalars(select(Institution.id).limit(12)).all()
            if len(cat_ids) < 2 or len(inst_ids) < 2:
                print("the database has no rubrics or institutions: suggest() not measured")
                return
            topics = sorted(set(labels))
            cat_of = {t: str(cat_ids[i % len(cat_ids)]) for i, t in enumerate(topics)}
            inst_of = {t: str(inst_ids[i % len(inst_ids)]) for i, t in enumerate(topics)}
            store.put("category", learned.train(masked[:20000], [cat_of[x] for x in labels[:20000]]), {}, 0.6, [])
            store.put("institution", learned.train(masked[:20000], [inst_of[x] for x in labels[:20000]]), {}, 0.6,
                      [])
            suggest("прогрев")
            took = []
            for text in probe:
                t0 = time.perf_counter()
                suggest(text)
                took.append((time.perf_counter() - t0) * 1000)
            db.session.rollback()
            print(f"suggest() through the store, {args.route}: median {statistics.median(took):.2f} ms, "
                  f"p95 {sorted(took)[int(0.95 * len(took))]:.2f} ms, max {max(took):.2f} ms")


if __name__ == "__main__":
    main()
