"""Issue 9, intake side: authenticate before storing anything, secrets never kept or shown, no input to a
webhook or the ingest API brings a 500 (examples + a hypothesis fuzz test), links from payloads only to the
platforms' own hosts, staff Telegram link codes only from Telegram. Every webhook network is swept."""
from __future__ import annotations

import io
import itertools
import json
import logging

import pytest

from app.channels.base import Attachment, IncomingMessage
from app.channels.clean import REDACTED, clean_message, clean_payload, load_json, safe_link
from app.extensions import db
from app.fakes import max as max_payloads
from app.fakes import ok as ok_payloads
from app.fakes import telegram as tg_payloads
from app.fakes import vk as vk_payloads
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.fakes.telegram import FakeTelegram
from app.fakes.vk import FakeVk
from app.models import IntakeRejection, Message, RefusedRequest, Resident, Ticket, User, utcnow
from app.services import refusals
from tests.factories import make_user
from tests.helpers import count

NETWORKS = ("telegram", "vk", "max", "ok")
SECRETS = {"telegram": "tg-secret-for-the-sweep", "vk": "vk-secret-for-the-sweep", "max": "max-secret-for-sweep",
           "ok": "ok-secret-for-the-sweep"}
TOKENS = {"telegram": "7012345678:AAH4-sweep-token", "vk": "vk1.a.sweep", "max": "max-sweep-token",
          "ok": "tkn1-sweep"}
VK_GROUP = 218000777
API_TOKEN = "api-token-for-the-sweep"
RESIDENT = 48151623
_ids = itertools.count(1000)


@pytest.fixture(scope="module")
def fakes():
    with FakeTelegram(token=TOKENS["telegram"]) as tg, FakeVk(token=TOKENS["vk"]) as vk, \
            FakeMax(token=TOKENS["max"]) as mx, FakeOk(token=TOKENS["ok"]) as ok:
        yield {"telegram": tg, "vk": vk, "max": mx, "ok": ok}


@pytest.fixture
def networks(app, fakes):
    """Every webhook network configured with its secret (against local fakes), and the ingest API's token."""
    values = dict(
        TELEGRAM_BOT_TOKEN=TOKENS["telegram"], TELEGRAM_WEBHOOK_SECRET=SECRETS["telegram"],
        TELEGRAM_API_URL=fakes["telegram"].base_url,
        VK_ACCESS_TOKEN=TOKENS["vk"], VK_SECRET=SECRETS["vk"], VK_GROUP_ID=str(VK_GROUP), VK_CONFIRMATION="c0nf",
        VK_API_URL=fakes["vk"].base_url,
        MAX_BOT_TOKEN=TOKENS["max"], MAX_WEBHOOK_SECRET=SECRETS["max"], MAX_API_URL=fakes["max"].base_url,
        OK_ACCESS_TOKEN=TOKENS["ok"], OK_WEBHOOK_SECRET=SECRETS["ok"], OK_API_URL=fakes["ok"].base_url,
        OK_GROUP_ID=None, INGEST_API_TOKENS=API_TOKEN, HTTP_TIMEOUT=5,
    )
    saved = {k: app.config.get(k) for k in values}
    app.config.update(values)
    yield app.config
    app.config.update(saved)


# --- how each network's deliveries look -------------------------------------------------------------------
def message_payload(network: str, text: str = "Во дворе дома 5 по ул. Ленина яма", **kw) -> dict:
    n = next(_ids)
    if network == "telegram":
        return tg_payloads.private_message(RESIDENT, text, message_id=n, **kw)
    if network == "vk":
        return vk_payloads.message_new(VK_GROUP, RESIDENT, text, conversation_message_id=n, **kw)
    if network == "max":
        return max_payloads.message_created(81_234_567, RESIDENT, text, **kw)
    return ok_payloads.message_created(ok_payloads.chat_id(0x3ECB9D02A6), RESIDENT, text, **kw)


