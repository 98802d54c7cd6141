"""Issue 12's staff side under attack: an smm user of participant A reaching B's card, accounts and credentials
by id (every GET and POST route of /admin/participants, with A's or B's ids mixed), press and smm on the
admin-only CSV import of users and on residents' data; platform-sourced titles and post texts with markup on the
public pages; tokens never shown back."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Account, Post, utcnow
from app.services import users
from app.services.secretbox import encrypt
from tests.factories import make_institution, make_user

XSS = "<script>alert('x')</script><img src=x onerror=alert(1)>"
TOKEN = "vk1.a.SUPER-SECRET-COMMUNITY-TOKEN-0042"


@pytest.fixture
def two(app):
    a, b = make_institution(name="Участник А"), make_institution(name="Участник Б")
    a.slug, b.slug = "break-a", "break-b"
    acc_a = Account(institution=a, network="vk", handle="break_a", url="https://vk.com/break_a", title="A",
                    external_id="4100001")
    acc_b = Account(institution=b, network="vk", handle="break_b", url="https://vk.com/break_b", title=XSS,
                    external_id="4100002", followers=10, token_enc=encrypt(TOKEN, app.config))
    db.session.add_all([acc_a, acc_b])
    db.session.flush()
    db.session.add(Post(account_id=acc_b.id, external_id="p1", published_at=utcnow(), text=XSS,
                        permalink="https://vk.com/wall-4100002_1"))
    db.session.flush()
    return {"a": a, "b": b, "acc_a": acc_a, "acc_b": acc_b}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin/participants/<int:institution_id>"):
            yield rule


def test_smm_of_a_never_reaches_b(app, login, two):
    c = login(make_user("smm", institution=two["a"]))
    before = (two["acc_b"].token_enc, two["acc_b"].is_active, two["acc_b"].title)
    combos = [(two["b"].id, two["acc_b"].id), (two["a"].id, two["acc_b"].id), (two["b"].id, two["acc_a"].id)]
    tried = 0
    for rule in _routes(app):
        for inst_id, acc_id in combos:
            if "account_id" not in rule.arguments and inst_id == two["a"].id:
                continue
            if "account_id" not in rule.arguments and (inst_id, acc_id) != combos[0]:
                continue
            url = rule.rule.replace("<int:institution_id>", str(inst_id)).replace("<int:account_id>", str(acc_id))
            for method in rule.methods & {"GET", "POST"}:
                resp = c.open(url, method=method, data={"token": "x" * 40, "active": "0", "which": "token",
                                                         "address": "https://vk.com/break_b", "name": "Взлом",
                                                         "label": "x", "url": "https://evil.example"})
                tried += 1
                assert resp.status_code in (403, 404), (method, url, resp.status_code)
                assert TOKEN.encode() not in resp.data
    assert tried > 15
    db.session.expire_all()
    assert (two["acc_b"].token_enc, two["acc_b"].is_active, two["acc_b"].title) == before


@pytest.mark.parametrize("role", ["press", "smm"])
def test_press_and_smm_cannot_import_users_or_see_residents(login, two, role):
    c = login(make_user(role, institution=two["a"]))
    csv = "participant;name;email\nУчастник А;Иван;ivan@example.org\n".encode()
    for method, url in [("GET", "/admin/users/import"), ("POST", "/admin/users/import"),
                        ("POST", "/admin/users/import/create"), ("GET", "/admin/users"), ("GET", "/tickets/"),
                        ("GET", "/board"), ("GET", "/queue"), ("GET", "/tickets/export.xlsx")]:
        resp = c.open(url, method=method, data={"rows": csv.decode()})
        assert resp.status_code in (302, 303, 403, 404), (url, resp.status_code)
        assert b"ivan@example.org" not in resp.data


def test_markup_from_a_platform_is_text_and_tokens_never_shown(client, login, two, app):
    page = client.get(f"/participants/{two['b'].slug}").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert" in page  # the title and the post's text shown, as text
    api = client.get(f"/api/v1/participants/{two['b'].slug}").get_data(as_text=True)
    assert TOKEN not in api and TOKEN not in page
    c = login(make_user("admin"))
    for url in [f"/admin/participants/{two['b'].id}/accounts", f"/admin/participants/{two['b'].id}/accounts/"
                f"{two['acc_b'].id}", "/admin/participants"]:
        body = c.get(url).get_data(as_text=True)
        assert TOKEN not in body and "<script>alert" not in body, url


def test_a_set_password_link_leaks_nowhere_and_works_once(app, client, login, two):
    admin = make_user("admin")
    smm = make_user("smm", institution=two["a"])
    token = users.issue_password_link(admin, smm)
    db.session.commit()
    page = client.get(f"/account/set-password/{token}")
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", body)  # nothing loaded from elsewhere
    done = client.post(f"/account/set-password/{token}", data={"new": "a-long-new-pass-1", "confirm":
                                                                 "a-long-new-pass-1"})
    assert done.status_code == 303
    assert client.get(f"/account/set-password/{token}").status_code == 404  # spent
    assert client.get(f"/account/set-password/{token[:-1]}").status_code == 404


@pytest.mark.parametrize("origin", ["https://city.example.ru.evil.com", "null", "https://evil.example",
                                    "https://city.example.ru/path", "http://city.example.ru"])
def test_cors_only_for_the_allowed_origin_and_never_with_credentials(app, client, two, origin):
    saved = app.config.get("EMBED_ALLOWED_ORIGINS")
    app.config["EMBED_ALLOWED_ORIGINS"] = "https://city.example.ru"
    try:
        good = client.get("/api/v1/participants", headers={"Origin": "https://city.example.ru"})
        assert good.headers["Access-Control-Allow-Origin"] == "https://city.example.ru"
        bad = client.get("/api/v1/participants", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in bad.headers
        for resp in (good, bad):
            assert "Access-Control-Allow-Credentials" not in resp.headers
        framed = client.get("/participants?embed=1")
        assert "frame-ancestors 'self' https://city.example.ru" in framed.headers["Content-Security-Policy"]
        staff = client.get("/admin/participants")
        assert "frame-ancestors 'none'" in staff.headers.get("Content-Security-Policy", "frame-ancestors 'none'")
    finally:
        app.config["EMBED_ALLOWED_ORIGINS"] = saved
