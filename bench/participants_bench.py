#!/usr/bin/env python3
"""Latency of the public directory at issue 12's size: 550 accounts × 5 years of daily snapshots (≈ 1 M rows) and
1 M posts on PostgreSQL, through the Flask app (test client, in-process: the app's own time, no network).

    python bench/participants_bench.py                      # om_bench_participants on 127.0.0.1 (rebuilt once)
    python bench/participants_bench.py --requests 300 --keep  # reuse the data already generated

The database is the benchmark's own (its schema is dropped and rebuilt by the migrations unless --keep and the
data is there). Data: 8 directions, 137 participants, 550 accounts (4 networks), one snapshot per account per day
for 5 years, 1 M posts spread over the same 5 years (COPY). Then VACUUM ANALYZE, a warm-up, and --requests GETs of
each case (participant pages: a different participant each time). Prints p50 / p95 / max in ms, and the
median CPU time of the web process per request (what the app itself costs, apart from a busy machine).
A benchmark, not a test: nothing asserts a time; a response that is not 200 is an error (exit 1).
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/om_bench_participants"
DIRECTIONS = [("zhkh", "ЖКХ"), ("education", "Образование"), ("culture", "Культура"), ("sport", "Спорт"),
              ("public", "Общественные организации"), ("social", "Социальная сфера"), ("business", "Бизнес"),
              ("government", "Органы власти")]
NETWORKS = ("vk", "ok", "telegram", "max")
URLS = {"vk": "https://vk.com/{h}", "ok": "https://ok.ru/group/{h}", "telegram": "https://t.me/{h}",
        "max": "https://max.ru/{h}"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def copy_rows(cur, table: str, columns: tuple[str, ...], rows) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)
            n += 1
    return n


def generate(url: str, participants: int, accounts: int, years: int, posts: int, seed: int) -> None:
    rng = random.Random(seed)
    today = date.today()
    days = 365 * years
    first = today - timedelta(days=days - 1)
    now = datetime.now(timezone.utc)
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=False) as conn, conn.cursor() as cur:
        copy_rows(cur, "directions", ("id", "code", "name", "sort_order"),
                  ((i + 1, c, n, (i + 1) * 10) for i, (c, n) in enumerate(DIRECTIONS)))
        copy_rows(cur, "institutions", ("id", "direction_id", "name", "short_name", "slug", "is_active",
                                        "created_at", "receives_appeals", "public_feedback", "smm_name"),
                  ((i, (i % 8) + 1, f"Участник бенчмарка № {i}", f"Участник {i}", f"bench-{i}", True, now, True,
                    True, "never public") for i in range(1, participants + 1)))
        acc_rows = []
        for a in range(1, accounts + 1):
            net = NETWORKS[a % 4]
            inst = (a - 1) % participants + 1
            acc_rows.append((a, inst, net, f"bench{a}", URLS[net].format(h=f"bench{a}"), f"Аккаунт {a}",
                             0, 0, True, "api" if net != "telegram" else "seen", now, now))
        copy_rows(cur, "accounts", ("id", "institution_id", "network", "handle", "url", "title", "followers",
                                    "posts", "is_active", "posts_source", "connected_at", "collected_at"), acc_rows)
        finals = {}

        def snapshots():
            for a in range(1, accounts + 1):
                base = rng.randint(50, 3000)
                rate = rng.uniform(0.0002, 0.002)
                followers, count = base, rng.randint(0, 500)
                for d in range(days):
                    followers = max(1, followers + round(followers * rate * rng.uniform(-0.5, 2.0)))
                    count += rng.random() < 0.9
                    yield a, first + timedelta(days=d), followers, count, now, "collector"
                finals[a] = (followers, count)
        n = copy_rows(cur, "account_snapshots", ("account_id", "taken_on", "followers", "posts", "collected_at",
                                                 "source"), snapshots())
        print(f"  snapshots: {n} rows ({time.monotonic() - t0:.0f} s)", flush=True)
        cur.execute("CREATE TEMP TABLE fin (id int, f int, p int)")
        copy_rows(cur, "fin", ("id", "f", "p"), ((a, f, p) for a, (f, p) in finals.items()))
        cur.execute("UPDATE accounts SET followers = fin.f, posts = fin.p FROM fin WHERE accounts.id = fin.id")
        span = days * 86400

        def post_rows():
            per = posts // accounts
            for a in range(1, accounts + 1):
                net = NETWORKS[a % 4]
                for k in range(per):
                    at = now - timedelta(seconds=rng.randrange(span))
                    views = rng.randint(50, 5000) if net in ("vk", "ok") else None
                    yield (a, f"{a}-{k}", at, f"Публикация {k} аккаунта {a}: новости недели, анонсы, фото",
                           f"{URLS[net].format(h=f'bench{a}')}/{k}", 0, views, None, None, None, "network", now)
        n = copy_rows(cur, "posts", ("account_id", "external_id", "published_at", "text", "permalink",
                                     "media_count", "views", "reactions", "comments", "reposts", "source",
                                     "created_at"), post_rows())
        print(f"  posts: {n} rows ({time.monotonic() - t0:.0f} s)", flush=True)
        for table in ("directions", "institutions", "accounts"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE account_snapshots")
        conn.execute("VACUUM ANALYZE posts")
        conn.execute("VACUUM ANALYZE accounts")
        conn.execute("VACUUM ANALYZE institutions")
    print(f"  generated in {time.monotonic() - t0:.0f} s", flush=True)


def has_data(url: str, accounts: int) -> bool:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT count(*) FROM accounts").fetchone()[0] >= accounts
    except psycopg.Error:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("BENCH_PARTICIPANTS_URL", DEFAULT_URL))
    ap.add_argument("--participants", type=int, default=137)
    ap.add_argument("--accounts", type=int, default=550)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="reuse the data when it is there")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()

    os.environ["TEST_DATABASE_URL"] = args.url
    from alembic import command  # noqa: E402 — after TEST_DATABASE_URL is set

    from app import create_app
    from app.extensions import db
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = args.url.replace("postgresql://", "postgresql+psycopg://", 1)
        SQLALCHEMY_ECHO = False

    app = create_app(BenchConfig)
    if not (args.keep and has_data(args.url, args.accounts)):
        print(f"Rebuilding {args.url}: {args.participants} participants, {args.accounts} accounts × {args.years} "
              f"years daily, {args.posts} posts", flush=True)
        with psycopg.connect(args.url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        with app.app_context():
            command.upgrade(app.extensions["migrate"].migrate.get_config(), "head")
            db.engine.dispose()
        generate(args.url, args.participants, args.accounts, args.years, args.posts, args.seed)
    with psycopg.connect(args.url) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("institutions", "accounts", "account_snapshots", "posts")}
    print("Data:", ", ".join(f"{k} {v:,}".replace(",", " ") for k, v in counts.items()))

    rng = random.Random(args.seed)
    slugs = [f"bench-{i}" for i in range(1, args.participants + 1)]
    cases = {
        "/participants": lambda: "/participants",
        "/participants?direction=…&network=…&q=…": lambda: "/participants?direction=culture&network=vk&q=1",
        "/participants/<slug>": lambda: f"/participants/{rng.choice(slugs)}",
        "/api/v1/participants": lambda: "/api/v1/participants",
        "/api/v1/accounts/<id>/snapshots (365 d)":
            lambda: f"/api/v1/accounts/{rng.randint(1, args.accounts)}/snapshots",
    }
    client = app.test_client()
    errors = 0
    rows = []
    with app.app_context():
        for make in cases.values():  # start-up: templates compiled, statements cached, connections open
            client.get(make())
        gc.collect()
        gc.freeze()  # as gunicorn.conf.py's post_worker_init does in production (else a full collection every
        # ~hundred requests pauses one for ~80 ms: the p95 of a page that allocates as much as the directory)
        for name, make in cases.items():
            for _ in range(10):  # warm-up: connections, templates, the database's cache
                client.get(make())
            times, cpu = [], []
            for _ in range(args.requests):
                path = make()
                t, c = time.perf_counter(), time.process_time()
                resp = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                if resp.status_code != 200:
                    errors += 1
                    print(f"  {path}: {resp.status_code}", file=sys.stderr)
            rows.append((name, statistics.median(times), percentile(times, 95), max(times), statistics.median(cpu)))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{'case':45} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8}   ({args.requests} requests "
          f"each; load average {load:.1f} on {os.cpu_count()} CPUs)")
    for name, p50, p95, worst, cpu50 in rows:
        print(f"{name:45} {p50:8.1f} {p95:8.1f} {worst:8.1f} {cpu50:8.1f}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
