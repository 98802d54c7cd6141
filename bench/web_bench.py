#!/usr/bin/env python3
"""Staff pages against the floor of this stack (issue 16, goal 4): the app and a bare Flask «floor» app
(bench/floor_app.py: one `SELECT 1`, 20 KB of HTML) served side by side by gunicorn with the same settings
(gunicorn.conf.py, `-w 2`), loaded by wrk with 8 connections; per page req/s, p50/p95 and the ratio to the floor.

    python bench/web_bench.py                         # om_bench on 127.0.0.1, 3 rounds of 20 s per run
    python bench/web_bench.py --duration 10 --only queue --no-write
    python bench/web_bench.py --load                  # (re)load om_bench with 1,000,000 tickets first

Rounds are interleaved: in each of `--rounds` rounds every page is run right after a floor run (floor, page,
floor, page…), so both see the same machine; ratio = floor req/s ÷ page req/s per pair, and the median of the
rounds' ratios is reported. «alone»: p50 of `--alone` sequential requests from one client (a new connection each,
time to the last byte). Before the timed runs the board's snapshots are refreshed in-process (as
bench/board_bench.py does) and every page is fetched once with its session and checked (status 200, the expected
content). A benchmark, not a test: nothing asserts a time; any non-2xx answer or socket error under wrk is an
error and the script exits 1. The table goes to bench/RESULTS.md between the web-bench markers.

wrk (https://github.com/wg/wrk) must be installed: `sudo apt-get install wrk` on Debian/Ubuntu.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_bench import (  # noqa: E402  (the queue benchmark's client, server plumbing and helpers)
    BENCH,
    CSRF,
    DEFAULT_URL,
    HOST,
    PASSWORD,
    ROOT,
    Client,
    Server,
    free_port,
    gunicorn_path,
    log,
    machine,
    percentile,
    psycopg_url,
)

BEGIN, END = "<!-- web-bench:begin -->", "<!-- web-bench:end -->"
HEADING = "## Страницы против пола (issue 16)"
SNAPSHOT_AGE = 86400  # BOARD_SNAPSHOT_MAX_AGE of the server, as in board_bench.py: the snapshots stay valid
HEAD_USER = "bench_head"  # role head, for /rating (created in the database if missing, password "bench")

WRK_LUA = r"""
-- written by bench/web_bench.py: rotate over the paths, count non-2xx answers, print the figures as JSON
local paths = {%(paths)s}
local headers = {%(headers)s}
local bad = 0
local threads = {}
local i = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for k, v in pairs(headers) do wrk.headers[k] = v end
  i = math.random(#paths) - 1
end

function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end

function response(status, hdrs, body)
  if (status < 200 or status > 299) and status ~= 304 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do non2xx = non2xx + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format('WEBBENCH {"requests": %%d, "duration_us": %%d, "bytes": %%d, "p50_us": %%d, ' ..
    '"p95_us": %%d, "p99_us": %%d, "max_us": %%d, "non2xx": %%d, "connect": %%d, "read": %%d, "write": %%d, ' ..
    '"timeout": %%d}\n', summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(95), latency:percentile(99), latency.max, non2xx, e.connect, e.read, e.write, e.timeout))
