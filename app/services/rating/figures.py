"""A participant's figures over a period: audience, activity and engagement (issue 14, item 1).

Definitions (docs/rating.md «Как считается»):
* audience — subscribers across the participant's active accounts: at the period's end, each account's last
  snapshot on or before the end day (city time); at its start, the last snapshot on or before the day before
  the start (the audience the period began with, so consecutive periods' growth adds up). Growth (people and %)
  is counted over the accounts that had a snapshot at both ends (an account connected since adds nothing);
  % is None when that start is 0 or unknown;
* activity — live posts (Post.live()) published in the period: posts per week = posts ÷ period days × 7; days
  with posts (distinct city-time days); the longest silence — the longest run of days without a post from the
  period's start to its end (or today, when the period runs on), so a period without posts is silent throughout;
* engagement — ERR of a post = views ÷ subscribers of that account on the post's day (that day's snapshot or
  the last before); ER of a post = (reactions + comments + reposts) ÷ views; each the median over the period's
  posts that have the numbers (views given and > 0, a subscriber figure > 0; for ER at least one of the three
  counts given, the others taken as 0). None, and named in `missing`, when no post has them;
* feedback — the board's figures (app/services/board/figures.py `aggregate`, grouped by the executor
  institution, every ticket seen): appeals received, share resolved on time, median first response, mean
  rating, share reopened — the same definitions, not re-defined here. None for a participant never sent appeals;
  `appeals` is missing when it received none in the period, each other figure when the board gives None.

Queries for a set of participants: their accounts; the audience at both ends (two correlated LIMIT 1 probes of
the unique (account_id, taken_on) index per account); the period's snapshots of those accounts (a range of the
same index); the period's live posts (a range of the partial ix_posts_account_published per account); which
of them receive appeals; the board's aggregate over the direction's appeals. The same few statements whatever
the number of participants.
"""
from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Account, AccountSnapshot, Institution, Post, Ticket
from app.services import board
from app.services.board.periods import Period, Scope, city_tz
from app.services.board.periods import today as city_today

# The components a participant may lack (named in Figures.missing).
COMPONENTS = ("audience", "growth", "err", "er", "appeals", "on_time", "first_response", "rating", "reopened")
EVERYONE = board._Everyone()  # the rating's viewpoint on appeals: every ticket, as the board's job


@dataclass
class Figures:
    institution_id: int
    period: Period
    accounts: int = 0  # active accounts counted
    audience_end: int | None = None  # subscribers at the period's end (None: no account had a snapshot then)
    audience_start: int | None = None  # at its start (the day before the first day)
    growth: int | None = None  # people, over the accounts known at both ends
    growth_pct: float | None = None  # growth ÷ their start × 100
    posts: int = 0
    posts_per_week: float = 0.0
    post_days: int = 0
    longest_silence: int = 0  # days
    err: float | None = None  # median views ÷ subscribers (a ratio, 0.12 = 12 %)
    er: float | None = None  # median (reactions + comments + reposts) ÷ views
    err_posts: int = 0  # posts the ERR median is over
    er_posts: int = 0
    # Feedback: the board's figures of the appeals it was the executor of (app/services/board/figures.py, the
    # same definitions); None for a participant that is never sent appeals.
    feedback: board.Figures | None = None
    missing: set[str] = field(default_factory=set)

    @property
    def appeals(self) -> int | None:
        return self.feedback.received if self.feedback else None

    @property
    def on_time_share(self) -> float | None:
        return self.feedback.sla_share if self.feedback else None

    @property
    def median_first_response(self) -> float | None:  # seconds
        return self.feedback.median_first_response if self.feedback else None

    @property
    def rating_avg(self) -> float | None:
        return self.feedback.rating_avg if self.feedback else None

    @property
    def reopened_share(self) -> float | None:
        return self.feedback.reopened_share if self.feedback else None


def _snapshot_before(day: date):
    """The account's followers in its last snapshot on or before `day` (a LIMIT 1 probe of the unique index)."""
    return (select(AccountSnapshot.followers)
            .where(AccountSnapshot.account_id == Account.id, AccountSnapshot.taken_on <= day)
            .order_by(AccountSnapshot.taken_on.desc()).limit(1).correlate(Account).scalar_subquery())


def longest_silence(post_days: set[date], start: date, last: date) -> int:
    """The longest run of days in [start, last] without a post day."""
    if last < start:
        return 0
    best, previous = 0, start - timedelta(days=1)
    for day in sorted(d for d in post_days if start <= d <= last):
        best = max(best, (day - previous).days - 1)
        previous = day
    return max(best, (last - previous).days)


def figures_for(institution_ids: list[int], period: Period, today: date | None = None,
                now: datetime | None = None) -> dict[int, Figures]:
    """The figures of each of these participants over `period` (`today`: the city day, for a period that runs on;
    `now`: the moment the board's «overdue now» is taken at)."""
    scope = Scope(institution_id=institution_ids[0]) if len(institution_ids) == 1 else Scope()
    return _figures_for(institution_ids, period, today, scope, now)


