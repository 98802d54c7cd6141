#!/usr/bin/env python3
"""Latency of the ticket queue through the real app: gunicorn on loopback, a moderator logged in through
the /login form, N sequential GETs per common filter; p50 / p95 / max and rows per page.

    python bench/queue_bench.py                       # om_bench on 127.0.0.1, 200 requests per case
    python bench/queue_bench.py --requests 50 --no-write
    python bench/queue_bench.py --load --tickets 1000000   # (re)load the data set first

A benchmark, not a test: nothing here asserts a time. A case whose responses are not 200 or lack the
expected content is reported as an error (and the script exits 1).

After the HTTP timings, every case is replayed once in-process (Flask test client, same code, same
database) with the SQL it issues captured; the slowest statements get EXPLAIN (ANALYZE, BUFFERS).
The table and the plans go to bench/RESULTS.md between the "bench:begin/end" markers; the rest of that
file (the written analysis) is kept.
"""
from __future__ import annotations

import argparse
import html
import http.client
import json
import math
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent  # the project; --app-dir may point at another checkout
BENCH = Path(__file__).resolve().parent

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/om_bench"
HOST = "127.0.0.1"
USERNAME, PASSWORD = "moderator", "bench"
COMMON_WORD, RARE_WORD = "мусор", "электросамокат"
DEEP_PAGES = 20
SLOW_SQL_MS = 20.0  # statements slower than this in the replay always get a plan
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)


# --- a tiny HTTP client (stdlib only: the project's requirements have no requests/httpx) ----------------
class Client:
    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        """(status, headers, text, milliseconds): the time from sending to the last byte of the body."""
        hdrs = {"Accept": "text/html", "Accept-Language": "ru"}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        hdrs.update(headers or {})
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        try:
            started = time.perf_counter()
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            ms = (time.perf_counter() - started) * 1000
        finally:
            conn.close()
        for header in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return resp.status, resp.headers, raw.decode("utf-8", "replace"), ms


CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
NEXT = re.compile(r'<a class="next" href="([^"]+)"')


def login(client: Client) -> None:
    status, _, text, _ = client.request("GET", "/login")
    if status != 200:
        raise RuntimeError(f"GET /login answered {status}")
    m = CSRF.search(text)
    if not m:
        raise RuntimeError("no csrf_token hidden input on /login")
    token = html.unescape(m.group(1) or m.group(2))
    status, headers, text, _ = client.request("POST", "/login", {"csrf_token": token, "username": USERNAME,
                                                                 "password": PASSWORD})
    if status != 302 or "/queue" not in (headers.get("Location") or ""):
        snippet = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text))[:300]
        raise RuntimeError(f"login as {USERNAME!r} failed: {status} {snippet}")


# --- gunicorn --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def gunicorn_path(given: str | None) -> str:
    if given:
        return given
    here = Path(sys.executable).parent / "gunicorn"
    return str(here) if here.exists() else "gunicorn"


class Server:
    def __init__(self, args, url: str):
        self.port = args.port or free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="queue-bench-gunicorn-", suffix=".log", delete=False)
        env = dict(os.environ, DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="bench-" + secrets.token_hex(16))
        env.pop("REDIS_URL", None)  # background jobs in-process: nothing leaves this machine
        cmd = [gunicorn_path(args.gunicorn), "-w", str(args.workers), "-b", f"{HOST}:{self.port}",
               "--timeout", str(int(args.request_timeout) + 5), "--log-level", "warning",
               "--error-logfile", "-", "app:create_app()"]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, cwd=args.app_dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                status, _, _, _ = Client(self.port, 5).request("GET", "/login")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"gunicorn did not answer on {HOST}:{self.port} within {seconds:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        self.log.close()


# --- cases -----------------------------------------------------------------------------------------
@dataclass
class Case:
    name: str
    paths: list[str]  # rotated over the requests
    kind: str = "page"  # page | fragment | detail | poll
    headers: dict = field(default_factory=dict)
    expect_rows: bool = True
    note: str = ""
    times: list[float] = field(default_factory=list)
    rows: int | None = None
    errors: int = 0
    first_error: str = ""
    skipped: str = ""
    sql: list = field(default_factory=list)  # (ms, statement, params) from the in-process replay
    explain: list = field(default_factory=list)  # (ms, statement text, plan text)

    @property
    def path(self) -> str:
        return self.paths[0]


