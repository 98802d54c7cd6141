#!/usr/bin/env python3
"""Cross-posting (issue 13, «Speed»): one post with 5 photos to 100 accounts across the four networks against the
local fakes, with the platforms' limits respected — wall time of the publication's job (`outbox.publish_due`,
target ≤ 60 s), calls per network and method, the busiest second per token (and per chat where the platform
limits a chat: Telegram ~1 message/s, MAX 2/s) against its limit, VK error-6 answers (the fake VK refuses calls
beyond a token's rate, as VK does). A benchmark, not a test: nothing asserts a time.

    python bench/bench_publish.py                          # its own database om_bench_publish
    python bench/bench_publish.py --accounts 100 --photos 5 --latency 0.08 --threads 4
    make bench-publish BENCH_ARGS="--latency 0.1"

The fakes run in this process (threads), each answering after `--latency` seconds (a platform's round trip). The
accounts are shared equally between the networks; each VK account has its own community token and a user token of
its admin (photo posts need one: VK error 27), each OK group its own token; Telegram and MAX post with the city's
bot. The database is dropped and re-created (`--database-url`, default
postgresql://postgres@127.0.0.1:5432/om_bench_publish).
"""
from __future__ import annotations

import argparse
import inspect
import os
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from collect_bench import busiest_second, slow  # noqa: E402
from load_tickets import recreate_database, run_migrations  # noqa: E402

NETS = ("telegram", "vk", "ok", "max")
# The limits the busiest second is compared with (PLATFORM-NOTES §1): per token, and per chat where one applies.
TOKEN_LIMIT = {"telegram": 30, "vk": 3, "ok": 20, "max": 30}  # VK: a user token (uploads and wall.post)
CHAT_LIMIT = {"telegram": 1, "max": 2}
SENDS = {"telegram": ("sendMessage", "sendPhoto", "sendMediaGroup"), "max": ("/messages",)}


def _key(net: str, call: dict) -> tuple[str, str | None]:
    """(token, chat) of a recorded fake call: whose limit it counts against."""
    params = call.get("params") or {}
    if net == "vk":
        return str(call.get("token") or "?")[:24], None
    if net == "ok":
        return str(params.get("access_token") or params.get("session_key") or "app")[:24], None
    if net == "telegram":
        chat = params.get("chat_id") if call.get("method") in SENDS["telegram"] else None
        return "bot", None if chat is None else str(chat)
    chat = params.get("chat_id") if str(call.get("path", "")).startswith("/messages") else None
    return "bot", None if chat is None else str(chat)


def _upload(call: dict) -> bool:
    """A file sent to an upload server (not an API call: no token's rate applies)."""
    return call.get("method") == "upload" or str(call.get("path") or "").startswith("/upload/")


def _method(net: str, call: dict) -> str:
    if net in ("vk", "telegram"):
        return str(call.get("method"))
    params = call.get("params") or {}
    if net == "ok" and params.get("method"):
        return str(params["method"])
    path = str(call.get("path", "")).split("?")[0]
    if _upload(call):
        path = "/upload/…"
    return f"{call.get('method')} {path}".strip()


def report(net: str, calls: list[dict]) -> list[str]:
    calls = [c for c in calls if not str(c.get("path", "")).startswith("/avatar")]
    by_token: dict[str, list[float]] = defaultdict(list)
    by_chat: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        at = call.get("at")
        if at is None:
            continue
        token, chat = _key(net, call)
        if not _upload(call):  # a file to an upload server: not an API call
            by_token[token].append(at)
        if chat is not None:
            by_chat[chat].append(at)
    methods = Counter(_method(net, c) for c in calls)
    token_peak = max((busiest_second(s) for s in by_token.values()), default=0)
    lines = [f"   {net:9} {len(calls):5} calls; busiest second per token {token_peak} (limit {TOKEN_LIMIT[net]}/s, "
             f"{len(by_token)} tokens)"]
    if net in CHAT_LIMIT:
        chat_peak = max((busiest_second(s) for s in by_chat.values()), default=0)
        lines[0] += f"; per chat {chat_peak} (limit {CHAT_LIMIT[net]}/s)"
    lines.append("             " + ", ".join(f"{m} {n}" for m, n in methods.most_common()))
    return lines


