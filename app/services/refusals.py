"""Unauthenticated requests to the webhooks and the ingest API: counted per network and day, logged with the
sender's address, never stored (an unauthenticated sender must not be able to fill a table)."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import RefusedRequest, utcnow
from app.models.base import insert_or_ignore

log = logging.getLogger(__name__)


def count(network: str, remote_addr: str | None, why: str) -> None:
    """One refused request: a log line and +1 on today's counter (committed here; a failure only logs)."""
    log.warning("%s: refused an unauthenticated request from %s (%s)", network, remote_addr or "?", why)
    now = utcnow()
    key = (RefusedRequest.network == network[:20]) & (RefusedRequest.day == now.date())
    stmt = (update(RefusedRequest).where(key).values(count=RefusedRequest.count + 1, last_at=now)
            .execution_options(synchronize_session=False))
    try:
        if db.session.execute(stmt).rowcount == 0:
            db.session.execute(insert_or_ignore(RefusedRequest).values(network=network[:20], day=now.date(),
                                                                       count=0, last_at=now)
                               .on_conflict_do_nothing(index_elements=["network", "day"]))
            db.session.execute(stmt)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not count a refused request")


def by_network(days: int = 1) -> dict[str, int]:
    """Refused requests per network over the last `days` days (today included)."""
    since = utcnow().date() - timedelta(days=days - 1)
    rows = db.session.execute(select(RefusedRequest.network, func.sum(RefusedRequest.count))
                              .where(RefusedRequest.day >= since).group_by(RefusedRequest.network)).all()
    return {network: int(total or 0) for network, total in rows}
