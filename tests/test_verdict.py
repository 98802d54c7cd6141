"""«Проблема решена?»: the resident's verdict and rating after a resolution, through the real Telegram webhook
and the fake Bot API (python-telegram-bot sends the buttons), the public status page for web residents,
and the no-answer job."""
import json
import re
import uuid
from datetime import timedelta

import pytest

from app.channels import get_adapter
from app.extensions import db
from app.fakes import telegram as updates
from app.jobs import housekeeping
from app.jobs.schedule import PERIODIC
from app.models import Message, Reply, Ticket, TicketEvent, utcnow
from app.services import intake, tickets, timeline, verdict, workflow
from tests import helpers
from tests.factories import make_account, make_institution, make_user
from tests.helpers import hook

RESIDENT = 48151623
STRANGER = 77001234
GROUP = -1001876543210
CHANNEL = -1001987654321


def only_ticket() -> Ticket:
    [ticket] = db.session.scalars(db.select(Ticket)).all()
    return ticket


def resolve(ticket, text="Трубу заменили, вода есть", now=None):
    return helpers.resolve(ticket, text, now)


@pytest.fixture
def channel_account(tg_config):
    acc = make_account(make_institution(name="МУП «Водоканал» г. Белогорск"), network="telegram")
    acc.external_id = str(CHANNEL)
    db.session.flush()
    return acc


@pytest.fixture
def resolved(client, bot_account, fake_tg):
    """A resident's Telegram ticket, resolved: the «resolved» message with the buttons is in the chat."""
    hook(client, updates.private_message(RESIDENT, "Третий день нет воды на ул. Кирова, 45", message_id=17))
    return resolve(only_ticket())


def last_sent(fake_tg):
    return fake_tg.sent[-1]


def events(ticket, kind="verdict"):
    return list(db.session.scalars(db.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                                 TicketEvent.kind == kind)))


