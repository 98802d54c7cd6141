"""Fair ranking of institutions and directions (a Bayesian average; too few resolved: listed, not ranked)."""
from __future__ import annotations

from dataclasses import dataclass, fields

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import Direction, Institution
from app.services.board.figures import Figures

# Fair ranking: institutions with fewer resolved tickets than this are listed, not ranked; every institution's
# results are blended with SMOOTHING tickets "as good as the city average" (a Bayesian average), so one ticket
# answered in four minutes does not top the table.
MIN_VOLUME = 5
SMOOTHING = 10
# Federal quality targets (the lines to beat).
TARGET_MEAN_DAYS = 8
TARGET_GOOD_SHARE = 0.60


# --- ranking ------------------------------------------------------------------------------------------
@dataclass
class RankRow:
    id: int | None
    name: str
    figures: dict
    previous: dict
    score: float | None = None
    good_smoothed: float | None = None
    rank: int | None = None  # None: too few tickets to rank
    meets_time_target: bool | None = None
    meets_rating_target: bool | None = None
    sla_change: float | None = None  # points of SLA share against the previous period
    direction_id: int | None = None


def _smoothed(hits: int, total: int, prior: float) -> float:
    return (hits + SMOOTHING * prior) / (total + SMOOTHING)


def ranking(level: str, cur: dict, prev: dict, city: Figures) -> dict:
    """Institutions (or directions) ranked by SLA compliance smoothed toward the city average.
    `cur`/`prev`: figures per id for this period and the previous one (from aggregate_sets)."""
    prior_sla = city.sla_share if city.sla_share is not None else 0.5
    prior_good = city.good_share if city.good_share is not None else TARGET_GOOD_SHARE
    if level == "institution":
        names = {i: (n, d) for i, n, d in db.session.execute(select(Institution.id, Institution.short_name,
                                                                    Institution.direction_id))}
    else:
        names = {i: (n, None) for i, n in db.session.execute(select(Direction.id, Direction.name))}
    rows = []
    for key, f in cur.items():
        if not (f.received or f.resolved or f.rated):
            continue
        p = prev.get(key, Figures())
        name, direction_id = names.get(key, (str(_l("Не распределено")), None))
        row = RankRow(id=key, name=name, figures=f.as_dict(), previous=p.as_dict(), direction_id=direction_id)
        if f.sla_base:
            row.score = _smoothed(f.on_time, f.sla_base, prior_sla)
        row.good_smoothed = _smoothed(f.good, f.rated, prior_good)
        if f.mean_resolution_days is not None:
            row.meets_time_target = f.mean_resolution_days <= TARGET_MEAN_DAYS
        if f.good_share is not None:
            row.meets_rating_target = f.good_share >= TARGET_GOOD_SHARE
        if f.sla_share is not None and p.sla_share is not None:
            row.sla_change = f.sla_share - p.sla_share
        rows.append(row)
    ranked = sorted((r for r in rows if r.id is not None and r.figures["resolved"] >= MIN_VOLUME),
                    key=lambda r: (-r.score, -r.good_smoothed, -r.figures["resolved"], r.name))
    for i, r in enumerate(ranked, 1):
        r.rank = i
    unranked = sorted((r for r in rows if r.rank is None), key=lambda r: (-r.figures["received"], r.name))
    return {"ranked": [_row_dict(r) for r in ranked], "unranked": [_row_dict(r) for r in unranked],
            "prior_sla": prior_sla, "prior_good": prior_good}


def _row_dict(row: RankRow) -> dict:
    """`asdict(row)` without its deep copy (the figures' dicts are the row's own, made just above)."""
    return {f.name: getattr(row, f.name) for f in fields(row)}
