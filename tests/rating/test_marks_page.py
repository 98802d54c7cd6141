"""«к поощрению» on /rating (issue 14, item 4): the head marks a participant of a closed month with a note, the row
shows it, the XLSX of the marked lists it; the others see no form and get 403; junk never gives a 500."""
from __future__ import annotations

import io

from openpyxl import load_workbook

from app.models import utcnow
from app.services.rating import frozen
from tests.factories import make_direction, make_user
from tests.rating.test_composite import participant


def _last_month():
    return frozen.last_closed("month", utcnow())


def test_head_marks_a_participant_and_downloads_the_marked(login):
    d = make_direction("Культура")
    inst = participant(d, 900, 1200, 10, oct_posts=2, oct_end=900)
    head = login(make_user("head"))
    start = _last_month().start.isoformat()
    page = head.get("/rating", query_string={"period": "month", "start": start}).get_data(as_text=True)
    assert "Выгрузить отмеченных (Excel)" in page and 'name="note"' in page and 'name="csrf_token"' in page
    resp = head.post(f"/rating/mark?period=month&start={start}",
                     data={"institution": str(inst.id), "note": "Лучшая работа с <обращениями>"})
    assert resp.status_code == 302
    page = head.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Участник отмечен «к поощрению»" in page
    assert "Лучшая работа с &lt;обращениями&gt;" in page and "снять отметку" in page
    xlsx = head.get("/rating/marked.xlsx", query_string={"period": "month", "start": start})
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    rows = list(load_workbook(io.BytesIO(xlsx.data)).active.values)
    assert len(rows) == 2 and "Лучшая работа с <обращениями>" in rows[1]
    resp = head.post(f"/rating/mark?period=month&start={start}",
                     data={"institution": str(inst.id), "action": "unmark"}, follow_redirects=True)
    assert "Отметка снята" in resp.get_data(as_text=True) and not frozen.marks(_last_month())


def test_others_see_no_form_and_get_403(login):
    d = make_direction("Культура")
    inst = participant(d, 900, 1200, 10, oct_posts=2, oct_end=900)
    start = _last_month().start.isoformat()
    for role in ("analyst", "press"):
        client = login(make_user(role))
        page = client.get("/rating", query_string={"period": "month", "start": start}).get_data(as_text=True)
        assert 'name="note"' not in page and "Выгрузить отмеченных (Excel)" in page
        assert client.post(f"/rating/mark?period=month&start={start}",
                           data={"institution": str(inst.id)}).status_code == 403
        assert client.get("/rating/marked.xlsx", query_string={"period": "month", "start": start}).status_code == 200
    assert login(make_user("executor")).get("/rating/marked.xlsx").status_code == 403


def test_open_period_and_junk_are_a_flash(login):
    d = make_direction("Культура")
    inst = participant(d, 900, 1200, 10, oct_posts=2, oct_end=900)
    head = login(make_user("head"))
    resp = head.post("/rating/mark?period=month", data={"institution": str(inst.id)}, follow_redirects=True)
    assert resp.status_code == 200 and "только за закончившийся месяц" in resp.get_data(as_text=True)
    start = _last_month().start.isoformat()
    for junk in ("", "x", "999999999", "-1", "1e9"):
        resp = head.post(f"/rating/mark?period=month&start={start}", data={"institution": junk},
                         follow_redirects=True)
        assert resp.status_code == 200 and "не найден" in resp.get_data(as_text=True)
    for q in ({"period": "week", "start": "x"}, {"period": "month", "start": "2026-13-40"}, {"period": "month"}):
        assert head.get("/rating/marked.xlsx", query_string=q).status_code < 500
    assert not frozen.marks(_last_month())