def q(**params) -> str:
    return "/queue" + ("?" + urlencode(params) if params else "")


def check(case: Case, status: int, text: str) -> tuple[str | None, int | None]:
    """(error or None, rows on the page)."""
    if status != 200:
        m = re.search(r"<h1>(.*?)</h1>", text, re.S)
        return f"HTTP {status}" + (f": {html.unescape(m.group(1)).strip()}" if m else ""), None
    rows = text.count('<tr id="row-')
    if case.kind == "page":
        if "<html" not in text or "Очередь обращений" not in text:
            return "not the queue page (no <html> / «Очередь обращений»)", rows
    elif case.kind == "fragment":
        if "<html" in text:
            return "a full page instead of the HTMX fragment", rows
        if 'id="rows"' not in text and 'class="empty"' not in text:
            return "no list in the fragment", rows
    elif case.kind == "detail":
        if "Обращение" not in text or "<html" not in text:
            return "not a ticket page", None
        return None, None
    elif case.kind == "poll":
        return (None if 'id="arrivals-poller"' in text else "no poller in the arrivals fragment"), rows
    if case.expect_rows and rows == 0:
        return "no rows (the filter found nothing)", rows
    return None, rows


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def run_case(client: Client, case: Case, n: int, warmup: int, budget: float) -> None:
    started = time.monotonic()
    for i in range(warmup + n):
        if time.monotonic() - started > budget:
            case.skipped = f"time budget {budget:.0f} s reached after {len(case.times)} requests"
            break
        path = case.paths[i % len(case.paths)]
        try:
            status, _, text, ms = client.request("GET", path, headers=case.headers)
        except (OSError, http.client.HTTPException) as exc:
            status, text, ms = 0, f"{type(exc).__name__}: {exc}", None
        if i < warmup:
            continue
        err, rows = check(case, status, text) if status else (text, None)
        if case.kind == "detail" and err is None:
            number = unquote(path.rsplit("/", 1)[-1])
            if number not in text:
                err = f"ticket {number} not on its page"
        if ms is not None:
            case.times.append(ms)
        if rows is not None:
            case.rows = rows
        if err:
            case.errors += 1
            case.first_error = case.first_error or f"{path}: {err}"


def follow_next(client: Client, path: str, pages: int, headers: dict | None = None) -> tuple[str, int]:
    """Follow the «Дальше →» link `pages` times; (the URL reached, pages actually followed)."""
    current = path
    for i in range(pages):
        status, _, text, _ = client.request("GET", current, headers=headers)
        m = NEXT.search(text) if status == 200 else None
        if not m:
            return current, i
        current = html.unescape(m.group(1))
    return current, pages


