"""Open statistics (/stats, its CSV and XLSX) and a participant's «Как отвечает жителям» block: every figure
against a count computed here, in Python, from the tickets the test made; no personal data in any output;
junk in the query string; the participant's settings; the bound on fresh computations."""
from __future__ import annotations

import csv
import io
import random
import statistics
import zipfile
from datetime import date, datetime, time, timedelta, timezone
from html.parser import HTMLParser

import pytest
from flask import current_app, render_template_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from app.blueprints.stats import routes as stats_routes
from app.extensions import db
from app.formatting import fmt_value
from app.models import BoardSnapshot
from app.services import board, openstats
from tests.factories import make_category, make_direction, make_institution, make_ticket

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)  # Friday 20.11.2026, 12:00 in Belogorsk
STATUSES = ("new", "assigned", "in_progress", "resolved", "resolved", "closed", "rejected", "merged")
NOISE = ("spam", "advertising", "thanks", "duplicate")
SECRET_NAME, SECRET_PHONE = "Евлампия Душегубова", "+7 914 555-12-34"
SECRET_TEXT, SECRET_ADDRESS = "Секретная жалоба про соседа Громыхайло", "ул. Потаённая, 13"


@pytest.fixture
def at_now(monkeypatch):
    """The pages' clock at NOW (the views pass it to every service)."""
    monkeypatch.setattr(stats_routes, "utcnow", lambda: NOW)


def _city(rng: random.Random, n: int = 220):
    """Tickets over the last 15 months in every state, with deadlines and ratings, in two directions and three
    rubrics (and some without an institution or a rubric)."""
    d1, d2 = make_direction("ЖКХ"), make_direction("Образование")
    insts = [make_institution(d1), make_institution(d1), make_institution(d2)]
    cats = [make_category("Освещение"), make_category("Дороги"), make_category("Школы")]
    made = []
    for i in range(n):
        created = NOW - timedelta(days=rng.uniform(0, 450), minutes=rng.randint(0, 600))
        t = make_ticket(f"Обращение {i}", institution=rng.choice(insts + [None]), category=rng.choice(cats + [None]),
                        created_at=created)
        t.status = rng.choice(STATUSES)
        t.resolution_due_at = created + timedelta(hours=rng.choice((8, 24, 72, 240)))
        if t.status in ("resolved", "closed"):
            t.resolved_at = min(NOW - timedelta(minutes=1), created + timedelta(hours=rng.uniform(0.1, 400)))
            if rng.random() < 0.6:
                t.rating = rng.randint(1, 5)
                t.rated_at = min(NOW, t.resolved_at + timedelta(hours=rng.uniform(0, 50)))
        if t.status == "rejected":
            t.reject_reason = rng.choice(("spam", "thanks", "off_topic", "other", None))
        made.append(t)
    db.session.flush()
    return made, insts, (d1, d2), cats


def _counted(tickets):
    return [t for t in tickets if t.status != "merged" and not (t.status == "rejected" and t.reject_reason in NOISE)]


def _expected(tickets, start: datetime, end: datetime) -> dict:
    """The board's definitions, computed here over the ticket objects."""
    live = _counted(tickets)
    got = [t for t in live if start <= t.created_at < end]
    res = [t for t in live if t.resolved_at and start <= t.resolved_at < end and t.status in ("resolved", "closed")]
    rated = [t for t in live if t.rated_at and start <= t.rated_at < end and t.rating is not None]
    durations = [(t.resolved_at - t.created_at).total_seconds() for t in res]
    on_time = sum(t.resolved_at <= t.resolution_due_at for t in res)
    return {
        "received": len(got), "resolved": len(res), "on_time": on_time,
        "sla_share": on_time / len(res) if res else None,
        "mean_resolution_days": sum(durations) / len(durations) / 86400 if durations else None,
        "rated": len(rated), "rating_avg": statistics.mean(t.rating for t in rated) if rated else None,
    }


