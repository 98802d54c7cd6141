"""The board's daily rollups (app/services/board/rollups.py): for random tickets and random periods and scopes the
figures from the rollups equal the live computation — counts exactly, medians within the error the page states —
before the job (days a ticket write touched are computed live) and after it; a full rebuild from the command."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import BoardDirty, BoardRollup, BoardRollupState, Ticket, VerdictAnswer
from app.services import board
from app.services.board import rollups
from app.services.board.figures import _COUNTS
from tests.board.test_board import NOW, _assert_figures, _independent, _random_city
from tests.factories import make_category, make_resident, make_user


@pytest.fixture
def live(app):
    """Compute without the rollups inside the `with`."""
    class Switch:
        def __enter__(self):
            app.config["BOARD_ROLLUPS"] = False

        def __exit__(self, *exc):
            app.config["BOARD_ROLLUPS"] = True
    app.config["BOARD_ROLLUPS"] = True
    yield Switch()
    app.config["BOARD_ROLLUPS"] = True


def _same(got, expected) -> None:
    """Counts equal; the medians within MEDIAN_ERROR (absolute under a second for medians below one)."""
    for name in _COUNTS:
        if name == "resolution_seconds":
            assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9, abs=1e-6), name
        else:
            assert getattr(got, name) == getattr(expected, name), name
    for name in ("median_first_response", "median_resolution"):
        a, b = getattr(got, name), getattr(expected, name)
        assert (a is None) == (b is None), name
        if b is not None:
            assert abs(a - b) <= max(rollups.MEDIAN_ERROR * b, 1.0) + 1e-9, (name, a, b)


def _compare(viewer, live, period: board.Period, scope: board.Scope) -> None:
    bounds = period.bounds(board.city_tz())
    assert rollups.rollup_sets(*bounds, scope, NOW) is not None  # served by the rollups, not the live path
    got = board.aggregate_sets(viewer, *bounds, scope, NOW)
    with live:
        expected = board.aggregate_sets(viewer, *bounds, scope, NOW)
    _same(got[0], expected[0])
    for g, e in ((got[1], expected[1]), (got[2], expected[2])):
        assert set(g) == set(e)
        for key in e:
            _same(g[key], e[key])
    # the weekly chart and the open tickets of right now, from the same rows
    from app.services.board import reporting

    got_weeks = reporting.weekly_series(viewer, period.end, scope=scope)
    got_open = reporting.open_by_direction(viewer, scope, NOW)
    got_growing = reporting.growing_categories(viewer, period, scope, min_volume=1)
    with live:
        assert got_growing == reporting.growing_categories(viewer, period, scope, min_volume=1)
        assert got_weeks == reporting.weekly_series(viewer, period.end, scope=scope)
        assert got_open == reporting.open_by_direction(viewer, scope, NOW)


def _random_periods(rng: random.Random, insts, dirs, n: int):
    today = board.today(NOW)
    scopes = [board.Scope(), board.Scope(institution_id=insts[0].id), board.Scope(direction_id=dirs[0].id),
              board.Scope(direction_id=dirs[1].id, institution_id=insts[2].id)]
    periods = [board.standard_period(k, today) for k in ("today", "week", "month", "quarter", "year")]
    for _ in range(n):
        start = today - timedelta(days=rng.randint(0, 95))
        periods.append(board.Period("custom", start, min(today, start + timedelta(days=rng.choice((0, 1, 6, 30, 60))))))
    return [(p, rng.choice(scopes)) for p in periods]


def _with_categories(rng: random.Random, tickets) -> None:
    cats = [make_category(f"Рубрика {i}") for i in range(4)]
    for t in tickets:
        t.category_id = rng.choice(cats).id if rng.random() < 0.9 else None
    db.session.flush()


def _build() -> None:
    rollups.rebuild(board.today(NOW))
    assert db.session.get(BoardRollupState, 1).built_through == board.today(NOW)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_the_live_figures_before_and_after_the_job(seed, live):
    rng = random.Random(seed)
    tickets, insts, dirs = _random_city(rng, n=220)
    _with_categories(rng, tickets)
    viewer = make_user("head")
    _build()
    assert db.session.scalar(select(func.count()).select_from(BoardRollup)) > 0
    for period, scope in _random_periods(rng, insts, dirs, 25):
        _compare(viewer, live, period, scope)

    # ticket writes after the build: the trigger marks their days, the board computes those days live
    month = board.standard_period("month", board.today(NOW))
    before = board.aggregate_sets(viewer, *month.bounds(board.city_tz()), board.Scope(), NOW)[0]
    old = [t for t in tickets if t.status == "new" and t.created_at < NOW - timedelta(days=3)
           and t.created_at >= NOW - timedelta(days=20)]
    for t in old[:5]:
        t.status, t.resolved_at = "resolved", NOW - timedelta(days=2)
        t.rating, t.rated_at = 5, NOW - timedelta(days=1)
    moved = next(t for t in tickets if t.institution_id is not None and t.status != "merged")
    moved.institution_id = insts[2].id if moved.institution_id != insts[2].id else insts[0].id
    gone = next(t for t in tickets if t.status in ("resolved", "closed"))
    gone.status = "merged"
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(BoardDirty)) > 0
    for period, scope in _random_periods(rng, insts, dirs, 10):
        _compare(viewer, live, period, scope)

    # the job recomputes the marked days and forgets the marks; the figures stay those of the tickets
    assert rollups.refresh(board.today(NOW)) > 0
    assert db.session.scalar(select(func.count()).select_from(BoardDirty)) == 0
    after = board.aggregate_sets(viewer, *month.bounds(board.city_tz()), board.Scope(), NOW)[0]
    start = month.bounds(board.city_tz())[0]
    assert after.resolved == before.resolved + len(old[:5]) - (gone.resolved_at >= start)
    for period, scope in _random_periods(rng, insts, dirs, 10):
        _compare(viewer, live, period, scope)
    assert rollups.refresh(board.today(NOW)) == 0  # idempotent: nothing left to do


def test_report_from_rollups_matches_an_independent_count():
    tickets, insts, dirs = _random_city(random.Random("rollups"))
    viewer = make_user("head")
    _build()
    # the next day: the built day before it comes from the rollups, today live
    for kind in ("month", "quarter", "week"):
        period = board.standard_period(kind, board.today(NOW))
        data = board.report(viewer, period, now=NOW)
        expected = _independent(tickets, *period.bounds(board.city_tz()))
        medians = {k: expected.pop(k) for k in ("median_first_response", "median_resolution")}
        _assert_figures(data["current"], expected)
        for k, v in medians.items():
            assert (data["current"][k] is None) == (v is None)
            if v is not None:
                assert abs(data["current"][k] - v) <= max(rollups.MEDIAN_ERROR * v, 1.0)


def test_the_day_advances_and_other_residents_ratings_count(live):
    tickets, insts, dirs = _random_city(random.Random(7), n=80)
    viewer = make_user("head")
    rollups.rebuild(board.today(NOW) - timedelta(days=3))  # built three days ago: the job builds the rest
    week = board.Period("custom", board.today(NOW) - timedelta(days=6), board.today(NOW))
    _compare(viewer, live, week, board.Scope())
    rated = next(t for t in tickets if t.rated_at is not None and t.status != "merged")
    db.session.add(VerdictAnswer(ticket_id=rated.id, resident_id=make_resident().id, rating=2,
                                 rated_at=NOW - timedelta(hours=2)))
    db.session.flush()
    assert rollups.refresh(board.today(NOW)) >= 3
    assert db.session.get(BoardRollupState, 1).built_through == board.today(NOW)
    _compare(viewer, live, week, board.Scope())
    # the periodic job (the worker's entry point) drains the marks a write leaves
    rated.institution_id = insts[1].id if rated.institution_id != insts[1].id else insts[0].id
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(BoardDirty)) > 0
    from app.jobs import board as board_jobs

    board_jobs.refresh_rollups()
    assert db.session.scalar(select(func.count()).select_from(BoardDirty)) == 0
    _compare(viewer, live, week, board.Scope())


def test_medians_from_histograms_are_within_the_stated_error():
    import numpy as np

    rng = random.Random(5)
    for _ in range(200):
        values = [rng.lognormvariate(rng.uniform(2, 13), rng.uniform(0.1, 2)) for _ in range(rng.randint(1, 60))]
        dense = np.zeros(rollups.BUCKETS, np.int64)
        for v in values:
            k = 2 + int(np.floor(np.log(v) * rollups.PER_DOUBLING / np.log(2))) if v >= 1 else (1 if v > 0 else 0)
            dense[min(k, rollups.BUCKETS - 1)] += 1
        exact = float(np.median(values))
        assert abs(rollups.median(dense) - exact) <= max(rollups.MEDIAN_ERROR * exact, 1.0) + 1e-9
    assert rollups.median(np.zeros(rollups.BUCKETS, np.int64)) is None


def test_rebuild_command(app):
    _random_city(random.Random(9), n=30)
    result = app.test_cli_runner().invoke(args=["board", "rebuild-rollups"])
    assert result.exit_code == 0, result.output
    assert "Сводки построены" in result.output
    state = db.session.get(BoardRollupState, 1)
    assert state.built_through == board.today() and state.tz == board.city_tz().key
    total = db.session.scalar(select(func.sum(BoardRollup.received)).where(BoardRollup.grain == 0))
    assert total == db.session.scalar(select(func.count(Ticket.id)).where(board.counted()))
    assert date(2000, 1, 1) <= min(db.session.scalars(select(BoardRollup.day))) <= board.today()


def test_the_page_says_the_medians_are_approximate(login):
    _random_city(random.Random(11), n=40)
    client = login(make_user("head"))
    html = client.get("/board?period=year&fresh=1").get_data(as_text=True)
    assert "погрешность" not in html  # live: exact medians, no note
    rollups.rebuild(board.today())
    html = client.get("/board?period=year&fresh=1").get_data(as_text=True)
    assert "≈, погрешность ≤ 2,2 %" in html
    # the export says it too, beside the medians only
    import io

    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(client.get("/board/export.xlsx?period=year").data))
    units = {r[0]: r[3] for r in wb["Показатели"].iter_rows(min_row=2, values_only=True)}
    assert units["Медиана решения"] == "ч (≈, погрешность ≤ 2,2 %)"
    assert units["Поступило"] == "обращ."


def test_truncating_the_tickets_sends_the_board_back_to_live():
    from sqlalchemy import text

    _random_city(random.Random(13), n=20)
    _build()
    db.session.execute(text("TRUNCATE tickets CASCADE"))
    db.session.expire_all()
    assert db.session.get(BoardRollupState, 1).built_through is None
    assert rollups.rollup_sets(*board.standard_period("month", board.today(NOW)).bounds(board.city_tz()),
                               board.Scope(), NOW) is None


def test_tickets_written_after_an_empty_build_count_at_once(live):
    """Built with no tickets, then a city's history arrives (an import, dated in the past): every figure counts
    it at once from the marked days, before the job."""
    _build()
    tickets, insts, dirs = _random_city(random.Random(17), n=60)
    assert db.session.scalar(select(func.count()).select_from(BoardRollup)) == 0
    viewer = make_user("head")
    for period, scope in _random_periods(random.Random(17), insts, dirs, 5):
        _compare(viewer, live, period, scope)


def test_a_pages_previous_period_is_kept_with_its_rubrics_for_the_next_viewer(login):
    """The previous period a page computed is kept by a job (the page's own transaction is never committed), with
    its received count per rubric; the next report reads both from it while young enough, and computes them again
    once it is too old."""
    from flask import current_app

    from app.models import BoardSnapshot, utcnow
    from app.services.board import reporting
    from tests.factories import make_ticket

    water = make_category("Водоснабжение")
    for days in (1, 2, 3):  # this period only: a rubric that grew
        make_ticket("Нет воды", category=water, created_at=utcnow() - timedelta(days=days))
    make_ticket("Нет воды давно", category=water, created_at=utcnow() - timedelta(days=30))  # the previous one
    rollups.rebuild(board.today())
    db.session.commit()
    viewer = make_user("head")
    client = login(viewer)
    today = board.today()
    args = {"period": "custom", "from": f"{today - timedelta(days=20):%d.%m.%Y}", "to": f"{today:%d.%m.%Y}"}
    assert client.get("/board", query_string={**args, "fresh": "1"}).status_code == 200
    period, errors = board.parse_period(args, utcnow())
    assert not errors
    db.session.expire_all()
    kept = db.session.get(BoardSnapshot, f"previous|{period.previous().key}|{board.Scope().key}")
    assert kept is not None and kept.data["categories"] == [[water.id, 1]]  # kept for the next viewer
    computed = reporting.growing_categories(viewer, period, min_volume=1)  # without `now`: nothing kept is read
    assert [(g["id"], g["current"], g["previous"]) for g in computed] == [(water.id, 3, 1)]
    kept.data = {**kept.data, "categories": [[water.id, 2]]}  # marked: what is read is the kept row
    db.session.flush()
    young = reporting.growing_categories(viewer, period, min_volume=1, now=kept.computed_at + timedelta(seconds=1))
    assert [(g["id"], g["current"], g["previous"]) for g in young] == [(water.id, 3, 2)]
    too_old = kept.computed_at + timedelta(seconds=current_app.config["BOARD_PREVIOUS_MAX_AGE"] + 1)
    assert reporting.growing_categories(viewer, period, min_volume=1, now=too_old) == computed
