"""Intake through the channel interface with a minimal adapter: exactly once, triage v1, outbox delivery."""
from datetime import timedelta

import pytest

from app import channels
from app.channels.base import BadPayload, ChannelError, IncomingMessage, ParsedRequest, SendResult
from app.extensions import db
from app.jobs import intake as intake_jobs
from app.models import IntakeRejection, Message, Reply, Resident, Ticket, TicketEvent, utcnow
from app.services import intake, replies, workflow
from app.services.intake import triage as intake_triage
from tests.factories import make_account, make_category, make_institution, make_user
from tests.support import wipe_tables


class FakeAdapter:
    """Speaks a tiny JSON dialect: {"messages": [{id, from, name, text, chat, thread, ...}]}."""

    network = "telegram"

    def __init__(self):
        self.sent = []
        self.fail_with = None

    def is_enabled(self, config):
        return True

    def verify(self, headers, payload, config):
        return headers.get("X-Fake-Secret") == "s3cret"

    def parse(self, payload, config):
        if "messages" not in payload:
            raise BadPayload("no messages field")
        return ParsedRequest(messages=[self.message(**m) for m in payload["messages"]])

    @staticmethod
    def message(id, text="", chat="100", thread=None, name="Ольга К.", author="u1", **extra):
        return IncomingMessage(network="telegram", external_id=str(id), kind="direct", author_id=author,
                               author_name=name, text=text, account_ref=chat, thread_key=thread or f"chat:{chat}",
                               reply_address={"chat_id": chat, "message_id": id}, raw={"id": id}, **extra)

    def send(self, reply, config):
        if self.fail_with:
            raise self.fail_with
        self.sent.append(reply)
        return SendResult(external_id=f"out-{len(self.sent)}")


@pytest.fixture
def fake(monkeypatch):
    adapter = FakeAdapter()
    monkeypatch.setitem(channels._cache, "telegram", adapter)
    return adapter


@pytest.fixture
def water_account():
    inst = make_institution(name="МУП «Водоканал» г. Белогорск")
    acc = make_account(inst, network="telegram")
    acc.external_id = "100"
    db.session.flush()
    return acc


def post(client, payload, secret="s3cret"):
    return client.post("/hooks/telegram", json=payload, headers={"X-Fake-Secret": secret})


def test_same_update_delivered_many_times_is_one_message_and_one_ticket(client, fake, water_account):
    payload = {"messages": [{"id": 7, "text": "Нет холодной воды на ул. Кирова, 45 третий день"}]}
    for _ in range(20):
        assert post(client, payload).status_code == 200
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 1
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.institution_id == water_account.institution_id and ticket.account_id == water_account.id
    assert ticket.resident.display_name == "Ольга К."
    ack = db.session.scalar(db.select(Reply).where(Reply.ticket_id == ticket.id))
    assert ack.kind == "ack" and ack.state == "sent" and ack.external_id == "out-1"
    assert ticket.number in fake.sent[0].text and fake.sent[0].address == {"chat_id": "100", "message_id": 7}


def test_wrong_secret_is_403_and_nothing_is_stored(client, fake):
    assert post(client, {"messages": [{"id": 1, "text": "Яма"}]}, secret="nope").status_code == 403
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 0


def test_malformed_payload_is_4xx_and_logged_with_its_body(client, fake):
    resp = post(client, {"hello": "world"})
    assert resp.status_code == 400 and "no messages field" in resp.get_data(as_text=True)
    rej = db.session.scalar(db.select(IntakeRejection))
    assert rej.network == "telegram" and '"hello"' in rej.body
    not_json = client.post("/hooks/telegram", data="{oops", headers={"X-Fake-Secret": "s3cret"})
    assert not_json.status_code == 400


def test_unknown_network_is_404(client):
    assert client.post("/hooks/myspace", json={}).status_code == 404


def test_noise_goes_to_its_own_pile(client, fake, water_account):
    post(client, {"messages": [{"id": 1, "text": "Спасибо большое!"}, {"id": 2, "text": "👍👍"}]})
    reasons = set(db.session.scalars(db.select(Message.noise_reason)))
    assert reasons == {"thanks", "emoji"}
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0 and fake.sent == []


