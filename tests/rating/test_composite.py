"""The composite rating within a direction (issue 14, item 2) against an independent computation in the test:
each rank counted as 1 + (the participants strictly better) + (the others equal) ÷ 2, over hand-built figures
and over snapshots and posts in the database (thresholds, a planted implausible jump, directions, the change
of place)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from app.extensions import db
from app.models import AccountSnapshot, Post
from app.services import board, rating
from app.services.board.periods import Period
from tests.factories import make_account, make_direction, make_institution

TZ = ZoneInfo("Asia/Yakutsk")
NOV = Period("month", date(2026, 11, 1), date(2026, 11, 30))
OCT = NOV.previous()
TODAY = date(2026, 11, 30)
_ext = iter(range(10**9))

# component → (attribute of Figures, higher is better) — restated here, not imported
SPEC = {"audience": ("audience_end", True), "growth": ("growth_pct", True), "posts_per_week": ("posts_per_week", True),
        "silence": ("longest_silence", False), "err": ("err", True), "er": ("er", True),
        "on_time": ("on_time_share", True), "first_response": ("median_first_response", False),
        "rating": ("rating_avg", True), "reopened": ("reopened_share", False)}


# --- the independent computation -------------------------------------------------------------------------
def brute_rank(value, others, higher):
    better = sum(1 for o in others if (o > value if higher else o < value))
    equal = sum(1 for o in others if o == value) - 1  # others equal to it (itself is in `others`)
    return 1 + better + equal / 2


def expected(figs: dict[int, rating.Figures], suspicious=frozenset()) -> dict[int, dict]:
    ranked = [i for i, f in figs.items() if f.posts >= 4 and (f.audience_end or 0) >= 100]
    out = {i: {"ranks": {}, "standings": []} for i in ranked}
    for name, (attr, higher) in SPEC.items():
        having = [i for i in ranked if getattr(figs[i], attr) is not None
                  and not (name == "growth" and i in suspicious)]
        values = [getattr(figs[i], attr) for i in having]
        for i in having:
            r = brute_rank(getattr(figs[i], attr), values, higher)
            out[i]["ranks"][name] = r
            out[i]["standings"].append(1 - (r - 0.5) / len(having))
    for i, e in out.items():
        e["score"] = 100 * sum(e["standings"]) / len(e["standings"])
    for i, e in out.items():
        e["place"] = 1 + sum(1 for o in out.values() if o["score"] > e["score"])
    return out


def check(rows: list[rating.RatingRow], figs, suspicious=frozenset()):
    want = expected(figs, suspicious)
    by_id = {r.institution_id: r for r in rows}
    assert set(by_id) == set(figs)
    for i, r in by_id.items():
        if i not in want:
            assert rating.FEW_DATA in r.flags and r.place is None and r.score is None and not r.ranks
            continue
        assert rating.FEW_DATA not in r.flags
        assert r.ranks == pytest.approx(want[i]["ranks"])
        assert r.used == set(want[i]["ranks"])
        assert r.score == pytest.approx(want[i]["score"])
        assert r.place == want[i]["place"]
        assert r.top3 == (r.place <= 3)
    places = [r.place for r in rows if r.place is not None]
    assert places == sorted(places)  # ranked first, by place
    assert all(r.place is None for r in rows[len(places):])
    return by_id


def fig(i: int, *, posts=10, audience=1000, growth_pct=5.0, silence=3, err=0.1, er=0.05, feedback=True,
        on_time=(8, 10), first_response=3600.0, rating_sum=(40, 10), reopened=(1, 10)) -> rating.Figures:
    f = rating.Figures(i, NOV, accounts=1, audience_end=audience, audience_start=audience, growth=0,
                       growth_pct=growth_pct, posts=posts, posts_per_week=posts / 30 * 7, post_days=posts,
                       longest_silence=silence, err=err, er=er)
    if feedback:
        fb = board.Figures(received=10, on_time=on_time[0] if on_time else 0, resolved=on_time[1] if on_time else 0,
                           rating_sum=rating_sum[0] if rating_sum else 0, rated=rating_sum[1] if rating_sum else 0,
                           reopened=reopened[0] if reopened else 0, ever_resolved=reopened[1] if reopened else 0,
                           median_first_response=first_response)
        f.feedback = fb
    f.missing = {n for n, (a, _h) in SPEC.items() if n not in ("posts_per_week", "silence") and getattr(f, a) is None}
    return f


# --- pure cases ---------------------------------------------------------------------------------------
def test_average_ranks_of_ties():
    assert rating.average_ranks({"a": 5, "b": 7, "c": 7, "d": 1}) == {"b": 1.5, "c": 1.5, "a": 3, "d": 4}
    assert rating.average_ranks({"a": 5, "b": 7, "c": 7, "d": 1}, higher_better=False) == \
        {"d": 1, "a": 2, "b": 3.5, "c": 3.5}
    assert rating.average_ranks({"a": 2, "b": 2, "c": 2}) == {"a": 2, "b": 2, "c": 2}
    assert rating.average_ranks({}) == {}


def test_ties_get_average_ranks_in_the_composite():
    figs = {1: fig(1, audience=500, err=0.2, silence=2), 2: fig(2, audience=500, err=0.2, silence=2),
            3: fig(3, audience=900, err=0.1, silence=5), 4: fig(4, audience=200, err=0.3, silence=2)}
    rows = rating.rank(figs)
    by = check(rows, figs)
    assert by[1].ranks["audience"] == by[2].ranks["audience"] == 2.5
    assert by[3].ranks["audience"] == 1 and by[4].ranks["audience"] == 4
    assert by[1].ranks["silence"] == by[2].ranks["silence"] == by[4].ranks["silence"] == 2  # lower is better
    assert by[3].ranks["silence"] == 4
    assert by[1].score == by[2].score and by[1].place == by[2].place  # the same figures share a place


def test_participant_missing_components_is_ranked_on_what_it_has():
    figs = {1: fig(1), 2: fig(2, err=None, er=None, feedback=False, audience=3000),  # Telegram only, no appeals
            3: fig(3, growth_pct=None, on_time=None, first_response=None, audience=50_000),
            4: fig(4, audience=700, err=0.3)}
    by = check(rating.rank(figs), figs)
    assert by[2].used == {"audience", "growth", "posts_per_week", "silence"}
    assert by[3].used == set(rating.RANKED) - {"growth", "on_time", "first_response"}
    assert by[1].of["err"] == 3 and by[1].of["audience"] == 4  # each component over those having it
    # normalised: the best on every component it has scores like the best on every component
    alone = {1: fig(1, err=None, er=None, feedback=False, audience=9000, growth_pct=90, silence=0, posts=30),
             2: fig(2)}
    best = rating.rank(alone)[0]
    assert best.institution_id == 1 and best.place == 1


def test_every_row_shows_its_figures_few_data_included():
    figs = {1: fig(1), 2: fig(2, posts=1)}
    rows = rating.rank(figs)
    assert [r.institution_id for r in rows] == [1, 2]
    assert rows[1].figures is figs[2] and rows[1].flags == {rating.FEW_DATA}


def test_suspicious_growth_is_left_out_and_flagged():
    figs = {1: fig(1, growth_pct=400.0), 2: fig(2, growth_pct=3.0), 3: fig(3, growth_pct=1.0)}
    by = check(rating.rank(figs, {1}), figs, {1})
    assert by[1].flags == {rating.CHECK_GROWTH} and "growth" not in by[1].used and "growth" not in by[1].ranks
    assert by[2].ranks["growth"] == 1 and by[2].of["growth"] == 2
    assert by[1].used == set(rating.RANKED) - {"growth"}


# --- properties ---------------------------------------------------------------------------------------
maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
FIGS = st.lists(st.fixed_dictionaries({
    "posts": st.integers(4, 40), "audience": st.integers(100, 5000), "growth_pct": maybe(st.integers(-20, 50)),
    "silence": st.integers(0, 30), "err": maybe(st.integers(0, 5)), "er": maybe(st.integers(0, 5)),
    "feedback": st.booleans(), "on_time": maybe(st.tuples(st.integers(0, 4), st.just(4))),
    "first_response": maybe(st.integers(0, 5)), "rating_sum": maybe(st.tuples(st.integers(4, 20), st.just(4))),
    "reopened": maybe(st.tuples(st.integers(0, 4), st.just(4)))}), min_size=1, max_size=7)


def build(specs) -> dict[int, rating.Figures]:
    return {i: fig(i, **s) for i, s in enumerate(specs, start=1)}


@settings(max_examples=150, deadline=None)
@given(FIGS, st.sampled_from(["audience", "growth_pct", "err", "er", "silence", "first_response"]),
       st.integers(1, 1000))
def test_score_invariant_to_a_constant_added_to_every_participant(specs, attr, c):
    before = rating.rank(build(specs))
    shifted = [dict(s, **{attr: s[attr] + c}) if s[attr] is not None else s for s in specs]
    after = rating.rank(build(shifted))
    check(before, build(specs))
    assert [(r.institution_id, r.place, r.score, r.ranks) for r in before] == \
        [(r.institution_id, r.place, r.score, r.ranks) for r in after]


@settings(max_examples=150, deadline=None)
@given(FIGS, st.data())
def test_improving_one_figure_never_lowers_the_place(specs, data):
    who = data.draw(st.integers(0, len(specs) - 1))
    better = {"audience": +1, "growth_pct": +1, "silence": -1, "err": +1, "er": +1, "first_response": -1,
              "posts": +1}
    attr = data.draw(st.sampled_from(sorted(better)))
    if specs[who][attr] is None:
        return
    step = data.draw(st.integers(1, 50))
    improved = [dict(s) for s in specs]
    improved[who][attr] = max(0, improved[who][attr] + better[attr] * step)
    figs_before, figs_after = build(specs), build(improved)
    place = {r.institution_id: r.place for r in rating.rank(figs_before)}
    check(rating.rank(figs_after), figs_after)
    after = {r.institution_id: r.place for r in rating.rank(figs_after)}
    assert after[who + 1] <= place[who + 1]


# --- from the database -------------------------------------------------------------------------------
def at(day: date, hh: int = 12) -> datetime:
    return datetime.combine(day, time(hh), TZ).astimezone(timezone.utc)


def participant(direction, start: int, end: int, posts: int, *, daily=None, oct_posts=0, oct_end=None):
    """One VK account: followers `start` on 31 October, `end` on 30 November (or day by day: `daily`),
    `posts` posts in November, `oct_posts` in October (audience `oct_end` on 30 October)."""
    inst = make_institution(direction)
    acc = make_account(inst, "vk")
    snaps = dict(daily or {date(2026, 10, 31): start, date(2026, 11, 30): end})
    if oct_end is not None:
        snaps[date(2026, 9, 30)] = oct_end
        snaps[date(2026, 10, 30)] = oct_end
    for d, n in snaps.items():
        db.session.add(AccountSnapshot(account_id=acc.id, taken_on=d, followers=n, posts=0))
    for k in range(posts):
        db.session.add(Post(account_id=acc.id, external_id=f"c{next(_ext)}", published_at=at(date(2026, 11, 1 + k)),
                            views=100 + k, reactions=k, comments=0, reposts=0))
    for k in range(oct_posts):
        db.session.add(Post(account_id=acc.id, external_id=f"c{next(_ext)}", published_at=at(date(2026, 10, 1 + k)),
                            views=100, reactions=1, comments=0, reposts=0))
    db.session.flush()
    return inst


def test_thresholds_exactly_at_and_just_below():
    d = make_direction()
    at_both = participant(d, 100, 100, 4)
    few_posts = participant(d, 100, 100, 3)
    few_subscribers = participant(d, 99, 99, 4)
    big = participant(d, 1000, 1100, 10)
    result = rating.composite_for_direction(d.id, NOV, TODAY)
    by = {r.institution_id: r for r in result.rows}
    assert by[at_both.id].place is not None and rating.FEW_DATA not in by[at_both.id].flags
    assert by[big.id].place == 1
    for inst in (few_posts, few_subscribers):
        assert by[inst.id].flags == {rating.FEW_DATA} and by[inst.id].place is None
        assert by[inst.id].figures.posts in (3, 4)  # still shown with its figures
    check(result.rows, {r.institution_id: r.figures for r in result.rows})
    assert (rating.MIN_POSTS, rating.MIN_AUDIENCE) == (4, 100)


def daily(start: int, rises: dict[date, int]) -> dict[date, int]:
    out, n, day = {}, start, date(2026, 10, 31)
    while day <= date(2026, 11, 30):
        n += rises.get(day, 0)
        out[day] = n
        day += timedelta(days=1)
    return out


def test_a_planted_jump_is_flagged_and_its_growth_left_out():
    d = make_direction()
    cheat = participant(d, 0, 0, 8, daily=daily(2000, {date(2026, 11, 12): 2000}))  # +100 % and +2000 in a day
    steady = participant(d, 0, 0, 8, daily=daily(1000, {date(2026, 11, 5 + k): 30 for k in range(10)}))
    big_but_small_share = participant(d, 0, 0, 8, daily=daily(10_000, {date(2026, 11, 3): 1000}))  # +10 %
    small_but_big_share = participant(d, 0, 0, 8, daily=daily(1000, {date(2026, 11, 3): 400}))  # +40 %, 400 people
    gap = participant(d, 0, 0, 8, daily={date(2026, 10, 31): 1000, date(2026, 11, 20): 5000})  # not one day
    jumps = rating.implausible_jumps([cheat.id, steady.id, big_but_small_share.id, small_but_big_share.id, gap.id],
                                     NOV)
    assert list(jumps) == [cheat.id]
    assert [(day, b, a) for _acc, day, b, a in jumps[cheat.id]] == [(date(2026, 11, 12), 2000, 4000)]
    result = rating.composite_for_direction(d.id, NOV, TODAY)
    by = {r.institution_id: r for r in result.rows}
    assert by[cheat.id].flags == {rating.CHECK_GROWTH}
    assert "growth" not in by[cheat.id].used and by[cheat.id].figures.growth_pct == 100.0  # figure still shown
    assert {"audience", "posts_per_week", "silence", "err", "er"} <= by[cheat.id].used
    assert by[steady.id].of["growth"] == 4
    check(result.rows, {r.institution_id: r.figures for r in result.rows}, {cheat.id})
    # exactly at the thresholds is not a jump (above 20 % and above 500 people)
    edge = participant(d, 0, 0, 8, daily=daily(2500, {date(2026, 11, 7): 500}))  # +500 = 20 %
    assert edge.id not in rating.implausible_jumps([edge.id], NOV)
    over = participant(d, 0, 0, 8, daily=daily(2500, {date(2026, 11, 7): 501}))  # 501 > 500 and > 20 % of 2500
    assert over.id in rating.implausible_jumps([over.id], NOV)


def test_directions_are_ranked_apart():
    a, b = make_direction(), make_direction()
    a1, a2 = participant(a, 100, 200, 5), participant(a, 5000, 5100, 6)
    b1 = participant(b, 10_000, 12_000, 20)
    ra = rating.composite_for_direction(a.id, NOV, TODAY)
    rb = rating.composite_for_direction(b.id, NOV, TODAY)
    assert {r.institution_id for r in ra.rows} == {a1.id, a2.id}
    assert [r.institution_id for r in rb.rows] == [b1.id] and rb.rows[0].place == 1
    assert all(n <= 2 for r in ra.rows for n in r.of.values())
    check(ra.rows, {r.institution_id: r.figures for r in ra.rows})


def test_change_of_place_against_the_previous_period():
    d = make_direction()
    # October: x leads; November: y leads; z is new in November (few data in October)
    x = participant(d, 3000, 3000, 4, oct_posts=20, oct_end=3000)
    y = participant(d, 500, 900, 25, oct_posts=4, oct_end=500)
    z = participant(d, 200, 200, 5)
    result = rating.composite_for_direction(d.id, NOV, TODAY)
    prev = {r.institution_id: r for r in result.previous}
    now = {r.institution_id: r for r in result.rows}
    check(result.previous, {r.institution_id: r.figures for r in result.previous})
    assert result.previous[0].figures.period == OCT
    assert prev[z.id].place is None
    for i in (x.id, y.id):
        assert now[i].previous_place == prev[i].place
        assert now[i].change == prev[i].place - now[i].place
    assert prev[x.id].place == 1 and now[y.id].place == 1 and now[y.id].change == 1
    assert now[z.id].change is None and now[z.id].previous_place is None


def test_the_same_statements_whatever_the_number_of_participants():
    d = make_direction()
    for k in range(3):
        participant(d, 1000 + k, 1100, 5, daily=daily(1000, {date(2026, 11, 4): 900}))  # each flagged
    engine = db.session.get_bind()

    def count() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            result = rating.composite_for_direction(d.id, NOV, TODAY)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert len(result.jumps) == len(result.rows)
        return len(statements)

    three = count()
    for k in range(5):
        participant(d, 1000 + k, 1100, 5 + k, daily=daily(1000, {date(2026, 11, 4): 900}))
    assert three == count() <= 18
