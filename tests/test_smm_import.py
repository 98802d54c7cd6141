"""SMM specialists created in bulk from a CSV, and one-time links to set a password (issue 12, item 1)."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import User, utcnow
from app.services import users
from tests.factories import make_institution, make_user
from tests.helpers import body, count


@pytest.fixture
def schools():
    a = make_institution(name="МБОУ СОШ № 3")
    a.slug = "school-3"
    b = make_institution(name="Детская библиотека")
    b.slug = "library"
    db.session.flush()
    return a, b


def upload(c, data: bytes):
    return c.post("/admin/users/import", data={"file": (io.BytesIO(data), "smm.csv")},
                  content_type="multipart/form-data")


def links(page: str) -> list[str]:
    return re.findall(r'value="(http[^"]+/account/set-password/[^"]+)"', page)


CSV = ("participant;full name;contact\n"
       "school-3;Петрова Анна Сергеевна;petrova@school3.ru\n"
       "Детская библиотека;Иванов Пётр;@lib_belogorsk\n"
       "no-such-school;Сидоров;sidorov@mail.ru\n"
       "library;Козлова;not-an-email\n"
       "school-3;Петрова-дубль;PETROVA@school3.ru\n"
       "school-3;;@someone_else\n")


def test_preview_shows_each_rows_errors_and_creates_nothing(client, login, schools):
    c = login(make_user("admin"))
    before = count(User)
    resp = upload(c, ("\ufeff" + CSV).encode("utf-8"))  # Excel's «CSV UTF-8» starts with a BOM
    page = body(resp)
    assert resp.status_code == 200 and count(User) == before
    assert "участник не найден" in page and "неверный адрес электронной почты" in page
    assert "повтор строки 2" in page and "не указано ФИО" in page
    assert "Создать пользователей: 2" in page


def test_confirmed_rows_become_smm_users_with_one_time_links(client, login, schools):
    school, library = schools
    c = login(make_user("admin"))
    rows = users.parse_smm_csv(CSV.replace(";", ",").encode("utf-8"))  # «,» works as well as «;»
    assert [r.ok for r in rows] == [True, True, False, False, False, False]
    resp = c.post("/admin/users/import/create", data={"rows": CSV})
    page = body(resp)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    created = {u.username: u for u in db.session.scalars(db.select(User).where(User.role == "smm"))}
    assert set(created) == {"petrova@school3.ru", "lib_belogorsk"}
    assert created["petrova@school3.ru"].institution_id == school.id
    assert created["lib_belogorsk"].institution_id == library.id and created["lib_belogorsk"].email is None
    urls = links(page)
    assert len(urls) == 2 and "передайте ссылку сами" in page and "Пропущено строк с ошибками: 4" in page
    token = urls[0].rsplit("/", 1)[1]
    stored = {u.password_token_hash for u in created.values()}
    assert hashlib.sha256(token.encode()).hexdigest() in stored and token not in stored  # only the hash is kept
    # a second run of the same file creates nobody twice
    c.post("/admin/users/import/create", data={"rows": CSV})
    assert db.session.scalar(db.select(db.func.count(User.id)).where(User.role == "smm")) == 2


def test_a_file_that_is_not_utf8_or_is_empty_is_refused(client, login, schools):
    c = login(make_user("admin"))
    resp = upload(c, "school-3;Петрова;p@school3.ru".encode("cp1251"))
    assert resp.status_code == 422 and "не в кодировке UTF-8" in body(resp)
    resp = upload(c, b"\xef\xbb\xbf\n\n")
    assert resp.status_code == 422 and "нет ни одной строки" in body(resp)
    resp = c.post("/admin/users/import", data={})
    assert resp.status_code == 422 and "Выберите CSV-файл" in body(resp)


def test_only_admins_import(client, login, schools):
    for role in ("press", "smm", "moderator"):
        c = login(make_user(role, institution=schools[0]))
        assert c.post("/admin/users/import/create", data={"rows": CSV}).status_code == 403
    assert db.session.scalar(db.select(db.func.count(User.id)).where(User.role == "smm")) == 1  # the smm who tried


def set_password(c, url, new="Nov-parol-2026", confirm=None):
    return c.post(url, data={"new": new, "confirm": confirm or new})


def test_the_link_sets_a_password_once(client, login, schools):
    admin = make_user("admin")
    smm = make_user("smm", institution=schools[0])
    c = login(admin)
    page = body(c.post(f"/admin/users/{smm.id}/link"))
    (url,) = links(page)
    path = url.split("localhost", 1)[-1]
    c.post("/logout")
    assert client.get(path).status_code == 200
    resp = set_password(client, path, "short")
    assert resp.status_code == 422 and "Пароль слишком короткий" in body(resp)
    resp = set_password(client, path, "Nov-parol-2026", "Nov-parol-2027")
    assert resp.status_code == 422 and "Пароли не совпадают" in body(resp)
    assert set_password(client, path).status_code == 303
    db.session.refresh(smm)
    assert smm.check_password("Nov-parol-2026") and smm.password_token_hash is None
    assert client.get(path).status_code == 404  # used
    assert set_password(client, path, "Drugoi-parol-1").status_code == 404
    resp = client.post("/login", data={"username": smm.username, "password": "Nov-parol-2026"})
    home = f"/admin/participants/{schools[0].id}/accounts"
    assert resp.status_code == 302 and resp.headers["Location"].endswith(home)


def test_an_expired_or_wrong_link_is_a_404(client, login, schools):
    admin = make_user("admin")
    smm = make_user("smm", institution=schools[0])
    token = users.issue_password_link(admin, smm, now=utcnow() - timedelta(days=8))
    db.session.commit()
    assert client.get(f"/account/set-password/{token}").status_code == 404
    assert client.get(f"/account/set-password/{'x' * 43}").status_code == 404
    assert client.get("/account/set-password/short").status_code == 404
    fresh = users.issue_password_link(admin, smm)
    db.session.commit()
    assert client.get(f"/account/set-password/{token}").status_code == 404  # the new link replaced the old one
    assert client.get(f"/account/set-password/{fresh}").status_code == 200


def test_links_are_mailed_when_mail_is_configured(client, login, schools, smtp_server):
    c = login(make_user("admin"))
    page = body(c.post("/admin/users/import/create",
                       data={"rows": "school-3;Петрова Анна;petrova@school3.ru\nlibrary;Иванов;@lib_belogorsk\n"}))
    assert "отправлено на petrova@school3.ru" in page and "передайте ссылку сами" in page
    (mail,) = smtp_server.messages
    assert "petrova@school3.ru" in mail["To"] and "/account/set-password/" in mail.get_content()
