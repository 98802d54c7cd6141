"""Where /rating reads from (issue 14, items 3–5): a frozen closed month as it was frozen, a kept computation while
young (with «Пересчитать сейчас»), the job that keeps this month / quarter / year of every direction; the page's
list of «проверить накрутку» rises and a person clearing one (the growth counts again; a frozen rating nobody
marked is frozen again, a marked one stays as it was)."""
from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Account, BoardSnapshot, GrowthClearance, Post, RatingSnapshot
from app.services.board.periods import Period
from app.services.rating import frozen, page, standing
from app.services.rating.composite import CHECK_GROWTH
from tests.factories import make_direction, make_user
from tests.rating.test_composite import at, daily, participant

NOV = {"period": "custom", "from": "01.11.2026", "to": "30.11.2026"}
NOV_P = Period("custom", date(2026, 11, 1), date(2026, 11, 30))
DEC_2 = datetime(2026, 12, 2, 3, tzinfo=timezone.utc)
_ext = itertools.count()


def cell(html: str, iid: int, component: str) -> str:
    row = re.search(rf'<tr data-institution="{iid}".*?</tr>', html, re.S).group(0)
    return re.sub(r"<[^>]+>|\s+", " ", re.search(rf'data-component="{component}">(.*?)</td>', row, re.S)
                  .group(1)).split()[0]  # the value, without its rank


def add_posts(inst, n: int, month: int = 11):
    acc = db.session.scalar(select(Account).where(Account.institution_id == inst.id))
    for k in range(n):
        db.session.add(Post(account_id=acc.id, external_id=f"extra-{next(_ext)}",
                            published_at=at(date(2026, month, 10 + k % 15)), views=10, reactions=0))
    db.session.commit()


def test_a_kept_computation_is_served_until_recomputed(login, app, monkeypatch):
    d = make_direction("Культура")
    lib = participant(d, 900, 1200, 8)
    db.session.commit()
    head = login(make_user("head"))
    first = head.get("/rating", query_string=NOV).get_data(as_text=True)
    assert cell(first, lib.id, "posts_per_week") == str(round(8 / 30 * 7, 1))
    assert "Данные на" in first and "Пересчитать сейчас" in first
    key = standing.key(NOV_P, d.id)
    assert db.session.get(BoardSnapshot, key) is not None  # kept for the next viewer
    add_posts(lib, 12)
    again = head.get("/rating", query_string=NOV).get_data(as_text=True)
    assert cell(again, lib.id, "posts_per_week") == str(round(8 / 30 * 7, 1))  # the kept one, young enough
    fresh = head.get("/rating", query_string={**NOV, "fresh": "1"}).get_data(as_text=True)
    assert cell(fresh, lib.id, "posts_per_week") == str(round(20 / 30 * 7, 1))
    monkeypatch.setitem(app.config, "RATING_SNAPSHOT_MAX_AGE", 0)  # too old: computed again
    add_posts(lib, 2, month=11)
    later = head.get("/rating", query_string=NOV).get_data(as_text=True)
    assert cell(later, lib.id, "posts_per_week") == str(round(22 / 30 * 7, 1))


def test_a_frozen_month_is_shown_as_it_was_frozen(login):
    d = make_direction("Культура")
    lib = participant(d, 900, 1200, 8, oct_posts=6, oct_end=800)
    frozen.freeze("month", date(2026, 10, 1), d.id, DEC_2)
    db.session.commit()
    add_posts(lib, 9, month=10)  # October changes after the freezing …
    head = login(make_user("head"))
    html = head.get("/rating", query_string={"period": "month", "start": "2026-10-01"}).get_data(as_text=True)
    assert "Рейтинг заморожен" in html and "Пересчитать сейчас" not in html
    assert cell(html, lib.id, "posts_per_week") == str(round(6 / 31 * 7, 1))  # … the page shows it as frozen
    assert standing.compute(d.id, Period("month", date(2026, 10, 1), date(2026, 10, 31)), DEC_2)["rows"][0][
        "figures"]["posts"] == 15