# --- database facts ----------------------------------------------------------------------------------
def facts(url: str) -> dict:
    with psycopg.connect(url, connect_timeout=5) as conn:
        exists = conn.execute("SELECT to_regclass('public.tickets') IS NOT NULL").fetchone()[0]
        if not exists:
            return {"tickets": 0}
        total = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        if not total:
            return {"tickets": 0}
        f = {"tickets": total}
        f["status"] = dict(conn.execute("SELECT status, count(*) FROM tickets GROUP BY 1 ORDER BY 2 DESC").fetchall())
        f["open"] = sum(v for k, v in f["status"].items()
                        if k in ("new", "assigned", "in_progress", "waiting_resident"))
        f["overdue"] = conn.execute("""SELECT count(*) FROM tickets WHERE
            (status IN ('new','assigned','in_progress') AND resolution_due_at < now())
            OR (status = 'waiting_resident' AND sla_paused_at > resolution_due_at)""").fetchone()[0]
        by_inst = conn.execute("""SELECT t.institution_id, i.short_name, count(*), count(*) FILTER (WHERE t.status IN
                                         ('new','assigned','in_progress','waiting_resident'))
                                    FROM tickets t JOIN institutions i ON i.id = t.institution_id
                                   GROUP BY 1, 2 ORDER BY 3 DESC""").fetchall()
        f["inst_big"] = by_inst[0]
        f["inst_small"] = by_inst[len(by_inst) * 3 // 4]  # a quarter of the institutions have fewer tickets
        by_dir = conn.execute("""SELECT d.id, d.name, count(*) FROM tickets t
                                   JOIN institutions i ON i.id = t.institution_id
                                   JOIN directions d ON d.id = i.direction_id
                                  GROUP BY 1, 2 ORDER BY 3 DESC""").fetchall()
        f["dir_big"], f["dir_small"] = by_dir[0], by_dir[-1]
        f["cat_big"] = conn.execute("""SELECT c.id, c.name, count(*) FROM tickets t
                                         JOIN categories c ON c.id = t.category_id
                                        GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 1""").fetchone()
        f["network_vk"] = conn.execute("SELECT count(*) FROM tickets WHERE network = 'vk'").fetchone()[0]
        for key, word in (("common", COMMON_WORD), ("rare", RARE_WORD)):
            f[key] = conn.execute("SELECT count(*), count(*) FILTER (WHERE status IN "
                                  "('new','assigned','in_progress','waiting_resident')) FROM tickets "
                                  "WHERE summary ILIKE %s OR address ILIKE %s", (f"%{word}%", f"%{word}%")).fetchone()
        f["numbers"] = [r[0] for r in conn.execute(
            "SELECT number FROM tickets TABLESAMPLE SYSTEM (2) REPEATABLE (7) LIMIT 400").fetchall()]
        f["max_id"] = conn.execute("SELECT max(id) FROM tickets").fetchone()[0]
        f["pg"] = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        f["settings"] = dict(conn.execute("""SELECT name, current_setting(name) FROM pg_settings WHERE name IN
            ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit',
             'max_parallel_workers_per_gather')""").fetchall())
        f["db_size"] = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        comment = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                               "WHERE datname = current_database()").fetchone()[0] or ""
        f["load"] = json.loads(comment[len("om-bench "):]) if comment.startswith("om-bench ") else {}
        f["users"] = conn.execute("SELECT count(*) FROM users WHERE username = %s", (USERNAME,)).fetchone()[0]
        return f


def build_cases(f: dict, only: list[str] | None) -> list[Case]:
    ib, isml, db_, ds, cb = f["inst_big"], f["inst_small"], f["dir_big"], f["dir_small"], f["cat_big"]
    number = f["numbers"][0]
    cases = [
        Case("default (open, newest first)", [q()]),
        Case("status=new", [q(status="new")]),
        Case("status=all", [q(status="all")]),
        Case("overdue", [q(overdue="y")], note=f"{f['overdue']:,} overdue"),
        Case("institution (largest)", [q(institution=ib[0])], note=f"{ib[1]}: {ib[2]:,} tickets, {ib[3]:,} open"),
        Case("institution (small)", [q(institution=isml[0])], note=f"{isml[1]}: {isml[2]:,} tickets, {isml[3]:,} open"),
        Case("direction (largest)", [q(direction=db_[0])], note=f"{db_[1]}: {db_[2]:,} tickets"),
        Case("direction (smallest)", [q(direction=ds[0])], note=f"{ds[1]}: {ds[2]:,} tickets"),
        Case("status=new + direction (smallest)", [q(status="new", direction=ds[0])],
             note="the worst combination found by hand"),
        Case("category (largest)", [q(category=cb[0])], note=f"{cb[1]}: {cb[2]:,} tickets"),
        Case("network=vk", [q(network="vk")], note=f"{f['network_vk']:,} tickets"),
        Case("sort=due", [q(sort="due")]),
        Case(f"q={COMMON_WORD} (common word)", [q(q=COMMON_WORD)],
             note=f"{f['common'][0]:,} tickets match, {f['common'][1]:,} open"),
        Case(f"q={RARE_WORD} (rare word)", [q(q=RARE_WORD)],
             note=f"{f['rare'][0]:,} tickets match, {f['rare'][1]:,} open"),
        Case("q=<ticket number>, status=all", [q(status="all", q=n) for n in f["numbers"][:50]],
             note=f"e.g. {number}"),
        Case(f"deep page {DEEP_PAGES + 1} (keyset cursor)", [q()], note="filled in after following «Дальше»"),
        Case("HTMX fragment (HX-Request)", [q()], kind="fragment", headers={"HX-Request": "true"}),
        Case("live arrivals poll", [f"/queue/arrivals?after={f['max_id'] - 20}"], kind="poll", expect_rows=False,
             note="polled every 10 s by each open queue"),
        Case("ticket detail /tickets/<number>", [f"/tickets/{quote(n)}" for n in f["numbers"][:200]], kind="detail",
             expect_rows=False, note=f"{min(200, len(f['numbers']))} different tickets in turn"),
    ]
    if only:
        cases = [c for c in cases if any(o.lower() in c.name.lower() for o in only)]
    return cases


