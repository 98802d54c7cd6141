#!/usr/bin/env python3
"""Latency of the head's control board (/board) at a million tickets, through the real app: gunicorn on loopback,
a moderator logged in through /login, sequential GETs per case; p50 / p95 / max. Plus in-process timings of the
snapshot job (`board.refresh_snapshots()`, total and per period) and of `hotspots.detect()`.

    python bench/board_bench.py                       # om_bench on 127.0.0.1
    python bench/board_bench.py --requests 20 --no-write

Order: `hotspots.detect()` once (so the worklist has hot spots) and `--detect-runs` timed runs, then
`--refresh-runs` timed runs of `refresh_snapshots()` (the SQL of one run is kept for EXPLAIN), then gunicorn:
the snapshot path first (the standard periods served from the snapshots just stored; the server runs with
BOARD_SNAPSHOT_MAX_AGE=86400 so they stay valid for the whole run), then the live path (`fresh=1`: every
request recomputes the report), the worklist and the export. The database is written to (hot spots, snapshots):
it is the benchmark's own. Statements of any report slower than --explain-over ms in-process (or of any live case
with an HTTP p50 above it) get EXPLAIN (ANALYZE, BUFFERS). The table goes to bench/RESULTS.md between the
"board-bench:begin/end" markers. A benchmark, not a test: nothing asserts a time; a response that is not 200 or
lacks the expected content is an error (exit 1).
"""
from __future__ import annotations

import argparse
import html
import http.client
import os
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_bench import (  # noqa: E402  (the queue benchmark's server, client and report helpers)
    BENCH,
    CSRF,
    DEFAULT_URL,
    HOST,
    PASSWORD,
    ROOT,
    USERNAME,
    Client,
    Server,
    app_revision,
    inline,
    log,
    login,
    machine,
    percentile,
    psycopg_url,
)

BEGIN, END = "<!-- board-bench:begin -->", "<!-- board-bench:end -->"
HEADING = "## Доска главы (issue 5)"
SNAPSHOT_AGE = 86400  # BOARD_SNAPSHOT_MAX_AGE of the server: the snapshots of the job stay valid all run
PERIODS = ("today", "week", "month", "quarter", "year")


@dataclass
class Case:
    name: str
    path: str
    kind: str  # page | figures | problems | xlsx
    n: int
    headers: dict = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    skipped: str = ""
    size: int = 0
    sql: list = field(default_factory=list)  # (ms, statement, params) of one in-process replay


def board_url(path: str = "", **params) -> str:
    return "/board" + path + ("?" + urlencode(params) if params else "")


def check(case: Case, status: int, text: str) -> str | None:
    if status != 200:
        m = re.search(r"<h1>(.*?)</h1>", text, re.S)
        return f"HTTP {status}" + (f": {m.group(1).strip()}" if m else "")
    if case.kind == "page":
        if "<html" not in text or 'id="board"' not in text or 'id="board-figures"' not in text:
            return "not the board page"
    elif case.kind == "figures":
        if "<html" in text or 'id="board-figures"' not in text:
            return "not the figures fragment"
    elif case.kind == "problems":
        if 'id="problems-list"' not in text:
            return "no problems list"
        if "/tickets/" not in text:
            return "the list has no tickets"
    elif case.kind == "xlsx" and not text.startswith("PK"):
        return "not an XLSX file"
    return None


def run_case(client: Client, case: Case, warmup: int, budget: float) -> None:
    started = time.monotonic()
    for i in range(warmup + case.n):
        if time.monotonic() - started > budget:
            case.skipped = f"time budget {budget:.0f} s reached after {len(case.times)} requests"
            break
        try:
            status, _, text, ms = client.request("GET", case.path, headers=case.headers)
        except (OSError, http.client.HTTPException) as exc:
            status, text, ms = 0, f"{type(exc).__name__}: {exc}", None
        if i < warmup:
            continue
        err = check(case, status, text) if status else text
        if ms is not None:
            case.times.append(ms)
            case.size = len(text.encode("utf-8", "replace"))
        if err:
            case.errors += 1
            case.first_error = case.first_error or f"{case.path}: {err}"


