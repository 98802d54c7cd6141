"""The compose service (issue 13): where a user may publish, composing with an idempotent key, photos checked by
their bytes, approval, editing and cancelling — the outbox's contract recorded (tests/publishing/compose_support)."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Notification, Publication
from app.services import access
from app.services.errors import DomainError, NotAllowed, NotFound, ValidationFailed
from app.services.publishing import posts
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, png_bytes

# The fixtures (no conftest here: the delivery engine's tests share this directory).
calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world

YAKUTSK = ZoneInfo("Asia/Yakutsk")


def ids(accounts):
    return sorted(a.id for a in accounts)


def test_targets_smm_gets_its_participants_active_publishable_accounts_press_and_admin_all(world):
    acc, u = world.acc, world.users
    mine = ids(acc[f"s_{n}"] for n in ("telegram", "vk", "ok", "max"))
    assert ids(posts.targets(u.smm)) == mine  # not «other», not the disabled one, not the museum's
    assert set(mine) | {acc["m_vk"].id} <= set(ids(posts.targets(u.press)))
    assert set(ids(posts.targets(u.admin))) == set(ids(posts.targets(u.press)))
    assert posts.targets(u.executor) == [] and posts.targets(u.moderator) == []
    assert world.edu.id in [d.id for d in posts.directions(u.press)] and posts.directions(u.smm) == []


def test_parse_accounts(world):
    acc, u = world.acc, world.users
    assert ids(posts.parse_accounts(u.smm, "all")) == ids(posts.targets(u.smm))
    assert ids(posts.parse_accounts(u.press, "direction:p-culture")) == ids(acc[f"m_{n}"] for n in
                                                                           ("telegram", "vk", "ok", "max"))
    assert ids(posts.parse_accounts(u.smm, f"{acc['s_vk'].id}, {acc['s_ok'].id},")) == ids([acc["s_vk"], acc["s_ok"]])
    with pytest.raises(ValidationFailed, match=str(acc["m_vk"].id)):
        posts.parse_accounts(u.smm, f"{acc['s_vk'].id},{acc['m_vk'].id}")  # another participant's: refused, named
    with pytest.raises(ValidationFailed, match="99999"):
        posts.parse_accounts(u.press, "99999")
    with pytest.raises(NotAllowed):
        posts.parse_accounts(u.smm, "direction:p-education")
    with pytest.raises(ValidationFailed):
        posts.parse_accounts(u.press, "direction:nope")
    with pytest.raises(ValidationFailed):
        posts.parse_accounts(u.press, "x;drop")
    with pytest.raises(NotAllowed):
        posts.parse_accounts(u.executor, "all")


def test_create_now_releases_and_the_same_key_makes_nothing_new(world):
    acc, u = world.acc, world.users
    chosen = [acc["s_telegram"].id, acc["s_vk"].id]
    first = posts.create(u.smm, text="Привет, город", account_ids=chosen, key="k-1")
    db.session.commit()
    pub = first.publication
    assert first.created and pub.state == "scheduled" and pub.institution_id == world.school.id
    assert {(d.network, d.state) for d in pub.deliveries} == {("telegram", "scheduled"), ("vk", "scheduled")}
    assert world.calls.release == [pub.id]
    again = posts.create(u.smm, text="Привет, город", account_ids=list(reversed(chosen)), key="k-1")
    assert not again.created and again.publication.id == pub.id and world.calls.release == [pub.id]
    assert db.session.scalar(select(db.func.count(Publication.id)).where(Publication.author_id == u.smm.id)) == 1
    with pytest.raises(ValidationFailed, match="k-1"):
        posts.create(u.smm, text="Другой текст", account_ids=chosen, key="k-1")
    other = posts.create(u.smm2, text="Привет, город", account_ids=[acc["m_vk"].id], key="k-1")  # per author
    assert other.created


def test_create_checks(world):
    acc, u = world.acc, world.users
    now = datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)
    for kwargs, field in ((dict(text="  "), "text"), (dict(text="x", account_ids=[]), "accounts"),
                          (dict(text="x", account_ids=[acc["m_vk"].id]), "accounts"),
                          (dict(text="x", account_ids=["junk"]), "accounts"),
                          (dict(text="x", at=now - timedelta(minutes=1)), "at"),
                          (dict(text="x" * (posts.TEXT_MAX + 1)), "text"),
                          (dict(text="x", key="k" * 121), "key")):
        kwargs.setdefault("account_ids", [acc["s_vk"].id])
        with pytest.raises(ValidationFailed) as exc:
            posts.create(u.smm, now=now, **kwargs)
        assert exc.value.field == field, kwargs
    with pytest.raises(NotAllowed):
        posts.create(u.executor, text="x", account_ids=[acc["s_vk"].id])
    assert db.session.scalar(select(db.func.count(Publication.id))) == 0


def test_scheduled_at_city_time_and_a_refusal_is_a_warning_not_an_error(world):
    acc, u = world.acc, world.users
    now = datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)
    at = posts.parse_city_time("2026-12-01 23:30")
    assert at == datetime(2026, 12, 1, 23, 30, tzinfo=YAKUTSK).astimezone(timezone.utc)
    assert posts.parse_city_time("2026-12-01T23:30") == at and posts.parse_city_time("") is None
    with pytest.raises(ValidationFailed):
        posts.parse_city_time("2026-13-45 25:00")
    result = posts.create(u.smm, text="я" * 5000, account_ids=[acc["s_ok"].id, acc["s_telegram"].id], at=at, now=now)
    pub = result.publication
    assert pub.scheduled_at == at
    plans = posts.plans(pub)
    assert plans["ok"].refused and "4\u00a0000" in plans["ok"].refused
    assert plans["telegram"].warnings


def test_photos_are_checked_by_their_bytes_and_stored_under_a_new_name(world):
    acc, u = world.acc, world.users
    png = png_bytes()
    result = posts.create(u.smm, text="Фото", account_ids=[acc["s_vk"].id],
                          photos=[posts.Upload("../../etc/photo.jpg", png), posts.Upload("снимок.jpg", JPEG)])
    first, second = result.publication.photos
    assert first.content_type == "image/png" and first.path.endswith(".png")  # a PNG named .jpg is a PNG
    assert first.path.startswith("publications/") and "photo" not in first.path and ".." not in first.path
    assert first.original_name == "photo.jpg" and second.content_type == "image/jpeg"
    assert open(os.path.join(world.uploads, first.path), "rb").read() == png
    with pytest.raises(ValidationFailed, match="страница.jpg"):
        posts.create(u.smm, text="x", account_ids=[acc["s_vk"].id],
                     photos=[posts.Upload("страница.jpg", b"<html><script>alert(1)</script></html>")])
    with pytest.raises(ValidationFailed, match="большое.png"):
        posts.store_photo("большое.png", png + b"\0" * posts.PHOTO_MAX_BYTES)
    with pytest.raises(ValidationFailed, match="10"):
        posts.create(u.smm, text="x", account_ids=[acc["s_vk"].id], photos=[posts.Upload("a.png", png)] * 11)
    with pytest.raises(ValidationFailed, match="svg"):
        posts.check_photo("x.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>')


def test_approval_notifies_press_reject_reaches_the_author_approve_releases(world):
    acc, u = world.acc, world.users
    world.school.posts_need_approval = True
    pub = posts.create(u.smm, text="На согласование", account_ids=[acc["s_vk"].id]).publication
    db.session.commit()
    assert pub.state == "awaiting_approval" and world.calls.release == []
    assert {d.state for d in pub.deliveries} == {"waiting"}
    notes = db.session.scalars(select(Notification).where(Notification.publication_id == pub.id)).all()
    assert {n.user_id for n in notes} == {u.press.id, u.press2.id}
    assert {n.kind for n in notes} == {"publication_approval"}
    assert posts.pending(u.press) == 1 and posts.pending(u.smm) == 0
    with pytest.raises(NotAllowed):
        posts.approve(u.smm, pub)
    with pytest.raises(ValidationFailed):
        posts.reject(u.press, pub, "   ")
    posts.reject(u.press, pub, "Уберите телефон директора из текста")
    db.session.commit()
    assert pub.state == "rejected"
    note = db.session.scalar(select(Notification).where(Notification.user_id == u.smm.id))
    assert "Уберите телефон директора" in note.text and note.publication_id == pub.id
    # the author fixes it: back to approval
    posts.update(u.smm, pub, text="Исправлено", account_ids=[acc["s_vk"].id, acc["s_max"].id])
    db.session.commit()
    assert pub.state == "awaiting_approval" and pub.rejection_reason is None and len(pub.deliveries) == 2
    posts.approve(u.press, pub)
    db.session.commit()
    assert pub.state == "scheduled" and pub.approved_by_id == u.press.id and world.calls.release == [pub.id]
    assert {d.state for d in pub.deliveries} == {"scheduled"}
    with pytest.raises(DomainError):
        posts.approve(u.press, pub)
    # an approved post edited by its smm author goes back to approval
    posts.update(u.smm, pub, text="Ещё правка", account_ids=[acc["s_vk"].id])
    db.session.commit()
    assert pub.state == "awaiting_approval" and world.calls.cancel == [pub.id]
    assert [d.state for d in pub.deliveries] == ["waiting"]


def test_press_posts_go_without_approval(world):
    world.school.posts_need_approval = True
    pub = posts.create(world.users.press, text="Город", account_ids=[world.acc["s_vk"].id]).publication
    assert pub.state == "scheduled" and pub.institution_id == world.school.id


def test_access_to_posts(world):
    acc, u = world.acc, world.users
    pub = posts.create(u.smm, text="Школа", account_ids=[acc["s_vk"].id]).publication
    db.session.commit()
    assert access.can_view_publication(u.smm, pub) and access.can_view_publication(u.press, pub)
    assert access.can_view_publication(u.admin, pub)
    for other in (u.smm2, u.executor, u.moderator):
        assert not access.can_view_publication(other, pub)
        with pytest.raises(NotFound):
            posts.get(other, pub.id)
        with pytest.raises(DomainError):
            posts.cancel(other, pub)
    assert [p.id for p in posts.listing(u.smm2)] == []
    assert pub.id in [p.id for p in posts.listing(u.press)]


def test_cancel_and_no_edit_once_sending(world):
    acc, u = world.acc, world.users
    pub = posts.create(u.smm, text="x", account_ids=[acc["s_vk"].id, acc["s_ok"].id]).publication
    db.session.commit()
    pub.deliveries[0].state = "sending"
    db.session.commit()
    assert not posts.can_edit(pub)
    with pytest.raises(DomainError):
        posts.update(u.smm, pub, text="y", account_ids=[acc["s_vk"].id])
    pub.deliveries[0].state = "scheduled"
    db.session.commit()
    posts.cancel(u.smm, pub)
    db.session.commit()
    assert pub.state == "cancelled" and {d.state for d in pub.deliveries} == {"cancelled"}
    with pytest.raises(DomainError):
        posts.cancel(u.smm, pub)


def test_after_publishing_edit_and_delete_go_through_the_outbox(world):
    acc, u = world.acc, world.users
    pub = posts.create(u.smm, text="Старый", account_ids=[acc["s_vk"].id, acc["s_ok"].id]).publication
    with pytest.raises(DomainError):
        posts.edit_published(u.smm, pub, "Новый")
    pub.state = "done"
    for d in pub.deliveries:
        d.state = "published"
    db.session.commit()
    results = posts.edit_published(u.smm, pub, "Новый")
    assert world.calls.edit == [(pub.id, "Новый")] and sorted(v or "" for v in results.values())[1]
    with pytest.raises(DomainError):
        posts.edit_published(u.smm2, pub, "Чужой")
    posts.delete_published(u.smm, pub)
    assert pub.state == "deleted" and world.calls.delete == [pub.id]


def test_calendar_puts_a_post_on_its_city_day(world):
    acc, u = world.acc, world.users
    now = datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)
    at = datetime(2026, 12, 3, 23, 30, tzinfo=YAKUTSK)  # 14:30 UTC the same day; 00:30 Yakutsk would be the UTC eve
    late = datetime(2026, 12, 4, 0, 30, tzinfo=YAKUTSK)  # = 2026-12-03 15:30 UTC: the UTC day is the 3rd
    pub = posts.create(u.smm, text="Вечер", account_ids=[acc["s_vk"].id], at=at.astimezone(timezone.utc),
                       now=now).publication
    pub2 = posts.create(u.smm, text="Ночь", account_ids=[acc["s_vk"].id], at=late.astimezone(timezone.utc),
                        now=now).publication
    db.session.commit()
    start = datetime(2026, 11, 30).date()
    days = posts.calendar(u.smm, start, 7)
    assert [p.id for p in days[at.date()]] == [pub.id]
    assert [p.id for p in days[late.date()]] == [pub2.id]
    assert posts.calendar(u.smm2, start, 7)[at.date()] == []
    assert [p.id for p in posts.calendar(u.press, start, 7, world.school)[at.date()]] == [pub.id]
    assert posts.calendar(u.press, start, 7, world.museum)[at.date()] == []


def test_press_editing_a_waiting_post_approves_it(world):
    world.school.posts_need_approval = True
    acc, u = world.acc, world.users
    pub = posts.create(u.smm, text="Черновик", account_ids=[acc["s_vk"].id]).publication
    db.session.commit()
    posts.update(u.press, pub, text="Поправила пресс-служба", account_ids=[acc["s_vk"].id])
    db.session.commit()
    assert pub.state == "scheduled" and pub.approved_by_id == u.press.id and world.calls.release == [pub.id]
    assert pub.institution_id == world.school.id
    assert not db.session.scalars(select(Notification).where(Notification.publication_id == pub.id,
                                                             Notification.read_at.is_(None))).all()
