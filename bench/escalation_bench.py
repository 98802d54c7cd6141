"""Escalation sweep at a million open tickets: how long one `app.services.escalation.sweep()` takes.

    .venv/bin/python bench/escalation_bench.py [--source om_bench] [--database om_esc_bench] [--reuse] [--runs 3]

Works on a copy of the queue benchmark's database (bench/load_tickets.py builds `om_bench`; it must be at the
latest migration: `flask db upgrade`), so om_bench itself stays as the queue benchmark expects it:
`CREATE DATABASE om_esc_bench TEMPLATE om_bench`, then every ticket is made open with its clock running
(status in_progress, not paused), so the sweep sees 1,000,000 open tickets. `--reuse` keeps an existing copy
(its marks, events and notifications are deleted first). Times the first sweep (every warning and breach is
new: marks, timeline events, notifications) and then `--runs` sweeps with nothing new to record (the cost of
the periodic job in steady state; all runs use the same `now`), p50 of those.
A benchmark, not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE = "postgresql://postgres@127.0.0.1:5432/"


def _admin(sql: str) -> None:
    eng = create_engine(make_url("postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(sql))
    eng.dispose()


def prepare(source: str, database: str, reuse: bool) -> None:
    if not reuse:
        t0 = time.perf_counter()
        _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{database}" TEMPLATE "{source}"')
        eng = create_engine(make_url(f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"))
        with eng.begin() as conn:
            conn.execute(text("UPDATE tickets SET status = 'in_progress', sla_paused_at = NULL, resolved_at = NULL, "
                              "closed_at = NULL WHERE status NOT IN ('new', 'assigned', 'in_progress')"))
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE tickets"))
        eng.dispose()
        print(f"copied {source} → {database} and reopened every ticket in {time.perf_counter() - t0:.0f} s")
    eng = create_engine(make_url(f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"))
    with eng.begin() as conn:
        conn.execute(text("TRUNCATE sla_marks, notifications"))
        conn.execute(text("DELETE FROM ticket_events WHERE kind IN ('sla_warning', 'sla_breach')"))
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE sla_marks, notifications, ticket_events"))
    eng.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", default="om_bench")
    ap.add_argument("--database", default="om_esc_bench")
    ap.add_argument("--reuse", action="store_true", help="keep an existing copy (only its SLA facts are cleared)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()

    prepare(args.source, args.database, args.reuse)
    os.environ["DATABASE_URL"] = BASE + args.database
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("SECRET_KEY", "bench-escalation-secret-key-0123456789")
    from app import create_app
    from app.extensions import db
    from app.models import OPEN_STATUSES, Ticket, utcnow
    from app.services.sla import escalation

    app = create_app()
    with app.app_context():
        total = db.session.scalar(db.select(db.func.count(Ticket.id)))
        open_ = db.session.scalar(db.select(db.func.count(Ticket.id)).where(Ticket.status.in_(OPEN_STATUSES)))
        print(f"tickets: {total:,}, open: {open_:,}, batch: {args.batch}")
        def sweep(now, batch):  # as the job runs it: a commit after each batch
            result = escalation.SweepResult()
            for result in escalation.sweep_batches(now=now, batch=batch):
                db.session.commit()
            return result

        now = utcnow()  # one moment for every run: the repeated sweeps have exactly nothing new to record
        t0 = time.perf_counter()
        first = sweep(now, args.batch)
        t_first = time.perf_counter() - t0
        print(f"first sweep: {t_first:.1f} s — {first.warnings:,} warnings, {first.breaches:,} breaches recorded")
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            again = sweep(now, args.batch)
            times.append(time.perf_counter() - t0)
            assert (again.warnings, again.breaches) == (0, 0), again
        print("second sweep (nothing new): " + ", ".join(f"{t:.2f} s" for t in times)
              + f"; p50 {statistics.median(times):.2f} s")
        marks = db.session.scalar(db.text("SELECT count(*) FROM sla_marks"))
        notes = db.session.scalar(db.text("SELECT count(*) FROM notifications"))
        print(f"rows: {marks:,} marks, {notes:,} notifications")
    return 0


if __name__ == "__main__":
    sys.exit(main())