def _same(got: dict, expected: dict, what) -> None:
    for key, value in expected.items():
        if value is None or isinstance(value, int):
            assert got[key] == value, (what, key)
        else:
            assert got[key] == pytest.approx(value, rel=1e-6), (what, key)


def _months(end_day: date, n: int = 12) -> list[tuple[date, datetime, datetime]]:
    tz = board.city_tz()
    first = end_day.replace(day=1)
    starts = [board._add_months(first, i - n + 1) for i in range(n)]
    return [(s, datetime.combine(s, time(0), tz), datetime.combine(board._add_months(s, 1), time(0), tz))
            for s in starts]


def _groups(tickets, dirs, cats):
    by_dir = {d.id: [t for t in tickets if t.institution is not None and t.institution.direction_id == d.id]
              for d in dirs}
    by_cat = {c.id: [t for t in tickets if t.category_id == c.id] for c in cats}
    by_cat[None] = [t for t in tickets if t.category_id is None]
    return by_dir, by_cat


class Cells(HTMLParser):
    """The page's tables and cards as {(table, row, figure): text} and {card: text}."""

    def __init__(self):
        super().__init__()
        self.cells, self.table, self.row, self.figure, self.card = {}, None, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-table" in a:
            self.table = a["data-table"]
        elif tag == "tr" and "data-row" in a:
            self.row = a["data-row"]
        elif tag == "td" and "data-figure" in a:
            self.figure = (self.table, self.row, a["data-figure"])
            self.cells[self.figure] = ""
        elif tag == "div" and a.get("class") == "card-value" and self.card is None:
            pass

    def handle_endtag(self, tag):
        if tag == "td":
            self.figure = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.figure is not None:
            self.cells[self.figure] += data


def _page_cells(html: str) -> dict:
    p = Cells()
    p.feed(html)
    return {k: " ".join(v.split()).replace("✓", "").replace("✗", "").strip() for k, v in p.cells.items()}


def _block(inst) -> str:
    """The participant page's include, as the directory's page renders it. (Computed and kept first, outside the
    request context: the in-process «keep» job pushes an app context of its own, which a nested test request
    context does not survive; a real request, as on the directory's page, does.)"""
    openstats.participant_feedback(inst)
    with current_app.test_request_context("/participants/x"):
        return render_template_string('{% include "stats/_participant_feedback.html" %}', participant=inst)


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode()), "UTF-8 with a BOM for Excel"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


def _csv_number(text: str):
    return None if text == "" else float(text.replace(",", "."))


# --- the figures -------------------------------------------------------------------------------------
@pytest.mark.parametrize("view", [{}, {"period": "quarter"}, {"period": "custom", "from": "2025-12-01",
                                                                  "to": "2026-10-15"}])
