#!/usr/bin/env python3
"""Cost of the open statistics (/stats, a participant's «Как отвечает жителям») at a million tickets, in-process:
a cold computation of each view (what one visitor past the cache costs the database, bounded by
STATS_COMPUTE_PER_MINUTE), its parts, and the page served from its snapshot (what every other visitor costs).

    python bench/load_tickets.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench_stats \
        --no-messages --no-events
    python bench/openstats_bench.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench_stats

A benchmark, not a test: it prints p50 / max in milliseconds and asserts nothing. The database is written to
(snapshots): use the benchmark's own.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn, runs: int) -> tuple[float, float]:
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        took.append((time.perf_counter() - t0) * 1000)
    return statistics.median(took), max(took)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/om_bench_stats")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--page-requests", type=int, default=200)
    args = ap.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SECRET_KEY", "openstats-bench-" + "x" * 32)
    os.environ.pop("REDIS_URL", None)  # jobs in-process: a computed view is kept at once

    from sqlalchemy import delete, func, select

    from app import create_app
    from app.extensions import db
    from app.models import BoardSnapshot, Direction, Institution, Ticket
    from app.services import board, openstats

    app = create_app()
    rows = []
    with app.app_context():
        n = db.session.scalar(select(func.count(Ticket.id)))
        print(f"tickets: {n:,}")
        now = db.session.scalar(select(func.max(Ticket.created_at)))
        directions = db.session.scalars(select(Direction.id).order_by(Direction.id)).all()

        def cold(label, fn):
            def run():
                db.session.execute(delete(BoardSnapshot))
                db.session.commit()
                fn()
                db.session.rollback()
            rows.append((label, *timed(run, args.runs)))

        for kind in ("month", "quarter", "year"):
            f = openstats.parse({"period": kind}, now)
            cold(f"compute {kind}, city (cold: board report + rubrics + months)",
                 lambda f=f: openstats.compute(f.period, f.scope, now))
        f = openstats.parse({"period": "year", "direction": str(directions[0])}, now)
        cold("compute year, one direction (cold)", lambda: openstats.compute(f.period, f.scope, now))
        end = board.today(now)
        f = openstats.parse({"period": "custom", "from": f"{end.year - 2}-{end.month:02d}-01", "to": end.isoformat()},
                            now)
        cold(f"compute custom {f.period.start}…{f.period.end}, city (cold)",
             lambda: openstats.compute(f.period, f.scope, now))
        month = openstats.parse({}, now).period
        rows.append(("  part: monthly(), 12 months, city", *timed(
            lambda: openstats.monthly(month.end, board.Scope(), now), args.runs)))
        rows.append(("  part: by_category(), month, city", *timed(
            lambda: openstats.by_category(month, board.Scope(), now), args.runs)))
        insts = db.session.scalars(select(Institution.id).order_by(Institution.id).limit(10)).all()

        def feedback_all():
            db.session.execute(delete(BoardSnapshot).where(BoardSnapshot.key.like("feedback|%")))
            db.session.commit()
            for i in insts:
                openstats.participant_feedback(i, now=now)
        med, top = timed(feedback_all, args.runs)
        rows.append(("participant_feedback, cold, per participant", med / len(insts), top / len(insts)))
        rows.append(("participant_feedback, from its snapshot", *timed(
            lambda: openstats.participant_feedback(insts[0], now=now), 50)))
        # the job: every participant's block in one pass, then the city's month, quarter and year; the board's
        # own snapshots warm (as its every-minute job keeps them)
        db.session.execute(delete(BoardSnapshot))
        db.session.commit()
        for _ in board.refresh_snapshot_steps(now):
            db.session.commit()
        steps, t0 = {}, time.perf_counter()
        for key in openstats.refresh_steps(now):
            db.session.commit()
            steps[key.split("|")[0] + (" " + key.split("|")[1].split(":")[0] if "|" in key else "")] = (
                time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
        for name, ms in steps.items():
            rows.append((f"job refresh_steps: {name} (board snapshots warm)", ms, ms))

    # every other visitor: the page from its snapshot, through the app (test client)
    client = app.test_client()
    client.get("/stats")  # computed and kept
    took = []
    for _ in range(args.page_requests):
        t0 = time.perf_counter()
        resp = client.get("/stats")
        took.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200
    took.sort()
    rows.append(("GET /stats from the snapshot (p50 / p95)", took[len(took) // 2], took[int(len(took) * 0.95)]))
    t0 = time.perf_counter()
    client.get("/stats.xlsx")
    rows.append(("GET /stats.xlsx from the snapshot", (time.perf_counter() - t0) * 1000, 0))

    print("\n| case | p50, ms | max (p95), ms |\n|---|---:|---:|")
    for label, a, b in rows:
        print(f"| {label} | {a:,.0f} | {b:,.0f} |")


if __name__ == "__main__":
    main()
