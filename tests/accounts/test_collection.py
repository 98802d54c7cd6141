"""Collecting the participants' figures against the local fakes: snapshots per city-time day (a second run the
same day updates), the account's figures, recent posts upserted, avatars; one failing account keeps its reason
and stops nothing else (every network × every failure kind); VK batching through execute; the failure notice once;
the periodic job and the CLI."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.fakes.figures import TROUBLES
from app.jobs import accounts as accounts_job
from app.models import Account, AccountSnapshot, Notification, Post, Reply
from app.services.accounts import collection
from app.services.accounts.platforms import vk as vk_platform
from app.services.accounts.posts import upsert_post
from app.services.secretbox import encrypt
from tests.factories import make_institution, make_user

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=timezone.utc)  # 12:00 in Belogorsk (UTC+9)
EXT = {"telegram": -1001000000001, "vk": 2100001, "ok": 70000000000001, "max": -7000001}


@pytest.fixture(autouse=True)
def uploads(app, tmp_path):
    saved = app.config["UPLOAD_DIR"]
    app.config["UPLOAD_DIR"] = str(tmp_path)
    yield tmp_path
    app.config["UPLOAD_DIR"] = saved


def register(nets, network: str, ext: int, title: str, followers: int, posts: int = 120) -> None:
    if network == "vk":
        nets.vk.add_group(ext, title, screen_name=f"vk{ext}", members=followers, posts=posts)
    elif network == "telegram":
        nets.telegram.add_channel(ext, title, f"tg{abs(ext)}", members=followers)
    elif network == "ok":
        nets.ok.add_group(ext, title, f"ok{ext}", members=followers, themes=posts)
    else:
        nets.max.add_chat(ext, title, f"max{abs(ext)}", members=followers)


def account(nets, network: str, ext: int, followers: int = 1000, institution=None, register_it=True) -> Account:
    title = f"Аккаунт {network} {ext}"
    if register_it:
        register(nets, network, ext, title, followers)
    acc = Account(institution=institution or make_institution(), network=network, handle=f"{network}{abs(ext)}",
                  external_id=str(ext), url=f"https://example.org/{network}/{ext}", title=title,
                  connected_at=NOW - timedelta(days=30))
    db.session.add(acc)
    db.session.flush()
    return acc


@pytest.fixture
def four(nets):
    return {net: account(nets, net, ext, followers=1000 + i * 111) for i, (net, ext) in enumerate(EXT.items())}


def snapshots(acc: Account) -> list[AccountSnapshot]:
    return db.session.scalars(select(AccountSnapshot).where(AccountSnapshot.account_id == acc.id)
                              .order_by(AccountSnapshot.taken_on)).all()


def test_collect_records_a_snapshot_and_the_figures(nets, pace, four, uploads):
    seen = four["telegram"]
    upsert_post(seen.id, "15", published_at=NOW - timedelta(days=2), text="Новость", source="network")
    upsert_post(seen.id, "3", published_at=NOW - timedelta(days=90), text="До подключения", source="network")
    summary = collection.collect_all(now=NOW, pacing=pace)
    assert len(summary.collected) == 4 and not summary.failed
    db.session.expire_all()
    for i, acc in enumerate(four.values()):
        [snap] = snapshots(acc)
        assert snap.taken_on.isoformat() == "2026-11-30" and snap.source == "collector"
        assert snap.followers == acc.followers and acc.followers >= 1000 + i * 111  # the fake's figures move up
        assert acc.collected_at == NOW and acc.collect_error is None
        assert acc.avatar_type == "image/png" and os.path.exists(os.path.join(uploads, acc.avatar_path))
    vk = four["vk"]
    assert vk.posts_source == "api" and vk.posts == nets.vk.audience.posts(EXT["vk"]) == snapshots(vk)[0].posts
    posts = db.session.scalars(select(Post).where(Post.account_id == vk.id)).all()
    assert len(posts) == vk_platform.RECENT_POSTS and all(p.source == "backfill" and p.views is not None
                                                          and p.permalink.startswith("https://vk.com/wall-")
                                                          for p in posts)
    assert four["ok"].posts_source == "api" and four["ok"].posts >= 120
    assert (seen.posts_source, seen.posts) == ("seen", 1)  # only what came since the account was connected
    assert four["max"].posts_source == "seen"


def test_a_second_run_the_same_day_updates_the_row(nets, pace, four):
    nets.vk.audience.set(EXT["vk"], 4000, 700)
    collection.collect_all(now=NOW, pacing=pace)
    nets.now[0] += 6 * 3600  # six hours on: the figures have grown
    nets.vk.audience.set(EXT["vk"], 5000, 700)
    nets.telegram.audience.set(EXT["telegram"], 4321)
    later = NOW + timedelta(hours=6)  # 18:00 in the city: the same day
    collection.collect_all(now=later, pacing=pace)
    db.session.expire_all()
    [vk_day] = snapshots(four["vk"])
    assert (vk_day.followers, vk_day.posts, vk_day.collected_at) == (5000, 700, later)
    assert [s.followers for s in snapshots(four["telegram"])] == [4321]
    posts = db.session.scalar(select(func.count(Post.id)).where(Post.account_id == four["vk"].id))
    assert posts == vk_platform.RECENT_POSTS  # refreshed, never a second row for the same post
    collection.collect_all(now=NOW + timedelta(hours=16), pacing=pace)  # 04:00 next day in the city
    assert [s.taken_on.isoformat() for s in snapshots(four["vk"])] == ["2026-11-30", "2026-12-01"]


def test_posts_from_webhooks_and_backfill_are_one_row(nets, pace, four):
    vk = four["vk"]
    newest = nets.vk.audience.posts(EXT["vk"])
    upsert_post(vk.id, str(newest), published_at=NOW, text="Из wall_post_new", source="network")
    collection.collect_all(now=NOW, pacing=pace)
    post = db.session.scalar(select(Post).where(Post.account_id == vk.id, Post.external_id == str(newest)))
    assert post.source == "network" and post.views is not None  # the first sighting's source, the collector's metrics
    upsert_post(vk.id, str(newest), text="Исправленный текст", source="network")  # an edit without metrics
    db.session.refresh(post)
    assert post.text == "Исправленный текст" and post.views is not None


def test_vk_batches_through_execute(nets, pace):
    inst = make_institution()
    accs = [account(nets, "vk", 3100000 + i, institution=inst) for i in range(30)]
    summary = collection.collect_all(network="vk", now=NOW, pacing=pace)
    assert len(summary.collected) == 30
    assert nets.vk.executes == [25, 7] and all(n <= 25 for n in nets.vk.executes)
    assert {c["method"] for c in nets.vk.calls} == {"execute"}
    assert all(snapshots(a) for a in accs)


def test_a_community_token_is_used_and_paced_apart(nets, pace):
    acc = account(nets, "vk", 3200001)
    nets.vk.add_token("vk1.a.own", group_id=3200001)
    acc.token_enc = encrypt("vk1.a.own")
    other = account(nets, "vk", 3200002)
    collection.collect_all(network="vk", now=NOW, pacing=pace)
    assert len(nets.vk.executes) == 2 and snapshots(acc) and snapshots(other)  # one request per token
    assert len(pace.pacers) == 2


@pytest.mark.parametrize("network", list(EXT))
@pytest.mark.parametrize("how", TROUBLES)
def test_one_failing_account_is_marked_and_the_rest_collected(nets, pace, network, how):
    inst = make_institution()
    broken = account(nets, network, EXT[network], institution=inst)
    fine = account(nets, network, EXT[network] + (1 if EXT[network] > 0 else -1), institution=inst)
    other_net = "vk" if network != "vk" else "telegram"
    elsewhere = account(nets, other_net, EXT[other_net] + 7 if other_net == "vk" else EXT[other_net] - 7)
    nets.fake(network).trouble(EXT[network], how, times=1 if how == "429" else None)
    summary = collection.collect_all(now=NOW, pacing=pace)
    db.session.expire_all()
    assert snapshots(fine) and snapshots(elsewhere) and fine.collect_error is None
    if how == "429":  # waited out (on the injected clock) and collected
        assert snapshots(broken) and broken.collect_error is None and pace.clock_.slept
        return
    assert not snapshots(broken)
    assert broken.collect_error and len(broken.collect_error) <= 500
    assert broken.collect_error_at == NOW and broken.failing_since == NOW
    assert [f.account_id for f in summary.failed] == [broken.id]


def test_a_failure_reason_names_the_platforms_words(nets, pace):
    acc = account(nets, "vk", 3300001)
    nets.vk.trouble(3300001, "no_rights")
    collection.collect_all(now=NOW, pacing=pace)
    assert "ошибка 7" in acc.collect_error and "Permission to perform this action is denied" in acc.collect_error


def test_an_account_without_a_number_id_is_marked(nets, pace):
    acc = account(nets, "vk", 3300002, register_it=False)
    acc.external_id = "club-something"
    collection.collect_all(now=NOW, pacing=pace)
    assert "числового id" in acc.collect_error


def test_success_clears_the_failure(nets, pace):
    acc = account(nets, "ok", 70000000000077)
    nets.ok.trouble(70000000000077, "5xx", times=1)
    collection.collect_all(now=NOW, pacing=pace)
    assert acc.failing_since == NOW and "500" in acc.collect_error
    collection.collect_all(now=NOW + timedelta(hours=6), pacing=pace)
    assert acc.collect_error is None and acc.failing_since is None and snapshots(acc)


def test_the_failure_is_told_once_to_its_smm_and_the_press(nets, pace):
    inst = make_institution()
    account(nets, "max", -7000099, institution=inst)
    nets.max.trouble(-7000099, "no_rights")
    smm = make_user("smm")
    smm.institution_id = inst.id
    smm.telegram_chat_id = "555001"
    other_smm = make_user("smm")
    other_smm.institution_id = make_institution().id
    press = make_user("press")
    db.session.flush()
    collection.collect_all(now=NOW, pacing=pace)
    assert db.session.scalar(select(func.count(Notification.id))) == 0  # not a day yet
    collection.collect_all(now=NOW + timedelta(hours=25), pacing=pace)
    notes = db.session.scalars(select(Notification).where(Notification.kind == "account_failing")).all()
    assert sorted(n.user_id for n in notes) == sorted([smm.id, press.id])
    assert "MAX" in notes[0].text and "с 30.11.2026 12:00" in notes[0].text and "доступа" in notes[0].text
    assert db.session.scalar(select(func.count(Reply.id)).where(Reply.kind == "push")) == 1  # the linked smm
    collection.collect_all(now=NOW + timedelta(hours=31), pacing=pace)
    assert db.session.scalar(select(func.count(Notification.id))) == 2  # once per failure spell
    nets.max.troubles.clear()
    collection.collect_all(now=NOW + timedelta(hours=37), pacing=pace)
    nets.max.trouble(-7000099, "5xx")
    collection.collect_all(now=NOW + timedelta(hours=43), pacing=pace)
    collection.collect_all(now=NOW + timedelta(hours=68), pacing=pace)
    assert db.session.scalar(select(func.count(Notification.id))) == 4  # a new spell, told again


def test_the_periodic_job_collects_due_accounts_once(nets, four, app):
    assert not app.config.get("REDIS_URL")  # enqueue runs the chunk here
    db.session.commit()  # the accounts exist before the job looks (still rolled back after the test)
    assert accounts_job.collect_due() == 4
    db.session.expire_all()
    assert all(snapshots(a) for a in four.values())
    assert accounts_job.collect_due() == 0  # collected just now: nothing due


def test_cli_collect_prints_progress_and_a_summary(nets, four, app):
    nets.ok.trouble(EXT["ok"], "no_rights")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["accounts", "collect"])
    assert result.exit_code == 0, result.output
    assert "Собрано: 3 из 4" in result.output and "не удалось: 1" in result.output
    assert "Одноклассники" in result.output and "ошибка 10" in result.output
    result = app.test_cli_runner().invoke(args=["accounts", "collect", "--network", "vk"])
    assert "Собрано: 1 из 1" in result.output
    result = app.test_cli_runner().invoke(args=["accounts", "collect", "--account", "999999"])
    assert result.exit_code != 0 and "Нет аккаунтов" in result.output


def test_a_row_the_database_refuses_marks_only_that_account(nets, pace, monkeypatch):
    inst = make_institution()
    accs = [account(nets, "vk", 3400000 + i, institution=inst) for i in range(3)]
    refused = accs[1].id
    real = collection.upsert_many

    def picky(posts):
        if any(p["account_id"] == refused for p in posts):
            raise ValueError("the database refuses this row")
        return real(posts)

    monkeypatch.setattr(collection, "upsert_many", picky)
    summary = collection.collect_all(network="vk", now=NOW, pacing=pace)
    assert [f.account_id for f in summary.failed] == [refused]
    assert "не записаны" in accs[1].collect_error and not snapshots(accs[1])
    assert snapshots(accs[0]) and snapshots(accs[2]) and accs[0].collect_error is None


def test_a_public_channel_answers_to_its_name_when_the_id_does_not(nets, pace):
    acc = account(nets, "telegram", -1005550001, followers=700)
    acc.handle = "tg1005550001"  # its @username in the fake
    acc.external_id = "-1009999999"  # an id the platform does not answer to
    collection.collect_all(network="telegram", now=NOW, pacing=pace)
    assert acc.collect_error is None and acc.followers == 700
    assert [c["params"]["chat_id"] for c in nets.telegram.calls[:2]] == [-1009999999, "@tg1005550001"]
