"""Fixtures of the compose service's tests (issue 13): two participants with accounts in the four networks, their
smm specialists, the press service, and the outbox's contract replaced by a recorder (the delivery engine is
another module's; here release() only moves the waiting rows to scheduled)."""
from __future__ import annotations

import io
import struct
import zlib
from types import SimpleNamespace

import pytest

from app.extensions import db
from app.models import Account, Direction, Institution
from app.services.publishing import outbox
from app.services.publishing.networks import Rights
from tests.factories import make_user


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200 + b"\xff\xd9"


@pytest.fixture
def calls(monkeypatch):
    """The outbox's contract, recorded: release() schedules the waiting rows, cancel() cancels the unsent ones."""
    log = SimpleNamespace(rights=[], release=[], cancel=[], resend=[], edit=[], delete=[])

    def release(pub):
        log.release.append(pub.id)
        for d in pub.deliveries:
            if d.state == "waiting":
                d.state = "scheduled"

    def cancel(pub):
        log.cancel.append(pub.id)
        for d in pub.deliveries:
            if d.state in ("waiting", "scheduled", "failed", "unconfirmed"):
                d.state = "cancelled"

    def resend(delivery):
        log.resend.append(delivery.id)
        delivery.state = "scheduled"

    def apply_edit(pub):
        log.edit.append((pub.id, pub.text))
        return {d.id: (None if d.network != "ok" else "Одноклассники не дают править пост") for d in pub.deliveries}

    def apply_delete(pub):
        log.delete.append(pub.id)
        out = {}
        for d in pub.deliveries:
            if d.state == "published":
                d.state = "deleted"
            out[d.id] = None
        db.session.commit()
        return out

    def check_rights(account):
        log.rights.append(account.id)
        ok = account.network != "vk"
        account.publish_ok, account.publish_photos_ok = ok, ok
        account.publish_reason = None if ok else f"ВКонтакте «{account.title}»: у ключа нет права wall — выдайте его"
        return Rights(ok, ok, account.publish_reason or "можно")

    for name, fn in (("check_rights", check_rights), ("release", release), ("cancel", cancel), ("resend", resend), ("apply_edit", apply_edit),
                     ("apply_delete", apply_delete)):
        monkeypatch.setattr(outbox, name, fn)
    return log


@pytest.fixture
def uploads(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def world(calls, uploads):
    edu = Direction(code="p-education", name="П-Образование", sort_order=1)
    cul = Direction(code="p-culture", name="П-Культура", sort_order=2)
    school = Institution(direction=edu, name="Школа публикаций № 5", short_name="Школа № 5", slug="p-school-5")
    museum = Institution(direction=cul, name="Музей публикаций", short_name="Музей", slug="p-museum")
    db.session.add_all([edu, cul, school, museum])
    db.session.flush()
    acc = {}
    for inst, prefix in ((school, "s"), (museum, "m")):
        for network in ("telegram", "vk", "ok", "max"):
            a = Account(institution=inst, network=network, handle=f"{prefix}_{network}", external_id=f"{prefix}{network}",
                        url=f"https://example.org/{prefix}/{network}", title=f"{inst.short_name} {network}")
            db.session.add(a)
            acc[f"{prefix}_{network}"] = a
    acc["s_other"] = Account(institution=school, network="other", handle="s_dzen", url="https://dzen.ru/s",
                             label="Дзен", title="Дзен")
    acc["s_off"] = Account(institution=school, network="vk", handle="s_off", url="https://vk.com/s_off",
                           title="Отключён", is_active=False)
    db.session.add_all([acc["s_other"], acc["s_off"]])
    db.session.flush()
    users = SimpleNamespace(smm=make_user("smm", institution=school), smm2=make_user("smm", institution=museum),
                            press=make_user("press"), press2=make_user("press"), admin=make_user("admin"),
                            executor=make_user("executor", institution=school), moderator=make_user("moderator"))
    db.session.commit()
    return SimpleNamespace(edu=edu, cul=cul, school=school, museum=museum, acc=acc, users=users, calls=calls,
                           uploads=uploads)


def file(content: bytes, name: str):
    return (io.BytesIO(content), name)
