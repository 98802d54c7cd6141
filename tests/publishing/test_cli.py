"""`flask posts publish` (issue 13 item 6): the same path as the page, acting as a user; one key publishes once."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy import select

from app.extensions import db
from app.models import Publication
from tests.publishing import compose_support
from tests.publishing.compose_support import png_bytes

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world


def run(app, *args):
    return app.test_cli_runner().invoke(args=["posts", "publish", *args])


def count() -> int:
    return db.session.scalar(select(db.func.count(Publication.id)))


def test_the_same_key_twice_publishes_once(app, world):
    acc = world.acc
    spec = f"{acc['s_telegram'].id},{acc['s_vk'].id}"
    first = run(app, "--text", "Из скрипта", "--accounts", spec, "--key", "nightly-1", "--as", world.users.smm.username)
    assert first.exit_code == 0, first.output
    pub = db.session.scalar(select(Publication).where(Publication.key == "nightly-1"))
    assert f"Пост № {pub.id} создан" in first.output and "запланировано" in first.output
    assert pub.author_id == world.users.smm.id and world.calls.release == [pub.id]
    second = run(app, "--text", "Из скрипта", "--accounts", spec, "--key", "nightly-1", "--as",
                 world.users.smm.username)
    assert second.exit_code == 0 and "ничего нового не опубликовано" in second.output
    assert count() == 1 and world.calls.release == [pub.id]


def test_default_user_is_the_first_admin_with_directions_photos_and_a_time(app, world, tmp_path):
    day = (datetime.now(timezone.utc) + timedelta(days=3)).date()
    photo = tmp_path / "афиша.jpg"
    photo.write_bytes(png_bytes())
    result = run(app, "--text", "Музеи города", "--photo", str(photo), "--accounts", "direction:p-culture",
                 "--at", f"{day} 23:30", "--key", "k")
    assert result.exit_code == 0, result.output
    pub = db.session.scalar(select(Publication).where(Publication.key == "k"))
    assert pub.author.role == "admin" and pub.photos[0].content_type == "image/png"
    assert {d.account.institution_id for d in pub.deliveries} == {world.museum.id}
    assert pub.scheduled_at == datetime.combine(day, time(14, 30), timezone.utc)  # Yakutsk is UTC+9


def test_approval_rules_apply_to_the_cli(app, world):
    world.school.posts_need_approval = True
    db.session.commit()
    result = run(app, "--text", "x", "--accounts", "all", "--key", "a", "--as", world.users.smm.username)
    assert result.exit_code == 0 and "ждёт согласования" in result.output and world.calls.release == []


def test_clear_errors(app, world, tmp_path):
    smm = world.users.smm.username
    bad = tmp_path / "page.jpg"
    bad.write_bytes(b"<html></html>")
    cases = [
        (["--text", "x", "--accounts", "all", "--key", "a", "--as", "nobody"], "«nobody» не найден"),
        (["--text", "x", "--accounts", str(world.acc["m_vk"].id), "--key", "a", "--as", smm], "недоступен"),
        (["--text", "x", "--accounts", "all", "--photo", str(tmp_path / "нет.jpg"), "--key", "a"],
         "Не удалось прочитать файл"),
        (["--text", "x", "--accounts", "all", "--photo", str(bad), "--key", "a"], "«page.jpg» — не фото"),
        (["--text", "x", "--accounts", "all", "--at", "завтра", "--key", "a"], "ГГГГ-ММ-ДД ЧЧ:ММ"),
        (["--text", "x", "--accounts", "all", "--at", "2020-01-01 10:00", "--key", "a"], "уже прошло"),
        (["--text", "x", "--accounts", "direction:p-culture", "--key", "a", "--as", smm], "направлениям"),
    ]
    for args, message in cases:
        result = run(app, *args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    assert count() == 0
