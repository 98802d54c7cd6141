"""A staff member's Telegram: linked from /notifications with a one-time `/start u<code>` through the real
webhook, SLA notifications pushed to that chat once (a job run twice sends once), unlinking stops them."""
from datetime import timedelta
from pathlib import Path

from babel.messages.pofile import read_po

from app.extensions import db
from app.fakes import telegram as updates
from app.jobs import staff
from app.models import Message, Notification, Reply, Ticket, User, utcnow
from app.services import staff_telegram
from app.services.sla import escalation
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user
from tests.helpers import committed, hook
from tests.telegram_support import BOT_ID

STAFF_CHAT = 55501234  # the executor's own Telegram
PO = Path(__file__).resolve().parent.parent / "app" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def _warning_ticket(inst):
    """A ticket 500 of its 600 resolution minutes in: the next sweep records a resolution warning."""
    cat = make_category(institution=inst, policy=make_policy(first=60, resolution=600, business_hours=False))
    t = make_ticket(institution=inst, category=cat, created_at=utcnow() - timedelta(minutes=500), status="assigned")
    t.first_responded_at = t.created_at + timedelta(minutes=5)
    db.session.flush()
    return t


def test_start_with_the_profile_code_links_the_staff_chat_without_a_ticket(client, login, bot_account, fake_tg):
    executor = make_user("executor")
    page = login(executor)
    assert "Подключить Telegram" in page.get("/notifications").get_data(as_text=True)
    assert page.post("/notifications/telegram").status_code == 302
    code = db.session.get(User, executor.id).telegram_link_code
    html = page.get("/notifications").get_data(as_text=True)
    assert f"https://t.me/{BOT_ID}?start=u{code}" in html and f"/start u{code}" in html

    hook(client, updates.start(STAFF_CHAT, f"u{code}", message_id=1))
    db.session.expire_all()
    user = db.session.get(User, executor.id)
    assert user.telegram_chat_id == str(STAFF_CHAT) and user.telegram_link_code is None
    assert fake_tg.messages_to(STAFF_CHAT)[-1]["text"].startswith(f"Уведомления подключены: {user.display_name}")
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0
    assert db.session.scalar(db.select(Message.noise_reason)) == "command"
    assert "Отключить" in page.get("/notifications").get_data(as_text=True)

    # the code is one-time: sent again (from another chat) it links nobody
    hook(client, updates.start(STAFF_CHAT + 1, f"u{code}", message_id=2))
    assert "недействителен" in fake_tg.messages_to(STAFF_CHAT + 1)[-1]["text"]
    db.session.expire_all()
    assert db.session.get(User, executor.id).telegram_chat_id == str(STAFF_CHAT)


def test_a_wrong_code_is_answered_clearly_and_links_nobody(client, bot_account, fake_tg):
    executor = make_user("executor")
    staff_telegram.new_link_code(executor)
    db.session.commit()
    hook(client, updates.start(STAFF_CHAT, "u0000deadbeef", message_id=1))
    assert fake_tg.messages_to(STAFF_CHAT)[-1]["text"] == (
        "Код подключения недействителен или уже использован. "
        "Получите новый на странице «Уведомления» в «Открытом муниципалитете».")
    db.session.expire_all()
    assert db.session.get(User, executor.id).telegram_chat_id is None
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0


def test_a_warning_reaches_the_linked_executors_chat_once_and_unlinking_stops_it(login, tg_config, fake_tg):
    inst = make_institution()
    linked, plain = make_user("executor", institution=inst), make_user("executor", institution=inst)
    linked.telegram_chat_id = str(STAFF_CHAT)
    t = _warning_ticket(inst)

    assert committed(escalation.sweep()).warnings == 1
    sent = fake_tg.messages_to(STAFF_CHAT)
    assert len(sent) == 1 and t.number in sent[0]["text"] and "Скоро срок решения" in sent[0]["text"]
    note = db.session.scalar(db.select(Notification).where(Notification.user_id == linked.id))
    assert note.text == sent[0]["text"] and note.sent_at is not None and note.read_at is None  # still unread in the app
    assert staff.send_notification(note.id) == "sent"  # the job run again: nothing new
    assert len(fake_tg.messages_to(STAFF_CHAT)) == 1 and len(fake_tg.sent) == 1
    plain_note = db.session.scalar(db.select(Notification).where(Notification.user_id == plain.id))
    assert plain_note.sent_at is None  # in the app only

    page = login(linked)
    assert page.post("/notifications/telegram/off").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, linked.id).telegram_chat_id is None
    _warning_ticket(inst)
    assert committed(escalation.sweep()).warnings == 1
    assert len(fake_tg.messages_to(STAFF_CHAT)) == 1
    assert len(list(db.session.scalars(db.select(Notification).where(Notification.user_id == linked.id)))) == 2


def test_without_a_bot_token_the_in_app_notification_is_the_record(app):
    assert not app.config.get("TELEGRAM_BOT_TOKEN")
    inst = make_institution()
    linked = make_user("executor", institution=inst)
    linked.telegram_chat_id = str(STAFF_CHAT)
    _warning_ticket(inst)
    assert committed(escalation.sweep()).warnings == 1
    note = db.session.scalar(db.select(Notification).where(Notification.user_id == linked.id))
    assert note.sent_at is None and staff.send_notification(note.id) == "disabled"
    assert db.session.scalar(db.select(db.func.count(Reply.id))) == 0


def test_new_interface_strings_are_translated():
    with PO.open("rb") as f:
        catalog = read_po(f)
    for msgid in ("Подключить Telegram", "Отключить", "Уведомления приходят и в ваш Telegram.",
                  "Откройте ссылку и нажмите «Старт»:", "или отправьте боту сообщение:",
                  "Код одноразовый. Обновите страницу после подключения."):
        entry = catalog[msgid]
        assert entry is not None and entry.string and not entry.fuzzy, msgid