def with_text(network: str, payload: dict, text) -> dict:
    """The payload with its message text replaced (after building: the fakes hash their payloads)."""
    if network == "telegram":
        payload["message"]["text"] = text
    elif network == "vk":
        payload["object"]["message"]["text"] = text
    elif network == "max":
        payload["message"]["body"]["text"] = text
    else:
        payload["message"]["text"] = text
    return payload


def post(client, network: str, body, *, secret: bool = True, raw: bool = False, wrong: bool = False):
    """POST to /hooks/<network>: `body` a dict (JSON) or raw bytes/str; with the network's secret, a wrong one,
    or none. VK's secret goes in the body, the others in their header (OK: the address)."""
    given = ("not-" + SECRETS[network]) if wrong else SECRETS[network]
    path, headers = f"/hooks/{network}", {}
    if secret and network == "telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = given
    elif secret and network == "max":
        headers.update(max_payloads.headers(given))
    elif secret and network == "ok":
        path = ok_payloads.hook_path(given)
    if not raw:
        body = dict(body)
        if network == "vk":
            body.pop("secret", None)
            if secret:
                body["secret"] = given
        body = json.dumps(body)  # \u escapes, as the platforms send (NUL, lone surrogates survive as text)
    return client.post(path, data=body, headers=headers, content_type="application/json")


def refused(network: str) -> int:
    return refusals.by_network().get(network, 0)


# --- item 2: the web form is not a webhook ---------------------------------------------------------------
ISSUE_WEB_BODY = {"submission_id": "6f1c1d2e-5a7b-4c8d-9e0f-1a2b3c4d5e6f", "text": "Яма во дворе",
                  "email": "anyone@example.org", "ip": "10.0.0.1"}