class Stub:
    """--stub: what a network module does, in calls: Telegram one sendMediaGroup by the bot; VK
    getWallUploadServer, an upload and saveWallPhoto per photo, wall.post, with the account's user token; OK a
    photo upload URL, an upload per photo, mediatopic.post with the group's token; MAX an upload per photo and POST
    /messages by the bot. API calls are paced per token (uploads to upload servers are not API calls)."""

    RATE = {"telegram": 30.0, "vk": 3.0, "ok": 20.0, "max": 30.0}

    def __init__(self, network: str, latency: float, calls: list):
        self.network, self.latency, self.calls = network, latency, calls

    def _call(self, pacing, token: str, method: str, chat: str | None = None, paced: bool = True) -> None:
        if paced:
            pacing.for_token(self.network, token, self.RATE[self.network]).wait()
        params = {"access_token": token} if self.network in ("vk", "ok") else {}
        if chat is not None:
            params["chat_id"] = chat
        self.calls.append({"method": method, "path": "/messages" if method == "/messages" else "", "at": time.time(),
                           "params": params, "token": token})
        time.sleep(self.latency)

    def send_part(self, channel, plan, k, photos, config, *, guid=None, uploaded=None, pacing=None):
        from app.services.publishing.networks import Sent

        net, n = self.network, len(photos) if plan.parts[k].photos else 0
        if net == "telegram":
            self._call(pacing, "bot", plan.parts[k].method, chat=channel.external_id)
        elif net == "vk":
            token = channel.user_token if n else channel.token
            if n and "vk" not in uploaded:
                self._call(pacing, token, "photos.getWallUploadServer")
                for _ in range(n):
                    self._call(pacing, token, "upload", paced=False)
                    self._call(pacing, token, "photos.saveWallPhoto")
                uploaded["vk"] = [f"photo-{channel.external_id}_{i}" for i in range(n)]
            self._call(pacing, token, "wall.post")
        elif net == "ok":
            if n and "ok" not in uploaded:
                self._call(pacing, channel.token, "photosV2.getUploadUrl")
                for _ in range(n):
                    self._call(pacing, channel.token, "upload", paced=False)
                uploaded["ok"] = [f"t{i}" for i in range(n)]
            self._call(pacing, channel.token, "mediatopic.post")
        else:
            for _ in range(n if "max" not in uploaded else 0):
                self._call(pacing, "bot", "/uploads")
            uploaded["max"] = ["tok"] * n
            self._call(pacing, "bot", "/messages", chat=channel.external_id)
        return Sent(external_id=f"{net}-{channel.account_id}-{k}", permalink=None, ids=[])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=os.environ.get("BENCH_PUBLISH_DATABASE_URL",
                                                             "postgresql://postgres@127.0.0.1:5432/om_bench_publish"))
    ap.add_argument("--accounts", type=int, default=100)
    ap.add_argument("--photos", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds each fake takes to answer (default 0.05)")
    ap.add_argument("--threads", type=int, default=None, help="threads per network (default: PUBLISH_THREADS)")
    ap.add_argument("--stub", action="store_true",
                    help="the engine alone: a stand-in for the network modules making as many paced calls as each "
                         "network needs (latency each), no fakes — until the real modules are installed")
    args = ap.parse_args()

    recreate_database(args.database_url)
    run_migrations(args.database_url, ROOT)
    os.environ.update(DATABASE_URL=args.database_url, SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(24))
    os.environ.pop("REDIS_URL", None)

    from app import create_app
    from app.extensions import db
    from app.fakes.figures import avatar_png
    from app.fakes.max import FakeMax
    from app.fakes.ok import FakeOk
    from app.fakes.telegram import FakeTelegram
    from app.fakes.vk import FakeVk
    from app.models import Account, Delivery, Direction, Institution, Publication, PublicationPhoto, User
    from app.services.accounts.platforms import Pacing
    from app.services.publishing import outbox
    from app.services.secretbox import encrypt

    tg, vk, ok, mx = FakeTelegram(token=None).start(), FakeVk().start(), FakeOk().start(), FakeMax().start()
    fakes = {"telegram": tg, "vk": vk, "ok": ok, "max": mx}
    for fake in fakes.values():
        slow(fake, args.latency)
    app = create_app()
    uploads = tempfile.mkdtemp(prefix="om-publish-bench-")
    app.config.update(TELEGRAM_BOT_TOKEN="123456789:bench", TELEGRAM_API_URL=tg.base_url, VK_API_URL=vk.base_url,
                      VK_ACCESS_TOKEN="vk1.a.city", OK_API_URL=ok.base_url, OK_ACCESS_TOKEN="ok-token",
                      OK_APPLICATION_KEY="k", OK_APPLICATION_SECRET_KEY="s", MAX_API_URL=mx.base_url,
                      MAX_BOT_TOKEN="max", HTTP_TIMEOUT=10, UPLOAD_DIR=uploads)
    if args.threads is not None:
        app.config["PUBLISH_THREADS"] = args.threads
    counts = {net: args.accounts // len(NETS) for net in NETS}
    counts["telegram"] += args.accounts - sum(counts.values())
    outbox.enqueue_after_commit = lambda *a, **k: None  # the job is timed below, not run on commit
    if args.stub:
        from app.services.publishing import networks

        stub_calls = {net: [] for net in NETS}
        networks.module = lambda net: Stub(net, args.latency, stub_calls[net])
    with app.app_context():
        direction = Direction(code="bench", name="Бенчмарк")
        inst = Institution(direction=direction, name="Пресс-служба", short_name="Пресс-служба", slug="press")
        author = User(username="press-bench", role="press", full_name="Пресс-служба")
        author.set_password(secrets.token_hex(8))
        db.session.add_all([direction, inst, author])
        accounts = []
        for net, count in counts.items():
            for k in range(count):
                ext = {"telegram": -1001000000000 - k, "vk": 30000000 + k, "ok": 70000000000000 + k,
                       "max": -70000000 - k}[net]
                title = f"{net} {k}"
                account = Account(institution=inst, network=net, handle=f"{net}{k}", external_id=str(ext),
                                  url=f"https://example.org/{net}/{k}", title=title, publish_ok=True,
                                  publish_photos_ok=True)
                if net == "telegram":
                    tg.add_channel(ext, title, f"tg_bench_{k}", bot_status="administrator")
                elif net == "vk":
                    vk.add_group(ext, title, screen_name=f"vkbench{k}")
                    community, user = f"vk1.a.bench-{k}", f"vk2.user-bench-{k}"
                    vk.add_token(community, kind="community", group_id=ext, rate=20)
                    admin = {"admin_of": (ext,)} if "admin_of" in inspect.signature(vk.add_token).parameters else {}
                    vk.add_token(user, kind="user", mask=4 | 8192 | 262144, rate=3, **admin)  # photos, wall
                    account.token_enc, account.user_token_enc = encrypt(community), encrypt(user)
                elif net == "ok":
                    ok.add_group(ext, title, f"okbench{k}")
                    account.token_enc = encrypt(f"ok-bench-{k}")
                    ok.tokens.add(f"ok-bench-{k}")
                else:
                    mx.add_chat(ext, title, f"maxbench{k}")
                accounts.append(account)
        db.session.add_all(accounts)
        db.session.flush()
        pub = Publication(author_id=author.id, text="Открытый муниципалитет: бенчмарк кросспостинга. "
                          "Подробности на https://example.org/news/1", state="scheduled")
        db.session.add(pub)
        db.session.flush()
        for i in range(args.photos):
            rel = f"publications/bench/photo{i}.png"
            path = Path(uploads) / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            content = avatar_png(f"bench-photo-{i}", size=320)
            path.write_bytes(content)
            db.session.add(PublicationPhoto(publication_id=pub.id, position=i, path=rel, content_type="image/png",
                                            size=len(content), original_name=f"photo{i}.png"))
        for account in accounts:
            db.session.add(Delivery(publication_id=pub.id, account_id=account.id, network=account.network))
        db.session.flush()
        db.session.refresh(pub)
        outbox.release(pub)
        db.session.commit()
        refused = db.session.scalar(db.select(db.func.count(Delivery.id)).where(Delivery.state == "refused"))
        for fake in fakes.values():
            fake.calls.clear()
        vk.executes.clear()
        print(f"{args.accounts} accounts ({', '.join(f'{n} {c}' for n, c in counts.items())}), {args.photos} photos, "
              f"fake latency {args.latency * 1000:.0f} ms, {app.config.get('PUBLISH_THREADS')} threads per network; "
              f"refused beforehand: {refused}")

        pacing = Pacing()  # a fresh process: no slot reserved yet
        started = time.monotonic()
        outcome = outbox.publish_due(pub.id, pacing=pacing)
        wall = time.monotonic() - started

        print(f"\npublish_due: {wall:.1f} s wall; deliveries: {dict(outcome)}")
        rows = db.session.execute(db.select(Delivery.network, Delivery.state).where(
            Delivery.publication_id == pub.id)).all()
        per = Counter((n, s) for n, s in rows)
        for net in NETS:
            print(f"   {net:9} " + ", ".join(f"{s} {c}" for (n, s), c in sorted(per.items()) if n == net))
        failed = db.session.scalars(db.select(Delivery).where(Delivery.publication_id == pub.id,
                                                              Delivery.state != "published")
                                    .order_by(Delivery.id).limit(5)).all()
        for row in failed:
            print(f"   #{row.id} {row.network} {row.state}: {row.last_error}")
        print("\ncalls as they arrived at the fakes:")
        for net in NETS:
            for line in report(net, stub_calls[net] if args.stub else list(fakes[net].calls)):
                print(line)
        files = ", ".join(f"{net} {len(getattr(fakes[net], 'uploads', []))}" for net in ("vk", "ok"))
        print(f"   files to the upload servers: {files}; VK execute sizes {dict(Counter(vk.executes))}, error 6 "
              f"answers: {vk.too_fast}")
        sent: dict[str, int] = defaultdict(int)
        for key, pacer in pacing.pacers.items():
            sent[key.split(":")[0]] = max(sent[key.split(":")[0]], pacer.busiest)
        if sent:
            print("as sent (the pacers' count), busiest second per token: "
                  + ", ".join(f"{net} {n}" for net, n in sent.items()))
        waited = sum(p.waited for p in pacing.pacers.values())
        print(f"pacing: {len(pacing.pacers)} tokens, {waited:.1f} s of slots waited for in all")
        pub = db.session.get(Publication, pub.id)
        print(f"publication: {pub.state}, first copy out at {pub.published_at}")
    for fake in fakes.values():
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
