#!/usr/bin/env python3
"""In-process profile of staff pages (issue 16): Flask test client against a benchmark database, a user logged in
through the session; per page the CPU ms per request, SQL statements and their time, gettext and url_for calls,
and optionally the cProfile top functions. A benchmark, not a test.

    python bench/profile_pages.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench --page /queue
    python bench/profile_pages.py ... --page /queue --hx --profile 25
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--page", action="append", required=True, help="path to fetch (repeatable)")
    ap.add_argument("--user", default="moderator")
    ap.add_argument("--hx", action="store_true", help="send HX-Request: true")
    ap.add_argument("--header", action="append", default=[], help="extra header Name:Value")
    ap.add_argument("-n", type=int, default=50, help="timed requests per page (default 50)")
    ap.add_argument("--profile", type=int, default=0, help="print the top N functions by cumulative time")
    ap.add_argument("--revalidate", action="store_true",
                    help="send If-None-Match with the ETag of the warm-up answer (a poll that finds nothing new)")
    ap.add_argument("--sql", action="store_true", help="print the statements of the last request")
    ap.add_argument("--tottime", action="store_true", help="sort the profile by own time")
    args = ap.parse_args(argv)

    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ.update(DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="prof-" + secrets.token_hex(16))
    os.environ.pop("REDIS_URL", None)
    import flask_babel
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db
    from app.models import User

    app = create_app()
    statements = []
    counts = {"sql": 0, "sql_ms": 0.0, "gettext": 0, "url_for": 0}
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == args.user))
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        counts["sql"] += 1
        statements.append(((time.perf_counter() - conn.info["t0"]) * 1000, statement))
        counts["sql_ms"] += (time.perf_counter() - conn.info.pop("t0")) * 1000

    def counting(name, fn):
        def wrapper(*a, **kw):
            counts[name] += 1
            return fn(*a, **kw)
        return wrapper

    # count translation and URL building calls (through the Babel domain and app.url_for)
    dom = flask_babel.Domain
    for meth in ("gettext", "ngettext", "pgettext", "npgettext"):
        setattr(dom, meth, counting("gettext", getattr(dom, meth)))
    from werkzeug.routing import MapAdapter
    MapAdapter.build = counting("url_for", MapAdapter.build)

    client = app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = user.get_id()
        s["_fresh"] = True
    headers = dict(h.split(":", 1) for h in args.header)
    if args.hx:
        headers["HX-Request"] = "true"
    for page in args.page:
        for _ in range(3):
            r = client.get(page, headers=headers)
            assert r.status_code in (200, 304), (page, r.status_code, r.data[:500])
            if args.revalidate and r.headers.get("ETag"):
                headers["If-None-Match"] = r.headers["ETag"]
        for k in counts:
            counts[k] = 0
        wall, cpu = [], []
        prof = cProfile.Profile() if args.profile else None
        for _ in range(args.n):
            statements.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            r = client.get(page, headers=headers)
            if prof:
                prof.disable()
            wall.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        n = args.n
        print(f"{page}{' [HX]' if args.hx else ''}: status {r.status_code}, {len(r.data)} bytes; wall p50 "
              f"{statistics.median(wall):.2f} ms, CPU p50 {statistics.median(cpu):.2f} ms; SQL {counts['sql'] / n:.1f} "
              f"statements {counts['sql_ms'] / n:.2f} ms; gettext {counts['gettext'] / n:.0f}, "
              f"url_for {counts['url_for'] / n:.0f} per request")
        if args.sql:
            for ms, stmt in statements:
                print(f"  {ms:7.2f} ms  {' '.join(stmt.split())[:400]}")
        if prof:
            st = pstats.Stats(prof)
            st.sort_stats("tottime" if args.tottime else "cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
