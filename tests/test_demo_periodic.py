"""The embedded demo (`make run`: SQLite, no Redis) has no worker and no scheduler: `flask simulate` runs the
periodic jobs in-process between messages, so a burst's held acknowledgement goes out after its window even
when no further message comes."""
from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.fakes import telegram as updates
from app.jobs import schedule
from app.models import utcnow
from tests.test_intake_rules import TG_USER, only_ticket, tg, tg_texts


def test_without_redis_the_held_acknowledgement_goes_out_once_its_window_has_passed(
        app, client, tg_config, fake_tg, burst):
    assert not app.config.get("REDIS_URL")
    tg(client, updates.private_message(TG_USER, "Во дворе ул. Лесная, 7 не вывозят мусор", message_id=70))
    ticket = only_ticket()
    assert ticket.ack_due_at is not None and tg_texts(fake_tg) == []  # held for the burst window
    last_run: dict = {}
    ran = schedule.run_due_inline(last_run)
    assert "app.jobs.intake.sweep" in ran and tg_texts(fake_tg) == []  # the window has not passed yet
    ticket.ack_due_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert schedule.run_due_inline(last_run) == []  # nothing is due again so soon
    last_run.pop("app.jobs.intake.sweep")  # the 30-second intake sweep sends due acknowledgements
    assert schedule.run_due_inline(last_run) == ["app.jobs.intake.sweep"]
    [ack] = tg_texts(fake_tg)
    assert ticket.number in ack


def test_a_failing_periodic_job_stops_no_other(app, monkeypatch):
    calls = []
    monkeypatch.setattr(schedule, "PERIODIC", (schedule.Periodic("tests.nowhere.job", "default", 60),
                                               schedule.Periodic("app.jobs.intake.send_acks", "intake", 60)))
    monkeypatch.setattr(schedule, "resolve", lambda path: (lambda: calls.append(path) or 1 / 0)
                        if path.startswith("tests.") else (lambda: calls.append(path)))
    assert schedule.run_due_inline({}) == ["app.jobs.intake.send_acks"]
    assert calls == ["tests.nowhere.job", "app.jobs.intake.send_acks"]
