"""The rating's figures per participant and period (issue 14, item 1) against values computed independently in
the test: plain Python over the same hand-built snapshots and posts."""
from __future__ import annotations

import statistics
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.models import AccountSnapshot, Post, Ticket
from app.services import board, rating
from app.services.board.periods import Period, Scope, standard_period
from tests.factories import make_account, make_direction, make_institution, make_ticket

SOCIAL = {"audience", "growth", "err", "er"}
FEEDBACK = {"appeals", "on_time", "first_response", "rating", "reopened"}
TZ = ZoneInfo("Asia/Yakutsk")  # TestConfig's city (UTC+9)
NOV = Period("month", date(2026, 11, 1), date(2026, 11, 30))
TODAY = date(2026, 11, 30)
_ext = iter(range(10**9))


def at(day: date, hh: int = 12, mm: int = 0) -> datetime:
    """A moment of a city-time day, as UTC."""
    return datetime.combine(day, time(hh, mm), TZ).astimezone(timezone.utc)


def snap(account, day: date, followers: int):
    db.session.add(AccountSnapshot(account_id=account.id, taken_on=day, followers=followers, posts=0))


def post(account, when: datetime, views=None, reactions=None, comments=None, reposts=None, deleted=False):
    db.session.add(Post(account_id=account.id, external_id=f"p{next(_ext)}", published_at=when, views=views,
                        reactions=reactions, comments=comments, reposts=reposts,
                        deleted_at=when + timedelta(hours=1) if deleted else None))


# --- the independent computation -------------------------------------------------------------------------
def expected(snaps: dict[int, dict[date, int]], posts: list[tuple], period: Period, today: date) -> dict:
    """snaps: account → {day: followers}; posts: (account, published_at, views, reactions, comments, reposts,
    deleted). Brute force, day by day."""
    def last_on(account, day):
        days = [d for d in snaps.get(account, {}) if d <= day]
        return snaps[account][max(days)] if days else None

    accounts = set(snaps) | {p[0] for p in posts}
    end = {a: last_on(a, period.end) for a in accounts}
    start = {a: last_on(a, period.start - timedelta(days=1)) for a in accounts}
    known_end = [v for v in end.values() if v is not None]
    known_start = [v for v in start.values() if v is not None]
    both = [a for a in accounts if end[a] is not None and start[a] is not None]
    growth = sum(end[a] - start[a] for a in both) if both else None
    base = sum(start[a] for a in both)
    live = [p for p in posts if not p[6] and period.start <= p[1].astimezone(TZ).date() <= period.end]
    post_days = {p[1].astimezone(TZ).date() for p in live}
    last = min(period.end, today)
    silence, run, day = 0, 0, period.start
    while day <= last:
        run = 0 if day in post_days else run + 1
        silence = max(silence, run)
        day += timedelta(days=1)
    errs, ers = [], []
    for a, when, views, reactions, comments, reposts, _d in live:
        if not views:
            continue
        subs = last_on(a, when.astimezone(TZ).date())
        if subs:
            errs.append(views / subs)
        if reactions is not None or comments is not None or reposts is not None:
            ers.append(((reactions or 0) + (comments or 0) + (reposts or 0)) / views)
    return {
        "audience_end": sum(known_end) if known_end else None,
        "audience_start": sum(known_start) if known_start else None,
        "growth": growth, "growth_pct": growth / base * 100 if both and base else None,
        "posts": len(live), "posts_per_week": len(live) / period.days * 7, "post_days": len(post_days),
        "longest_silence": silence,
        "err": statistics.median(errs) if errs else None, "er": statistics.median(ers) if ers else None,
    }


def assert_matches(f: rating.Figures, want: dict) -> None:
    for name, value in want.items():
        got = getattr(f, name)
        if isinstance(value, float):
            assert got == pytest.approx(value), name
        else:
            assert got == value, name


# --- hand-built cases --------------------------------------------------------------------------------------
@pytest.fixture
def school():
    inst = make_institution(make_direction("Образование"))
    vk, tg = make_account(inst, "vk"), make_account(inst, "telegram")
    return inst, vk, tg


