"""The board's ranking tables are rendered once per report and kept (app/fragments.py): what a viewer sees must
still be the report of the moment, in their language, for their view."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import OPEN_STATUSES, BoardSnapshot, Ticket, utcnow
from app.services import access, board
from tests.board.test_board_export import last_weeks
from tests.factories import make_direction, make_institution, make_ticket, make_user
from tests.test_i18n import english_interface


def _institutions_table(html: str) -> str:
    return html.split('data-level="institution"')[1].split("</table>")[0]


def _city():
    d = make_direction("ЖКХ")
    water = make_institution(d, "Водоканал")
    make_ticket("Нет воды", institution=water, created_at=utcnow() - timedelta(hours=3))
    return water


def _view():
    args = last_weeks()
    period, _ = board.parse_period(args, utcnow())
    return args, period, board._snapshot_key(period, board.Scope())


def _fragments() -> list[BoardSnapshot]:
    db.session.expire_all()  # the job kept them in its own session
    return db.session.scalars(select(BoardSnapshot).where(BoardSnapshot.key.startswith("html|board-rankings|"))).all()


def test_ranking_tables_follow_a_snapshot_made_by_another_process(login):
    water = _city()
    args, period, key = _view()
    client = login(make_user("head"))
    first = client.get("/board", query_string=args).get_data(as_text=True)
    assert "Водоканал" in _institutions_table(first)
    kept = _fragments()
    assert len(kept) == 1 and "Водоканал" in kept[0].data["html"]
    again = client.get("/board", query_string=args).get_data(as_text=True)
    assert _institutions_table(again) == _institutions_table(first)  # served from the kept HTML

    # another web process (or the job) stores a newer report: a new ticket of a new institution
    sewer = make_institution(water.direction, "Горсвет")
    make_ticket("Нет света", institution=sewer, created_at=utcnow() - timedelta(hours=1))
    later = utcnow()
    board.keep(key, board.report(make_user("analyst"), period, board.Scope(), later), later)
    db.session.commit()
    db.session.expire_all()

    table = _institutions_table(client.get("/board", query_string=args).get_data(as_text=True))
    assert "Горсвет" in table and "Водоканал" in table
    kept = _fragments()
    assert len(kept) == 1 and "Горсвет" in kept[0].data["html"]  # replaced, not added


@pytest.mark.parametrize("role", sorted(access.BOARD))
def test_a_narrower_view_never_gets_the_cached_tables(login, monkeypatch, role):
    _city()
    args, _, _ = _view()
    other = "admin" if role != "admin" else "moderator"
    wide = login(make_user(other)).get("/board", query_string=args).get_data(as_text=True)
    assert "Водоканал" in _institutions_table(wide) and _fragments()

    # the same role, narrowed: it no longer sees every ticket (its report is computed for it alone)
    monkeypatch.setattr(access, "SEE_ALL", access.SEE_ALL - {role})
    narrow = login(make_user(role)).get("/board", query_string=args)
    assert narrow.status_code == 200
    table = _institutions_table(narrow.get_data(as_text=True))
    assert "Водоканал" not in table and "За период обращений нет" in table


@pytest.mark.parametrize("role", sorted(access.BOARD))
def test_each_role_sees_the_same_tables(login, role):
    _city()
    args, _, _ = _view()
    reference = _institutions_table(login(make_user("admin")).get("/board", query_string=args).get_data(as_text=True))
    mine = login(make_user(role)).get("/board", query_string=args).get_data(as_text=True)
    assert _institutions_table(mine) == reference


def test_english_interface_gets_english_tables(app, login):
    _city()
    args, _, _ = _view()
    client = login(make_user("head"))
    russian = client.get("/board", query_string=args).get_data(as_text=True)
    assert "Место" in _institutions_table(russian)
    with english_interface(app):
        english = client.get("/board", query_string=args).get_data(as_text=True)
    table = _institutions_table(english)
    assert "Rank" in table and "Место" not in table and "Водоканал" in table
    again = client.get("/board", query_string=args).get_data(as_text=True)
    assert "Место" in _institutions_table(again)  # the Russian tables again, not the English ones


def test_a_slow_job_never_puts_older_tables_back():
    """Two pages rendered two versions; the job storing the older one runs last: the newer tables stay."""
    from app import fragments

    now = utcnow()
    fragments.keep("html|t|k", {"version": now.isoformat(), "html": "new"}, now)
    fragments.keep("html|t|k", {"version": (now - timedelta(minutes=5)).isoformat(), "html": "old"},
                   now - timedelta(minutes=5))
    db.session.expire_all()
    assert db.session.get(BoardSnapshot, "html|t|k").data["html"] == "new"


def test_a_slow_refresh_never_puts_an_older_computation_back(login):
    """The periodic refresh computed a report, a page meanwhile computed a newer one and kept it with its tables; the
    refresh's commit comes last. The newer computation stays — its kept tables are of its version, so the next
    viewers get them (an older computation put back left every page rendering its tables anew, issue 16's
    /rating at 64× the floor)."""
    from app.services.board.reporting import _store

    now = utcnow()
    _store("rating|probe", {"computed_at": now.isoformat(), "rows": ["new"]}, now)
    _store("rating|probe", {"computed_at": (now - timedelta(seconds=2)).isoformat(), "rows": ["old"]},
           now - timedelta(seconds=2))
    db.session.expire_all()
    kept = db.session.get(BoardSnapshot, "rating|probe")
    assert kept.data["rows"] == ["new"] and kept.computed_at == now
    later = now + timedelta(minutes=1)  # a newer computation still replaces it
    _store("rating|probe", {"computed_at": later.isoformat(), "rows": ["newer"]}, later)
    db.session.expire_all()
    assert db.session.get(BoardSnapshot, "rating|probe").data["rows"] == ["newer"]


def _overdue_tab(html: str) -> str:
    return re.search(r'data-kind="overdue">[^<]*<b class="n">(\d+)</b>', html).group(1)


def test_kept_parts_page_counts_what_is_overdue_now_and_an_old_snapshot_is_recomputed(app, login, monkeypatch):
    """With its parts kept, the page reads only the snapshot's summary (its moment and the counts of now): the
    overdue tab still counts the overdue tickets (an independent count here); a snapshot too old is not served
    from the kept parts — the report is computed again and the tables show what changed."""
    water = _city()
    late = make_ticket("Течёт крыша", institution=water, created_at=utcnow() - timedelta(days=20))
    late.resolution_due_at = utcnow() - timedelta(days=2)
    args, _, _ = _view()
    client = login(make_user("head"))
    first = client.get("/board", query_string=args).get_data(as_text=True)
    again = client.get("/board", query_string=args).get_data(as_text=True)  # from the kept parts
    assert _fragments()
    expected = sum(1 for t in db.session.scalars(select(Ticket)) if t.status in OPEN_STATUSES
                   and t.resolution_due_at is not None and t.resolution_due_at < utcnow())
    assert _overdue_tab(again) == _overdue_tab(first) == str(expected) == "1"
    assert _institutions_table(again) == _institutions_table(first)

    sewer = make_institution(water.direction, "Горсвет")
    make_ticket("Нет света", institution=sewer, created_at=utcnow() - timedelta(hours=1))
    db.session.commit()
    assert "Горсвет" not in _institutions_table(client.get("/board", query_string=args).get_data(as_text=True))
    monkeypatch.setitem(app.config, "BOARD_SNAPSHOT_MAX_AGE", 0)  # every snapshot is now too old
    assert "Горсвет" in _institutions_table(client.get("/board", query_string=args).get_data(as_text=True))
