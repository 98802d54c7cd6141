"""One outbox for every outbound message (issue 10, items 6 and 7): replies to residents and staff pushes
(SLA warnings and breaches, control orders, the weekly digest) share the delivery states, the backoff and the
platform's retry-after; a long text's parts are tracked one by one; a crash between the platform's "accepted"
and our commit never makes a blind second send on a network without an idempotency key."""
from datetime import datetime, timedelta, timezone

import pytest

from app.channels import get_adapter
from app.channels.telegram import split_text
from app.channels.vk import random_id
from app.extensions import db
from app.fakes import telegram as updates
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.models import Notification, Reply, SlaMark, Ticket, utcnow
from app.services import control, replies, tickets
from app.services.board import digest
from app.services.sla import escalation
from tests.factories import make_category, make_institution, make_policy, make_ticket, make_user
from tests.helpers import committed
from tests.telegram_support import SECRET as TG_SECRET

STAFF_CHAT = 55507777
RESIDENT = 4242


def deliver_due(now):
    """What the periodic delivery sweep does at `now`, in-process: settle dead `sending` rows, deliver due rows."""
    replies.recover_stale(now)
    for rid in replies.stale_pending(now=now):
        replies.deliver(rid, now=now)


def pushes():
    return db.session.scalars(db.select(Reply).where(Reply.notification_id.isnot(None)).order_by(Reply.id)).all()


def breached_ticket(inst, now, n):
    cat = make_category(institution=inst, policy=make_policy(first=30, resolution=60, business_hours=False))
    t = make_ticket(f"Яма у дома {n} по ул. Ленина", institution=inst, category=cat,
                    created_at=now - timedelta(minutes=90), status="assigned")
    t.first_responded_at = t.created_at + timedelta(minutes=5)
    return t


# --- item 6: rate limits on every outbound path -------------------------------------------------------
def test_thirty_breach_pushes_with_429s_are_each_delivered_once(tg_config, fake_tg, clock):
    moderator = make_user("moderator")
    moderator.telegram_chat_id = str(STAFF_CHAT)
    now = clock(utcnow())
    inst = make_institution()
    numbers = [breached_ticket(inst, now, n).number for n in range(30)]
    db.session.commit()
    fake_tg.rate_limit(STAFF_CHAT, retry_after=3, times=12, skip=5)  # pushes 6–17: 429 retry_after 3

    assert committed(escalation.sweep(now)).breaches == 30
    assert len(fake_tg.messages_to(STAFF_CHAT)) == 18
    waiting = [r for r in pushes() if r.state == "pending"]
    assert len(waiting) == 12 and all(r.next_attempt_at == now + timedelta(seconds=3) for r in waiting)
    assert all("подождать 3 с" in r.last_error for r in waiting)

    deliver_due(now + timedelta(seconds=1))  # not before Telegram's retry_after
    assert len(fake_tg.messages_to(STAFF_CHAT)) == 18
    deliver_due(now + timedelta(seconds=3))
    deliver_due(now + timedelta(minutes=5))  # a later sweep: nothing twice

    texts = [m["text"] for m in fake_tg.messages_to(STAFF_CHAT)]
    assert len(texts) == 30 and len(set(texts)) == 30
    assert sorted(next(n for n in numbers if n in text) for text in texts) == sorted(numbers)
    assert {r.state for r in pushes()} == {"sent"} and len(pushes()) == 30
    notes = db.session.scalars(db.select(Notification).where(Notification.user_id == moderator.id)).all()
    assert len(notes) == 30 and all(n.sent_at is not None for n in notes)
    assert sorted(n.text for n in notes) == sorted(texts)


