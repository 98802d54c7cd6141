"""Intake stays right on what residents and platforms really send (issue 10 items 1-5, issue 17 item 3), on
PostgreSQL, through the real webhooks and local fakes of the platforms:

1. network values of any length in bounded columns; a bot command whose argument is text is an appeal;
2. edits of messages that are not (yet) a ticket are triaged again; an edit inside a ticket shows once;
3. bursts: summary, routing and the acknowledgement come from the burst's first text, after its window;
4. thanks (however decorated) never reopen; stickers, reactions and emoji alone are not appeals, on every network;
5. merged tickets keep their residents: follow-ups join the main ticket, every resident is told, each answers
   «Проблема решена?» for themselves, the board counts each answer.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.channels import get_adapter
from app.channels.base import Attachment, IncomingMessage
from app.extensions import db
from app.fakes import max as max_payloads
from app.fakes import ok as ok_payloads
from app.fakes import telegram as updates
from app.fakes import vk as vk_payloads
from app.models import (
    INTAKE_MODELS,
    HotSpot,
    IntakeRejection,
    Message,
    Reply,
    Resident,
    Ticket,
    TicketEvent,
    VerdictAnswer,
    utcnow,
)
from app.models.base import bounded_columns
from app.services import board, intake, tickets, timeline, verdict
from app.services.intake import routing
from tests import helpers
from tests.factories import make_category, make_institution, make_resident, make_user
from tests.telegram_support import SECRET as TG_SECRET
from tests.vk_support import GROUP
from tests.vk_support import SECRET as VK_SECRET

TG_USER = 48151623
TG_USER_B = 48151624
VK_USER = 512345678
LONG_COMPLAINT = ("не пришёл ответ по моему обращению от 20 ноября про яму у дома 5 по ул. Ленина, машины "
                  "объезжают её по тротуару, вчера там упал пожилой человек, прошу срочно засыпать яму и "
                  "поставить ограждение возле школы")


# --- helpers ----------------------------------------------------------------------------------------
def tg(client, update):
    resp = client.post("/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def vk(client, payload):
    resp = client.post("/hooks/vk", json=payload)
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "ok", resp.get_data(as_text=True)
    return resp


def vk_dm(text, cmid=1, user=VK_USER, **kw):
    return vk_payloads.message_new(GROUP, user, text, conversation_message_id=cmid, secret=VK_SECRET, **kw)


def all_tickets() -> list[Ticket]:
    return list(db.session.scalars(db.select(Ticket).order_by(Ticket.id)))


def only_ticket() -> Ticket:
    [ticket] = all_tickets()
    return ticket


def tg_texts(fake_tg, chat=TG_USER) -> list[str]:
    return [m["text"] for m in fake_tg.messages_to(chat)]


def vk_texts(fake_vk, peer=VK_USER) -> list[str]:
    return [m["message"] for m in fake_vk.messages if int(m["peer_id"]) == peer]


def resolve(ticket, text="Яму засыпали", now=None):
    return helpers.resolve(ticket, text, now)


# === 1. Network text into bounded columns ===============================================================
@pytest.mark.parametrize("network", ["telegram", "vk"])
def test_status_followed_by_a_long_complaint_is_an_appeal(client, network, tg_config, fake_tg, vk_account, fake_vk):
    text = f"/status {LONG_COMPLAINT}"
    assert len(text) == 213
    if network == "telegram":
        tg(client, updates.private_message(TG_USER, text, message_id=5))
    else:
        vk(client, vk_dm(text))
    ticket = only_ticket()
    assert ticket.summary == LONG_COMPLAINT and ticket.network == network
    [message] = ticket.messages
    assert message.text == text and message.noise_reason is None
    sent = tg_texts(fake_tg) if network == "telegram" else vk_texts(fake_vk)
    assert len(sent) == 1 and ticket.number in sent[0] and "не найдено" not in sent[0]


@pytest.mark.parametrize("command", ["/help", "/start"])
@pytest.mark.parametrize("network", ["telegram", "vk"])
def test_help_or_start_with_3700_characters_is_an_appeal(client, network, command, tg_config, fake_tg, vk_account,
                                                         fake_vk):
    body = ("Прошу разобраться с отоплением в доме ул. Лесная, 7: батареи холодные, " * 60)[:3700].strip()
    if network == "telegram":
        tg(client, updates.private_message(TG_USER, f"{command} {body}", message_id=9))
    else:
        vk(client, vk_dm(f"{command} {body}"))
    ticket = only_ticket()
    assert ticket.summary == body
    assert ticket.messages[0].text == f"{command} {body}"


def test_status_number_and_more_text_answers_the_status_and_adds_the_text(client, tg_config, fake_tg):
    tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
    ticket = only_ticket()
    tg(client, updates.private_message(TG_USER, f"/status {ticket.number} яма стала ещё больше, уже две машины "
                                                "пробили колесо", message_id=2))
    assert len(all_tickets()) == 1
    assert tg_texts(fake_tg)[-1] == f"Обращение № {ticket.number}: Новое."
    db.session.refresh(ticket)
    assert [m.text.split()[0] for m in sorted(ticket.messages, key=lambda m: m.id)] == ["Яма", "/status"]
    # a number alone is only the status; a malformed number is «не найдено», never an appeal
    tg(client, updates.private_message(TG_USER, f"/status {ticket.number.lower()}", message_id=3))
    tg(client, updates.private_message(TG_USER, "/status БЛГ-1", message_id=4))
    assert tg_texts(fake_tg)[-2] == f"Обращение № {ticket.number}: Новое." and "не найдено" in tg_texts(fake_tg)[-1]
    assert len(all_tickets()) == 1 and len(ticket.messages) == 2


def test_status_of_someone_elses_ticket_with_text_keeps_the_text_as_the_residents_own_appeal(client, tg_config,
                                                                                          fake_tg):
    tg(client, updates.private_message(TG_USER_B, "Нет света в подъезде дома ул. Слияния, 1", message_id=1))
    other = only_ticket()
    tg(client, updates.private_message(TG_USER, f"/status {other.number} и у нас во дворе темно", message_id=2))
    first, mine = all_tickets()
    assert first.id == other.id and len(other.messages) == 1
    assert mine.summary == "и у нас во дворе темно" and mine.resident.external_id == str(TG_USER)


def _row_for(model, column, value: str) -> object:
    """A minimal valid row of `model` with `column` set to `value` (intake's tables)."""
    resident = make_resident("vk")
    ticket = tickets.create_ticket(network="vk", summary="Яма", resident=resident)
    db.session.flush()
    rows = {
        Message: lambda: Message(network="vk", external_id=str(uuid.uuid4()), kind="direct", resident=resident),
        Resident: lambda: Resident(network="vk", external_id=str(uuid.uuid4())),
        Ticket: lambda: tickets.create_ticket(network="vk", summary="Яма"),
        TicketEvent: lambda: TicketEvent(ticket=ticket, kind="note"),
        Reply: lambda: Reply(ticket=ticket, network="vk", text="Ответ"),
        HotSpot: lambda: HotSpot(key=str(uuid.uuid4()), kind="address", label="ул. Ленина",
                                 first_seen_at=utcnow(), last_seen_at=utcnow()),
        IntakeRejection: lambda: IntakeRejection(network="vk", reason="bad"),
        VerdictAnswer: lambda: VerdictAnswer(ticket=ticket, resident=resident),
    }
    assert model in rows, f"{model.__name__}: add a row to this sweep (a table intake writes)"
    row = rows[model]()
    setattr(row, model.__mapper__.get_property_by_column(column).key, value)
    db.session.add(row)
    db.session.flush()
    return row


BOUNDED = [(model, column) for model in INTAKE_MODELS for column in bounded_columns(model.__table__)]


@pytest.mark.parametrize("model,column", BOUNDED, ids=[f"{m.__tablename__}.{c.name}" for m, c in BOUNDED])
def test_every_bounded_column_of_intakes_tables_takes_a_value_of_any_length(model, column):
    """Built from the models' metadata: a new String(n) column is swept here automatically."""
    n = column.type.length
    prefix = "Ж" * (n + 50)
    a = _row_for(model, column, prefix + "а-первый")
    b = _row_for(model, column, prefix + "б-второй")
    db.session.commit()  # on PostgreSQL: a value over varchar(n) would raise here
    attr = model.__mapper__.get_property_by_column(column).key
    db.session.expire_all()
    stored_a, stored_b = getattr(a, attr), getattr(b, attr)
    assert len(stored_a) <= n and stored_a.startswith("Ж")
    if column.info.get("key"):  # keys that identify something are never cut into each other
        assert stored_a != stored_b
    else:
        assert stored_a == stored_b == prefix[:n]


def test_long_thread_keys_sharing_a_prefix_stay_distinct_threads():
    common = "tg:" + "7" * 250
    for i, key in enumerate((common + ":1", common + ":2")):
        intake.accept([IncomingMessage(network="telegram", external_id=f"{'9' * 300}:{i}", kind="direct",
                                       author_id="u" * 500, author_name="Имя " * 100, thread_key=key,
                                       text=f"Яма у дома {i + 1} по ул. Ленина", reply_address={"chat_id": 1},
                                       permalink="https://t.me/c/" + "1" * 900)])
    db.session.commit()
    first, second = all_tickets()  # the same resident in two threads: two tickets, not one
    assert first.messages[0].thread_key != second.messages[0].thread_key
    assert first.resident_id == second.resident_id
    assert first.messages[0].permalink.endswith("1" * 900)  # a link is never cut
    # the same long key maps to the same stored value: a follow-up joins its thread's ticket
    intake.accept([IncomingMessage(network="telegram", external_id="follow-up", kind="direct", author_id="u" * 500,
                                   thread_key=common + ":2", text="Подъезд 3", reply_address={"chat_id": 1})])
    db.session.commit()
    assert len(all_tickets()) == 2 and len(second.messages) == 2


def _long_payloads(n: int = 5000) -> dict:
    """One payload per adapter with every string a network can send as long as `n` (text, names, links, file
    names, ids where the platform's ids are strings)."""
    long = "Ё" * n
    photo = [{"file_id": "F" * n, "file_unique_id": "U" * n, "width": 10, "height": 10}]
    telegram = updates.private_message(TG_USER, f"/status {long}", first_name=long, last_name=long,
                                       username="u" * 32, message_id=1)
    telegram["message"]["document"] = {"file_id": "D" * n, "file_unique_id": "d", "file_name": long,
                                       "mime_type": "application/" + "x" * n}
    telegram["message"]["photo"] = photo
    telegram["message"]["caption"] = telegram["message"].pop("text")
    return {
        "telegram": telegram,
        "vk": vk_payloads.message_new(GROUP, VK_USER, f"/start {long}", attachments=[
            vk_payloads.doc(title=long, url="https://vk.com/doc?" + "x" * n)], ref=None, secret=VK_SECRET),
        "max": {"update_type": "message_created", "timestamp": 1767225600000, "message": {
            "sender": {"user_id": 42, "first_name": long, "last_name": long, "username": long, "is_bot": False},
            "recipient": {"chat_id": 4242, "chat_type": "dialog"}, "timestamp": 1767225600000,
            "url": "https://max.ru/" + "m" * n,
            "body": {"mid": "mid." + "7" * n, "seq": 1, "text": f"/status {long}",
                     "attachments": [{"type": "file", "filename": long, "payload": {"url": "https://f/" + "u" * n,
                                                                                   "token": "t" * n}}]}}},
        "ok": {"webhookType": "MESSAGE_CREATED", "sender": {"user_id": "user:" + "5" * n, "name": long},
               "recipient": {"chat_id": "chat:" + "c" * n},
               "message": {"mid": "mid:" + "m" * n, "text": f"/status {long}", "reply_to": "mid:" + "r" * n,
                           "attachments": [{"type": "FILE", "payload": {"id": "f" * n, "name": long}}]},
               "timestamp": 1767225600000},
        "web": {"submission_id": str(uuid.uuid4()), "text": long, "name": long, "address": long,
                "email": None, "phone": None},
        "api": {"external_id": "e" * 128, "text": "Яма " * 2500, "source": "s" * 60, "address": "а" * 300,
                "author": {"id": "a" * 128, "name": "Имя" * 66, "email": None}},
    }


@pytest.mark.parametrize("network", ["telegram", "vk", "max", "ok", "web", "api"])
def test_every_adapter_stores_over_long_values_and_triages_them(app, network):
    """Every adapter × every bounded column it feeds: parse → store → triage on PostgreSQL, nothing cut that
    a person reads (the text), nothing that identifies something cut into another value."""
    config = {**app.config, "OK_GROUP_ID": "g" * 5000, "VK_GROUP_ID": str(GROUP)}
    payload = _long_payloads()[network]
    parsed = get_adapter(network).parse(payload, config)
    ids = intake.accept(parsed.messages)
    db.session.commit()
    intake.triage_pending()
    db.session.commit()
    [message] = db.session.scalars(db.select(Message).where(Message.id.in_(ids))).all()
    assert message.text == parsed.messages[0].text  # the resident's words are whole
    assert message.triaged_at is not None
    for column in bounded_columns(Message.__table__):
        value = getattr(message, Message.__mapper__.get_property_by_column(column).key)
        assert value is None or len(value) <= column.type.length
    for column in bounded_columns(Resident.__table__):
        value = getattr(message.resident, Resident.__mapper__.get_property_by_column(column).key)
        assert value is None or len(value) <= column.type.length
    assert message.ticket is not None, "an appeal of any length becomes a ticket"
    assert len(message.ticket.summary) >= 1000


def test_hot_spots_from_streets_of_any_length_keep_one_row_each():
    from app.services.board import hotspots
    from tests.factories import make_ticket

    roads = make_category("Дороги")
    now = utcnow()
    for street in ("Д" + "а" * 400 + "1", "Д" + "а" * 400 + "2"):  # two streets sharing a 300-character prefix
        for house in (5, 7, 9):
            make_ticket(f"Яма у дома {house} по ул. {street}", category=roads, created_at=now - timedelta(hours=house))
    assert hotspots.detect(now) == 2
    hotspots.detect(now)
    db.session.commit()
    spots = db.session.scalars(db.select(HotSpot)).all()
    assert len(spots) == 2 and len({s.key for s in spots}) == 2
    assert all(len(s.key) <= 300 and len(s.label) <= 300 and s.ticket_count == 3 for s in spots)


# === 2. Edits of messages that are not yet a ticket ====================================================
@pytest.mark.parametrize("first", ["👍", "Спасибо"])
def test_noise_edited_into_a_complaint_becomes_a_ticket(client, tg_config, fake_tg, first):
    original = updates.private_message(TG_USER, first, message_id=30)
    tg(client, original)
    assert all_tickets() == []
    tg(client, updates.edited(original, "Во дворе ул. Лесная, 7 третий день не вывозят мусор"))
    ticket = only_ticket()
    assert ticket.summary == "Во дворе ул. Лесная, 7 третий день не вывозят мусор"
    assert ticket.number in tg_texts(fake_tg)[-1]
    assert intake.noise_pile() == []  # the noise it was is superseded by the edit


def test_vk_wall_comment_edited_from_a_thumb_into_a_complaint_becomes_a_ticket(client, vk_account):
    vk(client, vk_payloads.wall_reply_new(GROUP, VK_USER, "👍", post_id=77, comment_id=10, secret=VK_SECRET))
    assert all_tickets() == []
    vk(client, vk_payloads.wall_reply_edit(GROUP, VK_USER, "Во дворе ул. Лесная, 7 третий день не вывозят мусор",
                                           post_id=77, comment_id=10, secret=VK_SECRET))
    ticket = only_ticket()
    assert ticket.summary.startswith("Во дворе ул. Лесная, 7") and ticket.messages[0].kind == "comment"


def test_vk_dialog_edits_are_received(client, vk_account, fake_vk):
    vk(client, vk_dm("Спасибо", cmid=3))
    vk(client, vk_payloads.message_edit(GROUP, VK_USER, "Спасибо, но мусор так и не вывезли с ул. Лесной, 7",
                                        conversation_message_id=3, update_time=1767225700, secret=VK_SECRET))
    ticket = only_ticket()
    edit = ticket.messages[0]
    assert edit.external_id == f"msg:{VK_USER}:3:edit:1767225700" and edit.edit_of_id is not None
    assert ticket.number in vk_texts(fake_vk)[-1]
    # the same edit delivered again is stored once; an edit of a ticket's message is shown on it
    vk(client, vk_payloads.message_edit(GROUP, VK_USER, "Спасибо, но мусор так и не вывезли с ул. Лесной, 7",
                                        conversation_message_id=3, update_time=1767225700, secret=VK_SECRET))
    vk(client, vk_payloads.message_edit(GROUP, VK_USER, "Мусор не вывезли с ул. Лесной, 7, контейнеры полные",
                                        conversation_message_id=3, update_time=1767225800, secret=VK_SECRET))
    assert len(all_tickets()) == 1 and len(ticket.messages) == 2


def test_an_edit_inside_a_ticket_shows_once_on_the_timeline(client, tg_config, fake_tg):
    original = updates.photo_message(TG_USER, "Яма у дома 5", message_id=40, file_id="AgPhoto1")
    tg(client, original)
    tg(client, updates.edited(original, "Яма у дома 5 по ул. Ленина, глубокая"))
    ticket = only_ticket()
    entries = timeline.build(ticket)
    edits = [e for e in entries if "Яма у дома 5 по ул. Ленина, глубокая" in (e.body or "")]
    assert len(edits) == 1 and edits[0].kind == "message" and "отредактировал" in edits[0].title
    assert edits[0].files == []  # the photo is the original's: one link, under the original
    assert sum(len(e.files) for e in entries) == 1


def test_noise_pile_shows_an_edited_noise_message_once_in_its_latest_version(client, tg_config, fake_tg):
    original = updates.private_message(TG_USER, "👍", message_id=50)
    tg(client, original)
    tg(client, updates.edited(original, "Спасибо!", edit_date=int(utcnow().timestamp()) + 5))
    [shown] = intake.noise_pile()
    assert shown.text == "Спасибо!" and shown.noise_reason == "thanks" and shown.edit_of_id is not None


# === 3. Bursts: the text comes second ====================================================================
def test_album_with_the_caption_on_the_second_photo(client, tg_config, fake_tg, burst, lamps):
    t0 = int(utcnow().timestamp())
    for i, caption in enumerate((None, "Во дворе ул. Лесная, 7 не горят фонари", None)):
        update = updates.photo_message(TG_USER, caption, message_id=60 + i, file_id=f"AgAlbum{i}", date=t0)
        update["message"]["media_group_id"] = "13579"
        tg(client, update)
    ticket = only_ticket()
    assert ticket.summary == "Во дворе ул. Лесная, 7 не горят фонари"
    assert ticket.category_id == lamps.id and ticket.institution_id == lamps.default_institution_id
    assert len(ticket.messages) == 3
    assert tg_texts(fake_tg) == []  # not acknowledged inside the window
    assert intake.send_due_acks(now=utcnow() + burst + timedelta(seconds=1)) == 1
    db.session.commit()
    [ack] = tg_texts(fake_tg)
    assert ticket.number in ack and "Горсвет" in ack
    assert intake.send_due_acks(now=utcnow() + 2 * burst) == 0  # once, not twice
    db.session.commit()
    assert len(tg_texts(fake_tg)) == 1


def test_photo_then_its_text_as_a_separate_message(client, vk_config, fake_vk, burst, lamps):
    vk(client, vk_dm("", cmid=1, attachments=[vk_payloads.photo()]))
    vk(client, vk_dm("Темно во дворе, не горят фонари на ул. Лесная, 7", cmid=2))
    ticket = only_ticket()
    assert ticket.summary == "Темно во дворе, не горят фонари на ул. Лесная, 7"
    assert ticket.category_id == lamps.id and ticket.institution_id == lamps.default_institution_id
    routed = db.session.scalars(db.select(TicketEvent).where(TicketEvent.kind == "routed")).all()
    assert [e.payload["category"] for e in routed] == ["Уличное освещение"]
    intake.send_due_acks(now=utcnow() + burst + timedelta(seconds=1))
    db.session.commit()
    [ack] = vk_texts(fake_vk)
    assert "Горсвет" in ack


def test_a_ticket_staff_touched_is_not_routed_again(client, tg_config, fake_tg, burst, lamps):
    tg(client, updates.photo_message(TG_USER, None, message_id=70))
    ticket = only_ticket()
    tickets.add_note(ticket, make_user("moderator"), "Смотрю")
    db.session.commit()
    tg(client, updates.private_message(TG_USER, "Не горят фонари на ул. Лесная", message_id=71))
    db.session.refresh(ticket)
    assert ticket.category_id is None and len(ticket.messages) == 2


def test_text_after_the_window_does_not_replace_the_summary(client, tg_config, fake_tg, burst, lamps):
    t0 = int(utcnow().timestamp()) - 600
    tg(client, updates.photo_message(TG_USER, None, message_id=80, date=t0))
    tg(client, updates.private_message(TG_USER, "Не горят фонари на ул. Лесная", message_id=81, date=t0 + 300))
    ticket = only_ticket()
    assert ticket.summary == "[фото]" and ticket.category_id is None


def test_a_burst_routed_to_another_institution_takes_that_institutions_working_hours(burst, lamps):
    """Photo first (the city's office hours), then its text routes the ticket to a round-the-clock service: the
    deadlines are those of a ticket that came with its text at once — on the new institution's calendar."""
    lamps.default_institution.business_hours = "24x7"
    lamps.sla_policy.business_hours = True
    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)  # Friday 17:00 in the city (UTC+7)

    def message(ext, author, text="", photo=False):
        return IncomingMessage(network="telegram", external_id=ext, kind="direct", author_id=author,
                               thread_key=f"tg:dm:{author}", text=text, reply_address={"chat_id": 1}, sent_at=t0,
                               attachments=[Attachment(kind="photo", file_id=ext)] if photo else [])

    intake.accept([message("a1", "r1", photo=True), message("a2", "r1", "Не горят фонари во дворе"),
                   message("b1", "r2", "Не горят фонари во дворе")], now=t0)
    db.session.flush()  # no commit yet: the triage job it asks for would run at once, at the real time
    intake.triage_pending(now=t0)
    db.session.commit()
    burst_ticket, direct = all_tickets()
    assert burst_ticket.institution_id == direct.institution_id == lamps.default_institution_id
    assert burst_ticket.resolution_due_at == direct.resolution_due_at
    assert burst_ticket.first_response_due_at == direct.first_response_due_at


