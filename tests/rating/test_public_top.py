"""The public «Лучшие участники» block on /participants (issue 14, item 3): off by default; on, it shows the frozen
top three of every direction of the last closed, frozen period of the chosen kind — checked against the snapshot
rows the test stores (ties shown, «мало данных» and inactive or account-less participants never); the toggle on
/rating for head, press and admin only; junk is a flash; names are escaped; the English page."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from html import unescape

import pytest
from flask import render_template
from flask_login import login_user

from app.extensions import db
from app.models import RatingSnapshot, RatingSnapshotRow, SiteSetting, utcnow
from app.services import settings
from app.services.board.periods import today as city_today
from app.services.rating import frozen, public
from tests.factories import make_account, make_direction, make_institution, make_user
from tests.rating.test_composite import TZ, participant

TOGGLE = "/rating/public-top"


# --- building frozen ratings by hand ------------------------------------------------------------------------
def member(direction, name=None, *, active=True, accounts=1):
    inst = make_institution(direction, name)
    for _ in range(accounts):
        make_account(inst)
    inst.is_active = active
    db.session.flush()
    return inst


def freeze_rows(kind, start, direction, rows):
    """rows: (institution, place or None, score or None, flags) — stored as a frozen rating of that period."""
    p = frozen.full_period(kind, start)
    snap = RatingSnapshot(kind=p.kind, start=p.start, end=p.end, direction_id=direction.id)
    db.session.add(snap)
    db.session.flush()
    for inst, place, score, flags in rows:
        db.session.add(RatingSnapshotRow(snapshot_id=snap.id, institution_id=inst.id, place=place, score=score,
                                         flags=list(flags), ranks={}, figures={}))
    db.session.flush()
    return snap


def expected(directions_rows):
    """Independently: per direction (in sort order) the (place, short name) of rows with 1 ≤ place ≤ 3, no
    «мало данных», an active participant with a shown account — by place, then name."""
    out = []
    for direction, rows in sorted(directions_rows, key=lambda dr: (dr[0].sort_order, dr[0].id)):
        keep = sorted((place, inst.short_name) for inst, place, _score, flags in rows
                      if place is not None and place <= 3 and "few_data" not in flags and inst.is_active
                      and any(a.is_active and a.confirmed_at is not None for a in inst.accounts))
        if keep:
            out.append((direction.name, keep))
    return out


def block_of(html: str):
    """The block as shown: [(direction name, [(place, name), …]), …] or None when the page has no block."""
    m = re.search(r'<section class="top-block".*?<p class="top-how-link">', html, re.S)
    if m is None:
        return None
    out = []
    for part in re.findall(r'<section class="top-direction".*?</section>', m.group(0), re.S):
        name = unescape(re.search(r"<h3[^>]*>(.*?)</h3>", part, re.S).group(1))
        rows = [(int(p), unescape(n)) for p, n in
                re.findall(r'<span class="top-place">(\d+)</span> <a href="[^"]+"[^>]*>(.*?)</a>', part, re.S)]
        out.append((name, rows))
    return out


def turn_on(kind="month"):
    settings.set(None, public.KEY, {"enabled": True, "kind": kind})
    db.session.commit()


def last(kind):
    return frozen.last_closed(kind, utcnow())


@pytest.fixture
def two_directions():
    """Two directions (the second created first, sorted after), a month's frozen rating in each, with a tie, a
    «мало данных» row, an inactive participant, one without a shown account; and an older month in the first."""
    later = make_direction("Спорт")
    first = make_direction("Культура")
    first.sort_order, later.sort_order = 1, 2
    a, b, c, d = (member(first, f"Музей {n}") for n in "АБВГ")
    inactive = member(first, "Закрытый клуб", active=False)
    few = member(first, "Тихая библиотека")
    hidden = member(first, "Без аккаунтов", accounts=0)
    unconfirmed = member(first, "Ждёт подтверждения")
    unconfirmed.accounts[0].confirmed_at = None  # an smm's account the press service has not confirmed yet
    rows_first = [(a, 1, 91.25, []), (b, 2, 80.0, []), (c, 2, 80.0, []), (inactive, 3, 70.0, []),
                  (d, 5, 40.0, ["check_growth"]), (few, None, None, ["few_data"]), (hidden, 1, 91.25, []),
                  (unconfirmed, 3, 70.0, [])]
    x, y = member(later, "Стадион"), member(later, "Бассейн")
    rows_later = [(x, 1, 75.0, []), (y, 2, 25.0, [])]
    m = last("month").start
    freeze_rows("month", m, first, rows_first)
    freeze_rows("month", m, later, rows_later)
    older = frozen.full_period("month", m - timedelta(days=1)).start
    freeze_rows("month", older, first, [(d, 1, 99.0, [])])  # an older month: never shown
    db.session.commit()
    return [(first, rows_first), (later, rows_later)], {"tied": (b, c), "inactive": inactive, "few": few,
                                                        "hidden": hidden, "unconfirmed": unconfirmed,
                                                        "older_top": d}


# --- the public page --------------------------------------------------------------------------------------
def test_off_by_default_no_block(client, two_directions):
    assert public.public_top() == {"enabled": False, "kind": "month"}
    html = client.get("/participants").get_data(as_text=True)
    assert "Лучшие участники" not in html and block_of(html) is None


def test_on_shows_the_frozen_top_three_per_direction(client, two_directions):
    data, who = two_directions
    turn_on("month")
    resp = client.get("/participants")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    shown = block_of(html)
    assert shown == expected(data)
    assert shown[0][0] == "Культура" and shown[1][0] == "Спорт"  # Direction.sort_order, not creation order
    names = [n for _d, rows in shown for _p, n in rows]
    b, c = who["tied"]
    assert (2, b.short_name) in shown[0][1] and (2, c.short_name) in shown[0][1]  # a tie: both, same place
    for absent in ("inactive", "few", "hidden", "unconfirmed", "older_top"):
        assert who[absent].short_name not in names
    p = last("month")
    assert f"по итогам месяца: {p.start:%d.%m.%Y} — {p.end:%d.%m.%Y}" in html
    assert f'href="/participants/{b.slug}"' in html
    assert 'href="#top-how"' in html and 'id="top-how"' in html and "Как считается рейтинг" in html
    assert "среднее этих мест" in html
    assert "91.2" in html or "91.3" in html  # the score, rounded to a tenth


def test_the_service_against_the_rows(two_directions):
    data, _who = two_directions
    top = public.best_participants("month", city_today())
    got = [(d.name, [(r.place, r.name) for r in d.rows]) for d in top.directions]
    assert got == expected(data)
    assert (top.start, top.end) == (last("month").start, last("month").end)
    assert public.best_participants("year", city_today()) is None  # nothing frozen of that kind
    assert public.best_participants("junk", city_today()) is None


def test_kind_quarter_picks_the_quarter(client, two_directions):
    data, _who = two_directions
    first = data[0][0]
    q = last("quarter")
    star = member(first, "Лучшие за квартал")
    freeze_rows("quarter", q.start, first, [(star, 1, 88.0, [])])
    db.session.commit()
    turn_on("quarter")
    html = client.get("/participants").get_data(as_text=True)
    assert block_of(html) == [("Культура", [(1, "Лучшие за квартал")])]
    assert f"по итогам квартала: {q.start:%d.%m.%Y} — {q.end:%d.%m.%Y}" in html
    turn_on("year")  # nothing frozen for a year: no block
    assert block_of(client.get("/participants").get_data(as_text=True)) is None


def test_an_open_period_is_never_shown_nor_frozen_by_the_page(client):
    d = make_direction("Культура")
    inst = member(d, "Музей")
    current = frozen.full_period("month", city_today())  # still open (a row planted by hand)
    freeze_rows("month", current.start, d, [(inst, 1, 90.0, [])])
    turn_on("month")
    before = db.session.query(RatingSnapshot).count()
    assert block_of(client.get("/participants").get_data(as_text=True)) is None
    assert db.session.query(RatingSnapshot).count() == before


def test_a_really_frozen_month_against_its_stored_rows():
    d = make_direction()
    people = [participant(d, 1000, 1200, 10), participant(d, 500, 520, 6), participant(d, 300, 300, 4),
              participant(d, 900, 1000, 8), participant(d, 50, 50, 2)]
    snap = frozen.freeze("month", date(2026, 11, 1), d.id, now=datetime(2026, 12, 1, 0, 30, tzinfo=TZ))
    rows = frozen.frozen_rows(snap)
    by_id = {p.id: p for p in people}
    want = [(d.name, sorted((r.place, by_id[r.institution_id].short_name) for r in rows
                            if r.place is not None and r.place <= 3 and "few_data" not in r.flags))]
    top = public.best_participants("month", date(2026, 12, 2))
    assert [(g.name, [(r.place, r.name) for r in g.rows]) for g in top.directions] == want
    assert top.start == date(2026, 11, 1) and top.end == date(2026, 11, 30)
    assert public.best_participants("month", date(2026, 11, 30)) is None  # not ended before that day


def test_an_institution_name_is_escaped(client):
    d = make_direction("Культура")
    evil = member(d, "<script>alert('top')</script>")
    freeze_rows("month", last("month").start, d, [(evil, 1, 90.0, [])])
    turn_on("month")
    html = client.get("/participants").get_data(as_text=True)
    assert "<script>alert('top')</script>" not in html
    assert "&lt;script&gt;alert(" in html
    assert block_of(html) == [("Культура", [(1, "<script>alert('top')</script>")])]


def test_english_page(client, two_directions, in_english):
    turn_on("month")
    html = client.get("/participants").get_data(as_text=True)
    assert "Best participants" in html and "results of the month" in html
    assert "How the rating is calculated" in html and "mean of these ranks" in html
    assert "Лучшие участники" not in html


# --- the toggle ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["head", "press", "admin"])
def test_head_press_admin_toggle(login, role):
    client = login(make_user(role))
    resp = client.post(TOGGLE, data={"enabled": "1", "kind": "quarter"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/rating")
    assert public.public_top() == {"enabled": True, "kind": "quarter"}
    row = db.session.get(SiteSetting, public.KEY)
    assert row.updated_by_id is not None and row.updated_at is not None
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Блок «Лучшие участники» на странице участников включён" in page
    client.post(TOGGLE, data={"kind": "year"})  # the checkbox unticked: off
    assert public.public_top() == {"enabled": False, "kind": "year"}


@pytest.mark.parametrize("role", ["moderator", "smm", "analyst", "executor"])
def test_other_roles_get_403(login, role):
    client = login(make_user(role, institution=make_institution() if role in ("smm", "executor") else None))
    assert client.post(TOGGLE, data={"enabled": "1", "kind": "month"}).status_code == 403
    assert public.public_top()["enabled"] is False


def test_anonymous_is_sent_to_login(client):
    resp = client.post(TOGGLE, data={"enabled": "1", "kind": "month"})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert public.public_top()["enabled"] is False


@pytest.mark.parametrize("junk", ["", "week", "custom", "x" * 500, "<script>", "quarter2", "None", "МЕСЯЦ"])
def test_junk_kind_is_a_russian_flash(login, junk):
    client = login(make_user("head"))
    resp = client.post(TOGGLE, data={"enabled": "1", "kind": junk}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Период блока — месяц, квартал или год" in resp.get_data(as_text=True)
    assert public.public_top() == {"enabled": False, "kind": "month"}


def test_junk_stored_is_read_as_the_default():
    for junk in ("on", 1, [], {"enabled": "yes", "kind": "week"}, None):
        settings.set(None, public.KEY, junk)
        assert public.public_top() == {"enabled": False, "kind": "month"}


def test_settings_get_and_set():
    assert settings.get("nothing-here", 42) == 42
    assert settings.get("x" * 200, "d") == "d"
    user = make_user("admin")
    settings.set(user, "some_key", {"a": [1, 2]})
    settings.set(user, "some_key", {"a": [3]})
    assert settings.get("some_key") == {"a": [3]}
    assert db.session.get(SiteSetting, "some_key").updated_by_id == user.id
    with pytest.raises(ValueError):
        settings.set(user, "", 1)


def test_the_toggle_partial(app):
    """rating/_public_toggle.html (the lead includes it into the rating page): the form for those who may change
    it, the state only for the others."""
    db.session.commit()
    for role, form in (("head", True), ("press", True), ("analyst", False)):
        user = make_user(role)
        db.session.commit()
        with app.test_request_context("/rating"):
            login_user(user)
            html = render_template("rating/_public_toggle.html")
        assert "Сейчас блок на странице участников не показан." in html
        assert (f'action="{TOGGLE}"' in html) is form
        if form:
            assert 'name="csrf_token"' in html and 'name="enabled"' in html and 'name="kind"' in html


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_the_toggle_needs_its_csrf_token(app, login, csrf_on):
    client = login(make_user("head"))
    assert client.post(TOGGLE, data={"enabled": "1", "kind": "month"}).status_code == 400
    assert public.public_top()["enabled"] is False
    page = client.get("/rating").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)  # the session's token, as every page carries
    assert client.post(TOGGLE, data={"enabled": "1", "kind": "month", "csrf_token": token}).status_code == 302
    assert public.public_top() == {"enabled": True, "kind": "month"}