def _private_ticket(client, bot_account, text="Нет воды на ул. Кирова, 45", message_id=3):
    client.post("/hooks/telegram", json=updates.private_message(RESIDENT, text, message_id=message_id),
                headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    return db.session.scalar(db.select(Ticket))


def test_a_three_part_reply_with_429_on_part_two_reaches_the_resident_as_parts_1_2_3_once(
        client, bot_account, fake_tg, clock):
    ticket = _private_ticket(client, bot_account)
    assert len(fake_tg.messages_to(RESIDENT)) == 1  # the acknowledgement
    text = "\n\n".join(f"Раздел {i}. " + "Бригада выехала, работы идут по графику. " * 90 for i in range(1, 4))
    parts = split_text(text)
    assert len(parts) == 3
    fake_tg.rate_limit(RESIDENT, retry_after=4, skip=1)  # the 2nd sendMessage from now: 429
    now = clock(utcnow())
    reply = tickets.public_reply(ticket, make_user("moderator"), text, now=now)
    db.session.commit()  # delivery runs after the commit (in-process here)

    db.session.refresh(reply)
    parts = split_text(reply.text)  # the staff template adds the ticket's number
    assert len(parts) == 3
    assert reply.state == "pending" and len(reply.parts) == 1 and "подождать 4 с" in reply.last_error
    assert reply.next_attempt_at == now + timedelta(seconds=4)
    deliver_due(now + timedelta(seconds=3))
    assert len(fake_tg.messages_to(RESIDENT)) == 2  # the ack and part 1 only: Telegram said 4 s
    deliver_due(now + timedelta(seconds=4))
    deliver_due(now + timedelta(minutes=10))
    db.session.refresh(reply)

    got = [m for m in fake_tg.messages_to(RESIDENT)][1:]
    assert [m["text"] for m in got] == parts  # 1, 2, 3 — each once, in order
    assert reply.state == "sent" and reply.parts == [str(m["message_id"]) for m in got]
    assert reply.external_id == str(got[0]["message_id"])
    assert got[0]["reply_parameters"]["message_id"] == 3 and got[1]["reply_parameters"] is None


def _control_order(now):
    inst = make_institution()
    executor = make_user("executor", institution=inst)
    executor.telegram_chat_id = str(STAFF_CHAT)
    ticket = make_ticket(institution=inst)
    control.issue(make_user("head"), instruction="Устранить до пятницы", institution_id=inst.id,
                  due=now + timedelta(days=5), ticket=ticket, now=now)
    db.session.commit()


def _sla_warning(now):
    inst = make_institution()
    make_user("executor", institution=inst).telegram_chat_id = str(STAFF_CHAT)
    cat = make_category(institution=inst, policy=make_policy(first=60, resolution=600, business_hours=False))
    t = make_ticket(institution=inst, category=cat, created_at=now - timedelta(minutes=500), status="assigned")
    t.first_responded_at = t.created_at + timedelta(minutes=5)
    db.session.commit()
    assert committed(escalation.sweep(now)).warnings == 1


def _weekly_digest(now):
    head = make_user("head")
    head.telegram_chat_id = str(STAFF_CHAT)
    db.session.commit()
    assert committed(digest.send_weekly(now))["sent"] == 1


MONDAY_NOON = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)  # Monday 12:00 in Belogorsk


@pytest.mark.parametrize("make_push", [_sla_warning, _control_order, _weekly_digest],
                         ids=["sla-warning", "control-order", "weekly-digest"])
def test_every_staff_push_waits_out_a_429_and_arrives_once(tg_config, fake_tg, make_push, clock):
    now = clock(MONDAY_NOON)
    fake_tg.rate_limit(STAFF_CHAT, retry_after=30)
    make_push(now)
    [push] = pushes()
    assert push.state == "pending" and push.next_attempt_at == now + timedelta(seconds=30)
    assert fake_tg.messages_to(STAFF_CHAT) == []
    deliver_due(now + timedelta(seconds=30))
    deliver_due(now + timedelta(minutes=30))
    [sent] = fake_tg.messages_to(STAFF_CHAT)
    db.session.refresh(push)
    assert push.state == "sent" and sent["text"] == push.text
    assert db.session.get(Notification, push.notification_id).sent_at == now + timedelta(seconds=30)


# --- item 7: a crash between the platform's "accepted" and our commit ----------------------------------
class Crash(BaseException):
    """The worker killed (SIGKILL, OOM) right after the platform accepted the message."""


@pytest.fixture
def fake_max(app):
    with FakeMax(token="max-token") as fake:
        saved = {k: app.config.get(k) for k in ("MAX_BOT_TOKEN", "MAX_API_URL", "HTTP_TIMEOUT")}
        app.config.update(MAX_BOT_TOKEN="max-token", MAX_API_URL=fake.base_url, HTTP_TIMEOUT=5)
        yield fake
        app.config.update(saved)


@pytest.fixture
def fake_ok(app):
    with FakeOk(token="ok-token") as fake:
        saved = {k: app.config.get(k) for k in ("OK_ACCESS_TOKEN", "OK_API_URL", "HTTP_TIMEOUT")}
        app.config.update(OK_ACCESS_TOKEN="ok-token", OK_API_URL=fake.base_url, HTTP_TIMEOUT=5)
        yield fake
        app.config.update(saved)


