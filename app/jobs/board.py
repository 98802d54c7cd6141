"""The head's board: snapshots of the standard periods, hot-spot detection, the weekly digest. Idempotent."""
from __future__ import annotations

from datetime import datetime

from app import fragments
from app.extensions import db
from app.jobs.context import in_app
from app.services import board
from app.services.board import digest, hotspots, rollups


@in_app
def refresh_snapshots() -> int:
    """Periodic: the city-wide figures of today, this week, month, quarter and year (commits per period)."""
    done = 0
    for step in board.refresh_snapshot_steps():
        db.session.commit()
        done += step != "purge"
    return done


@in_app
def refresh_direction_snapshots() -> int:
    """Periodic: each direction's quarter and year (seconds of work each, so every 10 minutes); commits each."""
    done = 0
    for _key in board.refresh_direction_snapshot_steps():
        db.session.commit()
        done += 1
    return done


@in_app
def refresh_rollups() -> int:
    """Periodic (every minute): the board's daily rollups — the days ticket writes marked dirty recomputed, the
    built range advanced each new day (app/services/board/rollups.py). Idempotent; nothing before a rebuild."""
    if db.session.get_bind().dialect.name != "postgresql":  # kept even with BOARD_ROLLUPS=0: the marks drain
        return 0
    return rollups.refresh(board.today())


@in_app
def keep_snapshot(key: str, data: dict, computed_at: str) -> None:
    """A report a page computed (no snapshot young enough): stored for the next viewer."""
    board.keep(key, data, datetime.fromisoformat(computed_at))
    db.session.commit()


@in_app
def keep_fragment(key: str, data: dict, version: str) -> None:
    """Rendered HTML a page made (no row of this data version yet): stored for the next viewer."""
    fragments.keep(key, data, datetime.fromisoformat(version))
    db.session.commit()


@in_app
def detect_hotspots() -> int:
    """Periodic: recurring problems of the last days (same street and rubric, same wording)."""
    found = hotspots.detect()
    db.session.commit()
    return found


@in_app
def weekly_digest() -> dict:
    """Periodic (hourly): last week's digest to each head once, from Monday 08:00 city time."""
    result = digest.send_weekly()
    db.session.commit()
    return result
