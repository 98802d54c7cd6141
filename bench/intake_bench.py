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
import statistics
import subprocess
import sys
import threading
import time
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
GROUP_ID = 187654321


def recreate(url: str) -> None:
    u = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{u.database}"'))
    admin.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--web-workers", type=int, default=2)
    ap.add_argument("--rq-workers", type=int, default=2)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    ap.add_argument("--timeout", type=float, default=600, help="give up waiting for triage after this many s")
    args = ap.parse_args()

    recreate(DB_URL)
    fake = vk.FakeVk(port=0).start()
    env = {**os.environ, **DEMO_ENV, "DATABASE_URL": DB_URL, "REDIS_URL": args.redis_url,
           "SECRET_KEY": "bench-" + secrets.token_hex(16),
           "VK_API_URL": fake.base_url, "FLASK_APP": "app:create_app"}
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([str(bin_dir / "flask"), "seed-demo", "--tickets", "0"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    engine = create_engine(DB_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:  # one VK community of a participant receives everything
        conn.execute(text("UPDATE accounts SET external_id = :g WHERE id = (SELECT min(id) FROM accounts "
                          "WHERE network = 'vk')"), {"g": str(GROUP_ID)})
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    port = free_port()
    procs = [subprocess.Popen([str(bin_dir / "gunicorn"), "-w", str(args.web_workers), "-b", f"127.0.0.1:{port}",
                               "--log-level", "warning", "app:create_app()"], cwd=ROOT, env=env)]
    procs += [subprocess.Popen([sys.executable, "worker.py", "intake", "replies"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(args.rq_workers)]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/login", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        payloads = [json.dumps(vk.message_new(GROUP_ID, 10_000 + i, f"Нет воды в доме {i} на ул. Кирова, третий день",
                                              conversation_message_id=i + 1, secret=SECRET)).encode()
                    for i in range(args.messages)]
        latencies: list[float] = []
        lock = threading.Lock()

        def post(body: bytes) -> int:
            req = urllib.request.Request(base + "/hooks/vk", data=body, headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
                status = resp.status
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
            return status

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            statuses = list(pool.map(post, payloads))
        t_hooks = time.perf_counter() - t0
        deadline = time.monotonic() + args.timeout
        tickets = 0
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar()
            if tickets >= args.messages:
                break
            time.sleep(0.2)
        t_tickets = time.perf_counter() - t0
        time.sleep(2)
        with engine.connect() as conn:
            acks = conn.execute(text("SELECT count(*) FROM replies WHERE state = 'sent'")).scalar()
            messages = conn.execute(text("SELECT count(*) FROM messages")).scalar()
        ok = sum(s == 200 for s in statuses)
        lat = sorted(latencies)
        print(f"machine: {os.cpu_count()} cores; gunicorn -w {args.web_workers}; {args.rq_workers} × worker.py "
              f"(intake, replies); {args.clients} concurrent clients")
        print(f"webhooks: {ok}/{args.messages} answered 200 in {t_hooks:.1f} s → {ok / t_hooks:,.0f} req/s; "
              f"latency p50 {statistics.median(lat):.1f} ms, p95 {lat[int(len(lat) * 0.95) - 1]:.1f} ms")
        print(f"stored messages: {messages}; tickets: {tickets} after {t_tickets:.1f} s → "
              f"{tickets / t_tickets:,.0f} messages/s webhook to ticket")
        print(f"acknowledgements delivered to the fake VK API (2 s after the last ticket): {acks}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
