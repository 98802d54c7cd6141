#!/usr/bin/env python3
"""The fixed cost of a staff request under gunicorn (issue 16): what every page pays before its own content.

Serves bench/fixed_cost_app.py (the app plus three bench-only views: `/__bench/bare`, `/__bench/login`,
`/__bench/shell`, see there) and bench/floor_app.py, each by gunicorn with the production gunicorn.conf.py and
ONE worker, logs a moderator in through /login, then sends `-n` sequential requests per case (a new connection
each, as a browser behind no proxy) in `--rounds` interleaved rounds. Per case: the worker's CPU ms per request
(utime + stime of the worker process from /proc, over the round), and the wall-clock p50 ms to the last byte.
Several `--app-dir`s (a `git archive` of an older commit) are served side by side, for before/after figures in
one run. A benchmark, not a test: it asserts nothing.

    python bench/fixed_cost.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench \
        [--app-dir /tmp/before --app-dir .] [--page /control] [-n 300] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_bench import HOST, ROOT, Client, free_port, gunicorn_path, log  # noqa: E402
from web_bench import login  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
DEFAULT_PAGES = ("/__bench/bare", "/__bench/login", "/__bench/shell", "/control")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def worker_pid(master: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


class Server:
    def __init__(self, args, target: str, app_dir: Path, label: str):
        self.port, self.label = free_port(), label
        self.log = tempfile.NamedTemporaryFile(prefix=f"fixed-cost-{label.replace('/', '_')}-", suffix=".log",
                                               delete=False)
        env = dict(os.environ, DATABASE_URL=args.database_url.replace("postgresql://", "postgresql+psycopg://", 1),
                   LANGUAGE="ru", SECRET_KEY="bench-" + secrets.token_hex(16), APP_DIR=str(app_dir),
                   BOARD_SNAPSHOT_MAX_AGE="86400", BOARD_LONG_SNAPSHOT_MAX_AGE="86400",
                   PYTHONPATH=f"{ROOT / 'bench'}:{app_dir}")
        env.pop("REDIS_URL", None)
        cmd = [gunicorn_path(None), "-c", str(app_dir / "gunicorn.conf.py"), "-w", "1", "-b", f"{HOST}:{self.port}",
               "--log-level", "warning", "--error-logfile", "-", target]
        self.proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {label} exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if Client(self.port, 5).request("GET", "/__bench/bare" if "fixed_cost" in target else "/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {label} did not answer")
            time.sleep(0.25)
        self.worker = worker_pid(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def measure(client: Client, server: Server, path: str, n: int) -> tuple[float, float]:
    """(worker CPU ms per request, wall p50 ms) over n sequential requests."""
    for _ in range(3):
        client.request("GET", path)
    walls = []
    c0 = cpu_seconds(server.worker)
    for _ in range(n):
        status, _, _, ms = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"{server.label} {path}: HTTP {status}")
        walls.append(ms)
    return (cpu_seconds(server.worker) - c0) * 1000 / n, statistics.median(walls)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/om_bench")
    ap.add_argument("--app-dir", action="append", default=None, help="checkout to serve (repeatable)")
    ap.add_argument("--page", action="append", default=None, help="path requested as the moderator (repeatable)")
    ap.add_argument("--user", default="moderator")
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    dirs = [Path(d).resolve() for d in (args.app_dir or [str(ROOT)])]
    pages = args.page or list(DEFAULT_PAGES)

    servers: list[Server] = []
    try:
        floor = Server(args, "bench.floor_app:create_app()", ROOT, "floor")
        servers.append(floor)
        apps = []
        for d in dirs:
            s = Server(args, "fixed_cost_app:create_app()", d, str(d))
            servers.append(s)
            apps.append((s, login(s.port, args.user)))
        floor_client = Client(floor.port, 60)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for r in range(args.rounds):
            log(f"round {r + 1}/{args.rounds}")
            results.setdefault(("floor", "/"), []).append(measure(floor_client, floor, "/", args.n))
            for path in pages:
                for s, client in apps:
                    results.setdefault((s.label, path), []).append(measure(client, s, path, args.n))
        print(f"worker CPU ms per request (median of {args.rounds} rounds of {args.n}) and wall p50 ms; "
              f"one gunicorn worker each, sequential requests")
        for (label, path), vals in results.items():
            cpu = statistics.median(v[0] for v in vals)
            wall = statistics.median(v[1] for v in vals)
            print(f"  {path:<22} {cpu:7.3f} ms CPU  {wall:7.3f} ms wall   rounds CPU "
                  f"{' '.join(f'{v[0]:.2f}' for v in vals)}   {label}")
    finally:
        for s in servers:
            s.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