def test_photo_without_text_is_an_appeal(client, fake, water_account):
    from app.channels.base import Attachment

    m = FakeAdapter.message(5, text="", attachments=[Attachment(kind="photo", file_id="AgAD")])
    intake.accept([m])
    db.session.commit()
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket is not None and ticket.summary == "[фото]"
    assert ticket.messages[0].attachments == [{"kind": "photo", "file_id": "AgAD"}]


def test_second_message_on_the_same_thread_joins_the_open_ticket(client, fake, water_account):
    post(client, {"messages": [{"id": 1, "text": "Нет воды на Кирова, 45"}]})
    ticket = db.session.scalar(db.select(Ticket))
    mod = make_user("moderator")
    workflow.change_status(ticket, "in_progress", mod)
    workflow.change_status(ticket, "waiting_resident", mod)
    db.session.commit()
    post(client, {"messages": [{"id": 2, "text": "Подъезд 3, квартира 12"}]})
    db.session.refresh(ticket)
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 1
    assert len(ticket.messages) == 2 and ticket.status == "in_progress"  # the resident answered: clock runs
    other = {"messages": [{"id": 3, "text": "А ещё яма на Ленина", "author": "u2", "chat": "200"}]}
    post(client, other)
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 2


def test_edit_updates_the_timeline_instead_of_a_new_ticket(client, fake, water_account):
    post(client, {"messages": [{"id": 1, "text": "Нет воды на Кирова"}]})
    post(client, {"messages": [{"id": "1:edit:1", "text": "Нет воды на Кирова, 45", "edit_of": "1"}]})
    ticket = db.session.scalar(db.select(Ticket))
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 1
    edit = db.session.scalar(db.select(TicketEvent).where(TicketEvent.kind == "message_edited"))
    assert edit.ticket_id == ticket.id and edit.payload["text"] == "Нет воды на Кирова, 45"


def test_keywords_choose_the_category(client, fake, water_account):
    lamps = make_category("Уличное освещение")
    lamps.keywords = "фонар освещ лампочк"
    db.session.commit()
    post(client, {"messages": [{"id": 1, "text": "Во дворе не горят фонари, темно"}]})
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.category_id == lamps.id
    routed = db.session.scalar(db.select(TicketEvent).where(TicketEvent.kind == "routed"))
    assert routed.payload["matched"] == ["фонар"]


def test_status_command_answers_with_the_status(client, fake, water_account):
    post(client, {"messages": [{"id": 1, "text": "Нет воды на Кирова"}]})
    ticket = db.session.scalar(db.select(Ticket))
    post(client, {"messages": [{"id": 2, "text": f"/status {ticket.number}", "command": "status",
                                "command_arg": ticket.number}]})
    assert fake.sent[-1].text == f"Обращение № {ticket.number}: Новое."
    post(client, {"messages": [{"id": 3, "text": "/status БЛГ-1", "command": "status", "command_arg": "БЛГ-1"}]})
    assert "не найдено" in fake.sent[-1].text
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 1


def test_deep_link_routes_the_residents_next_appeal(client, fake, water_account):
    school = make_institution(name="МАОУ «Школа № 3 г. Белогорск»")
    db.session.commit()
    post(client, {"messages": [{"id": 1, "text": f"/start i{school.id}", "start_code": f"i{school.id}"}]})
    assert "Школа № 3" in fake.sent[-1].text
    post(client, {"messages": [{"id": 2, "text": "В кабинете 12 холодно"}]})
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.institution_id == school.id


def test_rate_limit_answer_is_retried_later_and_never_sent_twice(client, fake, water_account):
    fake.fail_with = ChannelError("Too Many Requests", retry_after=5)
    post(client, {"messages": [{"id": 1, "text": "Яма на дороге у дома 5"}]})
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.attempts == 1 and "Too Many" in reply.last_error
    assert reply.next_attempt_at > utcnow() + timedelta(seconds=3)
    assert replies.deliver(reply.id) == "pending"  # not before its time
    fake.fail_with = None
    later = utcnow() + timedelta(seconds=6)
    assert replies.deliver(reply.id, now=later) == "sent"
    assert replies.deliver(reply.id, now=later) == "sent"
    assert len(fake.sent) == 1