# --- in-process: the job, hot spots, the SQL of the reports --------------------------------------------
class InProcess:
    def __init__(self, url: str, app_dir: Path):
        os.environ.update(DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="bench-board-secret-key-0123456789abcdef")
        os.environ.pop("REDIS_URL", None)
        sys.path.insert(0, str(app_dir))
        from sqlalchemy import event

        from app import create_app
        from app.extensions import db

        self.app, self.db = create_app(), db
        self.capture: list | None = None
        with self.app.app_context():
            def before(conn, cursor, statement, parameters, context, executemany):
                conn.info.setdefault("board_bench_t", []).append(time.perf_counter())

            def after(conn, cursor, statement, parameters, context, executemany):
                started = conn.info["board_bench_t"].pop()
                if self.capture is not None:
                    self.capture.append(((time.perf_counter() - started) * 1000, statement, parameters))

            event.listen(db.engine, "before_cursor_execute", before)
            event.listen(db.engine, "after_cursor_execute", after)

    def detect(self, runs: int) -> tuple[float, int, list[float]]:
        """The first run (untimed for the figures, reported apart) and `runs` timed ones; each commits."""
        from app.services.board import hotspots

        times = []
        with self.app.app_context():
            t0 = time.perf_counter()
            found = hotspots.detect()
            self.db.session.commit()
            first = (time.perf_counter() - t0) * 1000
            for _ in range(runs):
                t0 = time.perf_counter()
                found = hotspots.detect()
                self.db.session.commit()
                times.append((time.perf_counter() - t0) * 1000)
        return first, found, times

    def refresh(self, runs: int) -> tuple[list[float], dict[str, list[float]], dict[str, list]]:
        """`runs` timed refresh_snapshots(); per period the time of its report() inside the job (the store and
        commit are in the total); the SQL of each period's report in the first run."""
        from app.extensions import db
        from app.services import board
        from app.services.board import snapshots

        totals: list[float] = []
        per: dict[str, list[float]] = {k: [] for k in PERIODS}
        sql: dict[str, list] = {}
        real = board.report

        def timed(user, period, scope=board.Scope(), now=None):
            self.capture = [] if len(totals) == 0 else None
            t0 = time.perf_counter()
            try:
                return real(user, period, scope, now)
            finally:
                per[period.kind].append((time.perf_counter() - t0) * 1000)
                if self.capture is not None:
                    sql[period.kind] = sorted(self.capture, key=lambda x: -x[0])
                self.capture = None

        snapshots.report = timed  # what the snapshot job calls
        try:
            with self.app.app_context():
                for _ in range(runs):
                    t0 = time.perf_counter()
                    for _step in board.refresh_snapshot_steps():  # as the job: a commit after each
                        db.session.commit()
                    totals.append((time.perf_counter() - t0) * 1000)
        finally:
            snapshots.report = real
        return totals, per, sql

    def replay(self, cases: list[Case]) -> None:
        """Each case once more in-process (Flask test client, same code and database), its SQL captured; the
        second of two runs is kept (warm caches, like the HTTP timings)."""
        client = self.app.test_client()
        m = CSRF.search(client.get("/login").get_data(as_text=True))
        token = html.unescape(m.group(1) or m.group(2))
        resp = client.post("/login", data={"csrf_token": token, "username": USERNAME, "password": PASSWORD})
        if resp.status_code != 302:
            raise RuntimeError(f"in-process login failed: {resp.status_code}")
        for case in cases:
            for _ in range(2):
                self.capture = []
                client.get(case.path, headers=case.headers)
            case.sql, self.capture = sorted(self.capture, key=lambda x: -x[0]), None

    def today(self):
        from app.services import board

        with self.app.app_context():
            return board.today()

    def explain(self, statements: list) -> list[tuple[float, str, str]]:
        out = []
        with self.app.app_context(), self.db.engine.connect() as conn:
            for ms, statement, params in statements:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()
                out.append((ms, inline(statement, params), "\n".join(r[0] for r in plan)))
            conn.rollback()
        return out