def _figures_for(institution_ids: list[int], period: Period, today: date | None, scope: Scope,
                 now: datetime | None) -> dict[int, Figures]:
    """`scope`: the board's scope that holds these participants (their appeals are aggregated over it)."""
    out = {i: Figures(i, period) for i in institution_ids}
    if not institution_ids:
        return out
    tz = city_tz()
    last_day = min(period.end, today or city_today())
    start_day = period.start - timedelta(days=1)

    rows = db.session.execute(
        select(Account.id, Account.institution_id, _snapshot_before(period.end), _snapshot_before(start_day))
        .where(Account.institution_id.in_(institution_ids), Account.shown())).all()
    owner = {account_id: inst for account_id, inst, _e, _s in rows}
    before = {account_id: s for account_id, _i, _e, s in rows if s is not None}  # the last before the start
    for _a, inst, end, start in rows:
        f = out[inst]
        f.accounts += 1
        if end is not None:
            f.audience_end = (f.audience_end or 0) + end
        if start is not None:
            f.audience_start = (f.audience_start or 0) + start
    both_end, both_start = defaultdict(int), defaultdict(int)
    for _a, inst, end, start in rows:
        if end is not None and start is not None:
            both_end[inst] += end
            both_start[inst] += start

    # Subscribers of each account day by day within the period (for ERR), from its snapshots in the period.
    daily: dict[int, dict[date, int]] = defaultdict(dict)
    if owner:
        for account_id, day, followers in db.session.execute(
                select(AccountSnapshot.account_id, AccountSnapshot.taken_on, AccountSnapshot.followers)
                .where(AccountSnapshot.account_id.in_(list(owner)),
                       AccountSnapshot.taken_on >= period.start, AccountSnapshot.taken_on <= period.end)):
            daily[account_id][day] = followers

    lo, hi = period.bounds(tz)
    posts = db.session.execute(
        select(Post.account_id, Post.published_at, Post.views, Post.reactions, Post.comments, Post.reposts)
        .where(Post.account_id.in_(list(owner)), Post.live(), Post.published_at >= lo, Post.published_at < hi)
    ).all() if owner else []
    days: dict[int, set[date]] = defaultdict(set)
    errs: dict[int, list[float]] = defaultdict(list)
    ers: dict[int, list[float]] = defaultdict(list)
    sorted_days = {a: sorted(d) for a, d in daily.items()}
    for account_id, published_at, views, reactions, comments, reposts in posts:
        inst = owner[account_id]
        day = published_at.astimezone(tz).date()
        out[inst].posts += 1
        days[inst].add(day)
        if not views:
            continue
        subscribers = _on_day(daily.get(account_id, {}), sorted_days.get(account_id, []), day,
                              before.get(account_id))
        if subscribers:
            errs[inst].append(views / subscribers)
        if (reactions, comments, reposts) != (None, None, None):
            ers[inst].append(((reactions or 0) + (comments or 0) + (reposts or 0)) / views)

    receiving = set(db.session.scalars(select(Institution.id).where(Institution.id.in_(institution_ids),
                                                                      Institution.receives_appeals)))
    feedback = board.aggregate(EVERYONE, *period.bounds(tz), scope, Ticket.institution_id, now) if receiving else {}

    for inst, f in out.items():
        if inst in receiving:
            f.feedback = feedback.get(inst) or board.Figures()
        f.posts_per_week = f.posts / period.days * 7
        f.post_days = len(days[inst])
        f.longest_silence = longest_silence(days[inst], period.start, last_day)
        if inst in both_start:
            f.growth = both_end[inst] - both_start[inst]
            f.growth_pct = f.growth / both_start[inst] * 100 if both_start[inst] else None
        f.err_posts, f.er_posts = len(errs[inst]), len(ers[inst])
        f.err = statistics.median(errs[inst]) if errs[inst] else None
        f.er = statistics.median(ers[inst]) if ers[inst] else None
        f.missing = {name for name, value in (("audience", f.audience_end), ("growth", f.growth),
                                              ("err", f.err), ("er", f.er), ("appeals", f.appeals),
                                              ("on_time", f.on_time_share),
                                              ("first_response", f.median_first_response),
                                              ("rating", f.rating_avg), ("reopened", f.reopened_share))
                     if value is None or (name == "appeals" and not value)}
    return out


def _on_day(by_day: dict[date, int], ordered: list[date], day: date, before: int | None) -> int | None:
    """Subscribers on `day`: that day's snapshot or the last before (in the period, else the one before it)."""
    if day in by_day:
        return by_day[day]
    k = bisect.bisect_left(ordered, day)  # the snapshots before `day` are ordered[:k]
    return by_day[ordered[k - 1]] if k else before


def figures(institution: Institution | int, period: Period, today: date | None = None,
            now: datetime | None = None) -> Figures:
    """One participant's figures over `period`."""
    iid = institution if isinstance(institution, int) else institution.id
    return figures_for([iid], period, today, now)[iid]


def figures_for_direction(direction_id: int, period: Period, today: date | None = None,
                          now: datetime | None = None) -> dict[int, Figures]:
    """Every active participant of a direction: institution id → its figures over `period`."""
    ids = list(db.session.scalars(select(Institution.id).where(Institution.direction_id == direction_id,
                                                               Institution.is_active).order_by(Institution.id)))
    return _figures_for(ids, period, today, Scope(direction_id=direction_id), now)
