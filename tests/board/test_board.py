"""The head's board: figures against counts computed independently from the same tickets, fair ranking,
hot spots on planted clusters, bad input, access, snapshots."""
from __future__ import annotations

import random
import statistics
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import OPEN_STATUSES, BoardSnapshot, Direction, HotSpot, Ticket, utcnow
from app.services import board
from app.services.board import hotspots, worklist
from tests.factories import make_category, make_direction, make_institution, make_ticket, make_user

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)  # Friday 20.11.2026, 12:00 in Belogorsk
STATUSES = ("new", "assigned", "in_progress", "waiting_resident", "resolved", "closed", "rejected", "merged")


def _random_city(rng: random.Random, n: int = 160):
    """Tickets over the last 80 days in every state, with deadlines, ratings and reopenings."""
    d1, d2 = make_direction("ЖКХ"), make_direction("Образование")
    insts = [make_institution(d1), make_institution(d1), make_institution(d2)]
    made = []
    for i in range(n):
        created = NOW - timedelta(days=rng.uniform(0, 80), minutes=rng.randint(0, 600))
        t = make_ticket(f"Обращение {i}", institution=rng.choice(insts + [None]), created_at=created)
        t.status = rng.choice(STATUSES)
        t.resolution_due_at = created + timedelta(hours=rng.choice((8, 24, 72, 240)))
        t.first_responded_at = created + timedelta(minutes=rng.randint(5, 3000)) if rng.random() < 0.8 else None
        if t.status in ("resolved", "closed"):
            t.resolved_at = min(NOW - timedelta(minutes=1), created + timedelta(hours=rng.uniform(0.1, 400)))
            if rng.random() < 0.6:
                t.rating = rng.randint(1, 5)
                t.rated_at = min(NOW, t.resolved_at + timedelta(hours=rng.uniform(0, 50)))
        if t.status == "waiting_resident":
            t.sla_paused_at = created + timedelta(hours=rng.uniform(1, 300))
        t.reopen_count = 1 if rng.random() < 0.1 else 0
        if t.status == "rejected":
            t.reject_reason = rng.choice(("spam", "thanks", "off_topic", "other", None))
        made.append(t)
    db.session.flush()
    return made, insts, (d1, d2)


def _independent(tickets, start, end, now=NOW) -> dict:
    """The definitions of app/services/board.py, computed in plain Python over the ticket objects."""
    live = [t for t in tickets if t.status != "merged"
            and not (t.status == "rejected" and t.reject_reason in ("spam", "advertising", "thanks", "duplicate"))]
    got = [t for t in live if start <= t.created_at < end]
    res = [t for t in live if t.resolved_at and start <= t.resolved_at < end and t.status in ("resolved", "closed")]
    rated = [t for t in live if t.rated_at and start <= t.rated_at < end and t.rating is not None]
    firsts = [(t.first_responded_at - t.created_at).total_seconds() for t in got if t.first_responded_at]
    durations = [(t.resolved_at - t.created_at).total_seconds() for t in res]
    ever = [t for t in got if t.resolved_at or t.reopen_count > 0]
    return {
        "received": len(got),
        "open": sum(t.status in OPEN_STATUSES for t in got),
        "overdue": sum(t.is_overdue(now) or bool(t.resolved_at and t.resolved_at > t.resolution_due_at) for t in got),
        "resolved": len(res),
        "on_time": sum(t.resolved_at <= t.resolution_due_at for t in res),
        "rated": len(rated),
        "good": sum(t.rating >= 4 for t in rated),
        "rating_avg": statistics.mean(t.rating for t in rated) if rated else None,
        "reopened_share": sum(t.reopen_count > 0 for t in ever) / len(ever) if ever else None,
        "median_first_response": statistics.median(firsts) if firsts else None,
        "median_resolution": statistics.median(durations) if durations else None,
        "mean_resolution_days": sum(durations) / len(durations) / 86400 if durations else None,
    }


def _assert_figures(got: dict, expected: dict, group: bool = False) -> None:
    if group:  # the first-response median is the city's only (no per-institution table shows it)
        expected = {**expected, "median_first_response": None}
    for key, value in expected.items():
        if value is None or isinstance(value, int):
            assert got[key] == value, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("kind", ["month", "quarter", "week"])