# === 4. Thanks that reopen; stickers, reactions, emoji ===================================================
THANKS = ["Спасибо ❤️", "Спасибо 👍🏻", "Спасибо 🙂", "Спасибо\u200b"]


@pytest.mark.parametrize("text", ["Да, спасибо", "Ок, спасибо!", "Всё хорошо, спасибо 👍", "Да", "Ок", "Да, решена",
                                  "Спасибо, всё сделали!", "Спасибо, решено"])
def test_yes_typed_to_the_question_after_the_resolution_does_not_reopen(client, tg_config, fake_tg, text):
    """«Проблема решена?» answered in words instead of the buttons: «Да, спасибо» is thanks, «Да» is the answer —
    neither is a resident's reopening."""
    tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
    ticket = resolve(only_ticket())
    tg(client, updates.private_message(TG_USER, text, message_id=2))
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and ticket.reopen_count == 0


@pytest.mark.parametrize("text", ["Да нет, не решена", "Ок, но яма осталась", "Да, яма так и осталась"])
def test_yes_with_a_complaint_after_the_resolution_reopens(client, tg_config, fake_tg, text):
    tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
    ticket = resolve(only_ticket())
    tg(client, updates.private_message(TG_USER, text, message_id=2))
    db.session.refresh(ticket)
    assert ticket.status == "in_progress" and ticket.reopen_count == 1


