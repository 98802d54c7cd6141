"""Intake in batches (issue 16): messages stored exactly once under duplicates inside one delivery and across
concurrent webhooks (real PostgreSQL), one failing message of a triage batch loses no other, and the
acknowledgements go on their own queue, which a worker serves while intake jobs are still waiting."""
import threading

import pytest

from app import channels
from app.extensions import db
from app.jobs import QUEUES
from app.models import Message, Reply, Resident, Ticket, TicketCounter
from app.services import intake, repeats
from app.services.intake import triage as intake_triage
from tests.support import wipe_tables
from tests.test_intake_core import FakeAdapter, post


@pytest.fixture
def fake(monkeypatch):
    adapter = FakeAdapter()
    monkeypatch.setitem(channels._cache, "telegram", adapter)
    return adapter


def _account():
    from tests.factories import make_account, make_institution

    acc = make_account(make_institution(name="МУП «Водоканал» г. Белогорск"), network="telegram")
    acc.external_id = "100"
    db.session.flush()
    return acc


def test_duplicates_inside_one_delivery_are_stored_once(fake):
    _account()
    msgs = [FakeAdapter.message(1, text="Нет воды на ул. Кирова, 45"), FakeAdapter.message(1, text="Нет воды"),
            FakeAdapter.message(2, text="Яма у дома 3", author="u2"), FakeAdapter.message(2, text="Яма", author="u2")]
    new = intake.accept(msgs)
    db.session.commit()
    assert len(new) == 2
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 2
    assert db.session.scalar(db.select(db.func.count(Resident.id))) == 2
    assert intake.accept([FakeAdapter.message(1, text="ещё раз")]) == []  # a re-delivery later: nothing new


@pytest.mark.no_db_rollback
def test_concurrent_webhooks_with_the_same_messages_store_them_once(app, fake):
    """Eight deliveries of the same two updates at the same moment, each its own request and transaction."""
    try:
        _account()
        db.session.commit()
        payload = {"messages": [{"id": 71, "text": "Нет холодной воды на ул. Кирова, 45 третий день"},
                                {"id": 72, "text": "Не горит фонарь у дома 7", "author": "u2"}]}
        barrier = threading.Barrier(8)
        statuses, errors = [], []

        def deliver():
            try:
                with app.app_context():
                    client = app.test_client()
                    barrier.wait()
                    statuses.append(post(client, payload).status_code)
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=deliver) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert statuses == [200] * 8
        db.session.expire_all()
        assert sorted(db.session.scalars(db.select(Message.external_id))) == ["71", "72"]
        assert db.session.scalar(db.select(db.func.count(Resident.id))) == 2
        while intake.triage_pending():  # whatever the requests' own triage left
            db.session.commit()
        db.session.commit()
        assert db.session.scalar(db.select(db.func.count(Ticket.id))) == 2  # one ticket each, never two
    finally:
        db.session.rollback()
        wipe_tables()


def test_a_failing_message_does_not_lose_the_rest_of_its_batch(fake, monkeypatch):
    _account()
    texts = ["Нет холодной воды на ул. Кирова, 45", "СБОЙ: не горит фонарь у дома 7", "Яма во дворе дома 3"]
    real = repeats.on_intake

    def on_intake(ticket, text, now=None):
        if "СБОЙ" in (text or ""):
            raise RuntimeError("boom")
        return real(ticket, text, now)

    monkeypatch.setattr(intake_triage.repeats, "on_intake", on_intake)
    intake.accept([FakeAdapter.message(i, text=t, author=f"u{i}") for i, t in enumerate(texts)])
    db.session.commit()  # without Redis the triage job runs right after the commit, in one batch
    db.session.expire_all()
    tickets = db.session.scalars(db.select(Ticket).order_by(Ticket.id)).all()
    assert [t.summary for t in tickets] == [texts[0], texts[2]]
    failed = db.session.scalar(db.select(Message).where(Message.text == texts[1]))
    assert failed.triaged_at is not None and failed.ticket_id is None
    assert failed.noise_reason == intake_triage.TRIAGE_FAILED  # set aside for a moderator, not retried forever
    assert failed in intake.noise_pile()
    assert intake.untriaged_count() == 0
    assert len(fake.sent) == 2  # the two tickets were acknowledged
    # the batch was taken again one by one: its numbers leave no gap and no stand-in is left
    assert _serials(tickets)[1] == _serials(tickets)[0] + 1
    assert not any(t.number.startswith("~") for t in tickets)