# --- in-process replay: the SQL each case issues, and EXPLAIN of the slowest -----------------------------
def replay_sql(url: str, app_dir: Path, cases: list[Case], explain_top: int, explain_all_over: float) -> None:
    os.environ.update(DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="bench-replay-" + secrets.token_hex(16))
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(app_dir))
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db

    app = create_app()
    captured: list = []

    with app.app_context():
        engine = db.engine

        def before(conn, cursor, statement, parameters, context, executemany):
            conn.info.setdefault("bench_t", []).append(time.perf_counter())

        def after(conn, cursor, statement, parameters, context, executemany):
            started = conn.info["bench_t"].pop()
            captured.append(((time.perf_counter() - started) * 1000, statement, parameters))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)

    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    m = CSRF.search(page)
    resp = client.post("/login", data={"csrf_token": html.unescape(m.group(1) or m.group(2)), "username": USERNAME,
                                       "password": PASSWORD})
    if resp.status_code != 302:
        raise RuntimeError(f"in-process login failed: {resp.status_code}")
    for case in cases:
        for _ in range(2):  # the second run is the one kept: warm caches, like the HTTP timings
            captured.clear()
            client.get(case.path, headers=case.headers)
        case.sql = sorted(captured, key=lambda x: -x[0])

    # The statements worth a plan: the slowest ones of the replay (HTTP p95 is mostly Python and noise).
    ranked = sorted((c for c in cases if c.sql), key=lambda c: -c.sql[0][0])
    chosen = ranked[:explain_top] + [c for c in ranked[explain_top:] if c.sql[0][0] > explain_all_over]
    with app.app_context():
        with db.engine.connect() as conn:
            for case in chosen:
                for ms, statement, params in case.sql[:1]:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).fetchall()
                    case.explain.append((ms, inline(statement, params), "\n".join(r[0] for r in plan)))
                conn.rollback()


def inline(statement: str, params) -> str:
    """The statement with its parameters written in (for reading; the plans ran with real parameters)."""
    if not isinstance(params, dict):
        return statement

    def lit(v):
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(v)
        if isinstance(v, datetime):
            return f"'{v.isoformat()}'"
        return "'" + str(v).replace("'", "''") + "'"

    return re.sub(r"%\((\w+)\)s", lambda m: lit(params.get(m.group(1))), statement)