@pytest.mark.parametrize("text", THANKS)
def test_thanks_after_the_resolution_never_reopens_and_alone_opens_nothing(client, tg_config, fake_tg, text):
    assert "\ufe0f" in THANKS[0] and "\U0001F3FB" in THANKS[1]
    tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
    ticket = resolve(only_ticket())
    tg(client, updates.private_message(TG_USER, text, message_id=2))
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and ticket.reopen_count == 0
    tg(client, updates.private_message(TG_USER_B, text, message_id=1))
    assert len(all_tickets()) == 1
    tg(client, updates.photo_message(TG_USER, text, message_id=3, file_id="AgFixed"))  # thanks with a photo
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and len(ticket.messages) == 2


PHRASES = ["Спасибо", "спасибо большое", "Большое спасибо", "Огромное спасибо за помощь", "Спасибо вам",
           "Благодарю", "Спасибо за быстрый ответ", "спс", "Thank you", "thanks", "Баһыыба", "Рахмат"]
DECORATIONS = ["❤️", "❤", "👍🏻", "👍🏿", "🙂", "🙏", "!", "!!!", ".", ")", "\u200b", "\u200d", "\ufeff", "\ufe0f",
               "\u2060", " ", "🔥🔥", "💐"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phrase=st.sampled_from(PHRASES), tail=st.lists(st.sampled_from(DECORATIONS), max_size=4),
       head=st.lists(st.sampled_from(["\u200b", "🙏", " ", "\ufeff"]), max_size=2),
       inside=st.sampled_from(["", "\u200b", "\u00ad", "\u2060"]), upper=st.booleans())