def test_figures_match_an_independent_count(kind):
    assert db.session.scalar(select(func.count(Ticket.id))) == 0
    tickets, insts, dirs = _random_city(random.Random(kind))
    viewer = make_user("head")
    period = board.standard_period(kind, board.today(NOW))
    data = board.report(viewer, period, now=NOW)
    tz = board.city_tz()
    _assert_figures(data["current"], _independent(tickets, *period.bounds(tz)))
    _assert_figures(data["previous"], _independent(tickets, *period.previous().bounds(tz)))
    # per institution and per direction: the same definitions on each one's tickets
    start, end = period.bounds(tz)
    rows = {r["id"]: r for r in data["institutions"]["ranked"] + data["institutions"]["unranked"]}
    for inst in insts:
        mine = [t for t in tickets if t.institution_id == inst.id]
        expected = _independent(mine, start, end)
        if expected["received"] or expected["resolved"] or expected["rated"]:
            _assert_figures(rows[inst.id]["figures"], expected, group=True)
    drows = {r["id"]: r for r in data["directions"]["ranked"] + data["directions"]["unranked"]}
    for d in dirs:
        mine = [t for t in tickets if t.institution is not None and t.institution.direction_id == d.id]
        _assert_figures(drows[d.id]["figures"], _independent(mine, start, end), group=True)
    # now: open and overdue at this moment
    assert data["now"]["open"] == sum(t.status in OPEN_STATUSES for t in tickets)
    assert data["now"]["overdue"] == sum(bool(t.is_overdue(NOW)) for t in tickets)


def test_weekly_series_counts_each_week():
    tickets, _, _ = _random_city(random.Random(7), n=80)
    weeks = board.weekly_series(make_user("head"), board.today(NOW), weeks=12)
    tz = board.city_tz()
    assert len(weeks) == 12 and weeks[-1]["week"] == "2026-11-16"
    for w in weeks:
        start = datetime.fromisoformat(w["week"]).replace(tzinfo=tz)
        end = start + timedelta(days=7)
        live = [t for t in tickets if t.status != "merged"
                and not (t.status == "rejected" and t.reject_reason in ("spam", "thanks"))]
        assert w["received"] == sum(start <= t.created_at < end for t in live)
        assert w["resolved"] == sum(bool(t.resolved_at) and start <= t.resolved_at < end
                                    and t.status in ("resolved", "closed") for t in live)


def _resolved(inst, n_on_time: int, n_late: int, created=NOW - timedelta(days=3)):
    for i in range(n_on_time + n_late):
        t = make_ticket(f"Т {i}", institution=inst, created_at=created)
        t.status, t.resolution_due_at = "resolved", created + timedelta(days=2)
        t.resolved_at = created + (timedelta(minutes=4) if i < n_on_time else timedelta(days=2, hours=1))
    db.session.flush()


def test_ranking_needs_volume_and_smooths_small_institutions():
    d = make_direction()
    tiny, small, big, weak = (make_institution(d, n) for n in ("Крошечное", "Малое", "Большое", "Слабое"))
    _resolved(tiny, 1, 0)  # one ticket answered in four minutes
    _resolved(small, 6, 0)  # 100 % of six
    _resolved(big, 58, 2)  # 96.7 % of sixty
    _resolved(weak, 10, 10)  # 50 %
    data = board.report(make_user("analyst"), board.standard_period("month", board.today(NOW)), now=NOW)
    ranked = [r["name"] for r in data["institutions"]["ranked"]]
    assert ranked == ["Большое", "Малое", "Слабое"]  # big's many results beat small's few perfect ones
    assert [r["name"] for r in data["institutions"]["unranked"]] == ["Крошечное"]
    big_row = data["institutions"]["ranked"][0]
    assert big_row["rank"] == 1 and big_row["figures"]["sla_share"] == pytest.approx(58 / 60)
    assert big_row["meets_time_target"] is True


