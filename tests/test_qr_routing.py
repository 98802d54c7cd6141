"""The participant's code in a QR code really routes: the web form's `?p=<code>`, Telegram `/start <code>`,
VK `message_new` with `ref`, MAX `bot_started` with its payload — the resident's appeal goes to that participant
(when it receives appeals), through the real webhooks and the real form."""
from __future__ import annotations

import uuid

import pytest

from app.extensions import db
from app.fakes import max as max_payloads
from app.fakes import telegram as updates
from app.fakes import vk as vk_payloads
from app.fakes.max import FakeMax
from app.models import Message, Resident, Ticket, User
from app.services.intake import triage
from tests.factories import make_account, make_category, make_institution, make_user
from tests.helpers import body
from tests.telegram_support import SECRET as TG_SECRET
from tests.vk_support import GROUP as VK_GROUP
from tests.vk_support import SECRET as VK_SECRET

RESIDENT = 48151623
COLD = "В кабинете 12 холодно, батареи еле тёплые"
MAX_TOKEN, MAX_SECRET, MAX_DIALOG = "max-bot-token-qr", "max-webhook-secret-qr", 81_234_567


@pytest.fixture
def school():
    inst = make_institution(name="МАОУ «Школа № 3 г. Белогорск»")
    inst.short_name = "Школа № 3"
    db.session.commit()
    return inst


@pytest.fixture
def heating():
    """A rubric whose words match the appeal and whose default executor is someone else: «as usual» is there."""
    teplo = make_institution(name="МУП «Теплосеть»")
    category = make_category(name="Отопление", institution=teplo)
    category.keywords = "холодн, батаре, отоплен"
    db.session.commit()
    return teplo


def only_ticket() -> Ticket:
    tickets = db.session.scalars(db.select(Ticket)).all()
    assert len(tickets) == 1
    return tickets[0]


def count(model) -> int:
    return db.session.scalar(db.select(db.func.count(model.id)))


# --- the web form -----------------------------------------------------------------------------------
def form(**overrides) -> dict:
    data = {"submission_id": str(uuid.uuid4()), "text": COLD, "consent": "y"}
    data.update(overrides)
    return data


def post(client, data):
    return client.post("/appeal", data=data, content_type="multipart/form-data",
                       environ_base={"REMOTE_ADDR": "203.0.113.9"})


def test_form_through_the_code_remembers_the_participant_and_routes_to_it(client, school, heating):
    page = body(client.get(f"/appeal?p={school.feedback_code.upper()}"))
    assert "Обращение будет направлено: Школа № 3" in page
    assert f'name="participant" type="hidden" value="{school.feedback_code}"' in page
    assert post(client, form(participant=school.feedback_code)).status_code == 303
    ticket = only_ticket()
    assert ticket.institution_id == school.id and ticket.category.name == "Отопление"
    assert db.session.scalar(db.select(Message)).raw["participant"] == school.feedback_code


@pytest.mark.parametrize("code", ["nosuchcode", "", "<script>", "x" * 500, "i999999999", "../../etc"])
def test_form_with_an_unknown_code_works_without_it(client, school, heating, code):
    page = client.get("/appeal", query_string={"p": code})
    assert page.status_code == 200
    assert "Обращение будет направлено" not in body(page)
    assert post(client, form(participant=code)).status_code == 303
    ticket = only_ticket()
    assert ticket.institution_id == heating.id  # routed as usual: by the rubric
    assert "participant" not in db.session.scalar(db.select(Message)).raw


def test_form_code_of_a_participant_that_does_not_receive_appeals_routes_as_usual(client, school, heating):
    school.receives_appeals = False
    db.session.commit()
    assert "Обращение будет направлено" not in body(client.get(f"/appeal?p={school.feedback_code}"))
    post(client, form(participant=school.feedback_code))
    assert only_ticket().institution_id == heating.id


def test_form_code_is_checked_again_when_the_ticket_is_made(client, school, heating):
    """The participant stops receiving appeals between the submission and the triage: routed as usual."""
    post(client, form(participant=school.feedback_code))
    school.receives_appeals = False
    message = db.session.scalar(db.select(Message))
    assert triage._route(message, message.text).institution.id == heating.id