end
"""


def lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Run:
    rps: float
    p50: float
    p95: float
    requests: int
    non2xx: int
    socket_errors: int
    kb: float


@dataclass
class Page:
    name: str
    paths: list[str]
    user: str | None  # None: public
    kind: str  # page | fragment
    marker: str  # a string every good answer contains
    headers: dict = field(default_factory=dict)
    timed_only: bool = False  # too slow for wrk (a recomputed report): only the sequential «alone» requests
    revalidate: bool = False  # a poll: sent with the If-None-Match of its first answer (304 when unchanged)
    runs: list[Run] = field(default_factory=list)
    floors: list[Run] = field(default_factory=list)
    alone: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [f.rps / r.rps for r, f in zip(self.runs, self.floors, strict=True) if r.rps > 0]


# --- the database ------------------------------------------------------------------------------------------
def facts(url: str) -> dict:
    with psycopg.connect(url, connect_timeout=5) as conn:
        if not conn.execute("SELECT to_regclass('public.tickets') IS NOT NULL").fetchone()[0]:
            return {"tickets": 0}
        f = {"tickets": conn.execute("SELECT count(*) FROM tickets").fetchone()[0]}
        if not f["tickets"]:
            return f
        f["numbers"] = [r[0] for r in conn.execute(
            "SELECT number FROM tickets TABLESAMPLE SYSTEM (2) REPEATABLE (7) LIMIT 50").fetchall()]
        f["users"] = {r[0]: r[1] for r in conn.execute(
            "SELECT username, role FROM users WHERE username IN ('moderator', 'executor', %s)", (HEAD_USER,))}
        f["newest"] = conn.execute("SELECT max(id) FROM tickets").fetchone()[0]
        f["slugs"] = [r[0] for r in conn.execute(
            "SELECT slug FROM institutions WHERE slug IS NOT NULL ORDER BY id LIMIT 20").fetchall()]
        f["snapshots"] = conn.execute("SELECT to_regclass('public.board_snapshots') IS NOT NULL").fetchone()[0]
        f["pg"] = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        f["db_size"] = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        f["accounts"] = conn.execute("SELECT count(*) FROM accounts").fetchone()[0] \
            if conn.execute("SELECT to_regclass('public.accounts') IS NOT NULL").fetchone()[0] else 0
        return f


def ensure_head(url: str) -> None:
    """A user with the role head for /rating (the loader makes only moderator and executor)."""
    from werkzeug.security import generate_password_hash

    with psycopg.connect(url) as conn:
        conn.execute("""INSERT INTO users (username, full_name, password_hash, role, institution_id, is_active_user,
                                           created_at) VALUES (%s, 'Глава (бенчмарк)', %s, 'head', NULL, true, now())
                        ON CONFLICT (username) DO NOTHING""", (HEAD_USER, generate_password_hash(PASSWORD)))


def refresh_board(url: str, app_dir: Path) -> float:
    """hotspots.detect() once and one board.refresh_snapshots(), in-process as board_bench.py does; seconds."""
    from board_bench import InProcess

    t0 = time.perf_counter()
    inproc = InProcess(url, app_dir)
    inproc.detect(0)
    inproc.refresh(1)
    with inproc.app.app_context():
        inproc.db.engine.dispose()
    return time.perf_counter() - t0


# --- servers ---------------------------------------------------------------------------------------------
class Gunicorn(Server):
    """queue_bench.Server's stop/tail, but started with the production gunicorn.conf.py and -w/-b overridden."""

    def __init__(self, args, url: str, target: str, label: str):
        self.port = free_port()
        self.label, self.ready_path = label, "/login" if target.startswith("app:") else "/"
        self.log = tempfile.NamedTemporaryFile(prefix=f"web-bench-{label}-", suffix=".log", delete=False)
        env = dict(os.environ, DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="bench-" + secrets.token_hex(16),
                   BOARD_SNAPSHOT_MAX_AGE=str(SNAPSHOT_AGE), BOARD_LONG_SNAPSHOT_MAX_AGE=str(SNAPSHOT_AGE))
        env.pop("REDIS_URL", None)  # background jobs in-process: nothing leaves this machine (as queue_bench.py)
        self.cmd = [gunicorn_path(args.gunicorn), "-c", str(args.app_dir / "gunicorn.conf.py"),
                    "-w", str(args.workers), "-b", f"{HOST}:{self.port}", "--log-level", "warning",
                    "--error-logfile", "-", target]
        self.proc = subprocess.Popen(self.cmd, cwd=args.app_dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.label}) exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if Client(self.port, 5).request("GET", self.ready_path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"gunicorn ({self.label}) did not answer within {seconds:.0f} s:\n{self.tail()}")


