"""The participants' figures: a periodic tick that enqueues the due accounts in chunks, and the chunk job.
Idempotent: a chunk collects what its ids name (the day's snapshot is an upsert), a tick enqueues only accounts
whose last attempt is older than COLLECT_EVERY_HOURS, under ids that replace a waiting twin."""
from __future__ import annotations

from app.extensions import db
from app.jobs import enqueue
from app.jobs.context import in_app
from app.services.accounts import collection

# Accounts per job: a network's accounts go in one job (its calls paced per token in one process), split only
# beyond this many.
CHUNK = 1000


@in_app
def collect_due() -> int:
    """Periodic: enqueue the accounts due for collection, one job per network (CHUNK ids at most). Returns how
    many accounts."""
    due = collection.due_ids()
    db.session.rollback()
    by_network: dict[str, list[int]] = {}
    for account_id, network in due:
        by_network.setdefault(network, []).append(account_id)
    for network, ids in by_network.items():
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            enqueue("app.jobs.accounts.collect_chunk", chunk, queue="low",
                    job_id=f"collect-{network}-{chunk[0]}-{len(chunk)}")
    return len(due)


@in_app
def collect_chunk(ids: list[int]) -> dict:
    """Collect these accounts now (commits as it goes); then tell about accounts failing for a day."""
    summary = collection.collect_all(ids=[int(i) for i in ids])
    db.session.commit()
    return {"collected": len(summary.collected), "failed": len(summary.failed), "notified": summary.notified}
