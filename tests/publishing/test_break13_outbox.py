"""Breaking the publishing outbox (issue 13) where a copy is only partly out: «удалить везде» must reach what
the platform already holds of a copy that did not finish (a Telegram album whose text then failed), and say which
copies it cannot know about (unconfirmed). Fixed clock, in-memory network (tests/publishing/engine_support.py)."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Publication
from app.services.publishing import outbox
from app.services.publishing.networks import PublishError
from tests.factories import make_institution, make_user
from tests.publishing.engine_support import NOW, delivery_of, make_account, make_publication

LONG = "\n\n".join(f"Абзац {i}. " + "В субботу в школе пройдёт ярмарка, приходите всей семьёй. " * 8
                   for i in range(1, 5))  # > 1,024: the album goes first, the text as a message of its own


@pytest.fixture
def smm():
    return make_user("smm", institution=make_institution())


def released(pub):
    outbox.release(pub, now=NOW)
    db.session.commit()
    return pub


def fresh(pub) -> Publication:
    return db.session.get(Publication, pub.id, populate_existing=True)


@pytest.mark.parametrize("then", [PublishError("Telegram: бот больше не админ канала.", "no_rights"),
                                  PublishError("Telegram: 502", "unavailable")])
def test_delete_everywhere_deletes_the_album_of_a_copy_whose_text_did_not_go(smm, fakenet, outbox_jobs, pub_clock,
                                                                           upload_dir, then):
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk], text=LONG, photos=2, upload_dir=upload_dir))
    fakenet.then(tg, "ok", then)
    outbox.publish_due(pub.id, now=NOW)
    row = delivery_of(pub, tg)
    assert row.state in ("failed", "scheduled") and len(row.parts) == 1  # the album is on the channel
    album = row.parts[0]
    pub = fresh(pub)
    pub.state = "done"  # the author sees it published (VK) and deletes it everywhere
    db.session.commit()
    results = outbox.apply_delete(fresh(pub))
    assert results[row.id] is None
    assert (tg.id, [album]) in [(d[1], d[2]) for d in fakenet.deletes]  # the album does not stay on the channel
    assert delivery_of(pub, tg).state == "deleted" and delivery_of(pub, vk).state == "deleted"
    assert outbox.publish_due(pub.id, now=NOW.replace(hour=5)) == {}


def test_delete_everywhere_says_which_unconfirmed_copy_it_cannot_know_about(smm, fakenet, outbox_jobs, pub_clock):
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk]))
    fakenet.then(tg, "accept_then_raise")  # Telegram took it, the answer was lost
    outbox.publish_due(pub.id, now=NOW)
    row = delivery_of(pub, tg)
    assert row.state == "unconfirmed" and not row.parts
    results = outbox.apply_delete(fresh(pub))
    assert results[row.id] and "вручную" in results[row.id] and tg.title in results[row.id]
    assert delivery_of(pub, tg).change_error == results[row.id]
    assert delivery_of(pub, vk).state == "deleted"


# --- a slow worker whose row was recovered and taken by another -------------------------------------------------
def during_first_send(fakenet, monkeypatch, hook):
    """Run `hook` inside the first send_part call (the platform is slow: recovery and another worker act meanwhile)."""
    make = fakenet.module
    fired = []

    def module(network):
        real = make(network)

        class Slow:
            def __getattr__(self, name):
                return getattr(real, name)

            def send_part(self, *args, **kwargs):
                if not fired:
                    fired.append(True)
                    outcome = hook()
                    if isinstance(outcome, Exception):
                        raise outcome
                return real.send_part(*args, **kwargs)
        return Slow()
    monkeypatch.setattr(outbox.networks, "module", module)


def test_a_slow_worker_s_late_error_leaves_the_row_to_the_worker_that_took_it(smm, fakenet, outbox_jobs, pub_clock,
                                                                            monkeypatch):
    from datetime import timedelta

    from app.models import Account, Notification
    vk = make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [vk]))
    row_id = delivery_of(pub, vk).id
    later = NOW + timedelta(minutes=11)

    def meanwhile():
        assert outbox.recover_stale(later) == {"retried": 1, "unconfirmed": 0}  # VK: scheduled again
        assert outbox._claim(row_id, later)  # another worker took it and is sending now
        return PublishError("ВКонтакте: у ключа нет права wall.", "no_rights")  # the first worker's late answer
    during_first_send(fakenet, monkeypatch, meanwhile)
    assert outbox.deliver(row_id, now=NOW) == "sending"
    row = delivery_of(pub, vk)
    assert row.state == "sending" and row.attempts == 2  # the second worker's, untouched
    assert db.session.get(Account, vk.id, populate_existing=True).publish_ok is not False
    assert db.session.query(Notification).count() == 0


def test_a_slow_worker_s_late_success_is_not_recorded_twice(smm, fakenet, outbox_jobs, pub_clock, monkeypatch):
    from datetime import timedelta
    vk = make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [vk]))
    row_id = delivery_of(pub, vk).id
    later = NOW + timedelta(minutes=11)

    def meanwhile():
        outbox.recover_stale(later)
        assert outbox.deliver(row_id, now=later) == "published"  # the second worker, whole
    during_first_send(fakenet, monkeypatch, meanwhile)
    assert outbox.deliver(row_id, now=NOW) == "published"
    row = delivery_of(pub, vk)
    assert len(fakenet.sends_to(vk)) == 1  # VK deduped the guid
    assert row.parts == [[row.external_id]]  # one part, recorded once
    pub = fresh(pub)
    pub.state = "done"
    db.session.commit()
    assert outbox.apply_delete(fresh(pub)) == {row_id: None}
    assert [d[2] for d in fakenet.deletes] == [[[row.external_id]]]


# --- an account's remembered refusal after its token is entered again -----------------------------------------
def test_a_new_token_clears_the_refusal_the_old_one_left_on_the_account(smm, fakenet, outbox_jobs, pub_clock,
                                                                        monkeypatch, app):
    # VK said «bad token»: the account is refused beforehand for every next post («введите токен заново»). The
    # smm enters a new token on the account's page — the next post must be tried, not refused by the old verdict.
    from app.models import Account
    from app.services.accounts import platforms, registry
    vk = make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [vk]))
    fakenet.then(vk, PublishError("ВКонтакте: ключ доступа недействителен — введите его заново.", "bad_token"))
    outbox.publish_due(pub.id, now=NOW)
    assert db.session.get(Account, vk.id, populate_existing=True).publish_ok is False
    monkeypatch.setattr(platforms, "check_token", lambda *a, **k: "может публиковать на стене")
    registry.save_credentials(smm, smm.institution, vk, app.config, token="vk1.a.new-token-0123456789")
    db.session.commit()
    account = db.session.get(Account, vk.id, populate_existing=True)
    assert account.publish_ok is None and account.publish_reason is None  # not known until asked again
    later = released(make_publication(smm, [vk]))
    assert delivery_of(later, vk).state == "scheduled"
    assert outbox.publish_due(later.id, now=NOW) == {"published": 1}


def test_an_account_switched_off_after_scheduling_gets_nothing_and_the_author_is_told(smm, fakenet, outbox_jobs,
                                                                                      pub_clock):
    from datetime import timedelta
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk], scheduled_at=NOW + timedelta(hours=1)))
    tg.is_active = False
    db.session.commit()
    assert outbox.publish_due(pub.id, now=NOW + timedelta(hours=1)) == {"failed": 1, "published": 1}
    row = delivery_of(pub, tg)
    assert "отключён" in row.last_error and tg.title in row.last_error and fakenet.sends_to(tg) == []
    assert fresh(pub).state == "done"