def login(port: int, username: str) -> Client:
    client = Client(port, 60)
    status, _, text, _ = client.request("GET", "/login")
    m = CSRF.search(text) if status == 200 else None
    if not m:
        raise RuntimeError(f"GET /login answered {status} without a csrf_token")
    token = html.unescape(m.group(1) or m.group(2))
    status, headers, text, _ = client.request("POST", "/login", {"csrf_token": token, "username": username,
                                                                 "password": PASSWORD})
    if status != 302 or "/login" in (headers.get("Location") or ""):
        snippet = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))[:300]
        raise RuntimeError(f"login as {username!r} failed: {status} {snippet}")
    return client


def check(page: Page, status: int, text: str) -> str | None:
    if page.kind == "poll":
        return None if status in (200, 304) else f"HTTP {status}"
    if status != 200:
        return f"HTTP {status}"
    if page.kind == "fragment" and "<html" in text:
        return "a full page instead of the HTMX fragment"
    if page.kind == "page" and "<html" not in text:
        return "not a full page"
    if page.marker not in text:
        return f"no {page.marker!r} in the answer"
    return None


# --- wrk -------------------------------------------------------------------------------------------------
def wrk(args, port: int, paths: list[str], headers: dict, workdir: Path) -> Run:
    script = workdir / f"wrk-{secrets.token_hex(4)}.lua"
    script.write_text(WRK_LUA % {"paths": ", ".join(lua_str(p) for p in paths),
                                 "headers": ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items())})
    cmd = [args.wrk, "-c", str(args.connections), "-t", str(args.threads), "-d", f"{args.duration}s",
           "--timeout", f"{args.timeout}s", "--latency", "-s", str(script), f"http://{HOST}:{port}{paths[0]}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.timeout + 60)
    m = re.search(r"^WEBBENCH (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    d = json.loads(m.group(1))
    seconds = d["duration_us"] / 1e6
    return Run(rps=d["requests"] / seconds, p50=d["p50_us"] / 1000, p95=d["p95_us"] / 1000, requests=d["requests"],
               non2xx=d["non2xx"], socket_errors=d["connect"] + d["read"] + d["write"] + d["timeout"],
               kb=d["bytes"] / max(d["requests"], 1) / 1024)


def alone(client: Client, paths: list[str], headers: dict, n: int, warmup: int = 3) -> list[float]:
    times = []
    for i in range(warmup + n):
        status, _, _, ms = client.request("GET", paths[i % len(paths)], headers=headers)
        if i >= warmup and (200 <= status < 300 or status == 304):
            times.append(ms)
    return times


# --- report ----------------------------------------------------------------------------------------------
def git_commit(app_dir: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(app_dir), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(app_dir), "status", "--porcelain", "--", "app", "config.py",
                                "gunicorn.conf.py"], capture_output=True, text=True, timeout=10).stdout.strip()
        return (head or "?") + (" + uncommitted changes in app/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def fmt_ratio(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def fmt_rps(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def table(pages: list[Page], floor_alone: list[float]) -> list[str]:
    def ms(values: list[float]) -> str:
        return f"{percentile(values, 50):.1f}" if values else ""

    floors = [f for p in pages for f in p.floors]
    out = ["| page | req/s | p50 ms | p95 ms | alone p50 ms | non-2xx + socket errors | "
           "ours ÷ floor (median of the rounds' req/s ratios; each round) |",
           "|---|---:|---:|---:|---:|---:|---|"]
    if floors:
        out.append(f"| floor `/` (`SELECT 1`, 20 KB) | {fmt_rps(statistics.median(f.rps for f in floors))} | "
                   f"{statistics.median(f.p50 for f in floors):.1f} | {statistics.median(f.p95 for f in floors):.1f} | "
                   f"{ms(floor_alone)} | {sum(f.non2xx + f.socket_errors for f in floors)} | 1× |")
    for p in pages:
        if p.timed_only and p.alone:
            ratio = f"**{fmt_ratio(percentile(p.alone, 50) / percentile(floor_alone, 50))}×** of time, alone" \
                if floor_alone else ""
            out.append(f"| {p.name} | | | | {ms(p.alone)} | | {ratio} |")
            continue
        if not p.runs:
            out.append(f"| {p.name} | | | | | | not run: {'; '.join(p.errors)[:200]} |")
            continue
        ratios = p.ratios
        ratio = (f"**{fmt_ratio(statistics.median(ratios))}×** ({', '.join(fmt_ratio(x) for x in ratios)})"
                 if ratios else "")
        out.append(f"| {p.name} | {fmt_rps(statistics.median(r.rps for r in p.runs))} | "
                   f"{statistics.median(r.p50 for r in p.runs):.1f} | {statistics.median(r.p95 for r in p.runs):.1f} | "
                   f"{ms(p.alone)} | {sum(r.non2xx + r.socket_errors for r in p.runs)} | {ratio} |")
    return out


def report(args, f: dict, pages: list[Page], floor_alone: list[float], started: datetime, loads: tuple,
           wall: float, cmds: list[list[str]], board_s: float | None) -> str:
    m = machine()
    lines = [BEGIN, f"### Run of {started.strftime('%Y-%m-%d %H:%M UTC')}", "",
             f"* machine: nproc {m['nproc']} ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}, Python "
             f"{m['python']}; load average {loads[0]} before, {loads[1]} after",
             f"* app: {args.app_dir} at git {git_commit(args.app_dir)}",
             f"* database: {f['pg']}, {f['tickets']:,} tickets, {f['db_size']}",
             f"* servers: `{' '.join(cmds[0][1:])}` and the same for `bench.floor_app:create_app()`, "
             f"side by side; BOARD_SNAPSHOT_MAX_AGE={SNAPSHOT_AGE}, LANGUAGE=ru, no REDIS_URL",
             f"* load: `wrk -c {args.connections} -t {args.threads} -d {args.duration}s --latency` with a Lua script "
             f"(the session cookie of a /login, `HX-Request: true` for the fragment; `/tickets/<number>` rotates over "
             f"{len(f['numbers'])} real numbers); {args.rounds} interleaved rounds (floor, page, floor, page…); "
             f"req/s, p50 and p95 are the medians over the rounds; ratio = floor req/s ÷ page req/s per round, "
             f"median (and each round's)",
             f"* alone: {args.alone} sequential requests from one client (new connection each, to the last byte), p50",
             ("* `/board` from the snapshots of one `board.refresh_snapshots()` run just before "
              f"({board_s:.0f} s with `hotspots.detect()`)" if board_s is not None else
              "* `/board`: snapshots not refreshed (--no-refresh)"),
             f"* `/rating` as `{HEAD_USER}` (role head) over om_bench's {f.get('accounts', 0)} network accounts "
             "(the demo's; the 550-account data set is bench/rating_bench.py's); `/my` as `executor`; "
             "the public pages (`/participants`, `/participants/<slug>` over 20 participants, `/stats`, "
             "`/status/<number>` over the same numbers, no personal link) without a session; the rest as `moderator`",
             f"* wall time {wall:.0f} s", "",
             *table(pages, floor_alone), ""]
    errs = [f"* {p.name}: {e}" for p in pages for e in p.errors]
    if errs:
        lines += ["Errors:", "", *errs, ""]
    lines.append(END)
    return "\n".join(lines)


def write_results(path: Path, block: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        intro = ("Written by `make bench-web` (bench/web_bench.py): the staff pages and a bare Flask floor app "
                 "under the same gunicorn settings, wrk with 8 connections; see bench/README.md.")
        text = text.rstrip() + f"\n\n{HEADING}\n\n{intro}\n\n{block}\n"
    path.write_text(text)


# --- main ------------------------------------------------------------------------------------------------
def build_pages(f: dict) -> list[Page]:
    fragment = {"HX-Request": "true"}
    return [
        Page("`/queue`", ["/queue"], "moderator", "page", "Очередь обращений"),
        Page("`/queue` HTMX fragment", ["/queue"], "moderator", "fragment", 'id="rows"', headers=fragment),
        Page("`/tickets/<number>`", [f"/tickets/{quote(n)}" for n in f["numbers"]], "moderator", "page", "Обращение"),
        Page("`/my` (executor)", ["/my"], "executor", "page", "<main"),
        Page("`/board` (from the snapshot)", ["/board"], "moderator", "page", 'id="board-figures"'),
        Page("`/board?period=year&fresh=1` (recomputed)", ["/board?period=year&fresh=1"], "moderator", "page",
             'id="board-figures"', timed_only=True),
        Page("`/queue/arrivals` poll, nothing new (If-None-Match)", [f"/queue/arrivals?after={f['newest']}"],
             "moderator", "poll", "", headers=fragment, revalidate=True),
        Page("`/control`", ["/control"], "moderator", "page", "<main"),
        Page("`/rating`", ["/rating"], HEAD_USER, "page", "<main"),
        Page("`/participants` (public)", ["/participants"], None, "page", "<main"),
        Page("`/participants/<slug>` (public)", [f"/participants/{quote(s)}" for s in f.get("slugs") or []], None,
             "page", "<main"),
        Page("`/stats` (public)", ["/stats"], None, "page", "<main"),
        Page("`/status/<number>` (public)", [f"/status/{quote(n)}" for n in f["numbers"]], None, "page", "<main"),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                    help=f"default: $BENCH_DATABASE_URL or {DEFAULT_URL}")
    ap.add_argument("--load", action="store_true", help="(re)load the database with bench/load_tickets.py first")
    ap.add_argument("--tickets", type=int, default=1_000_000, help="tickets for --load (default 1,000,000)")
    ap.add_argument("--connections", "-c", type=int, default=8, help="wrk connections (default 8)")
    ap.add_argument("--threads", "-t", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--duration", "-d", type=int, default=20, help="seconds of each wrk run (default 20)")
    ap.add_argument("--timeout", type=int, default=10, help="wrk's request timeout, seconds (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--alone", type=int, default=20, help="sequential single-client requests per page (default 20)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    ap.add_argument("--only", action="append", help="run only the pages whose name contains this (repeatable)")
    ap.add_argument("--no-refresh", action="store_true", help="skip the board's snapshot refresh")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="wrk executable")
    ap.add_argument("--gunicorn", help="gunicorn executable (default: the one next to this Python)")
    ap.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="checkout of the project to serve (default: this one), e.g. a `git archive` of a commit")
    args = ap.parse_args(argv)
    args.app_dir = args.app_dir.resolve()

    if not shutil.which(args.wrk):
        print("wrk is not installed (the HTTP load generator, https://github.com/wg/wrk). Install it:\n"
              "  sudo apt-get install wrk        # Debian / Ubuntu\n"
              "  brew install wrk                # macOS\n"
              "or pass --wrk /path/to/wrk.", file=sys.stderr)
        return 1
    url = psycopg_url(args.database_url)
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the benchmark runs against a database on this machine only (127.0.0.1)")
    if args.load:
        log(f"loading {args.tickets:,} tickets into {url}")
        rc = subprocess.run([sys.executable, str(BENCH / "load_tickets.py"), "--database-url", url,
                             "--tickets", str(args.tickets), "--app-dir", str(args.app_dir)]).returncode
        if rc:
            return rc
    try:
        f = facts(url)
    except psycopg.OperationalError as exc:
        f = {"tickets": 0, "why": str(exc).strip()}
    if not f["tickets"] or "moderator" not in f.get("users", {}):
        print(f"{url} has no tickets (or no bench users){': ' + f['why'] if f.get('why') else ''}. Load them first:\n"
              f"  python bench/load_tickets.py --database-url {url} --tickets 1000000   # ~1-2 min\n"
              "or run this script with --load.", file=sys.stderr)
        return 2
    ensure_head(url)

    started, t_start, load_before = datetime.now(timezone.utc), time.monotonic(), os.getloadavg()
    pages = build_pages(f)
    if args.only:
        pages = [p for p in pages if any(o.lower() in p.name.lower() for o in args.only)]
    board_s = None
    if not args.no_refresh and any("/board" in p.name for p in pages):
        log("refreshing the board's snapshots in-process (hotspots.detect() + board.refresh_snapshots())")
        board_s = refresh_board(url, args.app_dir)
        log(f"  done in {board_s:.1f} s")

    app = Gunicorn(args, url, "app:create_app()", "app")
    floor = Gunicorn(args, url, "bench.floor_app:create_app()", "floor")
    workdir = Path(tempfile.mkdtemp(prefix="web-bench-"))
    floor_alone: list[float] = []
    try:
        app.wait_ready(90)
        floor.wait_ready(60)
        log(f"app on {HOST}:{app.port}, floor on {HOST}:{floor.port} ({args.workers} workers each)")
        clients = {u: login(app.port, u) for u in sorted({p.user for p in pages if p.user})}
        clients[None] = Client(app.port, 60)
        status, _, text, _ = Client(floor.port, 10).request("GET", "/")
        if status != 200 or len(text.encode()) < 19_000:
            raise RuntimeError(f"the floor answered {status} with {len(text.encode())} bytes")
        for p in pages:  # one checked request per page (also a warm-up)
            client = clients[p.user]
            for path in p.paths[:3]:
                status, hdrs, text, _ = client.request("GET", path, headers=p.headers)
                err = check(p, status, text)
                if err:
                    p.errors.append(f"{path}: {err}")
                    break
                if p.revalidate:
                    etag = hdrs.get("ETag")
                    if not etag:
                        p.errors.append(f"{path}: no ETag")
                        break
                    p.headers = {**p.headers, "If-None-Match": etag}
            if p.user:
                p.headers = {**p.headers, "Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}
            p.headers.setdefault("Accept-Language", "ru")
        pages_ok = [p for p in pages if not p.errors]
        for r in range(1, args.rounds + 1):
            for p in pages_ok:
                if p.timed_only:
                    continue
                fl = wrk(args, floor.port, ["/"], {"Accept-Language": "ru"}, workdir)
                run = wrk(args, app.port, p.paths, p.headers, workdir)
                p.floors.append(fl)
                p.runs.append(run)
                log(f"round {r}  {p.name:<32} {run.rps:8.1f} req/s  p50 {run.p50:7.1f}  p95 {run.p95:7.1f} ms"
                    f" | floor {fl.rps:8.1f} req/s  → {fl.rps / max(run.rps, 1e-9):6.1f}×"
                    + (f"  non-2xx {run.non2xx} socket errors {run.socket_errors}"
                       if run.non2xx or run.socket_errors else ""))
                if run.non2xx or run.socket_errors or fl.non2xx or fl.socket_errors:
                    p.errors.append(f"round {r}: {run.non2xx} non-2xx, {run.socket_errors} socket errors "
                                    f"(floor: {fl.non2xx}, {fl.socket_errors})")
        log(f"alone: {args.alone} sequential requests per page")
        floor_alone = alone(Client(floor.port, 10), ["/"], {}, args.alone)
        for p in pages_ok:
            hdrs = {k: v for k, v in p.headers.items() if k != "Cookie"}
            n = max(3, args.alone // 4) if p.timed_only else args.alone
            p.alone = alone(clients[p.user], p.paths, hdrs, n, warmup=1 if p.timed_only else 3)
            if len(p.alone) < n:
                p.errors.append(f"alone: {n - len(p.alone)} answers not 2xx")
    finally:
        for server in (app, floor):
            server.stop()
            if "Traceback" in server.tail(400):
                print(f"gunicorn ({server.label}) log (tail):\n{server.tail()}", file=sys.stderr)
            try:
                os.unlink(server.log.name)
            except OSError:
                pass
        shutil.rmtree(workdir, ignore_errors=True)
        log("servers stopped")

    block = report(args, f, pages, floor_alone, started, (
        " ".join(f"{x:.2f}" for x in load_before), " ".join(f"{x:.2f}" for x in os.getloadavg())),
        time.monotonic() - t_start, [app.cmd, floor.cmd], board_s)
    print()
    print(block)
    if not args.no_write:
        write_results(Path(args.output), block)
        log(f"written to {args.output}")
    return 1 if any(p.errors for p in pages) else 0


if __name__ == "__main__":
    sys.exit(main())
