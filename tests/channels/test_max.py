"""MAX through the real webhook (/hooks/max) and a local fake of the MAX Bot API."""
from datetime import timedelta

import pytest

from app.channels.base import OutgoingReply
from app.channels.max import TRUNCATED, MaxAdapter
from app.extensions import db
from app.fakes import max as payloads
from app.fakes.max import FakeMax
from app.models import IntakeRejection, Message, Reply, Resident, Ticket, TicketEvent, utcnow
from app.services import replies
from tests.factories import make_account, make_institution, make_user

TOKEN = "max-bot-token-3f9a"
SECRET = "max-webhook-secret-5b1c"
DIALOG = 81_234_567  # the resident's dialog with the city bot
CHAT = -70_012_345_678  # a participant's group chat in MAX
RESIDENT = 4_512_300


@pytest.fixture
def fake_max():
    with FakeMax(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def max_config(app, fake_max):
    keys = ("MAX_BOT_TOKEN", "MAX_WEBHOOK_SECRET", "MAX_API_URL", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(MAX_BOT_TOKEN=TOKEN, MAX_WEBHOOK_SECRET=SECRET, MAX_API_URL=fake_max.base_url, HTTP_TIMEOUT=5)
    yield app.config
    app.config.update(saved)


@pytest.fixture
def account(max_config):
    inst = make_institution(name="МУП «Водоканал» г. Белогорск")
    acc = make_account(inst, network="max")
    acc.external_id = str(CHAT)
    db.session.flush()
    return acc


def hook(client, payload, secret=SECRET):
    headers = payloads.headers(secret) if secret is not None else {}
    return client.post("/hooks/max", json=payload, headers=headers)


def count(model):
    return db.session.scalar(db.select(db.func.count(model.id)))


def text_of(resp):
    return resp.get_data(as_text=True)


def dm(text, **kw):
    return payloads.message_created(DIALOG, RESIDENT, text, **kw)


def in_chat(text, **kw):
    return payloads.message_created(CHAT, RESIDENT, text, chat_type="chat", **kw)


def test_dialog_message_becomes_a_ticket_and_the_ack_answers_it(client, login, max_config, fake_max):
    update = dm("Третий день нет горячей воды в доме Кирова, 45", name="Ольга Кузнецова")
    resp = hook(client, update)
    assert resp.status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.network == "max" and ticket.account_id is None
    assert ticket.resident.external_id == str(RESIDENT) and ticket.resident.display_name == "Ольга Кузнецова"
    message = ticket.messages[0]
    assert message.kind == "direct" and message.thread_key == f"max:{DIALOG}"
    assert message.external_id == update["message"]["body"]["mid"]

    [sent] = fake_max.messages
    assert sent["chat_id"] == DIALOG and ticket.number in sent["text"]
    assert sent["link"] == {"type": "reply", "mid": update["message"]["body"]["mid"]}
    ack = ticket.replies[0]
    assert ack.state == "sent" and ack.external_id == sent["mid"]
    assert fake_max.calls[0]["params"] == {"chat_id": str(DIALOG)}

    queue = text_of(login(make_user("moderator")).get("/queue"))
    assert ticket.number in queue


def test_group_chat_message_is_a_ticket_of_that_account(client, login, account, fake_max):
    update = in_chat("У школы № 3 прорвало трубу, вода течёт по улице", name="Пётр Иванов")
    assert hook(client, update).status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.account_id == account.id and ticket.institution_id == account.institution_id
    message = ticket.messages[0]
    assert message.kind == "comment" and message.thread_key == f"max:{CHAT}"
    assert message.reply_address == {"chat_id": CHAT, "mid": update["message"]["body"]["mid"]}

    [sent] = fake_max.to_chat(CHAT)
    assert ticket.number in sent["text"] and "Водоканал" in sent["text"]
    assert sent["link"]["mid"] == update["message"]["body"]["mid"]
    page = text_of(login(make_user("moderator")).get("/queue"))
    assert ticket.number in page


def test_second_message_joins_the_ticket_and_another_chat_makes_another(client, account, fake_max):
    hook(client, in_chat("Не горят фонари на Советской, 8"))
    hook(client, in_chat("Подъезды 2 и 3, уже неделю темно"))
    assert count(Ticket) == 1 and len(db.session.scalar(db.select(Ticket)).messages) == 2
    assert len(fake_max.messages) == 1  # one acknowledgement per ticket
    hook(client, dm("Не горят фонари на Советской, 8"))  # the same resident in the dialog: another thread
    hook(client, payloads.message_created(CHAT, RESIDENT + 1, "И у нас на Мира темно", chat_type="chat"))
    assert count(Ticket) == 3


def test_edit_updates_the_timeline_without_a_new_ticket(client, login, account, fake_max):
    original = in_chat("Нет воды на Кирова")
    mid = original["message"]["body"]["mid"]
    hook(client, original)
    edit = payloads.message_edited(CHAT, RESIDENT, "Нет воды на Кирова, 45, подъезд 2", mid=mid, chat_type="chat",
                                   timestamp=1_767_250_800_000)
    for _ in range(3):
        assert hook(client, edit).status_code == 200
    assert count(Ticket) == 1 and count(Message) == 2
    ticket = db.session.scalar(db.select(Ticket))
    [event] = db.session.scalars(db.select(TicketEvent).where(TicketEvent.kind == "message_edited")).all()
    assert event.ticket_id == ticket.id and event.payload["text"] == "Нет воды на Кирова, 45, подъезд 2"
    stored = db.session.scalar(db.select(Message).where(Message.edit_of_id.isnot(None)))
    assert stored.external_id == f"{mid}:edit:1767250800000"
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "Нет воды на Кирова, 45, подъезд 2" in page

    hook(client, payloads.message_edited(CHAT, RESIDENT, "Нет воды на Кирова, 45, подъезд 2, кв. 7", mid=mid,
                                         chat_type="chat", timestamp=1_767_250_900_000))
    assert count(Ticket) == 1 and len(fake_max.messages) == 1
    assert db.session.scalar(db.select(db.func.count(TicketEvent.id)).where(TicketEvent.kind == "message_edited")) == 2


def test_same_update_delivered_a_hundred_times_is_one_message(client, account, fake_max):
    update = in_chat("Не вывозят мусор у дома Ленина, 12")
    statuses = [hook(client, update).status_code for _ in range(100)]
    assert statuses == [200] * 100
    assert count(Message) == 1 and count(Ticket) == 1 and len(fake_max.messages) == 1


def test_wrong_or_missing_secret_is_403_and_nothing_is_stored(client, account, max_config, fake_max):
    update = dm("Нет воды на Кирова, 45")
    assert hook(client, update, secret="guess").status_code == 403
    assert hook(client, update, secret=None).status_code == 403
    assert hook(client, update, secret=SECRET.upper()).status_code == 403
    max_config["MAX_WEBHOOK_SECRET"] = None  # not configured: nothing is trusted
    assert hook(client, update).status_code == 403
    assert count(Message) == 0 and count(Ticket) == 0 and count(IntakeRejection) == 0 and fake_max.calls == []


def test_malformed_update_is_400_and_kept_for_the_admin(client, account):
    no_type = {"timestamp": 1, "message": {}}
    no_message = {"update_type": "message_created", "timestamp": 1}
    no_mid = dm("Яма на дороге")
    del no_mid["message"]["body"]["mid"]
    bad_chat = dm("Яма на дороге")
    bad_chat["message"]["recipient"]["chat_id"] = "общий"
    for payload in (no_type, no_message, no_mid, bad_chat):
        assert hook(client, payload).status_code == 400, payload
    not_json = client.post("/hooks/max", data="{oops", headers=payloads.headers(SECRET))
    assert not_json.status_code == 400
    rejections = db.session.scalars(db.select(IntakeRejection).order_by(IntakeRejection.id)).all()
    assert [r.network for r in rejections] == ["max"] * 5
    assert "no update_type" in rejections[0].reason and "no message object" in rejections[1].reason
    assert "body.mid" in rejections[2].reason and '"message_created"' in rejections[1].body
    assert count(Message) == 0


def test_other_updates_bot_messages_and_channel_posts_store_nothing(client, account, fake_max):
    channel_post = payloads.message_created(CHAT, RESIDENT, "График отключения воды на неделю", chat_type="channel")
    on_behalf = payloads.message_created(CHAT, RESIDENT, "Итоги приёма граждан", chat_type="channel")
    del on_behalf["message"]["sender"]
    for payload in (payloads.message_removed(CHAT, RESIDENT, "mid.0000000000000001"),
                    payloads.bot_added(CHAT, RESIDENT),
                    {"update_type": "chat_title_changed", "timestamp": 1, "chat_id": CHAT, "title": "Двор"},
                    in_chat("Ваше обращение № БЛГ-1 зарегистрировано.", is_bot=True), channel_post, on_behalf):
        assert hook(client, payload).status_code == 200
    assert count(Message) == 0 and fake_max.messages == []


def test_rate_limit_keeps_the_reply_pending_and_it_is_sent_later_once(client, account, fake_max):
    fake_max.fail(429, chat_id=CHAT, retry_after=5)
    hook(client, in_chat("Нет отопления в квартире, ул. Мира, 3"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.attempts == 1 and "429" in reply.last_error
    assert reply.next_attempt_at > utcnow() + timedelta(seconds=3) and fake_max.messages == []
    assert replies.deliver(reply.id) == "pending"  # not before its time

    later = utcnow() + timedelta(seconds=6)
    assert replies.deliver(reply.id, now=later) == "sent"
    assert replies.deliver(reply.id, now=later) == "sent"  # a second job sends nothing
    assert len(fake_max.messages) == 1 and reply.external_id == fake_max.messages[0]["mid"]


def test_rate_limit_without_retry_after_waits_a_second(client, account, fake_max):
    fake_max.fail(429, chat_id=CHAT)
    hook(client, in_chat("Нет отопления в квартире, ул. Мира, 3"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.next_attempt_at <= utcnow() + timedelta(seconds=2)


def test_bot_removed_from_the_chat_fails_with_the_reason_on_the_ticket_page(client, login, account, fake_max):
    fake_max.fail(403, chat_id=CHAT, times=None)
    hook(client, in_chat("Нет воды на Кирова, 45"))
    ticket = db.session.scalar(db.select(Ticket))
    reply = ticket.replies[0]
    assert reply.state == "failed" and reply.attempts == 1
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "не доставлен" in page and "бот удалён из чата" in page and "chat.denied" in page


def test_chat_gone_is_permanent_and_server_errors_are_retried(client, account, fake_max):
    fake_max.fail(404, chat_id=CHAT)
    hook(client, in_chat("Нет воды на Кирова, 45"))
    assert db.session.scalar(db.select(Reply)).state == "failed"
    fake_max.fail(503, chat_id=DIALOG)
    hook(client, dm("Яма у подъезда, Ленина 5"))
    reply = db.session.scalar(db.select(Reply).order_by(Reply.id.desc()))
    assert reply.state == "pending" and "503" in reply.last_error


def test_max_unreachable_keeps_the_reply_pending(client, account, fake_max):
    fake_max.stop()  # nothing listens on that port any more
    hook(client, in_chat("Нет воды на Кирова, 45"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.next_attempt_at is not None and "недоступен" in reply.last_error


def test_button_press_is_a_callback_command_not_a_ticket(client, account, fake_max):
    press = payloads.message_callback(DIALOG, RESIDENT, "resolved:yes", callback_id="cb.0001")
    for _ in range(3):
        assert hook(client, press).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert count(Message) == 1 and count(Ticket) == 0
    assert message.command == "callback" and message.command_arg == "resolved:yes"
    assert message.external_id == "callback:cb.0001" and message.kind == "direct"
    assert message.reply_address["chat_id"] == DIALOG and message.reply_address["callback_id"] == "cb.0001"


def test_deep_link_start_routes_the_residents_appeal(client, account, fake_max):
    school = make_institution(name="МАОУ «Школа № 3 г. Белогорск»")
    db.session.commit()
    assert hook(client, payloads.bot_started(DIALOG, RESIDENT, f"i{school.id}")).status_code == 200
    assert "Школа № 3" in fake_max.messages[-1]["text"] and fake_max.messages[-1]["chat_id"] == DIALOG
    assert db.session.scalar(db.select(Resident)).preferred_institution_id == school.id
    hook(client, dm("В кабинете 12 очень холодно, батареи ледяные"))
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.institution_id == school.id


def test_start_without_a_code_is_answered_and_makes_no_ticket(client, account, fake_max):
    assert hook(client, payloads.bot_started(DIALOG, RESIDENT)).status_code == 200
    assert count(Ticket) == 0 and len(fake_max.messages) == 1 and "/status" in fake_max.messages[0]["text"]
    typed = dm("/start i999999")
    hook(client, typed)
    assert db.session.scalar(db.select(Message).where(Message.external_id == typed["message"]["body"]["mid"])) \
        .command_arg == "i999999"


def test_status_command_in_the_dialog_is_answered(client, account, fake_max):
    hook(client, dm("Нет воды на Кирова, 45"))
    ticket = db.session.scalar(db.select(Ticket))
    hook(client, dm(f"/status {ticket.number}"))
    assert fake_max.messages[-1]["text"] == f"Обращение № {ticket.number}: Новое."
    assert count(Ticket) == 1


def test_attachments_resident_and_time_come_from_the_update(client, account):
    shot = payloads.image(url="https://i.oneme.ru/i?r=big", token="img-tok-1")
    act = payloads.file(url="https://fd.oneme.ru/getfile?id=9", filename="акт осмотра.pdf", size=48213)
    hook(client, in_chat("", attachments=[shot, act], timestamp=1_767_250_800_000))
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.summary == "[фото] [документ: акт осмотра.pdf]"
    message = ticket.messages[0]
    assert message.attachments == [
        {"kind": "photo", "file_id": "img-tok-1", "url": "https://i.oneme.ru/i?r=big"},
        {"kind": "document", "file_id": "file-48213", "name": "акт осмотра.pdf", "size": 48213,
         "url": "https://fd.oneme.ru/getfile?id=9"},
    ]
    assert message.received_at.isoformat() == "2026-01-01T07:00:00+00:00"
    assert message.raw["update_type"] == "message_created"


def test_send_truncates_long_text_addresses_users_and_carries_buttons(max_config, fake_max):
    adapter = MaxAdapter()
    long = OutgoingReply(network="max", text="Ответ исполнителя. " * 400, address={"chat_id": DIALOG, "mid": "mid.1"},
                         idempotency_key="reply-1")
    adapter.send(long, max_config)
    sent = fake_max.messages[0]
    assert len(sent["text"]) < 4000 and sent["text"].endswith(TRUNCATED)
    assert sent["text"].startswith("Ответ исполнителя.")

    short = OutgoingReply(network="max", text="Проблема решена?", address={"user_id": RESIDENT},
                          idempotency_key="reply-2", buttons=[[("Да", "resolved:yes")], [("Нет", "resolved:no")]])
    result = adapter.send(short, max_config)
    sent = fake_max.messages[1]
    assert sent["user_id"] == RESIDENT and result.external_id == sent["mid"] and sent["link"] is None
    assert sent["attachments"] == [{"type": "inline_keyboard", "payload": {"buttons": [
        [{"type": "callback", "text": "Да", "payload": "resolved:yes"}],
        [{"type": "callback", "text": "Нет", "payload": "resolved:no"}]]}}]
    assert fake_max.calls[-1]["params"] == {"user_id": str(RESIDENT)}
    assert adapter.is_enabled(max_config) and not adapter.is_enabled({"MAX_BOT_TOKEN": None})


def test_wrong_token_is_a_permanent_failure(client, account, max_config, fake_max):
    max_config["MAX_BOT_TOKEN"] = "revoked-token"
    hook(client, in_chat("Нет воды на Кирова, 45"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "failed" and "ключ бота MAX недействителен" in reply.last_error


def test_a_long_answer_reaches_the_max_resident_whole_in_parts(client, max_config, fake_max):
    """The outbox tracks parts one by one (issue 10), so MAX's 4000-character limit no longer cuts staff's answer:
    it goes as parts, the first quoting the resident's message, none sent twice."""
    hook(client, dm("Третий день нет горячей воды в доме Кирова, 45"))
    ticket = db.session.scalar(db.select(Ticket))
    answer = " ".join(f"Пункт {i}: проверено." for i in range(1, 800))  # ~16 000 characters
    reply = replies.notify(ticket, "staff", text=answer, author=make_user("moderator"))
    db.session.commit()
    sent = [m for m in fake_max.messages if "Пункт" in m["text"]]
    assert len(sent) == 5 and all(len(m["text"]) < 4000 for m in sent)
    assert " ".join(m["text"] for m in sent).count("проверено.") == 799 and "Пункт 799: проверено." in sent[-1]["text"]
    assert sent[0]["link"] is not None and all(m["link"] is None for m in sent[1:])
    db.session.refresh(reply)
    assert reply.state == "sent" and len(reply.parts) == 5
