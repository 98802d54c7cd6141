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
from app.demo.publications import ACCOUNTS_OF_PRESS
from app.demo.seed import resident_text
from app.extensions import db
from app.models import Account, Delivery, User
from app.services.publishing import posts
from app.services.secretbox import SecretUnreadable, decrypt

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


# --- cross-posting (issue 13): now and then a post goes out, and residents comment under it --------------------
PUBLISH_EVERY = 20  # every 20th message the demo's smm or press user publishes a post first
COMMENTS_PER_POST = 3  # residents' comments under it in the following messages
AUTHORS = ("smm", "press")  # the demo's users (app/demo/seed.py), by turns
POST_TEXTS = {  # what each author publishes
    "smm": [
        "В субботу в 11:00 во дворе школы пройдёт субботник. Приглашаем учеников, родителей и соседей — перчатки "
        "и инвентарь выдадим.",
        "Открыта запись в кружки второго полугодия: робототехника, шахматы, хор. Подробности — у классных "
        "руководителей.",
        "Поздравляем команду школы с третьим местом на городских соревнованиях по волейболу!",
    ],
    "press": [
        "С понедельника меняется расписание приёма граждан: вторник и четверг с 9:00 до 13:00. Запись по "
        "телефону и через портал.",
        "Уважаемые жители! В четверг с 9:00 до 15:00 плановое отключение горячей воды на ул. Ленина, 10–24.",
        "Спасибо всем, кто пришёл на городской праздник! Фотографии — в наших сообществах в течение недели.",
    ],
}


def vk_comment(r: random.Random, account: Account, text: str, post_id: str) -> Post:
    from app.fakes import vk

    user_id, _ = _person(r)
    payload = vk.wall_reply_new(int(account.external_id), user_id, text, post_id=int(post_id), comment_id=next(_ids),
                                secret=SECRET)
    return Post("vk", payload, {})


def telegram_comment(r: random.Random, account: Account, text: str, post_id: str) -> Post:
    """A comment in the channel's linked discussion group, in the thread of the channel message `post_id`."""
    from app.fakes import telegram as tg

    user_id, name = _person(r)
    first, last = name.split(" ", 1)
    n = next(_ids)
    channel = int(account.external_id)
    payload = tg.comment(channel - 1, channel, user_id, text, message_id=n, post_id=int(post_id),
                         forward_id=int(post_id) * 10 + 7, first_name=first, last_name=last,
                         channel_username=account.handle or None, update_id=n)
    return Post("telegram", payload, {"X-Telegram-Bot-Api-Secret-Token": SECRET})


COMMENT_DRIVERS: dict[str, Callable[[random.Random, Account, str, str], Post]] = {
    "vk": vk_comment, "telegram": telegram_comment}


COMMENTED = ("vk", "telegram", "ok")  # OK has no comment webhook: the comment goes into the fake, polled later


def publish(r: random.Random, turn: int, echo=print) -> int | None:
    """Publish a post now as the demo's `smm` or `press` user (by turns) through posts.create — the compose
    page's path — to the accounts of its participant (press: the press service's and the administration's). The
    copies go out after the commit (in-process without Redis, else by the worker). Returns the publication's id."""
    for name in AUTHORS[turn % 2:] + AUTHORS[:turn % 2]:
        author = db.session.scalar(select(User).where(User.username == name))
        if author is None or not author.is_active:
            continue
        accounts = posts.targets(author)
        if author.role != "smm":
            accounts = [a for a in accounts if a.institution.slug in ACCOUNTS_OF_PRESS]
        if not accounts:
            continue
        text = r.choice(POST_TEXTS["smm" if author.role == "smm" else "press"])
        try:
            made = posts.create(author, text=text, account_ids=[a.id for a in accounts])
            db.session.commit()  # the copies go out now (in-process without Redis)
        except Exception as exc:  # noqa: BLE001 — the simulation goes on
            db.session.rollback()
            echo(f"{time.strftime('%H:%M:%S')} ✗ публикация от {name}: {exc}")
            return None
        pid = made.publication.id
        echo(f"{time.strftime('%H:%M:%S')} ⇒ {name} публикует пост № {pid} в {len(accounts)} акк. «{text[:60]}»")
        return pid
    return None


def comment_target(r: random.Random, publication_id: int, networks=COMMENTED) -> tuple[Account, str] | None:
    """A copy of the publication already out in a network whose comments the simulator can write (VK and
    Telegram through the webhooks; OK into its fake, where the periodic job polls them): its account and the
    platform's post id."""
    rows = db.session.execute(select(Delivery.account_id, Delivery.external_id).where(
        Delivery.publication_id == publication_id, Delivery.state == "published",
        Delivery.network.in_(list(networks)), Delivery.external_id.isnot(None)).order_by(Delivery.id)).all()
    if not rows:
        return None
    account_id, external_id = r.choice(rows)
    return db.session.get(Account, account_id), str(external_id)


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
    _ids_of_this_run(started)
    return started