def test_page_and_downloads_match_an_independent_count(client, at_now, view):
    tickets, _insts, dirs, cats = _city(random.Random(str(view)))
    db.session.commit()
    filters = openstats.parse(view, NOW)
    assert not filters.errors
    tz = board.city_tz()
    start, end = filters.period.bounds(tz)
    by_dir, by_cat = _groups(tickets, dirs, cats)

    data = openstats.compute(filters.period, filters.scope, NOW)
    _same(data["current"], _expected(tickets, start, end), "city")
    assert data["current"]["received"] > 0 and data["current"]["resolved"] > 0
    dirs_got = {r["id"]: r for r in data["directions"]}
    for d in dirs:
        _same(dirs_got[d.id], _expected(by_dir[d.id], start, end), d.name)
    cats_got = {r["id"]: r for r in data["categories"]}
    for cid, mine in by_cat.items():
        exp = _expected(mine, start, end)
        if exp["received"] or exp["resolved"] or exp["rated"]:
            _same(cats_got[cid], exp, cid)
    months = _months(filters.period.end)
    assert [m["month"] for m in data["monthly"]] == [s.strftime("%Y-%m") for s, _, _ in months]
    for m, (_s, a, b) in zip(data["monthly"], months, strict=True):
        exp = _expected(tickets, a, b)
        _same(m, {k: exp[k] for k in ("received", "resolved", "on_time", "sla_share", "mean_resolution_days")},
              m["month"])

    # the page shows those numbers
    resp = client.get("/stats", query_string=view)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    cells = _page_cells(html)
    for d in dirs:
        exp = _expected(by_dir[d.id], start, end)
        for key in ("received", "resolved", "on_time"):
            assert cells[("directions", str(d.id), key)] == str(exp[key]), (d.name, key)
        assert cells[("directions", str(d.id), "sla_share")] == fmt_value(exp["sla_share"], "pct")
        assert cells[("directions", str(d.id), "mean_resolution_days")] == fmt_value(exp["mean_resolution_days"],
                                                                                      "days")
    for c in cats:
        exp = _expected(by_cat[c.id], start, end)
        if exp["received"] or exp["resolved"]:
            assert cells[("categories", str(c.id), "received")] == str(exp["received"])
            assert cells[("categories", str(c.id), "resolved")] == str(exp["resolved"])
    for s, a, b in months:
        exp = _expected(tickets, a, b)
        key = s.strftime("%Y-%m")
        assert cells[("months", key, "received")] == str(exp["received"])
        assert cells[("months", key, "resolved")] == str(exp["resolved"])
        assert cells[("months", key, "on_time")] == str(exp["on_time"])
    city = _expected(tickets, start, end)
    assert fmt_value(city["received"], "int") in html and fmt_value(city["sla_share"], "pct") in html
    assert "<svg" in html and "<script" not in html.split("</head>")[1]

    # CSV: the same numbers, a row per figure set
    resp = client.get("/stats.csv", query_string=view)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert ".csv" in resp.headers["Content-Disposition"] and ".xlsx" not in resp.headers["Content-Disposition"]
    table = _csv_rows(resp.data)
    assert table[0] == list(openstats.HEADERS)
    rows = {(r[0], r[1]): r for r in table[1:]}
    names = {d.id: d.name for d in dirs} | {c.id: c.name for c in cats} | {None: "Без рубрики"}

    def check(row, exp, ratings=True):
        assert [int(row[4]), int(row[5]), int(row[6])] == [exp["received"], exp["resolved"], exp["on_time"]]
        assert _csv_number(row[7]) == (None if exp["sla_share"] is None else round(exp["sla_share"] * 100, 1))
        assert _csv_number(row[8]) == (None if exp["mean_resolution_days"] is None
                                       else round(exp["mean_resolution_days"], 1))
        if ratings:
            assert int(row[9]) == exp["rated"]
            assert _csv_number(row[10]) == (None if exp["rating_avg"] is None else round(exp["rating_avg"], 2))

    check(rows[("Итого", "Все обращения")], city)
    assert rows[("Итого", "Все обращения")][2:4] == [filters.period.start.strftime("%d.%m.%Y"),
                                                      filters.period.end.strftime("%d.%m.%Y")]
    for d in dirs:
        check(rows[("Направление", d.name)], _expected(by_dir[d.id], start, end))
    for cid, mine in by_cat.items():
        exp = _expected(mine, start, end)
        if exp["received"] or exp["resolved"] or exp["rated"]:
            check(rows[("Рубрика", names[cid])], exp)
    for s, a, b in months:
        check(rows[("Месяц", s.strftime("%Y-%m"))], _expected(tickets, a, b), ratings=False)

    # XLSX: the same table after «Параметры»
    resp = client.get("/stats.xlsx", query_string=view)
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["Параметры", "Статистика"]
    sheet = list(wb["Статистика"].iter_rows(values_only=True))
    assert list(sheet[0]) == list(openstats.HEADERS)
    xrows = {(r[0], r[1]): r for r in sheet[1:]}
    assert len(xrows) == len(rows)
    for key, row in rows.items():
        x = xrows[key]
        assert [x[4], x[5], x[6]] == [int(row[4]), int(row[5]), int(row[6])], key
        assert (None if x[7] is None else round(x[7], 1)) == _csv_number(row[7]), key
        assert (None if x[8] is None else round(x[8], 1)) == _csv_number(row[8]), key


