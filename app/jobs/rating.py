"""The rating (issue 14): freeze the closed months, quarters and years of every direction; the head's monthly
rating digest. Idempotent."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services.rating import digest, frozen, standing


@in_app
def freeze_closed() -> int:
    """Periodic (daily): each direction's last closed month, quarter and year, frozen once."""
    done = frozen.freeze_closed()
    db.session.commit()
    return done


@in_app
def monthly_digest() -> dict:
    """Periodic (hourly): last month's rating digest to each head once, from the 1st 08:00 city time."""
    result = digest.send_monthly()
    db.session.commit()
    return result


@in_app
def refresh() -> int:
    """Periodic (every 10 minutes): this month, quarter and year of every direction computed and kept, so /rating
    reads one row per direction; committed one by one (a rating is kept even if a later one fails)."""
    done = 0
    for _key in standing.refresh():
        db.session.commit()
        done += 1
    return done
