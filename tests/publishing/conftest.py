"""The publishing outbox's fixtures (tests/publishing/engine_support.py): an in-memory network, the outbox's clock,
its enqueues recorded, a temporary UPLOAD_DIR."""
from tests.publishing.engine_support import fakenet, outbox_jobs, pub_clock, upload_dir  # noqa: F401