def _serials(tickets):
    return [int(t.number.rsplit("-", 1)[1]) for t in tickets]


def test_a_batch_numbers_its_tickets_in_order_without_gaps_and_acknowledges_them_with_their_numbers(app, fake):
    """The batch's numbers are taken just before its commit (the counter locked for a statement, not the batch):
    what residents and staff see is as before — consecutive numbers in the order of arrival, each in its
    acknowledgement, and the next ticket made elsewhere takes the next number."""
    from tests.factories import make_ticket

    _account()
    texts = ["Нет холодной воды на ул. Кирова, 45", "Не горит фонарь у дома 7", "Яма во дворе дома 3"]
    intake.accept([FakeAdapter.message(i, text=t, author=f"u{i}") for i, t in enumerate(texts)])
    db.session.commit()  # without Redis the triage job runs right after the commit, in one batch
    db.session.expire_all()
    tickets = db.session.scalars(db.select(Ticket).order_by(Ticket.id)).all()
    assert [t.summary for t in tickets] == texts
    prefix, year = app.config["TICKET_PREFIX"], tickets[0].number.split("-")[-2]
    assert all(t.number.startswith(f"{prefix}-{year}-") for t in tickets)
    first = _serials(tickets)[0]
    assert _serials(tickets) == [first, first + 1, first + 2]
    assert db.session.scalar(db.select(TicketCounter.last).where(TicketCounter.year == int(year))) == first + 2
    acks = db.session.scalars(db.select(Reply).where(Reply.kind == "ack").order_by(Reply.ticket_id)).all()
    assert [a.ticket_id for a in acks] == [t.id for t in tickets]
    assert all(f"№ {t.number} " in a.text for t, a in zip(tickets, acks, strict=True))
    assert sorted(r.text for r in fake.sent) == sorted(a.text for a in acks)  # delivered as written
    later = make_ticket()
    db.session.commit()
    assert _serials([later]) == [first + 3]


def test_acknowledgements_have_their_own_queue_served_while_intake_jobs_wait(app, client, fake, redis_url):
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from app import jobs

    _account()
    app.config["REDIS_URL"] = redis_url
    try:
        assert QUEUES[0] == "acks"  # a worker on several queues (worker.py's default: all) takes acks first
        assert post(client, {"messages": [{"id": 1, "text": "Нет воды на ул. Кирова, 45"}]}).status_code == 200
        intake_q, acks_q = jobs.get_queue("intake"), jobs.get_queue("acks")
        SimpleWorker([intake_q], connection=intake_q.connection, serializer=JSONSerializer).work(burst=True)
        assert acks_q.count == 1  # one delivery job for the burst of acknowledgements
        # more arrives: intake has a job waiting when the worker looks at its queues
        assert post(client, {"messages": [{"id": 2, "text": "Яма у дома 3", "author": "u2"}]}).status_code == 200
        assert intake_q.count == 1
        queues = [jobs.get_queue(n) for n in QUEUES]
        SimpleWorker(queues, connection=intake_q.connection, serializer=JSONSerializer).work(burst=True, max_jobs=1)
        assert intake_q.count == 1  # still waiting: the acknowledgement went first
        assert len(fake.sent) == 1
        db.session.expire_all()
        assert db.session.scalar(db.select(Reply.state).where(Reply.kind == "ack")) == "sent"
    finally:
        app.config["REDIS_URL"] = None