def test_any_decorated_thanks_is_thanks_and_never_reopens(phrase, tail, head, inside, upper):
    text = "".join(head) + (phrase.upper() if upper else phrase)
    text = text[:3] + inside + text[3:] + "".join(tail)
    assert routing.noise_reason(text) == "thanks", repr(text)
    with db.session.begin_nested() as nested:
        ticket = tickets.create_ticket(network="telegram", summary="Яма", resident=make_resident("telegram"))
        db.session.flush()
        first = Message(network="telegram", external_id=str(uuid.uuid4()), kind="direct", text="Яма",
                        resident=ticket.resident, thread_key="t:1", ticket=ticket, triaged_at=utcnow())
        db.session.add(first)
        ticket.status, ticket.resolved_at = "resolved", utcnow()
        m = Message(network="telegram", external_id=str(uuid.uuid4()), kind="direct", text=text,
                    resident=ticket.resident, thread_key="t:1")
        db.session.add(m)
        db.session.flush()
        intake.triage_message(m)
        assert ticket.status == "resolved" and m.ticket_id is None and m.noise_reason == "thanks"
        nested.rollback()


def test_hot_spot_streets_are_read_from_normalised_text():
    from app.services.board.hotspots import street_of

    assert street_of("Яма на ул.\u200b Ленина,\u00a012") == "ул. Ленина"
    assert street_of("Яма на ул. Ле\u200bнина, 5") == "ул. Ленина"