def test_resolved_message_arrives_with_the_buttons(resolved, fake_tg):
    sent = last_sent(fake_tg)
    assert sent["chat_id"] == RESIDENT and "решено" in sent["text"] and "Трубу заменили" in sent["text"]
    assert "Проблема решена? Оцените ответ от 1 до 5" in sent["text"]
    rows = sent["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [["Да, решена", "Нет, не решена"], ["1", "2", "3", "4", "5"]]
    assert rows[0][0]["callback_data"] == f"v:{resolved.id}:yes"
    assert all(len(b["callback_data"].encode()) <= 64 for row in rows for b in row)


def test_yes_then_a_rating(client, resolved, fake_tg):
    resp = hook(client, updates.press(last_sent(fake_tg), "Да, решена"))
    assert resp.status_code == 200 and resp.content_type == "application/json"
    assert json.loads(resp.get_data())["method"] == "answerCallbackQuery"  # the button stops spinning
    db.session.refresh(resolved)
    assert resolved.verdict == "yes" and resolved.status == "resolved" and resolved.rating is None
    answer = last_sent(fake_tg)
    assert "проблема по обращению" in answer["text"] and "Оцените" in answer["text"]
    assert [b["text"] for b in answer["reply_markup"]["inline_keyboard"][0]] == ["1", "2", "3", "4", "5"]

    hook(client, updates.press(answer, "5"))
    db.session.refresh(resolved)
    assert resolved.rating == 5 and resolved.rated_at is not None and resolved.verdict == "yes"
    assert "5 из 5" in last_sent(fake_tg)["text"]
    assert resolved.reopen_count == 0 and resolved.status == "resolved"
    titles = [e.title for e in timeline.build(resolved)]
    assert "Житель: проблема решена (Telegram)" in titles and "Оценка жителя: 5 из 5 (Telegram)" in titles


def test_a_good_rating_alone_means_solved(client, resolved, fake_tg):
    hook(client, updates.press(last_sent(fake_tg), "4"))
    db.session.refresh(resolved)
    assert resolved.rating == 4 and resolved.verdict == "yes" and resolved.status == "resolved"


@pytest.mark.parametrize("label", ["Нет, не решена", "2"])
def test_no_or_a_low_rating_reopens_as_a_repeat_complaint(client, resolved, fake_tg, label):
    old_due = resolved.resolution_due_at
    hook(client, updates.press(last_sent(fake_tg), label))
    db.session.refresh(resolved)
    assert resolved.status == "in_progress" and resolved.reopen_count == 1 and resolved.verdict == "no"
    assert resolved.resolved_at is None and resolved.resolution_due_at >= old_due
    [deadline] = events(resolved, "deadline")  # a new deadline, counted from the reopening
    assert "открыто повторно" in deadline.payload["reason"]
    if label == "2":
        assert resolved.rating == 2
    assert "снова в работе" in last_sent(fake_tg)["text"]
    titles = [e.title for e in timeline.build(resolved)]
    assert "Статус: Решено → В работе" in titles and any(t.startswith("Новый срок решения") for t in titles)


def test_a_strangers_press_in_a_group_changes_nothing(client, channel_account, fake_tg):
    hook(client, updates.comment(GROUP, CHANNEL, RESIDENT, "Не горит фонарь у дома Кирова, 45", message_id=71))
    ticket = resolve(only_ticket())
    sent = last_sent(fake_tg)
    assert sent["chat_id"] == GROUP and sent["reply_markup"]["inline_keyboard"]
    hook(client, updates.press(sent, "Нет, не решена", user_id=STRANGER, first_name="Пётр"))
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and ticket.verdict is None and ticket.reopen_count == 0
    assert "только автор обращения" in last_sent(fake_tg)["text"]
    hook(client, updates.press(sent, "5", user_id=RESIDENT))  # the author herself, in the same group
    db.session.refresh(ticket)
    assert ticket.rating == 5


def test_repeated_and_late_presses_are_answered_and_count_once(client, resolved, fake_tg):
    buttons = last_sent(fake_tg)
    press = updates.press(buttons, "5")
    for _ in range(3):  # Telegram re-delivering the same update
        assert hook(client, press).status_code == 200
    hook(client, updates.press(buttons, "Да, решена"))  # a second answer: already counted
    hook(client, updates.press(buttons, "1"))
    db.session.refresh(resolved)
    assert resolved.rating == 5 and resolved.verdict == "yes" and resolved.status == "resolved"
    assert len(events(resolved)) == 1
    assert "уже учтён" in last_sent(fake_tg)["text"]

    workflow.change_status(resolved, "closed", make_user("moderator"), now=utcnow() - timedelta(days=30))
    resolved.closed_at = utcnow() - timedelta(days=30)
    db.session.commit()
    hook(client, updates.press(buttons, "Нет, не решена"))  # weeks after closing
    db.session.refresh(resolved)
    assert resolved.status == "closed" and resolved.reopen_count == 0
    assert "уже не ждёт оценки" in last_sent(fake_tg)["text"]


@pytest.mark.parametrize("data", ["v:abc:yes", "v:999999:yes", "v:1:maybe", "garbage", "", "v:1:yes:extra"])
def test_malformed_or_unknown_payload_is_answered_never_a_500(client, resolved, fake_tg, data):
    before = len(fake_tg.sent)
    resp = hook(client, updates.callback_query(RESIDENT, data))
    assert resp.status_code == 200
    db.session.refresh(resolved)
    assert resolved.verdict is None and resolved.status == "resolved"
    assert len(fake_tg.sent) == before + 1 and "кнопка устарела" in last_sent(fake_tg)["text"].lower()


def test_a_press_is_stored_once_per_callback_query(client, resolved, fake_tg):
    press = updates.press(last_sent(fake_tg), "4", query_id="4411")
    hook(client, press)
    hook(client, press)
    [m] = db.session.scalars(db.select(Message).where(Message.command == "callback")).all()
    assert m.external_id == "cb:4411" and m.reply_address["chat_id"] == RESIDENT and m.ticket_id is None


def test_polling_takes_presses_and_answers_the_callback_query(app, resolved, fake_tg, tmp_path):
    from app.channels.telegram_cli import telegram_cli

    fake_tg.push(updates.press(last_sent(fake_tg), "Да, решена", query_id="q-77"))
    result = app.test_cli_runner().invoke(telegram_cli, ["poll", "--once", "--state-file", str(tmp_path / "s.json")])
    assert result.exit_code == 0, result.output
    db.session.refresh(resolved)
    assert resolved.verdict == "yes"
    assert [a["callback_query_id"] for a in fake_tg.answered] == ["q-77"]
    polls = [c for c in fake_tg.calls if c["method"] == "getUpdates"]
    assert "callback_query" in polls[0]["params"]["allowed_updates"]


# --- the no-answer job ---------------------------------------------------------------------------
def test_no_answer_job_closes_only_old_unanswered_tickets(app, client, bot_account, fake_tg):
    now = utcnow()
    days = app.config["VERDICT_WAIT_DAYS"]
    made = []
    for i, (age, answered) in enumerate([(days + 1, False), (days + 2, True), (days - 1, False)]):
        hook(client, updates.private_message(RESIDENT + i, f"Яма во дворе дома {i + 1} по ул. Ленина", message_id=5))
        ticket = db.session.scalars(db.select(Ticket).order_by(Ticket.id.desc())).first()
        resolve(ticket, now=now - timedelta(days=age))
        if answered:
            verdict.apply(ticket, "4", ticket.resident, now=now - timedelta(days=age - 1))
        made.append(ticket)
    db.session.commit()
    assert housekeeping.close_unanswered(batch=1) == 1
    assert housekeeping.close_unanswered() == 0  # idempotent
    for t in made:
        db.session.refresh(t)
    assert [t.status for t in made] == ["closed", "resolved", "resolved"]
    [status] = [e for e in events(made[0], "status") if e.payload["to"] == "closed"]
    assert status.payload["comment"] == f"Житель не ответил за {days} дн."
    assert any(p.path == "app.jobs.housekeeping.close_unanswered" and p.every == 3600 for p in PERIODIC)

    # A resident answering after the timeout is still heard (within the grace window): «Нет» reopens.
    assert verdict.apply(made[0], "no", made[0].resident) == "reopened"
    assert made[0].status == "in_progress" and made[0].reopen_count == 1


def test_a_ticket_resolved_again_waits_for_a_new_answer(app, client, resolved, fake_tg):
    hook(client, updates.press(last_sent(fake_tg), "Нет, не решена"))
    db.session.refresh(resolved)
    long_ago = utcnow() - timedelta(days=app.config["VERDICT_WAIT_DAYS"] + 1)
    tickets.change_status(resolved, "resolved", make_user("moderator"), comment="Заменили ещё раз", now=long_ago)
    resolved.verdict_at = long_ago - timedelta(days=1)  # the «Нет» belonged to the first resolution
    db.session.commit()
    assert verdict.has_verdict(resolved) is False
    assert housekeeping.close_unanswered() == 1


# --- web form residents: the status page ---------------------------------------------------------
@pytest.fixture
def web_ticket(app):
    payload = {"submission_id": str(uuid.uuid4()), "text": "На детской площадке сломаны качели",
               "name": "Ирина Соколова", "email": "irina@example.org", "address": "ул. Ленина, 3"}
    intake.accept(get_adapter("web").parse(payload, app.config).messages)
    db.session.commit()
    ticket = only_ticket()
    return resolve(ticket, "Качели отремонтировали")


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_web_resident_gets_a_personal_link_and_answers_on_the_status_page(client, web_ticket, csrf_on):
    reply = db.session.scalar(db.select(Reply).where(Reply.kind == "resolved"))
    assert "Проблема решена? Оцените ответ от 1 до 5" in reply.text and reply.buttons == []
    token = re.search(r"\?v=([A-Za-z0-9_.\-]+)", reply.text).group(1)
    assert verdict.token_matches(web_ticket, token)

    public = client.get(f"/status/{web_ticket.number}").get_data(as_text=True)
    assert 'name="answer"' not in public and token not in public  # without the token: no buttons, no token
    forged = client.get(f"/status/{web_ticket.number}?v=forged.token").get_data(as_text=True)
    assert 'name="answer"' not in forged

    page = client.get(f"/status/{web_ticket.number}?v={token}").get_data(as_text=True)
    assert "Проблема решена?" in page and 'value="yes"' in page and 'value="5"' in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    refused = client.post(f"/status/{web_ticket.number}/verdict", data={"answer": "1", "csrf_token": csrf})
    assert refused.status_code == 403  # no token
    no_csrf = client.post(f"/status/{web_ticket.number}/verdict", data={"answer": "1", "v": token})
    assert no_csrf.status_code == 400  # CSRF stays on
    db.session.refresh(web_ticket)
    assert web_ticket.rating is None and web_ticket.status == "resolved"

    resp = client.post(f"/status/{web_ticket.number}/verdict", data={"answer": "yes", "v": token, "csrf_token": csrf})
    assert resp.status_code == 200 and "Отметили, что проблема решена" in resp.get_data(as_text=True)
    db.session.refresh(web_ticket)
    assert web_ticket.verdict == "yes"
    page = resp.get_data(as_text=True)
    assert 'value="yes"' not in page and 'value="5"' in page  # now only the rating is asked
    client.post(f"/status/{web_ticket.number}/verdict", data={"answer": "4", "v": token, "csrf_token": csrf})
    db.session.refresh(web_ticket)
    assert web_ticket.rating == 4 and web_ticket.status == "resolved"
    done = client.get(f"/status/{web_ticket.number}?v={token}").get_data(as_text=True)
    assert 'name="answer"' not in done


def test_web_no_reopens(client, web_ticket, csrf_on):
    token = verdict.token(web_ticket)
    page = client.get(f"/status/{web_ticket.number}?v={token}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post(f"/status/{web_ticket.number}/verdict", data={"answer": "no", "v": token, "csrf_token": csrf})
    assert "снова в работе" in resp.get_data(as_text=True)
    db.session.refresh(web_ticket)
    assert web_ticket.status == "in_progress" and web_ticket.reopen_count == 1 and web_ticket.verdict == "no"
    bad = client.post(f"/status/{web_ticket.number}/verdict", data={"answer": "7", "v": token, "csrf_token": csrf})
    assert bad.status_code == 422


def test_any_reopen_counts_once_in_workflow(resolved):
    mod = make_user("moderator")
    workflow.change_status(resolved, "closed", mod)
    workflow.change_status(resolved, "in_progress", mod)
    assert resolved.reopen_count == 1
    workflow.change_status(resolved, "rejected", mod, reason="spam")
    workflow.change_status(resolved, "new", mod)  # a rejection undone is not a repeat complaint
    assert resolved.reopen_count == 1