# --- Telegram ---------------------------------------------------------------------------------------
def tg(client, update):
    return client.post("/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})


def test_telegram_start_with_the_participants_code_routes_the_next_appeal(client, bot_account, fake_tg, school,
                                                                          heating):
    tg(client, updates.start(RESIDENT, school.feedback_code, message_id=1))
    assert count(Ticket) == 0
    assert "Школа № 3" in fake_tg.sent[-1]["text"]
    tg(client, updates.private_message(RESIDENT, COLD, message_id=2))
    assert only_ticket().institution_id == school.id


def test_a_participant_code_beginning_with_u_is_not_taken_for_a_staff_link(client, bot_account, fake_tg, school):
    school.feedback_code = "u7k3f9zq"
    staff = make_user("executor", username="teacher")
    staff.telegram_link_code = "0123456789abcdef"
    db.session.commit()
    tg(client, updates.start(RESIDENT, "u7k3f9zq", message_id=1))
    assert "Школа № 3" in fake_tg.sent[-1]["text"]
    assert db.session.scalar(db.select(Resident)).preferred_institution_id == school.id
    assert db.session.get(User, staff.id).telegram_chat_id is None
    tg(client, updates.start(RESIDENT + 1, "u0123456789abcdef", message_id=2))  # a real staff code still links
    assert db.session.get(User, staff.id).telegram_chat_id is not None


def test_telegram_code_of_a_participant_that_does_not_receive_appeals_routes_as_usual(client, bot_account, fake_tg,
                                                                                      school, heating):
    school.receives_appeals = False
    db.session.commit()
    tg(client, updates.start(RESIDENT, school.feedback_code, message_id=1))
    assert "Школа № 3" not in fake_tg.sent[-1]["text"]
    tg(client, updates.private_message(RESIDENT, COLD, message_id=2))
    assert only_ticket().institution_id != school.id


# --- VK -----------------------------------------------------------------------------------------------
def vk(client, payload):
    return client.post("/hooks/vk", json=payload)


@pytest.fixture
def vk_account(vk_config):
    acc = make_account(make_institution(name="Администрация г. Белогорск"), network="vk")
    acc.external_id = str(VK_GROUP)
    db.session.commit()
    return acc


def vk_dm(text, cmid, **kw):
    return vk_payloads.message_new(VK_GROUP, RESIDENT, text, conversation_message_id=cmid, secret=VK_SECRET, **kw)


def test_vk_first_message_with_ref_is_the_appeal_and_goes_to_the_participant(client, vk_account, fake_vk, school,
                                                                             heating):
    assert vk(client, vk_dm(COLD, 1, ref=school.feedback_code)).status_code == 200
    ticket = only_ticket()
    assert ticket.institution_id == school.id and ticket.summary.startswith("В кабинете 12")


def test_vk_start_button_with_ref_is_answered_and_the_next_message_routed(client, vk_account, fake_vk, school,
                                                                          heating):
    vk(client, vk_dm("Начать", 1, ref=school.feedback_code, payload='{"command":"start"}'))
    assert count(Ticket) == 0
    assert "Школа № 3" in fake_vk.messages[-1]["message"]
    vk(client, vk_dm(COLD, 2))
    assert only_ticket().institution_id == school.id


def test_vk_unknown_ref_is_routed_as_usual(client, vk_account, fake_vk, school, heating):
    vk(client, vk_dm(COLD, 1, ref="nosuchcode"))
    assert only_ticket().institution_id == vk_account.institution_id  # as usual: the community's owner


# --- MAX ----------------------------------------------------------------------------------------------
@pytest.fixture
def max_bot(app):
    with FakeMax(token=MAX_TOKEN) as fake:
        keys = ("MAX_BOT_TOKEN", "MAX_WEBHOOK_SECRET", "MAX_API_URL", "HTTP_TIMEOUT")
        saved = {k: app.config.get(k) for k in keys}
        app.config.update(MAX_BOT_TOKEN=MAX_TOKEN, MAX_WEBHOOK_SECRET=MAX_SECRET, MAX_API_URL=fake.base_url,
                          HTTP_TIMEOUT=5)
        yield fake
        app.config.update(saved)


def mx(client, payload):
    return client.post("/hooks/max", json=payload, headers=max_payloads.headers(MAX_SECRET))


def test_max_bot_started_with_the_code_routes_the_next_appeal(client, max_bot, school, heating):
    assert mx(client, max_payloads.bot_started(MAX_DIALOG, RESIDENT, school.feedback_code)).status_code == 200
    assert count(Ticket) == 0 and "Школа № 3" in max_bot.messages[-1]["text"]
    mx(client, max_payloads.message_created(MAX_DIALOG, RESIDENT, COLD))
    assert only_ticket().institution_id == school.id


def test_a_later_code_replaces_the_earlier_one(client, max_bot, school, heating):
    library = make_institution(name="МБУК «Библиотека»")
    db.session.commit()
    mx(client, max_payloads.bot_started(MAX_DIALOG, RESIDENT, school.feedback_code, timestamp=1_700_000_000_000))
    mx(client, max_payloads.bot_started(MAX_DIALOG, RESIDENT, library.feedback_code, timestamp=1_700_000_060_000))
    mx(client, max_payloads.message_created(MAX_DIALOG, RESIDENT, COLD))
    assert only_ticket().institution_id == library.id
