"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py 'app:create_app()'`."""
import gc
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
timeout = 60
# The collector's thresholds (generation 0, 1, 2) in each worker: CPython's (700, 10, 10) runs a young collection
# in the middle of every page, which promotes the request's own objects, so their cycles (ORM states, forms) are
# only freed by the costly older collections. 50,000 lets a request's garbage die young (issue 16: ≈ 10-15 % of
# the CPU of /queue and /my in-process; bench/RESULTS.md). `GC_THRESHOLD=700,10,10` restores CPython's.
GC_THRESHOLD = tuple(int(x) for x in os.environ.get("GC_THRESHOLD", "50000,20,20").split(","))


def post_worker_init(worker):
    # Objects alive after start-up never die: keep them out of the collector's way. Full collections
    # otherwise pause a request for ~80-100 ms every hundred requests or so (bench/RESULTS.md).
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