def test_audience_growth_and_day_boundaries(school):
    inst, vk, tg = school
    s = {vk.id: {date(2026, 10, 30): 1000, date(2026, 11, 15): 1100, date(2026, 11, 29): 1200},
         tg.id: {date(2026, 10, 31): 300, date(2026, 11, 30): 330}}
    for a, days in s.items():
        for d, n in days.items():
            snap(db.session.get(type(vk), a), d, n)
    posts = [
        (vk.id, at(date(2026, 11, 10), 23, 30), 220, 5, 2, 1, False),  # 23:30 Yakutsk: the 10th, not the 11th
        (vk.id, at(date(2026, 11, 1), 0, 5), 100, 1, 0, 0, False),  # just after midnight on the 1st: counted
        (vk.id, at(date(2026, 10, 31), 23, 59), 999, 9, 9, 9, False),  # the last minute of October: not counted
        (vk.id, at(date(2026, 12, 1), 0, 0), 999, 9, 9, 9, False),  # December: not counted
        (vk.id, at(date(2026, 11, 20)), 5000, 50, None, None, True),  # deleted: not counted anywhere
        (tg.id, at(date(2026, 11, 16)), None, None, None, None, False),  # Telegram: no views
    ]
    for a, when, *m, deleted in posts:
        post(db.session.get(type(vk), a), when, *m, deleted=deleted)
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    want = expected(s, posts, NOV, TODAY)
    assert_matches(f, want)
    # and by hand, so the brute force itself is checked
    assert (f.audience_end, f.audience_start, f.growth) == (1530, 1300, 230)
    assert f.growth_pct == pytest.approx(230 / 1300 * 100)
    assert (f.posts, f.post_days) == (3, 3)
    assert f.posts_per_week == pytest.approx(3 / 30 * 7)
    assert f.longest_silence == 14  # 17.11–30.11
    assert f.err == pytest.approx(statistics.median([100 / 1000, 220 / 1000]))  # snapshots on or before the day
    assert f.er == pytest.approx(statistics.median([1 / 100, 8 / 220]))
    assert f.missing == FEEDBACK  # no appeals in these tests


def test_a_post_at_2330_city_time_belongs_to_that_day(school):
    inst, vk, _tg = school
    snap(vk, date(2026, 11, 10), 100)
    snap(vk, date(2026, 11, 11), 1000)
    post(vk, at(date(2026, 11, 10), 23, 30), views=50)  # 14:30 UTC the same day; the 10th's subscribers
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.err == pytest.approx(0.5)
    assert f.post_days == 1
    assert f.longest_silence == max(9, 20)


def test_a_morning_post_in_the_city_is_on_the_city_day_not_the_utc_one(school):
    inst, vk, _tg = school
    snap(vk, date(2026, 11, 10), 100)
    snap(vk, date(2026, 11, 11), 1000)
    post(vk, at(date(2026, 11, 10), 23, 30), views=50)
    post(vk, at(date(2026, 11, 11), 8, 30), views=50)  # 23:30 UTC on the 10th; the 11th in the city
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.post_days == 2
    assert f.err == pytest.approx(statistics.median([0.5, 0.05]))
    assert f.longest_silence == 19  # 12.11–30.11


def test_no_posts_the_whole_period_is_silent(school):
    inst, vk, _tg = school
    snap(vk, date(2026, 11, 5), 100)
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert (f.posts, f.post_days, f.posts_per_week, f.longest_silence) == (0, 0, 0, 30)
    assert f.err is None and f.er is None
    assert f.audience_end == 100 and f.audience_start is None and f.growth is None and f.growth_pct is None
    assert f.missing - FEEDBACK == {"growth", "err", "er"}


def test_silence_runs_to_today_in_a_period_that_runs_on(school):
    inst, vk, _tg = school
    post(vk, at(date(2026, 11, 3)), views=10)
    db.session.flush()
    period = standard_period("month", date(2026, 11, 20))
    f = rating.figures(inst, period, today=date(2026, 11, 20))
    assert f.longest_silence == 17  # 4.11–20.11
    assert f.posts_per_week == pytest.approx(1 / 20 * 7)


def test_median_of_an_even_count_and_ties(school):
    inst, vk, _tg = school
    snap(vk, date(2026, 10, 31), 100)
    for views, reactions in ((10, 1), (20, 2), (30, 3), (40, 40)):  # ERR 0.1 0.2 0.3 0.4 ; ER 0.1 0.1 0.1 1
        post(vk, at(date(2026, 11, 2)), views=views, reactions=reactions)
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.err == pytest.approx(0.25) and f.err_posts == 4
    assert f.er == pytest.approx(0.1) and f.er_posts == 4
    assert f.post_days == 1


