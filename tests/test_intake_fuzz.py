"""Issue 9, item 4 as a property: whatever is posted to any webhook (with its valid secret, a wrong one, or none)
or to the ingest API — random JSON trees, real payloads mutated with NUL, lone surrogates, huge and non-finite
numbers, wrong types, links of any kind — the answer is never a 5xx; an authenticated real message whose text
and names carry hostile characters is stored, cleaned. Every webhook network is a target."""
from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.fakes import max as max_payloads
from app.fakes import ok as ok_payloads
from app.fakes import telegram as tg_payloads
from app.fakes import vk as vk_payloads
from app.models import Message
from tests.test_intake_security import (  # noqa: F401 — fixtures
    API_TOKEN,
    NETWORKS,
    RESIDENT,
    SECRETS,
    VK_GROUP,
    fakes,
    message_payload,
    networks,
    post,
    with_text,
)

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
_ids = itertools.count(500_000)

HOSTILE_STRINGS = ["\x00", "\ud800", "a\udfffb", "\x00\x00\x00", "javascript:alert(1)", "data:text/html,x",
                   "//evil.example", "https://vk.com@evil.example/", "/start u123456", "/status " + "я" * 300,
                   "/start " + "x" * 3000, "1e400", "", " ", "я" * 5000, "\u202e\u200b", "<script>alert(1)</script>"]
HOSTILE_NUMBERS = [0, -1, 2 ** 31, 2 ** 63, -2 ** 63 - 1, 10 ** 30, 1e20, -1e20, 1e308, float("inf"), float("-inf"),
                   float("nan"), 0.5, True, False]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(HOSTILE_NUMBERS)
           | st.text(max_size=30) | st.sampled_from(HOSTILE_STRINGS))
json_trees = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                          | st.dictionaries(st.text(max_size=10) | st.sampled_from(
                              ["text", "date", "message", "from", "chat", "id", "url", "type", "object"]),
                              children, max_size=4), max_leaves=25)
hostile_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=40) \
    | st.sampled_from(HOSTILE_STRINGS)


def real_payloads(network: str) -> list[dict]:
    """Real shapes of each network's deliveries (messages, edits, comments, button presses…)."""
    n = next(_ids)
    if network == "api":
        return [{"external_id": f"cc-{n}", "text": "Яма во дворе", "source": "call-centre",
                 "author": {"id": "c1", "name": "Ольга", "phone": "+7 914 123-45-67", "email": "olga@example.org"},
                 "address": "ул. Ленина, 1", "sent_at": "2026-01-01T10:00:00+09:00",
                 "attachments": [{"kind": "photo", "url": "https://example.org/p.jpg", "name": "p.jpg"}]}]
    if network == "telegram":
        first = tg_payloads.private_message(RESIDENT, "Яма во дворе", message_id=n)
        return [first, tg_payloads.edited(first, "Яма во дворе дома 5"),
                tg_payloads.comment(-1001234, -1005678, RESIDENT, "Не горит фонарь", message_id=n),
                tg_payloads.callback_query(RESIDENT, "verdict:1:yes", query_id=str(n)),
                tg_payloads.photo_message(RESIDENT, "Фото ямы", message_id=n + 1)]
    if network == "vk":
        return [vk_payloads.message_new(VK_GROUP, RESIDENT, "Яма во дворе", conversation_message_id=n,
                                        attachments=[vk_payloads.photo(), vk_payloads.doc()]),
                vk_payloads.wall_reply_new(VK_GROUP, RESIDENT, "Не горит фонарь", comment_id=n),
                vk_payloads.board_post_new(VK_GROUP, RESIDENT, "Вопрос", comment_id=n),
                vk_payloads.photo_comment_new(VK_GROUP, RESIDENT, "Тут яма", comment_id=n),
                vk_payloads.confirmation(VK_GROUP)]
    if network == "max":
        created = max_payloads.message_created(81_234_567, RESIDENT, "Яма во дворе", url="https://max.ru/c/1",
                                               attachments=[max_payloads.image(), max_payloads.file()])
        mid = created["message"]["body"]["mid"]
        return [created, max_payloads.message_edited(81_234_567, RESIDENT, "Яма", mid=mid),
                max_payloads.message_callback(81_234_567, RESIDENT, "verdict:1:yes"),
                max_payloads.bot_started(81_234_567, RESIDENT, "i12")]
    chat = ok_payloads.chat_id(0x3ECB9D02A6)
    return [ok_payloads.message_created(chat, RESIDENT, "Яма во дворе", attachments=[ok_payloads.image(),
                                                                                      ok_payloads.share()]),
            ok_payloads.message_callback(chat, RESIDENT, "verdict:1:yes")]


