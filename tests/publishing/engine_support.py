"""An in-memory network for the publishing outbox's tests: it offers the networks' interface (check_rights,
send_part, edit, delete — app/services/publishing/networks/base.py) for all four networks at once, records every
call and what was «posted», and plays scripted troubles per account: accept then raise (a fate unknown), accept then
die (the worker killed between the platform's acceptance and our commit), 429 with retry_after, no rights,
upload then fail. VK dedupes wall.post by guid, as VK does."""
from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pytest

from app.extensions import db
from app.models import Account, Delivery, Publication, PublicationPhoto
from app.services.publishing import networks, outbox
from app.services.publishing.networks import PublishError, Rights, Sent
from app.services.secretbox import encrypt

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)  # fixed: tests never read the wall clock


class WorkerDied(BaseException):
    """What a killed worker looks like from inside: nothing after the platform's «accepted» runs."""


@dataclass
class Posted:
    network: str
    account_id: int
    part: int
    method: str
    text: str
    photos: int
    guid: str | None
    ids: list[str]


@dataclass
class FakeNetwork:
    """network → module, all four backed by one recorder."""
    calls: list[tuple] = field(default_factory=list)  # every send_part call: (network, account_id, part, guid)
    posted: list[Posted] = field(default_factory=list)  # what the platform really created
    edits: list[tuple] = field(default_factory=list)
    deletes: list[tuple] = field(default_factory=list)
    rights: dict[int, Rights | Exception] = field(default_factory=dict)
    script: dict[int, list] = field(default_factory=dict)  # account id → actions for its next send_part calls
    change_errors: dict[int, PublishError] = field(default_factory=dict)  # account id → edit/delete refusal
    _ids: itertools.count = field(default_factory=lambda: itertools.count(500))
    _by_guid: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def then(self, account: Account, *actions) -> None:
        self.script.setdefault(account.id, []).extend(actions)

    def sends_to(self, account: Account) -> list[Posted]:
        return [p for p in self.posted if p.account_id == account.id]

    def calls_to(self, account: Account) -> list[tuple]:
        return [c for c in self.calls if c[1] == account.id]

    def module(self, network: str):
        if network not in networks.NETWORKS:
            raise KeyError(network)
        return _Module(self, network)


class _Module:
    def __init__(self, fake: FakeNetwork, network: str):
        self.fake, self.network = fake, network

    def check_rights(self, channel, config, pacing=None):
        got = self.fake.rights.get(channel.account_id, Rights(True, True, "Можно публиковать текст и фото."))
        if isinstance(got, Exception):
            raise got
        return got

    def send_part(self, channel, plan, k, photos, config, *, guid=None, uploaded=None, pacing=None):
        fake = self.fake
        part = plan.parts[k]
        with fake.lock:
            fake.calls.append((self.network, channel.account_id, k, guid))
            actions = fake.script.get(channel.account_id) or []
            action = actions.pop(0) if actions else "ok"
        if isinstance(action, Exception):
            raise action
        if action == "upload_then_fail":
            uploaded.setdefault(self.network, []).extend(f"photo{i}" for i in range(part.photos))
            raise PublishError(f"{channel.name}: сеть ответила ошибкой сервера — повторим.", "unavailable")
        if part.photos and uploaded is not None and self.network in ("vk", "ok", "max"):
            if self.network not in uploaded:
                uploaded[self.network] = [f"photo{i}" for i in range(part.photos)]
                with fake.lock:
                    fake.calls.append((self.network, channel.account_id, k, "upload"))
        with fake.lock:
            key = (channel.account_id, guid, k)
            if self.network == "vk" and guid and key in fake._by_guid:
                sent = fake._by_guid[key]  # VK: the same guid never posts twice
            else:
                first = next(fake._ids)
                ids = [str(first)] + [str(next(fake._ids)) for _ in range(max(part.photos, 1) - 1)] \
                    if self.network == "telegram" and part.photos > 1 else [str(first)]
                sent = Sent(external_id=ids[0], permalink=f"https://example.org/{self.network}/{channel.external_id}"
                                                          f"/{ids[0]}", ids=ids)
                fake.posted.append(Posted(self.network, channel.account_id, k, part.method, part.text, part.photos,
                                          guid, ids))
                fake._by_guid[key] = sent
        if action == "accept_then_raise":
            raise PublishError(f"{channel.name}: сеть не ответила вовремя.", "unavailable", uncertain=True)
        if action == "accept_then_die":
            raise WorkerDied()
        return sent

    def edit(self, channel, parts, plan, config, pacing=None):
        if channel.account_id in self.fake.change_errors:
            raise self.fake.change_errors[channel.account_id]
        self.fake.edits.append((self.network, channel.account_id, parts, [p.text for p in plan.parts]))

    def delete(self, channel, parts, config, pacing=None):
        if channel.account_id in self.fake.change_errors:
            raise self.fake.change_errors[channel.account_id]
        self.fake.deletes.append((self.network, channel.account_id, parts))