def test_direction_filter_and_noise_are_not_counted(client, at_now):
    tickets, insts, dirs, cats = _city(random.Random(3), n=120)
    db.session.commit()
    d = dirs[1]
    filters = openstats.parse({"period": "year", "direction": str(d.id)}, NOW)
    assert filters.scope.direction_id == d.id and not filters.errors
    data = openstats.compute(filters.period, filters.scope, NOW)
    mine = [t for t in tickets if t.institution is not None and t.institution.direction_id == d.id]
    _same(data["current"], _expected(mine, *filters.period.bounds(board.city_tz())), "direction")
    assert [r["id"] for r in data["directions"]] == [d.id]
    html = client.get("/stats", query_string={"period": "year", "direction": d.id}).get_data(as_text=True)
    assert f'<option value="{d.id}" selected>' in html
    # merged duplicates and noise never count, however many there are
    noise = [make_ticket("спам", institution=insts[2], created_at=NOW - timedelta(hours=2), status="rejected")
             for _ in range(5)]
    for t in noise:
        t.reject_reason = "spam"
    make_ticket("повтор", institution=insts[2], created_at=NOW - timedelta(hours=2), status="merged")
    db.session.flush()
    again = openstats.compute(filters.period, filters.scope, NOW)
    assert again["current"]["received"] == data["current"]["received"]


# --- no personal data ----------------------------------------------------------------------------------
def test_no_personal_data_in_any_output(client, at_now):
    d = make_direction("ЖКХ")
    inst = make_institution(d, name="Управляющая компания «Дом»")
    inst.smm_name, inst.smm_contacts = "Прасковья Смирнова", "+7 924 000-00-01"
    cat = make_category("Освещение")
    t = make_ticket(f"{SECRET_TEXT}, звоните {SECRET_PHONE}", institution=inst, category=cat,
                    created_at=NOW - timedelta(days=2), address=SECRET_ADDRESS)
    t.resident.display_name = SECRET_NAME
    t.resident.phone = SECRET_PHONE
    t.status, t.resolved_at, t.rating, t.rated_at = "resolved", NOW - timedelta(days=1), 5, NOW - timedelta(hours=3)
    db.session.commit()
    outputs = {
        "page": client.get("/stats").get_data(as_text=True),
        "embed": client.get("/stats?embed=1").get_data(as_text=True),
        "csv": client.get("/stats.csv").data.decode("utf-8-sig"),
        "feedback": _block(inst),
    }
    with zipfile.ZipFile(io.BytesIO(client.get("/stats.xlsx").data)) as z:
        outputs["xlsx"] = " ".join(z.read(name).decode("utf-8") for name in z.namelist())
    assert "Освещение" in outputs["csv"] and "Освещение" in outputs["xlsx"]  # the rubric is there…
    for what, text in outputs.items():  # …but nobody's name, phone, words or address
        for secret in (SECRET_NAME, "Душегубова", SECRET_PHONE, "555-12-34", "Громыхайло", "Потаённая",
                       "Прасковья", "000-00-01", t.number):
            assert secret not in text, (what, secret)
    assert "Как отвечает жителям" in outputs["feedback"]


