"""The open JSON API for the city site: participants, one participant, an account's daily snapshots; CORS only
for the allowed origins."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from app.extensions import db
from app.models import Account, AccountSnapshot, Institution
from app.services import directory

pytest_plugins = ["tests.participants_support"]
ORIGIN = "https://belogorsk.example.ru"


def test_participants_list_shape_and_values_equal_to_the_db(client, network):
    resp = client.get("/api/v1/participants")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    data = resp.get_json()
    by_slug = {p["slug"]: p for p in data["participants"]}
    assert set(by_slug) == {"t-school-3", "t-museum"}  # the inactive club is not there
    school = by_slug["t-school-3"]
    assert {"slug", "name", "direction", "accounts"} <= set(school)
    assert school["name"] == "МБОУ «Средняя школа № 3»" and school["direction"] == "t-education"
    for item in school["accounts"]:
        assert {"network", "url", "followers", "posts", "collected_at"} <= set(item)
        row = db.session.get(Account, item["id"])
        assert item["url"] == row.url and item["network"] == row.network
        if row.network != "other":
            assert item["followers"] == row.followers and item["posts"] == row.posts
            assert item["collected_at"].startswith(row.collected_at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert [a["network"] for a in by_slug["t-museum"]["accounts"]] == ["ok"]  # the inactive VK page is not there
    tg = next(a for a in school["accounts"] if a["network"] == "telegram")
    assert tg["posts_counted_since"] is not None  # posts seen by us, not the platform's total
    text = resp.get_data(as_text=True)
    assert "smm" not in text and "Секретная" not in text and "token" not in text


def test_participants_filters(client, network):
    data = client.get("/api/v1/participants?direction=t-culture").get_json()
    assert [p["slug"] for p in data["participants"]] == ["t-museum"]
    data = client.get("/api/v1/participants?network=telegram").get_json()
    assert [p["slug"] for p in data["participants"]] == ["t-school-3"]
    assert [a["network"] for a in data["participants"][0]["accounts"]] == ["telegram"]
    for bad in ("direction=nope", "network=myspace"):
        resp = client.get("/api/v1/participants?" + bad)
        assert resp.status_code == 400 and "Неизвестное значение" in resp.get_json()["error"]


def test_one_participant(client, network):
    data = client.get("/api/v1/participants/t-museum").get_json()
    assert data["slug"] == "t-museum" and data["accounts"][0]["followers"] == 800
    for slug in ("nope", "t-closed", "x" * 200):
        resp = client.get(f"/api/v1/participants/{slug}")
        assert resp.status_code == 404 and resp.get_json()["error"] == "Участник не найден"


def test_snapshots_range(client, network):
    vk, today = network["vk"], network["today"]
    start, end = today - timedelta(days=9), today - timedelta(days=5)
    resp = client.get(f"/api/v1/accounts/{vk.id}/snapshots?from={start}&to={end}")
    assert resp.status_code == 200
    data = resp.get_json()
    assert data["from"] == start.isoformat() and data["to"] == end.isoformat()
    assert [s["date"] for s in data["snapshots"]] == [(start + timedelta(days=i)).isoformat() for i in range(5)]
    row = db.session.scalar(db.select(AccountSnapshot).where(AccountSnapshot.account_id == vk.id,
                                                             AccountSnapshot.taken_on == start))
    assert data["snapshots"][0] == {"date": start.isoformat(), "followers": row.followers, "posts": row.posts}
    default = client.get(f"/api/v1/accounts/{vk.id}/snapshots").get_json()
    assert len(default["snapshots"]) == 120 and default["to"] == today.isoformat()  # the last 365 days


@pytest.mark.parametrize("query, message", [
    ("from=31.01.2026", "Параметр from — дата в формате ГГГГ-ММ-ДД"),
    ("to=2026-02-30", "Параметр to — дата в формате ГГГГ-ММ-ДД"),
    ("from=2026-03-01&to=2026-02-01", "Дата from позже даты to"),
    ("from=2010-01-01&to=2026-01-01", f"Период не длиннее {directory.SNAPSHOTS_MAX_DAYS} дней"),
])
def test_snapshots_bad_dates_are_400_in_russian(client, network, query, message):
    resp = client.get(f"/api/v1/accounts/{network['vk'].id}/snapshots?{query}")
    assert resp.status_code == 400 and resp.is_json
    assert resp.get_json()["error"].startswith(message)


def test_snapshots_of_unknown_inactive_or_link_only_accounts_are_404(client, network):
    for account in ("999999", str(network["gone"].id), str(network["hidden"].id), str(network["dzen"].id)):
        resp = client.get(f"/api/v1/accounts/{account}/snapshots")
        assert resp.status_code == 404 and resp.get_json()["error"] == "Аккаунт не найден"


def test_cors_only_for_allowed_origins(client, network, app):
    app.config["EMBED_ALLOWED_ORIGINS"] = ORIGIN
    try:
        for path in ("/api/v1/participants", "/api/v1/participants/t-museum",
                     f"/api/v1/accounts/{network['vk'].id}/snapshots"):
            resp = client.get(path, headers={"Origin": ORIGIN})
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "Origin" in resp.headers["Vary"]
            assert "Access-Control-Allow-Credentials" not in resp.headers
            assert "Set-Cookie" not in resp.headers
            other = client.get(path, headers={"Origin": "https://evil.example.com"})
            assert "Access-Control-Allow-Origin" not in other.headers and "Origin" in other.headers["Vary"]
        assert client.post("/api/v1/participants", headers={"Origin": ORIGIN}).status_code == 405
        ingest = client.post("/api/v1/messages", headers={"Origin": ORIGIN})  # the ingest API: no CORS
        assert "Access-Control-Allow-Origin" not in ingest.headers
    finally:
        app.config["EMBED_ALLOWED_ORIGINS"] = ""
    resp = client.get("/api/v1/participants", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in resp.headers


def test_openapi_documents_the_open_endpoints():
    spec = json.loads((Path(__file__).resolve().parents[1] / "docs" / "openapi.json").read_text("utf-8"))
    for path in ("/api/v1/participants", "/api/v1/participants/{slug}", "/api/v1/accounts/{account_id}/snapshots"):
        assert "get" in spec["paths"][path], path
    assert "Participant" in spec["components"]["schemas"]


def test_a_participant_made_inactive_disappears(client, network):
    network["school"].is_active = False
    db.session.commit()
    assert [p["slug"] for p in client.get("/api/v1/participants").get_json()["participants"]] == ["t-museum"]
    assert db.session.get(Institution, network["school"].id) is not None
