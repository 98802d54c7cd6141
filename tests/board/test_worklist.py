"""The head's worklist («Что требует внимания») against an independent computation over random tickets, answers of
merged tickets' residents and control orders: the same items in the same order, the same counts, for every kind,
limit, scope and viewer."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from app.extensions import db
from app.models import OPEN_STATUSES, ControlOrder, VerdictAnswer
from app.services import board
from app.services.board import worklist
from tests.factories import make_direction, make_institution, make_resident, make_ticket, make_user

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)
STATUSES = ("new", "assigned", "in_progress", "waiting_resident", "resolved", "closed", "rejected", "merged")


def _days(seconds: float) -> int:
    return max(0, int(seconds // 86400))


def _late(days: int) -> str:
    if days == 0:
        return "просрочено менее суток"
    unit = "день" if days % 10 == 1 and days % 100 != 11 else (
        "дня" if 2 <= days % 10 <= 4 and not 12 <= days % 100 <= 14 else "дней")
    return f"просрочено на {days} {unit}"


@pytest.fixture
def city():
    rng = random.Random(16)
    d1, d2 = make_direction("ЖКХ"), make_direction("Дороги")
    insts = [make_institution(d1), make_institution(d1), make_institution(d2)]
    head = make_user("head")
    tickets = []
    for i in range(220):
        created = NOW - timedelta(days=rng.uniform(0, 400), minutes=rng.randint(0, 600))
        t = make_ticket(f"  Обращение {i} " + "текст " * rng.randint(0, 40), institution=rng.choice(insts + [None]),
                        created_at=created)
        t.status = rng.choice(STATUSES)
        t.resolution_due_at = created + timedelta(hours=rng.uniform(1, 2000))
        t.on_control = rng.random() < 0.2
        if t.status == "waiting_resident":
            t.sla_paused_at = created + timedelta(hours=rng.uniform(1, 600))
        if rng.random() < 0.45:
            t.rating = rng.randint(1, 5)
            t.rated_at = min(NOW, created + timedelta(hours=rng.uniform(1, 3000)))
        t.reopen_count = rng.choice((0, 0, 0, 1, 2, 3))
        t.updated_at = NOW - timedelta(seconds=rng.uniform(0, 10_000_000))
        tickets.append(t)
    db.session.flush()
    answers = []
    for t in rng.sample(tickets, 60):  # residents of tickets merged into these answered too
        for _ in range(rng.randint(1, 2)):
            rated = rng.random() < 0.8
            answers.append(VerdictAnswer(ticket_id=t.id, resident_id=make_resident().id,
                                         rating=rng.randint(1, 5) if rated else None,
                                         rated_at=NOW - timedelta(days=rng.uniform(0, 400)) if rated else None))
    orders = []
    for i in range(40):
        state = rng.choice(("issued", "in_progress", "reported", "done", "cancelled"))
        due = NOW + timedelta(days=rng.uniform(-60, 60))
        orders.append(ControlOrder(
            ticket_id=rng.choice(tickets).id if rng.random() < 0.7 else None, topic=f"Тема {i}" if i % 3 else None,
            instruction=f"Поручение номер {i} " + "сделать " * 20, institution_id=rng.choice(insts).id, due_at=due,
            state=state, issued_by_id=head.id,
            reported_at=due + timedelta(days=rng.uniform(-5, 5)) if state == "reported" else None))
    db.session.add_all(answers + orders)
    db.session.flush()
    return {"tickets": tickets, "answers": answers, "orders": orders, "insts": insts, "dirs": (d1, d2),
            "head": head}


def _expected(city, user, period, scope, kind, limit):
    """The worklist's definitions (app/services/board/worklist.py docstring) in plain Python."""
    start, end = period.bounds(board.city_tz())

    def in_scope(inst_id):
        if scope.institution_id is not None and inst_id != scope.institution_id:
            return False
        if scope.direction_id is not None:
            return inst_id in {i.id for i in city["insts"] if i.direction_id == scope.direction_id}
        return True

    names = {i.id: i.short_name for i in city["insts"]}
    seen = [t for t in city["tickets"] if in_scope(t.institution_id)
            and (user.role != "executor" or t.institution_id == user.institution_id)]

    def ticket_item(k, t, severity, detail):
        return (k, severity, f"{t.number}: {t.summary.strip()[:120]}", detail, names.get(t.institution_id))

    items = {}
    overdue = sorted((t for t in seen if t.status in OPEN_STATUSES and t.is_overdue(NOW)),
                     key=lambda t: (t.resolution_due_at, t.id))
    items["overdue"] = [ticket_item("overdue", t, 500 + _days((NOW - t.resolution_due_at).total_seconds())
                                    + (100 if t.on_control else 0),
                                    _late(_days((NOW - t.resolution_due_at).total_seconds()))
                                    + ("; на контроле" if t.on_control else ""))
                        for t in overdue]
    answer_low = {}
    for a in city["answers"]:
        if a.rating is not None and a.rating <= 2 and start <= a.rated_at < end:
            answer_low[a.ticket_id] = min(a.rating, answer_low.get(a.ticket_id, 5))
    low = []
    for t in seen:
        own = t.rating if t.rating is not None and t.rating <= 2 and start <= t.rated_at < end else None
        lowest = min((r for r in (own, answer_low.get(t.id)) if r is not None), default=None)
        if lowest is not None:
            low.append((t, lowest))
    # lowest own rating first (unrated last), then the latest own rating (PostgreSQL: NULLS FIRST when DESC)
    low.sort(key=lambda p: (p[0].rating is None, p[0].rating or 0, p[0].rated_at is not None,
                            -(p[0].rated_at.timestamp() if p[0].rated_at else 0), -p[0].id))
    items["low_rating"] = [ticket_item("low_rating", t, 200 + 10 * (3 - r), f"оценка {r} из 5") for t, r in low]
    reopened = sorted((t for t in seen if t.status in OPEN_STATUSES and t.reopen_count > 0),
                      key=lambda t: (-t.reopen_count, -t.updated_at.timestamp()))
    items["reopened"] = [ticket_item("reopened", t, 150 + 10 * t.reopen_count,
                                     f"возвращалось в работу: {t.reopen_count}" if t.reopen_count > 1
                                     else "житель вернул в работу") for t in reopened]
    numbers = {t.id: t.number for t in city["tickets"]}
    late, open_ = [], []
    for o in sorted(city["orders"], key=lambda o: (o.due_at, o.id)):
        if o.state not in ("issued", "in_progress", "reported") or not in_scope(o.institution_id):
            continue
        title = "Поручение: " + (o.topic or numbers.get(o.ticket_id) or o.instruction[:80])
        is_late = o.due_at < NOW and not (o.state == "reported" and o.reported_at <= o.due_at)
        if is_late:
            days = _days((NOW - o.due_at).total_seconds())
            late.append(("orders_late", 1000 + days, title, _late(days), names[o.institution_id]))
        else:
            left = _days((o.due_at - NOW).total_seconds())
            state = {"issued": "Выдано", "in_progress": "Исполняется", "reported": "Доложено об исполнении"}[o.state]
            due = o.due_at.astimezone(board.city_tz()).strftime("%d.%m.%Y")
            open_.append(("orders", 300 - left, title, f"{state}; срок {due}", names[o.institution_id]))
    items["orders_late"], items["orders"], items["hotspots"] = late, open_, []
    counts = {k: len(v) for k, v in items.items()}
    wanted = [kind] if kind else list(worklist.KINDS)
    chosen = [i for k in wanted for i in items[k][:limit]]
    chosen.sort(key=lambda i: (-i[1], i[2]))
    return chosen[:limit], counts