# --- bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    ({"period": "decade"}, "Неизвестный период"),
    ({"period": "week"}, "Неизвестный период"),
    ({"period": "custom", "from": "2026-10-05", "to": "2026-09-01"}, "Конец периода раньше начала"),
    ({"period": "custom", "from": "31.02.2026", "to": "2026-03-01"}, "ДД.ММ.ГГГГ"),
    ({"period": "custom", "from": "1999-01-01", "to": "2026-03-01"}, "Даты должны быть между"),
    ({"period": "custom", "from": "2026-01-01", "to": "2030-03-01"}, "Даты должны быть между"),
    ({"period": "custom", "from": "2020-01-01", "to": "2026-03-01"}, "длиннее трёх лет"),
    ({"direction": "99999999999"}, "Направление не найдено"),
    ({"direction": "abc"}, "Направление не найдено"),
    ({"direction": "2147483647"}, "Направление не найдено"),
])
def test_bad_filters_give_a_russian_message_and_the_default_view(client, at_now, args, message):
    resp = client.get("/stats", query_string=args)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert message in html and "01.11.2026 — 20.11.2026" in html  # this month, every direction
    for url in ("/stats.csv", "/stats.xlsx"):
        resp = client.get(url, query_string=args)
        assert resp.status_code == 422 and message in resp.get_data(as_text=True)


def test_unknown_parameters_are_ignored(client, at_now):
    resp = client.get("/stats", query_string={"institution": "1", "q": "x", "page": "-1", "sort": "drop",
                                              "period": "custom"})
    assert resp.status_code == 200 and "01.11.2026 — 20.11.2026" in resp.get_data(as_text=True)


_junk = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(["period", "from", "to", "direction", "embed", "fresh", "x"]),
                              st.one_of(_junk, st.sampled_from(["custom", "month", "year", "1", "2026-01-01",
                                                                "01.01.2026", "-1", "1e400"])), max_size=5),
       url=st.sampled_from(["/stats", "/stats.csv", "/stats.xlsx"]))
def test_junk_never_fails(client, at_now, params, url):
    resp = client.get(url, query_string=params)
    assert resp.status_code in (200, 422), (params, resp.status_code)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    if resp.mimetype == "text/html":
        assert "<script>alert" not in resp.get_data(as_text=True)


# --- embed, language -----------------------------------------------------------------------------------
def test_embed_has_no_app_header_and_keeps_the_flag(client, at_now):
    page = client.get("/stats").get_data(as_text=True)
    embed = client.get("/stats", query_string={"embed": "1", "period": "year"}).get_data(as_text=True)
    assert 'class="topbar"' in page and 'class="topbar"' not in embed
    assert '<input type="hidden" name="embed" value="1">' in embed
    assert "Открытая статистика обращений жителей" in embed
    assert 'style="' not in embed and "<script" not in embed


# --- the participant's block ---------------------------------------------------------------------------
def test_participant_feedback_counts_and_respects_the_settings():
    tickets, insts, _dirs, _cats = _city(random.Random(11), n=150)
    inst = insts[0]
    period = openstats.feedback_period(NOW)
    assert period.end == date(2026, 11, 20) and period.start == date(2025, 11, 21)
    fb = openstats.participant_feedback(inst.id, now=NOW)
    exp = _expected([t for t in tickets if t.institution_id == inst.id], *period.bounds(board.city_tz()))
    assert fb["received"] == exp["received"] > 0
    assert fb["sla_share"] == pytest.approx(exp["sla_share"])
    assert fb["rating_avg"] == pytest.approx(exp["rating_avg"])
    html = _block(inst)
    shown = openstats.participant_feedback(inst)
    assert "Как отвечает жителям" in html and fmt_value(shown["sla_share"], "pct") in html

    quiet = make_institution(inst.direction)  # receives appeals, none yet: small numbers are fine
    assert openstats.participant_feedback(quiet, now=NOW)["received"] == 0

    inst.public_feedback = False
    assert openstats.participant_feedback(inst, now=NOW) is None
    assert _block(inst).strip() == ""
    shop = make_institution(inst.direction)
    shop.receives_appeals = False
    assert openstats.participant_feedback(shop.id, now=NOW) is None
    assert _block(shop).strip() == ""