# --- facts --------------------------------------------------------------------------------------------------
def facts(url: str) -> dict:
    with psycopg.connect(url, connect_timeout=5) as conn:
        if not conn.execute("SELECT to_regclass('public.board_snapshots') IS NOT NULL").fetchone()[0]:
            return {"tickets": 0, "schema": False}
        f = {"schema": True, "tickets": conn.execute("SELECT count(*) FROM tickets").fetchone()[0]}
        f["users"] = conn.execute("SELECT count(*) FROM users WHERE username = %s", (USERNAME,)).fetchone()[0]
        f["rated"], f["reopened"] = conn.execute(
            "SELECT count(*) FILTER (WHERE rating IS NOT NULL), count(*) FILTER (WHERE reopen_count > 0) "
            "FROM tickets").fetchone()
        f["newest"] = conn.execute("SELECT max(created_at) FROM tickets").fetchone()[0]
        f["dir_big"] = conn.execute("""SELECT d.id, d.name, count(*) FROM tickets t
                                         JOIN institutions i ON i.id = t.institution_id
                                         JOIN directions d ON d.id = i.direction_id
                                        GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""").fetchone()
        f["inst_big"] = conn.execute("""SELECT i.id, i.short_name, count(*) FROM tickets t
                                          JOIN institutions i ON i.id = t.institution_id
                                         GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""").fetchone()
        f["pg"] = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        f["settings"] = dict(conn.execute("""SELECT name, current_setting(name) FROM pg_settings WHERE name IN
            ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit',
             'max_parallel_workers_per_gather')""").fetchall())
        f["db_size"] = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        f["revision"] = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        return f


def after_run_facts(url: str) -> dict:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return {"hot_spots": conn.execute("SELECT count(*) FROM hot_spots").fetchone()[0],
                "snapshots": conn.execute("SELECT count(*), coalesce(sum(pg_column_size(data)), 0) "
                                          "FROM board_snapshots").fetchone()}