def test_the_job_keeps_this_month_quarter_and_year_of_every_direction(app):
    a, b = make_direction("Культура"), make_direction("Спорт")
    participant(a, 900, 1200, 8)
    participant(b, 500, 600, 5)
    keys = list(standing.refresh(DEC_2))
    assert len(keys) == 6 and all(k.startswith("rating|") for k in keys)
    stored = {k: db.session.get(BoardSnapshot, k) for k in keys}
    assert all(s is not None and s.computed_at == DEC_2 for s in stored.values())
    month = standing.key(Period("month", date(2026, 12, 1), date(2026, 12, 2)), a.id)
    assert month in stored
    # the page reads it (no recomputation): the kept data is served as it is
    stored[month].data = dict(stored[month].data, rows=[])
    db.session.commit()
    got = standing.standing(a.id, Period("month", date(2026, 12, 1), date(2026, 12, 2)), DEC_2 + timedelta(minutes=5))
    assert got["rows"] == []


def cheat_city():
    d = make_direction("Культура")
    cheat = participant(d, 0, 0, 8, daily=daily(2000, {date(2026, 11, 12): 2000}))
    honest = participant(d, 0, 0, 8, daily=daily(1000, {date(2026, 11, 5 + k): 30 for k in range(10)}))
    cheat.short_name, honest.short_name = "Накрутчик", "Честный"
    db.session.commit()
    return d, cheat, honest


def test_the_page_lists_a_rise_and_a_person_clears_it(login):
    d, cheat, honest = cheat_city()
    head = login(make_user("head"))
    html = head.get("/rating", query_string=NOV).get_data(as_text=True)
    jumps = re.search(r'<table class="jumps">(.*?)</table>', html, re.S).group(1)
    assert "Накрутчик" in jumps and "12.11.2026" in jumps and ">2000<" in jumps and ">4000<" in jumps
    assert "Честный" not in jumps
    assert "проверить накрутку" in cell_row(html, cheat.id)
    acc = db.session.scalar(select(Account.id).where(Account.institution_id == cheat.id))
    resp = head.post("/rating/clear-jump?" + "&".join(f"{k}={v}" for k, v in NOV.items()),
                     data={"account": str(acc), "day": "2026-11-12", "note": "конкурс <репостов>"})
    assert resp.status_code == 302
    after = head.get(resp.headers["Location"]).get_data(as_text=True)
    assert "прирост снова учитывается" in after and '<table class="jumps">' not in after
    assert "проверить накрутку" not in cell_row(after, cheat.id)
    row = standing.standing(d.id, NOV_P)["rows"]
    assert {r["institution_id"]: r["ranks"].get("growth") for r in row}[cheat.id] == 1  # +100 % ranked first now
    c = db.session.scalar(select(GrowthClearance))
    assert c.note == "конкурс <репостов>" and c.day == date(2026, 11, 12)


def cell_row(html: str, iid: int) -> str:
    return re.search(rf'<tr data-institution="{iid}".*?</tr>', html, re.S).group(0)


def test_clearing_refreezes_a_rating_nobody_marked_and_keeps_a_marked_one(app):
    d, cheat, honest = cheat_city()
    head = make_user("head")
    nov = frozen.freeze("month", date(2026, 11, 1), d.id, DEC_2)
    year = frozen.freeze("year", date(2025, 1, 1), d.id, DEC_2)  # does not hold the day: untouched
    db.session.commit()
    assert {r.institution_id: r.flags for r in frozen.frozen_rows(nov)}[cheat.id] == [CHECK_GROWTH]
    frozen.mark(head, honest.id, Period("month", date(2026, 11, 1), date(2026, 11, 30)), "", DEC_2)
    db.session.commit()
    acc = db.session.scalar(select(Account.id).where(Account.institution_id == cheat.id))
    frozen.clear_jump(head, acc, date(2026, 11, 12), now=DEC_2)
    db.session.commit()
    kept = db.session.scalar(select(RatingSnapshot).where(RatingSnapshot.kind == "month"))
    assert kept.id == nov.id  # marked: a decision was taken on it, it stays as it was
    assert {r.institution_id: r.flags for r in frozen.frozen_rows(kept)}[cheat.id] == [CHECK_GROWTH]
    assert db.session.get(RatingSnapshot, year.id) is not None
    frozen.unmark(head, honest.id, Period("month", date(2026, 11, 1), date(2026, 11, 30)))
    db.session.commit()
    other = make_direction("Спорт")  # a second clearance in another direction leaves this one alone
    assert frozen.refreeze_unmarked(other.id, date(2026, 11, 12), DEC_2) == 0
    assert frozen.refreeze_unmarked(d.id, date(2026, 11, 12), DEC_2) == 1
    again = db.session.scalar(select(RatingSnapshot).where(RatingSnapshot.kind == "month"))
    assert again.id != nov.id
    assert {r.institution_id: r.flags for r in frozen.frozen_rows(again)}[cheat.id] == []


