#!/usr/bin/env python3
"""What every staff page pays before its own content (issue 16): the CPU ms per request of the page shell,
in-process (Flask test client, no server, no network) against a benchmark database. A benchmark, not a test.

Cases, each a median CPU ms over `-n` requests after a warm-up, in `--rounds` interleaved rounds:

* `bare`     — a view added here that returns 20 KB of text, anonymous: the app's request hooks and session only;
* `select1`  — the same running `SELECT 1` (the in-process floor, as bench/floor_app.py);
* `login`    — `bare` behind `login_required` with a staff user's session: + the user's load;
* `shell`    — `login_required` rendering base.html with an empty content block: + the top bar, CSRF token, flashes;
* the pages given with `--page PATH=USER` (default /queue=moderator, /my=executor, /board=moderator).

    python bench/shell_profile.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench [--app-dir DIR]
    python bench/shell_profile.py ... --only shell --profile 40      # cProfile of one case

`--app-dir` runs another checkout's app (a `git archive` of a commit) with this script, for before/after figures.
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
DEFAULT_PAGES = ("/queue=moderator", "/my=executor", "/board=moderator")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/om_bench")
    ap.add_argument("--app-dir", default=str(ROOT))
    ap.add_argument("--page", action="append", default=None, help="PATH=USERNAME (repeatable)")
    ap.add_argument("--only", action="append", default=[], help="cases whose name contains TEXT")
    ap.add_argument("-n", type=int, default=200, help="timed requests per case and round (default 200)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", type=int, default=0, help="cProfile's top N functions (cumulative) per case")
    ap.add_argument("--tottime", action="store_true")
    ap.add_argument("--callers", action="append", default=[], help="print who calls functions matching this")
    ap.add_argument("--sql", action="store_true", help="print each case's statements (last request)")
    args = ap.parse_args(argv)

    url = args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    os.environ.update(DATABASE_URL=url, LANGUAGE="ru", SECRET_KEY="shell-" + secrets.token_hex(20),
                      BOARD_SNAPSHOT_MAX_AGE="86400", BOARD_LONG_SNAPSHOT_MAX_AGE="86400")
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(Path(args.app_dir).resolve()))
    os.chdir(args.app_dir)
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db
    from app.models import User
    os.environ["APP_DIR"] = str(Path(args.app_dir).resolve())  # fixed_cost_app puts that checkout first too
    from fixed_cost_app import add_bench_views

    app = create_app()
    add_bench_views(app)

    statements: list[str] = []
    with app.app_context():
        users = {u.username: u.get_id() for u in db.session.scalars(db.select(User))}
        event.listen(db.engine, "before_cursor_execute",
                     lambda conn, cur, stmt, *a: statements.append(" ".join(stmt.split())))

    cases = [("bare", "/__bench/bare", None), ("select1", "/__bench/select1", None),
             ("login", "/__bench/login", "moderator"), ("shell", "/__bench/shell", "moderator")]
    for spec in args.page or DEFAULT_PAGES:
        path, _, user = spec.partition("=")
        cases.append((path, path, None if user in ("", "-") else user))
    if args.only:
        cases = [c for c in cases if any(o in c[0] for o in args.only)]

    clients = {}
    for name, path, user in cases:
        client = app.test_client()
        if user:
            with client.session_transaction() as s:
                s["_user_id"] = users[user]
                s["_fresh"] = True
        for _ in range(5):
            r = client.get(path)
            assert r.status_code == 200, (name, r.status_code, r.data[:300])
        clients[name] = client

    results: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    sql_counts: dict[str, int] = {}
    for _round in range(args.rounds):
        for name, path, _user in cases:
            client = clients[name]
            cpu = []
            prof = cProfile.Profile(time.process_time) if args.profile else None  # CPU time, not waits
            for _ in range(args.n):
                statements.clear()
                c0 = time.process_time()
                if prof:
                    prof.enable()
                client.get(path)
                if prof:
                    prof.disable()
                cpu.append((time.process_time() - c0) * 1000)
            results[name].append(statistics.median(cpu))
            sql_counts[name] = len(statements)
            if args.sql and _round == 0:
                print(f"--- {name}: {len(statements)} statements")
                for s in statements:
                    print("   ", s[:300])
            if prof and _round == 0:
                print(f"--- {name}")
                st = pstats.Stats(prof).sort_stats("tottime" if args.tottime else "cumulative")
                st.print_stats(args.profile)
                for pattern in args.callers:
                    st.print_callers(pattern)

    print(f"app {args.app_dir}; CPU ms per request, median of {args.n} per round; rounds: each round's median")
    for name, _path, _user in cases:
        vals = results[name]
        print(f"  {name:<16} {statistics.median(vals):7.3f} ms   rounds {' '.join(f'{v:.3f}' for v in vals)}   "
              f"SQL {sql_counts[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