def _paths(value, prefix=()):
    """Every path to a value inside a JSON tree."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(tree, path, new):
    if not path:
        return new
    node = tree
    for key in path[:-1]:
        node = node[key]
    if new is _DELETE and isinstance(node, dict):
        del node[path[-1]]
    elif new is not _DELETE:
        node[path[-1]] = new
    return tree


_DELETE = object()


@st.composite
def mutated(draw, network: str):
    payloads = real_payloads(network)
    tree = json.loads(json.dumps(payloads[draw(st.integers(0, len(payloads) - 1))]))
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(tree))
        path = paths[draw(st.integers(0, len(paths) - 1))]
        if not path:
            continue
        tree = _replace(tree, path, draw(st.just(_DELETE) | json_trees | hostile_text
                                         | st.sampled_from(HOSTILE_NUMBERS)))
    return tree


def bodies(network: str):
    return (mutated(network).map(lambda t: json.dumps(t, allow_nan=True))
            | json_trees.map(lambda t: json.dumps(t, allow_nan=True))
            | st.binary(max_size=200)
            | st.sampled_from(["", "{", "[" * 5000 + "]" * 5000, '{"a": 1e400}', '{"update_id": 1\x00}']))


def _status(resp) -> int:
    return resp.status_code


@pytest.mark.parametrize("network", NETWORKS)
def test_no_webhook_answers_5xx_to_anything(client, networks, network):  # noqa: F811
    @FUZZ
    @given(body=bodies(network), auth=st.sampled_from(["valid", "wrong", "none"]))
    def check(body, auth):
        if network == "vk" and auth != "none" and isinstance(body, str):
            try:
                tree = json.loads(body)
            except ValueError:
                tree = None
            if isinstance(tree, dict):  # VK's secret is a body field
                tree["secret"] = SECRETS["vk"] if auth == "valid" else "wrong"
                body = json.dumps(tree, allow_nan=True)
        resp = post(client, network, body, raw=True, secret=auth != "none", wrong=auth == "wrong")
        assert _status(resp) < 500, (resp.status_code, resp.data[:300])

    check()


@pytest.mark.parametrize("network", NETWORKS)
def test_an_authenticated_message_with_hostile_text_and_names_is_stored_cleaned(
        client, networks, network):  # noqa: F811
    @FUZZ
    @given(text=hostile_text, name=hostile_text)
    def check(text, name):
        payload = with_text(network, message_payload(network), "Яма " + text)
        if network == "telegram":
            payload["message"]["from"]["first_name"] = name
        elif network == "max":
            payload["message"]["sender"]["name"] = name
        elif network == "ok":
            payload["sender"]["name"] = name
        before = db.session.scalar(db.select(db.func.count(Message.id)))
        resp = post(client, network, payload)
        assert resp.status_code == 200, resp.data[:300]
        assert db.session.scalar(db.select(db.func.count(Message.id))) == before + 1
        stored = db.session.scalar(db.select(Message).order_by(Message.id.desc()).limit(1))
        assert stored.text.startswith("Яма") and "\x00" not in stored.text

    check()


@given(body=mutated("api").map(lambda t: json.dumps(t, allow_nan=True)) | json_trees.map(json.dumps)
       | st.binary(max_size=200), token=st.sampled_from([API_TOKEN, "wrong", None]))
@FUZZ
def test_the_ingest_api_never_answers_5xx(client, networks, body, token):  # noqa: F811
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = client.post("/api/v1/messages", data=body, headers=headers, content_type="application/json")
    assert resp.status_code < 500, (resp.status_code, resp.data[:300])


def _set_dates(network: str, payload: dict, value) -> dict:
    if network == "telegram":
        payload["message"]["date"] = value
    elif network == "vk":
        payload["object"]["message"]["date"] = value
    elif network == "max":
        payload["timestamp"] = payload["message"]["timestamp"] = value
    else:
        payload["timestamp"] = value
    return payload


@pytest.mark.parametrize("network", NETWORKS)
def test_an_authenticated_message_with_any_date_is_stored(client, networks, network):  # noqa: F811
    @FUZZ
    @given(date=json_trees | st.sampled_from(HOSTILE_NUMBERS))
    def check(date):
        payload = _set_dates(network, message_payload(network, "Не вывозят мусор"), date)
        before = db.session.scalar(db.select(db.func.count(Message.id)))
        resp = post(client, network, payload)
        assert resp.status_code == 200, resp.data[:300]
        assert db.session.scalar(db.select(db.func.count(Message.id))) == before + 1
        stored = db.session.scalar(db.select(Message).order_by(Message.id.desc()).limit(1))
        assert stored.received_at.year >= 2000

    check()