def build_cases(f: dict, today, args) -> list[Case]:
    n, slow = args.requests, args.live_requests
    cases = [Case(f"snapshot /board period={p}", board_url(period=p), "page", n) for p in PERIODS]
    cases.append(Case("snapshot /board/figures (HX-Request, month)", board_url("/figures", period="month"),
                      "figures", n, headers={"HX-Request": "true"}))
    for p in PERIODS:
        k = slow if p in ("quarter", "year") else max(slow, n // 2)
        cases.append(Case(f"live /board period={p}&fresh=1", board_url(period=p, fresh=1), "page", k))
    start = today - timedelta(days=9)
    cases.append(Case("live custom 10 days", board_url(period="custom", **{"from": f"{start:%d.%m.%Y}",
                                                                           "to": f"{today:%d.%m.%Y}"}, fresh=1),
                      "page", max(slow, n // 2)))
    d_id, d_name, _ = f["dir_big"]
    cases.append(Case(f"live month, direction={d_id} ({d_name})", board_url(period="month", direction=d_id, fresh=1),
                      "page", max(slow, n // 2)))
    i_id, i_name, _ = f["inst_big"]
    cases.append(Case(f"live month, institution={i_id} ({i_name})",
                      board_url(period="month", institution=i_id, fresh=1), "page", max(slow, n // 2)))
    cases.append(Case("/board/problems?kind=overdue", board_url("/problems", period="month", kind="overdue"),
                      "problems", n))
    cases.append(Case("/board/problems?kind=low_rating", board_url("/problems", period="month", kind="low_rating"),
                      "problems", n))
    cases.append(Case("/board/export.xlsx (month)", board_url("/export.xlsx", period="month"), "xlsx",
                      max(slow, n // 2)))
    if args.only:
        cases = [c for c in cases if any(o in c.name for o in args.only)]
    return cases


# --- report ----------------------------------------------------------------------------------------------------
def fmt(ms: float) -> str:
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def http_table(cases: list[Case]) -> list[str]:
    out = ["| case | p50 ms | p95 ms | max ms | n | kB | errors | notes |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for c in cases:
        if not c.times:
            out.append(f"| {c.name} | | | | 0 | | | {c.skipped or 'not run'} |")
            continue
        notes = "; ".join(x for x in (c.skipped, c.first_error) if x).replace("|", "\\|")
        out.append(f"| {c.name} | {fmt(percentile(c.times, 50))} | {fmt(percentile(c.times, 95))} | "
                   f"{fmt(max(c.times))} | {len(c.times)} | {c.size / 1024:.0f} | {c.errors} | {notes} |")
    return out


def job_table(job: dict) -> list[str]:
    out = ["| in-process | runs (ms) | p50 ms | max ms |", "|---|---|---:|---:|"]

    def row(name, values):
        if not values:
            return
        out.append(f"| {name} | {' / '.join(fmt(v) for v in values)} | {fmt(statistics.median(values))} | "
                   f"{fmt(max(values))} |")

    if job.get("detect"):
        first, found, times = job["detect"]
        out.append(f"| `hotspots.detect()` first run ({found} hot spots) | {fmt(first)} | | |")
        row("`hotspots.detect()`", times)
    if job.get("refresh"):
        totals, per, _ = job["refresh"]
        row("`board.refresh_snapshots()` total", totals)
        for k in PERIODS:
            if per[k]:
                row(f"— report() of {k}", per[k])
    return out


def sql_lines(job: dict) -> list[str]:
    if not job.get("refresh"):
        return []
    _, _, sql = job["refresh"]
    out = ["| period | statements | SQL ms | slowest statements (ms) |", "|---|---:|---:|---|"]
    for k in PERIODS:
        if k in sql:
            stmts = sql[k]
            top = "<br>".join(f"{ms:,.0f} `{short(s, 70)}`" for ms, s, _ in stmts[:3])
            out.append(f"| {k} | {len(stmts)} | {sum(x[0] for x in stmts):,.0f} | {top} |")
    return out


def replay_table(cases: list[Case]) -> list[str]:
    out = ["| case | SQL stmts | SQL ms | slowest statements (ms) |", "|---|---:|---:|---|"]
    for c in cases:
        if c.sql:
            top = "<br>".join(f"{ms:,.0f} `{short(s, 110)}`" for ms, s, _ in c.sql[:4])
            out.append(f"| {c.name} | {len(c.sql)} | {sum(x[0] for x in c.sql):,.0f} | {top} |")
    return out


def grouped(case: Case) -> list[str]:
    """Every statement of one request, alike ones together (count, total ms), slowest group first."""
    groups: dict[str, list[float]] = {}
    for ms, stmt, _ in case.sql:
        groups.setdefault(short(stmt, 110), []).append(ms)
    out = [f"Every statement of one `{case.path}` ({case.name}), alike ones together:", "",
           "| count | ms in all | statement |", "|---:|---:|---|"]
    for text, times in sorted(groups.items(), key=lambda kv: -sum(kv[1])):
        out.append(f"| {len(times)} | {sum(times):,.1f} | `{text}` |")
    return out


def short(statement: str, width: int = 90) -> str:
    """`… FROM tickets WHERE …` cut to `width`, for the tables (the plans show the whole statement)."""
    one = re.sub(r"\s+", " ", statement).strip()
    one = re.sub(r"%\(\w+\)s", "?", one)
    one = re.sub(r"::(VARCHAR|INTEGER|TIMESTAMP WITH TIME ZONE|FLOAT)", "", one)
    one = re.sub(r"\?(, \?)+", "…", one)
    m = re.search(r"\bFROM\b", one)
    tail = one[m.start():] if m else one
    if "GROUPING SETS" in one:
        tail = "GROUPING SETS " + tail
    return ("… " + tail[:width] + ("…" if len(tail) > width else "")).replace("|", "/").replace("`", "'")


def report(args, f: dict, after: dict, cases: list[Case], job: dict, explained: list, started: datetime,
           server_cmd: list[str]) -> str:
    m = machine()
    lines = [BEGIN,
             f"### Run of {started.strftime('%Y-%m-%d %H:%M UTC')}",
             "",
             f"* machine: {m['nproc']} CPU ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}, Python {m['python']}",
             f"* database: {f['pg']} on 127.0.0.1, {f['db_size']}, migration {f['revision']}; "
             + ", ".join(f"{k}={v}" for k, v in f["settings"].items()),
             f"* data: {f['tickets']:,} tickets (newest {f['newest']:%Y-%m-%d %H:%M} UTC), {f['rated']:,} rated, "
             f"{f['reopened']:,} reopened; after the run {after['hot_spots']} hot spots, "
             f"{after['snapshots'][0]} snapshots ({after['snapshots'][1] / 1024:.0f} kB of JSON)",
             f"* app: {app_revision(args.app_dir)}",
             f"* server: `{' '.join(server_cmd[1:])}` with BOARD_SNAPSHOT_MAX_AGE={SNAPSHOT_AGE} (LANGUAGE=ru); "
             f"client: sequential requests, one loopback connection each, logged in as `{USERNAME}` through /login",
             f"* per case: {args.warmup} warm-up requests, then n timed (sending the request to the last byte); "
             "snapshot cases right after the in-process `refresh_snapshots()`; live cases carry `fresh=1`; "
             "`problems` and the export read the month's snapshot and run the worklist live",
             "",
             *http_table(cases),
             "",
             *job_table(job),
             "",
             ]
    rt = replay_table(cases)
    if len(rt) > 2:
        lines += ["SQL of one request per case (in-process replay with the Flask test client, second of two runs):",
                  "", *rt, ""]
    for c in cases:
        if c.sql and c.name == "snapshot /board period=month":
            lines += [*grouped(c), ""]
    sl = sql_lines(job)
    if sl:
        lines += ["SQL of each period's report (one in-process run, captured in the job):", "", *sl, ""]
    if explained:
        lines += ["#### EXPLAIN (ANALYZE, BUFFERS) of the slowest statements", ""]
        for label, ms, stmt, plan in explained:
            lines += [f"{label} ({ms:,.0f} ms when captured)", "", "```sql", stmt.strip(), "```", "",
                      "```", plan, "```", ""]
    lines.append(END)
    return "\n".join(lines)


def write_results(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    elif HEADING in text:
        text = text.rstrip() + "\n\n" + block + "\n"
    else:
        text = text.rstrip() + f"\n\n{HEADING}\n\n" + block + "\n"
    path.write_text(text)


# --- main -------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                    help=f"default: $BENCH_DATABASE_URL or {DEFAULT_URL}")
    ap.add_argument("--requests", type=int, default=40, help="timed requests per fast case (default 40)")
    ap.add_argument("--live-requests", type=int, default=8,
                    help="timed requests of the slow live cases (quarter, year; default 8); other live cases and "
                         "the export take max(this, --requests / 2)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests per case first")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--port", type=int, default=0, help="default: a free port on 127.0.0.1")
    ap.add_argument("--gunicorn", help="gunicorn executable (default: the one next to this Python)")
    ap.add_argument("--case-seconds", type=float, default=150, help="time budget of one case")
    ap.add_argument("--request-timeout", type=float, default=120)
    ap.add_argument("--detect-runs", type=int, default=3, help="timed hotspots.detect() runs (after one untimed)")
    ap.add_argument("--refresh-runs", type=int, default=3, help="timed refresh_snapshots() runs")
    ap.add_argument("--explain-over", type=float, default=1000,
                    help="EXPLAIN the slowest statements of a period whose report (in-process) or live HTTP p50 "
                         "is above this many ms (default 1000)")
    ap.add_argument("--only", action="append", help="run only HTTP cases whose name contains this (repeatable)")
    ap.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="checkout of the project to serve (default: this one), e.g. a `git archive` of a commit")
    args = ap.parse_args(argv)
    args.app_dir = args.app_dir.resolve()
    if not (args.app_dir / "app" / "__init__.py").exists():
        ap.error(f"--app-dir {args.app_dir}: no app/ package there")

    url = psycopg_url(args.database_url)
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the benchmark runs against a database on this machine only (127.0.0.1)")
    try:
        f = facts(url)
    except psycopg.OperationalError as exc:
        print(f"Cannot open {url}: {exc}".strip(), file=sys.stderr)
        print("Load the data set first:  python bench/load_tickets.py --database-url " + url, file=sys.stderr)
        return 2
    if not f["schema"]:
        print(f"{url} has no board_snapshots table: run the migrations first\n"
              f"  DATABASE_URL={url} FLASK_APP=app:create_app flask db upgrade", file=sys.stderr)
        return 2
    if not f["tickets"] or not f["users"]:
        print(f"{url} has no tickets or no user {USERNAME!r}. Load them first:\n"
              f"  python bench/load_tickets.py --database-url {url}", file=sys.stderr)
        return 2

    started_at = datetime.now(timezone.utc)
    inproc = InProcess(url, args.app_dir)
    job: dict = {}
    log("hotspots.detect(): one run, then %d timed" % args.detect_runs)
    job["detect"] = inproc.detect(args.detect_runs)
    log(f"  first {job['detect'][0]:,.0f} ms ({job['detect'][1]} hot spots); runs "
        + " / ".join(f"{t:,.0f}" for t in job["detect"][2]) + " ms")
    log("board.refresh_snapshots(): %d timed runs" % args.refresh_runs)
    job["refresh"] = inproc.refresh(args.refresh_runs)
    log("  totals " + " / ".join(f"{t:,.0f}" for t in job["refresh"][0]) + " ms; per period p50 "
        + ", ".join(f"{k} {statistics.median(v):,.0f}" for k, v in job["refresh"][1].items() if v) + " ms")

    cases = build_cases(f, inproc.today(), args)
    os.environ["BOARD_SNAPSHOT_MAX_AGE"] = str(SNAPSHOT_AGE)  # Server passes os.environ on to gunicorn
    log("starting gunicorn")
    server = Server(args, url)
    try:
        server.wait_ready(60)
        client = Client(server.port, args.request_timeout)
        login(client)
        log(f"gunicorn on {HOST}:{server.port} ({args.workers} workers), logged in as {USERNAME}")
        for case in cases:
            run_case(client, case, args.warmup, args.case_seconds)
            if case.times:
                log(f"  {case.name:<48} p50 {percentile(case.times, 50):8.1f}  p95 {percentile(case.times, 95):8.1f}"
                    f"  max {max(case.times):8.1f} ms  n {len(case.times)}"
                    + (f"  ERRORS {case.errors}: {case.first_error}" if case.errors else ""))
    finally:
        server.stop()
        log("gunicorn stopped")
        if server.proc.returncode not in (0, -signal.SIGTERM, None) or "Traceback" in server.tail(200):
            print("gunicorn log (tail):\n" + server.tail(), file=sys.stderr)
        try:
            os.unlink(server.log.name)
        except OSError:
            pass

    log("replaying each case in-process to capture its SQL")
    inproc.replay([c for c in cases if c.times])

    # EXPLAIN: the two slowest statements of a period whose report is slow in the job or live over HTTP, and the
    # slowest statement of every case slower than --explain-over (or whose slowest statement is over 100 ms).
    _, per, sql = job["refresh"]
    slow = {k for k in PERIODS if per[k] and statistics.median(per[k]) > args.explain_over}
    for c in cases:
        m = re.match(r"live /board period=(\w+)&", c.name)
        if m and c.times and percentile(c.times, 50) > args.explain_over:
            slow.add(m.group(1))
    wanted = [(f"report of **{k}** (job)", x) for k in PERIODS if k in slow and k in sql for x in sql[k][:2]]
    for c in cases:
        if c.sql and c.times and (percentile(c.times, 50) > args.explain_over or c.sql[0][0] > 100):
            wanted += [(f"case «{c.name}»", x) for x in c.sql[:3] if x[0] > 20]
    seen, explained = set(), []
    for label, (ms, stmt, params) in wanted:
        if stmt in seen and "report of" not in label:
            continue  # the same SQL (other parameters) already explained
        seen.add(stmt)
        log(f"EXPLAIN (ANALYZE, BUFFERS): {label}, {ms:,.0f} ms")
        for ms2, text, plan in inproc.explain([(ms, stmt, params)]):
            explained.append((f"{label}: `{short(text)}`", ms2, text, plan))

    after = after_run_facts(url)
    block = report(args, f, after, cases, job, explained, started_at, server.cmd)
    print()
    print("\n".join(http_table(cases)))
    print()
    print("\n".join(job_table(job)))
    print()
    print("\n".join(sql_lines(job)))
    print()
    print("\n".join(replay_table(cases)))
    for c in cases:
        if c.sql and c.name == "snapshot /board period=month":
            print()
            print("\n".join(grouped(c)))
    for label, ms, _, plan in explained:
        print(f"\n-- {label} ({ms:,.0f} ms)\n{plan}")
    if not args.no_write:
        write_results(Path(args.output), block)
        log(f"written to {args.output}")
    return 1 if any(c.errors for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