def test_hot_spots_found_on_planted_clusters_only():
    roads, water = make_category("Дороги"), make_category("Водоснабжение")
    hours = iter(range(1, 100))
    for house in (5, 7, 9, 12):  # the same street and rubric four times in three days
        make_ticket(f"Яма у дома {house}, машины бьют колёса", category=roads, address=f"ул. Ленина, {house}",
                    created_at=NOW - timedelta(hours=next(hours) * 15))
    for text in ("Нет горячей воды в доме уже третий день, когда дадут горячую воду?",
                 "Когда дадут горячую воду? Нет горячей воды в доме уже третий день",
                 "Уже третий день нет горячей воды в доме, когда дадут горячую воду"):
        make_ticket(text, category=water, address=None, created_at=NOW - timedelta(hours=next(hours)))
    # not clusters: two on one street; the same street long ago; unrelated complaints
    make_ticket("Яма на Кирова", category=roads, address="ул. Кирова, 1", created_at=NOW - timedelta(days=1))
    make_ticket("Яма на Кирова опять", category=roads, address="ул. Кирова, 3", created_at=NOW - timedelta(days=2))
    for i in range(3):
        make_ticket("Старая яма", category=roads, address=f"ул. Гагарина, {i}", created_at=NOW - timedelta(days=30))
    make_ticket("Не работает фонтан в парке", category=water, created_at=NOW - timedelta(hours=2))
    assert hotspots.detect(NOW) == 2
    spots = {s.kind: s for s in db.session.scalars(select(HotSpot))}
    assert set(spots) == {"address", "wording"}
    assert spots["address"].label == "ул. Ленина" and spots["address"].ticket_count == 4
    assert spots["address"].category_id == roads.id
    assert spots["wording"].ticket_count == 3 and spots["wording"].category_id == water.id
    assert all("горяч" in t.summary for t in spots["wording"].tickets)
    # a new ticket joins the same spot; running again adds nothing twice
    make_ticket("Опять яма у дома 20", category=roads, address="ул. Ленина, 20", created_at=NOW - timedelta(hours=1))
    hotspots.detect(NOW)
    hotspots.detect(NOW)
    assert db.session.scalar(select(func.count(HotSpot.id))) == 2
    db.session.refresh(spots["address"])
    assert spots["address"].ticket_count == 5 and spots["address"].open_count == 5
    items = worklist.worklist(make_user("head"), board.standard_period("month", board.today(NOW)), kind="hotspots",
                              now=NOW)
    assert [i.title for i in items][0].startswith("Дороги: ул. Ленина")


def test_summaries_that_name_attachments_are_no_wording_hot_spot():
    """Unrelated appeals with only a file, a video or a place are summarised by what they are («[документ:
    document.pdf]», «[видео: video.mp4 0:12]», «[геометка: 50.92123, 128.47346]»): that is not the residents'
    wording, and three of them are no recurring problem."""
    from app.channels import content

    items = [
        {"kind": "document", "file_id": "d", "name": "document.pdf"},
        {"kind": "video", "file_id": "v", "name": "video.mp4", "duration": 12},
        {"kind": "location", "file_id": "g", "latitude": 50.92123, "longitude": 128.47346},
    ]
    hours = iter(range(1, 100))
    for item in items:
        for _ in range(3):
            make_ticket(content.summary("", [item]), created_at=NOW - timedelta(hours=next(hours)))
    assert hotspots.detect(NOW) == 0


@pytest.mark.parametrize("text,street", [
    ("ул. Ленина, 12", "ул. Ленина"), ("на улице Ленина дом 5", "ул. Ленина"), ("пер. Садовый 3", "пер. Садовый"),
    ("ул. 50 лет Комсомола, 4", "ул. 50 лет Комсомола"), ("г. Белогорск, ул. Кирова, 1", "ул. Кирова"),
    ("Во дворе нет света", None),
])
def test_street_of(text, street):
    assert hotspots.street_of(text) == street


