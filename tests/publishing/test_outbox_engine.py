"""The publishing outbox (issue 13, item 3 «Delivery you can trust» and «Done when» at the engine's level), on
PostgreSQL with an in-memory network (tests/publishing/engine_support.py): exactly once per account, a crash
between the platform's acceptance and our commit, a 429, a missing right, a scheduled post published once by two
schedulers, resend, partial parts, edit / delete, the publication's state. No test reads the wall clock."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.channels.base import IncomingPost
from app.extensions import db
from app.models import Account, Delivery, Notification, Post, Publication
from app.services.accounts import posts as content
from app.services.errors import InvalidTransition
from app.services.publishing import outbox
from app.services.publishing.networks import PublishError, Rights
from tests.factories import make_institution, make_user
from tests.publishing.engine_support import NOW, WorkerDied, delivery_of, make_account, make_publication
from tests.support import wipe_tables

LONG = "\n\n".join(f"Абзац {i}. " + "В субботу в школе пройдёт ярмарка, приходите всей семьёй. " * 8
                   for i in range(1, 5))  # > 1,024: a caption is too short for it


@pytest.fixture
def smm():
    return make_user("smm", institution=make_institution())


def four(smm, **kw):
    return [make_account(smm.institution, net, **kw) for net in ("telegram", "vk", "ok", "max")]


def released(pub, now=NOW):
    outbox.release(pub, now=now)
    db.session.commit()
    return pub


def states(pub):
    return {d.account_id: d.state for d in db.session.scalars(
        select(Delivery).where(Delivery.publication_id == pub.id).execution_options(populate_existing=True))}


def fresh(pub) -> Publication:
    return db.session.get(Publication, pub.id, populate_existing=True)


# --- release: scheduled, or refused beforehand ----------------------------------------------------------------
def test_release_schedules_the_due_rows_and_refuses_beforehand_what_cannot_go(smm, fakenet, outbox_jobs, pub_clock,
                                                                               upload_dir):
    tg = make_account(smm.institution, "telegram")
    vk_text_only = make_account(smm.institution, "vk", user_token=False)
    no_rights = make_account(smm.institution, "max", publish_ok=False,
                             publish_reason="бот не добавлен в канал")
    ok_no_photos = make_account(smm.institution, "ok", publish_photos_ok=False,
                                publish_reason="приложению не выдано право GROUP_CONTENT на фото")
    other = make_account(smm.institution, "other")
    off = make_account(smm.institution, "telegram", is_active=False)
    pub = make_publication(smm, [tg, vk_text_only, no_rights, ok_no_photos, other, off], photos=2,
                           upload_dir=upload_dir)

    released(pub)

    rows = {d.account_id: d for d in fresh(pub).deliveries}
    assert rows[tg.id].state == "scheduled" and rows[tg.id].next_attempt_at == NOW
    assert rows[tg.id].guid == f"om-pub{pub.id}-acc{tg.id}"
    vk_row = rows[vk_text_only.id]
    assert vk_row.state == "refused" and "ошибка VK 27" in vk_row.last_error
    assert vk_row.last_error.startswith(f"ВКонтакте «{vk_text_only.title}»")
    assert "ключ пользователя" in vk_row.last_error
    assert rows[no_rights.id].state == "refused"
    assert rows[no_rights.id].last_error == (f"MAX «{no_rights.title}»: публиковать нельзя — бот не добавлен в "
                                             "канал. Выдайте права и проверьте аккаунт заново.")
    assert rows[ok_no_photos.id].state == "refused" and "GROUP_CONTENT" in rows[ok_no_photos.id].last_error
    assert rows[other.id].state == "refused" and "вручную" in rows[other.id].last_error
    assert rows[off.id].state == "refused" and "отключён" in rows[off.id].last_error
    assert fresh(pub).state == "scheduled"
    assert outbox_jobs == [("app.jobs.publishing.publish_due", (pub.id,),
                     {"queue": "default", "job_id": f"publish-due-{pub.id}"})]
    assert fakenet.calls == []  # nothing sent by release itself


def test_a_text_post_still_goes_to_a_vk_account_without_a_user_token(smm, fakenet, outbox_jobs, pub_clock):
    vk = make_account(smm.institution, "vk", user_token=False)
    pub = released(make_publication(smm, [vk]))
    assert delivery_of(pub, vk).state == "scheduled"
    outbox.publish_due(pub.id, now=NOW)
    assert delivery_of(pub, vk).state == "published" and len(fakenet.sends_to(vk)) == 1


def test_the_plan_refuses_a_text_too_long_for_vk_beforehand(smm, fakenet, outbox_jobs, pub_clock):
    vk, tg = make_account(smm.institution, "vk"), make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [vk, tg], text="Очень длинный текст. " * 900))
    assert delivery_of(pub, vk).state == "refused" and "не делит пост" in delivery_of(pub, vk).last_error
    assert delivery_of(pub, tg).state == "scheduled"  # Telegram splits it into messages


def test_a_future_post_waits_for_its_moment(smm, fakenet, outbox_jobs, pub_clock):
    tg = make_account(smm.institution, "telegram")
    at = NOW + timedelta(hours=3)
    pub = released(make_publication(smm, [tg], scheduled_at=at))
    assert delivery_of(pub, tg).next_attempt_at == at
    assert outbox_jobs[0][2]["delay"] == 3 * 3600
    assert outbox.publish_due(pub.id, now=NOW) == {} and fakenet.calls == []
    assert outbox.deliver(delivery_of(pub, tg).id, now=NOW) == "scheduled"  # a stray job: not yet
    assert outbox.due_publications(NOW) == []
    assert outbox.due_publications(at) == [pub.id]
    outbox.publish_due(pub.id, now=at)
    assert delivery_of(pub, tg).state == "published" and delivery_of(pub, tg).published_at == at


# --- publishing now, end to end in-process ------------------------------------------------------------------
def test_publish_now_goes_out_everywhere_with_links_and_joins_the_content_accounting(smm, fakenet, pub_clock,
                                                                                     upload_dir):
    accounts = four(smm)
    pub = make_publication(smm, accounts, photos=2, upload_dir=upload_dir)
    outbox.release(pub)
    db.session.commit()  # publish_due runs after the commit (in-process without Redis)

    pub = fresh(pub)
    assert pub.state == "done" and pub.published_at == NOW
    for account in accounts:
        row = delivery_of(pub, account)
        assert row.state == "published" and row.attempts == 1 and row.published_at == NOW
        assert row.external_id and row.permalink.endswith(row.external_id) and row.last_error is None
        post = db.session.get(Post, row.post_id)
        assert (post.account_id, post.external_id, post.source) == (account.id, row.external_id, "app")
        assert post.text == pub.text and post.media_count == 2 and post.permalink == row.permalink
        assert len(fakenet.sends_to(account)) == 1
    tg_row = delivery_of(pub, accounts[0])
    assert tg_row.parts == [fakenet.sends_to(accounts[0])[0].ids] and len(tg_row.parts[0]) == 2  # the album
    assert fakenet.sends_to(accounts[1])[0].guid == f"om-pub{pub.id}-acc{accounts[1].id}"


def test_a_channel_post_echo_and_a_comment_find_the_published_row(smm, fakenet, outbox_jobs, pub_clock):
    tg = make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [tg]))
    outbox.publish_due(pub.id, now=NOW)
    row = delivery_of(pub, tg)
    echoed = content.store([IncomingPost(network="telegram", external_id=row.external_id, account_ref=tg.external_id,
                                         published_at=NOW, text=pub.text, permalink=row.permalink)])
    commented = content.link_comment(IncomingPost(network="telegram", external_id=row.external_id,
                                                  account_ref=tg.external_id, text=pub.text))
    assert echoed == [row.post_id] and commented == row.post_id
    assert db.session.scalar(select(func.count(Post.id)).where(Post.account_id == tg.id)) == 1
    assert db.session.get(Post, row.post_id).source == "app"


# --- parts, 429, backoff ---------------------------------------------------------------------------------------
def test_a_429_on_part_two_keeps_part_one_and_waits_the_retry_after(smm, fakenet, outbox_jobs, pub_clock, upload_dir):
    tg = make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [tg], text=LONG, photos=2, upload_dir=upload_dir))  # album + text message
    fakenet.then(tg, "ok", PublishError("Telegram просит подождать 7 с.", "rate_limited", 7))

    assert outbox.publish_due(pub.id, now=NOW) == {"scheduled": 1}
    row = delivery_of(pub, tg)
    assert row.state == "scheduled" and len(row.parts) == 1 and row.next_attempt_at == NOW + timedelta(seconds=7)
    assert row.last_error == "Telegram просит подождать 7 с." and fresh(pub).state == "publishing"
    assert outbox_jobs[-1] == ("app.jobs.publishing.deliver", (row.id,),
                        {"queue": "default", "job_id": f"publish-{row.id}-1", "delay": 7.0})

    assert outbox.deliver(row.id, now=NOW + timedelta(seconds=6)) == "scheduled"  # not before Telegram's 7 s
    assert len(fakenet.calls) == 2
    assert outbox.deliver(row.id, now=NOW + timedelta(seconds=7)) == "published"
    assert outbox.deliver(row.id, now=NOW + timedelta(minutes=5)) == "published"  # a stray twin: nothing

    assert [(c[2]) for c in fakenet.calls_to(tg)] == [0, 1, 1]  # part 1 (the album) once
    posted = fakenet.sends_to(tg)
    assert [(p.part, p.method, p.photos) for p in posted] == [(0, "sendMediaGroup", 2), (1, "sendMessage", 0)]
    row = delivery_of(pub, tg)
    assert row.parts == [posted[0].ids, posted[1].ids] and row.external_id == posted[0].ids[0]
    assert row.published_at == NOW + timedelta(seconds=7) and fresh(pub).state == "done"


def test_rate_limits_are_waited_and_not_counted_as_failures(smm, fakenet, outbox_jobs, pub_clock):
    mx = make_account(smm.institution, "max")
    pub = released(make_publication(smm, [mx]))
    fakenet.then(mx, *[PublishError("MAX: 429.", "rate_limited", 2) for _ in range(outbox.MAX_ATTEMPTS + 2)])
    now = NOW
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        assert outbox.deliver(delivery_of(pub, mx).id, now=now) == "scheduled"
        now = delivery_of(pub, mx).next_attempt_at
    assert outbox.deliver(delivery_of(pub, mx).id, now=now) == "published"
    assert len(fakenet.sends_to(mx)) == 1


def test_unavailable_is_retried_with_backoff_then_failed_and_the_author_told_once(smm, fakenet, outbox_jobs, pub_clock):
    ok = make_account(smm.institution, "ok")
    pub = released(make_publication(smm, [ok]))
    fakenet.then(ok, *[PublishError("Одноклассники ответили ошибкой 500.", "unavailable")
                       for _ in range(outbox.MAX_ATTEMPTS)])
    now, waits = NOW, []
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        assert outbox.deliver(delivery_of(pub, ok).id, now=now) == "scheduled"
        waits.append((delivery_of(pub, ok).next_attempt_at - now).total_seconds())
        now = delivery_of(pub, ok).next_attempt_at
    assert waits == [10, 30, 120, 600, 1800]
    assert db.session.scalar(select(func.count(Notification.id))) == 0  # retries tell nobody
    assert outbox.deliver(delivery_of(pub, ok).id, now=now) == "failed"
    row = delivery_of(pub, ok)
    assert row.last_error == "Одноклассники ответили ошибкой 500." and row.attempts == outbox.MAX_ATTEMPTS
    notes = db.session.scalars(select(Notification)).all()
    assert [(n.user_id, n.publication_id, n.kind) for n in notes] == [(smm.id, pub.id, "publication_failed")]
    assert fresh(pub).state == "done"


def test_what_was_uploaded_is_kept_when_the_call_fails_and_not_uploaded_again(smm, fakenet, outbox_jobs, pub_clock,
                                                                              upload_dir):
    vk = make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [vk], photos=3, upload_dir=upload_dir))
    fakenet.then(vk, "upload_then_fail")
    assert outbox.publish_due(pub.id, now=NOW) == {"scheduled": 1}
    row = delivery_of(pub, vk)
    assert row.uploaded["vk"] == ["photo0", "photo1", "photo2"]
    outbox.deliver(row.id, now=row.next_attempt_at)
    assert delivery_of(pub, vk).state == "published"
    assert [c for c in fakenet.calls_to(vk) if c[3] == "upload"] == []  # the retry posted the photos uploaded


# --- a missing right --------------------------------------------------------------------------------------------
def test_a_missing_right_fails_that_account_with_the_sentence_and_the_others_are_published(smm, fakenet, outbox_jobs,
                                                                                           pub_clock):
    tg, vk, ok, mx = four(smm)
    pub = released(make_publication(smm, [tg, vk, ok, mx]))
    why = (f"Telegram «{tg.title}»: бот не администратор канала с правом публикации — добавьте его в "
           "администраторы канала.")
    fakenet.then(tg, PublishError(why, "no_rights"))
    outbox.publish_due(pub.id, now=NOW)
    assert states(pub) == {tg.id: "failed", vk.id: "published", ok.id: "published", mx.id: "published"}
    assert delivery_of(pub, tg).last_error == why
    account = db.session.get(Account, tg.id)
    assert account.publish_ok is False and account.publish_reason == why
    assert fresh(pub).state == "done"
    note = db.session.scalar(select(Notification))
    assert note.publication_id == pub.id and why in note.text

    later = released(make_publication(smm, [tg, vk]))  # the next post is refused beforehand
    assert delivery_of(later, tg).state == "refused" and why.split(": ", 1)[1].rstrip(".") in \
        delivery_of(later, tg).last_error


def test_a_module_breaking_mid_call_leaves_that_copy_unconfirmed_and_stops_no_other(smm, fakenet, outbox_jobs,
                                                                                     pub_clock):
    tg, vk, ok, mx = four(smm)
    pub = released(make_publication(smm, [tg, vk, ok, mx]))
    fakenet.then(tg, RuntimeError("a bug"))
    fakenet.then(vk, RuntimeError("a bug"))
    outbox.publish_due(pub.id, now=NOW)
    assert states(pub) == {tg.id: "unconfirmed", vk.id: "scheduled", ok.id: "published", mx.id: "published"}
    assert "сбой при отправке (RuntimeError)" in delivery_of(pub, tg).last_error


def test_a_photo_upload_refused_forbids_photos_only_and_text_posts_still_go(smm, fakenet, outbox_jobs, pub_clock,
                                                                            upload_dir):
    vk = make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [vk], photos=1, upload_dir=upload_dir))
    why = f"ВКонтакте «{vk.title}»: загрузка фото запрещена (ошибка 27) — нужен ключ администратора."
    fakenet.then(vk, PublishError(why, "no_rights"))
    outbox.publish_due(pub.id, now=NOW)
    account = db.session.get(Account, vk.id)
    assert (account.publish_ok, account.publish_photos_ok, account.publish_reason) == (None, False, why)
    photo_post = released(make_publication(smm, [vk], photos=1, upload_dir=upload_dir))
    text_post = released(make_publication(smm, [vk]))
    assert delivery_of(photo_post, vk).state == "refused" and delivery_of(text_post, vk).state == "scheduled"


def test_an_unreadable_secret_fails_with_a_sentence(smm, fakenet, outbox_jobs, pub_clock):
    vk = make_account(smm.institution, "vk")
    vk.token_enc = "not-a-fernet-token"
    pub = released(make_publication(smm, [vk]))
    assert outbox.publish_due(pub.id, now=NOW) == {"failed": 1}
    assert "введите токен заново" in delivery_of(pub, vk).last_error and fakenet.calls == []


def test_a_missing_photo_file_fails_with_a_sentence(smm, fakenet, outbox_jobs, pub_clock, upload_dir):
    tg = make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [tg], photos=1, upload_dir=None))  # rows, no files
    assert outbox.publish_due(pub.id, now=NOW) == {"failed": 1}
    assert "Фото №1 не найдено" in delivery_of(pub, tg).last_error


# --- a crash between the platform's acceptance and our commit ------------------------------------------------
@pytest.mark.parametrize("network", ["telegram", "ok", "max"])
def test_a_crash_after_acceptance_is_unconfirmed_and_never_sent_again_blindly(smm, fakenet, outbox_jobs, pub_clock,
                                                                              network):
    account = make_account(smm.institution, network)
    pub = released(make_publication(smm, [account]))
    fakenet.then(account, "accept_then_die")
    row_id = delivery_of(pub, account).id
    with pytest.raises(WorkerDied):
        outbox.deliver(row_id, now=NOW)
    db.session.rollback()
    assert delivery_of(pub, account).state == "sending"  # committed before the call

    assert outbox.recover_stale(NOW + timedelta(minutes=1)) == {"retried": 0, "unconfirmed": 0}  # maybe alive
    assert outbox.recover_stale(NOW + timedelta(minutes=11)) == {"retried": 0, "unconfirmed": 1}
    row = delivery_of(pub, account)
    assert row.state == "unconfirmed" and row.last_error.startswith("Не подтверждено:")
    assert "Отправить ещё раз" in row.last_error
    later = NOW + timedelta(hours=1)
    outbox.recover_stale(later)
    assert outbox.due_publications(later) == [] and outbox.publish_due(pub.id, now=later) == {}
    assert outbox.deliver(row_id, now=later) == "unconfirmed"
    assert len(fakenet.sends_to(account)) == 1 and len(fakenet.calls) == 1
    assert fresh(pub).state == "done"
    note = db.session.scalar(select(Notification))
    assert note.kind == "publication_failed" and "Не подтверждено" in note.text

    outbox.resend(row, now=later)  # the author checked: it is not there
    db.session.commit()
    assert fresh(pub).state == "publishing"
    assert outbox_jobs[-1][0] == "app.jobs.publishing.deliver"
    assert outbox.deliver(row_id, now=later) == "published"
    assert len(fakenet.sends_to(account)) == 2  # sent again only because the author said so


def test_a_crash_on_vk_is_retried_with_the_same_guid_and_makes_one_post(smm, fakenet, outbox_jobs, pub_clock,
                                                                        upload_dir):
    vk = make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [vk], photos=1, upload_dir=upload_dir))
    fakenet.then(vk, "accept_then_die")
    with pytest.raises(WorkerDied):
        outbox.publish_due(pub.id, now=NOW)
    db.session.rollback()
    assert outbox.recover_stale(NOW + timedelta(minutes=11)) == {"retried": 1, "unconfirmed": 0}
    assert outbox.due_publications(NOW + timedelta(minutes=11)) == [pub.id]
    outbox.publish_due(pub.id, now=NOW + timedelta(minutes=11))
    row = delivery_of(pub, vk)
    assert row.state == "published" and row.attempts == 2
    sends = [c for c in fakenet.calls_to(vk) if c[3] != "upload"]
    assert len(sends) == 2 and {c[3] for c in sends} == {f"om-pub{pub.id}-acc{vk.id}"}
    assert len(fakenet.sends_to(vk)) == 1 and row.external_id == fakenet.sends_to(vk)[0].ids[0]


def test_an_uncertain_answer_is_unconfirmed_on_telegram_and_retried_on_vk(smm, fakenet, outbox_jobs, pub_clock):
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk]))
    fakenet.then(tg, "accept_then_raise")
    fakenet.then(vk, "accept_then_raise")
    outbox.publish_due(pub.id, now=NOW)
    assert states(pub) == {tg.id: "unconfirmed", vk.id: "scheduled"}
    assert "не ответила вовремя" in delivery_of(pub, tg).last_error
    outbox.publish_due(pub.id, now=delivery_of(pub, vk).next_attempt_at)
    assert states(pub) == {tg.id: "unconfirmed", vk.id: "published"}
    assert len(fakenet.sends_to(vk)) == 1 and len(fakenet.sends_to(tg)) == 1


def test_a_partly_sent_post_resent_sends_only_the_rest(smm, fakenet, outbox_jobs, pub_clock, upload_dir):
    tg = make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [tg], text=LONG, photos=2, upload_dir=upload_dir))
    fakenet.then(tg, "ok", "accept_then_die")
    with pytest.raises(WorkerDied):
        outbox.publish_due(pub.id, now=NOW)
    db.session.rollback()
    outbox.recover_stale(NOW + timedelta(minutes=30))
    row = delivery_of(pub, tg)
    assert row.state == "unconfirmed" and len(row.parts) == 1 and "(часть 2)" in row.last_error
    outbox.resend(row, now=NOW + timedelta(minutes=31))
    db.session.commit()
    outbox.deliver(row.id, now=NOW + timedelta(minutes=31))
    assert [p.part for p in fakenet.sends_to(tg)] == [0, 1, 1]  # the album once, the text again (author's call)
    assert delivery_of(pub, tg).state == "published" and len(delivery_of(pub, tg).parts) == 2


def test_resend_only_of_unconfirmed_or_failed(smm, fakenet, outbox_jobs, pub_clock):
    tg = make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [tg]))
    outbox.publish_due(pub.id, now=NOW)
    with pytest.raises(InvalidTransition):
        outbox.resend(delivery_of(pub, tg))


def test_a_resent_failed_row_counts_its_failures_afresh(smm, fakenet, outbox_jobs, pub_clock):
    ok = make_account(smm.institution, "ok")
    pub = released(make_publication(smm, [ok]))
    fakenet.then(ok, PublishError("Одноклассники: нет права GROUP_CONTENT.", "no_rights"))
    outbox.publish_due(pub.id, now=NOW)
    assert delivery_of(pub, ok).state == "failed"
    outbox.resend(delivery_of(pub, ok), now=NOW)
    db.session.commit()
    fakenet.then(ok, PublishError("500", "unavailable"))
    assert outbox.deliver(delivery_of(pub, ok).id, now=NOW) == "scheduled"  # a retry, not given up at once
    assert outbox.deliver(delivery_of(pub, ok).id, now=NOW + timedelta(seconds=10)) == "published"


# --- the publication's state, cancel, notifications ---------------------------------------------------------
def test_rollup():
    r = outbox.rollup
    assert r("scheduled", [("scheduled", 0), ("refused", 0)]) == "scheduled"
    assert r("scheduled", [("scheduled", 1), ("published", 1)]) == "publishing"
    assert r("scheduled", [("sending", 1)]) == "publishing"
    assert r("scheduled", [("scheduled", 1)]) == "publishing"  # tried, waiting for a retry
    assert r("publishing", [("published", 1), ("failed", 6), ("refused", 0), ("unconfirmed", 1)]) == "done"
    assert r("scheduled", [("refused", 0)]) == "done"
    assert r("draft", [("waiting", 0)]) == "draft" and r("cancelled", [("cancelled", 0)]) == "cancelled"
    assert r("deleted", [("deleted", 1)]) == "deleted" and r("scheduled", []) == "scheduled"


def test_cancel_stops_what_has_not_gone_out(smm, fakenet, outbox_jobs, pub_clock):
    tg, vk, ok = (make_account(smm.institution, n) for n in ("telegram", "vk", "ok"))
    pub = released(make_publication(smm, [tg, vk, ok], scheduled_at=NOW + timedelta(days=1)))
    delivery_of(pub, ok).state = "sending"
    outbox.cancel(fresh(pub))
    db.session.commit()
    assert states(pub) == {tg.id: "cancelled", vk.id: "cancelled", ok.id: "sending"}
    assert outbox.publish_due(pub.id, now=NOW + timedelta(days=2)) == {}


def test_several_failures_of_one_post_make_one_notification(smm, fakenet, outbox_jobs, pub_clock):
    tg, mx = make_account(smm.institution, "telegram"), make_account(smm.institution, "max")
    pub = released(make_publication(smm, [tg, mx]))
    fakenet.then(tg, PublishError(f"Telegram «{tg.title}»: канал не найден.", "not_found"))
    fakenet.then(mx, PublishError(f"MAX «{mx.title}»: бот не в канале.", "no_rights"))
    outbox.publish_due(pub.id, now=NOW)
    notes = db.session.scalars(select(Notification)).all()
    assert len(notes) == 1 and "канал не найден" in notes[0].text and "бот не в канале" in notes[0].text
    assert notes[0].text.startswith("Пост «Завтра в школе день открытых дверей.» ушёл не везде.")


# --- rights -------------------------------------------------------------------------------------------------
def test_check_rights_stores_the_answer(smm, fakenet, pub_clock):
    vk, tg, ok = (make_account(smm.institution, n) for n in ("vk", "telegram", "ok"))
    fakenet.rights[vk.id] = Rights(True, False, "Ключ сообщества публикует только текст: для фото нужен ключ "
                                                "пользователя (ошибка VK 27).")
    fakenet.rights[tg.id] = PublishError("Telegram: бот не администратор канала — добавьте его.", "no_rights")
    got = outbox.check_rights(vk)
    assert got.can_post and not got.can_post_photos
    assert (vk.publish_ok, vk.publish_photos_ok, vk.publish_checked_at) == (True, False, NOW)
    assert "ошибка VK 27" in vk.publish_reason
    outbox.check_rights(tg)
    assert (tg.publish_ok, tg.publish_photos_ok, tg.publish_reason) == (
        False, False, "Telegram: бот не администратор канала — добавьте его.")
    outbox.check_rights(ok)
    assert (ok.publish_ok, ok.publish_photos_ok) == (True, True)
    other = make_account(smm.institution, "other")
    assert outbox.check_rights(other).can_post is False and other.publish_ok is False


def test_a_rights_check_the_platform_did_not_answer_changes_nothing_stored(smm, fakenet, pub_clock):
    tg = make_account(smm.institution, "telegram", publish_ok=True, publish_photos_ok=True)
    fakenet.rights[tg.id] = PublishError("Telegram не ответил вовремя: попробуйте ещё раз позже.", "unavailable")
    got = outbox.check_rights(tg)
    assert got.can_post is False and "попробуйте ещё раз позже" in got.reason
    assert (tg.publish_ok, tg.publish_photos_ok, tg.publish_checked_at) == (True, True, None)


def test_check_rights_with_the_network_not_yet_installed_stores_nothing(smm, monkeypatch, pub_clock):
    from app.services.publishing import networks

    def missing(net):
        raise ImportError(net)
    monkeypatch.setattr(networks, "module", missing)
    tg = make_account(smm.institution, "telegram")
    assert outbox.check_rights(tg).can_post is False and tg.publish_ok is None


# --- after publishing: edit and delete ----------------------------------------------------------------------
def test_edit_and_delete_apply_where_the_platform_allows_and_say_where_not(smm, fakenet, outbox_jobs, pub_clock):
    tg, vk, ok, mx = four(smm)
    late = make_account(smm.institution, "telegram")
    pub = released(make_publication(smm, [tg, vk, ok, mx, late]))
    fakenet.then(late, *[PublishError("503", "unavailable")])
    outbox.publish_due(pub.id, now=NOW)
    assert delivery_of(pub, late).state == "scheduled"
    refusal = PublishError(f"Одноклассники «{ok.title}»: тему нельзя изменить через API — измените её вручную.",
                           "no_rights")
    fakenet.change_errors[ok.id] = refusal
    pub = fresh(pub)
    pub.text = "Исправлено: день открытых дверей в воскресенье."
    db.session.commit()

    edited_at = pub_clock.set(NOW + timedelta(hours=1))
    results = outbox.apply_edit(fresh(pub))
    ids = {a.id: delivery_of(pub, a).id for a in (tg, vk, ok, mx)}
    assert results == {ids[tg.id]: None, ids[vk.id]: None, ids[ok.id]: refusal.message, ids[mx.id]: None}
    assert delivery_of(pub, ok).change_error == refusal.message and delivery_of(pub, tg).change_error is None
    assert delivery_of(pub, tg).changed_at == edited_at and fresh(pub).edited_at == edited_at
    assert sorted(e[1] for e in fakenet.edits) == sorted([tg.id, vk.id, mx.id])
    assert fakenet.edits[0][3] == ["Исправлено: день открытых дверей в воскресенье."]
    post = db.session.get(Post, delivery_of(pub, vk).post_id, populate_existing=True)
    assert post.text == "Исправлено: день открытых дверей в воскресенье." and post.edited_at == edited_at
    outbox.deliver(delivery_of(pub, late).id, now=NOW + timedelta(hours=1))  # a row not yet out: the new text
    assert fakenet.sends_to(late)[0].text == "Исправлено: день открытых дверей в воскресенье."

    fakenet.change_errors[ok.id] = PublishError("Одноклассники: удалить не удалось — удалите вручную.", "no_rights")
    results = outbox.apply_delete(fresh(pub))
    assert results[ids[ok.id]] == "Одноклассники: удалить не удалось — удалите вручную."
    assert [results[ids[a.id]] for a in (tg, vk, mx)] == [None, None, None]
    st = states(pub)
    assert (st[tg.id], st[vk.id], st[mx.id], st[ok.id], st[late.id]) == (
        "deleted", "deleted", "deleted", "published", "deleted")
    assert fresh(pub).state == "deleted"
    assert {tuple(map(tuple, d[2])) for d in fakenet.deletes if d[1] == tg.id} == {
        tuple(map(tuple, delivery_of(pub, tg).parts))}


def test_an_edit_before_publishing_re_decides_which_accounts_the_post_can_go_to(smm, fakenet, outbox_jobs,
                                                                                pub_clock):
    vk, tg = make_account(smm.institution, "vk"), make_account(smm.institution, "telegram")
    off = make_account(smm.institution, "max", publish_ok=False, publish_reason="бот не в канале")
    at = NOW + timedelta(days=1)
    pub = released(make_publication(smm, [vk, tg, off], text="Очень длинный текст. " * 900, scheduled_at=at))
    assert states(pub) == {vk.id: "refused", tg.id: "scheduled", off.id: "refused"}
    pub = fresh(pub)
    pub.text = "Короткий текст."
    assert outbox.replan(pub) == {"refused": 0, "scheduled": 1}
    db.session.commit()
    assert states(pub) == {vk.id: "scheduled", tg.id: "scheduled", off.id: "refused"}  # rights still missing
    assert delivery_of(pub, vk).next_attempt_at == at and delivery_of(pub, vk).last_error is None
    pub.text = "Очень длинный текст. " * 900
    assert outbox.apply_edit(fresh(pub)) == {}  # nothing out yet: no copy to edit
    assert states(pub) == {vk.id: "refused", tg.id: "scheduled", off.id: "refused"}


def test_delete_cancels_the_rows_not_yet_out(smm, fakenet, outbox_jobs, pub_clock):
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk]))
    fakenet.then(vk, PublishError("VK: 500", "unavailable"))
    outbox.publish_due(pub.id, now=NOW)
    assert outbox.apply_delete(fresh(pub)) == {delivery_of(pub, tg).id: None}
    assert states(pub) == {tg.id: "deleted", vk.id: "cancelled"}
    assert outbox.publish_due(pub.id, now=NOW + timedelta(hours=1)) == {}


def test_a_job_out_of_time_leaves_the_rest_for_the_next(smm, fakenet, outbox_jobs, pub_clock):
    accounts = four(smm)
    pub = released(make_publication(smm, accounts))
    assert outbox.publish_due(pub.id, now=NOW, budget=0) == {"left": 4}
    assert fakenet.calls == [] and set(states(pub).values()) == {"scheduled"}
    assert outbox.publish_due(pub.id, now=NOW) == {"published": 4}


def test_the_job_hands_the_rest_to_a_job_of_its_own_when_its_time_ran_out(app, smm, fakenet, outbox_jobs,
                                                                          pub_clock, monkeypatch):
    from app.jobs import publishing as job

    accounts = four(smm)
    pub = released(make_publication(smm, accounts))
    asked = []
    monkeypatch.setattr(job, "enqueue", lambda *a, **k: asked.append((a, k)))
    monkeypatch.setitem(app.config, "PUBLISH_JOB_BUDGET", -1)  # spent before the first copy
    assert job.publish_due(pub.id) == {"left": 4}
    assert asked == [(("app.jobs.publishing.publish_due", pub.id), {"queue": "default"})]


# --- the periodic sweep -----------------------------------------------------------------------------------------
def test_the_sweep_is_a_periodic_job_every_minute():
    from app.jobs.schedule import PERIODIC

    assert any(p.path == "app.jobs.publishing.sweep" and p.every == 60 and p.queue == "default" for p in PERIODIC)


def test_the_sweep_job_delivers_a_scheduled_post_whose_moment_came(smm, fakenet, pub_clock):
    from app.jobs import publishing as job

    tg = make_account(smm.institution, "telegram")
    pub = make_publication(smm, [tg], scheduled_at=NOW + timedelta(minutes=30))
    outbox.release(pub)
    db.session.commit()
    assert job.sweep() == 0 and fakenet.calls == []
    pub_clock.set(NOW + timedelta(minutes=30))
    assert job.sweep() == 1  # enqueued (in-process: run at once)
    assert delivery_of(pub, tg).state == "published" and len(fakenet.sends_to(tg)) == 1
    assert job.sweep() == 0


# --- two schedulers at once, on PostgreSQL --------------------------------------------------------------------
@pytest.mark.no_db_rollback
def test_a_scheduled_post_is_published_once_by_two_schedulers_running_at_once(app, fakenet, monkeypatch):
    monkeypatch.setattr(outbox, "enqueue_after_commit", lambda *a, **k: None)
    monkeypatch.setattr(outbox, "utcnow", lambda: NOW)
    try:
        smm = make_user("smm", institution=make_institution())
        accounts = [make_account(smm.institution, net) for net in ("telegram", "vk", "ok", "max") for _ in range(4)]
        pub = make_publication(smm, accounts, scheduled_at=NOW + timedelta(minutes=5))
        outbox.release(pub, now=NOW)
        db.session.commit()
        due = NOW + timedelta(minutes=5)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []
        outcomes: list[dict] = []

        def scheduler(threads: int):
            try:
                with app.app_context():
                    barrier.wait()
                    outbox.recover_stale(due)
                    for pid in outbox.due_publications(due):
                        outcomes.append(outbox.publish_due(pid, now=due, threads=threads))
                    db.session.commit()
                    db.session.remove()
            except BaseException as exc:  # noqa: BLE001 — reported below
                errors.append(exc)

        runs = [threading.Thread(target=scheduler, args=(n,)) for n in (0, 3)]  # one after another; threaded
        for t in runs:
            t.start()
        for t in runs:
            t.join(60)
        assert not errors, errors
        assert sorted(len(fakenet.sends_to(a)) for a in accounts) == [1] * len(accounts)
        assert sorted(fakenet.calls, key=str) == sorted(set(fakenet.calls), key=str)  # no account asked twice
        db.session.expire_all()
        assert set(states(pub).values()) == {"published"}
        assert len(outcomes) == 2  # both schedulers saw the post due and ran it
        pub = fresh(pub)
        assert pub.state == "done" and pub.published_at == due
        assert db.session.scalar(select(func.count(Post.id)).where(Post.source == "app")) == len(accounts)
    finally:
        db.session.rollback()
        wipe_tables()