@pytest.fixture
def fakenet(monkeypatch):
    fake = FakeNetwork()
    monkeypatch.setattr(networks, "module", fake.module)
    return fake


@pytest.fixture
def pub_clock(monkeypatch):
    """The outbox's clock: clock.now is what utcnow() returns there (in-process jobs read it)."""
    class Clock:
        now = NOW

        def set(self, moment):
            self.now = moment
            return moment

    c = Clock()
    monkeypatch.setattr(outbox, "utcnow", lambda: c.now)
    return c


@pytest.fixture
def outbox_jobs(monkeypatch):
    """Enqueues the outbox asks for, recorded instead of run (the test drives the engine itself)."""
    asked: list[tuple] = []

    def record(session, path, *args, **kwargs):
        asked.append((path, args, kwargs))
    monkeypatch.setattr(outbox, "enqueue_after_commit", record)
    return asked


@pytest.fixture
def upload_dir(app, tmp_path):
    saved = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(tmp_path)
    yield tmp_path
    app.config["UPLOAD_DIR"] = saved


_seq = itertools.count(1)


def make_account(institution, network: str, *, user_token: bool = True, **fields) -> Account:
    n = next(_seq)
    ext = {"telegram": f"-100{7000 + n}", "vk": str(30000 + n), "ok": str(70000 + n), "max": f"-7{n}"}.get(
        network, str(n))
    account = Account(institution=institution, network=network, handle=f"{network}_{n}", external_id=ext,
                      title=f"Школа № {n} ({network})", url=f"https://example.org/{network}/{n}", **fields)
    if network in ("vk", "ok"):
        account.token_enc = encrypt(f"{network}-community-{n}")
    if network == "vk" and user_token:
        account.user_token_enc = encrypt(f"vk-user-{n}")
    db.session.add(account)
    db.session.flush()
    return account


def make_publication(author, accounts, *, text: str = "Завтра в школе день открытых дверей.", photos: int = 0,
                     scheduled_at=None, upload_dir=None, state: str = "scheduled") -> Publication:
    pub = Publication(author_id=author.id, institution_id=author.institution_id, text=text, state=state,
                      scheduled_at=scheduled_at)
    db.session.add(pub)
    db.session.flush()
    for i in range(photos):
        rel = f"publications/2026/12/p{pub.id}-{i}.jpg"
        if upload_dir is not None:
            path = upload_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
        db.session.add(PublicationPhoto(publication_id=pub.id, position=i, path=rel, content_type="image/jpeg",
                                        size=104, original_name=f"photo{i}.jpg"))
    for account in accounts:
        db.session.add(Delivery(publication_id=pub.id, account_id=account.id, network=account.network))
    db.session.flush()
    db.session.refresh(pub)
    return pub


def delivery_of(pub: Publication, account: Account) -> Delivery:
    return db.session.scalar(db.select(Delivery).where(Delivery.publication_id == pub.id,
                                                       Delivery.account_id == account.id)
                             .execution_options(populate_existing=True))
