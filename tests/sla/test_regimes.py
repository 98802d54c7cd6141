"""Two legal regimes for one ticket (local regulation / 59-ФЗ), the 59-ФЗ extension, interim answers and
the final answer required when resolving. Times to the minute, city time Asia/Yakutsk (UTC+9)."""
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest

from app.channels.base import IncomingMessage
from app.channels.web import REPLY_ADDRESS
from app.extensions import db
from app.models import Message, Reply, Ticket, TicketEvent
from app.services import intake, tickets, timeline
from app.services.errors import ValidationFailed
from tests.factories import make_ticket, make_user

YKT = timezone(timedelta(hours=9))
HX = {"HX-Request": "true"}
_ids = count(1)


def at(s: str) -> datetime:
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=YKT).astimezone(timezone.utc)


def local(d: datetime) -> str:
    return d.astimezone(YKT).strftime("%Y-%m-%d %H:%M")


def arrive(*, network="web", kind="form", name="Иванова Мария Петровна", email=None, address=None,
           text="Во дворе дома на ул. Ленина, 12 не горит фонарь", when="2026-12-01 10:00") -> Ticket:
    """One message through intake (stored, then triaged) at a fixed moment; returns its ticket."""
    n = next(_ids)
    msg = IncomingMessage(network=network, external_id=f"reg-{n}", kind=kind, author_id=f"author-{n}",
                          author_name=name, text=text, thread_key=f"thread-{n}",
                          reply_address=dict(REPLY_ADDRESS) if network == "web" else {"chat_id": n},
                          raw={"address": address}, contact={"name": name, "email": email, "consent": True})
    [mid] = intake.accept([msg], now=at(when))
    ticket = intake.triage_message(db.session.get(Message, mid), now=at(when))
    db.session.flush()
    return ticket


def deadline_events(t):
    return db.session.scalars(db.select(TicketEvent).where(TicketEvent.ticket_id == t.id,
                                                           TicketEvent.kind == "deadline")
                              .order_by(TicketEvent.id)).all()


def replies_of(t, kind):
    return db.session.scalars(db.select(Reply).where(Reply.ticket_id == t.id, Reply.kind == kind)).all()


def test_identified_web_appeal_is_59fz_with_3_and_30_calendar_days():
    t = arrive(email="ivanova@example.org")
    assert t.regime == "59fz"
    assert local(t.first_response_due_at) == "2026-12-04 10:00"  # art. 8 p. 3: registered within 3 days
    assert local(t.resolution_due_at) == "2026-12-31 10:00"  # art. 12 p. 1: answered within 30 days
    # a postal address instead of an e-mail is enough too
    assert arrive(address="г. Белогорск, ул. Ленина, 12, кв. 5").regime == "59fz"


def test_social_and_anonymous_messages_stay_local():
    social = arrive(network="vk", kind="comment", name="Мария Иванова", email="m@example.org")
    assert social.regime == "local"
    assert local(social.first_response_due_at) == "2026-12-01 11:00"  # 1 working hour
    assert local(social.resolution_due_at) == "2026-12-02 11:00"  # 9 working hours: 7 on 01.12, 2 on 02.12
    assert arrive(name="Мария", email="m@example.org").regime == "local"  # no full name
    assert arrive(name="Иванова Мария").regime == "local"  # nowhere to send a written answer


def test_59fz_extension_once_with_reason_and_notice():
    t = arrive(email="ivanova@example.org")
    ex = make_user("moderator")
    with pytest.raises(ValidationFailed):
        tickets.extend_deadline(t, "  ", ex, at("2026-12-20 12:00"))
    tickets.extend_deadline(t, "Нужен выезд комиссии и запрос в Роспотребнадзор", ex, at("2026-12-20 12:00"))
    assert local(t.resolution_due_at) == "2027-01-30 10:00"
    assert local(t.extended_at) == "2026-12-20 12:00" and "комиссии" in t.extension_reason
    [notice] = replies_of(t, "extended")
    assert "продлён" in notice.text and "комиссии" in notice.text and t.number in notice.text
    [event] = deadline_events(t)
    assert "комиссии" in event.payload["reason"] and local(datetime.fromisoformat(event.payload["previous"])) \
        == "2026-12-31 10:00"
    with pytest.raises(ValidationFailed, match="один раз"):
        tickets.extend_deadline(t, "Ещё раз", ex, at("2027-01-10 12:00"))
    assert local(t.resolution_due_at) == "2027-01-30 10:00"


def test_a_local_ticket_cannot_be_extended():
    t = arrive(network="vk", kind="comment")
    with pytest.raises(ValidationFailed, match="59-ФЗ"):
        tickets.extend_deadline(t, "Причина", make_user("moderator"), at("2026-12-01 12:00"))


def test_regime_change_restarts_the_clock_and_the_timeline_says_why():
    t = arrive(network="vk", kind="comment")
    mod = make_user("moderator")
    tickets.change_regime(t, "59fz", "житель прислал письменное заявление с адресом", mod, at("2026-12-02 11:00"))
    assert t.regime == "59fz"
    assert local(t.first_response_due_at) == "2026-12-05 11:00"
    assert local(t.resolution_due_at) == "2027-01-01 11:00"
    [event] = deadline_events(t)
    assert event.payload["reason"] == "Переведено в режим 59-ФЗ: житель прислал письменное заявление с адресом"
    db.session.flush()
    titles = [body for _, body in (timeline._event_title(e.kind, e.payload) for e in deadline_events(t))]
    assert any("Переведено в режим 59-ФЗ" in b for b in titles)
    with pytest.raises(ValidationFailed):
        tickets.change_regime(t, "59fz", "ещё раз", mod, at("2026-12-02 12:00"))
    with pytest.raises(ValidationFailed):
        tickets.change_regime(t, "local", "", mod, at("2026-12-02 12:00"))