@pytest.mark.parametrize("role,status", [("head", 302), ("press", 302), ("admin", 302), ("analyst", 403),
                                         ("moderator", 403), ("smm", 403), ("executor", 403)])
def test_who_may_clear(login, role, status):
    d, cheat, _ = cheat_city()
    acc = db.session.scalar(select(Account.id).where(Account.institution_id == cheat.id))
    client = login(make_user(role))
    resp = client.post("/rating/clear-jump", data={"account": str(acc), "day": "2026-11-12"})
    assert resp.status_code == status
    assert (db.session.scalar(select(GrowthClearance)) is not None) == (status == 302)
    if role == "analyst":
        html = client.get("/rating", query_string=NOV).get_data(as_text=True)
        assert '<table class="jumps">' in html and "/rating/clear-jump" not in html


@pytest.mark.parametrize("account,day", [("", ""), ("x", "2026-11-12"), ("999999999", "2026-11-12"),
                                         ("-1", "2026-11-12"), ("1e9", "2026-11-12"), ("{acc}", "junk"),
                                         ("{acc}", "2026-13-40"), ("{acc}", "")])
def test_junk_is_a_flash(login, account, day):
    d, cheat, _ = cheat_city()
    acc = db.session.scalar(select(Account.id).where(Account.institution_id == cheat.id))
    resp = login(make_user("head")).post("/rating/clear-jump", data={"account": account.format(acc=acc), "day": day},
                                         follow_redirects=True)
    assert resp.status_code == 200 and "Не получилось" in resp.get_data(as_text=True)
    assert db.session.scalar(select(GrowthClearance)) is None


def test_laggard_reasons_on_the_day():
    on = date(2026, 11, 30)
    recent = datetime(2026, 11, 20, tzinfo=timezone.utc)
    assert standing.laggard_reasons({"longest_silence": 3, "growth": 5, "overdue": 0}, recent, on) == []
    assert standing.laggard_reasons({"longest_silence": 30, "growth": -1, "overdue": 2}, recent, on) == \
        [standing.SILENT, standing.FALLING, standing.OVERDUE]
    old = datetime(2026, 10, 31, 15, tzinfo=timezone.utc)  # 1 November 00:00 in the city: 30 days up to the 30th
    assert standing.laggard_reasons({"longest_silence": 29}, old, on) == []
    assert standing.laggard_reasons({"longest_silence": 29}, old - timedelta(minutes=1), on) == [standing.SILENT]
    assert standing.laggard_reasons({}, None, on) == [standing.SILENT]
    assert [str(x) for x in page.reasons({"laggard": ["overdue"], "overdue": 3})] == ["просрочены обращения: 3"]


def test_the_drill_down_of_a_frozen_month_agrees_with_the_table(login):
    d = make_direction("Культура")
    lib = participant(d, 900, 1200, 8, oct_posts=6, oct_end=800)
    frozen.freeze("month", date(2026, 10, 1), d.id, DEC_2)
    db.session.commit()
    add_posts(lib, 9, month=10)  # October changes after the freezing
    head = login(make_user("head"))
    html = head.get(f"/rating/{lib.slug}", query_string={"period": "month", "start": "2026-10-01"}).get_data(
        as_text=True)
    row = re.search(r"<tr>\s*<t[hd][^>]*>\s*Постов\s*</t[hd]>\s*<td[^>]*>\s*(\d+)", html)
    assert row is not None and row.group(1) == "6", html[-2000:]  # frozen: 6 October posts, not 15