# network → (fixtures to start, the reply address of the resident's message, what the fake received)
NETWORKS = {
    "telegram": (("tg_config", "fake_tg"), {"chat_id": RESIDENT, "message_id": 3},
                 lambda fakes: fakes["fake_tg"].messages_to(RESIDENT)),
    "vk": (("vk_config", "fake_vk"), {"type": "message", "peer_id": 512345678, "message_id": 3},
           lambda fakes: fakes["fake_vk"].messages),
    "max": (("fake_max",), {"chat_id": 81234567, "mid": "mid.0000000000000001"},
            lambda fakes: fakes["fake_max"].messages),
    "ok": (("fake_ok",), {"chat_id": "chat:C3f1a2b", "mid": "mid:C3f1a2b:1"},
           lambda fakes: fakes["fake_ok"].messages),
}


@pytest.mark.parametrize("network", list(NETWORKS))
def test_a_crash_after_the_platform_accepted_never_sends_blindly_twice(request, monkeypatch, login, network):
    names, address, received = NETWORKS[network]
    fakes = {name: request.getfixturevalue(name) for name in names}
    inst = make_institution()
    ticket = make_ticket("Не горит фонарь у дома Советская, 8", institution=inst, network=network)
    ticket.messages[0].reply_address = address
    reply = Reply(ticket=ticket, network=network, kind="staff", text="Фонарь заменят завтра до 12:00.",
                  in_reply_to_message_id=ticket.messages[0].id, created_at=utcnow())
    db.session.add(reply)
    db.session.commit()

    adapter_cls = type(get_adapter(network))
    real_send = adapter_cls.send

    def send_then_die(self, out, config):
        real_send(self, out, config)  # the platform accepted it…
        raise Crash()  # …and the worker died before recording that

    monkeypatch.setattr(adapter_cls, "send", send_then_die)
    with pytest.raises(Crash):
        replies.deliver(reply.id)
    db.session.rollback()  # the dead worker's transaction is gone; what it committed before the call stays
    monkeypatch.undo()
    assert len(received(fakes)) == 1
    db.session.refresh(reply)
    assert reply.state == "sending" and reply.parts == [] and reply.sending_at is not None

    now = utcnow()
    assert replies.deliver(reply.id, now=now) == "sending"  # another job meanwhile: it does not send
    deliver_due(now)  # nor does the sweep while the call might still be running
    assert len(received(fakes)) == 1
    later = now + replies.sending_stale() + timedelta(seconds=1)
    deliver_due(later)
    deliver_due(later + timedelta(minutes=30))
    db.session.refresh(reply)

    if network == "vk":  # VK dedupes by random_id: retried safely, still one message, its id recorded
        assert reply.state == "sent" and len(received(fakes)) == 1
        assert reply.external_id == str(received(fakes)[0]["id"])
        return
    assert reply.state == "unconfirmed" and len(received(fakes)) == 1  # not re-sent blindly
    assert "Доставка не подтверждена" in reply.last_error
    client = login(make_user("moderator"))
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "доставка не подтверждена" in page and "отправить ещё раз" in page
    assert f"/replies/{reply.id}/resend" in page

    resp = client.post(f"/tickets/{ticket.number}/replies/{reply.id}/resend", headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "Ответ поставлен в очередь на повторную отправку" in resp.get_data(as_text=True)
    db.session.refresh(reply)
    assert reply.state == "sent" and len(received(fakes)) == 2  # staff decided: sent again, once
    assert "отправить ещё раз" not in client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    again = client.post(f"/tickets/{ticket.number}/replies/{reply.id}/resend", headers={"HX-Request": "true"})
    assert again.status_code == 422 and "доставка не под вопросом" in again.get_data(as_text=True)
    assert len(received(fakes)) == 2


def test_a_crash_on_part_two_keeps_part_one_and_asks_staff_about_part_two(client, login, bot_account, fake_tg,
                                                                          monkeypatch):
    ticket = _private_ticket(client, bot_account)
    text = "\n\n".join(f"Раздел {i}. " + "Бригада выехала, работы идут по графику. " * 90 for i in range(1, 4))
    monkeypatch.setattr(replies, "enqueue_after_commit", lambda *a, **kw: None)  # the worker takes it below
    reply = tickets.public_reply(ticket, make_user("moderator"), text)
    db.session.commit()
    parts = split_text(reply.text)
    assert len(parts) == 3
    adapter_cls = type(get_adapter("telegram"))
    real_send = adapter_cls.send

    def die_on_part_two(self, out, config):
        result = real_send(self, out, config)
        if out.part == 1:
            raise Crash()
        return result

    monkeypatch.setattr(adapter_cls, "send", die_on_part_two)
    with pytest.raises(Crash):
        replies.deliver(reply.id)
    db.session.rollback()
    monkeypatch.undo()
    db.session.refresh(reply)
    assert reply.state == "sending" and len(reply.parts) == 1
    deliver_due(utcnow() + replies.sending_stale() * 2)
    db.session.refresh(reply)
    assert reply.state == "unconfirmed" and "части 2" in reply.last_error

    resp = login(make_user("moderator")).post(f"/tickets/{ticket.number}/replies/{reply.id}/resend")
    assert resp.status_code == 302
    got = [m["text"] for m in fake_tg.messages_to(RESIDENT)][1:]
    assert got == [parts[0], parts[1], parts[1], parts[2]]  # part 1 never again; part 2 again as staff chose


def test_an_executor_of_another_institution_cannot_resend(login, tg_config):
    ticket = make_ticket(institution=make_institution(), network="telegram")
    reply = Reply(ticket=ticket, network="telegram", kind="staff", text="Ответ", state="unconfirmed",
                  created_at=utcnow())
    db.session.add(reply)
    outsider = login(make_user("executor", institution=make_institution()))
    assert outsider.post(f"/tickets/{ticket.number}/replies/{reply.id}/resend").status_code == 404
    db.session.refresh(reply)
    assert reply.state == "unconfirmed"


def test_no_sla_mark_without_its_push_row_for_a_linked_user(tg_config, fake_tg):
    """Breaches are recorded and pushed in one transaction: the push row exists for each linked recipient."""
    moderator = make_user("moderator")
    moderator.telegram_chat_id = str(STAFF_CHAT)
    now = utcnow()
    breached_ticket(make_institution(), now, 1)
    db.session.commit()
    committed(escalation.sweep(now))
    assert db.session.scalar(db.select(db.func.count(SlaMark.id))) == 1
    [push] = pushes()
    assert push.address == {"chat_id": str(STAFF_CHAT)} and push.ticket_id is None and push.kind == "push"


def test_a_crash_mid_email_is_unconfirmed_not_mailed_twice(app, smtp_server, monkeypatch):
    """E-mail (the digest) is an outbox network like the others: no idempotency key, so the same rule."""
    note = Notification(user_id=make_user("head").id, kind="digest", text="Проблемные вопросы за неделю",
                        created_at=utcnow())
    db.session.add(note)
    monkeypatch.setattr(replies, "enqueue_after_commit", lambda *a, **kw: None)  # the worker takes it below
    mail = replies.mail_to_staff(note, "glava@belogorsk.test", "Дайджест")
    db.session.commit()
    adapter_cls = type(get_adapter("email", outbound=True))
    real_send = adapter_cls.send

    def send_then_die(self, out, config):
        real_send(self, out, config)
        raise Crash()

    monkeypatch.setattr(adapter_cls, "send", send_then_die)
    with pytest.raises(Crash):
        replies.deliver(mail.id)
    db.session.rollback()
    monkeypatch.undo()
    deliver_due(utcnow() + replies.sending_stale() * 2)
    db.session.refresh(mail)
    assert mail.state == "unconfirmed" and len(smtp_server.messages) == 1


def test_email_is_not_a_webhook_network(client, app, smtp_server):
    assert client.post("/hooks/email", json={"x": 1}).status_code == 404


# --- the kind: every outbound path, any pattern of rate limits ----------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_any_pattern_of_429s_delivers_every_part_of_every_message_exactly_once(tg_config, fake_tg, clock, seed):
    """Replies to residents and staff pushes, of 1–3 parts each, against a random run of 429s: in the end each
    recipient has each part once, in order (no part before its retry_after, none twice)."""
    import random

    rnd = random.Random(seed)
    now = clock(utcnow())
    fake_tg.rate_limit_pattern([rnd.random() < 0.4 for _ in range(80)], retry_after=5)
    rows = {}
    for i in range(rnd.randint(3, 8)):
        chat = 9000 + i
        text = "\n\n".join(f"Часть {p + 1}. " + "Работы идут по графику. " * 150 for p in range(rnd.randint(1, 3)))
        if i % 2:  # a staff push
            user = make_user("moderator")
            user.telegram_chat_id = str(chat)
            note = Notification(user_id=user.id, kind="resolution_breach", text=text, created_at=now)
            db.session.add(note)
            rows[chat] = replies.push_to_staff(note, now)
        else:  # a reply to a resident's message
            ticket = make_ticket(network="telegram")
            ticket.messages[0].reply_address = {"chat_id": chat, "message_id": 7}
            rows[chat] = replies.notify(ticket, "staff", message=ticket.messages[0], text=text)
        db.session.commit()  # each delivered in-process after its commit, into the 429s
    for step in range(1, 40):
        deliver_due(clock(now + timedelta(seconds=5 * step)))
    for chat, row in rows.items():
        db.session.refresh(row)
        assert row.state == "sent"
        assert [m["text"] for m in fake_tg.messages_to(chat)] == split_text(row.text)
        assert row.parts == [str(m["message_id"]) for m in fake_tg.messages_to(chat)]


def test_nothing_sends_around_the_outbox():
    """Every outbound message goes through replies.deliver(): no other module calls an adapter's send(), the
    Bot API's sendMessage or SMTP (the channels and the platform fakes are where sending is implemented)."""
    import re
    from pathlib import Path

    app_dir = Path(__file__).resolve().parent.parent / "app"
    sending = re.compile(r"adapter\.send\(|\bsend_mail\(|sendMessage|\.send_message\(|smtplib\.SMTP")
    allowed = {"services/replies.py": {"adapter.send("}, "services/mailer.py": {"send_mail(", ".send_message(",
                                                                                  "smtplib.SMTP"},
               # One-time «set your password» links (issue 12): mailed at once, never kept in the outbox's rows
               # (only the token's hash may be at rest); the admin sees on the page whether each was sent.
               "services/users.py": {"send_mail("},
               # Cross-posting (issue 13): the plan names the Bot API method it will use; it sends nothing.
               "services/publishing/limits.py": {"sendMessage"},
               # …and the Telegram publishing module makes those calls, driven by the publishing outbox.
               "services/publishing/networks/telegram.py": {"sendMessage", ".send_message("}}
    offenders = []
    for path in app_dir.rglob("*.py"):
        rel = path.relative_to(app_dir).as_posix()
        if rel.startswith(("channels/", "fakes/")):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for hit in sending.findall(line):
                if hit not in allowed.get(rel, set()):
                    offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_resend_needs_the_csrf_token_the_page_carries(login, tg_config, fake_tg, csrf_on):
    import re

    ticket = make_ticket(institution=make_institution(), network="telegram")
    ticket.messages[0].reply_address = {"chat_id": RESIDENT, "message_id": 3}
    reply = Reply(ticket=ticket, network="telegram", kind="staff", text="Ответ", state="unconfirmed",
                  in_reply_to_message_id=ticket.messages[0].id, created_at=utcnow())
    db.session.add(reply)
    client = login(make_user("moderator"))
    url = f"/tickets/{ticket.number}/replies/{reply.id}/resend"
    assert client.post(url).status_code == 400  # no token: refused, nothing sent
    db.session.refresh(reply)
    assert reply.state == "unconfirmed" and fake_tg.sent == []
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    token = re.search(r'class="tl-resend".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    assert client.post(url, data={"csrf_token": token}).status_code == 302
    assert len(fake_tg.messages_to(RESIDENT)) == 1


def test_a_long_vk_reply_goes_as_parts_each_with_its_own_random_id(vk_config, fake_vk, clock):
    """VK refuses a message over 4096 characters (error 914): the outbox splits it like Telegram's, and a 429
    (error 6) on part 2 resends part 2 only, with the same random_id."""
    ticket = make_ticket(network="vk")
    ticket.messages[0].reply_address = {"type": "message", "peer_id": 512345678, "message_id": 3}
    now = clock(utcnow())
    text = "\n\n".join(f"Раздел {i}. " + "Бригада выехала, работы идут по графику. " * 90 for i in range(1, 4))
    reply = replies.notify(ticket, "staff", message=ticket.messages[0], text=text)
    parts = split_text(reply.text)
    fake_vk.fail(6, method="messages.send", random_id=random_id(f"reply-{reply.id}-part-2"))
    db.session.commit()
    db.session.refresh(reply)
    assert reply.state == "pending" and len(reply.parts) == 1
    deliver_due(now + timedelta(seconds=1))
    db.session.refresh(reply)
    assert reply.state == "sent"
    assert [m["message"] for m in fake_vk.messages] == parts
    assert len({m["random_id"] for m in fake_vk.messages}) == 3
    assert fake_vk.messages[0].get("reply_to") == "3" and "reply_to" not in fake_vk.messages[1]