@pytest.mark.parametrize("text", ["Спасибо, но яма так и осталась", "Спасибо за ответ, но воды по-прежнему нет",
                                  "Спасибо что не сделали ничего", "一二三 水管坏了", "Баһыыба, уот суох"])
def test_words_beside_thanks_or_in_any_script_are_an_appeal(text):
    assert routing.noise_reason(text) is None


def _sticker(network: str, external_id: str, thread: str, emoji: str = "👍") -> IncomingMessage:
    return IncomingMessage(network=network, external_id=external_id, kind="direct", author_id="r1",
                           thread_key=thread, text=emoji if network == "telegram" else "",
                           attachments=[Attachment(kind="sticker", file_id="stk-1")],
                           reply_address={"chat_id": 1})


@pytest.mark.parametrize("network", ["telegram", "vk", "max", "ok"])
@pytest.mark.parametrize("kind", ["sticker", "reaction", "emoji"])
def test_stickers_reactions_and_emoji_alone_are_not_appeals_and_never_reopen(network, kind):
    def message(ext):
        if kind == "emoji":
            return IncomingMessage(network=network, external_id=ext, kind="direct", author_id="r1",
                                   thread_key="th:1", text="👍🏻❤️", reply_address={"chat_id": 1})
        m = _sticker(network, ext, "th:1")
        m.attachments[0].kind = kind
        return m

    intake.accept([message("s1")])
    db.session.commit()
    assert all_tickets() == []
    intake.accept([IncomingMessage(network=network, external_id="t1", kind="direct", author_id="r1",
                                   thread_key="th:1", text="Яма у дома 5", reply_address={"chat_id": 1})])
    db.session.commit()
    ticket = resolve(only_ticket())
    intake.accept([message("s2")])
    db.session.commit()
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and ticket.reopen_count == 0
    # a photo is content: it joins and reopens
    intake.accept([IncomingMessage(network=network, external_id="p1", kind="direct", author_id="r1",
                                   thread_key="th:1", attachments=[Attachment(kind="photo", file_id="p")],
                                   reply_address={"chat_id": 1})])
    db.session.commit()
    db.session.refresh(ticket)
    assert ticket.status == "in_progress"


