"""The rating (issue 14): freeze the closed months, quarters and years of every direction. Idempotent."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services.rating import frozen


@in_app
def freeze_closed() -> int:
    """Periodic (daily): each direction's last closed month, quarter and year, frozen once."""
    done = frozen.freeze_closed()
    db.session.commit()
    return done