def _ids_of_this_run(fakes: dict, base: int | None = None) -> None:
    """The ids the fakes give to posts start where no earlier run's did: the demo's database outlives the fakes
    (each `make run` starts them afresh), and a post the app publishes must not take the id — hence the
    accounting row — of a post an earlier run published (VK post ids, Telegram message ids per channel, OK topic
    ids, MAX mids)."""
    base = base if base is not None else int(time.time()) % 10_000_000 * 100
    if "vk" in fakes:
        fakes["vk"]._post_ids = itertools.count(base)
    if "ok" in fakes:
        fakes["ok"]._seq = itertools.count(base)
    if "max" in fakes:
        fakes["max"]._seq = itertools.count(base)
    if "telegram" in fakes:
        fake = fakes["telegram"]

        class FromBase(dict):
            def setdefault(self, key, default=None):  # a channel's first message id: this run's
                return super().setdefault(key, itertools.count(base))
        fake._chat_message_ids = FromBase(fake._chat_message_ids)


def tell_fakes(fakes: dict) -> int:
    """Tell each started fake the participants' accounts of its network with their current figures, so the fakes
    answer the statistics methods for them (`flask accounts collect` in the demo) with numbers close to the
    seeded ones, growing slowly from there. Returns how many accounts were told."""
    told = 0
    vk_users: dict[str, set[int]] = {}  # a VK user token the accounts hold → the communities it administers
    for acc in db.session.scalars(select(Account).where(Account.network.in_(list(fakes)),
                                                        Account.external_id.isnot(None))):
        fake, title, ext = fakes[acc.network], acc.title or acc.handle, acc.external_id
        try:
            # Cross-posting (issue 13): the city bot is an admin allowed to post in every participant's channel
            # (the fakes' defaults: Telegram can_post_messages, MAX «write»; OK lets any token post to a group
            # with no member registered).
            if acc.network == "vk":
                fake.add_group(int(ext), title, screen_name=acc.handle, members=acc.followers, posts=acc.posts)
                user_token = _secret(acc.user_token_enc)
                if user_token:
                    vk_users.setdefault(user_token, set()).add(int(ext))
            elif acc.network == "telegram":
                fake.add_channel(int(ext), title, acc.handle, members=acc.followers, bot_status="administrator",
                                 can_post=True)
            elif acc.network == "ok":
                fake.add_group(ext, title, acc.handle, members=acc.followers, themes=acc.posts)
            elif acc.network == "max":
                fake.add_chat(int(ext), title, acc.handle, members=acc.followers, bot_admin=True)
            told += 1
        except ValueError:
            continue  # an id that is not a number: the collector marks that account
    for token, groups in vk_users.items():  # photo posts upload with a community admin's user token (VK error 27)
        fakes["vk"].add_token(token, kind="user", mask=VK_USER_MASK, admin_of=tuple(sorted(groups)))
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


VK_USER_MASK = 8192 + 4 + 65536  # wall, photos, offline


def _secret(stored: str | None) -> str | None:
    try:
        return decrypt(stored, current_app.config) if stored else None
    except SecretUnreadable:
        return None


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


def run(base_url: str, every: float, count: int | None, seed: int | None, echo=print, fakes: dict | None = None,
        publish_every: int = PUBLISH_EVERY) -> int:
    """Post `count` messages (forever when None), one every `every` seconds. Returns how many were accepted.
    `fakes`: platform fakes the caller started (and stops); by default they are started here on PORTS.
    Every `publish_every`-th message (0: never) the demo's smm or press user first publishes a post to the fakes,
    and the next COMMENTS_PER_POST messages are residents' comments under its VK or Telegram copy (once out)."""
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
        published: int | None = None  # the simulator's latest post, and how many comments it still gets
        comments_left = 0
        for i in itertools.count(1):
            if publish_every and i % publish_every == 0:
                published = publish(r, i // publish_every - 1, echo)
                comments_left = COMMENTS_PER_POST if published else 0
            account = r.choice(accounts)
            text = resident_text(r) if r.random() > 0.1 else r.choice(["Спасибо!", "👍", "Спасибо за работу!"])
            networks = COMMENTED if "ok" in fakes else tuple(COMMENT_DRIVERS)
            target = comment_target(r, published, networks) if published and comments_left else None
            db.session.rollback()  # hold no transaction
            if target is not None and target[0].network == "ok":  # polled by app.jobs.intake.ok_comments
                comments_left -= 1
                user_id, name = _person(r)
                text = resident_text(r)
                fakes["ok"].add_comment(target[1], user_id, text, author_name=name)
                accepted += 1
                echo(f"{time.strftime('%H:%M:%S')} → ok       комментарий под постом (приложение заберёт опросом) "
                     f"«{text[:70]}»")
                _periodic_without_redis(periodic)
                if count is not None and i >= count:
                    break
                time.sleep(every)
                continue
            if target is not None:
                comments_left -= 1
                post = COMMENT_DRIVERS[target[0].network](r, target[0], resident_text(r), target[1])
                text = post.payload.get("object", {}).get("text") or \
                    (post.payload.get("message") or {}).get("text") or ""
            else:
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