def test_interim_answer_sets_the_promised_deadline_stops_first_clock_and_notifies():
    t = arrive(network="vk", kind="comment")
    ex = make_user("moderator")
    tickets.interim_answer(t, ex, "Заявка передана подрядчику, замена фонаря запланирована",
                           "08.12.2026 15:00", now=at("2026-12-01 10:30"))
    assert local(t.first_responded_at) == "2026-12-01 10:30"
    assert local(t.resolution_due_at) == "2026-12-08 15:00"
    [reply] = replies_of(t, "interim")
    assert reply.text == (f"По обращению № {t.number}: Заявка передана подрядчику, замена фонаря "
                          "запланирована. Срок: 08.12.2026 15:00.")
    [event] = deadline_events(t)
    assert event.payload["reason"] == "Промежуточный ответ: обещано к 08.12.2026 15:00"


def test_a_promise_beyond_7_working_days_is_refused_locally():
    t = arrive(network="vk", kind="comment")  # Tue 01.12: the 7th working day is Thu 10.12
    ex = make_user("moderator")
    with pytest.raises(ValidationFailed, match="7 рабочих дней"):
        tickets.interim_answer(t, ex, "Ждём подрядчика", "11.12.2026", now=at("2026-12-01 10:30"))
    assert local(t.resolution_due_at) == "2026-12-02 11:00" and t.first_responded_at is None
    tickets.interim_answer(t, ex, "Ждём подрядчика", "10.12.2026", now=at("2026-12-01 10:30"))
    assert local(t.resolution_due_at) == "2026-12-10 18:00"  # a bare date: the close of that working day


def test_a_59fz_promise_is_bounded_by_the_30_days_then_by_the_extension():
    t = arrive(email="ivanova@example.org")
    ex = make_user("moderator")
    with pytest.raises(ValidationFailed, match="59-ФЗ"):
        tickets.interim_answer(t, ex, "Готовим ответ", "2027-01-05", now=at("2026-12-02 10:00"))
    tickets.extend_deadline(t, "Запрос в другой орган", ex, at("2026-12-03 10:00"))
    tickets.interim_answer(t, ex, "Готовим ответ", "2027-01-05 12:00", now=at("2026-12-04 10:00"))
    assert local(t.resolution_due_at) == "2027-01-05 12:00"


def test_interim_answer_from_the_ticket_page(login):
    t = make_ticket()
    client = login(make_user("moderator"))
    refused = client.post(f"/tickets/{t.number}/interim", data={"text": "Работаем", "promised": "01.01.2030"},
                          headers=HX)
    assert refused.status_code == 422 and "рабочих дней" in refused.get_data(as_text=True)
    promised = (datetime.now(YKT) + timedelta(days=1)).strftime("%d.%m.%Y %H:%M")
    ok = client.post(f"/tickets/{t.number}/interim", data={"text": "Работаем", "promised": promised}, headers=HX)
    assert ok.status_code == 200 and "Промежуточный ответ" in ok.get_data(as_text=True)
    db.session.expire_all()
    t = db.session.get(Ticket, t.id)
    assert local(t.resolution_due_at) == promised[6:10] + "-" + promised[3:5] + "-" + promised[:2] + promised[10:]
    assert t.first_responded_at is not None


def test_resolving_from_the_ticket_page_requires_an_answer(login):
    t = make_ticket(status="in_progress")
    client = login(make_user("moderator"))
    empty = client.post(f"/tickets/{t.number}/status",
                        data={"version": t.version, "status": "resolved", "comment": "  "}, headers=HX)
    assert empty.status_code == 422 and "какие меры приняты" in empty.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "in_progress"
    ok = client.post(f"/tickets/{t.number}/status",
                     data={"version": t.version, "status": "resolved", "comment": "Фонарь заменён 02.12"},
                     headers=HX)
    assert ok.status_code == 200
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).status == "resolved"


def test_extension_and_regime_change_from_the_ticket_page(login):
    t = arrive(email="ivanova@example.org")
    client = login(make_user("moderator"))
    page = client.get(f"/tickets/{t.number}").get_data(as_text=True)
    assert "59-ФЗ" in page and "Продлить срок" in page
    ok = client.post(f"/tickets/{t.number}/extend", data={"version": t.version, "reason": "Выезд комиссии"},
                     headers=HX)
    assert ok.status_code == 200
    db.session.expire_all()
    t = db.session.get(Ticket, t.id)
    assert t.extended_at is not None and local(t.resolution_due_at) == "2027-01-30 10:00"
    back = client.post(f"/tickets/{t.number}/regime",
                       data={"version": t.version, "regime": "local", "reason": "анонимное сообщение"}, headers=HX)
    assert back.status_code == 200 and "Переведено в режим местного регламента" in back.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).regime == "local"
