"""`flask simulate`: residents writing in, live, through the real webhooks.

Starts a local fake of each network's API (so the replies the app sends have somewhere to go) on fixed
loopback ports, then every few seconds posts a realistic resident message or comment to one of the
participants' accounts through the app's own webhook (/hooks/<network>) with the right secret. `make run`
starts it next to the web app with DEMO_ENV, so the queue shows tickets arriving and the fakes show the
acknowledgements coming back.
"""
from __future__ import annotations

import itertools
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from flask import current_app
from sqlalchemy import select

from app.demo import data
from app.demo.seed import resident_text
from app.extensions import db
from app.models import Account

SECRET = "demo-secret-0123456789"
PORTS = {"telegram": 5081, "vk": 5082, "max": 5083, "ok": 5084}

def demo_env(ports: dict[str, int]) -> dict[str, str]:
    """What `make run` exports for the demo: fake tokens, and every platform API pointed at its local fake
    listening on `ports` (the tests start the fakes on free ports and use demo_env of those)."""
    return {
        "TELEGRAM_BOT_TOKEN": "123456789:demo-token", "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{ports['telegram']}/bot",
        # the bots' public names: the participants' «Пишите нам» QR codes and the accounts page name the bot
        "TELEGRAM_BOT_USERNAME": "belogorsk_obrashcheniya_bot", "MAX_BOT_NAME": "belogorsk_obrashcheniya",
        "VK_ACCESS_TOKEN": "demo-token", "VK_SECRET": SECRET, "VK_CONFIRMATION": "demo-confirmation",
        "VK_API_URL": f"http://127.0.0.1:{ports['vk']}/method",
        "MAX_BOT_TOKEN": "demo-token", "MAX_WEBHOOK_SECRET": SECRET, "MAX_API_URL": f"http://127.0.0.1:{ports['max']}",
        "OK_ACCESS_TOKEN": "demo-token", "OK_APPLICATION_KEY": "demo", "OK_APPLICATION_SECRET_KEY": "demo",
        "OK_WEBHOOK_SECRET": SECRET, "OK_API_URL": f"http://127.0.0.1:{ports['ok']}",
    }


DEMO_ENV = demo_env(PORTS)  # the demo's fixed ports (`make run`); tests never bind them


@dataclass
class Post:
    network: str
    payload: dict
    headers: dict
    path: str = ""  # default: /hooks/<network>


_ids = itertools.count(int(time.time()) % 1_000_000 * 100)


def _person(r: random.Random) -> tuple[int, str]:
    first = r.choice(data.FEMALE_NAMES + data.MALE_NAMES)
    return r.randint(10_000_000, 899_999_999), f"{first} {r.choice(data.SURNAMES)[0]}."


def vk_post(r: random.Random, account: Account, text: str) -> Post:
    from app.fakes import vk

    user_id, _ = _person(r)
    group_id = int(account.external_id)
    n = next(_ids)
    if r.random() < 0.5:
        # now and then with the place attached (a point in Belogorsk): the ticket gets its place and a map link
        geo = vk.geo(round(50.92 + r.uniform(-0.02, 0.02), 6), round(128.47 + r.uniform(-0.03, 0.03), 6)) \
            if r.random() < 0.2 else None
        payload = vk.message_new(group_id, user_id, text, conversation_message_id=n, secret=SECRET, geo=geo)
    else:
        payload = vk.wall_reply_new(group_id, user_id, text, post_id=r.randint(100, 900), comment_id=n, secret=SECRET)
    return Post("vk", payload, {})


def telegram_post(r: random.Random, account: Account, text: str) -> Post:
    from app.fakes import telegram as tg

    user_id, name = _person(r)
    first, last = name.split(" ", 1)
    n = next(_ids)
    channel = int(account.external_id)
    group = channel - 1  # the channel's linked discussion group (any other -100… id)
    post = r.randint(100, 900)
    payload = tg.comment(group, channel, user_id, text, message_id=n, post_id=post, forward_id=post * 10,
                         first_name=first, last_name=last, update_id=n)
    return Post("telegram", payload, {"X-Telegram-Bot-Api-Secret-Token": SECRET})


def max_post(r: random.Random, account: Account, text: str) -> Post:
    from app.fakes import max as mx

    user_id, name = _person(r)
    payload = mx.message_created(int(account.external_id), user_id, text, chat_type="chat", name=name)
    return Post("max", payload, mx.headers(SECRET))


def ok_post(r: random.Random, account: Account, text: str) -> Post:
    from app.fakes import ok

    user_id, name = _person(r)
    payload = ok.message_created(ok.chat_id(user_id % 1_000_000), user_id, text, name=name)
    return Post("ok", payload, {}, path=ok.hook_path(SECRET, account.external_id))


DRIVERS: dict[str, Callable[[random.Random, Account, str], Post]] = {
    "telegram": telegram_post, "vk": vk_post, "max": max_post, "ok": ok_post}
FAKES = {"telegram": ("app.fakes.telegram", "FakeTelegram"), "vk": ("app.fakes.vk", "FakeVk"),
         "max": ("app.fakes.max", "FakeMax"), "ok": ("app.fakes.ok", "FakeOk")}


