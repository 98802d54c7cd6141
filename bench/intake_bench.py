"""Intake throughput: messages per second from the webhook to a ticket, on this machine.

    .venv/bin/python bench/intake_bench.py [--messages 5000] [--clients 16] [--web-workers 2] [--rq-workers 2]
    .venv/bin/python bench/intake_bench.py --client wrk [--duration 10] [--clients 16]   # a client past 1,000 req/s

Real pieces only: gunicorn serving the app on loopback, PostgreSQL (its own database `om_intake_bench`,
rebuilt by the migrations), Redis, `python worker.py` processes on the intake and replies queues, and the
local fake of the VK API taking the acknowledgements. The load is VK `message_new` callbacks from distinct
residents, posted by concurrent clients. Reports: webhook answers per second (stored + answered), and the
time until every message has become a ticket (webhook to ticket), plus acknowledgements delivered.
A benchmark, not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from app.demo.simulate import DEMO_ENV, SECRET  # noqa: E402
from app.fakes import vk  # noqa: E402
from bench.queue_bench import free_port  # noqa: E402

DB_URL = "postgresql://postgres@127.0.0.1:5432/om_intake_bench"
ACK_QUEUE = "acks"
GROUP_ID = 187654321


def recreate(url: str) -> None:
    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values))) - 1))]


class Client:
    """The same load for the app and the floor: `clients` threads POSTing the payloads over urllib."""

    def __init__(self, clients: int):
        self.clients = clients

    def run(self, url: str, payloads: list[bytes]) -> tuple[float, list[int], list[float]]:
        latencies: list[float] = []
        lock = threading.Lock()

        def post(body: bytes) -> int:
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    resp.read()
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
            return status

        t0 = time.perf_counter()
        with ThreadPoolExecutor(self.clients) as pool:
            statuses = list(pool.map(post, payloads))
        return time.perf_counter() - t0, statuses, latencies


WRK_LUA = r"""
-- written by bench/intake_bench.py: distinct VK message_new callbacks (a new resident and message id per request:
-- base + thread number × 10^7 + the thread's counter), non-2xx answers counted, the figures printed as JSON
local base = %(base)d
local threads = {}
local bad = 0
local n = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)  -- a global of that thread's own Lua state
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local id = base + tid * 10000000 + n
  local body = string.format(%(template)s, id, id, id, id, id, id)
  return wrk.format("POST", nil, nil, body)
end