# === 5. Merged tickets keep their residents ===============================================================
@pytest.fixture
def merged(client, tg_config, fake_tg, vk_account, fake_vk):
    """A (Telegram) → X, B (VK) → Y, X merged into Y by a moderator."""
    tg(client, updates.private_message(TG_USER, "Нет света в подъезде дома ул. Слияния, 1", message_id=1))
    vk(client, vk_dm("Нет света в подъезде дома ул. Слияния, 1", cmid=1))
    x, y = all_tickets()
    mod = make_user("moderator")
    tickets.merge(x, y, mod)
    db.session.commit()
    return x, y, mod


def test_merged_residents_are_told_once_and_follow_ups_join_the_main_ticket(client, merged, fake_tg, fake_vk):
    x, y, mod = merged
    told = [t for t in tg_texts(fake_tg) if "объединено" in t]
    assert told == [f"Ваше обращение № {x.number} объединено с обращением № {y.number} о той же проблеме. "
                    f"Ответ по нему придёт и вам. Исполнитель: {y.institution.short_name}."]
    assert not [t for t in vk_texts(fake_vk) if "объединено" in t]  # B's own ticket is the main one
    acks_before = len(tg_texts(fake_tg))
    tg(client, updates.private_message(TG_USER, "Света всё ещё нет, в подъезде темно", message_id=2))
    assert len(all_tickets()) == 2  # no new ticket, no new clock
    assert len(tg_texts(fake_tg)) == acks_before  # and no new acknowledgement
    db.session.refresh(y)
    assert any(m.text == "Света всё ещё нет, в подъезде темно" for m in y.messages)
    tg(client, updates.private_message(TG_USER, f"/status {x.number}", message_id=3))
    assert tg_texts(fake_tg)[-1] == f"Обращение № {x.number} объединено с обращением № {y.number}: Новое."


def test_answers_status_and_the_question_of_the_main_ticket_reach_every_resident(client, merged, fake_tg, fake_vk):
    x, y, mod = merged
    tg(client, updates.private_message(TG_USER, "Света всё ещё нет", message_id=2))  # A's latest message is in Y
    tickets.public_reply(y, mod, "Электрик придёт завтра")
    db.session.commit()
    assert "Электрик придёт завтра" in tg_texts(fake_tg)[-1] and "Электрик придёт завтра" in vk_texts(fake_vk)[-1]
    tickets.assign(y, make_institution(name="УК «Слияние»"), mod)
    db.session.commit()
    assert "УК «Слияние»" in tg_texts(fake_tg)[-1] and "УК «Слияние»" in vk_texts(fake_vk)[-1]
    resolve(y, "Лампы заменили")
    tg_last = fake_tg.messages_to(TG_USER)[-1]
    vk_last = [m for m in fake_vk.messages if int(m["peer_id"]) == VK_USER][-1]
    assert "Проблема решена?" in tg_last["text"] and "Проблема решена?" in vk_last["message"]
    assert tg_last["reply_markup"] and vk_last["keyboard"]


def test_each_resident_answers_for_themselves_and_any_no_reopens(client, merged, fake_tg, fake_vk):
    x, y, mod = merged
    resolve(y, "Лампы заменили")
    tg(client, updates.press(fake_tg.messages_to(TG_USER)[-1], "5"))  # A rates 5
    db.session.refresh(y)
    assert y.status == "resolved" and y.rating is None  # the ticket's own columns are B's
    [a_answer] = db.session.scalars(db.select(VerdictAnswer)).all()
    assert a_answer.resident.external_id == str(TG_USER) and a_answer.rating == 5 and a_answer.verdict == "yes"
    assert "5 из 5" in tg_texts(fake_tg)[-1]
    sent = [m for m in fake_vk.messages if int(m["peer_id"]) == VK_USER][-1]
    vk(client, vk_payloads.press(GROUP, sent, "Нет, не решена", conversation_message_id=50, secret=VK_SECRET))
    db.session.refresh(y)
    assert y.status == "in_progress" and y.reopen_count == 1 and y.verdict == "no"
    answers = {a.resident.network: a.verdict for a in db.session.scalars(db.select(VerdictAnswer))}
    assert answers == {"telegram": "yes", "vk": "no"}