@pytest.mark.parametrize("period_kind", ["week", "month", "year"])
def test_worklist_and_counts_match_an_independent_computation(city, period_kind):
    head = city["head"]
    executor = make_user("executor", institution=city["insts"][0])
    period = board.standard_period(period_kind, board.today(NOW))
    scopes = [board.Scope(), board.Scope(institution_id=city["insts"][1].id),
              board.Scope(direction_id=city["dirs"][0].id)]
    checked = 0
    for user in (head, executor):
        for scope in scopes:
            for kind, limit in ((None, 15), (None, 40), ("low_rating", 3), ("low_rating", 200), ("overdue", 5),
                                ("reopened", 200), ("orders_late", 4), ("orders", 200)):
                items = worklist.worklist(user, period, scope, kind=kind, limit=limit, now=NOW)
                got = [(i.kind, i.severity, i.title, i.detail, i.institution) for i in items]
                expected, counts = _expected(city, user, period, scope, kind, limit)
                assert got == expected, (user.role, scope, kind, limit)
                checked += bool(got)
            got_counts = worklist.counts(user, period, scope, now=NOW)
            assert got_counts == counts, (user.role, scope)
            assert worklist.counts(user, period, scope, now=NOW, overdue=7) == {**counts, "overdue": 7}
    assert checked > 20  # the random city gives every kind something to show
