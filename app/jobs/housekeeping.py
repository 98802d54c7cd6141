"""Small periodic clean-ups. Idempotent: running twice changes nothing the second time."""
from app.extensions import db
from app.jobs.context import in_app
from app.services import auth, verdict

BATCH = 200


@in_app
def purge_login_attempts() -> int:
    removed = auth.purge_login_attempts()
    db.session.commit()
    return removed


@in_app
def close_unanswered(batch: int = BATCH) -> int:
    """Close resolved tickets whose resident did not answer «Проблема решена?» within VERDICT_WAIT_DAYS.
    Batches, one commit each; a ticket closed already is not taken again."""
    closed = 0
    while True:
        tickets = verdict.unanswered(limit=batch)
        for ticket in tickets:
            verdict.close_unanswered_ticket(ticket)
        db.session.commit()
        closed += len(tickets)
        if len(tickets) < batch:
            return closed
