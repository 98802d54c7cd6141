"""RQ worker: `python worker.py [--burst] [queue ...]` (default: all queues).
Periodic jobs: `python worker.py --schedule` (app/jobs/schedule.py) next to the workers.

Builds the app once and imports the job modules before any fork; the engine's
pooled connections are disposed so no forked job inherits them.
"""
from __future__ import annotations

import sys

from app import create_app
from app.extensions import db
from app.jobs import (
    QUEUES,
    housekeeping,  # noqa: F401  (preload job modules before forking)
    redis_connection,
)
from app.jobs.context import set_app


def main(argv: list[str]) -> int:
    from rq import Queue, Worker
    from rq.serializers import JSONSerializer

    burst = "--burst" in argv
    schedule = "--schedule" in argv
    argv = [a for a in argv if a not in ("--burst", "--schedule")]
    app = create_app()
    set_app(app)
    with app.app_context():
        if not app.config.get("REDIS_URL"):
            print("REDIS_URL не задан: задания выполняются в процессе веб-приложения, воркер не нужен.")
            return 1
        names = argv or list(QUEUES)
        unknown = [n for n in names if n not in QUEUES]
        if unknown:
            print(f"Неизвестные очереди: {', '.join(unknown)}. Есть: {', '.join(QUEUES)}")
            return 2
        if argv and "acks" not in names and not schedule:
            # before issue 16 acknowledgements went with `replies`; a deployment naming its queues keeps working,
            # but the residents' acknowledgements need a worker on `acks` somewhere
            print("Внимание: очередь acks (подтверждения жителям) этим воркером не обслуживается — "
                  "нужен воркер с acks (или без имён очередей).")
        if schedule:
            from app.jobs.schedule import run_forever

            run_forever()
            return 0
        conn = redis_connection()
        db.engine.dispose()
        queues = [Queue(n, connection=conn, serializer=JSONSerializer) for n in names]
        Worker(queues, connection=conn, serializer=JSONSerializer).work(with_scheduler=True, burst=burst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
