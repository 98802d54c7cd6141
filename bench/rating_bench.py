#!/usr/bin/env python3
"""Latency of the staff rating page /rating (issue 14) at its size: 550 accounts × 5 years of daily figures
(≈ 1 M account_snapshots), ≈ 1 M posts and 1 M tickets on PostgreSQL, through the Flask app (test client,
in-process: the app's own time, no network), logged in as a user with the role `head`.

    python bench/rating_bench.py                            # om_bench_rating on 127.0.0.1 (rebuilt)
    python bench/rating_bench.py --keep --requests 50       # reuse the data already generated

The database is the benchmark's own. Step 1: bench/load_tickets.py builds it (drops and re-creates it, runs the
migrations, writes the demo's 8 directions, 137 institutions and their accounts, 1 M tickets whose executors
are those institutions). Step 2 (here): more accounts, so 550 are shown (active and confirmed) over the 137
institutions and 4 networks; one snapshot per account per day for 5 years; ≈ 1 M live posts over the same
years (views, reactions, comments and reposts for VK and OK; none for Telegram and MAX, as the platforms
give), a few implausible one-day jumps (+30 % and > 500 people: «проверить накрутку»), a few accounts silent
for the last 40 days; a `head` user (password "bench"). Then VACUUM ANALYZE. --keep skips whichever step's
data is already there (counted).

Timing: the last closed month, quarter and year are frozen once (app.services.rating.frozen.freeze_closed)
before anything is timed. Per case: a «cold» request (the rating's cache rows — board_snapshots keys starting
with `rating|` — deleted first), a warm-up of 5, then --requests GETs (or fewer, when a case runs over
--case-seconds). Prints p50 / p95 / max in ms and the median CPU time of the process per request (over the 200
responses; any other status is printed and makes the exit status 1), then the SQL of one warm /rating request
(statement count, time in the database, the slowest five), and writes the table into bench/RESULTS.md under
«Рейтинг участников (issue 14)» (replaced on a re-run; --no-write: print only).
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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from bench.participants_bench import NETWORKS, URLS, copy_rows, percentile  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/om_bench_rating"
CITY_TZ = "Asia/Yakutsk"  # load_tickets.py's city
USERNAME, PASSWORD = "bench_head", "bench"
HEADING = "## Рейтинг участников (issue 14)"
BEGIN, END = "<!-- rating-bench:begin -->", "<!-- rating-bench:end -->"
JUMP_OFFSETS = (2, 9, 25, 45, 80, 150, 250, 400)  # days before today of the planted «проверить накрутку» jumps


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def count(url: str, query: str) -> int:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute(query).fetchone()[0]
    except psycopg.Error:
        return -1


# --- step 1: the city and its tickets -------------------------------------------------------------------------
def load_tickets(url: str, tickets: int) -> None:
    from bench import load_tickets as loader
    log(f"step 1: bench/load_tickets.py --database-url {url} --tickets {tickets}")
    if loader.main(["--database-url", url, "--tickets", str(tickets)]) != 0:
        raise SystemExit("load_tickets.py failed")


# --- step 2: accounts, snapshots, posts -----------------------------------------------------------------------
def generate(url: str, accounts: int, years: int, posts: int, seed: int) -> None:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    today = now.astimezone(ZoneInfo(CITY_TZ)).date()
    days = 365 * years
    first = today - timedelta(days=days - 1)
    t0 = time.monotonic()
    with psycopg.connect(url, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM posts")
        cur.execute("DELETE FROM account_snapshots")
        cur.execute("DELETE FROM growth_clearances")
        cur.execute("DELETE FROM rating_marks")
        cur.execute("DELETE FROM rating_snapshots")
        # The loader's accounts (raw INSERTs: confirmed_at is left NULL) are confirmed, as migration 0020 did.
        cur.execute("UPDATE accounts SET is_active = true, confirmed_at = %s, connected_at = %s - interval '6 years'",
                    (now, now))
        existing = cur.execute("SELECT id, institution_id, network FROM accounts ORDER BY id").fetchall()
        insts = cur.execute("SELECT id, slug FROM institutions ORDER BY id").fetchall()
        have = {(i, n) for _a, i, n in existing}
        extra = []
        k = 0
        while len(existing) + len(extra) < accounts:  # round-robin over institutions and networks: 4 per one
            inst, slug = insts[k % len(insts)]
            net = NETWORKS[(k // len(insts)) % 4]
            k += 1
            if (inst, net) in have and k < 8 * len(insts):
                continue
            handle = f"{slug}-b{k}"
            extra.append((inst, net, handle, URLS[net].format(h=handle), f"Аккаунт {handle}", True,
                          "api" if net != "telegram" else "seen", now - timedelta(days=days + 30), now, 0, 0))
        cur.executemany("INSERT INTO accounts (institution_id, network, handle, url, title, is_active, posts_source, "
                        "connected_at, confirmed_at, followers, posts) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", extra)
        acc = cur.execute("SELECT id, network FROM accounts ORDER BY id").fetchall()
        log(f"step 2: {len(acc)} accounts ({len(extra)} added), confirmed and active")

        jumps = {}  # account → day index of its planted jump
        for j, a in enumerate(sorted(rng.sample([a for a, _n in acc], 2 * len(JUMP_OFFSETS)))):
            jumps[a] = days - 1 - JUMP_OFFSETS[j % len(JUMP_OFFSETS)]
        daily: dict[int, list[int]] = {}
        finals = {}

        def snapshots():
            for n, (a, _net) in enumerate(acc, 1):
                followers = rng.randint(200, 4000) if a not in jumps else rng.randint(1800, 3000)
                rate = rng.uniform(-0.0004, 0.0018)  # a few audiences fall
                count_, series = rng.randint(0, 500), []
                for d in range(days):
                    followers = max(1, followers + round(followers * rate * rng.uniform(-0.5, 2.0)))
                    if jumps.get(a) == d:
                        followers += max(round(followers * 0.3), 600)  # implausible: > 20 % and > 500 people
                    count_ += rng.random() < 0.9
                    series.append(followers)
                    yield a, first + timedelta(days=d), followers, count_, now, "collector"
                daily[a] = series
                finals[a] = (followers, count_)
                if n % 50 == 0 or n == len(acc):
                    log(f"  snapshots: {n} / {len(acc)} accounts ({time.monotonic() - t0:.0f} s)")
        n = copy_rows(cur, "account_snapshots", ("account_id", "taken_on", "followers", "posts", "collected_at",
                                                 "source"), snapshots())
        log(f"  snapshots: {n:,} rows; jumps planted on accounts {sorted(jumps)}")
        cur.execute("CREATE TEMP TABLE fin (id int, f int, p int)")
        copy_rows(cur, "fin", ("id", "f", "p"), ((a, f, p) for a, (f, p) in finals.items()))
        cur.execute("UPDATE accounts SET followers = fin.f, posts = fin.p, collected_at = %s FROM fin "
                    "WHERE accounts.id = fin.id", (now,))

        weights = {a: rng.lognormvariate(0, 0.7) for a, _n in acc}
        silent = set(rng.sample(sorted(weights), max(1, len(acc) // 40)))  # no post for the last 40 days
        scale = posts / sum(weights.values())
        tz = ZoneInfo(CITY_TZ)
        start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(timezone.utc)
        span = int((now - start).total_seconds())

        def post_rows():
            for n, (a, net) in enumerate(acc, 1):
                series = daily[a]
                end = span - (40 * 86400 if a in silent else 0)
                for k in range(round(weights[a] * scale)):
                    at = start + timedelta(seconds=rng.randrange(end))
                    d = min(days - 1, (at.astimezone(tz).date() - first).days)
                    views = reactions = comments = reposts = None
                    if net in ("vk", "ok"):
                        views = max(1, round(series[d] * rng.uniform(0.03, 0.6)))
                        reactions = round(views * rng.uniform(0.005, 0.06))
                        comments = round(views * rng.uniform(0, 0.01))
                        reposts = round(views * rng.uniform(0, 0.005))
                    yield (a, f"{a}-{k}", at, f"Публикация {k} аккаунта {a}: новости недели, анонсы, фото",
                           f"{URLS[net].format(h=f'bench{a}')}/{k}", 0, views, reactions, comments, reposts,
                           now if views is not None else None, "network", now)
                if n % 50 == 0 or n == len(acc):
                    log(f"  posts: {n} / {len(acc)} accounts ({time.monotonic() - t0:.0f} s)")
        n = copy_rows(cur, "posts", ("account_id", "external_id", "published_at", "text", "permalink",
                                     "media_count", "views", "reactions", "comments", "reposts", "metrics_at",
                                     "source", "created_at"), post_rows())
        log(f"  posts: {n:,} rows")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        log("VACUUM ANALYZE")
        conn.execute("SET maintenance_work_mem = '1GB'")
        for table in ("account_snapshots", "posts", "accounts", "institutions"):
            conn.execute(f"VACUUM ANALYZE {table}")
    log(f"step 2 done in {time.monotonic() - t0:.0f} s")


def ensure_head(url: str) -> None:
    from werkzeug.security import generate_password_hash
    with psycopg.connect(url) as conn:
        conn.execute("""INSERT INTO users (username, full_name, password_hash, role, is_active_user, created_at)
                        VALUES (%s, %s, %s, 'head', true, now())
                        ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'head',
                                                             is_active_user = true""",
                     (USERNAME, "Глава (бенчмарк)", generate_password_hash(PASSWORD)))


# --- timing ---------------------------------------------------------------------------------------------------
class SqlLog:
    """Statements of the requests made while `on`: (ms, statement)."""

    def __init__(self, engine):
        from sqlalchemy import event
        self.on, self.rows = False, []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_t", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        t = conn.info["bench_t"].pop()
        if self.on:
            self.rows.append(((time.perf_counter() - t) * 1000, " ".join(statement.split())))


def write_results(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head = text[:text.index(BEGIN)]
        text = head + block + text[text.index(END) + len(END):]
        if HEADING not in head:
            text = text.replace(block, f"{HEADING}\n\n{block}", 1)
    else:
        text = text.rstrip() + f"\n\n{HEADING}\n\n" + block + "\n"
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("BENCH_RATING_URL", DEFAULT_URL))
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--accounts", type=int, default=550)
    ap.add_argument("--years", type=int, default=5)
    ap.add_argument("--posts", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=100, help="timed requests per case (default 100)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--case-seconds", type=float, default=300,
                    help="a case stops after this many seconds of timed requests (default 300)")
    ap.add_argument("--keep", action="store_true", help="reuse the data when it is there")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    args = ap.parse_args(argv)
    url = args.url.replace("postgresql+psycopg://", "postgresql://", 1)

    started = time.monotonic()
    phases = {}
    snapshots_wanted = args.accounts * 365 * args.years
    if not (args.keep and count(url, "SELECT count(*) FROM tickets") >= args.tickets):
        t = time.monotonic()
        load_tickets(url, args.tickets)
        phases["step 1: load_tickets.py"] = time.monotonic() - t
    shown = count(url, "SELECT count(*) FROM accounts WHERE is_active AND confirmed_at IS NOT NULL")
    if not (args.keep and shown >= args.accounts
            and count(url, "SELECT count(*) FROM account_snapshots") >= snapshots_wanted * 0.99
            and count(url, "SELECT count(*) FROM posts") >= args.posts * 0.99):
        t = time.monotonic()
        generate(url, args.accounts, args.years, args.posts, args.seed)
        phases["step 2: accounts, snapshots, posts"] = time.monotonic() - t
    ensure_head(url)

    os.environ["TEST_DATABASE_URL"] = url
    from app import create_app
    from app.extensions import db
    from app.services.rating import frozen
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url.replace("postgresql://", "postgresql+psycopg://", 1)
        SQLALCHEMY_ECHO = False
        CITY_TZ = CITY_TZ

    app = create_app(BenchConfig)
    with psycopg.connect(url) as conn:
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 — fixed names
                  for t in ("institutions", "accounts", "account_snapshots", "posts", "tickets")}
        largest_dir = conn.execute("SELECT direction_id FROM institutions WHERE is_active GROUP BY direction_id "
                                   "ORDER BY count(*) DESC, direction_id LIMIT 1").fetchone()[0]
        slugs = [s for (s,) in conn.execute("SELECT slug FROM institutions WHERE is_active ORDER BY id")]
    data = ", ".join(f"{k} {v:,}".replace(",", " ") for k, v in counts.items())
    log(f"data: {data}")
    if phases:
        log("load: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
            + f"; total {time.monotonic() - started:.0f} s")

    with app.app_context():
        t = time.monotonic()
        done = frozen.freeze_closed()
        db.session.commit()
        frozen_s = time.monotonic() - t
        log(f"freeze_closed(): {done} direction ratings frozen in {frozen_s:.1f} s")
        from app.services.rating import standing
        t = time.monotonic()
        kept = 0
        for _key in standing.refresh():  # what the job app.jobs.rating.refresh does every 10 minutes
            db.session.commit()
            kept += 1
        refresh_s = time.monotonic() - t
        log(f"the job app.jobs.rating.refresh: {kept} direction × period ratings kept in {refresh_s:.1f} s")
        from app.services.board.periods import today as city_today
        today = city_today()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    c_from, c_to = today - timedelta(days=20), today - timedelta(days=11)
    rng = random.Random(args.seed)
    hx = {"HX-Request": "true"}
    cases = [  # (name, path maker, headers)
        (f"/rating (this month: {today.day} d so far, all directions)", lambda: "/rating", None),
        ("/rating?period=quarter", lambda: "/rating?period=quarter", None),
        ("/rating?period=year", lambda: "/rating?period=year", None),
        (f"/rating?direction={largest_dir} (largest)", lambda: f"/rating?direction={largest_dir}", None),
        (f"/rating?period=month&start={last_month} (frozen)",
         lambda: f"/rating?period=month&start={last_month.isoformat()}", None),
        ("/rating?period=custom (10 days)",
         lambda: f"/rating?period=custom&from={c_from:%d.%m.%Y}&to={c_to:%d.%m.%Y}", None),
        ("/rating/<slug> (drill-down)", lambda: f"/rating/{rng.choice(slugs)}", None),
        ("/rating/export.xlsx", lambda: "/rating/export.xlsx", None),
        ("/rating (HX-Request fragment)", lambda: "/rating", hx),
    ]

    client = app.test_client()
    resp = client.post("/login", data={"username": USERNAME, "password": PASSWORD})
    if resp.status_code != 302:
        print(f"login as {USERNAME} failed: {resp.status_code}", file=sys.stderr)
        return 1
    errors = 0
    rows = []

    def get(path, headers):
        nonlocal errors
        t, c = time.perf_counter(), time.process_time()
        r = client.get(path, headers=headers)
        ms, cpu = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
        if r.status_code != 200:
            errors += 1
            print(f"  {path}: {r.status_code}", file=sys.stderr)
            return None, None  # an error's time is not the page's time
        return ms, cpu

    def clear_cache():
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM board_snapshots WHERE key LIKE 'rating|%%'")

    with app.app_context():
        sql = SqlLog(db.engine)
        get("/rating/" + slugs[0], None)  # start-up: templates compiled, connections open
        gc.collect()
        gc.freeze()  # as gunicorn.conf.py's post_worker_init does in production
        for name, make, headers in cases:
            clear_cache()
            cold, _ = get(make(), headers)
            for _ in range(args.warmup):
                get(make(), headers)
            times, cpu = [], []
            case_started = time.monotonic()
            for k in range(args.requests):
                if k and time.monotonic() - case_started > args.case_seconds:
                    break
                ms, c = get(make(), headers)
                if ms is not None:
                    times.append(ms)
                    cpu.append(c)
            if not times or cold is None:
                print(f"  {name}: no successful request", file=sys.stderr)
                continue
            rows.append((name, len(times), cold, statistics.median(times), percentile(times, 95), max(times),
                         statistics.median(cpu)))
            log(f"{name}: n={len(times)} cold {cold:.0f} ms, p50 {rows[-1][3]:.0f}, p95 {rows[-1][4]:.0f}, "
                f"max {rows[-1][5]:.0f}, cpu p50 {rows[-1][6]:.0f}")
        # The SQL of one warm request of /rating and of last month (a whole month, live or frozen).
        replays = {}
        for path in ("/rating", f"/rating?period=month&start={last_month.isoformat()}"):
            sql.rows, sql.on = [], True
            client.get(path)
            sql.on = False
            replays[path] = sql.rows
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    header = (f"{'case':50} {'n':>4} {'cold ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'cpu p50':>8}")
    print(f"\n{header}   (load average {load:.1f} on {os.cpu_count()} CPUs)")
    for name, n, cold, p50, p95, worst, cpu50 in rows:
        print(f"{name:50} {n:4} {cold:8.0f} {p50:8.0f} {p95:8.0f} {worst:8.0f} {cpu50:8.0f}")
    sql_lines = []
    for path, stmts in replays.items():
        shapes: dict[str, list[float]] = {}
        for ms, stmt in stmts:
            shapes.setdefault(stmt.split("(%(")[0][:140], []).append(ms)
        sql_lines.append(f"SQL of one warm `{path}`: {len(stmts)} statements, {sum(m for m, _ in stmts):.0f} ms in "
                         f"the database; the costliest statement shapes (count × total ms, slowest one):")
        for shape, ms in sorted(shapes.items(), key=lambda x: -sum(x[1]))[:5]:
            sql_lines.append(f"* {len(ms)} × {sum(ms):.0f} ms (max {max(ms):.0f}) — `{shape} …`")
        sql_lines.append("")
    print("\n" + "\n".join(sql_lines))
    if not args.no_write:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [BEGIN, f"### Run of {stamp}", "",
                 f"`python bench/rating_bench.py {' '.join(argv if argv is not None else sys.argv[1:])}`".replace(
                     " `", "`"), "",
                 f"Data: {data}. In-process Flask test client, logged in as `head`; per case a cold request "
                 f"(`rating|` rows of board_snapshots deleted first), a warm-up of {args.warmup}, then up to "
                 f"{args.requests} requests (at most {args.case_seconds:.0f} s a case). freeze_closed() "
                 f"{frozen_s:.1f} s ({done} ratings frozen); the job app.jobs.rating.refresh (this month, quarter "
                 f"and year of every direction, kept for the page) {refresh_s:.1f} s for {kept}. Load average {load:.1f} on {os.cpu_count()} CPUs.", ""]
        if phases:
            lines += ["Load: " + ", ".join(f"{k} {v:.0f} s" for k, v in phases.items()) + ".", ""]
        lines += ["| case | n | cold ms | p50 ms | p95 ms | max ms | CPU p50 ms |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, n, cold, p50, p95, worst, cpu50 in rows:
            lines.append(f"| `{name}` | {n} | {cold:.0f} | {p50:.0f} | {p95:.0f} | {worst:.0f} | {cpu50:.0f} |")
        lines += [""] + sql_lines
        lines.append(END)
        write_results(Path(args.output), "\n".join(lines))
        print(f"\nwritten to {args.output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
