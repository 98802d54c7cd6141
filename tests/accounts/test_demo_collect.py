"""The demo: `flask simulate` tells the fakes the seeded accounts' figures, so `flask accounts collect` collects
believable numbers close to the seeded ones; the fakes' figures move with time; a platform that never answers
marks its accounts and the rest are collected."""
from __future__ import annotations

import socket
import threading

from sqlalchemy import select

from app.demo import simulate
from app.extensions import db
from app.fakes.figures import Audience, derived
from app.models import Account, AccountSnapshot
from app.services.accounts import collection, platforms
from tests.factories import make_institution


def test_the_demo_fakes_answer_for_the_seeded_accounts(app, pace):
    inst = make_institution()
    seeded = {"telegram": ("-1001234567001", 5120, 300), "vk": ("123400001", 12800, 900),
              "ok": ("70000000012345", 2300, 150), "max": ("-70000123", 640, 20)}
    accounts = {}
    for net, (ext, followers, posts) in seeded.items():
        accounts[net] = Account(institution=inst, network=net, handle=f"demo_{net}", external_id=ext,
                                url=f"https://example.org/{net}", title=f"Демо {net}", followers=followers, posts=posts)
        db.session.add(accounts[net])
    db.session.commit()
    fakes = simulate.start_fakes(list(simulate.DRIVERS), ports={n: 0 for n in simulate.DRIVERS})
    env = simulate.demo_env(simulate.bound_ports(fakes))
    saved = {k: app.config.get(k) for k in env}
    try:
        assert simulate.tell_fakes(fakes) == 4
        app.config.update(env)
        summary = collection.collect_all(pacing=pace)
        assert not summary.failed and len(summary.collected) == 4
        for net, (_, followers, _) in seeded.items():
            acc = accounts[net]
            db.session.refresh(acc)
            assert followers <= acc.followers <= followers * 1.01  # close to the seeded figure, a little grown
            assert db.session.scalar(select(AccountSnapshot.followers).where(AccountSnapshot.account_id == acc.id))
    finally:
        app.config.update(saved)
        for fake in fakes.values():
            fake.stop()


def test_figures_move_with_time_and_are_the_same_for_the_same_id():
    now = [1_800_000_000.0]
    audience = Audience("vk", clock=lambda: now[0])
    first = audience.followers(42), audience.posts(42)
    assert Audience("vk", clock=lambda: now[0]).followers(42) == first[0]  # derived from the id
    now[0] += 30 * 86400
    assert audience.followers(42) > first[0] and audience.posts(42) > first[1]
    assert audience.followers(42) < first[0] * 1.15  # slowly
    audience.set(42, 1000, 50)
    assert audience.followers(42) == 1000 and audience.posts(42) == 50
    assert derived("vk", "42") != derived("vk", "43")


def test_a_platform_that_never_answers_marks_its_accounts(app, nets, pace):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    held = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    nets.vk.add_group(3900001, "Школа", members=500)
    ok_acc = Account(institution=make_institution(), network="vk", handle="vk3900001", external_id="3900001",
                     url="https://vk.com/club3900001")
    mute = Account(institution=ok_acc.institution, network="max", handle="mute", external_id="-7009",
                   url="https://max.ru/mute")
    db.session.add_all([ok_acc, mute])
    db.session.flush()
    app.config.update(MAX_API_URL=f"http://127.0.0.1:{silent.getsockname()[1]}", HTTP_TIMEOUT=0.3)
    try:
        collection.collect_all(pacing=pace)
    finally:
        stop.set()
        for conn in held:
            conn.close()
        silent.close()
    assert "не ответил вовремя" in mute.collect_error and mute.failing_since is not None
    assert ok_acc.collect_error is None and ok_acc.followers == 500


def test_the_demo_fakes_know_accounts_no_participant_has_yet_so_adding_one_can_be_tried(app):
    """make run: a press or smm user pastes vk.com/yunost_blg_demo (or the Telegram, OK, MAX one) and sees the
    title to confirm — the seeded accounts all answer «уже добавлен»."""
    fakes = simulate.start_fakes(list(simulate.DRIVERS), ports={n: 0 for n in simulate.DRIVERS})
    env = simulate.demo_env(simulate.bound_ports(fakes))
    saved = {k: app.config.get(k) for k in env}
    try:
        simulate.tell_fakes(fakes)
        app.config.update(env)
        for network, address in (("vk", "https://vk.com/yunost_blg_demo"), ("telegram", "@yunost_blg_demo"),
                                 ("ok", "https://ok.ru/yunost_blg_demo"), ("max", "https://max.ru/yunost_blg_demo")):
            found = platforms.resolve(address, app.config)
            ext, title, _, members = simulate.NOT_YET_ADDED[network]
            assert (found.network, found.title) == (network, title), address
            assert found.external_id.lstrip("-") == ext.lstrip("-")
    finally:
        app.config.update(saved)
        for fake in fakes.values():
            fake.stop()