def start_fakes(networks: list[str], ports: dict[str, int] | None = None) -> dict:
    """The fakes of `networks`, started on `ports` (default: the demo's fixed PORTS; 0 = any free port)."""
    import importlib

    ports = PORTS if ports is None else ports
    started = {}
    for network in networks:
        module, cls = FAKES[network]
        # token=None: the fakes accept the demo token as it is
        started[network] = getattr(importlib.import_module(module), cls)(token=None, port=ports[network]).start()
    return started


def tell_fakes(fakes: dict) -> int:
    """Tell each started fake the participants' accounts of its network with their current figures, so the fakes
    answer the statistics methods for them (`flask accounts collect` in the demo) with numbers close to the
    seeded ones, growing slowly from there. Returns how many accounts were told."""
    told = 0
    for acc in db.session.scalars(select(Account).where(Account.network.in_(list(fakes)),
                                                        Account.external_id.isnot(None))):
        fake, title, ext = fakes[acc.network], acc.title or acc.handle, acc.external_id
        try:
            if acc.network == "vk":
                fake.add_group(int(ext), title, screen_name=acc.handle, members=acc.followers, posts=acc.posts)
            elif acc.network == "telegram":
                fake.add_channel(int(ext), title, acc.handle, members=acc.followers)
            elif acc.network == "ok":
                fake.add_group(ext, title, acc.handle, members=acc.followers, themes=acc.posts)
            elif acc.network == "max":
                fake.add_chat(int(ext), title, acc.handle, members=acc.followers)
            told += 1
        except ValueError:
            continue  # an id that is not a number: the collector marks that account
    db.session.rollback()  # hold no transaction
    for network, (ext, title, handle, members) in NOT_YET_ADDED.items():  # for trying «Добавить аккаунт»
        fake = fakes.get(network)
        if fake is None:
            continue
        if network == "vk":
            fake.add_group(int(ext), title, screen_name=handle, members=members)
        elif network == "telegram":
            fake.add_channel(int(ext), title, handle, members=members)
        elif network == "ok":
            fake.add_group(ext, title, handle, members=members)
        elif network == "max":
            fake.add_chat(int(ext), title, handle, members=members)
    return told


# Accounts the demo's fakes know but no participant has yet: paste vk.com/yunost_blg_demo, @yunost_blg_demo,
# ok.ru/yunost_blg_demo or max.ru/yunost_blg_demo on a participant's accounts page to add one.
NOT_YET_ADDED = {
    "vk": ("239000001", "Молодёжный центр «Юность»", "yunost_blg_demo", 2140),
    "telegram": ("-1002390000001", "Молодёжный центр «Юность»", "yunost_blg_demo", 860),
    "ok": ("70000099000001", "Молодёжный центр «Юность»", "yunost_blg_demo", 530),
    "max": ("239000001", "Молодёжный центр «Юность»", "yunost_blg_demo", 310),
}


def bound_ports(fakes: dict) -> dict[str, int]:
    """The port each started fake really listens on."""
    return {network: int(fake.base_url.split(":")[2].split("/")[0]) for network, fake in fakes.items()}


def send(base_url: str, post: Post, timeout: float = 10) -> int:
    req = urllib.request.Request(f"{base_url}{post.path or '/hooks/' + post.network}",
                                 data=json.dumps(post.payload).encode(),
                                 headers={"Content-Type": "application/json", **post.headers})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(base_url: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base_url}/login", timeout=2).read()
            return True
        except OSError:
            time.sleep(0.5)
    return False


def _periodic_without_redis(last_run: dict) -> None:
    """The embedded demo has no Redis, hence no worker and no scheduler: the simulator runs the periodic jobs
    (held acknowledgements, SLA sweep, snapshots…) between messages, in its own transactions."""
    if current_app.config.get("REDIS_URL"):
        return
    from app.jobs.schedule import run_due_inline

    run_due_inline(last_run)
    db.session.rollback()  # hold no transaction while we wait


def run(base_url: str, every: float, count: int | None, seed: int | None, echo=print, fakes: dict | None = None) -> int:
    """Post `count` messages (forever when None), one every `every` seconds. Returns how many were accepted.
    `fakes`: platform fakes the caller started (and stops); by default they are started here on PORTS."""
    r = random.Random(seed)
    networks = [n for n in DRIVERS]
    accounts = list(db.session.scalars(select(Account).where(Account.network.in_(networks),
                                                             Account.external_id.isnot(None))))
    db.session.rollback()  # hold no transaction while we wait
    if not accounts:
        echo("Нет аккаунтов участников в сетях: сначала flask seed-demo.")
        return 0
    own = fakes is None
    fakes = start_fakes(networks) if own else fakes
    tell_fakes(fakes)
    try:
        if not wait_for(base_url):
            echo(f"Приложение не отвечает на {base_url}")
            return 0
        accepted = 0
        periodic: dict = {}
        for i in itertools.count(1):
            account = r.choice(accounts)
            text = resident_text(r) if r.random() > 0.1 else r.choice(["Спасибо!", "👍", "Спасибо за работу!"])
            post = DRIVERS[account.network](r, account, text)
            status = send(base_url, post)
            accepted += status == 200
            echo(f"{time.strftime('%H:%M:%S')} → {post.network:8} {status} «{text[:70]}»")
            _periodic_without_redis(periodic)
            if count is not None and i >= count:
                break
            time.sleep(every)
        return accepted
    finally:
        for fake in fakes.values() if own else ():
            fake.stop()