function response(status, hdrs, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do non2xx = non2xx + (t:get("bad") or 0) end
  local e = summary.errors
  io.write(string.format('INTAKEBENCH {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p95_us": %%d, ' ..
    '"non2xx": %%d, "errors": %%d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), non2xx, e.connect + e.read + e.write + e.timeout))
end
"""


def vk_body_template(secret: str) -> str:
    """A VK message_new callback as a Lua format string: %d for the resident, peer, message ids, the text's house
    number and the event id (the same shape as app/fakes/vk.message_new)."""
    body = json.dumps(vk.message_new(GROUP_ID, 111, "Нет воды в доме 222 на ул. Кирова, третий день",
                                     conversation_message_id=333, secret=secret, event_id="ev444",
                                     date=int(time.time())), ensure_ascii=False)
    body = body.replace("%", "%%")
    for token, fmt in (('"from_id": 111', '"from_id": %d'), ('"peer_id": 111', '"peer_id": %d'),
                       ('"id": 333', '"id": %d'), ('"conversation_message_id": 333', '"conversation_message_id": %d'),
                       ("доме 222", "доме %d"), ('"ev444"', '"ev%d"')):
        assert token in body, token
        body = body.replace(token, fmt, 1)
    body = body.replace('"version": 10000333', '"version": 1')
    return '"' + body.replace("\\", "\\\\").replace('"', '\\"') + '"'


class WrkClient:
    """wrk (C, an event loop per thread) with `clients` connections for `duration` seconds, each request a distinct
    VK callback: a client that is not the limit at 1,000+ requests a second on this machine."""

    def __init__(self, clients: int, duration: int, threads: int, workdir: Path):
        self.clients, self.duration, self.threads, self.workdir = clients, duration, threads, workdir
        self.runs = 0

    def run(self, url: str, base: int, duration: int | None = None) -> tuple[float, int, int, float, float]:
        """(req/s answered 2xx, answered 2xx, non-2xx + socket errors, p50 ms, p95 ms)"""
        self.runs += 1
        duration = duration or self.duration
        script = self.workdir / f"intake-wrk-{self.runs}.lua"
        script.write_text(WRK_LUA % {"base": base, "template": vk_body_template(SECRET)})
        cmd = ["wrk", "-c", str(self.clients), "-t", str(self.threads), "-d", f"{duration}s", "--timeout", "30s",
               "--latency", "-s", str(script), url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
        m = re.search(r"^INTAKEBENCH (\{.*\})$", out.stdout, re.M)
        if out.returncode != 0 or not m:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
        d = json.loads(m.group(1))
        seconds = d["duration_us"] / 1e6
        return (d["requests"] - d["non2xx"]) / seconds, d["requests"] - d["non2xx"], d["non2xx"] + d["errors"], \
            d["p50_us"] / 1000, d["p95_us"] / 1000


def wait_up(base: str, path: str = "/login") -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(base + path, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not come up")


def gunicorn(bin_dir: Path, app: str, workers: int, port: int, env: dict) -> subprocess.Popen:
    """The app and the floor under the same settings: gunicorn.conf.py (gc.freeze after start-up), `-w N`."""
    return subprocess.Popen([str(bin_dir / "gunicorn"), "-c", "gunicorn.conf.py", "-w", str(workers),
                             "-b", f"127.0.0.1:{port}", "--log-level", "warning", app], cwd=ROOT, env=env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--rq-workers", type=int, default=2, help="worker.py processes (each serves --queues)")
    ap.add_argument("--queues", default="", help="queues each worker serves, comma-separated (default: worker.py's "
                                                 "default, all queues in their priority order)")
    ap.add_argument("--ack-workers", type=int, default=0,
                    help="extra worker.py processes on the acknowledgements' queue only (default none)")
    ap.add_argument("--database-url", default=DB_URL, help="rebuilt from scratch (default %(default)s)")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/9", help="flushed (default %(default)s)")
    ap.add_argument("--burst-window", type=int, default=0,
                    help="BURST_WINDOW_SECONDS (default 0: the acknowledgement is due when the ticket is made, so "
                         "ticket → acknowledgement is the queues' own delay)")
    ap.add_argument("--no-floor", action="store_true", help="skip the floor run")
    ap.add_argument("--store-first", action="store_true",
                    help="start the workers only once every webhook is answered: webhooks and triage measured apart "
                         "(messages/s is then from the workers' start to the last ticket)")
    ap.add_argument("--timeout", type=float, default=600, help="give up waiting for triage after this many s")
    ap.add_argument("--client", choices=("urllib", "wrk"), default="urllib",
                    help="urllib: --messages bodies posted by --clients Python threads (tops out near 1,300 req/s "
                         "here); wrk: --clients connections for --duration s, a new VK callback per request")
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (--client wrk)")
    ap.add_argument("--wrk-threads", type=int, default=2)
    args = ap.parse_args()
    if args.client == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed: sudo apt-get install wrk", file=sys.stderr)
        return 2

    db_url = args.database_url
    recreate(db_url)
    fake = vk.FakeVk(port=0).start()
    env = {**os.environ, **DEMO_ENV, "DATABASE_URL": db_url, "REDIS_URL": args.redis_url,
           "SECRET_KEY": "bench-" + secrets.token_hex(16), "BURST_WINDOW_SECONDS": str(args.burst_window),
           "VK_API_URL": fake.base_url, "FLASK_APP": "app:create_app"}
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(bin_dir / "flask"), "seed-demo", "--tickets", "0"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # one VK community of a participant receives everything
        conn.execute(text("UPDATE accounts SET external_id = :g WHERE id = (SELECT min(id) FROM accounts "
                          "WHERE network = 'vk')"), {"g": str(GROUP_ID)})
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    payloads = [json.dumps(vk.message_new(GROUP_ID, 10_000 + i, f"Нет воды в доме {i} на ул. Кирова, третий день",
                                          conversation_message_id=i + 1, secret=SECRET)).encode()
                for i in range(args.messages)]
    client = Client(args.clients)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"intake-bench-{secrets.token_hex(4)}"
    workdir.mkdir(parents=True, exist_ok=True)
    fast = WrkClient(args.clients, args.duration, args.wrk_threads, workdir) if args.client == "wrk" else None
    procs: list[subprocess.Popen] = []
    try:
        floor = durable = None
        if not args.no_floor:  # the floor first, alone on the machine, then stopped
            fport = free_port()
            fp = gunicorn(bin_dir, "bench.floor_app:create_app()", args.web_workers, fport, env)
            try:
                wait_up(f"http://127.0.0.1:{fport}", "/")
                if fast is not None:  # each run's callbacks distinct from every other run's (base)
                    fast.run(f"http://127.0.0.1:{fport}/hooks/vk", 100_000_000, duration=2)
                    floor = fast.run(f"http://127.0.0.1:{fport}/hooks/vk", 200_000_000)
                    fast.run(f"http://127.0.0.1:{fport}/hooks-durable/warm", 300_000_000, duration=2)
                    durable = fast.run(f"http://127.0.0.1:{fport}/hooks-durable/vk", 400_000_000)
                else:
                    client.run(f"http://127.0.0.1:{fport}/hooks/vk", payloads[:200])  # warm-up
                    floor = client.run(f"http://127.0.0.1:{fport}/hooks/vk", payloads)
                    client.run(f"http://127.0.0.1:{fport}/hooks-durable/warm", payloads[:200])
                    durable = client.run(f"http://127.0.0.1:{fport}/hooks-durable/vk", payloads)
            finally:
                fp.terminate()
                fp.wait(timeout=30)
        port = free_port()
        procs.append(gunicorn(bin_dir, "app:create_app()", args.web_workers, port, env))
        queues = [q for q in args.queues.split(",") if q]

        def start_workers() -> None:
            procs.extend(subprocess.Popen([sys.executable, "worker.py", *queues], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                         for _ in range(args.rq_workers))
            procs.extend(subprocess.Popen([sys.executable, "worker.py", ACK_QUEUE], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                         for _ in range(args.ack_workers))

        if not args.store_first:
            start_workers()
        base = f"http://127.0.0.1:{port}"
        wait_up(base)
        t0 = time.perf_counter()
        if fast is not None:
            app_run = fast.run(base + "/hooks/vk", 500_000_000)
            t_hooks = time.perf_counter() - t0
            expected = -1
            while True:  # the requests wrk left in flight at its end are still being stored
                time.sleep(1)
                with engine.connect() as conn:
                    stored = conn.execute(text("SELECT count(*) FROM messages")).scalar()
                if stored == expected:
                    break
                expected = stored
        else:
            t_hooks, statuses, latencies = client.run(base + "/hooks/vk", payloads)
            expected = args.messages
        if args.store_first:
            procs[0].terminate()  # the web server is done: the workers get the machine
            procs[0].wait(timeout=30)
            start_workers()
            t0 = time.perf_counter()
        deadline = time.monotonic() + args.timeout
        tickets = 0
        acks_at_last_ticket = 0
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
                acks_at_last_ticket = conn.execute(text("SELECT count(*) FROM replies WHERE state = 'sent'")).scalar()
            if tickets >= expected:
                break
            time.sleep(0.1)
        t_tickets = time.perf_counter() - t0
        time.sleep(2)
        with engine.connect() as conn:
            acks_2s = conn.execute(text("SELECT count(*) FROM replies WHERE state = 'sent'")).scalar()
        while time.monotonic() < deadline:  # every acknowledgement out, for the percentiles
            with engine.connect() as conn:
                left = conn.execute(text("SELECT count(*) FROM replies WHERE state <> 'sent'")).scalar()
            if not left:
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            messages = conn.execute(text("SELECT count(*) FROM messages")).scalar()
            delays = [float(r[0]) * 1000 for r in conn.execute(text(
                "SELECT extract(epoch FROM r.sent_at - t.created_at) FROM replies r "
                "JOIN tickets t ON t.id = r.ticket_id WHERE r.kind = 'ack' AND r.state = 'sent'"))]
            acks_total = conn.execute(text("SELECT count(*) FROM replies WHERE kind = 'ack'")).scalar()
        if fast is not None:
            hooks_rps, ok, bad, p50, p95 = app_run
        else:
            ok = sum(s == 200 for s in statuses)
            bad = len(statuses) - ok
            hooks_rps, p50, p95 = ok / t_hooks, pct(latencies, .5), pct(latencies, .95)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared); gunicorn -c "
              f"gunicorn.conf.py -w {args.web_workers} for the app and the floor; {args.rq_workers} × worker.py "
              f"{' '.join(queues) or '(all queues, in priority order)'}"
              + (" started once every webhook was answered" if args.store_first else "")
              + (f" + {args.ack_workers} × worker.py {ACK_QUEUE}" if args.ack_workers else "")
              + (f"; wrk -t {args.wrk_threads} -c {args.clients} -d {args.duration}s, a distinct VK message_new "
                 "callback per request" if fast is not None else
                 f"; {args.clients} concurrent clients (urllib threads); {args.messages} VK message_new callbacks")
              + f"; BURST_WINDOW_SECONDS={args.burst_window}")

        def summary(run) -> tuple[float, float, float, int]:
            if fast is not None:
                rps, _ok, errors, r50, r95 = run
                return rps, r50, r95, errors
            r_t, r_statuses, r_lat = run
            good = sum(s == 200 for s in r_statuses)
            return good / r_t, pct(r_lat, .5), pct(r_lat, .95), len(r_statuses) - good

        if floor is not None:
            f_rps, f50, f95, ferr = summary(floor)
            print(f"floor (bench/floor_app.py: read the body, SELECT 1, answer): {f_rps:,.0f} req/s; "
                  f"latency p50 {f50:.1f} ms, p95 {f95:.1f} ms; errors {ferr}")
            d_rps, d50, d95, derr = summary(durable)
            print(f"durable floor (bench/floor_app.py: the body INSERTed once under a unique key and COMMITted): "
                  f"{d_rps:,.0f} req/s; latency p50 {d50:.1f} ms, p95 {d95:.1f} ms; errors {derr}")
        print(f"webhooks: {ok} answered 200 ({bad} other answers or errors) in {t_hooks:.1f} s → {hooks_rps:,.0f} "
              f"req/s; latency p50 {p50:.1f} ms, p95 {p95:.1f} ms"
              + (f"; floor ÷ ours {f_rps / hooks_rps:.1f}×, durable floor ÷ ours {d_rps / hooks_rps:.1f}×"
                 if floor is not None else ""))
        print(f"stored messages: {messages}; tickets: {tickets} after {t_tickets:.1f} s → "
              f"{tickets / t_tickets:,.0f} messages/s webhook to ticket")
        print(f"acknowledgements: {acks_total} made; sent when the last ticket was made: {acks_at_last_ticket}, "
              f"2 s later: {acks_2s}; ticket → acknowledgement sent (VK fake) p50 {pct(delays, .5) / 1000:.2f} s, "
              f"p95 {pct(delays, .95) / 1000:.2f} s, max {max(delays, default=float('nan')) / 1000:.2f} s "
              f"over {len(delays)}")
        print("platform limits beside it (PLATFORM-NOTES.md): VK community token 20 req/s, Telegram ≈30 msg/s "
              "overall and ≈1 msg/s per chat, MAX ≈30 req/s overall and 2 msg/s per chat — the fakes do not "
              "throttle, so a real burst of 5,000 acknowledgements takes ≥ 4 min on VK whatever the queue does")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        fake.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
