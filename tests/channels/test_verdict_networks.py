"""«Проблема решена?» in VK, MAX and OK: the buttons arrive with the «resolved» message in each fake, and the
resident's press through the real webhook is taken; VK wall comments get the text without a keyboard."""
import pytest

from app.extensions import db
from app.fakes import max as max_payloads
from app.fakes import ok as ok_payloads
from app.fakes import vk as vk_payloads
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.fakes.vk import FakeVk
from app.models import Ticket
from app.services import tickets, workflow
from tests.factories import make_account, make_institution, make_user

RESIDENT = 4_512_300


def only_ticket() -> Ticket:
    [ticket] = db.session.scalars(db.select(Ticket)).all()
    return ticket


def resolve(ticket):
    mod = make_user("moderator")
    workflow.change_status(ticket, "in_progress", mod)
    tickets.change_status(ticket, "resolved", mod, comment="Сделано")
    db.session.commit()
    db.session.refresh(ticket)
    return ticket


def account(network, external_id):
    acc = make_account(make_institution(name="МУП «Водоканал» г. Белогорск"), network=network)
    acc.external_id = str(external_id)
    db.session.flush()


# --- VK ------------------------------------------------------------------------------------------
VK_GROUP, VK_SECRET = 218_000_111, "vk-secret"


@pytest.fixture
def vk(app):
    with FakeVk(token="vk-token") as fake:
        saved = {k: app.config.get(k) for k in ("VK_GROUP_ID", "VK_ACCESS_TOKEN", "VK_SECRET", "VK_API_URL")}
        app.config.update(VK_GROUP_ID=str(VK_GROUP), VK_ACCESS_TOKEN="vk-token", VK_SECRET=VK_SECRET,
                          VK_API_URL=fake.base_url)
        account("vk", VK_GROUP)
        yield fake
        app.config.update(saved)


def test_vk_dialog_gets_an_inline_keyboard_and_a_press_rates(client, vk):
    client.post("/hooks/vk", json=vk_payloads.message_new(VK_GROUP, RESIDENT, "Нет воды на Кирова, 45",
                                                          conversation_message_id=1, secret=VK_SECRET))
    ticket = resolve(only_ticket())
    sent = vk.messages[-1]
    assert "Проблема решена?" in sent["message"] and sent["keyboard"]["inline"] is True
    labels = [[b["action"]["label"] for b in row] for row in sent["keyboard"]["buttons"]]
    assert labels == [["Да, решена", "Нет, не решена"], ["1", "2", "3", "4", "5"]]
    assert client.post("/hooks/vk", json=vk_payloads.press(VK_GROUP, sent, "1", conversation_message_id=2,
                                                           secret=VK_SECRET)).get_data(as_text=True) == "ok"
    db.session.refresh(ticket)
    assert ticket.rating == 1 and ticket.status == "in_progress" and ticket.reopen_count == 1
    assert "снова в работе" in vk.messages[-1]["message"]
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 1  # the press is not a new appeal


def test_vk_wall_comment_gets_the_text_without_buttons(client, vk):
    client.post("/hooks/vk", json=vk_payloads.wall_reply_new(VK_GROUP, RESIDENT, "Яма у дома Ленина, 3",
                                                             post_id=77, comment_id=10, secret=VK_SECRET))
    resolve(only_ticket())
    comment = vk.comments[-1]
    assert "решено" in comment["message"] and "keyboard" not in comment and "Проблема решена?" not in comment["message"]


# --- MAX -----------------------------------------------------------------------------------------
MAX_SECRET, DIALOG = "max-secret-1", 81_234_567


@pytest.fixture
def mx(app):
    with FakeMax(token="max-token") as fake:
        saved = {k: app.config.get(k) for k in ("MAX_BOT_TOKEN", "MAX_WEBHOOK_SECRET", "MAX_API_URL")}
        app.config.update(MAX_BOT_TOKEN="max-token", MAX_WEBHOOK_SECRET=MAX_SECRET, MAX_API_URL=fake.base_url)
        yield fake
        app.config.update(saved)


def test_max_buttons_rows_and_press(client, mx):
    headers = max_payloads.headers(MAX_SECRET)
    client.post("/hooks/max", json=max_payloads.message_created(DIALOG, RESIDENT, "Не вывозят мусор"), headers=headers)
    ticket = resolve(only_ticket())
    sent = mx.messages[-1]
    [keyboard] = sent["attachments"]
    assert [[b["text"] for b in row] for row in keyboard["payload"]["buttons"]] == [
        ["Да, решена", "Нет, не решена"], ["1", "2", "3", "4", "5"]]
    client.post("/hooks/max", json=max_payloads.press(sent, "Да, решена", RESIDENT), headers=headers)
    client.post("/hooks/max", json=max_payloads.press(sent, "Нет, не решена", RESIDENT + 1), headers=headers)
    db.session.refresh(ticket)
    assert ticket.verdict == "yes" and ticket.status == "resolved"
    assert "только автор обращения" in mx.messages[-1]["text"]


# --- OK ------------------------------------------------------------------------------------------
OK_SECRET, OK_GROUP = "ok-secret-1", "70000001234567"
OK_CHAT = ok_payloads.chat_id(0x3ECB9D02A6)


@pytest.fixture
def ok(app):
    with FakeOk(token="ok-token") as fake:
        keys = ("OK_ACCESS_TOKEN", "OK_WEBHOOK_SECRET", "OK_API_URL", "OK_GROUP_ID")
        saved = {k: app.config.get(k) for k in keys}
        app.config.update(OK_ACCESS_TOKEN="ok-token", OK_WEBHOOK_SECRET=OK_SECRET, OK_API_URL=fake.base_url,
                          OK_GROUP_ID=None)
        account("ok", OK_GROUP)
        yield fake
        app.config.update(saved)


def test_ok_buttons_rows_and_press(client, ok):
    path = ok_payloads.hook_path(OK_SECRET, OK_GROUP)
    client.post(path, json=ok_payloads.message_created(OK_CHAT, RESIDENT, "Не горит фонарь на Мира, 2"))
    ticket = resolve(only_ticket())
    sent = ok.messages[-1]
    [keyboard] = sent["attachments"]
    assert [[b["text"] for b in row] for row in keyboard["payload"]["keyboard"]["buttons"]] == [
        ["Да, решена", "Нет, не решена"], ["1", "2", "3", "4", "5"]]
    client.post(path, json=ok_payloads.press(sent, "5", RESIDENT))
    db.session.refresh(ticket)
    assert ticket.rating == 5 and ticket.verdict == "yes" and "5 из 5" in ok.messages[-1]["text"]