def test_an_account_without_views_is_marked_missing(school):
    inst, _vk, tg = school
    snap(tg, date(2026, 10, 31), 300)
    snap(tg, date(2026, 11, 30), 320)
    post(tg, at(date(2026, 11, 4)))
    post(tg, at(date(2026, 11, 5)), views=0, reactions=3)  # zero views: no ratio
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.err is None and f.er is None
    assert f.missing - FEEDBACK == {"err", "er"}
    assert f.growth == 20 and f.growth_pct == pytest.approx(20 / 300 * 100)


def test_growth_pct_is_none_when_the_start_is_zero(school):
    inst, vk, _tg = school
    snap(vk, date(2026, 10, 31), 0)
    snap(vk, date(2026, 11, 30), 50)
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.growth == 50 and f.growth_pct is None and "growth" not in f.missing


def test_the_previous_period_and_consecutive_growth_adds_up(school):
    inst, vk, _tg = school
    s = {vk.id: {date(2026, 9, 30): 500, date(2026, 10, 15): 600, date(2026, 10, 31): 700, date(2026, 11, 30): 760}}
    for d, n in s[vk.id].items():
        snap(vk, d, n)
    posts = [(vk.id, at(date(2026, 10, 20)), 70, 7, 0, 0, False), (vk.id, at(date(2026, 11, 2)), 76, 1, 1, 1, False)]
    for a, when, *m, deleted in posts:
        post(vk, when, *m, deleted=deleted)
    db.session.flush()
    prev = NOV.previous()
    assert (prev.start, prev.end) == (date(2026, 10, 1), date(2026, 10, 30))  # the board's: the same days
    now, before = rating.figures(inst, NOV, today=TODAY), rating.figures(inst, prev, today=TODAY)
    assert_matches(now, expected(s, posts, NOV, TODAY))
    assert_matches(before, expected(s, posts, prev, TODAY))
    assert before.err == pytest.approx(70 / 600)
    october = Period("custom", date(2026, 10, 1), date(2026, 10, 31))
    assert rating.figures(inst, october, today=TODAY).growth + now.growth == 760 - 500


def test_direction_in_bulk_equals_one_by_one_and_leaves_others_out(school):
    inst, vk, _tg = school
    other = make_institution(inst.direction)
    closed = make_institution(inst.direction)
    closed.is_active = False
    elsewhere = make_institution()
    oa, ea = make_account(other), make_account(elsewhere)
    snap(vk, date(2026, 11, 1), 10)
    snap(oa, date(2026, 11, 1), 20)
    post(vk, at(date(2026, 11, 3)), views=5, reactions=1)
    post(oa, at(date(2026, 11, 4)), views=4)
    post(ea, at(date(2026, 11, 4)), views=4)
    db.session.flush()
    bulk = rating.figures_for_direction(inst.direction_id, NOV, today=TODAY)
    assert set(bulk) == {inst.id, other.id}
    for iid, f in bulk.items():
        assert f == rating.figures(iid, NOV, today=TODAY)
    assert bulk[other.id].posts == 1 and bulk[other.id].missing - FEEDBACK == {"growth", "er"}


def test_a_participant_without_accounts(school):
    inst = make_institution()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.accounts == 0 and f.posts == 0 and f.longest_silence == 30
    assert f.missing == SOCIAL | FEEDBACK


def test_few_queries_whatever_the_number_of_participants(school):
    from sqlalchemy import event
    d = make_direction()
    for _ in range(6):
        i = make_institution(d)
        a = make_account(i)
        snap(a, date(2026, 11, 2), 10)
        post(a, at(date(2026, 11, 3)), views=5)
    db.session.flush()
    engine = db.session.get_bind()

    def count() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            rating.figures_for_direction(d.id, NOV, today=TODAY)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    six = count()
    for _ in range(10):
        i = make_institution(d)
        make_ticket(institution=i, created_at=at(date(2026, 11, 3)))
        a = make_account(i)
        snap(a, date(2026, 11, 2), 10)
        post(a, at(date(2026, 11, 4)), views=5)
    db.session.flush()
    assert 1 <= six == count() <= 8


