"""Logging in: hashed passwords, throttled failures, safe redirects, CSRF on every form."""
import re

import pytest

from app.extensions import db
from app.models import LoginAttempt, User
from app.services import auth
from app.services.errors import ValidationFailed
from tests.factories import make_institution, make_ticket, make_user
from tests.helpers import body


def test_password_is_stored_hashed():
    u = make_user("moderator", password="correct horse")
    assert "correct horse" not in u.password_hash and u.check_password("correct horse")


def test_login_page_is_russian_and_login_lands_on_queue(client):
    make_user("moderator", username="anna", password="demo")
    db.session.commit()
    page = client.get("/login")
    assert "Вход для сотрудников" in body(page)
    resp = client.post("/login", data={"username": "anna", "password": "demo"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/queue")


def test_wrong_password_is_refused_with_a_message(client):
    make_user("moderator", username="anna", password="demo")
    db.session.commit()
    resp = client.post("/login", data={"username": "anna", "password": "nope"})
    assert resp.status_code == 401 and "Неверное имя пользователя или пароль" in body(resp)
    empty = client.post("/login", data={"username": "", "password": ""})
    assert empty.status_code == 422 and "Введите имя пользователя" in body(empty)


def test_failed_logins_are_throttled_even_with_the_right_password(app, client):
    make_user("moderator", username="anna", password="demo")
    db.session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert client.post("/login", data={"username": "anna", "password": "guess"}).status_code == 401
    locked = client.post("/login", data={"username": "anna", "password": "demo"})
    assert locked.status_code == 429 and "Слишком много" in body(locked)


def test_next_parameter_cannot_redirect_off_site(client):
    make_user("moderator", username="anna", password="demo")
    db.session.commit()
    resp = client.post("/login?next=https://evil.example/", data={"username": "anna", "password": "demo"})
    assert resp.headers["Location"].endswith("/queue")


def test_old_failures_are_purged_by_the_housekeeping_job():
    from datetime import timedelta

    from app.jobs.housekeeping import purge_login_attempts
    from app.models import utcnow

    db.session.add(LoginAttempt(username="x", ip="1.2.3.4", attempted_at=utcnow() - timedelta(days=3)))
    db.session.add(LoginAttempt(username="y", ip="1.2.3.4"))
    db.session.commit()
    assert purge_login_attempts() == 1
    assert purge_login_attempts() == 0  # idempotent
    assert db.session.scalar(db.select(db.func.count(LoginAttempt.id))) == 1


def test_create_user_validates_input():
    inst = make_institution()
    with pytest.raises(ValidationFailed):
        auth.create_user("ex", "demo", "executor")  # no institution
    with pytest.raises(ValidationFailed):
        auth.create_user("boss", "demo", "king")
    auth.create_user("ex", "long-enough-1", "executor", institution_id=inst.id)
    with pytest.raises(ValidationFailed):
        auth.create_user("EX", "long-enough-1", "moderator")  # taken, case-insensitive


def test_users_create_command(app):
    inst = make_institution()
    runner = app.test_cli_runner()
    res = runner.invoke(args=["users", "create", "petrov", "--role", "executor", "--institution", str(inst.id),
                              "--password", "s3cret-passw0rd"])
    assert res.exit_code == 0, res.output
    assert "Создан пользователь petrov" in res.output
    u = db.session.scalar(db.select(User).where(User.username == "petrov"))
    assert u.role == "executor" and u.institution_id == inst.id and u.check_password("s3cret-passw0rd")
    bad = runner.invoke(args=["users", "create", "ivanov", "--role", "executor", "--password", "s3cret-passw0rd"])
    assert bad.exit_code != 0 and "учреждение" in bad.output


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_csrf_is_required_on_forms_and_htmx_posts(app, csrf_on):
    t = make_ticket()
    mod = make_user("moderator", username="csrfmod", password="demo")
    db.session.commit()
    client = app.test_client()
    no_token = client.post("/login", data={"username": "csrfmod", "password": "demo"})
    assert no_token.status_code == 400 and "Форма устарела" in body(no_token)
    page = body(client.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    ok = client.post("/login", data={"username": "csrfmod", "password": "demo", "csrf_token": token})
    assert ok.status_code == 302
    queue = body(client.get("/queue"))
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', queue).group(1)
    blocked = client.post(f"/tickets/{t.number}/note", data={"text": "x"}, headers={"HX-Request": "true"})
    assert blocked.status_code == 400
    allowed = client.post(f"/tickets/{t.number}/note", data={"text": "Заметка"},
                          headers={"HX-Request": "true", "X-CSRFToken": header_token})
    assert allowed.status_code == 200 and "Заметка" in body(allowed)
    assert mod.id


def test_guessing_many_accounts_from_one_address_is_throttled_too(app, client):
    make_user("moderator", username="anna", password="demo")
    db.session.commit()
    limit = app.config["LOGIN_MAX_FAILURES"] * auth.IP_FACTOR
    for i in range(limit):
        client.post("/login", data={"username": f"user{i}", "password": "guess"})
    assert client.post("/login", data={"username": "anna", "password": "demo"}).status_code == 429
