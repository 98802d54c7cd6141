"""The head of city's control board: figures over a period beside the previous one, institutions and directions
ranked fairly, the weekly charts. One place for every board figure; the page, the export, the weekly digest and
the snapshot job all read `report()`.

Definitions (the page says them too):
* received — tickets created in the period (merged duplicates are not counted twice; tickets rejected as spam,
  advertising, thanks or a repeat are not appeals and are not counted anywhere);
* open / overdue — of those received, still open now / overdue now or resolved after their deadline;
* resolved, on time — tickets resolved in the period (resolved_at in it), and of them resolved by the deadline;
* median first response — over tickets received in the period that got one (first response − creation);
* median / mean resolution — over tickets resolved in the period (resolution − creation, calendar time);
* ratings — residents' ratings given in the period, each resident's answer once (the residents of tickets merged
  into a ticket answer for themselves); «good» is 4 or 5;
* reopened — of tickets received in the period that were ever resolved, the share a resident returned to work.

All of a period's figures come from one pass over the tickets created, resolved or rated in it (three indexed
ranges, `FILTER` aggregates), so the numbers of one row always agree with each other.

The package: periods.py (periods and scope), figures.py (the aggregate over the tickets), rollups.py (the same
from daily rollups: `aggregate_sets`), ranks.py (the ranking), reporting.py
(charts and the whole report), snapshots.py; worklist.py, hotspots.py, export.py and digest.py build on them.
The names below are the package's face — `board.report`, `board.Period`, … — for callers of the package.
"""
from __future__ import annotations

from app.services.board.figures import (  # noqa: F401
    _COUNTS,
    NOISE_REASONS,
    Figures,
    _add_other_answers,
    _aggregate_columns,
    _conditions,
    _dialect,
    _figures,
    _join_condition,
    _portable_medians,
    _seconds,
    aggregate,
    appeals,
    counted,
    live_sets,
)
from app.services.board.periods import (  # noqa: F401
    DEFAULT_PERIOD,
    EARLIEST,
    MAX_CUSTOM_DAYS,
    PERIOD_KINDS,
    Period,
    Scope,
    _add_months,
    _month_end,
    _parse_date,
    city_tz,
    parse_period,
    parse_scope,
    standard_period,
    today,
)
from app.services.board.ranks import (  # noqa: F401
    MIN_VOLUME,
    SMOOTHING,
    TARGET_GOOD_SHARE,
    TARGET_MEAN_DAYS,
    RankRow,
    _smoothed,
    ranking,
)
from app.services.board.reporting import (  # noqa: F401
    Report,
    _pack,
    _store,
    _unpack,
    growing_categories,
    open_by_direction,
    previous_sets,
    report,
    weekly_series,
)
from app.services.board.rollups import MEDIAN_ERROR, aggregate_sets  # noqa: F401
from app.services.board.snapshots import (  # noqa: F401
    LONG_KINDS,
    SNAPSHOT_KINDS,
    _Everyone,
    _snapshot_key,
    cached_report,
    keep,
    keep_later,
    refresh_direction_snapshot_steps,
    refresh_direction_snapshots,
    refresh_snapshot_steps,
    refresh_snapshots,
    young_enough,
)