# --- feedback: the board's figures, the same definitions -----------------------------------------------------
def test_feedback_is_the_boards_for_the_appeals_it_executes(school):
    inst, _vk, _tg = school
    other = make_institution(inst.direction)
    now = at(date(2026, 11, 30), 18)
    made = []
    # (created day, first response hours, resolved hours or None, due hours, rating, reopened)
    for day, first, resolved, due, rate, reopened in ((2, 1, 10, 24, 5, 0), (5, 3, 30, 24, 2, 1),
                                                      (9, 2, None, 24, None, 0), (12, None, 5, 24, 4, 0)):
        created = at(date(2026, 11, day), 10)
        t = make_ticket(institution=inst, created_at=created)
        t.first_responded_at = created + timedelta(hours=first) if first else None
        t.resolution_due_at = created + timedelta(hours=due)
        if resolved:
            t.status, t.resolved_at = "resolved", created + timedelta(hours=resolved)
        if rate:
            t.rating, t.rated_at = rate, t.resolved_at + timedelta(hours=1)
        t.reopen_count = reopened
        made.append(t)
    make_ticket(institution=inst, created_at=at(date(2026, 10, 20)))  # October: not this period's
    make_ticket(institution=other, created_at=at(date(2026, 11, 3)))
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY, now=now)
    # independently, the board's definitions over the same tickets
    assert f.appeals == 4
    assert f.on_time_share == pytest.approx(2 / 3)  # resolved 10 h and 5 h of 24 on time, 30 h late
    assert f.median_first_response == pytest.approx(2 * 3600)  # median of 1, 3, 2 hours
    assert f.rating_avg == pytest.approx((5 + 2 + 4) / 3)
    assert f.reopened_share == pytest.approx(1 / 3)  # of the three ever resolved
    assert f.missing & FEEDBACK == set()
    # and it is the board's own aggregate (reused, not re-defined)
    mine = board.aggregate(rating.EVERYONE, *NOV.bounds(TZ), Scope(institution_id=inst.id), Ticket.institution_id,
                           now)[inst.id]
    assert f.feedback == mine
    bulk = rating.figures_for_direction(inst.direction_id, NOV, today=TODAY, now=now)
    assert bulk[inst.id].feedback.as_dict() == f.feedback.as_dict()
    assert bulk[other.id].appeals == 1 and {"on_time", "rating"} <= bulk[other.id].missing
    assert "appeals" not in bulk[other.id].missing


def test_a_participant_never_sent_appeals_lacks_feedback(school):
    inst, _vk, _tg = school
    inst.receives_appeals = False
    db.session.flush()
    f = rating.figures(inst, NOV, today=TODAY)
    assert f.feedback is None and f.appeals is None and FEEDBACK <= f.missing


# --- property: random snapshots and posts → the service equals the brute force ----------------------------
days_in = st.integers(min_value=-40, max_value=40).map(lambda k: date(2026, 11, 1) + timedelta(days=k))
metric = st.none() | st.integers(min_value=0, max_value=500)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(snaps=st.lists(st.tuples(st.integers(0, 2), days_in, st.integers(0, 5000)), max_size=20),
       posts=st.lists(st.tuples(st.integers(0, 2), days_in, st.integers(0, 23), st.integers(0, 59),
                                metric, metric, metric, metric, st.booleans()), max_size=25),
       start=days_in, length=st.integers(1, 60), today_shift=st.integers(-5, 70))
def test_the_service_equals_the_brute_force(snaps, posts, start, length, today_shift):
    inst = make_institution()
    accounts = [make_account(inst, n) for n in ("vk", "ok", "telegram")]
    s: dict[int, dict[date, int]] = {}
    for k, day, n in snaps:
        s.setdefault(accounts[k].id, {})[day] = n
    for a, days in s.items():
        for d, n in days.items():
            db.session.add(AccountSnapshot(account_id=a, taken_on=d, followers=n, posts=0))
    rows = []
    for k, day, hh, mm, views, reactions, comments, reposts, deleted in posts:
        rows.append((accounts[k].id, at(day, hh, mm), views, reactions, comments, reposts, deleted))
        post(accounts[k], rows[-1][1], views, reactions, comments, reposts, deleted=deleted)
    db.session.flush()
    period = Period("custom", start, start + timedelta(days=length - 1))
    today = start + timedelta(days=today_shift)
    f = rating.figures(inst, period, today=today)
    want = expected(s, rows, period, today)
    assert_matches(f, want)
    assert f.missing - FEEDBACK == {name for name, key in (("audience", "audience_end"), ("growth", "growth"),
                                                ("err", "err"), ("er", "er")) if want[key] is None}
