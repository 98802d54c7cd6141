"""Issue 9, web side: the secret key, security headers, sessions that end, staff accounts managed in the app,
`flask check-config`."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from app.extensions import db
from app.models import User
from app.security import InsecureConfig
from app.services import auth
from app.services.config_check import check
from config import Config, TestConfig
from tests.factories import make_institution, make_user
from tests.helpers import body

ROOT = Path(__file__).resolve().parents[1]
OLD_DEV_KEY = "dev-only-change-me"


def production(**overrides) -> type:
    """A production configuration (not debug, not testing) on the test database."""
    values = {"SECRET_KEY": None, "TESTING": False, "SQLALCHEMY_DATABASE_URI": TestConfig.SQLALCHEMY_DATABASE_URI,
              **overrides}
    return type("ProductionConfig", (Config,), values)


# --- item 1: the key ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", [None, "", OLD_DEV_KEY, "short-key-31-characters-long-xx"])
def test_production_refuses_to_start_without_a_real_secret_key(key):
    with pytest.raises(InsecureConfig, match="SECRET_KEY") as exc:
        create_app(production(SECRET_KEY=key))
    assert "32" in str(exc.value)


def test_production_starts_with_a_long_key_and_debug_without_one_gets_a_random_key(monkeypatch):
    assert create_app(production(SECRET_KEY="k" * 32)).config["SECRET_KEY"] == "k" * 32
    monkeypatch.setenv("FLASK_DEBUG", "1")
    debug = create_app(production())
    assert debug.debug and len(debug.config["SECRET_KEY"]) >= 32 and debug.config["SECRET_KEY"] != OLD_DEV_KEY


def forged_cookie(key: str, data: dict) -> str:
    app = Flask("forger")
    app.secret_key = key
    return SecureCookieSessionInterface().get_signing_serializer(app).dumps(data)


def test_a_session_forged_with_the_old_dev_key_does_not_open_admin(client):
    admin = make_user("admin")
    db.session.commit()
    for user_id in ("1", str(admin.id), admin.get_id()):
        client.set_cookie("session", forged_cookie(OLD_DEV_KEY, {"_user_id": user_id, "_fresh": True}))
        resp = client.get("/admin")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], user_id
    client.set_cookie("session", forged_cookie(TestConfig.SECRET_KEY, {"_user_id": admin.get_id(), "_fresh": True}))
    assert client.get("/admin").status_code == 200  # the same cookie signed with the app's own key does


def test_the_key_can_come_from_a_file_as_make_run_writes_it(tmp_path):
    key_file = tmp_path / "secret_key"
    key_file.write_text("f" * 48 + "\n")
    env = {**os.environ, "SECRET_KEY_FILE": str(key_file)}
    env.pop("SECRET_KEY", None)
    out = subprocess.run([sys.executable, "-c", "from config import Config; print(Config.SECRET_KEY)"], cwd=ROOT,
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "f" * 48
    makefile = (ROOT / "Makefile").read_text()
    assert "SECRET_KEY_FILE" in makefile and "token_urlsafe" in makefile


# --- item 7: headers ------------------------------------------------------------------------------------
def test_login_cannot_be_framed_and_carries_a_strict_csp(client):
    resp = client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "same-origin" and resp.headers["X-Content-Type-Options"] == "nosniff"
    page = body(resp)
    assert "includeIndicatorStyles\":false" in page
    assert not re.search(r"\sstyle=|\son[a-z]+=|hx-on|<script>", page)


def test_static_files_and_errors_carry_the_headers_too(client):
    for url in ("/static/app.js", "/no-such-page"):
        resp = client.get(url)
        assert resp.headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in resp.headers


def test_templates_have_no_inline_script_style_or_handlers():
    """What the CSP would block: style attributes, on… handlers, hx-on, inline <script> blocks."""
    for path in (ROOT / "app" / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\sstyle=|style\s*=\s*\"|\son[a-z]+\s*=|hx-on|<script(?![^>]*\bsrc=)", text), path


def test_embedding_the_public_pages_is_a_setting_staff_pages_never(app, client):
    app.config["EMBED_ALLOWED_ORIGINS"] = "https://belogorsk.ru"
    try:
        public = client.get("/appeal")
        assert "frame-ancestors 'self' https://belogorsk.ru" in public.headers["Content-Security-Policy"]
        assert "X-Frame-Options" not in public.headers
        staff = client.get("/login")
        assert "frame-ancestors 'none'" in staff.headers["Content-Security-Policy"]
        assert staff.headers["X-Frame-Options"] == "DENY"
    finally:
        app.config["EMBED_ALLOWED_ORIGINS"] = ""


# --- item 8: sessions -----------------------------------------------------------------------------------
def login_form(client, username, password, remember=False):
    data = {"username": username, "password": password}
    if remember:
        data["remember"] = "y"
    return client.post("/login", data=data)


def test_a_session_cookie_copied_before_logout_no_longer_opens_the_queue(app, client):
    make_user("moderator", username="anna", password="long-password-1")
    db.session.commit()
    assert login_form(client, "anna", "long-password-1").status_code == 302
    copied = client.get_cookie("session").value
    queue = client.get("/queue")
    assert queue.status_code == 200 and queue.headers["Cache-Control"] == "no-store"
    assert client.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", copied)
    resp = thief.get("/queue")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_cookies_are_samesite_lax_and_secure_over_https(app, client):
    make_user("moderator", username="anna", password="long-password-1")
    db.session.commit()
    resp = login_form(client, "anna", "long-password-1", remember=True)
    cookies = resp.headers.getlist("Set-Cookie")
    assert any(c.startswith("session=") and "SameSite=Lax" in c and "HttpOnly" in c for c in cookies), cookies
    assert any(c.startswith("remember_token=") and "SameSite=Lax" in c and "HttpOnly" in c for c in cookies), cookies
    env = {**os.environ, "PREFERRED_URL_SCHEME": "https"}
    env.pop("SESSION_COOKIE_SECURE", None)
    out = subprocess.run([sys.executable, "-c", "from config import Config as C; "
                          "print(C.SESSION_COOKIE_SECURE, C.REMEMBER_COOKIE_SECURE, C.REMEMBER_COOKIE_SAMESITE)"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "Lax"]
    app.config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    try:
        secure = app.test_client()
        resp = login_form(secure, "anna", "long-password-1", remember=True)
        cookies = resp.headers.getlist("Set-Cookie")
        assert all("Secure" in c for c in cookies if c.startswith(("session=", "remember_token="))), cookies
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.config.update(SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)


def test_a_remember_cookie_from_before_logout_does_not_log_in(app, client):
    make_user("moderator", username="anna", password="long-password-1")
    db.session.commit()
    login_form(client, "anna", "long-password-1", remember=True)
    remember = client.get_cookie("remember_token").value
    client.post("/logout")
    thief = app.test_client()
    thief.set_cookie("remember_token", remember)
    assert thief.get("/queue").status_code == 302


def test_an_unknown_user_costs_a_password_hash_like_a_real_one(monkeypatch):
    make_user("moderator", username="anna", password="long-password-1")
    calls = []
    real = auth.check_password_hash
    monkeypatch.setattr(auth, "check_password_hash", lambda h, p: calls.append(h) or real(h, p))
    with pytest.raises(auth.DomainError):
        auth.authenticate("nobody", "guess-guess", "203.0.113.9")
    assert len(calls) == 1 and calls[0].startswith(make_user("moderator").password_hash.split("$")[0])


# --- item 8: /admin/users and one's own password --------------------------------------------------------
def test_admin_users_is_for_admins_only(login):
    for role in ("moderator", "executor", "head", "analyst"):
        assert login(make_user(role)).get("/admin/users").status_code == 403
        db.session.rollback()


def test_admin_creates_a_user_and_bad_input_gets_field_messages(login):
    inst = make_institution(name="МУП «Водоканал» г. Белогорск")
    admin = login(make_user("admin", username="boss"))
    page = body(admin.get("/admin/users"))
    assert "Пользователи" in page and "boss" in page and "Новый пользователь" in page
    bad = admin.post("/admin/users", data={"username": "petrov", "role": "executor", "password": "short"})
    text = body(bad)
    assert bad.status_code == 422 and "Исполнителю нужно учреждение" in text
    bad = admin.post("/admin/users", data={"username": "petrov", "role": "executor", "institution_id": str(inst.id),
                                           "password": "short"})
    assert bad.status_code == 422 and "Пароль слишком короткий (не меньше 8 символов)" in body(bad)
    for junk in ({"username": "", "role": "king", "password": ""}, {"username": "a b", "role": "moderator",
                 "password": "long-enough-1"}, {"role": "executor", "institution_id": "99999999999"}):
        assert admin.post("/admin/users", data=junk).status_code == 422, junk
    ok = admin.post("/admin/users", data={"username": "petrov", "full_name": "Петров П. П.", "role": "executor",
                                          "institution_id": str(inst.id), "password": "long-enough-1"})
    assert ok.status_code == 303
    petrov = db.session.scalar(db.select(User).where(User.username == "petrov"))
    assert petrov.role == "executor" and petrov.institution_id == inst.id and petrov.check_password("long-enough-1")
    again = admin.post("/admin/users", data={"username": "PETROV", "role": "moderator", "password": "long-enough-1"})
    assert again.status_code == 422 and "уже есть" in body(again)


def session_of(app, user_obj, password):
    c = app.test_client()
    assert login_form(c, user_obj.username, password).status_code == 302
    assert c.get("/").status_code == 302 and c.get("/notifications").status_code == 200
    return c


def test_deactivation_and_a_password_reset_end_the_users_sessions(app, login):
    anna = make_user("moderator", username="anna", password="long-password-1")
    db.session.commit()
    their = session_of(app, anna, "long-password-1")
    admin = login(make_user("admin"))
    resp = admin.post(f"/admin/users/{anna.id}/active", data={f"a{anna.id}-active": "0"},
                      headers={"HX-Request": "true"})
    assert resp.status_code == 200 and "сеансы завершены" in body(resp) and f'id="user-{anna.id}"' in body(resp)
    assert their.get("/notifications").status_code == 302
    assert login_form(app.test_client(), "anna", "long-password-1").status_code == 401
    assert admin.post(f"/admin/users/{anna.id}/active", data={f"a{anna.id}-active": "1"},
                      headers={"HX-Request": "true"}).status_code == 200
    their = session_of(app, anna, "long-password-1")
    short = admin.post(f"/admin/users/{anna.id}/password", data={f"p{anna.id}-password": "1"},
                       headers={"HX-Request": "true"})
    assert short.status_code == 422 and "Пароль слишком короткий" in body(short)
    assert admin.post(f"/admin/users/{anna.id}/password", data={f"p{anna.id}-password": "a-new-password-2"},
                      headers={"HX-Request": "true"}).status_code == 200
    assert their.get("/notifications").status_code == 302
    session_of(app, anna, "a-new-password-2")


def test_admin_sets_role_and_institution_and_cannot_lock_themselves_out(login):
    inst = make_institution()
    anna = make_user("moderator", username="anna")
    me = make_user("admin")
    admin = login(me)
    bad = admin.post(f"/admin/users/{anna.id}/role", data={f"u{anna.id}-role": "executor"},
                     headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "Исполнителю нужно учреждение" in body(bad)
    ok = admin.post(f"/admin/users/{anna.id}/role", headers={"HX-Request": "true"},
                    data={f"u{anna.id}-role": "executor", f"u{anna.id}-institution_id": str(inst.id)})
    assert ok.status_code == 200 and "Роль сохранена" in body(ok)
    db.session.refresh(anna)
    assert anna.role == "executor" and anna.institution_id == inst.id
    myself = admin.post(f"/admin/users/{me.id}/active", data={f"a{me.id}-active": "0"}, headers={"HX-Request": "true"})
    assert myself.status_code == 422 and "Нельзя отключить самого себя" in body(myself)
    demote = admin.post(f"/admin/users/{me.id}/role", data={f"u{me.id}-role": "analyst"},
                        headers={"HX-Request": "true"})
    assert demote.status_code == 422
    assert admin.post("/admin/users/99999999999/role").status_code == 404


def test_staff_change_their_own_password_and_other_sessions_end(app):
    anna = make_user("executor", username="anna", password="long-password-1")
    db.session.commit()
    other = session_of(app, anna, "long-password-1")
    me = session_of(app, anna, "long-password-1")
    page = body(me.get("/account/password"))
    assert "Смена пароля" in page and "Текущий пароль" in page
    assert 'href="/account/password"' in body(me.get("/notifications"))  # linked from the top bar
    wrong = me.post("/account/password", data={"current": "nope", "new": "a-new-password-2",
                                               "confirm": "a-new-password-2"})
    assert wrong.status_code == 422 and "Текущий пароль неверен" in body(wrong)
    mismatch = me.post("/account/password", data={"current": "long-password-1", "new": "a-new-password-2",
                                                  "confirm": "другой"})
    assert mismatch.status_code == 422 and "Пароли не совпадают" in body(mismatch)
    assert me.post("/account/password", data={}).status_code == 422
    ok = me.post("/account/password", data={"current": "long-password-1", "new": "a-new-password-2",
                                            "confirm": "a-new-password-2"})
    assert ok.status_code == 303
    assert me.get("/notifications").status_code == 200  # this session goes on
    assert other.get("/notifications").status_code == 302  # the others end
    assert login_form(app.test_client(), "anna", "long-password-1").status_code == 401
    session_of(app, anna, "a-new-password-2")


# --- also: flask check-config ---------------------------------------------------------------------------
def test_check_config_lists_what_production_lacks(app):
    findings = {f.setting: f for f in check({"SECRET_KEY": OLD_DEV_KEY, "TELEGRAM_BOT_TOKEN": "t",
                                             "SQLALCHEMY_DATABASE_URI": "postgresql://x", "REDIS_URL": "redis://x"})}
    assert findings["SECRET_KEY"].critical and findings["PREFERRED_URL_SCHEME"].critical
    assert findings["PUBLIC_BASE_URL"].critical and findings["TELEGRAM_WEBHOOK_SECRET"].critical
    assert not findings["MAIL_SERVER"].critical
    ready = {"SECRET_KEY": "s" * 48, "SESSION_COOKIE_SECURE": True, "PUBLIC_BASE_URL": "https://om.belogorsk.ru",
             "SQLALCHEMY_DATABASE_URI": "postgresql://x", "REDIS_URL": "redis://x", "MAIL_SERVER": "smtp.city.ru",
             "MAIL_FROM": "om@city.ru", "MAIL_USE_TLS": True, "TELEGRAM_BOT_TOKEN": "t",
             "TELEGRAM_WEBHOOK_SECRET": "a-long-webhook-secret",
             "ACCOUNT_SECRETS_KEY": "kVqJ6m0mV3y2sYyqkQx0b2a0T1ZbZ1Vw5dY2m8QxJXo="}  # issue 12: a key of its own
    assert check(ready) == []
    runner = app.test_cli_runner()
    result = runner.invoke(args=["check-config"])
    assert result.exit_code == 1 and "PUBLIC_BASE_URL" in result.output and "КРИТИЧНО" in result.output


def test_check_config_runs_even_without_a_key():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE")}
    env.update(FLASK_APP="app:create_app", DATABASE_URL="sqlite:///:memory:")
    out = subprocess.run([sys.executable, "-m", "flask", "check-config"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and "SECRET_KEY" in out.stdout and "Traceback" not in out.stderr
