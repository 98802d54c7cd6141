#!/usr/bin/env python3
"""Collecting 550 participants' accounts against the local fakes of the four platforms, with the platforms'
limits respected: wall time of `collection.collect_all()` (target ≤ 60 s), requests per network, the busiest
second per token against its limit — as sent (the pacer's count) and as arrived at the fake (scheduling jitter in
one busy process can bunch a few) — VK's execute sizes, error-6 answers (the fake VK refuses calls beyond the
token's rate, as VK does). A benchmark, not a test: nothing asserts a time.

    python bench/collect_bench.py                            # its own database om_bench_collect, 550 accounts
    python bench/collect_bench.py --accounts 550 --latency 0.08 --runs 2
    make bench-collect BENCH_ARGS="--latency 0.1"

The fakes run in this process (threads), each answering after `--latency` seconds (a platform's round trip). Run 1
also fetches every avatar (first collection); later runs are the periodic job's steady state. The database is
dropped and re-created (`--database-url`, default postgresql://postgres@127.0.0.1:5432/om_bench_collect).
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_tickets import recreate_database, run_migrations  # noqa: E402

SHARE = {"telegram": 0.31, "vk": 0.35, "ok": 0.2, "max": 0.14}  # of the accounts, as in the demo city


def busiest_second(stamps: list[float]) -> int:
    window: deque = deque()
    best = 0
    for t in sorted(stamps):
        window.append(t)
        while t - window[0] >= 1.0:
            window.popleft()
        best = max(best, len(window))
    return best


def slow(fake, latency: float) -> list[float]:
    """Every answer of `fake` takes `latency` seconds more (outside its lock: requests overlap, as on a network).
    Returns the list the arrival times of its API requests go to (taken as a request reaches the fake)."""
    arrivals: list[float] = []
    original = fake.handle

    def handle(*args, **kwargs):
        path = next((a for a in args if isinstance(a, str) and a.startswith("/")), "")
        if not path.startswith("/avatar"):
            arrivals.append(time.time())
        if latency > 0:
            time.sleep(latency)
        return original(*args, **kwargs)

    fake.handle = handle
    return arrivals


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("BENCH_COLLECT_DATABASE_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/om_bench_collect"))
    ap.add_argument("--accounts", type=int, default=550)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds each fake takes to answer (default 0.05)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--vk-service-key", action="store_true", help="read VK with a service key (3 requests/s)")
    args = ap.parse_args()

    recreate_database(args.database_url)
    run_migrations(args.database_url, ROOT)
    os.environ.update(DATABASE_URL=args.database_url, SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(24))
    os.environ.pop("REDIS_URL", None)

    from app import create_app
    from app.extensions import db
    from app.fakes.max import FakeMax
    from app.fakes.ok import FakeOk
    from app.fakes.telegram import FakeTelegram
    from app.fakes.vk import FakeVk
    from app.models import Account, AccountSnapshot, Direction, Institution, Post
    from app.services.accounts import collection
    from app.services.accounts.platforms import Pacing
    from app.services.accounts.platforms import max as max_p
    from app.services.accounts.platforms import ok as ok_p
    from app.services.accounts.platforms import telegram as tg_p
    from app.services.accounts.platforms import vk as vk_p

    tg, vk, ok, mx = FakeTelegram(token=None).start(), FakeVk().start(), FakeOk().start(), FakeMax().start()
    arrivals = {net: slow(fake, args.latency) for net, fake in (("telegram", tg), ("vk", vk), ("ok", ok), ("max", mx))}
    vk_token, vk_kind = ("vk-service-key", "service") if args.vk_service_key else ("vk1.a.city", "community")
    vk.add_token(vk_token, kind=vk_kind, rate=vk_p.RATE[vk_kind])  # beyond its rate: error 6
    app = create_app()
    uploads = tempfile.mkdtemp(prefix="om-collect-bench-")
    app.config.update(TELEGRAM_BOT_TOKEN="123456789:bench", TELEGRAM_API_URL=tg.base_url, VK_API_URL=vk.base_url,
                      VK_ACCESS_TOKEN="vk1.a.city", VK_SERVICE_TOKEN=vk_token if args.vk_service_key else None,
                      OK_API_URL=ok.base_url, OK_ACCESS_TOKEN="ok-token", OK_APPLICATION_KEY="k",
                      OK_APPLICATION_SECRET_KEY="s", MAX_API_URL=mx.base_url, MAX_BOT_TOKEN="max", HTTP_TIMEOUT=10,
                      UPLOAD_DIR=uploads)
    counts = {net: round(args.accounts * share) for net, share in SHARE.items()}
    counts["telegram"] += args.accounts - sum(counts.values())
    with app.app_context():
        direction = Direction(code="bench", name="Бенчмарк")
        db.session.add(direction)
        insts = [Institution(direction=direction, name=f"Участник {i}", short_name=f"Участник {i}", slug=f"u{i}")
                 for i in range(137)]
        db.session.add_all(insts)
        n = 0
        for net, count in counts.items():
            for k in range(count):
                n += 1
                ext = {"telegram": -1001000000000 - k, "vk": 30000000 + k, "ok": 70000000000000 + k,
                       "max": -70000000 - k}[net]
                title = f"{net} {k}"
                followers = 200 + (n * 7919) % 20000
                if net == "telegram":
                    tg.add_channel(ext, title, f"tg_bench_{k}", members=followers)
                elif net == "vk":
                    vk.add_group(ext, title, screen_name=f"vkbench{k}", members=followers, posts=300 + k)
                elif net == "ok":
                    ok.add_group(ext, title, f"okbench{k}", members=followers, themes=100 + k)
                else:
                    mx.add_chat(ext, title, f"maxbench{k}", members=followers)
                db.session.add(Account(institution=insts[n % 137], network=net, handle=f"{net}{k}",
                                       external_id=str(ext), url=f"https://example.org/{net}/{k}", title=title))
        db.session.commit()
        print(f"{args.accounts} accounts: " + ", ".join(f"{net} {c}" for net, c in counts.items())
              + f"; fake latency {args.latency * 1000:.0f} ms; VK read with a {vk_kind} token")
        for run in range(1, args.runs + 1):
            for fake in (tg, vk, ok, mx):
                fake.calls.clear()
            for stamps in arrivals.values():
                stamps.clear()
            vk.executes.clear()
            pacing = Pacing()  # a fresh process: no slot reserved yet
            started = time.monotonic()
            if os.environ.get("BENCH_PROFILE") and run == args.runs:
                import cProfile
                import pstats
                prof = cProfile.Profile()
                summary = prof.runcall(collection.collect_all, pacing=pacing)
                pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
            else:
                summary = collection.collect_all(pacing=pacing)
            wall = time.monotonic() - started
            print(f"\nrun {run}: {wall:.1f} s wall, collected {len(summary.collected)}, failed {len(summary.failed)}"
                  + (" (avatars fetched)" if run == 1 else ""))
            for item in summary.failed[:5]:
                print(f"   failed #{item.account_id} {item.network}: {item.error}")
            rows = [("telegram", tg_p.RATE), ("vk", vk_p.RATE[vk_kind]), ("ok", ok_p.RATE), ("max", max_p.RATE)]
            sent = {key.split(":")[0]: p.busiest for key, p in pacing.pacers.items()}
            for net, rate in rows:
                stamps = arrivals[net]
                extra = f", execute sizes {dict(Counter(vk.executes))}, error 6: {vk.too_fast}" if net == "vk" else ""
                print(f"   {net:9} {len(stamps):4} requests, busiest second: sent {sent.get(net, 0):3}, arrived "
                      f"{busiest_second(stamps):3} (limit {rate:g}/s){extra}")
            waited = sum(p.waited for p in pacing.pacers.values())
            print(f"   pacing: {len(pacing.pacers)} tokens, {waited:.1f} s of slots waited for in all")
        snaps = db.session.scalar(db.select(db.func.count(AccountSnapshot.id)))
        posts = db.session.scalar(db.select(db.func.count(Post.id)))
        avatars = db.session.scalar(db.select(db.func.count(Account.id)).where(Account.avatar_path.isnot(None)))
        print(f"\nsnapshots {snaps} (one per account per day), posts {posts}, avatars {avatars}")
    for fake in (tg, vk, ok, mx):
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