def test_a_button_from_before_the_merge_answers_for_the_main_ticket(client, tg_config, fake_tg, vk_account):
    tg(client, updates.private_message(TG_USER, "Нет света в подъезде дома ул. Слияния, 1", message_id=1))
    vk(client, vk_dm("Нет света в подъезде дома ул. Слияния, 1", cmid=1))
    x, y = all_tickets()
    tickets.merge(x, y, make_user("moderator"))
    resolve(y)
    tg(client, updates.callback_query(TG_USER, verdict.payload(x.id, "yes")))
    assert db.session.scalar(db.select(VerdictAnswer.verdict)) == "yes"


def test_the_board_counts_each_residents_answer():
    """Per-resident answers: a main ticket answered by its own resident (the ticket's columns) and by the resident
    of a ticket merged into it (a VerdictAnswer row) counts two ratings; the merged ticket itself counts none."""
    now = datetime(2026, 11, 20, 3, 0, tzinfo=timezone.utc)
    inst = make_institution()
    y = tickets.create_ticket(network="vk", summary="Нет света", resident=make_resident("vk"), institution=inst,
                              created_at=now - timedelta(days=3))
    x = tickets.create_ticket(network="telegram", summary="Нет света", resident=make_resident("telegram"),
                              institution=inst, created_at=now - timedelta(days=3))
    db.session.flush()
    x.status, x.duplicate_of = "merged", y
    y.status, y.resolved_at = "resolved", now - timedelta(days=2)
    y.rating, y.rated_at, y.verdict, y.verdict_at = 2, now - timedelta(days=1), "no", now - timedelta(days=1)
    db.session.add(VerdictAnswer(ticket=y, resident=y.resident, rating=2, rated_at=y.rated_at))  # the own: once
    db.session.add(VerdictAnswer(ticket=y, resident=x.resident, verdict="yes", rating=5,
                                 rated_at=now - timedelta(hours=5)))
    db.session.flush()
    period = board.standard_period("month", board.today(now))
    data = board.report(make_user("head"), period, now=now)
    assert data["current"]["rated"] == 2 and data["current"]["rating_avg"] == pytest.approx(3.5)
    assert data["current"]["good_share"] == pytest.approx(0.5)
    [row] = [r for r in data["institutions"]["ranked"] + data["institutions"]["unranked"] if r["id"] == inst.id]
    assert row["figures"]["rated"] == 2 and row["figures"]["rating_sum"] == 7
    # the worklist's «низкие оценки»: the lowest answer of any resident of the ticket
    from app.services.board import worklist

    head = make_user("head")
    assert worklist.counts(head, period, now=now)["low_rating"] == 1
    [item] = worklist.worklist(head, period, kind="low_rating", now=now)
    assert "оценка 2 из 5" in item.detail
    y.rating, y.rated_at = 4, now - timedelta(days=1)  # the own resident rated well; the merged one rated 1
    db.session.add(VerdictAnswer(ticket=y, resident=make_resident("max"), rating=1, rated_at=now - timedelta(hours=1)))
    db.session.flush()
    [item] = worklist.worklist(head, period, kind="low_rating", now=now)
    assert "оценка 1 из 5" in item.detail


def test_a_web_resident_of_a_merged_ticket_answers_through_their_own_link(client, tg_config, fake_tg):
    web = get_adapter("web").parse({"submission_id": str(uuid.uuid4()), "text": "Нет света в подъезде, ул. Слияния, 1",
                                    "name": "Анна Веб", "email": "anna@example.org"}, {})
    intake.accept(web.messages)
    db.session.commit()
    tg(client, updates.private_message(TG_USER, "Нет света в подъезде дома ул. Слияния, 1", message_id=1))
    x, y = all_tickets()
    tickets.merge(x, y, make_user("moderator"))
    resolve(y, "Лампы заменили")
    web_reply = db.session.scalar(db.select(Reply).where(Reply.kind == "resolved", Reply.network == "web"))
    token = web_reply.text.rsplit("v=", 1)[1].strip()
    assert verdict.token_resident(y, token) == (True, x.resident)
    page = client.get(f"/status/{y.number}?v={token}").get_data(as_text=True)
    assert 'value="no"' in page
    resp = client.post(f"/status/{y.number}/verdict", data={"answer": "no", "v": token})
    assert resp.status_code == 200 and "снова в работе" in resp.get_data(as_text=True)
    db.session.refresh(y)
    assert y.status == "in_progress" and y.verdict is None  # the Telegram resident has not answered
    [answer] = db.session.scalars(db.select(VerdictAnswer)).all()
    assert answer.resident_id == x.resident_id and answer.verdict == "no"


def test_a_photo_with_only_an_emoji_caption_takes_the_text_that_follows(client, tg_config, fake_tg, burst, lamps):
    tg(client, updates.photo_message(TG_USER, "📷👇", message_id=90))
    tg(client, updates.private_message(TG_USER, "Не горят фонари на ул. Лесная, 7", message_id=91))
    ticket = only_ticket()
    assert ticket.summary == "Не горят фонари на ул. Лесная, 7" and ticket.category_id == lamps.id


def _deliver(app, network: str, payload: dict) -> None:
    """A platform payload through the network's adapter, stored and triaged (what the webhook and the job do)."""
    config = {**app.config, "VK_GROUP_ID": str(GROUP)}
    intake.accept(get_adapter(network).parse(payload, config).messages)
    db.session.commit()
    intake.triage_pending()
    db.session.commit()