def test_worklist_most_serious_first():
    inst = make_institution()
    late = make_ticket("Просрочено давно", institution=inst, created_at=NOW - timedelta(days=20))
    late.status, late.resolution_due_at = "in_progress", NOW - timedelta(days=10)
    low = make_ticket("Ответили формально, телефон +7 914 123-45-67", institution=inst,
                      created_at=NOW - timedelta(days=5))
    low.status, low.resolved_at = "closed", NOW - timedelta(days=4)
    low.rating, low.rated_at = 1, NOW - timedelta(days=3)
    low.resolution_due_at = NOW + timedelta(days=1)
    back = make_ticket("Вернули в работу", institution=inst, created_at=NOW - timedelta(days=2))
    back.status, back.reopen_count, back.resolution_due_at = "in_progress", 2, NOW + timedelta(days=3)
    db.session.flush()
    items = worklist.worklist(make_user("head"), board.standard_period("month", board.today(NOW)), now=NOW)
    assert [i.kind for i in items] == ["overdue", "low_rating", "reopened"]
    assert items[0].detail.startswith("просрочено на 10 дней")
    counts = worklist.counts(make_user("head"), board.standard_period("month", board.today(NOW)), now=NOW)
    assert counts["overdue"] == 1 and counts["low_rating"] == 1 and counts["reopened"] == 1


# --- periods and bad input ------------------------------------------------------------------------------
def test_periods_and_their_previous():
    on = board.today(NOW)
    assert on.isoformat() == "2026-11-20"
    m = board.standard_period("month", on)
    assert (m.start.isoformat(), m.end.isoformat()) == ("2026-11-01", "2026-11-20")
    assert (m.previous().start.isoformat(), m.previous().end.isoformat()) == ("2026-10-01", "2026-10-20")
    w = board.standard_period("week", on)
    assert (w.start.isoformat(), w.previous().start.isoformat(), w.previous().end.isoformat()) == (
        "2026-11-16", "2026-11-09", "2026-11-13")
    q = board.standard_period("quarter", on)
    assert (q.start.isoformat(), q.previous().start.isoformat()) == ("2026-10-01", "2026-07-01")
    c, errors = board.parse_period({"period": "custom", "from": "01.11.2026", "to": "10.11.2026"}, NOW)
    assert not errors and c.days == 10
    assert (c.previous().start.isoformat(), c.previous().end.isoformat()) == ("2026-10-22", "2026-10-31")
    start, end = c.bounds(board.city_tz())
    assert start.utcoffset() == timedelta(hours=9) and (end - start).days == 10


@pytest.mark.parametrize("args,message", [
    ({"period": "custom", "from": "20.11.2026", "to": "01.11.2026"}, "Конец периода раньше начала"),
    ({"period": "custom", "from": "01.01.1800", "to": "01.11.2026"}, "Даты должны быть между"),
    ({"period": "custom", "from": "01.01.2026", "to": "01.01.2099"}, "Даты должны быть между"),
    ({"period": "custom", "from": "вчера", "to": "31.02.2026"}, "Укажите даты"),
    ({"period": "decade"}, "Неизвестный период"),
    ({"institution": "999999"}, "Учреждение не найдено"),
    ({"institution": "12abc"}, "Учреждение не найдено"),
    ({"direction": "-1"}, "Направление не найдено"),
])
def test_bad_board_input_gives_a_message_and_the_default_view(login, args, message):
    client = login(make_user("head"))
    resp = client.get("/board", query_string=args)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert message in html
    assert 'value="month" selected' in html  # the default view: this month
    assert "Проблемные вопросы" in html


def test_board_access(client, login):
    assert client.get("/board").status_code == 302  # to the login page
    assert login(make_user("executor")).get("/board").status_code == 403
    for role in ("head", "analyst", "moderator", "admin"):
        resp = login(make_user(role)).get("/board")
        assert resp.status_code == 200, role


def test_head_lands_on_the_board(login):
    resp = login(make_user("head")).get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/board")


