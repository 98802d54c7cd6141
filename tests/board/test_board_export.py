"""The board's XLSX export (same numbers as the page, masking by role) and the head's weekly digest."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook
from sqlalchemy import select

from app.extensions import db
from app.models import Notification, utcnow
from app.services.board import digest
from tests.factories import make_institution, make_ticket, make_user
from tests.helpers import committed

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)


def _city(now=NOW):
    inst = make_institution(name="УК «Дом»")
    for i in range(12):
        created = now - timedelta(days=i, hours=2)
        t = make_ticket(f"Протекает крыша, звоните +7 914 555-12-{i:02d}", institution=inst, created_at=created)
        t.resolution_due_at = created + timedelta(days=2)
        if i % 3 == 0:
            t.status, t.resolved_at = "closed", created + timedelta(hours=5 + i)
            t.rating, t.rated_at = (1 if i == 3 else 5), t.resolved_at + timedelta(hours=1)
        elif i % 3 == 1:
            t.status = "in_progress"
    db.session.flush()
    return inst


def _cards(html: str) -> dict:
    out = {}
    for key, value in re.findall(r'data-figure="(\w+)">\s*<div class="card-label">[^<]*</div>\s*'
                                 r'<div class="card-value">([^<]*)</div>', html):
        out[key] = value.replace("\u202f", "").strip()
    return out


def last_weeks() -> dict:
    """The board's period covering the last three weeks in city time. «This month» would not do: in the first
    days of a city month (30 November 15:00 UTC is already 1 December in Belogorsk) the tickets of the last days
    belong to the previous month."""
    from app.services.board import periods

    today = periods.today(utcnow())
    return {"period": "custom", "from": f"{today - timedelta(days=20):%d.%m.%Y}", "to": f"{today:%d.%m.%Y}"}


def test_export_has_the_numbers_of_the_page(login):
    _city(utcnow())
    client = login(make_user("head"))
    args = last_weeks()
    cards = _cards(client.get("/board", query_string=args).get_data(as_text=True))
    assert cards["received"] == "12"
    resp = client.get("/board/export.xlsx", query_string=args)
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames[:3] == ["Параметры", "Показатели", "Проблемные вопросы"]
    rows = {r[0]: r for r in wb["Показатели"].iter_rows(min_row=2, values_only=True)}
    assert str(rows["Поступило"][1]) == cards["received"]
    assert str(rows["Из них ещё не решено"][1]) == cards["open"]
    assert str(rows["Из них просрочено"][1]) == cards["overdue"]
    assert f"{rows['Решено в срок'][1]:.0f} %" == cards["sla_share"]
    assert f"{rows['Оценок 4–5 (цель ≥ 60 %)'][1]:.0f} %" == cards["good_share"]
    assert f"{rows['Средняя оценка жителей'][1]:.1f}".replace(".", ",") == cards["rating_avg"]
    # the ranking sheet lists the institution with the page's figures
    inst_rows = list(wb["Учреждения"].iter_rows(min_row=2, values_only=True))
    assert inst_rows[0][1] == "УК «Дом»" and inst_rows[0][2] == 12
    # the head's file masks residents' phone numbers in the worklist
    texts = " ".join(str(c) for r in wb["Проблемные вопросы"].iter_rows(values_only=True) for c in r if c)
    assert "Протекает крыша" in texts and "555-12" not in texts and "***" in texts
    params = " ".join(str(c) for r in wb["Параметры"].iter_rows(values_only=True) for c in r if c)
    assert "скрыты" in params


def test_moderator_export_shows_contacts_and_filters_apply(login):
    inst = _city(utcnow())
    other = make_institution(name="Школа № 5")
    make_ticket("Холодно в классе", institution=other, created_at=utcnow() - timedelta(hours=1))
    client = login(make_user("moderator"))
    resp = client.get("/board/export.xlsx", query_string={**last_weeks(), "institution": inst.id,
                                                           "kind": "low_rating"})
    wb = load_workbook(io.BytesIO(resp.data))
    rows = {r[0]: r for r in wb["Показатели"].iter_rows(min_row=2, values_only=True)}
    assert rows["Поступило"][1] == 12  # the other institution's ticket is filtered out
    items = list(wb["Проблемные вопросы"].iter_rows(min_row=2, values_only=True))
    assert len(items) == 1 and "555-12-03" in items[0][2]  # the one low rating, contacts in full


def test_bad_export_filters_give_the_default_not_an_error(login):
    client = login(make_user("analyst"))
    resp = client.get("/board/export.xlsx", query_string={"period": "custom", "from": "31.12.2026", "to": "x"})
    assert resp.status_code == 200
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb["Показатели"]["A2"].value == "Поступило"


def test_weekly_digest_goes_once_to_each_head(app, smtp_server, fake_tg, tg_config):
    monday_9 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)  # Monday 09:00 in Belogorsk
    _city(monday_9 - timedelta(days=3))
    head = make_user("head")
    head.email, head.telegram_chat_id = "glava@belogorsk.test", "777001"
    quiet = make_user("head")  # no e-mail, no Telegram: the digest waits in the app
    make_user("analyst").email = "analyst@belogorsk.test"  # not a recipient
    db.session.flush()
    assert committed(digest.send_weekly(monday_9 - timedelta(hours=2)))["sent"] == 0  # before Monday 08:00
    result = committed(digest.send_weekly(monday_9))
    assert result == {"sent": 2, "mailed": 1, "failed": 0}
    assert [m["To"] for m in smtp_server.messages] == ["glava@belogorsk.test"]
    mail = smtp_server.messages[0]
    assert "проблемные вопросы за неделю 16.11–22.11.2026" in mail["Subject"]
    body = mail.get_body(("plain",)).get_content()
    assert "• Поступило обращений: 5 (неделей ранее 7)" in body  # Mon 16.11–Sun 22.11, city time
    attachment = next(mail.iter_attachments())
    wb = load_workbook(io.BytesIO(attachment.get_content()))
    assert "Показатели" in wb.sheetnames
    sent = fake_tg.messages_to("777001")
    assert len(sent) == 1 and sent[0]["text"].startswith("Проблемные вопросы за неделю 16.11 — 22.11.2026")
    notes = db.session.scalars(select(Notification).where(Notification.kind == "digest")).all()
    assert {n.user_id for n in notes} == {head.id, quiet.id}
    # the hourly job runs again: nothing twice
    assert committed(digest.send_weekly(monday_9 + timedelta(hours=1)))["sent"] == 0
    assert len(smtp_server.messages) == 1 and len(fake_tg.messages_to("777001")) == 1


def test_digest_mail_failure_is_retried_by_the_outbox(app, smtp_server, monkeypatch):
    from app.models import Reply
    from app.services import replies

    monday_9 = datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(replies, "utcnow", lambda: monday_9)  # the outbox's clock
    head = make_user("head")
    head.email = "glava@belogorsk.test"
    db.session.flush()
    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nobody listens there
    try:
        assert committed(digest.send_weekly(monday_9)) == {"sent": 1, "mailed": 1, "failed": 0}
    finally:
        app.config["MAIL_PORT"] = port
    mail = db.session.scalar(select(Reply).where(Reply.network == "email"))
    assert mail.state == "pending" and "Не удалось отправить письмо" in mail.last_error
    assert mail.next_attempt_at == monday_9 + timedelta(seconds=10) and smtp_server.messages == []
    later = monday_9 + timedelta(minutes=1)
    for rid in replies.stale_pending(now=later):
        replies.deliver(rid, now=later)
    assert len(smtp_server.messages) == 1 and smtp_server.messages[0]["To"] == "glava@belogorsk.test"
    assert next(smtp_server.messages[0].iter_attachments()).get_filename() == "Проблемные вопросы 16.11.2026.xlsx"
    assert committed(digest.send_weekly(monday_9 + timedelta(hours=1)))["sent"] == 0  # the hourly run: nothing twice
    assert len(smtp_server.messages) == 1


def test_hot_spot_page_and_its_export(login):
    from app.models import HotSpot
    from app.services.board import hotspots
    from tests.factories import make_category

    roads = make_category("Дороги")
    now = utcnow()
    for house in (1, 2, 3):
        make_ticket(f"Яма у дома {house}, звоните 8 914 000-00-0{house}", category=roads,
                    address=f"ул. Ленина, {house}", created_at=now - timedelta(hours=house))
    hotspots.detect(now)
    spot = db.session.scalars(select(HotSpot)).one()
    client = login(make_user("head"))
    html = client.get(f"/board/hotspots/{spot.id}").get_data(as_text=True)
    assert "ул. Ленина" in html and html.count("Яма у дома") == 3 and "Дать поручение" in html
    wb = load_workbook(io.BytesIO(client.get(f"/board/hotspots/{spot.id}/export.xlsx").data))
    rows = list(wb["Обращения"].iter_rows(min_row=2, values_only=True))
    assert len(rows) == 3 and all("000-00" not in r[5] for r in rows)  # the head's file: phones masked
    assert client.get("/board/hotspots/999999").status_code == 404
    assert client.get("/board/hotspots/999999/export.xlsx").status_code == 404
