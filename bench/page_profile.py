#!/usr/bin/env python3
"""In-process profile of staff pages (issue 16): the Flask test client against a benchmark database, one user
logged in through its session; per page the mean CPU/wall ms of `--requests` requests after `--warmup`, the SQL
time and count (a SQLAlchemy timing listener), the translation and URL-building calls per request, and the
functions with the largest own and cumulative time (cProfile). A benchmark helper, not a test: asserts nothing.

    python bench/page_profile.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench \
        --page /board=moderator --page /my=executor --requests 20

The board's snapshots must exist (bench/web_bench.py refreshes them; `--refresh` does it here first).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the catalogue look-ups (stdlib gettext under Flask-Babel) and the URL builds (flask.url_for), per request
COUNTED = {"gettext": ("gettext.py", ("gettext", "pgettext", "ngettext")),
           "url_for": ("flask/app.py", ("url_for",))}  # flask.url_for and the templates' url_for both end there


def time_statements(engine, sink: list) -> None:
    """Append (ms, statement) to `sink` for every statement `engine` executes (also used by bench/intake_profile.py)."""
    from sqlalchemy import event

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("profile_t", []).append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        sink.append(((time.perf_counter() - conn.info["profile_t"].pop()) * 1000, statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/om_bench")
    ap.add_argument("--page", action="append", required=True,
                    help="PATH=USERNAME (USERNAME '-' for anonymous); a PATH starting with 'hx:' is asked as an HTMX "
                         "fragment (HX-Request: true), e.g. hx:/queue=moderator")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--refresh", action="store_true", help="refresh the board's snapshots first")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--statements", type=int, default=8, help="the slowest statements shown per page")
    ap.add_argument("--width", type=int, default=300)
    args = ap.parse_args(argv)

    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ.update(DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="bench-profile-secret-key-0123456789abcdef",
                      BOARD_SNAPSHOT_MAX_AGE="86400", BOARD_LONG_SNAPSHOT_MAX_AGE="86400")
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.models import User

    app = create_app()
    sql: list[float] = []
    with app.app_context():
        time_statements(db.engine, sql)
        if args.refresh:
            from app.services import board
            board.refresh_snapshots()
            db.session.commit()

    for spec in args.page:
        path, _, username = spec.rpartition("=")
        headers = {}
        if path.startswith("hx:"):
            path, headers = path[3:], {"HX-Request": "true"}
        client = app.test_client()
        if username and username != "-":
            with app.app_context():
                user = db.session.scalars(select(User).where(User.username == username)).one()
                uid = user.get_id()
            with client.session_transaction() as s:
                s["_user_id"] = uid
                s["_fresh"] = True
        for _ in range(args.warmup):
            r = client.get(path, headers=headers)
            assert r.status_code == 200, (path, r.status_code)
        sql.clear()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(args.requests):
            client.get(path, headers=headers)
        cpu = (time.process_time() - cpu0) * 1000 / args.requests
        wall = (time.perf_counter() - wall0) * 1000 / args.requests
        sql_ms, sql_n = sum(ms for ms, _ in sql) / args.requests, len(sql) / args.requests
        per_statement: dict[str, float] = {}
        for ms, statement in sql:
            per_statement[statement] = per_statement.get(statement, 0.0) + ms / args.requests
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.requests):
            resp = client.get(path, headers=headers)
        prof.disable()
        stats = pstats.Stats(prof)
        calls = {name: sum(v[1] for k, v in stats.stats.items() if k[0].endswith(file) and k[2] in fns)
                 / args.requests for name, (file, fns) in COUNTED.items()}
        print(f"\n=== {path}{' (HTMX)' if headers else ''} as {username}: {wall:.1f} ms wall, {cpu:.1f} ms CPU, "
              f"SQL {sql_ms:.1f} ms in "
              f"{sql_n:.0f} statements; {calls['gettext']:.0f} gettext, {calls['url_for']:.0f} url_for per request; "
              f"{len(resp.data) // 1024} KB")
        for statement, ms in sorted(per_statement.items(), key=lambda kv: -kv[1])[:args.statements]:
            print(f"  SQL {ms:6.2f} ms  {' '.join(statement.split())[:args.width]}")
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
        print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