def test_board_page_shows_the_figures_and_refreshes_them_live(login):
    _random_city(random.Random(3), n=60)
    client = login(make_user("head"))
    html = client.get("/board?period=quarter").get_data(as_text=True)
    data = board.report(make_user("head"), board.standard_period("quarter", board.today()))
    assert 'data-figure="received"' in html
    received = html.split('data-figure="received"')[1].split('card-value">')[1].split("<")[0]
    assert received.replace("\u202f", "") == str(data["current"]["received"])
    assert 'hx-trigger="every 60s"' in html and "<svg" in html
    assert "Как считается место" in html
    frag = client.get("/board/figures?period=quarter", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.get_data(as_text=True)
    assert 'id="board-figures"' in frag.get_data(as_text=True)


def test_snapshots_serve_the_standard_periods(app):
    viewer = make_user("head")
    t = make_ticket("Первое", created_at=NOW - timedelta(hours=1))
    period = board.standard_period("month", board.today(NOW))
    assert board.refresh_snapshots(NOW) == 5
    keys = db.session.scalars(select(BoardSnapshot.key)).all()
    assert len([k for k in keys if k.startswith("previous|")]) == 5  # the previous periods, kept for an hour
    assert len([k for k in keys if not k.startswith("previous|")]) == 5
    make_ticket("Второе", created_at=NOW - timedelta(minutes=30))
    cached = board.cached_report(viewer, period, now=NOW + timedelta(seconds=30))
    assert cached["current"]["received"] == 1  # served from the snapshot taken a moment ago
    fresh = board.cached_report(viewer, period, force=True, now=NOW + timedelta(seconds=31))
    assert fresh["current"]["received"] == 2
    old = NOW + timedelta(seconds=31 + app.config["BOARD_SNAPSHOT_MAX_AGE"] + 1)
    t.status = "merged"
    db.session.flush()
    assert board.cached_report(viewer, period, now=old)["current"]["received"] == 1  # stale: recomputed


def test_ranking_drills_down_to_the_institutions_tickets(login):
    d = make_direction()
    mine, other = make_institution(d, "Водоканал"), make_institution(d, "Горсвет")
    a = make_ticket("Нет воды", institution=mine, created_at=utcnow() - timedelta(hours=3))
    b = make_ticket("Нет света", institution=other, created_at=utcnow() - timedelta(hours=3))
    client = login(make_user("head"))
    from tests.board.test_board_export import last_weeks

    html = client.get("/board", query_string=last_weeks()).get_data(as_text=True)
    link = f"/queue?status=all&amp;institution={mine.id}"
    assert link in html
    listing = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert a.number in listing and b.number not in listing


def test_order_reported_in_time_is_not_late_while_the_head_reviews_it():
    from app.models import ControlOrder
    from app.services import control

    head, inst = make_user("head"), make_institution()
    t = make_ticket("Яма", institution=inst)
    order = ControlOrder(ticket=t, instruction="Заделать", institution_id=inst.id, due_at=NOW - timedelta(days=1),
                         state="reported", reported_at=NOW - timedelta(days=2), issued_by_id=head.id)
    late = ControlOrder(ticket=t, instruction="Убрать", institution_id=inst.id, due_at=NOW - timedelta(days=1),
                        state="in_progress", issued_by_id=head.id)
    db.session.add_all([order, late])
    db.session.flush()
    assert not control.is_late(order, NOW) and control.is_late(late, NOW)
    assert control.describe_due(order, NOW) == ("доложено в срок, ждёт решения главы", "ok")
    assert control.describe_due(late, NOW) == ("просрочено на 1 день", "late")
    got = db.session.scalars(select(ControlOrder.id).where(control.late_condition(NOW))).all()
    assert got == [late.id]
    counts = worklist.counts(head, board.standard_period("month", board.today(NOW)), now=NOW)
    assert counts["orders_late"] == 1 and counts["orders"] == 1


def test_direction_snapshots_serve_long_periods(app):
    viewer = make_user("head")
    d = make_direction("ЖКХ")
    inst = make_institution(d)
    make_ticket("Первое", institution=inst, created_at=NOW - timedelta(days=5))
    directions = db.session.scalar(select(func.count(Direction.id)))
    assert board.refresh_direction_snapshots(NOW) == 2 * directions  # a quarter and a year for each
    make_ticket("Второе", institution=inst, created_at=NOW - timedelta(days=1))
    year, scope = board.standard_period("year", board.today(NOW)), board.Scope(direction_id=d.id)
    later = NOW + timedelta(seconds=app.config["BOARD_LONG_SNAPSHOT_MAX_AGE"] - 60)
    assert board.cached_report(viewer, year, scope, now=later)["current"]["received"] == 1  # the job's snapshot
    stale = NOW + timedelta(seconds=app.config["BOARD_LONG_SNAPSHOT_MAX_AGE"] + 1)
    assert board.cached_report(viewer, year, scope, now=stale)["current"]["received"] == 2
    month = board.standard_period("month", board.today(NOW))  # short periods of a direction: computed on request
    assert board.cached_report(viewer, month, scope, now=later)["current"]["received"] == 2

