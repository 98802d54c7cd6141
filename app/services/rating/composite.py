"""The composite rating within a direction (issue 14, item 2): the ЭИСИ mean of ranks.

Method (docs/rating.md «Как считается — место в рейтинге»):
* participants are compared within one direction only;
* a participant is ranked when it has at least MIN_POSTS live posts in the period and MIN_AUDIENCE subscribers
  at its end; otherwise it is listed with its figures and the flag `few_data` («мало данных»), without a place;
* each component (RANKED) ranks the ranked participants that have it: rank 1 is the best, ties get the average of
  the ranks they span (scipy's rankdata 'average', written here); «lower is better» components are ranked from
  the lowest;
* a component's rank becomes a standing in (0, 1): 1 − (rank − 0.5) ÷ n, n = the participants ranked on that
  component — so a participant ranked on 6 components and one ranked on 10 stand on the same scale;
* score = 100 × the mean of its standings over the components it has (`used`); place = 1 + the number of ranked
  participants with a strictly higher score (equal scores share a place);
* growth that jumps implausibly in one day (JUMP_SHARE and JUMP_PEOPLE, see `implausible_jumps`) flags the
  participant `check_growth` («проверить накрутку») and its growth is left out of the ranking until a person
  clears the (account, day) — `frozen.clear_jump`, stored in growth_clearances.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, AccountSnapshot, GrowthClearance
from app.services.board.periods import Period
from app.services.rating.figures import Figures, figures_for_direction

MIN_POSTS = 4  # live posts in the period
MIN_AUDIENCE = 100  # subscribers at the period's end
JUMP_SHARE = 0.20  # a one-day rise above 20 % of the day before …
JUMP_PEOPLE = 500  # … and above 500 people flags «проверить накрутку»
TOP = 3

# component → (how it is read from Figures, True when higher is better)
RANKED: dict[str, tuple] = {
    "audience": (lambda f: f.audience_end, True),
    "growth": (lambda f: f.growth_pct, True),
    "posts_per_week": (lambda f: f.posts_per_week, True),
    "silence": (lambda f: f.longest_silence, False),
    "err": (lambda f: f.err, True),
    "er": (lambda f: f.er, True),
    "on_time": (lambda f: f.on_time_share, True),
    "first_response": (lambda f: f.median_first_response, False),
    "rating": (lambda f: f.rating_avg, True),
    "reopened": (lambda f: f.reopened_share, False),
}
FEW_DATA, CHECK_GROWTH = "few_data", "check_growth"


@dataclass
class RatingRow:
    institution_id: int
    figures: Figures
    score: float | None = None  # 0–100, None when not ranked
    place: int | None = None
    ranks: dict[str, float] = field(default_factory=dict)  # component → rank among those having it (1 = best)
    of: dict[str, int] = field(default_factory=dict)  # component → how many were ranked on it
    used: set[str] = field(default_factory=set)  # the components the score is over
    flags: set[str] = field(default_factory=set)  # few_data, check_growth
    top3: bool = False
    previous_place: int | None = None
    change: int | None = None  # previous place − place: +2 = up two places; None when not ranked before or now

    @property
    def ranked(self) -> bool:
        return self.place is not None


def average_ranks(values: dict, higher_better: bool = True) -> dict:
    """key → rank (1 = the best); equal values get the mean of the ranks they span (1, 2.5, 2.5, 4)."""
    order = sorted(values, key=lambda k: values[k], reverse=higher_better)
    out, i = {}, 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            out[k] = (i + 1 + j + 1) / 2
        i = j + 1
    return out


def eligible(f: Figures) -> bool:
    return f.posts >= MIN_POSTS and (f.audience_end or 0) >= MIN_AUDIENCE


def rank(figures: dict[int, Figures], suspicious: set[int] | frozenset = frozenset()) -> list[RatingRow]:
    """The composite over one direction's figures (`suspicious`: participants whose growth is left out).
    Ranked rows by place (then id), then the «мало данных» rows by id."""
    rows = {i: RatingRow(i, f) for i, f in figures.items()}
    for i, row in rows.items():
        if not eligible(row.figures):
            row.flags.add(FEW_DATA)
        if i in suspicious:
            row.flags.add(CHECK_GROWTH)
    ranked = [r for r in rows.values() if FEW_DATA not in r.flags]
    standing: dict[int, list[float]] = defaultdict(list)
    for name, (read, higher) in RANKED.items():
        values = {r.institution_id: read(r.figures) for r in ranked
                  if read(r.figures) is not None and not (name == "growth" and CHECK_GROWTH in r.flags)}
        ranks = average_ranks(values, higher)
        for i, rk in ranks.items():
            row = rows[i]
            row.ranks[name], row.of[name] = rk, len(ranks)
            row.used.add(name)
            standing[i].append(1 - (rk - 0.5) / len(ranks))
    for r in ranked:
        s = standing[r.institution_id]
        r.score = 100 * sum(s) / len(s)  # never empty: posts per week and silence are always there
    for r in ranked:
        r.place = 1 + sum(1 for o in ranked if o.score > r.score)
        r.top3 = r.place <= TOP
    return (sorted(ranked, key=lambda r: (r.place, r.institution_id))
            + sorted((r for r in rows.values() if FEW_DATA in r.flags), key=lambda r: r.institution_id))


def implausible_jumps(institution_ids: list[int], period: Period) -> dict[int, list[tuple[int, date, int, int]]]:
    """Participant → its accounts' implausible one-day rises in the period: (account id, day, the day before's
    followers, that day's). A rise counts between snapshots of consecutive days (a missed collection spreads a
    rise over the gap and is not judged) when it is above JUMP_SHARE of the day before and above JUMP_PEOPLE,
    unless a person cleared that (account, day) (growth_clearances: NOT EXISTS).
    One statement: lag() over a range of the unique (account_id, taken_on) index."""
    if not institution_ids:
        return {}
    previous = func.lag(AccountSnapshot.followers).over(partition_by=AccountSnapshot.account_id,
                                                        order_by=AccountSnapshot.taken_on)
    previous_day = func.lag(AccountSnapshot.taken_on).over(partition_by=AccountSnapshot.account_id,
                                                           order_by=AccountSnapshot.taken_on)
    inner = (select(Account.institution_id.label("inst"), AccountSnapshot.account_id, AccountSnapshot.taken_on,
                    AccountSnapshot.followers, previous.label("before"), previous_day.label("before_day"))
             .join(Account, Account.id == AccountSnapshot.account_id)
             .where(Account.institution_id.in_(institution_ids), Account.shown(),
                    AccountSnapshot.taken_on >= period.start - timedelta(days=1),
                    AccountSnapshot.taken_on <= period.end)).subquery()
    rise = inner.c.followers - inner.c.before
    out: dict[int, list] = defaultdict(list)
    for inst, account_id, day, before, after in db.session.execute(
            select(inner.c.inst, inner.c.account_id, inner.c.taken_on, inner.c.before, inner.c.followers)
            .where(inner.c.taken_on >= period.start, inner.c.before_day == inner.c.taken_on - 1,
                   rise > JUMP_PEOPLE, rise > inner.c.before * JUMP_SHARE,
                   ~select(GrowthClearance.id).where(GrowthClearance.account_id == inner.c.account_id,
                                                     GrowthClearance.day == inner.c.taken_on).exists())
            .order_by(inner.c.inst, inner.c.account_id, inner.c.taken_on)):
        out[inst].append((account_id, day, before, after))
    return dict(out)


@dataclass
class Rating:
    direction_id: int
    period: Period
    rows: list[RatingRow]
    previous: list[RatingRow]  # the previous period's rows (Period.previous())
    jumps: dict[int, list[tuple[int, date, int, int]]]  # this period's «проверить накрутку» evidence


def rank_period(direction_id: int, period: Period, today: date | None = None,
                now: datetime | None = None) -> tuple[list[RatingRow], dict]:
    figures = figures_for_direction(direction_id, period, today, now)
    jumps = implausible_jumps(list(figures), period)
    return rank(figures, set(jumps)), jumps


def composite_for_direction(direction_id: int, period: Period, today: date | None = None,
                            now: datetime | None = None) -> Rating:
    """The direction's rating over `period` beside the previous one, with each participant's change of place."""
    rows, jumps = rank_period(direction_id, period, today, now)
    before, _ = rank_period(direction_id, period.previous(), today, now)
    was = {r.institution_id: r.place for r in before}
    for r in rows:
        r.previous_place = was.get(r.institution_id)
        if r.place is not None and r.previous_place is not None:
            r.change = r.previous_place - r.place
    return Rating(direction_id, period, rows, before, jumps)
