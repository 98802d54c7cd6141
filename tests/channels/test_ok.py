"""Одноклассники through the real webhook (/hooks/ok?secret=…&group=…), REST comment polling, and a local
fake of api.ok.ru."""
from datetime import timedelta

import pytest

from app.channels.base import ChannelError, OutgoingReply
from app.channels.ok import OkAdapter, poll_comments, rest_signature
from app.extensions import db
from app.fakes import ok as payloads
from app.fakes.ok import FakeOk
from app.models import IntakeRejection, Message, Reply, Ticket, utcnow
from app.services import intake, replies
from tests.factories import make_account, make_institution, make_user

TOKEN = "tkn1-group-token-7d2e"
APP_KEY, APP_SECRET = "CBAFJIICABABABABA", "5F3A0C9E1B2D4F6A8C0E2B4D6F8A0C2E"
SECRET = "ok-webhook-secret-91c4"
GROUP = "70000001234567"  # the participant's group in OK
CHAT = payloads.chat_id(0x3ECB9D02A6)  # a resident's chat with the group
RESIDENT = 574_123_456_789


@pytest.fixture
def fake_ok():
    with FakeOk(token=TOKEN, application_key=APP_KEY, application_secret_key=APP_SECRET) as fake:
        yield fake


@pytest.fixture
def ok_config(app, fake_ok):
    keys = ("OK_ACCESS_TOKEN", "OK_APPLICATION_KEY", "OK_APPLICATION_SECRET_KEY", "OK_WEBHOOK_SECRET", "OK_API_URL",
            "OK_GROUP_ID", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(OK_ACCESS_TOKEN=TOKEN, OK_APPLICATION_KEY=APP_KEY, OK_APPLICATION_SECRET_KEY=APP_SECRET,
                      OK_WEBHOOK_SECRET=SECRET, OK_API_URL=fake_ok.base_url, OK_GROUP_ID=None, HTTP_TIMEOUT=5)
    yield app.config
    app.config.update(saved)


@pytest.fixture
def account(ok_config):
    inst = make_institution(name="МКУ «Управление благоустройства» г. Белогорск")
    acc = make_account(inst, network="ok")
    acc.external_id = GROUP
    db.session.flush()
    return acc


def hook(client, payload, secret=SECRET, group=GROUP):
    return client.post(payloads.hook_path(secret, group) if secret is not None else "/hooks/ok", json=payload)


def count(model):
    return db.session.scalar(db.select(db.func.count(model.id)))


def text_of(resp):
    return resp.get_data(as_text=True)


def msg(text, chat=CHAT, user=RESIDENT, **kw):
    return payloads.message_created(chat, user, text, **kw)


def test_group_message_becomes_a_ticket_and_the_ack_answers_it(client, login, account, fake_ok):
    update = msg("Во дворе Ленина, 12 неделю не вывозят мусор", name="Анна Смирнова")
    resp = hook(client, update)
    assert resp.status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.network == "ok" and ticket.account_id == account.id
    assert ticket.institution_id == account.institution_id
    assert ticket.resident.external_id == str(RESIDENT) and ticket.resident.display_name == "Анна Смирнова"
    message = ticket.messages[0]
    assert message.kind == "direct" and message.external_id == update["message"]["mid"]
    assert message.thread_key == f"ok:{CHAT}"

    [sent] = fake_ok.messages
    assert sent["chat_id"] == CHAT and ticket.number in sent["text"]
    assert sent["reply_to"] == update["message"]["mid"]
    assert sent["body"]["recipient"] == {"chat_id": CHAT}
    assert fake_ok.calls[0]["path"] == f"/graph/me/messages/{CHAT}"
    assert fake_ok.calls[0]["params"] == {"access_token": TOKEN}
    ack = ticket.replies[0]
    assert ack.state == "sent" and ack.external_id == sent["message_id"]

    queue = text_of(login(make_user("moderator")).get("/queue"))
    assert ticket.number in queue


def test_documentation_shape_without_webhook_type_is_a_message(client, account, fake_ok):
    hook(client, msg("Не горит фонарь у дома Советская, 8", webhook_type=False))
    assert count(Ticket) == 1 and len(fake_ok.messages) == 1


def test_group_comes_from_config_when_the_address_has_none(client, account, ok_config):
    ok_config["OK_GROUP_ID"] = GROUP
    hook(client, msg("Яма на дороге у школы № 3"), group=None)
    assert db.session.scalar(db.select(Ticket)).account_id == account.id


def test_second_message_joins_the_ticket_and_another_resident_makes_another(client, account, fake_ok):
    hook(client, msg("Нет освещения во дворе дома Кирова, 45"))
    hook(client, msg("Подъезды 2 и 3, уже неделю темно"))
    assert count(Ticket) == 1 and len(db.session.scalar(db.select(Ticket)).messages) == 2
    assert len(fake_ok.messages) == 1
    hook(client, msg("А у нас на Мира яма", chat=payloads.chat_id(77), user=RESIDENT + 1))
    assert count(Ticket) == 2


def test_same_update_delivered_a_hundred_times_is_one_message(client, account, fake_ok):
    update = msg("Не вывозят мусор у дома Ленина, 12")
    statuses = [hook(client, update).status_code for _ in range(100)]
    assert statuses == [200] * 100
    assert count(Message) == 1 and count(Ticket) == 1 and len(fake_ok.messages) == 1


def test_wrong_or_missing_secret_is_403_and_nothing_is_stored(client, account, ok_config, fake_ok):
    update = msg("Нет воды на Кирова, 45")
    assert hook(client, update, secret="guess").status_code == 403
    assert hook(client, update, secret=None).status_code == 403
    assert hook(client, update, secret="").status_code == 403
    ok_config["OK_WEBHOOK_SECRET"] = None
    assert hook(client, update).status_code == 403
    assert count(Message) == 0 and count(Ticket) == 0 and count(IntakeRejection) == 0 and fake_ok.calls == []


def test_a_proxy_can_pass_the_secret_in_a_header(client, account, fake_ok):
    resp = client.post(f"/hooks/ok?group={GROUP}", json=msg("Нет воды на Кирова, 45"),
                       headers={"X-Ok-Webhook-Secret": SECRET})
    assert resp.status_code == 200 and count(Ticket) == 1
    adapter = OkAdapter()
    assert adapter.verify({"x-ok-webhook-secret": SECRET}, {}, {"OK_WEBHOOK_SECRET": SECRET})
    assert not adapter.verify({"X-Ok-Webhook-Secret": "nope"}, {}, {"OK_WEBHOOK_SECRET": SECRET})


def test_malformed_payload_is_400_and_kept_for_the_admin(client, account):
    no_type = {"timestamp": 1, "data": {}}
    no_mid = msg("Яма на дороге")
    del no_mid["message"]["mid"]
    no_sender = msg("Яма на дороге")
    del no_sender["sender"]
    bad_callback = payloads.message_callback(CHAT, RESIDENT, "resolved:yes")
    del bad_callback["callbackId"]
    for payload in (no_type, no_mid, no_sender, bad_callback):
        assert hook(client, payload).status_code == 400, payload
    rejections = db.session.scalars(db.select(IntakeRejection).order_by(IntakeRejection.id)).all()
    assert [r.network for r in rejections] == ["ok"] * 4
    assert "no webhookType" in rejections[0].reason and "no mid" in rejections[1].reason
    assert "no sender object" in rejections[2].reason and "no callbackId" in rejections[3].reason
    assert SECRET not in "".join(r.body + str(r.headers) for r in rejections)  # the secret is not kept
    assert count(Message) == 0


def test_system_events_are_answered_and_store_nothing(client, account, fake_ok):
    assert hook(client, payloads.chat_system(CHAT, RESIDENT)).status_code == 200
    assert hook(client, {"webhookType": "CHAT_TITLE_CHANGED", "recipient": {"chat_id": CHAT}}).status_code == 200
    assert count(Message) == 0 and fake_ok.calls == []


def test_rate_limit_keeps_the_reply_pending_and_it_is_sent_later_once(client, account, fake_ok):
    fake_ok.fail(CHAT, status=429, retry_after=5)
    hook(client, msg("Нет отопления в квартире, ул. Мира, 3"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.attempts == 1 and "429" in reply.last_error
    assert reply.next_attempt_at > utcnow() + timedelta(seconds=3) and fake_ok.messages == []
    assert replies.deliver(reply.id) == "pending"

    later = utcnow() + timedelta(seconds=6)
    assert replies.deliver(reply.id, now=later) == "sent"
    assert replies.deliver(reply.id, now=later) == "sent"
    assert len(fake_ok.messages) == 1 and reply.external_id == fake_ok.messages[0]["message_id"]


def test_flood_control_error_code_is_retried(client, account, fake_ok):
    fake_ok.fail(CHAT, error_code=8)
    hook(client, msg("Нет отопления в квартире, ул. Мира, 3"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and "FLOOD_BLOCKED" in reply.last_error
    assert replies.deliver(reply.id, now=utcnow() + timedelta(seconds=2)) == "sent"


def test_forbidden_chat_fails_with_the_reason_on_the_ticket_page(client, login, account, fake_ok):
    fake_ok.fail(CHAT, status=403, error_code=10, times=None)
    hook(client, msg("Нет воды на Кирова, 45"))
    ticket = db.session.scalar(db.select(Ticket))
    reply = ticket.replies[0]
    assert reply.state == "failed" and reply.attempts == 1
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "не доставлен" in page and "житель запретил сообщения от группы" in page


def test_forbidden_without_an_error_body_is_permanent_and_5xx_is_retried(client, account, fake_ok):
    fake_ok.fail(CHAT, status=403)
    hook(client, msg("Нет воды на Кирова, 45"))
    assert db.session.scalar(db.select(Reply)).state == "failed"
    other = payloads.chat_id(99)
    fake_ok.fail(other, status=502)
    hook(client, msg("Яма у подъезда, Ленина 5", chat=other, user=RESIDENT + 5))
    reply = db.session.scalar(db.select(Reply).order_by(Reply.id.desc()))
    assert reply.state == "pending" and "502" in reply.last_error


def test_button_press_is_a_callback_command_not_a_ticket(client, account):
    press = payloads.message_callback(CHAT, RESIDENT, "resolved:no", callback_id="cb-77")
    for _ in range(3):
        assert hook(client, press).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert count(Message) == 1 and count(Ticket) == 0
    assert message.command == "callback" and message.command_arg == "resolved:no"
    assert message.reply_address["chat_id"] == CHAT and message.reply_address["callback_id"] == "cb-77"


def test_status_command_and_attachments(client, account, fake_ok):
    shot = payloads.image(url="https://i.mycdn.me/i?r=big", image_id="img77")
    hook(client, msg("", attachments=[shot, payloads.file(name="акт.pdf", file_id="f1")], timestamp=1_767_250_800_000))
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.summary == "[фото] [документ: акт.pdf]"
    assert ticket.messages[0].attachments == [
        {"kind": "photo", "file_id": "img77", "url": "https://i.mycdn.me/i?r=big"},
        {"kind": "document", "file_id": "f1", "name": "акт.pdf", "url": "https://dl.mycdn.me/f/acts/77.pdf"},
    ]
    assert ticket.messages[0].received_at.isoformat() == "2026-01-01T07:00:00+00:00"
    hook(client, msg(f"/status {ticket.number}"))
    assert fake_ok.messages[-1]["text"] == f"Обращение № {ticket.number}: Новое."


def test_comments_under_group_posts_are_polled_into_tickets(client, login, account, ok_config, fake_ok):
    fake_ok.add_comment(155000000001, RESIDENT, "Когда починят дорогу на Партизанской? Ямы по колено",
                        comment_id="C1", author_name="Иван Петров")
    fake_ok.add_comment(155000000001, GROUP, "Передали в управление благоустройства", comment_id="C2")
    fake_ok.add_comment(155000000001, RESIDENT, "Особенно у дома 14", comment_id="C3", reply_to_comment_id="C2")
    fake_ok.add_comment(155000000002, RESIDENT + 1, "Спасибо за новую площадку!", comment_id="C4")

    messages = poll_comments(ok_config, [155000000001, "155000000002"], group_id=GROUP)
    assert [m.external_id for m in messages] == ["comment:155000000001:C1", "comment:155000000001:C3",
                                                 "comment:155000000002:C4"]
    intake.accept(messages)
    db.session.commit()
    ticket = db.session.scalar(db.select(Ticket))
    assert count(Ticket) == 1  # the thanks went to the «не обращение» pile
    assert ticket.account_id == account.id and len(ticket.messages) == 2
    first = ticket.messages[0]
    assert first.kind == "comment" and first.permalink == f"https://ok.ru/group/{GROUP}/topic/155000000001"

    reply = ticket.replies[0]  # OK has no API to answer a comment as the group: answered by hand
    assert reply.state == "failed" and "вручную" in reply.last_error and fake_ok.messages == []
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "Ответьте жителю вручную" in page and first.permalink in page

    again = poll_comments(ok_config, [155000000001, 155000000002], group_id=GROUP)
    assert intake.accept(again) == []  # polling again stores nothing new
    rest = [c for c in fake_ok.calls if c["path"] == "/fb.do"]
    assert rest and all(c["params"]["sig"] == rest_signature(c["params"], TOKEN, APP_SECRET) for c in rest)


def test_polling_pages_through_long_threads(ok_config, fake_ok):
    for i in range(250):
        fake_ok.add_comment(42, RESIDENT + i % 7, f"Комментарий {i}", comment_id=f"K{i:04d}")
    messages = poll_comments(ok_config, [42], group_id=GROUP, count=100)
    assert len(messages) == 250 and len({m.external_id for m in messages}) == 250
    assert len([c for c in fake_ok.calls if c["path"] == "/fb.do"]) == 3


def test_polling_with_a_wrong_application_secret_is_a_permanent_error(ok_config, fake_ok):
    ok_config["OK_APPLICATION_SECRET_KEY"] = "not-the-secret"
    fake_ok.add_comment(42, RESIDENT, "Яма")
    with pytest.raises(ChannelError) as err:
        poll_comments(ok_config, [42], group_id=GROUP)
    assert err.value.permanent and "подпись" in str(err.value)


def test_send_carries_buttons_and_the_network_is_off_without_a_token(ok_config, fake_ok):
    adapter = OkAdapter()
    out = OutgoingReply(network="ok", text="Проблема решена?", address={"chat_id": CHAT},
                        idempotency_key="reply-9", buttons=[[("Да", "resolved:yes")]])
    result = adapter.send(out, ok_config)
    sent = fake_ok.messages[0]
    assert result.external_id == sent["message_id"] and sent["reply_to"] is None
    assert sent["attachments"] == [{"type": "INLINE_KEYBOARD", "payload": {"keyboard": {"buttons": [
        [{"type": "CALLBACK", "text": "Да", "intent": "DEFAULT", "payload": "resolved:yes"}]]}}}]
    assert adapter.is_enabled(ok_config) and not adapter.is_enabled({"OK_ACCESS_TOKEN": None})


def test_expired_token_is_a_permanent_failure(client, account, ok_config):
    ok_config["OK_ACCESS_TOKEN"] = "tkn1-expired"
    hook(client, msg("Нет воды на Кирова, 45"))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "failed" and "истёк" in reply.last_error
