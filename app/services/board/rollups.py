"""The board's daily rollups (issue 16): any period's figures from a few hundred stored rows instead of every
ticket of the period.

`board_rollups` holds, per city day (grain 0) and per calendar month (grain 1), per institution (0: no executor
yet) and per «imported history or not», the additive parts of every figure of `aggregate_sets()` (the definitions:
app/services/board/__init__.py) and two histograms for the medians:

* counts by the day a ticket was created (received, open, reopened, ever resolved, and the overdue parts below),
  by the day it was resolved (resolved, on time, SLA base, the sum of resolution times) and by the day it was
  rated (rated, the sum of ratings, good) — exact, they add up over days;
* overdue depends on «now»: a ticket of the cohort is overdue if it is `late` (resolved after its deadline, or
  paused after it) — stored — or `running` (open, not paused, not late) with its deadline passed. The rollup
  stores how many are `running`; the board subtracts, live, those whose deadline is still ahead (an index range
  over the few not yet due), so the count is exact at any moment;
* the medians come from histograms with fixed log-spaced buckets (32 per doubling, from 1 s): the estimate of a
  ranked value lies in the same bucket as the value itself, so a median is off by less than one bucket,
  MEDIAN_ERROR (2.2 %; under 1 s for medians below 1 s). The page says so.

Ratings other residents gave (`verdict_answers`) are added live, as before (a small table, indexed by date).

Freshness: a trigger on `tickets` (migration 0029) appends the days a ticket write touches (its creation,
resolution and rating days, before and after) to `board_dirty`; the board computes dirty days, today and any
day not yet built live from the tickets (with the same code that builds the rows), and the job
`app.jobs.board.refresh_rollups` recomputes dirty days and advances the built range each new day. A month row
serves only while none of its days is dirty. `flask board rebuild-rollups` builds everything. PostgreSQL only;
elsewhere, and for users who do not see every ticket, the board computes live.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
from flask import current_app
from sqlalchemy import Date, Integer, and_, case, cast, delete, func, literal, not_, or_, select, text, tuple_, update

from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    BoardCategoryRollup,
    BoardDirty,
    BoardRollup,
    BoardRollupState,
    Institution,
    Ticket,
    utcnow,
)
from app.services import access
from app.services.board.figures import Figures, _add_other_answers, _imported_off, _seconds, appeals, live_sets
from app.services.board.periods import Scope, _month_end, city_tz

# --- the histograms -----------------------------------------------------------------------------------
PER_DOUBLING = 32
BUCKETS = 2 + PER_DOUBLING * 32  # 0: ≤ 0 s, 1: (0, 1) s, then 32 per doubling from 1 s up to 2^32 s (136 years)
MEDIAN_ERROR = 2 ** (1 / PER_DOUBLING) - 1  # ≈ 0.0219: the largest relative error of a median (≥ 1 s)
_PAIR = np.dtype([("b", "<u2"), ("n", "<u4")])
LOCK = 1640016  # the advisory lock of the trigger (shared) and of moving `marking_through` (exclusive)
RUNNING = tuple(s for s in OPEN_STATUSES if s != "waiting_resident")
COUNTS = ("touched", "received", "open", "late", "running", "reopened", "ever_resolved", "resolved", "on_time",
          "sla_resolved", "resolution_seconds", "rated", "rating_sum", "good", "running_all", "paused_late")
_RS = COUNTS.index("resolution_seconds")


def _bucket(secs):
    """SQL: the histogram bucket of a duration in seconds (one expression for the stored and the live rows)."""
    return case((secs <= 0, 0), (secs < 1, 1),
                else_=func.least(cast(func.floor(func.ln(secs) * PER_DOUBLING / math.log(2)), Integer) + 2,
                                 BUCKETS - 1))


def _bucket_bounds(k: int) -> tuple[float, float]:
    if k == 0:
        return 0.0, 0.0
    if k == 1:
        return 0.0, 1.0
    return 2 ** ((k - 2) / PER_DOUBLING), 2 ** ((k - 1) / PER_DOUBLING)


def _encode(hist: dict) -> bytes:
    arr = np.array(sorted(hist.items()), dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(arr), dtype=_PAIR)
    out["b"], out["n"] = arr[:, 0], arr[:, 1]
    return out.tobytes()


def median(dense: np.ndarray) -> float | None:
    """percentile_cont(0.5) estimated from a histogram: the two middle ranks, each placed inside its bucket
    (log-linear), averaged. Each estimate lies in its value's bucket: relative error < MEDIAN_ERROR."""
    n = int(dense.sum())
    if n == 0:
        return None
    cum = np.cumsum(dense)

    def value(rank: int) -> float:
        k = int(np.searchsorted(cum, rank, side="right"))
        before = int(cum[k - 1]) if k else 0
        lo, hi = _bucket_bounds(k)
        frac = (rank - before + 0.5) / int(dense[k])
        if k <= 1:
            return lo + (hi - lo) * frac
        return lo * (hi / lo) ** frac

    return (value((n - 1) // 2) + value(n // 2)) / 2


# --- building rows from the tickets --------------------------------------------------------------------
@dataclass
class Row:
    counts: list = field(default_factory=lambda: [0] * len(COUNTS))
    first: dict = field(default_factory=dict)
    resolution: dict = field(default_factory=dict)


def _day(column, tzname: str):
    return cast(func.timezone(tzname, column), Date)


def _within(column, ranges: list[tuple[date, date]], tz) -> object:
    return or_(*[and_(column >= datetime.combine(a, time(0), tz),
                      column < datetime.combine(b + timedelta(days=1), time(0), tz)) for a, b in ranges])


def _ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as [first, last] runs of consecutive days."""
    out: list[list[date]] = []
    for d in sorted(set(days)):
        if out and d == out[-1][1] + timedelta(days=1):
            out[-1][1] = d
        else:
            out.append([d, d])
    return [(a, b) for a, b in out]


def compute_rows(ranges: list[tuple[date, date]], histograms: bool = True) -> dict[tuple[date, int, bool], Row]:
    """The rows of the city days in `ranges`, from the tickets: {(day, institution or 0, imported): Row}."""
    if not ranges:
        return {}
    tz = city_tz()
    tzname = tz.key
    inst = func.coalesce(Ticket.institution_id, 0)
    rows: dict[tuple[date, int, bool], Row] = {}

    def run(day_col, names: tuple, columns: list, hist: tuple | None = None) -> None:
        """The counts `names` (`columns`) per (day of `day_col`, institution, imported); with `hist` = (later,
        condition, attr) also the histogram `attr` of `later` − creation over the tickets meeting `condition`, in
        the same statement and scan: GROUPING SETS, the counts' groups and the (…, bucket) groups, told apart by
        GROUPING(bucket) (the bucket NULL: a ticket outside the histogram)."""
        d = _day(day_col, tzname)
        keys = (d, inst, Ticket.imported)
        stmt = select(*keys, *columns).where(_within(day_col, ranges, tz), appeals())
        if hist is None:
            stmt = stmt.group_by(*keys)
        else:
            later, condition, attr = hist
            b = case((condition, _bucket(_seconds(later, Ticket.created_at))), else_=None)
            stmt = (stmt.add_columns(func.grouping(b), b, func.count())
                    .group_by(func.grouping_sets(tuple_(*keys), tuple_(*keys, b))))
        positions = [COUNTS.index(n) for n in names]
        width = len(positions)
        for day, i, imp, *values in db.session.execute(stmt):
            row = rows.get((day, i, imp))
            if row is None:  # not `setdefault(k, Row())`: a Row (a list and two dicts) made for every result row
                row = rows[(day, i, imp)] = Row()
            if hist is not None and values[width] == 0:  # a (…, bucket) group
                k, n = values[width + 1], values[width + 2]
                if k is not None:
                    getattr(row, attr)[int(k)] = int(n)
                continue
            counts = row.counts
            for j, v in zip(positions, values[:width], strict=True):
                counts[j] += float(v) if j == _RS else int(v or 0)

    late = or_(and_(Ticket.status == "waiting_resident", Ticket.sla_paused_at > Ticket.resolution_due_at),
               Ticket.resolved_at > Ticket.resolution_due_at)
    not_late = not_(func.coalesce(Ticket.resolved_at > Ticket.resolution_due_at, False))
    # by the day of creation: the cohort
    run(Ticket.created_at, ("touched", "received", "open", "late", "running", "reopened", "ever_resolved",
                            "running_all", "paused_late"), [
        func.count(), func.count(), func.count().filter(Ticket.status.in_(OPEN_STATUSES)), func.count().filter(late),
        func.count().filter(and_(Ticket.status.in_(RUNNING), not_late)),
        func.count().filter(Ticket.reopen_count > 0),
        func.count().filter(or_(Ticket.resolved_at.isnot(None), Ticket.reopen_count > 0)),
        # for the open tickets of right now (`open_now`): not paused, and paused after the deadline
        func.count().filter(Ticket.status.in_(RUNNING)),
        func.count().filter(and_(Ticket.status == "waiting_resident", Ticket.sla_paused_at > Ticket.resolution_due_at)),
    ], (Ticket.first_responded_at, Ticket.first_responded_at.isnot(None), "first") if histograms else None)
    # by the day of resolution (every ticket with that date marks the group as present, as the live query does)
    done = Ticket.status.in_(("resolved", "closed"))
    run(Ticket.resolved_at, ("touched", "resolved", "on_time", "sla_resolved", "resolution_seconds"), [
        func.count(), func.count().filter(done),
        func.count().filter(and_(done, Ticket.imported.is_(False), Ticket.resolved_at <= Ticket.resolution_due_at)),
        func.count().filter(and_(done, Ticket.imported.is_(False))),
        func.coalesce(func.sum(_seconds(Ticket.resolved_at, Ticket.created_at)).filter(done), 0),
    ], (Ticket.resolved_at, done, "resolution") if histograms else None)
    # by the day of rating
    run(Ticket.rated_at, ("touched", "rated", "rating_sum", "good"), [
        func.count(), func.count().filter(Ticket.rating.isnot(None)),
        func.coalesce(func.sum(Ticket.rating).filter(Ticket.rating.isnot(None)), 0),
        func.count().filter(Ticket.rating >= 4),
    ])

    return rows


def compute_category_rows(ranges: list[tuple[date, date]]) -> dict[tuple[date, int, int, bool], int]:
    """Received per (city day, rubric, institution or 0, imported) over the days in `ranges`, from the tickets."""
    if not ranges:
        return {}
    tz = city_tz()
    d = _day(Ticket.created_at, tz.key)
    inst = func.coalesce(Ticket.institution_id, 0)
    stmt = (select(d, Ticket.category_id, inst, Ticket.imported, func.count())
            .where(_within(Ticket.created_at, ranges, tz), Ticket.category_id.isnot(None), appeals())
            .group_by(d, Ticket.category_id, inst, Ticket.imported))
    return {(day, c, i, imp): int(n) for day, c, i, imp, n in db.session.execute(stmt)}


# --- reading ---------------------------------------------------------------------------------------------
FAR = date(9999, 12, 30)  # the live tail runs to the end of time (tickets dated ahead are counted too)
_PASS: ContextVar[dict | None] = ContextVar("board_rollups_pass", default=None)


@contextmanager
def one_pass():
    """Within it (one `report()`), the rows of the days not built yet (today) are computed from the tickets once
    and shared by every figure; the state and the imported-history setting are read once. Dropped at the end:
    nothing outlives the call."""
    token = _PASS.set({})
    try:
        yield
    finally:
        _PASS.reset(token)


def _memo(key, compute):
    memo = _PASS.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _live_rows(live: list[tuple[date, date]], built: date, histograms: bool) -> dict:
    """compute_rows(live): dirty days as asked, the tail from `built` on from the pass's one computation."""
    head = [(a, b) for a, b in live if a < built]
    tail = [(a, b) for a, b in live if a >= built]
    if _PASS.get() is None or not tail:
        return compute_rows(live, histograms)
    rows = compute_rows(head, histograms)
    for key, row in _memo(("rows", built), lambda: compute_rows([(built, FAR)])).items():
        if any(a <= key[0] <= b for a, b in tail):
            rows[key] = row
    return rows


def _live_category_rows(live: list[tuple[date, date]], built: date) -> dict:
    head = [(a, b) for a, b in live if a < built]
    tail = [(a, b) for a, b in live if a >= built]
    if _PASS.get() is None or not tail:
        return compute_category_rows(live)
    rows = compute_category_rows(head)
    for key, n in _memo(("categories", built), lambda: compute_category_rows([(built, FAR)])).items():
        if any(a <= key[0] <= b for a, b in tail):
            rows[key] = n
    return rows


def _with_imported() -> bool:
    """The imported-history setting (`counted()`), read by one statement."""
    return _memo("imported", lambda: not db.session.scalar(select(_imported_off())))


def _state() -> BoardRollupState | None:
    return db.session.get(BoardRollupState, 1)


def enabled() -> bool:
    return bool(current_app.config.get("BOARD_ROLLUPS", True)) and db.session.get_bind().dialect.name == "postgresql"


def usable_state() -> BoardRollupState | None:
    """The rollups' state when they may serve (enabled, built, built in the city's time zone), else None."""
    if not enabled():
        return None
    state = _memo("state", _state)
    if state is None or state.built_through is None or state.tz != city_tz().key:
        return None
    return state


def open_now(scope: Scope, now: datetime) -> dict[int | None, tuple[int, int]] | None:
    """Per direction (None: no executor, or an institution without one): the tickets open right now and of them
    overdue right now (`Ticket.is_overdue`), every ticket whatever its date or the imported-history setting —
    the sum of every row, the not-paused tickets whose deadline is ahead subtracted live. None: not built."""
    state = usable_state()
    if state is None:
        return None
    allowed = _allowed_institutions(scope)
    # from the earliest stored or marked day (a ticket imported with old dates is marked before it has a row)
    starts = [db.session.scalar(select(func.min(BoardRollup.day)).where(BoardRollup.grain == 0)),
              db.session.scalar(select(func.min(BoardDirty.day))), state.built_through]
    keys, counts, _, _ = _gather(state, min(d for d in starts if d is not None), FAR, allowed, True,
                                 histograms=False)
    not_due = _not_due(now, allowed)[0]
    directions = dict(db.session.execute(select(Institution.id, Institution.direction_id)).all())
    i_open, i_run, i_paused = COUNTS.index("open"), COUNTS.index("running_all"), COUNTS.index("paused_late")
    out: dict = {}
    for k, values in zip(keys, counts, strict=True):
        d = directions.get(k) if k else None
        o, late = out.get(d, (0, 0))
        out[d] = (o + int(values[i_open]), late + int(values[i_run]) + int(values[i_paused]))
    for k, n in not_due.items():
        d = directions.get(k) if k else None
        o, late = out.get(d, (0, 0))
        out[d] = (o, late - int(n))
    return {d: v for d, v in out.items() if v[0]}


def daily_received_resolved(d0: date, d1: date, scope: Scope) -> dict[date, tuple[int, int]] | None:
    """Per city day of [d0, d1]: received (by creation) and resolved (by resolution) — the weekly chart."""
    state = usable_state()
    if state is None:
        return None
    allowed = _allowed_institutions(scope)
    with_imported = _with_imported()
    built = state.built_through
    upto = min(d1, built - timedelta(days=1))
    dirty = set(db.session.scalars(select(BoardDirty.day).distinct().where(BoardDirty.day.between(d0, upto))))
    out: dict[date, tuple[int, int]] = {}
    if d0 <= upto:
        stmt = (select(BoardRollup.day, func.sum(BoardRollup.received), func.sum(BoardRollup.resolved))
                .where(BoardRollup.grain == 0, BoardRollup.day.between(d0, upto)).group_by(BoardRollup.day))
        if allowed is not None:
            stmt = stmt.where(BoardRollup.institution_id.in_(sorted(allowed)))
        if not with_imported:
            stmt = stmt.where(BoardRollup.imported.is_(False))
        out = {d: (int(a), int(b)) for d, a, b in db.session.execute(stmt) if d not in dirty}
    live = _ranges(dirty) + ([(max(d0, built), d1)] if max(d0, built) <= d1 else [])
    i_rec, i_res = COUNTS.index("received"), COUNTS.index("resolved")
    for (d, inst, imp), row in _live_rows(live, state.built_through, histograms=False).items():
        if (allowed is not None and inst not in allowed) or (imp and not with_imported):
            continue
        a, b = out.get(d, (0, 0))
        out[d] = (a + row.counts[i_rec], b + row.counts[i_res])
    return out


def _grain_conditions(model, months, days) -> list:
    """The rows of whole months (grain 1) and of the remaining days (grain 0, as ranges) of a rollup table."""
    conds = [and_(model.grain == 1, model.day.in_(months))] if months else []
    conds += [and_(model.grain == 0, model.day.between(a, b)) for a, b in _ranges(days)]
    return conds


def received_by_category(d0: date, d1: date, scope: Scope) -> dict[int, int] | None:
    """Received per rubric over the city days [d0, d1] (`growing_categories`). None: not built."""
    state = usable_state()
    if state is None:
        return None
    allowed = _allowed_institutions(scope)
    with_imported = _with_imported()
    months, days, live = _split(state, d0, d1)
    out: dict[int, int] = {}
    conds = _grain_conditions(BoardCategoryRollup, months, days)
    if conds:
        stmt = (select(BoardCategoryRollup.category_id, func.sum(BoardCategoryRollup.received)).where(or_(*conds))
                .group_by(BoardCategoryRollup.category_id))
        if allowed is not None:
            stmt = stmt.where(BoardCategoryRollup.institution_id.in_(sorted(allowed)))
        if not with_imported:
            stmt = stmt.where(BoardCategoryRollup.imported.is_(False))
        out = {c: int(n) for c, n in db.session.execute(stmt)}
    for (_, c, inst, imp), n in _live_category_rows(live, state.built_through).items():
        if (allowed is None or inst in allowed) and (with_imported or not imp):
            out[c] = out.get(c, 0) + n
    return out


def aggregate_sets(user, start: datetime, end: datetime, scope: Scope = Scope(),
                   now: datetime | None = None) -> tuple[Figures, dict, dict]:
    """The city total, per institution and per direction of [start, end): from the rollups for users who see every
    ticket when they are built (exact counts, medians within MEDIAN_ERROR), else `figures.live_sets()`."""
    now = now or utcnow()
    sets = rollup_sets(start, end, scope, now) if access.sees_every_ticket(user) else None
    if sets is None:
        return live_sets(user, start, end, scope, now)
    _add_other_answers({None: sets[0]}, user, start, end, scope, None)
    _add_other_answers(sets[1], user, start, end, scope, Ticket.institution_id)
    _add_other_answers(sets[2], user, start, end, scope, Institution.direction_id)
    return sets


def rollup_sets(start: datetime, end: datetime, scope: Scope, now: datetime) -> tuple[Figures, dict, dict] | None:
    """`aggregate_sets()` for every ticket from the rollups (None: not built, not whole city days, or another time
    zone — the caller computes live). Ratings of other residents are not included (the caller adds them)."""
    state = usable_state()
    if state is None:
        return None
    tz = city_tz()
    d0, d_end = start.astimezone(tz).date(), end.astimezone(tz).date()
    if datetime.combine(d0, time(0), tz) != start or datetime.combine(d_end, time(0), tz) != end or d_end <= d0:
        return None
    d1 = d_end - timedelta(days=1)
    allowed = _allowed_institutions(scope)
    with_imported = _with_imported()
    keys, counts, firsts, resolutions = _gather(state, d0, d1, allowed, with_imported)
    # one numpy pass: the rows summed per institution (index `slot`), counts and histograms
    insts = sorted(set(keys))
    slot = {k: n for n, k in enumerate(insts)}
    where = np.fromiter((slot[k] for k in keys), dtype=np.intp, count=len(keys))
    c = np.zeros((len(insts), len(COUNTS)))
    if keys:
        np.add.at(c, where, np.asarray(counts, dtype=float))
    # the first response's median is the whole scope's only: one histogram, not one per institution
    first = _dense(1, np.zeros(len(keys), dtype=np.intp), firsts)[0]
    resolution = _dense(len(insts), where, resolutions)
    not_due = _running_not_due(start, end, now, allowed, with_imported)
    running = COUNTS.index("running")
    for k, n in not_due.items():
        if k in slot:
            c[slot[k], running] -= n
    directions = dict(db.session.execute(select(Institution.id, Institution.direction_id)).all())
    touched = c[:, 0] > 0
    by_inst = {(k or None): _figures(c[i], None, resolution[i]) for k, i in slot.items() if touched[i]}
    dir_of = [directions.get(k) if k else None for k in insts]
    by_dir = {}
    for d in dict.fromkeys(dir_of):
        mask = np.array([x == d for x in dir_of])
        if touched[mask].any():
            by_dir[d] = _figures(c[mask].sum(axis=0), None, resolution[mask].sum(axis=0))
    cur = _figures(c.sum(axis=0), first, resolution.sum(axis=0))
    return cur, by_inst, by_dir


def _dense(n: int, where: np.ndarray, blobs: list[bytes]) -> np.ndarray:
    """Per institution (row `where[i]` for blob i) the dense histogram summed from the rows' sparse pairs (pairs of
    one bucket, several in a blob concatenated by the database, add up)."""
    sizes = np.fromiter((len(b) // _PAIR.itemsize for b in blobs), dtype=np.intp, count=len(blobs))
    if not sizes.sum():
        return np.zeros((n, BUCKETS), np.int64)
    pairs = np.frombuffer(b"".join(blobs), dtype=_PAIR)
    cells = np.repeat(where, sizes) * BUCKETS + pairs["b"].astype(np.intp)
    # bincount's float64 sums are exact far beyond any count of tickets (2^53)
    sums = np.bincount(cells, weights=pairs["n"].astype(np.float64), minlength=n * BUCKETS)
    return np.rint(sums).astype(np.int64).reshape(n, BUCKETS)


def _days(a: date, b: date) -> list[date]:
    return [a + timedelta(days=i) for i in range((b - a).days + 1)]


def _split(state: BoardRollupState, d0: date, d1: date) -> tuple[list[date], list[date], list[tuple[date, date]]]:
    """The city days [d0, d1] as whole clean built months (month rows), other clean built days (day rows) and
    ranges to compute live (dirty days, days not built yet)."""
    built = state.built_through
    upto = min(d1, built - timedelta(days=1))
    dirty = set(db.session.scalars(select(BoardDirty.day).distinct().where(BoardDirty.day.between(d0, upto))))
    live = _ranges(dirty) + ([(max(d0, built), d1)] if max(d0, built) <= d1 else [])
    months: list[date] = []
    days: list[date] = []
    if d0 <= upto:
        dirty_months = {d.replace(day=1) for d in dirty}
        m = d0.replace(day=1)
        while m <= upto:
            last = _month_end(m)
            if m >= d0 and last <= upto and m not in dirty_months:
                months.append(m)
            else:
                days += [d for d in _days(max(m, d0), min(last, upto)) if d not in dirty]
            m = last + timedelta(days=1)
    return months, days, live


def _gather(state: BoardRollupState, d0: date, d1: date, allowed: set[int] | None, with_imported: bool,
            histograms: bool = True) -> tuple[list, list, list, list]:
    """The rows covering the city days [d0, d1]: month rows for whole clean months, day rows for the other
    built clean days, and rows computed live for dirty days and days not built yet. Returns parallel lists:
    institution, counts, first-response and resolution histograms (sparse bytes)."""
    months, days, live = _split(state, d0, d1)
    keys: list[int] = []
    counts: list = []
    firsts: list[bytes] = []
    resolutions: list[bytes] = []

    def add(inst: int, imported: bool, values, first: bytes, resolution: bytes) -> None:
        if (allowed is not None and inst not in allowed) or (imported and not with_imported):
            return
        keys.append(inst)
        counts.append(values)
        firsts.append(first)
        resolutions.append(resolution)

    conds = _grain_conditions(BoardRollup, months, days)
    if conds:
        # summed by the database, one row per institution (and imported or not): the counts added up, the
        # histograms' sparse (bucket, n) pairs concatenated (`_dense` adds pairs of the same bucket) — a few hundred
        # rows to Python instead of one per institution and month or day (thousands for a year)
        blobs = ([func.string_agg(BoardRollup.first_hist, literal(b"")),
                  func.string_agg(BoardRollup.resolution_hist, literal(b""))] if histograms
                 else [literal(b""), literal(b"")])
        stmt = (select(BoardRollup.institution_id, BoardRollup.imported,
                       *[func.sum(getattr(BoardRollup, c)) for c in COUNTS], *blobs)
                .where(or_(*conds)).group_by(BoardRollup.institution_id, BoardRollup.imported))
        if allowed is not None:
            stmt = stmt.where(BoardRollup.institution_id.in_(sorted(allowed)))
        if not with_imported:
            stmt = stmt.where(BoardRollup.imported.is_(False))
        for inst, imp, *rest in db.session.execute(stmt):
            add(inst, imp, rest[:len(COUNTS)], rest[-2], rest[-1])
    for (_, inst, imp), row in _live_rows(live, state.built_through, histograms).items():
        add(inst, imp, row.counts, _encode(row.first), _encode(row.resolution))
    return keys, counts, firsts, resolutions


def _allowed_institutions(scope: Scope) -> set[int] | None:
    if scope.institution_id is not None:
        allowed = {scope.institution_id}
        if scope.direction_id is not None:
            allowed &= set(db.session.scalars(select(Institution.id).where(
                Institution.direction_id == scope.direction_id)))
        return allowed
    if scope.direction_id is not None:
        return set(db.session.scalars(select(Institution.id).where(Institution.direction_id == scope.direction_id)))
    return None


def _running_not_due(start: datetime, end: datetime, now: datetime, allowed: set[int] | None,
                     with_imported: bool) -> dict[int, int]:
    """Of the `running` tickets created in [start, end), those whose deadline is still ahead, per institution."""
    return _not_due(now, allowed, (start, end, with_imported))[1]


def _not_due(now: datetime, allowed: set[int] | None,
             period: tuple[datetime, datetime, bool] | None = None) -> tuple[dict[int, int], dict[int, int]]:
    """Per institution, the not-paused open tickets whose deadline is still ahead (`open_now`) and of them those
    created in `period` = (start, end, with imported history) and not late (`rollup_sets`): one index range over
    (status, resolution_due_at) — the tickets not yet due are few — read once for both by a report (its pass
    keeps the first count for `open_now`, which comes after)."""
    key = ("not_due", now, None if allowed is None else tuple(sorted(allowed)))
    memo = _PASS.get()
    if period is None and memo is not None and key in memo:
        return memo[key], {}
    inst = func.coalesce(Ticket.institution_id, 0)
    columns = [func.count()]
    if period is not None:
        start, end, with_imported = period
        mine = [Ticket.created_at >= start, Ticket.created_at < end,
                not_(func.coalesce(Ticket.resolved_at > Ticket.resolution_due_at, False))]
        if not with_imported:
            mine.append(Ticket.imported.is_(False))
        columns.append(func.count().filter(and_(*mine)))
    stmt = (select(inst, *columns).where(Ticket.status.in_(RUNNING), Ticket.resolution_due_at >= now, appeals())
            .group_by(inst))
    if allowed is not None:
        stmt = stmt.where(inst.in_(sorted(allowed)))
    rows = db.session.execute(stmt).all()
    every = {r[0]: int(r[1]) for r in rows}
    if memo is not None:
        memo.setdefault(key, every)
    return every, ({r[0]: int(r[2]) for r in rows if r[2]} if period is not None else {})


def _figures(values: np.ndarray, first: np.ndarray | None, resolution: np.ndarray) -> Figures:
    c = dict(zip(COUNTS, values.tolist(), strict=True))
    f = Figures(received=int(c["received"]), open=int(c["open"]), overdue=int(c["late"] + c["running"]),
                resolved=int(c["resolved"]), on_time=int(c["on_time"]), rated=int(c["rated"]),
                rating_sum=int(c["rating_sum"]), good=int(c["good"]), reopened=int(c["reopened"]),
                ever_resolved=int(c["ever_resolved"]), resolution_seconds=float(c["resolution_seconds"]),
                sla_resolved=int(c["sla_resolved"]))
    f.median_resolution = median(resolution)
    f.median_error = MEDIAN_ERROR
    if first is not None:
        f.median_first_response = median(first)
    return f


# --- writing -------------------------------------------------------------------------------------------
def _store_days(days: list[date]) -> None:
    """Replace the day rows of `days` and the month rows of their months (in the caller's transaction)."""
    if not days:
        return
    ranges = _ranges(days)
    rows = compute_rows(ranges)
    cats = compute_category_rows(ranges)
    for a, b in ranges:
        db.session.execute(delete(BoardRollup).where(BoardRollup.grain == 0, BoardRollup.day.between(a, b)))
        db.session.execute(delete(BoardCategoryRollup).where(BoardCategoryRollup.grain == 0,
                                                             BoardCategoryRollup.day.between(a, b)))
    _insert(0, rows)
    _insert_categories(0, cats)
    for m in sorted({d.replace(day=1) for d in days}):
        _store_month(m)


def _insert(grain: int, rows: dict) -> None:
    values = [{"grain": grain, "day": day, "institution_id": inst, "imported": imp,
               **dict(zip(COUNTS, row.counts, strict=True)),
               "first_hist": _encode(row.first), "resolution_hist": _encode(row.resolution)}
              for (day, inst, imp), row in rows.items()]
    for i in range(0, len(values), 2000):
        db.session.execute(BoardRollup.__table__.insert(), values[i:i + 2000])


def _insert_categories(grain: int, rows: dict) -> None:
    values = [{"grain": grain, "day": day, "category_id": c, "institution_id": inst, "imported": imp, "received": n}
              for (day, c, inst, imp), n in rows.items()]
    for i in range(0, len(values), 5000):
        db.session.execute(BoardCategoryRollup.__table__.insert(), values[i:i + 5000])


def _store_month(m: date) -> None:
    """The month row of month `m`: the sum of its day rows."""
    stmt = select(BoardRollup.institution_id, BoardRollup.imported, *[getattr(BoardRollup, c) for c in COUNTS],
                  BoardRollup.first_hist, BoardRollup.resolution_hist).where(
        BoardRollup.grain == 0, BoardRollup.day.between(m, _month_end(m)))
    sums: dict = {}
    for inst, imp, *rest in db.session.execute(stmt):
        key = (m, inst, imp)
        row = sums.setdefault(key, Row())
        row.counts = [x + y for x, y in zip(row.counts, rest[:len(COUNTS)], strict=True)]
        for attr, blob in (("first", rest[-2]), ("resolution", rest[-1])):
            h = getattr(row, attr)
            for k, n in np.frombuffer(blob, dtype=_PAIR).tolist():
                h[k] = h.get(k, 0) + n
    db.session.execute(delete(BoardRollup).where(BoardRollup.grain == 1, BoardRollup.day == m))
    _insert(1, sums)
    cat = BoardCategoryRollup
    db.session.execute(delete(cat).where(cat.grain == 1, cat.day == m))
    db.session.execute(cat.__table__.insert().from_select(
        ["grain", "day", "category_id", "institution_id", "imported", "received"],
        select(literal(1).cast(Integer), literal(m, Date), cat.category_id, cat.institution_id, cat.imported,
               func.sum(cat.received))
        .where(cat.grain == 0, cat.day.between(m, _month_end(m)))
        .group_by(cat.category_id, cat.institution_id, cat.imported)))


def _move_marking(through: date) -> BoardRollupState:
    """Set the state's time zone and `marking_through` under the exclusive lock (waits for ticket writes in
    flight, whose trigger holds it shared) and commit: from here on every write to a day before it is marked."""
    tz = city_tz()
    db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK})
    state = _state()
    if state is None:
        state = BoardRollupState(id=1, tz=tz.key)
        db.session.add(state)
    if state.tz != tz.key:
        state.tz, state.built_through = tz.key, None
    state.marking_through = max(state.marking_through or through, through) if state.built_through else through
    db.session.commit()
    return state


def rebuild_steps(today_: date) -> Iterator[tuple[int, int]]:
    """A full rebuild, month by month, committing each: yields (done, total) months. Reads every ticket once."""
    state = _move_marking(today_)
    first = db.session.scalar(select(func.min(Ticket.created_at)))
    others = [db.session.scalar(select(func.min(c))) for c in (Ticket.resolved_at, Ticket.rated_at)]
    starts = [x.astimezone(city_tz()).date() for x in [first, *others] if x is not None]
    db.session.execute(delete(BoardRollup))
    db.session.execute(delete(BoardCategoryRollup))
    db.session.execute(update(BoardRollupState).where(BoardRollupState.id == 1).values(built_through=None))
    db.session.commit()
    months = []
    if starts:
        m = min(starts).replace(day=1)
        while m < today_:
            months.append(m)
            m = _month_end(m) + timedelta(days=1)
    for i, m in enumerate(months, 1):
        _store_days(_days(m, min(_month_end(m), today_ - timedelta(days=1))))
        db.session.commit()
        yield i, len(months)
    state = _state()
    state.built_through, state.built_at = today_, utcnow()
    db.session.commit()


def rebuild(today_: date, progress: Callable[[int, int], None] | None = None) -> None:
    for done, total in rebuild_steps(today_):
        if progress:
            progress(done, total)


def refresh(today_: date, limit: int = 20000) -> int:
    """The job's step: advance the built range to `today_` (building the new days) and recompute the days marked
    dirty (up to `limit` marks), then delete exactly the marks read. Idempotent. Returns the days recomputed."""
    state = _state()
    if state is None or state.built_through is None or state.tz != city_tz().key:
        return 0
    done = 0
    if state.built_through < today_:
        _move_marking(today_)
        state = _state()
        new = _days(state.built_through, today_ - timedelta(days=1))
        _store_days(new)
        state.built_through, state.built_at = today_, utcnow()
        db.session.commit()
        done += len(new)
    marks = db.session.execute(select(BoardDirty.id, BoardDirty.day).order_by(BoardDirty.id).limit(limit)).all()
    if marks:
        days = sorted({d for _, d in marks if d < state.built_through})
        _store_days(days)
        db.session.execute(delete(BoardDirty).where(BoardDirty.id.in_([i for i, _ in marks])))
        db.session.commit()
        done += len(days)
    return done
