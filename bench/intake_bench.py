"""Intake throughput: messages per second from the webhook to a ticket, on this machine.

    .venv/bin/python bench/intake_bench.py [--messages 5000] [--clients 16] [--web-workers 2] [--rq-workers 2]

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
import secrets
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
    args = ap.parse_args()

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
    procs: list[subprocess.Popen] = []
    try:
        floor = durable = None
        if not args.no_floor:  # the floor first, alone on the machine, then stopped
            fport = free_port()
            fp = gunicorn(bin_dir, "bench.floor_app:create_app()", args.web_workers, fport, env)
            try:
                wait_up(f"http://127.0.0.1:{fport}", "/")
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
        t_hooks, statuses, latencies = client.run(base + "/hooks/vk", payloads)
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
            if tickets >= args.messages:
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
        ok = sum(s == 200 for s in statuses)
        lat = sorted(latencies)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared); gunicorn -c "
              f"gunicorn.conf.py -w {args.web_workers} for the app and the floor; {args.rq_workers} × worker.py "
              f"{' '.join(queues) or '(all queues, in priority order)'}"
              + (" started once every webhook was answered" if args.store_first else "")
              + (f" + {args.ack_workers} × worker.py {ACK_QUEUE}" if args.ack_workers else "")
              + f"; {args.clients} concurrent clients (urllib threads); {args.messages} VK message_new callbacks; "
              f"BURST_WINDOW_SECONDS={args.burst_window}")
        hooks_rps = ok / t_hooks
        if floor is not None:
            f_t, f_statuses, f_lat = floor
            f_rps = sum(s == 200 for s in f_statuses) / f_t
            print(f"floor (bench/floor_app.py: read the body, SELECT 1, answer): {f_rps:,.0f} req/s; "
                  f"latency p50 {pct(f_lat, .5):.1f} ms, p95 {pct(f_lat, .95):.1f} ms")
            d_t, d_statuses, d_lat = durable
            print(f"durable floor (bench/floor_app.py: the body INSERTed once under a unique key and COMMITted): "
                  f"{sum(s == 200 for s in d_statuses) / d_t:,.0f} req/s; latency p50 {pct(d_lat, .5):.1f} ms, "
                  f"p95 {pct(d_lat, .95):.1f} ms")
        print(f"webhooks: {ok}/{args.messages} answered 200 in {t_hooks:.1f} s → {hooks_rps:,.0f} req/s; "
              f"latency p50 {pct(lat, .5):.1f} ms, p95 {pct(lat, .95):.1f} ms"
              + (f"; floor ÷ ours {f_rps / hooks_rps:.1f}×" if floor is not None else ""))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
