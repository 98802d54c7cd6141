"""The staff page /rating, its drill-down and its export (issue 14, items 3 and 5): who may see them, that the
table shows the places and figures the service computes for hand-built snapshots and posts, the period switch,
junk filters, the English page."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from app.extensions import db
from app.services import rating
from app.services.board.periods import Period
from app.services.rating import page, standing
from tests.factories import make_direction, make_user
from tests.rating.test_composite import participant

NOV = {"period": "custom", "from": "01.11.2026", "to": "30.11.2026"}
OCT = {"period": "custom", "from": "01.10.2026", "to": "31.10.2026"}
NOV_P = Period("custom", date(2026, 11, 1), date(2026, 11, 30))


@pytest.fixture
def city():
    d = make_direction("Культура")
    big = participant(d, 900, 1200, 10, oct_posts=2, oct_end=900)  # grows most, posts most: first in November
    mid = participant(d, 500, 520, 6, oct_posts=8, oct_end=500)
    few = participant(d, 60, 50, 0)  # «мало данных», silent, falling
    big.short_name, mid.short_name, few.short_name = "Библиотека", "Музей", "Клуб"
    return d, big, mid, few


def cells(html: str, iid: int) -> dict[str, str]:
    row = re.search(rf'<tr data-institution="{iid}".*?</tr>', html, re.S).group(0)
    out = {k: re.sub(r"<[^>]+>|\s+", " ", v).strip()
           for k, v in re.findall(r'data-component="(\w+)">(.*?)</td>', row, re.S)}
    out["place"] = re.sub(r"<[^>]+>|\s+", " ", re.search(r'class="place">(.*?)</td>', row, re.S).group(1)).strip()
    return out


@pytest.mark.parametrize("role,status", [("head", 200), ("press", 200), ("analyst", 200), ("admin", 200),
                                         ("executor", 403), ("smm", 403), ("moderator", 403)])
def test_roles(login, role, status, city):
    client = login(make_user(role))
    assert client.get("/rating").status_code == status
    assert client.get("/rating/export.xlsx").status_code == status
    assert client.get(f"/rating/{city[1].slug}").status_code == status


def test_anonymous_is_sent_to_login(client):
    assert client.get("/rating").status_code in (302, 401)


def test_table_shows_the_services_places_and_figures(login, city):
    d, big, mid, few = city
    html = login(make_user("head")).get("/rating", query_string={**NOV, "direction": d.id}).get_data(as_text=True)
    rated = rating.composite_for_direction(d.id, NOV_P)
    by_id = {r.institution_id: r for r in rated.rows}
    # independently: the library beats the museum on every component but silence; the club has too few posts
    assert by_id[big.id].place == 1 and by_id[mid.id].place == 2 and by_id[few.id].place is None
    for inst in (big, mid, few):
        r, shown = by_id[inst.id], cells(html, inst.id)
        assert shown["place"].startswith(str(r.place) if r.place else "—")
        for c in page.COLUMNS:
            v = page.value(standing.plain(r.figures), c)
            if v is None:
                assert shown[c[0]].startswith("нет данных"), c[0]
            else:
                assert shown[c[0]].split(" ")[0] == str(v), (c[0], shown[c[0]], v)
            if c[5] in r.ranks:
                assert f'({r.ranks[c[5]]:g} из {r.of[c[5]]})' in shown[c[0]]
    assert cells(html, big.id)["audience"].startswith("1200")
    assert "мало данных" in re.search(rf'<tr data-institution="{few.id}".*?</tr>', html, re.S).group(0)
    assert 'class="top3"' in html and "Как считается" in html
    assert "нет данных" in html  # no appeals: the feedback components are missing
    assert html.index("Библиотека") < html.index("Музей") < html.index("Клуб")
    # the club is a laggard: no posts in November, audience falling; the others are not
    laggards = re.search(r'<ul class="laggards">(.*?)</ul>', html, re.S).group(1)
    assert "Клуб" in laggards and "нет постов 30 дней" in laggards and "аудитория падает" in laggards
    assert "Музей" not in laggards and "Библиотека" not in laggards


def test_the_period_switch_changes_the_figures(login, city):
    d, big, mid, _ = city
    client = login(make_user("head"))
    nov = client.get("/rating", query_string={**NOV, "direction": d.id}).get_data(as_text=True)
    octo = client.get("/rating", query_string={**OCT, "direction": d.id}).get_data(as_text=True)
    assert cells(nov, mid.id)["posts_per_week"] != cells(octo, mid.id)["posts_per_week"]
    assert cells(octo, mid.id)["place"].startswith("1")  # in October the museum posted more
    assert "01.10.2026 — 31.10.2026" in octo


def test_drill_down_beside_the_previous_period_and_404_for_an_unknown_slug(login, city):
    client = login(make_user("head"))
    html = client.get(f"/rating/{city[1].slug}", query_string=NOV).get_data(as_text=True)
    assert "Библиотека" in html and "01.11.2026 — 30.11.2026" in html and "1200" in html
    assert client.get("/rating/net-takogo", query_string=NOV).status_code == 404


def test_every_participant_link_of_the_table_opens(login, city):
    """The demo's slugs have underscores («ugkh_blg»): the drill-down once answered 404 to them."""
    city[1].slug, city[2].slug = "ugkh_blg", "Shkola-3_blg"
    db.session.commit()
    client = login(make_user("head"))
    html = client.get("/rating", query_string=NOV).get_data(as_text=True)
    links = set(re.findall(r'href="(/rating/[^"?]+)\?', html)) - {"/rating/export.xlsx"}
    assert {"/rating/ugkh_blg", "/rating/Shkola-3_blg"} <= links and len(links) == 3
    for link in links:
        assert client.get(link, query_string=NOV).status_code == 200, link
    assert client.get("/rating/ugkh_blg%00", query_string=NOV).status_code in (400, 404)


