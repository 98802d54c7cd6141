"""POST /api/v1/messages: bearer token, idempotent by the caller's external_id, JSON errors in Russian,
the OpenAPI document as the one source of the contract."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.channels import get_adapter
from app.channels.base import OutgoingReply
from app.channels.web import normalise_email, normalise_phone, sniff_image
from app.extensions import db
from app.models import IntakeRejection, Message, Resident, Ticket
from tests.helpers import count

TOKEN = "t0ken-for-the-call-centre"
OPENAPI = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


@pytest.fixture(autouse=True)
def tokens(app):
    old = app.config["INGEST_API_TOKENS"]
    app.config["INGEST_API_TOKENS"] = f"other-token, {TOKEN}"
    yield
    app.config["INGEST_API_TOKENS"] = old


def payload(**overrides) -> dict:
    data = {"external_id": "cc-481", "text": "Во дворе дома на ул. Ленина, 12 не горит фонарь",
            "author": {"id": "caller-5521", "name": "Ольга Иванова", "phone": "+7 914 123-45-67"},
            "address": "ул. Ленина, 12", "source": "call-centre"}
    data.update(overrides)
    return data


def send(client, data=None, token=TOKEN, raw: bytes | str | None = None, **headers):
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if raw is not None:
        return client.post("/api/v1/messages", data=raw, headers=headers, content_type="application/json")
    return client.post("/api/v1/messages", json=data, headers=headers)


def test_a_message_is_accepted_and_becomes_a_ticket(client):
    resp = send(client, payload(sent_at="2026-03-01T10:15:00+09:00",
                                attachments=[{"kind": "photo", "url": "https://cc.example.org/481.jpg",
                                              "name": "фонарь.jpg"}]))
    assert resp.status_code == 201
    assert resp.json["duplicate"] is False and isinstance(resp.json["message_id"], int)
    m = db.session.get(Message, resp.json["message_id"])
    assert m.network == "api" and m.kind == "api" and m.external_id == "cc-481"
    assert m.raw == {"address": "ул. Ленина, 12", "source": "call-centre"}
    assert m.attachments == [{"kind": "photo", "file_id": "https://cc.example.org/481.jpg",
                              "url": "https://cc.example.org/481.jpg", "name": "фонарь.jpg"}]
    assert m.received_at.isoformat().startswith("2026-03-01T01:15:00")
    assert m.ticket is not None and m.ticket.address == "ул. Ленина, 12" and m.ticket.network == "api"
    r = m.resident
    assert r.external_id == "phone:+79141234567" and r.display_name == "Ольга Иванова" and r.consent_at is not None


def test_the_same_external_id_is_stored_once(client):
    first = send(client, payload())
    for _ in range(3):
        again = send(client, payload(text="повтор после таймаута"))
        assert again.status_code == 200 and again.json == {"duplicate": True, "message_id": first.json["message_id"]}
    assert count(Message) == 1 and count(Ticket) == 1
    assert db.session.scalar(db.select(Message.text)) == payload()["text"]


def test_residents_are_recognised_by_email_then_phone_then_the_callers_id(client):
    send(client, payload(external_id="1", author={"id": "a", "name": "Оля", "email": "Olga@Example.RU"}))
    send(client, payload(external_id="2", author={"id": "b", "name": "Ольга", "email": "olga@example.ru",
                                                   "phone": "89140000000"}))
    send(client, payload(external_id="3", author={"id": "c-1", "name": "Пётр"}))
    send(client, payload(external_id="4", author={"id": "c-1", "name": "Пётр"}))
    ids = sorted(db.session.scalars(db.select(Resident.external_id)))
    assert ids == ["email:olga@example.ru", "id:call-centre:c-1"]


def test_no_or_wrong_token_is_401_and_nothing_is_stored(app, client):
    for token in (None, "wrong", ""):
        resp = send(client, payload(), token=token)
        assert resp.status_code == 401 and "Authorization" in resp.json["error"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    basic = client.post("/api/v1/messages", json=payload(), headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    app.config["INGEST_API_TOKENS"] = ""  # the API is off
    assert send(client, payload(), token="").status_code == 401
    assert count(Message) == 0 and count(IntakeRejection) == 0


def test_bad_json_is_400_with_a_json_error_and_is_kept_for_the_admin(client):
    for raw in ("{oops", b"\xff\xfe", "[1, 2]", '"text"', "[" * 100_000):
        resp = send(client, raw=raw)
        assert resp.status_code == 400, raw
        assert resp.is_json and resp.json["error"] and resp.json["details"] == {}
    rej = db.session.scalars(db.select(IntakeRejection).order_by(IntakeRejection.id)).first()
    assert rej.network == "api" and rej.body == "{oops"
    assert not any(k.lower() == "authorization" for k in rej.headers)  # the token is never kept
    assert count(Message) == 0


def test_missing_and_invalid_fields_are_422_with_details(client):
    resp = send(client, {"text": ""})
    assert resp.status_code == 422
    assert resp.json["error"] == "Некорректные поля сообщения"
    assert set(resp.json["details"]) == {"external_id", "author", "text"}
    assert resp.json["details"]["external_id"] == "Обязательное поле"

    bad = send(client, payload(external_id="x" * 129, author={"id": "", "name": "Оля", "phone": "12", "email": "a@"},
                               sent_at="вчера", attachments=[{"kind": "gif", "url": "x"}, {"url": "ftp://x"}],
                               address=["ул. Ленина"], text=42))
    details = bad.json["details"]
    assert bad.status_code == 422
    for field in ("external_id", "author.id", "author.phone", "author.email", "sent_at", "attachments[0].kind",
                  "attachments[1].url", "address", "text"):
        assert field in details, field
    too_long = send(client, payload(text="я" * 10_001))
    assert too_long.status_code == 422 and "10000" in too_long.json["details"]["text"]
    future = send(client, payload(sent_at="2999-01-01T00:00:00Z"))
    assert future.status_code == 422 and "sent_at" in future.json["details"]
    nul = send(client, payload(text="a\u0000b"))
    surrogate = send(client, raw='{"external_id": "s", "text": "\\ud800", "author": {"id": "1", "name": "x"}}')
    assert nul.status_code == 422 and surrogate.status_code == 400
    assert count(Message) == 0


def test_attachments_without_text_are_an_appeal(client):
    resp = send(client, payload(text=None, attachments=[{"kind": "photo", "url": "https://cc.example.org/1.jpg"}]))
    assert resp.status_code == 201
    assert db.session.scalar(db.select(Ticket.summary)) == "[фото]"


def test_a_body_over_1_mb_is_413(client):
    resp = send(client, payload(text="я" * 600_000))
    assert resp.status_code == 413 and resp.is_json and "1 МБ" in resp.json["error"]
    assert count(Message) == 0


def test_the_api_needs_no_csrf_token(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert send(client, payload()).status_code == 201
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_openapi_document_is_served_and_describes_the_endpoint(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.content_type.startswith("application/json")
    doc = json.loads(resp.get_data(as_text=True))
    assert doc == json.loads(OPENAPI.read_text(encoding="utf-8"))  # one source: docs/openapi.json
    assert doc["openapi"].startswith("3.1")
    post = doc["paths"]["/api/v1/messages"]["post"]
    assert {"201", "200", "400", "401", "413", "422"} <= set(post["responses"])
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    schema = doc["components"]["schemas"]["MessageIn"]
    assert set(schema["required"]) == {"external_id", "author"}
    assert set(schema["properties"]) == {"external_id", "text", "author", "address", "attachments", "source", "sent_at"}


def test_the_documented_example_is_accepted(client):
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    example = doc["paths"]["/api/v1/messages"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert send(client, example).status_code == 201
    assert send(client, example).json["duplicate"] is True


def test_adapters_publish_replies_on_the_status_page(app):
    out = OutgoingReply(network="api", text="Ответ", address={"via": "status-page"}, idempotency_key="reply-1")
    assert get_adapter("api").send(out, app.config).external_id == "status-page"
    assert get_adapter("web").send(out, app.config).external_id == "status-page"
    assert get_adapter("web").is_enabled(app.config) and get_adapter("api").is_enabled(app.config)
    assert not get_adapter("api").is_enabled({"INGEST_API_TOKENS": " , "})


@pytest.mark.parametrize("raw, expected", [
    ("+7 (914) 123-45-67", "+79141234567"), ("8 914 123 45 67", "+79141234567"), ("9141234567", "+79141234567"),
    ("+44 20 7946 0958", "+442079460958"), ("", None),
])
def test_phone_numbers_are_normalised(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "914-12", "+7 914 abc", "8914123456789012"])
def test_bad_phone_numbers_are_refused(raw):
    with pytest.raises(ValueError):
        normalise_phone(raw)


def test_emails_and_image_sniffing():
    assert normalise_email(" Olga@Example.RU ") == "olga@example.ru"
    with pytest.raises(ValueError):
        normalise_email("olga@example")
    assert sniff_image(b"\xff\xd8\xff\xe0") == "jpg" and sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff_image(b"\x00\x00\x00\x18ftypheic") == "heic" and sniff_image(b"GIF89a") is None