def test_permanent_failure_is_shown_on_the_ticket(client, fake, water_account, login):
    fake.fail_with = ChannelError("Forbidden: bot was blocked by the user", permanent=True)
    post(client, {"messages": [{"id": 1, "text": "Яма на дороге у дома 5"}]})
    ticket = db.session.scalar(db.select(Ticket))
    page = login(make_user("moderator")).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "не доставлен" in page and "bot was blocked" in page


@pytest.mark.no_db_rollback
def test_worker_killed_mid_batch_leaves_no_half_ticket(app, fake, monkeypatch):
    """A crash inside a triage batch rolls the whole batch back; the retry makes each ticket once."""
    try:
        app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # the triage job is not run at commit
        intake.accept([FakeAdapter.message(i, text=f"Яма на дороге у дома {i}", author=f"u{i}") for i in range(1, 6)])
        db.session.commit()
        app.config["REDIS_URL"] = None
        real = intake.triage_message
        calls = {"n": 0}

        def dies_on_third(m, now=None):
            calls["n"] += 1
            if calls["n"] == 3:
                raise SystemExit("worker killed")
            return real(m, now=now)

        monkeypatch.setattr(intake_triage, "triage_message", dies_on_third)
        with pytest.raises(SystemExit):
            intake_jobs.triage()
        db.session.rollback()
        assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0
        assert intake.untriaged_count() == 5
        monkeypatch.setattr(intake_triage, "triage_message", real)
        assert intake_jobs.triage() == 5
        assert intake_jobs.triage() == 0
        assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 5
    finally:
        app.config["REDIS_URL"] = None
        db.session.rollback()
        wipe_tables()


def test_with_redis_down_webhooks_still_store_and_the_sweep_triages(app, client, fake, water_account):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    try:
        assert post(client, {"messages": [{"id": 1, "text": "Нет воды на Кирова"}]}).status_code == 200
        assert db.session.scalar(db.select(db.func.count(Message.id))) == 1
        assert intake.untriaged_count() == 1
    finally:
        app.config["REDIS_URL"] = None
    assert intake_jobs.sweep() == 1
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 1
    assert db.session.scalar(db.select(Resident.display_name)) == "Ольга К."


def test_moderator_can_promote_a_message_from_the_noise_pile(client, fake, water_account):
    post(client, {"messages": [{"id": 1, "text": "Спасибо!"}]})
    m = db.session.scalar(db.select(Message))
    assert m.noise_reason == "thanks"
    from app.services.errors import NotAllowed

    with pytest.raises(NotAllowed):
        intake.promote(m, make_user("executor"))
    ticket = intake.promote(m, make_user("moderator"))
    db.session.commit()
    assert ticket.messages == [m] and m.noise_reason is None


def test_intake_replay_command_triages_what_was_left(app, fake, water_account):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # Redis down: stored, not triaged
    try:
        intake.accept([FakeAdapter.message(i, text=f"Яма у дома {i}", author=f"u{i}") for i in range(3)])
        db.session.commit()
    finally:
        app.config["REDIS_URL"] = None
    runner = app.test_cli_runner()
    assert "Не разобрано сообщений: 3" in runner.invoke(args=["intake", "status"]).output
    res = runner.invoke(args=["intake", "replay"])
    assert res.exit_code == 0 and "Разобрано сообщений: 3" in res.output
    assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 3


def test_with_real_redis_many_deliveries_make_one_triage_job_and_one_ticket(app, client, fake, water_account,
                                                                              redis_url):
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from app import jobs

    app.config["REDIS_URL"] = redis_url
    try:
        payload = {"messages": [{"id": 7, "text": "Нет холодной воды на ул. Кирова, 45"}]}
        for _ in range(100):
            assert post(client, payload).status_code == 200
        intake_q, acks_q = jobs.get_queue("intake"), jobs.get_queue("acks")
        assert intake_q.count == 1  # one triage job asked for, not one per delivery
        assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 0  # stored, answered, not yet triaged
        SimpleWorker([intake_q], connection=intake_q.connection, serializer=JSONSerializer).work(burst=True)
        assert acks_q.count == 1  # the acknowledgement: on its own queue (issue 16)
        SimpleWorker([acks_q], connection=acks_q.connection, serializer=JSONSerializer).work(burst=True)
    finally:
        app.config["REDIS_URL"] = None
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 1
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket is not None and len(fake.sent) == 1 and ticket.number in fake.sent[0].text
    assert db.session.scalar(db.select(Reply.state)) == "sent"