# --- report ----------------------------------------------------------------------------------------------
def app_revision(app_dir: Path) -> str:
    try:
        rev = subprocess.run(["git", "-C", str(app_dir), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        top, head = rev.stdout.split()
        if Path(top).resolve() != app_dir:
            raise ValueError
        dirty = subprocess.run(["git", "-C", str(app_dir), "status", "--porcelain", "--", "app", "migrations",
                                "config.py"], capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{app_dir} at {head[:10]}" + (" + uncommitted changes in app/migrations" if dirty else "")
    except (OSError, ValueError, subprocess.SubprocessError):
        return str(app_dir)


def machine() -> dict:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "ram": mem, "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version()}


def table(cases: list[Case]) -> list[str]:
    out = ["| case | rows | p50 ms | p95 ms | max ms | n | SQL stmts | slowest SQL ms | errors | notes |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in cases:
        if not c.times:
            out.append(f"| {c.name} | | | | | 0 | | | | {c.skipped or 'not run'} |")
            continue
        slow = f"{c.sql[0][0]:.1f}" if c.sql else ""
        notes = "; ".join(x for x in (c.note, c.skipped, c.first_error) if x).replace("|", "\\|")
        out.append(f"| {c.name} | {'' if c.rows is None else c.rows} | {percentile(c.times, 50):.1f} | "
                   f"{percentile(c.times, 95):.1f} | {max(c.times):.1f} | {len(c.times)} | {len(c.sql) or ''} | "
                   f"{slow} | {c.errors} | {notes} |")
    return out


def report(args, f: dict, cases: list[Case], started: datetime, wall: float, server_cmd: list[str]) -> str:
    m = machine()
    load = f.get("load") or {}
    lines = [BEGIN,
             f"## Run of {started.strftime('%Y-%m-%d %H:%M UTC')}",
             "",
             f"* machine: {m['nproc']} CPU ({m['cpu']}), {m['ram']} RAM, Linux {m['kernel']}, Python {m['python']}",
             f"* database: {f['pg']} on 127.0.0.1, {f['db_size']}; "
             + ", ".join(f"{k}={v}" for k, v in f["settings"].items()),
             f"* data: {f['tickets']:,} tickets ("
             + ", ".join(f"{k} {v / f['tickets']:.1%}" for k, v in f["status"].items())
             + f"); open {f['open']:,}, overdue {f['overdue']:,}"
             + (f"; {load.get('residents', 0):,} residents, {load.get('messages', 0):,} messages, "
                f"{load.get('events', 0):,} events" if load else ""),
             ]
    if load:
        lines.append(f"* loaded by bench/load_tickets.py at {load.get('loaded_at')} in {load.get('load_seconds')} s ("
                     + ", ".join(f"{k} {v} s" for k, v in (load.get("phases") or {}).items()) + ")")
    lines += [
        f"* app: {app_revision(args.app_dir)}",
        f"* server: `{' '.join(server_cmd[1:])}` (LANGUAGE=ru), client: sequential requests on one "
        f"loopback connection each, logged in as `{USERNAME}` through /login",
        f"* per case: {args.warmup} warm-up requests, then {args.requests} timed (time from sending the request to "
        f"the last byte); rows = ticket rows on the page; SQL columns from one in-process replay of the same URL",
        f"* wall time of the run: {wall:.0f} s",
        "",
        *table(cases),
        "",
    ]
    listed = [c for c in cases if c.sql and (c is cases[0] or c.kind == "detail")]
    if listed:
        lines += ["### Every SQL statement of one request (in-process replay, slowest first)", ""]
        for c in listed:
            lines += [f"`{c.path}` ({c.name}): {len(c.sql)} statements, {sum(x[0] for x in c.sql):.1f} ms in all", "",
                      "| ms | statement |", "|---:|---|"]
            for ms, stmt, _ in c.sql:
                one = re.sub(r"\s+", " ", stmt).strip()
                one = re.sub(r"^SELECT .{60,}? FROM", "SELECT … FROM", one)
                lines.append(f"| {ms:.1f} | `{one[:160].replace('|', '/')}{'…' if len(one) > 160 else ''}` |")
            lines.append("")
    explained = [c for c in cases if c.explain]
    if explained:
        lines += ["### EXPLAIN (ANALYZE, BUFFERS) of the slowest statements", ""]
        for c in explained:
            for ms, stmt, plan in c.explain:
                lines += [f"#### {c.name} — `{c.path}` ({ms:.1f} ms in the replay)", "",
                          "```sql", stmt.strip(), "```", "", "```", plan, "```", ""]
    lines.append(END)
    return "\n".join(lines)


def write_results(path: Path, block: str) -> None:
    head = "# Queue benchmark results\n\nWritten by `bench/queue_bench.py`; the analysis above the run is by hand.\n\n"
    text = path.read_text() if path.exists() else head
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


# --- main ------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                    help=f"default: $BENCH_DATABASE_URL or {DEFAULT_URL}")
    ap.add_argument("--requests", type=int, default=200, help="timed requests per case (default 200)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed requests per case first")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    ap.add_argument("--port", type=int, default=0, help="default: a free port on 127.0.0.1")
    ap.add_argument("--gunicorn", help="gunicorn executable (default: the one next to this Python)")
    ap.add_argument("--case-seconds", type=float, default=120, help="time budget of one case")
    ap.add_argument("--max-minutes", type=float, default=45, help="time budget of the whole run")
    ap.add_argument("--request-timeout", type=float, default=60)
    ap.add_argument("--only", action="append", help="run only cases whose name contains this (repeatable)")
    ap.add_argument("--explain-top", type=int, default=4,
                    help="EXPLAIN the slowest statement of the N cases with the slowest SQL")
    ap.add_argument("--no-explain", action="store_true", help="skip the in-process SQL replay and EXPLAIN")
    ap.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print only, do not touch RESULTS.md")
    ap.add_argument("--load", action="store_true", help="(re)load the data set with bench/load_tickets.py first")
    ap.add_argument("--tickets", type=int, default=1_000_000, help="tickets for --load")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="checkout of the project to serve (default: this one), e.g. a `git archive` of a commit")
    args = ap.parse_args(argv)
    args.app_dir = args.app_dir.resolve()
    if not (args.app_dir / "app" / "__init__.py").exists():
        ap.error(f"--app-dir {args.app_dir}: no app/ package there")
    if args.requests < 1 or args.requests > 10_000:
        ap.error("--requests: 1..10000")

    url = psycopg_url(args.database_url)
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the benchmark runs against a database on this machine only (127.0.0.1)")
    if args.load:
        subprocess.run([sys.executable, str(BENCH / "load_tickets.py"), "--database-url", url,
                        "--tickets", str(args.tickets), "--app-dir", str(args.app_dir)], check=True)
    try:
        f = facts(url)
    except psycopg.OperationalError as exc:
        print(f"Cannot open {url}: {exc}".strip(), file=sys.stderr)
        print("Load the data set first:  python bench/load_tickets.py --database-url " + url, file=sys.stderr)
        return 2
    if not f["tickets"]:
        print(f"{url} has no tickets. Load them first:\n"
              f"  python bench/load_tickets.py --database-url {url} --tickets 1000000\n"
              f"or run this script with --load.", file=sys.stderr)
        return 2
    if not f["users"]:
        print(f"No user {USERNAME!r} in {url}: load the data with bench/load_tickets.py.", file=sys.stderr)
        return 2

    cases = build_cases(f, args.only)
    started_at = datetime.now(timezone.utc)
    t0 = time.monotonic()
    deadline = t0 + args.max_minutes * 60
    log(f"{f['tickets']:,} tickets in {urlsplit(url).path.lstrip('/')}; starting gunicorn")
    server = Server(args, url)
    try:
        server.wait_ready(60)
        client = Client(server.port, args.request_timeout)
        login(client)
        log(f"gunicorn on {HOST}:{server.port} ({args.workers} workers), logged in as {USERNAME}")
        for _ in range(2 * args.workers):  # every worker opens its pool and loads templates
            client.request("GET", "/queue")
        for case in cases:
            if time.monotonic() > deadline:
                case.skipped = f"not run: --max-minutes {args.max_minutes:g} reached"
                continue
            if case.name.startswith("deep page"):
                target, followed = follow_next(client, q(), DEEP_PAGES)
                case.paths = [target]
                case.note = f"followed «Дальше» {followed} times"
                if followed < DEEP_PAGES:
                    case.first_error = f"only {followed} «Дальше» links"
                    case.errors += 1
            budget = min(args.case_seconds, max(1.0, deadline - time.monotonic()))
            run_case(client, case, args.requests, args.warmup, budget)
            if case.times:
                log(f"  {case.name:<40} p50 {percentile(case.times, 50):7.1f}  p95 {percentile(case.times, 95):7.1f}"
                    f"  max {max(case.times):7.1f} ms  rows {case.rows if case.rows is not None else '-':>3}"
                    + (f"  ERRORS {case.errors}: {case.first_error}" if case.errors else ""))
        status, _, _, _ = client.request("GET", "/queue")  # still alive after the run?
        if status != 200:
            log(f"after the run /queue answered {status}")
    finally:
        server.stop()
        log("gunicorn stopped")
        if server.proc.returncode not in (0, -signal.SIGTERM, None) or "Traceback" in server.tail(200):
            print("gunicorn log (tail):\n" + server.tail(), file=sys.stderr)
        try:
            os.unlink(server.log.name)
        except OSError:
            pass
    wall = time.monotonic() - t0

    if not args.no_explain:
        log("replaying each case in-process to capture its SQL; EXPLAIN (ANALYZE, BUFFERS) of the slowest")
        replay_sql(url, args.app_dir, cases, args.explain_top, SLOW_SQL_MS)

    block = report(args, f, cases, started_at, wall, server.cmd)
    print()
    print("\n".join(table(cases)))
    for c in cases:
        for ms, _, plan in c.explain:
            print(f"\n-- {c.name}: {c.path}  ({ms:.1f} ms)\n{plan}")
    if not args.no_write:
        write_results(Path(args.output), block)
        log(f"written to {args.output}")
    return 1 if any(c.errors for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
