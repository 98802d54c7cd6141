"""A fresh tester's attack on /rating (issue 14): junk and huge query values, odd slugs, junk POSTs from every
role, names and notes with HTML or starting with «=» in the page and in both XLSX exports (never a formula, control
characters never a 500), and every refusal in English on the English interface."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from app.extensions import db
from tests.factories import make_direction, make_user
from tests.rating.test_composite import daily, participant
from tests.rating.test_marks_page import _last_month

NOV = {"period": "custom", "from": "01.11.2026", "to": "30.11.2026"}
JUNK = ["", "\x00", "a" * 5000, "01.01.1900", "31.12.9999", "01.01.0001", "29.02.2025", "-1", "1e400", "%00", "🙂",
        "0001-01-01", "9999-12-31", "1900-01-01", "2026-11-01\x00", "NaN", "[]"]
RANGES = [{"period": "custom", "from": "01.01.1900", "to": "31.12.2100"},
          {"period": "custom", "from": "01.12.2025", "to": "31.01.2027"},
          {"period": "custom", "from": "01.01.2030", "to": "31.12.2030"},
          {"period": "custom", "from": "31.12.2026", "to": "01.01.2026"},
          {"period": "year", "start": "2000-01-01"}, {"period": "year", "start": "1999-01-01"},
          {"period": "month", "start": "2030-01-01"}, {"period": "quarter", "start": "2026-02-15"}]
POST_JUNK = [{}, {"institution": "\x00"}, {"institution": "99999999999999999999"},
             {"account": "1", "day": "2026-13-01"}, {"account": "999999999", "day": "2026-11-05"},
             {"account": "-5", "day": "\x00"}, {"account": "1", "day": "0001-01-01"},
             {"enabled": "1", "kind": "\x00"}, {"enabled": "1", "kind": "week"},
             {"enabled": ["1", "0"], "kind": ["month", "year"]}]


@pytest.fixture
def city():
    d = make_direction("Культура")
    big = participant(d, 900, 1200, 10, oct_posts=2, oct_end=900)
    mid = participant(d, 500, 520, 6, oct_posts=8, oct_end=500)
    few = participant(d, 60, 50, 0)
    big.short_name, big.name = '=HYPERLINK("http://x","a")', "=1+2 <b>evil</b>"
    mid.short_name = "<script>alert(1)</script>"
    db.session.flush()
    return d, big, mid, few


def urls(city):
    return ("/rating", "/rating/export.xlsx", "/rating/marked.xlsx", f"/rating/{city[1].slug}")


def test_junk_and_huge_query_values_never_500(login, city):
    client = login(make_user("head"))
    bad = []
    for url in urls(city):
        for name in ("period", "from", "to", "start", "direction", "fresh"):
            for junk in JUNK:
                for kind in ("custom", "month", junk):
                    q = {"period": kind, name: junk}
                    if client.get(url, query_string=q).status_code >= 500:
                        bad.append((url, q))
        bad += [(url, q) for q in RANGES if client.get(url, query_string=q).status_code >= 500]
    assert not bad, bad[:10]


def test_odd_slugs_are_404(login, city):
    client = login(make_user("head"))
    for slug in ("x" * 81, "x" * 5000, "%00", "..", "a%2Fb", "ё", "<b>", "export.xlsx.", "%20", "marked"):
        assert client.get(f"/rating/{slug}").status_code in (400, 404, 405), slug


def test_junk_posts_never_500(login, city):
    client = login(make_user("head"))
    start = _last_month().start.isoformat()
    bad = []
    for url in ("/rating/mark", "/rating/clear-jump", "/rating/public-top"):
        for qs in ("", f"?period=month&start={start}", "?period=\x00&start=\x00"):
            for data in POST_JUNK + [{"institution": str(city[1].id), "note": "\x00\x01" + "a" * 10000}]:
                if client.post(url + qs, data=data).status_code >= 500:
                    bad.append((url, qs, data))
    assert not bad, bad[:10]


def test_posts_need_the_role(login, client, city):
    for url in ("/rating/mark", "/rating/clear-jump", "/rating/public-top"):
        assert client.post(url, data={}).status_code in (302, 401, 403), url
    form = {"institution": str(city[1].id), "enabled": "1", "kind": "month"}
    for role in ("executor", "smm", "moderator", "analyst"):
        user = login(make_user(role))
        for url in ("/rating/mark", "/rating/public-top"):
            assert user.post(url, data=form).status_code == 403, (role, url)


def no_formula(data: bytes) -> None:
    for ws in load_workbook(io.BytesIO(data)).worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)


def test_export_never_a_formula(login, city):
    resp = login(make_user("head")).get("/rating/export.xlsx", query_string=NOV)
    assert resp.status_code == 200
    no_formula(resp.data)


def test_marked_export_never_a_formula_nor_a_500_on_control_characters(login, city):
    """The marked list was written with raw openpyxl: a name «=1+2…» became a formula and a note with \\x01 a 500."""
    client = login(make_user("head"))
    start = _last_month().start.isoformat()
    resp = client.post(f"/rating/mark?period=month&start={start}",
                       data={"institution": str(city[1].id), "note": "=cmd|' /C calc'!A0\x01"})
    assert resp.status_code == 302
    resp = client.get("/rating/marked.xlsx", query_string={"period": "month", "start": start})
    assert resp.status_code == 200
    no_formula(resp.data)
    rows = list(load_workbook(io.BytesIO(resp.data)).active.values)
    assert rows[1][0] == "=1+2 <b>evil</b>" and rows[1][-3] == "=cmd|' /C calc'!A0"
    assert all(re.fullmatch(r"[^a-z_]*", h.split(": ", 1)[-1]) for h in rows[0]), rows[0]  # no «Ранг: audience»


def test_names_are_escaped(login, city):
    client = login(make_user("head"))
    for q in (NOV, {"period": "month", "start": _last_month().start.isoformat()}):
        html = client.get("/rating", query_string=q).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html and "<b>evil</b>" not in html
    html = client.get(f"/rating/{city[2].slug}", query_string=NOV).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html


def stray_russian(html: str) -> list[str]:
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", html, flags=re.S))
    for name in ("Культура", "Библиотека", "Музей", "Клуб", "Белогорск", "Сотрудник", "Учреждение", "Грамота"):
        text = text.replace(name, "")  # data, not labels
    return re.findall(r"[А-Яа-яЁё][А-Яа-яЁё «»\-]*", text)


def test_refusals_and_filter_errors_in_english(login, in_english):
    """The refusals were RatingError f-strings flashed as they were, the filter errors the board's Russian text."""
    d = make_direction("Культура")
    big = participant(d, 900, 1200, 10, oct_posts=2, oct_end=900)
    few = participant(d, 60, 50, 0)
    cheat = participant(d, 0, 0, 8, daily=daily(2000, {date(2026, 11, 12): 2000}))
    big.short_name, few.short_name, cheat.short_name = "Библиотека", "Клуб", "Музей"
    client = login(make_user("head"))
    closed = f"period=month&start={_last_month().start.isoformat()}"
    posts = {"mark": (f"/rating/mark?{closed}", {"institution": str(big.id), "note": "Грамота"}),
             "mark-open": ("/rating/mark?period=month", {"institution": str(big.id)}),
             "mark-junk": (f"/rating/mark?{closed}", {"institution": "x"}),
             "clear-junk": (f"/rating/clear-jump?{closed}", {"account": "x"}),
             "clear-missing": (f"/rating/clear-jump?{closed}", {"account": "999999", "day": "2026-11-12"}),
             "top-junk": ("/rating/public-top", {"enabled": "1", "kind": "week"}),
             "top-ok": ("/rating/public-top", {"enabled": "1", "kind": "month"})}
    found = {k: stray_russian(client.post(url, data=data, follow_redirects=True).get_data(as_text=True))
             for k, (url, data) in posts.items()}
    gets = {"marked-open": ("/rating/marked.xlsx", {"period": "month"}),
            "bad-dates": ("/rating", {"period": "custom", "from": "01.01.1900", "to": "x"}),
            "out-of-range": ("/rating", {"period": "custom", "from": "01.01.1900", "to": "01.01.2026"}),
            "drill": (f"/rating/{few.slug}", {"period": "month", "start": _last_month().start.isoformat()}),
            "404": ("/rating/nonexistent", {})}
    found |= {k: stray_russian(client.get(url, query_string=q, follow_redirects=True).get_data(as_text=True))
              for k, (url, q) in gets.items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, found


def test_clearing_a_day_without_a_rise_changes_nothing(login):
    """Any (account, day) was accepted: a clearance recorded for a day with no rise, and every unmarked frozen
    rating holding that day deleted and frozen again from today's data."""
    from sqlalchemy import select

    from app.models import Account, GrowthClearance, RatingSnapshot
    from app.services.rating import frozen

    d = make_direction("Культура")
    cheat = participant(d, 0, 0, 8, daily=daily(2000, {date(2026, 11, 12): 2000}))
    acc = db.session.scalar(select(Account.id).where(Account.institution_id == cheat.id))
    snap = frozen.freeze("month", date(2026, 11, 1), d.id)
    db.session.commit()
    client = login(make_user("head"))
    for day in ("2026-11-11", "2026-11-13", "2000-01-01"):
        resp = client.post("/rating/clear-jump", data={"account": str(acc), "day": day}, follow_redirects=True)
        assert resp.status_code == 200 and "нет роста «проверить накрутку»" in resp.get_data(as_text=True)
    assert db.session.scalar(select(GrowthClearance)) is None
    assert db.session.scalar(select(RatingSnapshot.id).where(RatingSnapshot.kind == "month")) == snap.id
    resp = client.post("/rating/clear-jump", data={"account": str(acc), "day": "2026-11-12"})
    assert resp.status_code == 302 and db.session.scalar(select(GrowthClearance)).day == date(2026, 11, 12)