@pytest.mark.parametrize("body", [
    ISSUE_WEB_BODY,
    {**ISSUE_WEB_BODY, "attachments": [{"kind": "photo", "file_id": "../../etc/passwd"}]},
    {**ISSUE_WEB_BODY, "text": "Яма\u0000во дворе"},
], ids=["issue-example", "attachments", "nul"])
@pytest.mark.parametrize("network", ["web", "api"])
def test_our_own_channels_are_no_webhooks(client, networks, body, network):
    resp = client.post(f"/hooks/{network}", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 404
    assert count(Message) == 0 and count(Ticket) == 0 and count(IntakeRejection) == 0


def test_the_web_form_still_takes_appeals_at_appeal(client):
    page = client.get("/appeal")
    assert page.status_code == 200 and "csrf" in page.get_data(as_text=True).lower()


def test_every_route_that_creates_data_without_a_session_checks_its_own_secret(app):
    """The only CSRF-exempt POST routes are the webhooks (platform secret), the ingest API (bearer token) and the
    appeal form, which checks its own token (the session's, or inside a frame one signed for its submission:
    tests/test_public_form.py)."""
    from app.extensions import csrf

    exempt = {name for name in csrf._exempt_views}
    allowed = {"app.blueprints.webhooks.routes.hook", "app.blueprints.api.routes.messages",
               "app.blueprints.public.routes.appeal"}
    assert exempt <= allowed, exempt - allowed


# --- item 3: nothing is written before authentication ----------------------------------------------------
JUNK_BODIES = [b"not json at all", b"{oops", b"\x00\x01\x02", b'{"update_id": 1\x00}', b"[" * 100_000 + b"]" * 100_000,
               b"\xff\xfe\xfa", b""]


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("junk", range(len(JUNK_BODIES)))
def test_unauthenticated_junk_stores_nothing_and_is_counted(client, networks, network, junk, caplog):
    before = refused(network)
    with caplog.at_level(logging.WARNING, logger="app.services.refusals"):
        resp = post(client, network, JUNK_BODIES[junk], secret=False, raw=True)
    assert resp.status_code in (400, 403)
    assert count(IntakeRejection) == 0 and count(Message) == 0
    assert refused(network) == before + 1
    assert any("127.0.0.1" in r.getMessage() and network in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("network", NETWORKS)
def test_a_real_delivery_with_a_wrong_secret_stores_nothing(client, networks, network):
    resp = post(client, network, message_payload(network), wrong=True)
    assert resp.status_code == 403
    assert count(IntakeRejection) == 0 and count(Message) == 0 and refused(network) == 1


def test_the_refused_requests_are_counted_on_the_admin_page(client, login, networks):
    post(client, "telegram", b"junk", secret=False, raw=True)
    post(client, "telegram", b"junk", secret=False, raw=True)
    client.post("/api/v1/messages", json={"text": "x"})
    html = login(make_user("admin")).get("/admin").get_data(as_text=True)
    assert "Отказано без секрета за сутки" in html
    row = html.split("<td>Telegram</td>", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row
    assert count(RefusedRequest) == 2  # a row per network and day, however many requests


@pytest.mark.parametrize("network", NETWORKS)
def test_stored_rejections_of_authenticated_requests_keep_no_secret(client, login, networks, network):
    bad = {"telegram": {"update_id": "x"}, "vk": {"type": 5, "group_id": VK_GROUP}, "max": {"update_type": 7},
           "ok": {"webhookType": 7}}[network]
    assert post(client, network, bad).status_code == 400
    assert post(client, network, b"{not json", raw=True).status_code == 400
    rejections = db.session.scalars(db.select(IntakeRejection)).all()
    assert len(rejections) == (1 if network == "vk" else 2)  # VK: no JSON, no secret → not authenticated
    stored = json.dumps([[r.body, r.headers, r.reason] for r in rejections], ensure_ascii=False)
    assert SECRETS[network] not in stored and TOKENS[network] not in stored
    if network in ("telegram", "max"):
        assert REDACTED in stored
    html = login(make_user("admin")).get("/admin/rejections").get_data(as_text=True)
    assert SECRETS[network] not in html


def test_rejections_kept_before_the_fix_are_shown_without_their_secrets(login, networks):
    db.session.add(IntakeRejection(network="vk", reason="old", body=json.dumps(
        {"type": "message_new", "secret": "an-old-secret-123", "group_id": VK_GROUP}),
        headers={"X-Telegram-Bot-Api-Secret-Token": "old-header-secret"}))
    db.session.add(IntakeRejection(network="vk", reason="old", body='{"secret": "' + SECRETS["vk"] + '"}'))
    html = login(make_user("admin")).get("/admin/rejections").get_data(as_text=True)
    assert "an-old-secret-123" not in html and SECRETS["vk"] not in html and "old-header-secret" not in html
    assert "message_new" in html


def test_the_migration_redacts_rejections_already_kept(app):
    from app.channels.clean import redact_headers, redact_text

    body = redact_text('{"type": "x", "secret": "s3cr3t-value", "text": "Яма"}', {})
    assert "s3cr3t-value" not in body and "Яма" in body
    assert redact_headers({"X-Max-Bot-Api-Secret": "zzz", "Host": "h"}, {}) == {"X-Max-Bot-Api-Secret": REDACTED,
                                                                              "Host": "h"}


# --- item 4: input that raises instead of being refused ----------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("network", NETWORKS)
def test_json_nested_100000_levels_is_a_4xx_with_or_without_the_secret(client, networks, network):
    assert post(client, network, DEEP, secret=False, raw=True).status_code in (400, 403)
    assert count(IntakeRejection) == 0
    resp = post(client, network, DEEP, raw=True)
    assert resp.status_code in (400, 403) and b"nested" in resp.data or network == "vk"
    assert count(Message) == 0


def test_json_nested_100000_levels_to_the_api_is_a_400_in_russian(client, networks):
    resp = client.post("/api/v1/messages", data=DEEP, content_type="application/json",
                       headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 400 and "вложено глубже" in resp.get_json()["error"]


@pytest.mark.parametrize("network", ["telegram", "max", "ok"])
def test_a_nul_byte_in_a_raw_body_is_a_400_kept_for_the_admin_escaped(client, networks, network):
    resp = post(client, network, b'{"update_id": 5, "text": "\x00"}', raw=True)
    assert resp.status_code == 400
    rejection = db.session.scalar(db.select(IntakeRejection))
    assert "\\0" in rejection.body and "\x00" not in rejection.body


def test_a_body_over_the_limit_is_413_and_stores_nothing(client, networks, app):
    saved, app.config["WEBHOOK_MAX_BODY"] = app.config.get("WEBHOOK_MAX_BODY"), 1000
    try:
        resp = post(client, "telegram", json.dumps(message_payload("telegram", "я" * 2000)), raw=True)
        assert resp.status_code == 413 and count(Message) == 0 and count(IntakeRejection) == 0
        chunked = client.post("/hooks/telegram", input_stream=io.BytesIO(b"x" * 5000),
                              headers={"X-Telegram-Bot-Api-Secret-Token": SECRETS["telegram"],
                                       "Transfer-Encoding": "chunked"}, content_type="application/json")
    finally:
        app.config["WEBHOOK_MAX_BODY"] = saved
    assert chunked.status_code in (400, 413) and count(Message) == 0  # no Content-Length: cut at the same size


def test_nul_in_a_telegram_text_and_first_name_is_removed_and_the_message_stored(client, networks):
    update = message_payload("telegram", "Яма\u0000 во дворе", first_name="Оль\u0000га")
    assert post(client, "telegram", update).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.text == "Яма во дворе" and message.resident.display_name.startswith("Ольга")
    assert "\u0000" not in json.dumps(message.raw)


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("bad", ["\u0000", "\ud800", "\udfff"])
def test_nul_and_lone_surrogates_in_a_text_are_removed_on_every_network(client, networks, network, bad):
    resp = post(client, network, with_text(network, message_payload(network), f"Не горит{bad} фонарь"))
    assert resp.status_code == 200, resp.data
    assert db.session.scalar(db.select(Message.text)) == "Не горит фонарь"


def test_a_telegram_date_of_1e20_is_stored_with_the_received_time(client, networks):
    update = message_payload("telegram", "Нет света в подъезде")
    body = json.dumps(update, ensure_ascii=False).replace(f'"date": {update["message"]["date"]}', '"date": 1e20')
    assert '"date": 1e20' in body
    before = utcnow()
    assert post(client, "telegram", body, raw=True).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.text == "Нет света в подъезде" and message.received_at >= before.replace(microsecond=0)


def test_a_vk_text_that_is_an_object_is_stored_without_it(client, networks):
    update = message_payload("vk", "x")
    update["object"]["message"]["text"] = {"oops": ["an", "object"]}
    assert post(client, "vk", update).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.text == "" and message.network == "vk"


def test_a_vk_peer_id_of_1e400_is_stored_in_the_residents_dialog(client, networks):
    update = message_payload("vk", "Во дворе Ленина, 7 не вывозят мусор", secret=SECRETS["vk"])
    body = json.dumps(update, ensure_ascii=False)
    body = body.replace(f'"peer_id": {RESIDENT}', '"peer_id": 1e400')
    assert "1e400" in body
    assert post(client, "vk", body, raw=True).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.thread_key == f"vk:dm:{RESIDENT}" and message.text.startswith("Во дворе")


@pytest.mark.parametrize("sent_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "1970-01-01T00:00:00Z"])
def test_an_api_sent_at_outside_the_calendar_is_a_422_with_the_reason(client, networks, sent_at):
    body = {"external_id": "cc-1", "text": "Яма", "author": {"id": "c1", "name": "Ольга"}, "sent_at": sent_at}
    resp = client.post("/api/v1/messages", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 422
    assert "sent_at" in resp.get_json()["details"] and count(Message) == 0


def test_load_json_refuses_deep_nesting_and_cleaning_is_iterative():
    with pytest.raises(ValueError):
        load_json("[" * 65 + "]" * 65)
    assert load_json('{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}
    deep: list = []
    node = deep
    for _ in range(5000):  # deeper than the recursion limit: the cleaner must not recurse
        node.append([])
        node = node[0]
    node.append("a\u0000b")
    cleaned = clean_payload(deep)
    for _ in range(5000):
        cleaned = cleaned[0]
    assert cleaned == ["ab"]


# --- item 6: links taken from payloads -----------------------------------------------------------------------
HOSTILE_URLS = ["javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>",
                "//evil.example/x", "http://evil.example/photo.jpg", "https://vk.com@evil.example/",
                "https://evil.example\\@vk.com/", "https://vk.com.evil.example/", "https://t.me.evil.example/x",
                "ftp://ok.ru/x", "https:max.ru/x", "https://max.ru:99999/", " https://evil.example", "vbscript:x"]
OWN_URLS = {"telegram": "https://t.me/city_channel/15?comment=71", "vk": "https://sun9-1.userapi.com/impg/fake.jpg",
            "max": "https://i.oneme.ru/i?r=BTGBPUwtwgYUeoFhO7rESmr8", "ok": "https://i.mycdn.me/i?r=AzEPZsRbOZ"}


@pytest.mark.parametrize("network", NETWORKS)
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_links_to_other_hosts_are_dropped_at_intake(networks, network, url, caplog):
    m = IncomingMessage(network=network, external_id="1", kind="direct", author_id="1", text="Яма", permalink=url,
                        attachments=[Attachment(kind="photo", file_id="p1", url=url)])
    with caplog.at_level(logging.WARNING, logger="app.channels.clean"):
        clean_message(m)
    assert m.permalink is None and m.attachments[0].url is None
    assert any("link dropped" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("network", NETWORKS)
def test_links_to_the_networks_own_hosts_and_its_api_are_kept(networks, network):
    assert safe_link(OWN_URLS[network], network) == OWN_URLS[network]
    api = networks[{"telegram": "TELEGRAM_API_URL", "vk": "VK_API_URL", "max": "MAX_API_URL",
                    "ok": "OK_API_URL"}[network]]
    assert safe_link(api + "/files/1.jpg", network)  # the demo's fakes serve files from 127.0.0.1
    other = {"telegram": "vk", "vk": "telegram", "max": "telegram", "ok": "telegram"}[network]
    assert safe_link(OWN_URLS[other], network) is None


def test_a_max_message_url_of_javascript_is_not_shown(client, login, networks):
    update = message_payload("max", "Не работает лифт в доме 3", url="javascript:alert(document.cookie)")
    assert post(client, "max", update).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.permalink is None
    ticket = db.session.scalar(db.select(Ticket))
    html = login(make_user("admin")).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "javascript:" not in html and "открыть в сети" not in html


@pytest.mark.parametrize("url", HOSTILE_URLS[:8])
@pytest.mark.parametrize("network", ["vk", "max", "ok"])
def test_rows_kept_before_the_fix_neither_show_nor_follow_hostile_links(client, login, networks, network, url):
    assert post(client, network, message_payload(network, "Яма у подъезда")).status_code == 200
    message = db.session.scalar(db.select(Message))
    message.permalink = url
    message.attachments = [{"kind": "document", "file_id": "d1", "url": url, "name": "акт.pdf"}]
    db.session.commit()
    page = login(make_user("admin"))
    html = page.get(f"/tickets/{message.ticket.number}").get_data(as_text=True)
    assert f'href="{url}' not in html and "открыть в сети" not in html
    resp = page.get(f"/tickets/{message.ticket.number}/files/{message.id}/0")
    assert resp.status_code == 404 and "Location" not in resp.headers
    noise = page.get("/queue/noise").get_data(as_text=True)
    assert f'href="{url}' not in noise


def test_an_attachment_link_to_the_networks_own_host_is_followed(client, login, networks):
    update = message_payload("vk", "Фото ямы", attachments=[vk_payloads.photo()])
    assert post(client, "vk", update).status_code == 200
    message = db.session.scalar(db.select(Message))
    resp = login(make_user("admin")).get(f"/tickets/{message.ticket.number}/files/{message.id}/0")
    assert resp.status_code == 302 and resp.headers["Location"] == "https://sun9-1.userapi.com/impg/fake.jpg"


# --- item 10: a staff Telegram link code only from Telegram ------------------------------------------------
@pytest.mark.parametrize("network", ["vk", "max", "ok"])
def test_a_staff_link_code_sent_in_another_network_binds_nothing(client, networks, network):
    executor = make_user("executor")
    executor.telegram_link_code = "abc123def"
    db.session.commit()
    assert post(client, network, message_payload(network, "/start uabc123def")).status_code == 200
    db.session.expire_all()
    user = db.session.get(User, executor.id)
    assert user.telegram_chat_id is None and user.telegram_link_code == "abc123def"  # still usable in Telegram
    message = db.session.scalar(db.select(Message))
    assert message.ticket_id is None  # a /start greeting, as any /start with an unknown code
    assert count(Resident) == 1


def test_the_staff_link_code_still_works_from_telegram(client, networks):
    executor = make_user("executor")
    executor.telegram_link_code = "abc123def"
    db.session.commit()
    assert post(client, "telegram", tg_payloads.start(RESIDENT, "uabc123def", message_id=next(_ids))).status_code \
        == 200
    db.session.expire_all()
    assert db.session.get(User, executor.id).telegram_chat_id == str(RESIDENT)


def test_vks_secret_is_not_kept_with_the_stored_message(client, networks):
    assert post(client, "vk", message_payload("vk", "Яма")).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert "secret" not in message.raw and SECRETS["vk"] not in json.dumps(message.raw)
    assert message.raw["object"]["message"]["text"] == "Яма"


def test_the_migration_drops_vks_secret_from_messages_kept_before(client, networks):
    import importlib.util
    from pathlib import Path

    from sqlalchemy import text

    path = next((Path(__file__).resolve().parent.parent / "migrations" / "versions").glob("*_secintake.py"))
    spec = importlib.util.spec_from_file_location("m0011", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    assert post(client, "vk", message_payload("vk", "Яма")).status_code == 200
    old = {"type": "message_new", "secret": "old-secret-value", "object": {"text": "Яма"}}
    db.session.execute(text("UPDATE messages SET raw = CAST(:raw AS json)"), {"raw": json.dumps(old)})
    db.session.execute(text(migration.STRIP_VK_SECRET["postgresql"]))
    raw = db.session.scalar(db.select(Message.raw))
    assert raw == {"type": "message_new", "object": {"text": "Яма"}}


@pytest.mark.parametrize("form", ["vk-ref", "max-bot-started", "ok-text"])
def test_a_staff_link_code_in_another_networks_deep_link_binds_nothing(client, networks, form):
    executor = make_user("executor")
    executor.telegram_link_code = "abc123def"
    db.session.commit()
    network, payload = {
        "vk-ref": ("vk", vk_payloads.message_new(VK_GROUP, RESIDENT, "Начать", conversation_message_id=next(_ids),
                                                 ref="uabc123def")),
        "max-bot-started": ("max", max_payloads.bot_started(81_234_567, RESIDENT, "uabc123def")),
        "ok-text": ("ok", message_payload("ok", "/start uabc123def")),
    }[form]
    assert post(client, network, payload).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, executor.id).telegram_chat_id is None
    assert db.session.scalar(db.select(Message.noise_reason)) == "command"


@pytest.mark.parametrize("raw", [b'{"external_id": "x\x00"}', b"\x00", b"{\"text\": \"\\ud800\"}"])
def test_api_bodies_with_nul_or_lone_surrogates_are_a_400_in_russian(client, networks, raw):
    resp = client.post("/api/v1/messages", data=raw, content_type="application/json",
                       headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 400 and "JSON" in resp.get_json()["error"]
    assert count(Message) == 0
