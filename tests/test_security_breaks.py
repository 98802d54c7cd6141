"""Faults found by trying to break issue 9's work (helper break9): each a regression test of its kind."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import Notification, Reply
from app.services import staff_telegram, users
from tests.factories import make_user
from tests.test_intake_security import fakes, networks  # noqa: F401 — fixtures
from tests.test_outbox import (
    MONDAY_NOON,
    STAFF_CHAT,
    _control_order,
    _sla_warning,
    _weekly_digest,
    deliver_due,
)


# --- a staff push waiting in the outbox goes to nobody who lost the right to it -----------------------
# A push is held until working hours or after a 429; meanwhile the user may be deactivated (dismissed) or unlink
# their Telegram, or the chat may now be somebody else's. Residents' data must not reach that chat.
def _deactivate(user):
    users.set_active(make_user("admin"), user, False)


def _unlink(user):
    staff_telegram.unlink(user)


def _other_chat(user):
    user.telegram_chat_id = str(STAFF_CHAT + 1)


@pytest.mark.parametrize("change", [_deactivate, _unlink, _other_chat], ids=["deactivated", "unlinked", "relinked"])
@pytest.mark.parametrize("make_push", [_sla_warning, _control_order, _weekly_digest],
                         ids=["sla-warning", "control-order", "weekly-digest"])
def test_held_staff_push_is_not_sent_after_the_user_lost_the_chat(tg_config, fake_tg, make_push, change, clock):
    now = clock(MONDAY_NOON)
    fake_tg.rate_limit(STAFF_CHAT, retry_after=30)
    make_push(now)
    [push] = db.session.scalars(db.select(Reply).where(Reply.notification_id.isnot(None))).all()
    assert push.state == "pending"  # held: Telegram said wait
    change(db.session.get(Notification, push.notification_id).user)
    db.session.commit()
    deliver_due(now + timedelta(minutes=5))
    db.session.refresh(push)
    assert fake_tg.messages_to(STAFF_CHAT) == [] and fake_tg.messages_to(STAFF_CHAT + 1) == []
    assert push.state == "failed" and "не отправлено" in push.last_error


def test_a_linked_active_user_still_gets_the_held_push(tg_config, fake_tg, clock):
    now = clock(MONDAY_NOON)
    fake_tg.rate_limit(STAFF_CHAT, retry_after=30)
    _sla_warning(now)
    deliver_due(now + timedelta(minutes=5))
    assert len(fake_tg.messages_to(STAFF_CHAT)) == 1


# --- keys and secrets that are printed in this repository are no keys -----------------------------------
# The test suite's SECRET_KEY (config.TestConfig, tests/test_jobs.py) is as public as the old development default:
# a deployer copying it would let anyone sign {"_user_id": "1"}. A key of blanks is no key either.
@pytest.mark.parametrize("key", ["test-only-secret-key-0123456789abcdef", "worker-test-secret-key-0123456789abcdef",
                                 " " * 40, "\t" * 32 + "abc"])
def test_production_refuses_keys_published_in_the_repository_or_blank(key):
    from app import create_app
    from app.security import InsecureConfig
    from tests.test_security import production

    with pytest.raises(InsecureConfig, match="SECRET_KEY"):
        create_app(production(SECRET_KEY=key))


def test_check_config_calls_the_demo_webhook_secrets_critical():
    from app.demo.simulate import SECRET as DEMO_SECRET
    from app.services.config_check import NETWORK_SECRETS, check

    config = {token: "real-token" for token, _ in NETWORK_SECRETS.values()}
    config.update({secret: DEMO_SECRET for _, secret in NETWORK_SECRETS.values()})
    findings = {f.setting: f for f in check(config)}
    for _, secret in NETWORK_SECRETS.values():
        assert findings[secret].critical and "демо" in findings[secret].message


# --- a staff e-mail is an address: the head's digest goes there ----------------------------------------
# /admin/users took any text (a line break and «Bcc:» included) as a user's e-mail and stored it.
@pytest.mark.parametrize("email", ["a@b.ru\r\nBcc: evil@x.ru", "not an email", "a@b", "<a@b.ru>", "a@b.ru, c@d.ru"])
def test_admin_users_refuses_an_email_that_is_not_one_address(login, email):
    from app.models import User

    admin = login(make_user("admin"))
    resp = admin.post("/admin/users", data={"username": "glava", "role": "head", "password": "long-enough-1",
                                            "email": email})
    assert resp.status_code == 422 and "Проверьте адрес электронной почты" in resp.get_data(as_text=True)
    assert db.session.scalar(db.select(User).where(User.username == "glava")) is None


def test_admin_users_keeps_a_real_email_lower_cased(login):
    from app.models import User

    admin = login(make_user("admin"))
    resp = admin.post("/admin/users", data={"username": "glava", "role": "head", "password": "long-enough-1",
                                            "email": " Glava@Belogorsk.RU "})
    assert resp.status_code == 303
    assert db.session.scalar(db.select(User.email).where(User.username == "glava")) == "glava@belogorsk.ru"


# --- an authenticated delivery is stored even when an id or a command is longer than its column -------------
# A resident's «/start <a long text>» (command_arg is 200 characters), a 400-digit id (external ids are 128) or
# a 600-character link went to /admin/rejections as «could not store (DataError)»: the message missed the queue.
LONG_ID = int("9" * 400)


def _tg(p, what):
    m = p["message"]
    if what == "author":
        m["from"]["id"] = m["chat"]["id"] = LONG_ID
    elif what == "reply":
        m["reply_to_message"] = {"message_id": LONG_ID, "date": 1, "chat": m["chat"]}
    elif what == "command":
        m["text"] = "/start " + "Во дворе яма " * 100


def _vk(p, what):
    m = p["object"]["message"]
    if what == "author":  # (a peer_id that long would be a multi-user chat: not taken, issue 17)
        m["from_id"] = LONG_ID
    elif what == "reply":
        m["reply_message"] = {"id": LONG_ID, "from_id": 1, "text": "x"}
    elif what == "command":
        m["ref"] = "x" * 1000


def _max(p, what):
    m = p["message"]
    if what == "author":
        m["sender"]["user_id"] = m["recipient"]["chat_id"] = LONG_ID
    elif what == "reply":
        m["link"] = {"type": "reply", "message": {"mid": "m" * 400}}
    elif what == "command":
        m["body"]["text"] = "/start " + "Во дворе яма " * 100
    elif what == "link":
        m["url"] = "https://max.ru/" + "a" * 600


def _ok(p, what):
    if what == "author":
        p["sender"]["user_id"], p["recipient"]["chat_id"] = "u" * 400, "c" * 400
    elif what == "reply":
        p["message"]["reply_to"] = "r" * 400
    elif what == "command":
        p["message"]["text"] = "/start " + "Во дворе яма " * 100


LONG_FIELDS = {"telegram": (_tg, ("author", "reply", "command")), "vk": (_vk, ("author", "reply", "command")),
               "max": (_max, ("author", "reply", "command", "link")), "ok": (_ok, ("author", "reply", "command"))}


@pytest.mark.parametrize("network,what", [(n, w) for n, (_, ws) in LONG_FIELDS.items() for w in ws])
def test_an_authenticated_message_with_an_overlong_field_is_stored(client, networks, network, what):  # noqa: F811
    from app.models import IntakeRejection, Message
    from tests.test_intake_security import message_payload, post

    payload = message_payload(network)
    LONG_FIELDS[network][0](payload, what)
    before = db.session.scalar(db.select(db.func.count(Message.id)))
    resp = post(client, network, payload)
    assert resp.status_code == 200
    assert db.session.scalar(db.select(db.func.count(Message.id))) == before + 1
    assert db.session.scalars(db.select(IntakeRejection.reason)).all() == []
    stored = db.session.scalar(db.select(Message).order_by(Message.id.desc()).limit(1))
    if what == "link":  # links are kept whole (a cut link is a wrong link): messages.permalink is text
        assert stored.permalink == payload["message"]["url"]


def test_fit_values_bounds_every_string_column_of_a_message_and_a_resident():
    from app.models import Message, Resident
    from app.models.base import fit_values as fit_columns

    for model in (Message, Resident):
        bounded = {c.key: "я" * 5000 for c in model.__table__.columns if getattr(c.type, "length", None)}
        assert bounded
        for key, value in fit_columns(model, dict(bounded)).items():
            column = model.__table__.columns[key]
            assert value is None or len(value) <= column.type.length, (model, key)


# --- the own-password page is a login: a stolen session cannot guess the current password ----------------
def test_guessing_the_current_password_on_the_own_password_page_is_throttled(app, login):
    from tests.test_security import login_form

    anna = make_user("executor", username="anna", password="long-password-1")
    me = login(anna)
    limit = app.config["LOGIN_MAX_FAILURES"]
    for n in range(limit):
        wrong = me.post("/account/password", data={"current": f"guess-{n}", "new": "a-new-password-2",
                                                   "confirm": "a-new-password-2"})
        assert wrong.status_code == 422 and "Текущий пароль неверен" in wrong.get_data(as_text=True)
    right = me.post("/account/password", data={"current": "long-password-1", "new": "a-new-password-2",
                                               "confirm": "a-new-password-2"})
    assert right.status_code == 429 and "Слишком много неудачных попыток" in right.get_data(as_text=True)
    db.session.refresh(anna)
    assert anna.check_password("long-password-1")  # the right guess after the limit changed nothing
    assert login_form(app.test_client(), "anna", "long-password-1").status_code == 429  # nor does a login try


# --- an administrator's own password is changed with the current one, not by the reset for others ---------
def test_an_admin_cannot_reset_their_own_password_without_the_current_one(login):
    admin = make_user("admin", password="long-password-1")
    client = login(admin)
    resp = client.post(f"/admin/users/{admin.id}/password", data={f"p{admin.id}-password": "taken-over-pass-9"},
                       headers={"HX-Request": "true"})
    assert resp.status_code == 422 and "Смена пароля" in resp.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.check_password("long-password-1")
    other = make_user("moderator", password="long-password-1")
    ok = login(admin).post(f"/admin/users/{other.id}/password", data={f"p{other.id}-password": "a-new-password-2"},
                           headers={"HX-Request": "true"})
    assert ok.status_code == 200
    db.session.refresh(other)
    assert other.check_password("a-new-password-2")


def test_check_config_calls_debug_mode_critical():
    from app.services.config_check import check

    findings = {f.setting: f for f in check({"DEBUG": True, "SECRET_KEY": "s" * 48})}
    assert findings["FLASK_DEBUG"].critical
    assert "FLASK_DEBUG" not in {f.setting for f in check({"DEBUG": False, "SECRET_KEY": "s" * 48})}


# --- a session from before the login does not live on after it ------------------------------------------
# The CSRF token is kept in the session: a cookie planted before the login (a sibling subdomain, plain http)
# carried a token the attacker knew, and it stayed valid for the logged-in staff member.
def test_login_starts_a_new_session_without_the_planted_csrf_token(client):
    from tests.test_security import login_form

    make_user("moderator", username="masha", password="long-password-1")
    db.session.commit()
    with client.session_transaction() as s:
        s["csrf_token"] = "planted-by-an-attacker"
        s["anything"] = "else"
    assert login_form(client, "masha", "long-password-1").status_code == 302
    with client.session_transaction() as s:
        assert "_user_id" in s and s.get("csrf_token") != "planted-by-an-attacker" and "anything" not in s
    assert client.get("/notifications").status_code == 200


# --- EMBED_ALLOWED_ORIGINS is a list of origins, never a piece of the policy --------------------------------
@pytest.mark.parametrize("setting", ["https://belogorsk.ru; script-src *",
                                     "https://belogorsk.ru;script-src 'unsafe-inline'", "https://*", "*",
                                     "https://belogorsk.ru/path", "javascript:alert(1)", "https://belogorsk.ru'"])
def test_a_malformed_embed_origin_cannot_change_the_policy(app, client, setting):
    app.config["EMBED_ALLOWED_ORIGINS"] = setting
    try:
        csp = client.get("/appeal").headers["Content-Security-Policy"]
    finally:
        app.config["EMBED_ALLOWED_ORIGINS"] = ""
    assert csp.count("script-src") == 1 and "unsafe-inline" not in csp and "*" not in csp
    assert csp.endswith("frame-ancestors 'none'")


@pytest.mark.parametrize("setting,ancestors", [("https://belogorsk.ru", "'self' https://belogorsk.ru"),
                                               ("https://belogorsk.ru/, http://city.ru:8080",
                                                "'self' https://belogorsk.ru http://city.ru:8080"),
                                               ("https://*.belogorsk.ru", "'self' https://*.belogorsk.ru")])
def test_well_formed_embed_origins_are_allowed(app, client, setting, ancestors):
    app.config["EMBED_ALLOWED_ORIGINS"] = setting
    try:
        csp = client.get("/appeal").headers["Content-Security-Policy"]
    finally:
        app.config["EMBED_ALLOWED_ORIGINS"] = ""
    assert csp.endswith(f"frame-ancestors {ancestors}")


# --- a session without «Запомнить меня» ends after a working day, not after Flask's default 31 days -----------
def test_a_session_cookie_is_not_honoured_after_session_hours(app, client, login, monkeypatch):
    from itsdangerous import TimestampSigner

    assert app.permanent_session_lifetime.total_seconds() == 12 * 3600
    me = login(make_user("moderator"))
    assert me.get("/notifications").status_code == 200
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 11 * 3600)
    assert me.get("/notifications").status_code == 200
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) + 13 * 3600)
    assert me.get("/notifications").status_code == 302


def _moved(user):
    from tests.factories import make_institution

    users.set_role(make_user("admin"), user, "executor", make_institution().id)


@pytest.mark.parametrize("make_push", [_sla_warning, _control_order], ids=["sla-warning", "control-order"])
def test_held_push_is_not_sent_to_an_executor_moved_to_another_institution(tg_config, fake_tg, make_push, clock):
    now = clock(MONDAY_NOON)
    fake_tg.rate_limit(STAFF_CHAT, retry_after=30)
    make_push(now)
    [push] = db.session.scalars(db.select(Reply).where(Reply.notification_id.isnot(None))).all()
    _moved(db.session.get(Notification, push.notification_id).user)
    db.session.commit()
    deliver_due(now + timedelta(minutes=5))
    db.session.refresh(push)
    assert fake_tg.messages_to(STAFF_CHAT) == []
    assert push.state == "failed" and "больше не видит" in push.last_error


# --- check-config: the demo's accounts with the demo's password in a real database -------------------------
def test_check_config_names_demo_accounts_that_keep_the_demo_password(app):
    admin = make_user("admin", username="admin", password="demo")
    make_user("moderator", username="moderator", password="a-real-password-1")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["check-config"])
    assert result.exit_code == 1 and "USERS" in result.output and "admin" in result.output.split("USERS")[1]
    assert "moderator" not in result.output.split("USERS")[1]
    admin.set_password("a-real-password-2")
    db.session.commit()
    assert "USERS" not in app.test_cli_runner().invoke(args=["check-config"]).output


# --- a resident's file leaves no copy in the browser's cache (the pages do not either) --------------------------
# «private, max-age=3600» let the next user of a staff computer open a resident's photo from the history for an
# hour after the logout, without the server being asked.
@pytest.mark.parametrize("kind", ["photo", "pdf"])
def test_a_residents_file_is_not_kept_in_the_browser_cache(client, fake_tg, bot_account, login, kind):
    from app.fakes import telegram as updates
    from tests.test_files_served import JPEG, PDF, deliver

    media = {"photo": updates.photo_sizes("AgAC-c")} if kind == "photo" else \
        {"document": updates.document("AgAC-c", "акт.pdf")}
    staff, link, _ticket = deliver(client, fake_tg, login, file_id="AgAC-c", media=media,
                                   content=JPEG if kind == "photo" else PDF, upstream_type="image/jpeg")
    resp = staff.get(link)
    assert resp.status_code == 200
    cache = resp.headers["Cache-Control"]
    assert "no-store" in cache and "max-age" not in cache


# --- VK's secret is read from the body before it is cleaned: a lone surrogate there is a refusal, not a 500 -----
@pytest.mark.parametrize("secret", ["\ud800", "a\udfffb", "\ud800" * 40])
def test_a_vk_secret_with_a_lone_surrogate_is_refused_not_a_500(client, networks, secret):  # noqa: F811
    import json

    from tests.test_intake_security import VK_GROUP, refused

    before = refused("vk")
    body = json.dumps({"type": "message_new", "group_id": VK_GROUP, "secret": secret,
                       "object": {"message": {"id": 1, "from_id": 1, "peer_id": 1, "text": "x", "date": 1}}})
    resp = client.post("/hooks/vk", data=body, content_type="application/json")
    assert resp.status_code == 403 and refused("vk") == before + 1
