"""A small participants' network for the directory tests: two directions, three participants (one inactive),
accounts in several networks with 120 days of daily snapshots and posts."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Account, AccountSnapshot, Direction, Institution, Post, utcnow
from app.services import directory


@pytest.fixture
def network():
    today = directory.city_today()
    edu = Direction(code="t-education", name="Тест-Образование", sort_order=1)
    cul = Direction(code="t-culture", name="Тест-Культура", sort_order=2)
    school = Institution(direction=edu, name="МБОУ «Средняя школа № 3»", short_name="Школа № 3", slug="t-school-3",
                         smm_name="Секретная Смм Фамилия", smm_contacts="+7 900 000-00-00 smm-secret@example.org",
                         site="https://school3.example.ru")
    museum = Institution(direction=cul, name="Краеведческий музей", short_name="Музей", slug="t-museum",
                         smm_name="Секретная Смм Фамилия", smm_contacts="smm-secret@example.org")
    closed = Institution(direction=cul, name="Закрытый клуб", short_name="Клуб", slug="t-closed", is_active=False)
    db.session.add_all([edu, cul, school, museum, closed])
    db.session.flush()
    vk = Account(institution=school, network="vk", handle="t_school3", url="https://vk.com/t_school3",
                 title="Школа № 3", followers=1500, posts=420, collected_at=utcnow())
    tg = Account(institution=school, network="telegram", handle="t_school3_tg", url="https://t.me/t_school3",
                 title="Школа № 3 в Telegram", followers=300, posts=12, posts_source="seen",
                 connected_at=utcnow() - timedelta(days=100), collected_at=utcnow())
    dzen = Account(institution=school, network="other", handle="t_dzen", url="https://dzen.ru/t_school3",
                   label="Дзен", title="Дзен")
    ok = Account(institution=museum, network="ok", handle="t_museum", url="https://ok.ru/group/5500",
                 title="Музей", followers=800, posts=90, collected_at=utcnow())
    gone = Account(institution=museum, network="vk", handle="t_museum_old", url="https://vk.com/t_museum_old",
                   followers=9999, posts=1, is_active=False)
    hidden = Account(institution=closed, network="vk", handle="t_closed", url="https://vk.com/t_closed",
                     followers=7777, posts=5)
    db.session.add_all([vk, tg, dzen, ok, gone, hidden])
    db.session.flush()
    rows = []
    for k in range(120):
        day = today - timedelta(days=k)
        rows.append(AccountSnapshot(account_id=vk.id, taken_on=day, followers=1500 - k * 2, posts=420 - k))
        rows.append(AccountSnapshot(account_id=ok.id, taken_on=day, followers=800 - k, posts=90))
        if k < 20:
            rows.append(AccountSnapshot(account_id=tg.id, taken_on=day, followers=300 - k, posts=12))
    now = utcnow()
    for k in range(30):
        rows.append(Post(account_id=vk.id, external_id=f"vk-{k}", published_at=now - timedelta(days=k * 3, hours=1),
                         text=f"Новость школы номер {k}", permalink=f"https://vk.com/wall-1_{k}", views=100 + k,
                         reactions=k))
    rows.append(Post(account_id=tg.id, external_id="tg-bad", published_at=now - timedelta(minutes=5),
                     text="Ссылка с подвохом", permalink="javascript:alert(1)"))
    db.session.add_all(rows)
    db.session.commit()
    return {"school": school, "museum": museum, "closed": closed, "vk": vk, "tg": tg, "dzen": dzen, "ok": ok,
            "gone": gone, "hidden": hidden, "today": today}