# --- kept and bounded ----------------------------------------------------------------------------------
def test_figures_are_kept_and_served_from_the_snapshot(client, at_now):
    _city(random.Random(5), n=40)
    db.session.commit()
    assert client.get("/stats").status_code == 200
    key = f"open|{openstats.parse({}, NOW).period.key}|{board.Scope().key}|{openstats.SHAPE}"
    snap = db.session.get(BoardSnapshot, key)
    assert snap is not None  # kept by the job (in-process here)
    # a young snapshot is what the page shows, whatever happened since
    snap.data = {**snap.data, "current": {**snap.data["current"], "received": 987654}}
    db.session.commit()
    assert "987\u202f654" in client.get("/stats").get_data(as_text=True)


def test_fresh_computations_are_bounded(app, client, at_now, redis_url, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.config, "STATS_COMPUTE_PER_MINUTE", 1)
    monkeypatch.setattr(openstats.board, "keep_later", lambda *a, **k: None)  # no worker in this test
    monkeypatch.setattr(board.snapshots, "keep_later", lambda *a, **k: None)
    # one budget minute for the whole test: on a busy machine the requests could straddle a minute's turn
    minute = 60 * (int(openstats.clock.time()) // 60) + 30
    monkeypatch.setattr(openstats.clock, "time", lambda: minute)
    assert client.get("/stats", query_string={"period": "year"}).status_code == 200
    resp = client.get("/stats", query_string={"period": "quarter"})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "60"
    assert "слишком часто" in resp.get_data(as_text=True)
    assert client.get("/stats.csv", query_string={"period": "quarter"}).status_code == 429
    # an older snapshot of the same view is served rather than nothing
    filters = openstats.parse({"period": "quarter"}, NOW)
    old = openstats.compute(filters.period, filters.scope, NOW)
    old["current"]["received"] = 424242
    db.session.add(BoardSnapshot(key=f"open|{filters.period.key}|{filters.scope.key}|{openstats.SHAPE}",
                                 computed_at=NOW - timedelta(hours=5), data=old))
    db.session.commit()
    resp = client.get("/stats", query_string={"period": "quarter"})
    assert resp.status_code == 200 and "424\u202f242" in resp.get_data(as_text=True)
    # a participant's block is never refused (its page must not fail): one key per participant a day
    inst = make_institution()
    assert openstats.participant_feedback(inst, now=NOW)["received"] == 0


def test_the_page_in_english(client, at_now, in_english):
    html = client.get("/stats", query_string={"period": "decade"}).get_data(as_text=True)
    assert "Open statistics of residents" in html and "By rubric" in html
    assert "Unknown period — showing the current month" in html
    assert "Открытая статистика" not in html


def test_the_job_keeps_the_common_views_and_every_participant(client, at_now, monkeypatch):
    tickets, insts, _dirs, _cats = _city(random.Random(21), n=120)
    shy = insts[1]
    shy.public_feedback = False
    db.session.commit()
    steps = list(openstats.refresh_steps(NOW))
    db.session.commit()
    assert steps[0] == "feedback" and len(steps) == 1 + len(openstats.REFRESHED_KINDS)
    period = openstats.feedback_period(NOW)

    def no_computing(*_a, **_k):
        raise AssertionError("served from the job's snapshot, not computed")

    monkeypatch.setattr(openstats.board, "aggregate", no_computing)
    monkeypatch.setattr(openstats, "compute", no_computing)
    for inst in (insts[0], insts[2]):
        fb = openstats.participant_feedback(inst, now=NOW)
        exp = _expected([t for t in tickets if t.institution_id == inst.id], *period.bounds(board.city_tz()))
        _same(fb, {k: exp[k] for k in ("received", "resolved", "on_time", "sla_share", "rated", "rating_avg")},
              inst.short_name)
    assert openstats.participant_feedback(shy, now=NOW) is None
    for kind in openstats.REFRESHED_KINDS:
        assert client.get("/stats", query_string={"period": kind}).status_code == 200


def test_the_refresh_job_is_scheduled_and_runs():
    from app.jobs import schedule, stats

    assert any(p.path == "app.jobs.stats.refresh" and p.queue == "low" for p in schedule.PERIODIC)
    make_institution()
    assert stats.refresh() == 1 + len(openstats.REFRESHED_KINDS)
