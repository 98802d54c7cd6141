#!/usr/bin/env python3
"""In-process profile of intake (issue 16 goal 3): the webhook (`POST /hooks/vk` through the Flask test client,
a VK `message_new` callback from a new resident each) and triage (`intake.triage_pending()` on what the webhooks
stored, batch by batch, committed). Per step: mean CPU and wall ms per message, SQL statements and SQL ms per
message (a SQLAlchemy timing listener), Redis commands per webhook, and cProfile's top functions. A benchmark
helper, not a test: asserts nothing.

    python bench/intake_profile.py --database-url postgresql://postgres@127.0.0.1:5432/om_intake_p \
        --redis-url redis://127.0.0.1:6379/6 [--rebuild] [--webhooks 400] [--only webhook|triage] [--top 25]

`--rebuild` makes the database as bench/intake_bench.py does (migrations, `flask seed-demo --tickets 0`, one VK
community of a participant receiving everything); without it the database must have been built so before.
The Redis database is flushed (the triage jobs the webhooks enqueue are not run: triage is called here).
`--app-dir DIR` profiles another checkout (a `git archive` of the «before» commit) with the same script.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/om_intake_p")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    ap.add_argument("--app-dir", default=str(ROOT))
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--webhooks", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--only", choices=("webhook", "triage"))
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--statements", action="store_true", help="print each distinct SQL statement with its count")
    ap.add_argument("--keep-redis", action="store_true", help="do not flush the Redis database (shared with a bench)")
    args = ap.parse_args(argv)

    app_dir = Path(args.app_dir).resolve()
    sys.path.insert(0, str(app_dir))
    sys.path.insert(1, str(ROOT))
    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ.update({"DATABASE_URL": url, "REDIS_URL": args.redis_url, "LANGUAGE": "ru",  # before config's import
                       "SECRET_KEY": "bench-" + secrets.token_hex(16), "BURST_WINDOW_SECONDS": "0",
                       "FLASK_APP": "app:create_app"})
    from app.demo.simulate import DEMO_ENV, SECRET
    from app.fakes import vk
    from bench.intake_bench import GROUP_ID, recreate
    from bench.page_profile import time_statements

    os.environ.update(DEMO_ENV)
    import config

    for key, value in DEMO_ENV.items():  # config read the environment when it was imported
        setattr(config.Config, key, value)
    if args.rebuild:
        recreate(args.database_url)
        flask = str(Path(sys.executable).parent / "flask")
        subprocess.run([flask, "db", "upgrade"], cwd=app_dir, env={**os.environ}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([flask, "seed-demo", "--tickets", "0"], cwd=app_dir, env={**os.environ}, check=True,
                       stdout=subprocess.DEVNULL)
    import redis
    from sqlalchemy import text

    from app import create_app
    from app.extensions import db
    from app.services import intake

    if not args.keep_redis:
        redis.Redis.from_url(args.redis_url).flushdb()
    app = create_app()
    sql: list[tuple[float, str]] = []
    rcmds: list[str] = []
    with app.app_context():
        db.session.execute(text("UPDATE accounts SET external_id = :g WHERE id = (SELECT min(id) FROM accounts "
                                "WHERE network = 'vk')"), {"g": str(GROUP_ID)})
        db.session.commit()
        start = (db.session.execute(text("SELECT coalesce(max(id), 0) FROM messages")).scalar() or 0) + 1_000_000

        time_statements(db.engine, sql)
        orig = redis.Redis.execute_command

        def counted(self, *a, **kw):
            rcmds.append(str(a[0]))
            return orig(self, *a, **kw)

        redis.Redis.execute_command = counted

    def bodies(n: int, offset: int) -> list[bytes]:
        return [json.dumps(vk.message_new(GROUP_ID, start + offset + i,
                                          f"Нет воды в доме {i} на ул. Кирова, третий день",
                                          conversation_message_id=start + offset + i, secret=SECRET)).encode()
                for i in range(n)]

    def report(title: str, n: int, cpu: float, wall: float, prof: cProfile.Profile | None) -> None:
        total_sql = sum(t for t, _ in sql)
        print(f"\n== {title}: {n} messages; CPU {cpu / n:.2f} ms, wall {wall / n:.2f} ms per message; "
              f"SQL {len(sql) / n:.2f} statements, {total_sql / n:.2f} ms per message; "
              f"Redis {len(rcmds) / n:.2f} commands per message")
        if args.statements:
            counts: dict[str, list] = {}
            for t, s in sql:
                c = counts.setdefault(" ".join(s.split())[:160], [0, 0.0])
                c[0] += 1
                c[1] += t
            for s, (c, t) in sorted(counts.items(), key=lambda kv: -kv[1][1]):
                print(f"  {c / n:6.2f}/msg {t / n:6.3f} ms/msg  {s}")
            rc: dict[str, int] = {}
            for c in rcmds:
                rc[c] = rc.get(c, 0) + 1
            print("  redis:", ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(rc.items())))
        if prof is not None:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
            print("\n".join(line[:220] for line in out.getvalue().splitlines()[4:]))

    client = app.test_client()
    if args.only != "triage":
        for body in bodies(args.warmup, 0):
            client.post("/hooks/vk", data=body, content_type="application/json")
        load = bodies(args.webhooks, args.warmup)
        for rounds, prof in ((0, None), (1, cProfile.Profile(time.process_time))):
            part = load[rounds::2]
            sql.clear()
            rcmds.clear()
            c0, w0 = time.process_time(), time.perf_counter()
            if prof:
                prof.enable()
            for body in part:
                resp = client.post("/hooks/vk", data=body, content_type="application/json")
                assert resp.status_code == 200, resp.data
            if prof:
                prof.disable()
            report(f"webhook{' (cProfile on)' if prof else ''}", len(part), (time.process_time() - c0) * 1000,
                   (time.perf_counter() - w0) * 1000, prof)
    if args.only != "webhook":
        with app.app_context():
            pending = intake.untriaged_count()
            if pending < 50:
                print(f"\n(only {pending} messages untriaged: run the webhook step first)")
                return 0
            for rounds in range(2):
                prof = cProfile.Profile(time.process_time) if rounds else None
                sql.clear()
                rcmds.clear()
                done = 0
                c0, w0 = time.process_time(), time.perf_counter()
                if prof:
                    prof.enable()
                limit = min(intake.TRIAGE_BATCH, pending // 2)
                while done < pending // 2:
                    n = intake.triage_pending(limit=limit)
                    db.session.commit()
                    if not n:
                        break
                    done += n
                if prof:
                    prof.disable()
                report(f"triage{' (cProfile on)' if prof else ''}, batches of {limit}", done,
                       (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000, prof)
        if not args.keep_redis:
            redis.Redis.from_url(args.redis_url).flushdb()
    return 0


if __name__ == "__main__":
    sys.exit(main())
