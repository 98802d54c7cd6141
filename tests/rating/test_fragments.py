"""/rating's standings tables are rendered once per kept standing and shared (app/fragments.py): a viewer still
sees the standing of the moment, the participants' current names, their own language, and in a closed period
their own «к поощрению» forms."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import BoardSnapshot, utcnow
from app.services import access
from app.services.board.reporting import _store
from app.services.rating import standing
from tests.factories import make_user
from tests.rating.test_pages import NOV, NOV_P, cells, city  # noqa: F401  (the fixture)
from tests.test_i18n import english_interface


def _kept_tables() -> list[BoardSnapshot]:
    db.session.expire_all()  # the job kept them in its own session
    return db.session.scalars(select(BoardSnapshot).where(BoardSnapshot.key.startswith("html|rating-table|"))).all()


def test_table_follows_a_standing_kept_by_another_process(login, city):  # noqa: F811
    d, big, _mid, _few = city
    client = login(make_user("head"))
    view = {**NOV, "direction": d.id}
    first = client.get("/rating", query_string=view).get_data(as_text=True)
    assert len(_kept_tables()) == 1
    assert cells(client.get("/rating", query_string=view).get_data(as_text=True), big.id) == cells(first, big.id)

    # another process keeps a newer computation of the same standing
    key = standing.key(NOV_P, d.id)
    data = dict(db.session.get(BoardSnapshot, key).data)
    rows = [dict(r, figures=dict(r["figures"], posts_per_week=12.3)) if r["institution_id"] == big.id else r
            for r in data["rows"]]
    later = utcnow()
    _store(key, {**data, "rows": rows, "computed_at": later.isoformat()}, later)
    db.session.commit()
    db.session.expire_all()

    html = client.get("/rating", query_string=view).get_data(as_text=True)
    assert cells(html, big.id)["posts_per_week"].startswith("12.3")
    kept = _kept_tables()
    assert len(kept) == 1 and "12.3" in kept[0].data["html"]  # replaced, not added


def test_a_renamed_participant_shows_its_new_name_at_once(login, city):  # noqa: F811
    d, big, _mid, _few = city
    client = login(make_user("head"))
    view = {**NOV, "direction": d.id}
    assert "Библиотека" in client.get("/rating", query_string=view).get_data(as_text=True)
    big.short_name = "Центральная библиотека"
    db.session.commit()
    html = client.get("/rating", query_string=view).get_data(as_text=True)
    assert "Центральная библиотека" in html


@pytest.mark.parametrize("role", sorted(access.RATING))
def test_every_role_gets_the_same_table_and_only_the_head_marks(login, city, role):  # noqa: F811
    d, big, _mid, _few = city
    view = {**NOV, "direction": d.id}
    reference = login(make_user("admin")).get("/rating", query_string=view).get_data(as_text=True)
    mine = login(make_user(role)).get("/rating", query_string=view).get_data(as_text=True)
    assert cells(mine, big.id) == cells(reference, big.id)
    # a closed month: the table carries the viewer's «к поощрению» forms (rendered for them, never shared)
    closed = {"period": "month", "start": "2025-11-01", "direction": d.id}
    login(make_user("head")).get("/rating", query_string=closed)
    html = login(make_user(role)).get("/rating", query_string=closed).get_data(as_text=True)
    assert ('name="institution"' in html) == access.can_mark_encouragement(make_user(role))


def test_english_interface_gets_the_english_table(app, login, city):  # noqa: F811
    d, *_ = city
    client = login(make_user("head"))
    view = {**NOV, "direction": d.id}
    assert "Отстающие" in client.get("/rating", query_string=view).get_data(as_text=True)
    with english_interface(app):
        english = client.get("/rating", query_string=view).get_data(as_text=True)
    assert "Отстающие" not in english and "Место" not in english and "Библиотека" in english
    assert "Отстающие" in client.get("/rating", query_string=view).get_data(as_text=True)
