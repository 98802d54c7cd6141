"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py 'app:create_app()'`."""
import gc
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
timeout = 60


def post_worker_init(worker):
    # Objects alive after start-up never die: keep them out of the collector's way. Full collections
    # otherwise pause a request for ~80-100 ms every hundred requests or so (bench/RESULTS.md).
    gc.collect()
    gc.freeze()
