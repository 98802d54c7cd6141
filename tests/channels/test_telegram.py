"""Telegram through the real webhook (POST /hooks/telegram) and a local fake of the Bot API that
python-telegram-bot talks to: what residents and moderators notice — tickets in the queue, acknowledgements
in the right chat and comment thread, retries that never send twice, long polling without a public address."""
import json
from datetime import timedelta

import pytest

from app.channels.base import OutgoingReply
from app.channels.telegram import TelegramAdapter
from app.channels.telegram_cli import telegram_cli
from app.extensions import db
from app.fakes import telegram as updates
from app.models import IntakeRejection, Message, Reply, Resident, Ticket, TicketEvent, utcnow
from app.services import replies
from tests.factories import make_account, make_institution, make_user
from tests.telegram_support import BOT_ID, SECRET, TOKEN

CHANNEL = -1001987654321  # the participant's channel
GROUP = -1001876543210  # its linked discussion group, where comments live
RESIDENT = 48151623






@pytest.fixture
def channel_account(tg_config):
    """The water utility's Telegram channel."""
    acc = make_account(make_institution(name="МУП «Водоканал» г. Белогорск"), network="telegram")
    acc.external_id = str(CHANNEL)
    db.session.flush()
    return acc




def hook(client, update, secret=SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/hooks/telegram", json=update, headers=headers)


def text_of(resp):
    return resp.get_data(as_text=True)


def count(model):
    return db.session.scalar(db.select(db.func.count(model.id)))


def dm(text, message_id=1, **kw):
    return updates.private_message(RESIDENT, text, message_id=message_id, **kw)


def comment(text, message_id=71, user_id=RESIDENT, **kw):
    return updates.comment(GROUP, CHANNEL, user_id, text, message_id=message_id, post_id=15, forward_id=70, **kw)


def only_ticket():
    [ticket] = db.session.scalars(db.select(Ticket)).all()
    return ticket


def test_private_message_becomes_a_ticket_and_the_ack_arrives_in_the_chat(client, login, bot_account, fake_tg):
    resp = hook(client, dm("Третий день нет холодной воды на ул. Кирова, 45, подъезд 2", message_id=17))
    assert resp.status_code == 200
    ticket = only_ticket()
    assert ticket.network == "telegram" and ticket.account_id == bot_account.id
    assert ticket.institution_id == bot_account.institution_id
    assert ticket.resident.display_name == "Ольга Кузнецова" and ticket.resident.external_id == str(RESIDENT)
    message = ticket.messages[0]
    assert message.external_id == f"{RESIDENT}:17" and message.kind == "direct"
    assert message.reply_address == {"chat_id": RESIDENT, "message_id": 17}

    [sent] = fake_tg.sent
    assert sent["chat_id"] == RESIDENT and ticket.number in sent["text"]
    assert sent["reply_parameters"] == {"message_id": 17, "allow_sending_without_reply": True}
    assert sent["parse_mode"] is None and sent["message_thread_id"] is None  # plain text: nothing to escape
    ack = ticket.replies[0]
    assert ack.kind == "ack" and ack.state == "sent" and ack.external_id == str(sent["message_id"])

    moderator = login(make_user("moderator"))
    queue = text_of(moderator.get("/queue"))
    assert ticket.number in queue and "Администрация г. Белогорск" in queue
    assert "Ольга Кузнецова" in text_of(moderator.get(f"/tickets/{ticket.number}"))


def test_comment_under_a_channel_post_is_linked_to_the_post_and_answered_in_its_thread(client, login,
                                                                                      channel_account, fake_tg):
    resp = hook(client, comment("На Партизанской, 8 из люка бьёт вода, заливает двор", message_id=71))
    assert resp.status_code == 200
    ticket = only_ticket()
    assert ticket.account_id == channel_account.id and ticket.institution_id == channel_account.institution_id
    message = ticket.messages[0]
    assert message.kind == "comment" and message.external_id == f"{GROUP}:71"
    assert message.thread_key == f"tg:{GROUP}:70"
    assert message.permalink == "https://t.me/c/1987654321/15?comment=71"

    [sent] = fake_tg.sent
    assert sent["chat_id"] == GROUP and sent["message_thread_id"] == 70
    assert sent["reply_parameters"]["message_id"] == 71 and ticket.number in sent["text"]

    moderator = login(make_user("moderator"))
    assert ticket.number in text_of(moderator.get("/queue"))
    page = text_of(moderator.get(f"/tickets/{ticket.number}"))
    assert "https://t.me/c/1987654321/15?comment=71" in page and "МУП «Водоканал» г. Белогорск" in page


def test_a_public_channel_gets_its_username_link(client, channel_account):
    hook(client, comment("Не горит фонарь у остановки «Рынок»", channel_username="vodokanal_blg"))
    assert only_ticket().messages[0].permalink == "https://t.me/vodokanal_blg/15?comment=71"


def test_second_comment_by_the_same_resident_in_the_thread_joins_the_ticket(client, channel_account, fake_tg):
    first = comment("Нет освещения во дворе дома Кирова, 45", message_id=71)
    hook(client, first)
    # A reply to her own comment: it carries only the thread, not the channel (Telegram never nests replies).
    hook(client, comment("Подъезды 2 и 3, уже неделю темно", message_id=74, reply_to=first))
    ticket = only_ticket()
    assert len(ticket.messages) == 2 and len(fake_tg.sent) == 1  # one acknowledgement per ticket
    second = db.session.scalar(db.select(Message).where(Message.external_id == f"{GROUP}:74"))
    assert second.reply_to_external_id == f"{GROUP}:71" and second.thread_key == f"tg:{GROUP}:70"
    assert second.permalink == "https://t.me/c/1876543210/74?thread=70"

    hook(client, comment("А у нас во дворе яма", message_id=75, user_id=RESIDENT + 1))  # another resident
    hook(client, updates.comment(GROUP, CHANNEL, RESIDENT, "Под другим постом: мусор", message_id=90,
                                 post_id=16, forward_id=88))  # the same resident under another post
    assert count(Ticket) == 3


def test_edit_updates_the_timeline_instead_of_a_new_ticket(client, login, bot_account, fake_tg):
    original = dm("Нет воды на Кирова", message_id=5)
    hook(client, original)
    edit = updates.edited(original, "Нет воды на Кирова, 45, подъезд 2")
    for _ in range(3):
        assert hook(client, edit).status_code == 200
    ticket = only_ticket()
    assert count(Message) == 2 and len(fake_tg.sent) == 1
    stored = db.session.scalar(db.select(Message).where(Message.external_id.like("%:edit:%")))
    assert stored.external_id == f"{RESIDENT}:5:edit:{edit['edited_message']['edit_date']}"
    [event] = db.session.scalars(db.select(TicketEvent).where(TicketEvent.kind == "message_edited")).all()
    assert event.ticket_id == ticket.id and event.payload["text"] == "Нет воды на Кирова, 45, подъезд 2"
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "Нет воды на Кирова, 45, подъезд 2" in page


def test_edited_comment_joins_its_ticket_too(client, channel_account):
    first = comment("Яма у дома 5", message_id=71)
    hook(client, first)
    hook(client, updates.edited(first, "Яма у дома 5 по ул. Мира, глубокая"))
    assert count(Ticket) == 1
    assert db.session.scalar(db.select(TicketEvent.payload).where(TicketEvent.kind == "message_edited"))["text"] \
        == "Яма у дома 5 по ул. Мира, глубокая"


def test_photo_without_text_is_an_appeal_with_the_largest_size(client, bot_account, fake_tg):
    hook(client, updates.photo_message(RESIDENT, file_id="AgACAgIAAxkBAAIBQmZbig", message_id=9))
    ticket = only_ticket()
    assert ticket.summary == "[фото]" and ticket.messages[0].text == ""
    assert ticket.messages[0].attachments == [
        {"kind": "photo", "file_id": "AgACAgIAAxkBAAIBQmZbig", "mime": "image/jpeg", "size": 187_413}]
    assert ticket.number in fake_tg.sent[0]["text"]


def test_caption_is_the_text_and_documents_and_voice_are_kept(client, bot_account):
    hook(client, updates.private_message(RESIDENT, "Акт осмотра крыши, течёт в квартиру", message_id=3,
                                         document=updates.document(file_id="BQAC-act", file_name="акт.pdf")))
    hook(client, updates.private_message(RESIDENT + 1, None, message_id=4, voice=updates.voice(file_id="AwAC-v")))
    doc_ticket, voice_ticket = db.session.scalars(db.select(Ticket).order_by(Ticket.id)).all()
    assert doc_ticket.summary == "Акт осмотра крыши, течёт в квартиру"
    assert doc_ticket.messages[0].attachments == [{"kind": "document", "file_id": "BQAC-act", "name": "акт.pdf",
                                                   "mime": "application/pdf", "size": 48_213}]
    assert voice_ticket.messages[0].attachments[0]["file_id"] == "AwAC-v"
    assert voice_ticket.messages[0].attachments[0]["kind"] == "voice"


def test_start_with_a_code_pre_routes_the_residents_next_appeal(client, bot_account, fake_tg):
    school = make_institution(name="МАОУ «Школа № 3 г. Белогорск»")
    db.session.commit()
    hook(client, updates.start(RESIDENT, f"i{school.id}", message_id=1))
    assert count(Ticket) == 0
    assert "Школа № 3" in fake_tg.sent[-1]["text"] and fake_tg.sent[-1]["chat_id"] == RESIDENT
    assert db.session.scalar(db.select(Resident)).preferred_institution_id == school.id

    hook(client, dm("В кабинете 12 холодно, батареи еле тёплые", message_id=2))
    assert only_ticket().institution_id == school.id


def test_status_command_is_answered_with_the_status(client, bot_account, fake_tg):
    hook(client, dm("Нет воды на Кирова, 45", message_id=1))
    ticket = only_ticket()
    hook(client, updates.status(RESIDENT, ticket.number, message_id=2))
    assert fake_tg.sent[-1]["text"] == f"Обращение № {ticket.number}: Новое."
    assert fake_tg.sent[-1]["reply_parameters"]["message_id"] == 2
    hook(client, updates.status(RESIDENT, "БЛГ-1", message_id=3))
    assert "не найдено" in fake_tg.sent[-1]["text"]
    assert count(Ticket) == 1


def test_wrong_or_missing_secret_is_403_and_nothing_is_stored(client, tg_config, bot_account, fake_tg):
    update = dm("Нет воды на Кирова, 45")
    for secret in ("guess", "", None, SECRET + "x"):
        assert hook(client, update, secret=secret).status_code == 403
    tg_config["TELEGRAM_WEBHOOK_SECRET"] = None  # no secret configured: nobody is let in
    assert hook(client, update, secret=SECRET).status_code == 403
    assert hook(client, update, secret="").status_code == 403
    assert count(Message) == 0 and count(Ticket) == 0 and fake_tg.calls == []


def test_malformed_update_is_400_and_kept_for_the_admin(client, bot_account):
    no_update_id = {"message": dm("Яма")["message"]}
    no_chat = dm("Яма")
    del no_chat["message"]["chat"]
    for payload in (no_update_id, no_chat, {"update_id": "12", "message": {}}):
        resp = hook(client, payload)
        assert resp.status_code == 400, payload
    rejections = db.session.scalars(db.select(IntakeRejection).order_by(IntakeRejection.id)).all()
    assert [r.network for r in rejections] == ["telegram"] * 3
    assert "not an Update" in rejections[0].reason and "malformed message" in rejections[1].reason
    assert json.loads(rejections[0].body)["message"]["text"] == "Яма"
    assert count(Message) == 0


def test_a_message_with_a_date_that_is_no_date_is_stored_with_its_received_time(client, bot_account):
    bad_date = dm("Яма во дворе дома 3")
    bad_date["message"]["date"] = "вчера"
    before = utcnow()
    assert hook(client, bad_date).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.text == "Яма во дворе дома 3" and message.received_at >= before - timedelta(seconds=1)


def test_updates_that_are_not_appeals_are_answered_200_and_store_nothing(client, channel_account, fake_tg):
    other = [
        updates.channel_post(CHANNEL, "Плановое отключение воды 12 марта"),
        updates.automatic_forward(GROUP, CHANNEL, post_id=15, forward_id=70),
        updates.my_chat_member(RESIDENT, "kicked"),
    ]
    chatter = comment("Всем привет", message_id=80)  # the group's general chat, not under a post
    del chatter["message"]["reply_to_message"], chatter["message"]["message_thread_id"]
    as_channel = comment("Спасибо, передали в аварийную службу", message_id=81)  # the participant answering
    as_channel["message"]["sender_chat"] = updates.channel_chat(CHANNEL)
    as_channel["message"]["from"] = {"id": 136817688, "is_bot": True, "first_name": "Channel",
                                     "username": "Channel_Bot"}
    joined = comment(None, message_id=82)
    joined["message"]["new_chat_members"] = [updates.user(RESIDENT)]
    for update in other + [chatter, as_channel, joined]:
        resp = hook(client, update)
        assert resp.status_code == 200 and text_of(resp) == "ok", update
    assert count(Message) == 0 and fake_tg.sent == []


def test_same_update_delivered_a_hundred_times_is_one_message(client, bot_account, fake_tg):
    update = dm("Не горит фонарь у дома Советская, 8", message_id=7)
    statuses = [hook(client, update).status_code for _ in range(100)]
    assert statuses == [200] * 100
    assert count(Message) == 1 and count(Ticket) == 1 and len(fake_tg.sent) == 1


def test_very_long_text_is_kept_whole(client, bot_account):
    long_text = "Жалоба на управляющую компанию. " + "Подробности: в подъезде течёт крыша. " * 400
    hook(client, dm(long_text, message_id=3))
    assert db.session.scalar(db.select(Message.text)) == long_text


def test_rate_limit_keeps_the_reply_pending_and_it_is_sent_later_once(client, bot_account, fake_tg):
    fake_tg.rate_limit(RESIDENT, retry_after=7)
    before = utcnow()
    hook(client, dm("Нет отопления в квартире, ул. Мира, 3", message_id=3))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.attempts == 1 and "подождать 7 с" in reply.last_error
    assert before + timedelta(seconds=6) < reply.next_attempt_at < utcnow() + timedelta(seconds=8)
    assert fake_tg.sent == []

    assert replies.deliver(reply.id) == "pending"  # not before its time: Telegram is not asked
    assert len([c for c in fake_tg.calls if c["method"] == "sendMessage"]) == 1
    later = utcnow() + timedelta(seconds=8)
    assert replies.deliver(reply.id, now=later) == "sent"
    assert replies.deliver(reply.id, now=later) == "sent"  # a second job: nothing sent
    [sent] = fake_tg.sent
    assert reply.external_id == str(sent["message_id"]) and reply.attempts == 2


def test_blocked_bot_fails_the_reply_with_the_reason_on_the_ticket(client, login, bot_account, fake_tg):
    fake_tg.block(RESIDENT)
    hook(client, dm("Нет воды на Кирова, 45", message_id=5))
    ticket = only_ticket()
    reply = ticket.replies[0]
    assert reply.state == "failed" and reply.attempts == 1
    assert "житель заблокировал бота" in reply.last_error and "bot was blocked by the user" in reply.last_error
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "не доставлен" in page and "bot was blocked by the user" in page


def test_telegram_unreachable_keeps_the_reply_pending(client, bot_account, fake_tg):
    fake_tg.stop()  # nothing listens on that port any more
    hook(client, dm("Нет воды на Кирова, 45", message_id=1))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.next_attempt_at is not None and "недоступен" in reply.last_error


def test_long_reply_is_split_and_only_the_first_part_quotes_the_message(tg_config, fake_tg):
    text = ("Ответ управления ЖКХ. " * 30 + "\n\n") * 12
    result = TelegramAdapter().send(OutgoingReply(network="telegram", text=text, address={
        "chat_id": GROUP, "message_id": 71, "message_thread_id": 70}, idempotency_key="reply-1"), tg_config)
    parts = fake_tg.messages_to(GROUP)
    assert len(parts) == 2 and all(len(p["text"]) <= 4096 for p in parts)
    assert "".join(p["text"] for p in parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", "")
    assert parts[0]["reply_parameters"]["message_id"] == 71 and parts[1]["reply_parameters"] is None
    assert {p["message_thread_id"] for p in parts} == {70} and result.external_id == str(parts[0]["message_id"])


def test_poll_once_takes_waiting_updates_and_does_not_take_them_twice(app, tg_config, bot_account, fake_tg,
                                                                      tmp_path):
    state = tmp_path / "offset.json"
    first = dm("Во дворе дома Ленина, 12 не вывозят мусор", message_id=11)
    fake_tg.push(first, updates.edited(first, "Во дворе дома Ленина, 12 третью неделю не вывозят мусор"))
    runner = app.test_cli_runner()
    result = runner.invoke(telegram_cli, ["poll", "--once", "--state-file", str(state)])
    assert result.exit_code == 0, result.output
    assert "Получено обновлений: 2, новых сообщений: 2" in result.output
    ticket = only_ticket()
    assert ticket.account_id == bot_account.id and ticket.number in fake_tg.sent[0]["text"]
    assert db.session.scalar(db.select(TicketEvent).where(TicketEvent.kind == "message_edited")) is not None
    saved = json.loads(state.read_text())
    assert saved["bot_id"] == BOT_ID and saved["offset"] > 0

    again = runner.invoke(telegram_cli, ["poll", "--once", "--state-file", str(state)])
    assert "Получено обновлений: 0, новых сообщений: 0" in again.output
    assert fake_tg.pending_updates == [] and count(Message) == 2 and count(Ticket) == 1


def test_poll_refuses_while_a_webhook_is_set_and_set_webhook_uses_the_secret(app, tg_config, fake_tg, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(telegram_cli, ["set-webhook", "https://city.example.org"])
    assert result.exit_code == 0 and "https://city.example.org/hooks/telegram" in result.output
    assert fake_tg.webhook["url"] == "https://city.example.org/hooks/telegram"
    assert fake_tg.webhook["secret_token"] == SECRET
    assert fake_tg.webhook["allowed_updates"] == ["message", "edited_message", "callback_query", "channel_post",
                                               "edited_channel_post"]

    refused = runner.invoke(telegram_cli, ["poll", "--once", "--state-file", str(tmp_path / "o.json")])
    assert refused.exit_code != 0 and "delete-webhook" in refused.output
    assert runner.invoke(telegram_cli, ["delete-webhook"]).exit_code == 0 and fake_tg.webhook == {}

    tg_config["TELEGRAM_WEBHOOK_SECRET"] = None
    no_secret = runner.invoke(telegram_cli, ["set-webhook", "https://city.example.org/hooks/telegram"])
    assert no_secret.exit_code != 0 and "TELEGRAM_WEBHOOK_SECRET" in no_secret.output


def test_send_closes_its_connection_and_the_network_is_off_without_a_token(tg_config, fake_tg):
    adapter = TelegramAdapter()
    out = OutgoingReply(network="telegram", text="Ответ", address={"chat_id": RESIDENT, "message_id": 1},
                        idempotency_key="reply-9")
    first, second = adapter.send(out, tg_config), adapter.send(out, tg_config)  # a fresh Bot, a fresh loop each
    assert first.external_id != second.external_id and len(fake_tg.sent) == 2
    assert adapter.is_enabled(tg_config) and not adapter.is_enabled({"TELEGRAM_BOT_TOKEN": None})


def test_reply_in_a_group_without_topics_falls_back_to_the_reply_alone(client, channel_account, fake_tg):
    fake_tg.fail(400, "Bad Request: message thread not found", chat_id=GROUP)
    hook(client, comment("Не работает светофор на перекрёстке Ленина и Мира", message_id=71))
    ticket = only_ticket()
    [sent] = fake_tg.sent
    assert sent["chat_id"] == GROUP and sent["message_thread_id"] is None
    assert sent["reply_parameters"]["message_id"] == 71  # the reply keeps it under the resident's comment
    assert ticket.replies[0].state == "sent"


def test_staff_open_a_residents_photo_fetched_from_telegram_on_demand(client, fake_tg, bot_account, login):
    from urllib.parse import quote

    fake_tg.add_file("AgACPhoto1", b"\xff\xd8\xffJPEGDATA", "photos/file_1.jpg")
    assert hook(client, updates.photo_message(555, "Вот яма", file_id="AgACPhoto1")).status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    staff = login(make_user("moderator"))
    link = f"/tickets/{quote(ticket.number)}/files/{ticket.messages[0].id}/0"
    page = staff.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert link in page and TOKEN not in page  # the bot token never reaches the browser
    resp = staff.get(link)
    assert resp.status_code == 200 and resp.data == b"\xff\xd8\xffJPEGDATA"
    fake_tg.stop()
    gone = staff.get(link)
    assert gone.status_code == 502 and "Файл недоступен" in gone.get_data(as_text=True)


def test_a_live_location_moving_is_not_an_edit_of_the_residents_words(client, bot_account):
    """A live location (Bot API `live_period`) sends an `edited_message` with new coordinates every few seconds for
    as long as it is shared: the place is taken once (the first point), the moves are not timeline events."""
    point = {"latitude": 50.921234, "longitude": 128.473456, "live_period": 900}
    shared = updates.private_message(RESIDENT, None, message_id=40, extra={"location": point})
    assert hook(client, shared).status_code == 200
    for i in range(1, 30):
        moved = json.loads(json.dumps(shared))
        moved["update_id"] = updates.next_update_id()
        moved["edited_message"] = moved.pop("message")
        moved["edited_message"]["location"] = {**point, "latitude": 50.921234 + i / 10000, "heading": 90}
        moved["edited_message"]["edit_date"] = moved["edited_message"]["date"] + i * 5
        assert hook(client, moved).status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    assert (ticket.latitude, ticket.longitude) == (50.921234, 128.473456)
    assert count(Message) == 1
    assert not db.session.scalars(db.select(TicketEvent).where(TicketEvent.kind == "message_edited")).all()
