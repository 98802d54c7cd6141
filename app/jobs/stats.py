"""Open statistics (/stats, participants' «Как отвечает жителям»): the figures most visitors ask for, kept fresh."""
from __future__ import annotations

from app.extensions import db
from app.jobs.context import in_app
from app.services import openstats


@in_app
def refresh() -> int:
    """Periodic: every participant's block, then the city's month, quarter and year (commits at each step)."""
    done = 0
    for _key in openstats.refresh_steps():
        db.session.commit()
        done += 1
    return done