def test_export_cells_equal_the_page(login, city):
    d, big, mid, few = city
    client = login(make_user("head"))
    html = client.get("/rating", query_string={**NOV, "direction": d.id}).get_data(as_text=True)
    resp = client.get("/rating/export.xlsx", query_string={**NOV, "direction": d.id})
    assert resp.status_code == 200 and "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(resp.data))["Рейтинг"]
    rows = list(ws.iter_rows(values_only=True))
    head, body = rows[0], {r[3]: r for r in rows[1:]}
    assert head[:5] == ("Направление", "Место", "Изменение места", "Участник", "Балл")
    for inst in (big, mid, few):
        row, shown = body[inst.short_name], cells(html, inst.id)
        assert row[0] == "Культура"
        for c in page.COLUMNS:
            v = row[head.index(c[2])]
            if v is None:
                assert shown[c[0]].startswith("нет данных")
            else:
                assert isinstance(v, int | float) and float(shown[c[0]].split(" ")[0]) == v, (c[0], v, shown[c[0]])
    assert body["Библиотека"][1] == 1 and body["Клуб"][1] is None and "мало данных" in body["Клуб"][-1]


@pytest.mark.parametrize("junk", ["", "abc", "-1", "99999999999999999999", "<script>alert(1)</script>", "2026-13-45"])
def test_junk_filters_give_the_default(login, city, junk):
    client = login(make_user("head"))
    for url in ("/rating", "/rating/export.xlsx", f"/rating/{city[1].slug}"):
        for name in ("period", "from", "to", "direction"):
            resp = client.get(url, query_string={name: junk, "period": "custom" if name in ("from", "to") else junk})
            assert resp.status_code == 200, (url, name, junk, resp.status_code)
            if resp.mimetype == "text/html":
                assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
    html = client.get("/rating", query_string={"direction": "abc"}).get_data(as_text=True)
    assert "Культура" in html  # every direction
    week = client.get("/rating", query_string={"period": "week"})
    assert week.status_code == 200 and week.headers["HX-Push-Url"] == "/rating?period=month"


def test_english_page_has_no_stray_russian(login, city, in_english):
    client = login(make_user("head"))
    for url in ("/rating", f"/rating/{city[1].slug}"):
        html = client.get(url, query_string=NOV).get_data(as_text=True)
        html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", html)
        for name in ("Культура", "Библиотека", "Музей", "Клуб", "Белогорск", "Сотрудник"):  # data, not labels
            text = text.replace(name, "")
        stray = re.findall(r"[А-Яа-яЁё][А-Яа-яЁё «»\-]*", text)
        assert not stray, (url, stray[:10])