COMPLAINT = "Во дворе ул. Лесная, 7 третий день не вывозят мусор"
EDITS = {  # network → (the original, its edit into the complaint), real payload shapes of each platform
    "telegram": lambda: (updates.private_message(TG_USER, "👍", message_id=7),
                         updates.edited(updates.private_message(TG_USER, "👍", message_id=7), COMPLAINT)),
    "vk-dialog": lambda: (vk_dm("Спасибо", cmid=7), vk_payloads.message_edit(GROUP, VK_USER, COMPLAINT,
                                                                             conversation_message_id=7)),
    "vk-wall": lambda: (vk_payloads.wall_reply_new(GROUP, VK_USER, "👍", comment_id=7),
                        vk_payloads.wall_reply_edit(GROUP, VK_USER, COMPLAINT, comment_id=7)),
    "max": lambda: (max_payloads.message_created(4242, 42, "🙂", mid="mid.77"),
                    max_payloads.message_edited(4242, 42, COMPLAINT, mid="mid.77")),
}


@pytest.mark.parametrize("kind", list(EDITS))
def test_on_every_network_an_edit_of_a_message_without_a_ticket_is_triaged_again(app, kind):
    network = kind.split("-")[0]
    original, edit = EDITS[kind]()
    _deliver(app, network, original)
    assert all_tickets() == [] and len(intake.noise_pile()) == 1
    _deliver(app, network, edit)
    ticket = only_ticket()
    assert ticket.summary == COMPLAINT and ticket.network == network
    assert intake.noise_pile() == []


@pytest.mark.parametrize("network", ["telegram", "vk", "max", "ok"])
def test_on_every_network_a_burst_takes_its_summary_and_route_from_its_first_text(network, burst, lamps):
    def message(ext, text="", photo=False, seconds=0):
        return IncomingMessage(network=network, external_id=ext, kind="direct", author_id="r1", thread_key="th:9",
                               text=text, reply_address={"chat_id": 1}, sent_at=t0 + timedelta(seconds=seconds),
                               attachments=[Attachment(kind="photo", file_id=ext)] if photo else [])

    t0 = utcnow()
    intake.accept([message("a", photo=True), message("b", photo=True, text="Не горят фонари во дворе", seconds=1),
                   message("c", photo=True, seconds=2), message("d", text="И на соседней улице тоже", seconds=30)])
    db.session.commit()
    intake.triage_pending(now=t0 + timedelta(seconds=31))
    db.session.commit()
    ticket = only_ticket()
    assert ticket.summary == "Не горят фонари во дворе" and ticket.category_id == lamps.id
    assert ticket.institution_id == lamps.default_institution_id and len(ticket.messages) == 4
    assert db.session.scalar(db.select(db.func.count(Reply.id))) == 0
    assert intake.send_due_acks(now=t0 + burst + timedelta(seconds=1)) == 1
    assert intake.send_due_acks(now=t0 + 2 * burst) == 0
    [ack] = db.session.scalars(db.select(Reply)).all()
    assert ack.kind == "ack" and "Горсвет" in ack.text


STICKERS = {  # a lone sticker as each platform sends it
    "telegram": lambda n: {**updates.private_message(TG_USER, None, message_id=n), "message": {
        **updates.private_message(TG_USER, None, message_id=n)["message"],
        "sticker": {"file_id": "CAACAgIAAxkBAAIB", "file_unique_id": "AgADsw", "type": "regular", "width": 512,
                    "height": 512, "is_animated": False, "is_video": False, "emoji": "👍"}}},
    "vk": lambda n: vk_dm("", cmid=n, attachments=[{"type": "sticker", "sticker": {
        "product_id": 279, "sticker_id": 9014, "images": [{"url": "https://vk.com/sticker/1-9014-128",
                                                           "width": 128, "height": 128}]}}]),
    "max": lambda n: max_payloads.message_created(4242, 42, "", mid=f"mid.s{n}", attachments=[
        {"type": "sticker", "payload": {"url": "https://i.oneme.ru/sticker.webp", "code": "b5e8a1"}}]),
    "ok": lambda n: ok_payloads.message_created("chat:C7a1", 5577, "", mid=f"mid:s{n}", attachments=[
        {"type": "STICKER", "payload": {"code": "4a1b", "url": "https://i.mycdn.me/sticker.png"}}]),
}
TEXTS = {
    "telegram": lambda n: updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=n),
    "vk": lambda n: vk_dm("Яма у дома 5 по ул. Ленина", cmid=n),
    "max": lambda n: max_payloads.message_created(4242, 42, "Яма у дома 5 по ул. Ленина", mid=f"mid.t{n}"),
    "ok": lambda n: ok_payloads.message_created("chat:C7a1", 5577, "Яма у дома 5 по ул. Ленина", mid=f"mid:t{n}"),
}


@pytest.mark.parametrize("network", list(STICKERS))
def test_a_lone_sticker_is_noise_on_every_network_and_never_reopens(app, network):
    _deliver(app, network, STICKERS[network](1))
    assert all_tickets() == []
    _deliver(app, network, TEXTS[network](2))
    ticket = resolve(only_ticket())
    _deliver(app, network, STICKERS[network](3))
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and ticket.reopen_count == 0 and len(ticket.messages) == 1


def test_the_ticket_page_shows_each_residents_answer(client, login, merged, fake_tg):
    x, y, mod = merged
    resolve(y, "Лампы заменили")
    tg(client, updates.press(fake_tg.messages_to(TG_USER)[-1], "Нет, не решена"))
    page = login(mod).get(f"/tickets/{y.number}").get_data(as_text=True)
    assert "Ольга Кузнецова: проблема не решена" in page
