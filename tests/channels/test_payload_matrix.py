"""The matrix of real payload shapes: every content type and update kind each network sends, posted through the
real webhook with its secret, and what must come of it.

One JSON file per row in tests/channels/payloads/<network>/<content type or update kind>.json:

    {"note"?: why this row exists,
     "expect": {"outcome": "ticket" | "noise" | "ignored" | "edit" | "command" | "post", …checks below},
     "before"?: [names of rows of the same network posted first (the message an edit edits…)],
     "topic"?: the group post polled (OK comments),
     "update": what the platform POSTs (ids and names invented, shapes as the platform sends them)}

A file without "expect", or with a key the test does not know, fails — so a new content type shows up here
as a failing row, not as a lost appeal. "post" is a participant's own publication: one Post row (checked by
"post": {text, permalink, media_count, views, reactions, comments, reposts, edited}), no message; a comment's
"post_linked" checks its Message.post_id. OK comments have no webhook: `ok/comments_*.json` hold what
discussions.getComments returns ("via": "poll"), taken as `flask ok poll-comments` takes them.
"""
import json
from pathlib import Path

import pytest

from app.channels.ok import comment_message
from app.extensions import db
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.fakes.telegram import FakeTelegram
from app.models import Message, Post, Resident, Ticket, TicketEvent
from app.services import intake
from tests.factories import make_account, make_institution

ROOT = Path(__file__).parent / "payloads"
ROWS = sorted(ROOT.glob("*/*.json"))
OUTCOMES = {"ticket", "noise", "ignored", "edit", "command", "post"}
CHECKS = {"outcome", "text_contains", "text_lacks", "summary", "attachments", "place", "resident_phone", "kind",
          "command", "body_contains", "noise_reason", "attachment_note_contains", "attachment_url_contains",
          "via", "post", "post_linked"}
POST_CHECKS = {"text", "permalink", "media_count", "views", "reactions", "comments", "reposts", "edited",
               "external_id"}

# What the issue asks the matrix to cover, per network: a missing row fails too.
REQUIRED = {
    "telegram": {"text", "photo", "album_item", "document", "video", "voice", "video_note", "audio", "sticker",
                 "animation", "location", "venue", "contact", "poll", "dice", "edited_message", "channel_post",
                 "edited_channel_post", "poll_answer", "my_chat_member", "callback_query", "message_reaction",
                 "supergroup_general_chat", "channel_comment", "forwarded", "channel_post_album_item"},
    "vk": {"message_new_text", "message_new_photo", "message_new_doc", "message_new_audio_message",
           "message_new_sticker", "message_new_geo", "message_new_fwd_messages", "message_new_reply_message",
           "message_new_wall_repost", "message_new_link", "message_new_video", "message_edit", "wall_reply_new",
           "wall_reply_edit", "board_post_new", "photo_comment_new", "multi_user_chat", "message_reply",
           "group_join", "wall_post_new", "wall_post_new_suggest", "wall_repost"},
    "max": {"message_created_text", "message_created_image", "message_created_video",
            "message_created_audio_transcription", "message_created_file", "message_created_sticker",
            "message_created_contact", "message_created_location", "message_created_share",
            "message_created_forward", "message_edited", "message_callback", "bot_started", "user_added",
            "message_created_group_chat", "message_created_foreign_group_chat", "channel_post",
            "channel_post_edited"},
    "ok": {"message_text", "message_photo", "message_sticker", "message_share", "message_file", "message_callback",
           "chat_system", "comments_get_comments"},
}

TG_TOKEN, TG_SECRET = "7012345678:AAH4-matrix-token_for-the-fake", "tg-matrix_secret-42"
VK_GROUP, VK_SECRET = 218000777, "vk-matrix-secret-7f3a"
MAX_TOKEN, MAX_SECRET = "max-matrix-token-3f9a", "max-matrix-secret-5b1c"
OK_TOKEN, OK_SECRET, OK_GROUP = "tkn1-matrix-token", "ok-matrix-secret-91c4", "70000001234567"
TG_CHANNEL = "-1001234567890"
MAX_CHAT = "-70012345678"  # a participant's MAX group chat registered as an account
MAX_CHANNEL = "-72000111222"  # a participant's MAX channel registered as an account


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def networks(app):
    """Every network configured against local fakes, with the accounts the rows write to."""
    from app.fakes.vk import FakeVk

    keys = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_URL", "VK_GROUP_ID", "VK_ACCESS_TOKEN",
            "VK_SECRET", "VK_CONFIRMATION", "VK_API_URL", "MAX_BOT_TOKEN", "MAX_WEBHOOK_SECRET", "MAX_API_URL",
            "OK_ACCESS_TOKEN", "OK_WEBHOOK_SECRET", "OK_API_URL", "OK_GROUP_ID", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    with FakeTelegram(token=TG_TOKEN) as tg, FakeVk(token="vk1.a.matrix") as vk, FakeMax(token=MAX_TOKEN) as mx, \
            FakeOk(token=OK_TOKEN) as ok:
        app.config.update(
            TELEGRAM_BOT_TOKEN=TG_TOKEN, TELEGRAM_WEBHOOK_SECRET=TG_SECRET, TELEGRAM_API_URL=tg.base_url,
            VK_GROUP_ID=str(VK_GROUP), VK_ACCESS_TOKEN="vk1.a.matrix", VK_SECRET=VK_SECRET, VK_CONFIRMATION="5e8b",
            VK_API_URL=vk.base_url, MAX_BOT_TOKEN=MAX_TOKEN, MAX_WEBHOOK_SECRET=MAX_SECRET, MAX_API_URL=mx.base_url,
            OK_ACCESS_TOKEN=OK_TOKEN, OK_WEBHOOK_SECRET=OK_SECRET, OK_API_URL=ok.base_url, OK_GROUP_ID=None,
            HTTP_TIMEOUT=5)
        city = make_institution(name="Администрация г. Белогорск")
        for network, external_id in (("telegram", TG_TOKEN.partition(":")[0]), ("telegram", TG_CHANNEL),
                                     ("vk", str(VK_GROUP)), ("max", MAX_CHAT), ("max", MAX_CHANNEL),
                                     ("ok", OK_GROUP)):
            acc = make_account(city, network=network)
            acc.external_id = external_id
        db.session.flush()
        yield {"telegram": tg, "vk": vk, "max": mx, "ok": ok}
    app.config.update(saved)


def post(client, network: str, update: dict):
    if network == "telegram":
        return client.post("/hooks/telegram", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    if network == "vk":
        return client.post("/hooks/vk", json={**update, "group_id": VK_GROUP, "secret": VK_SECRET})
    if network == "max":
        return client.post("/hooks/max", json=update, headers={"X-Max-Bot-Api-Secret": MAX_SECRET})
    if network == "ok":
        return client.post(f"/hooks/ok?secret={OK_SECRET}&group={OK_GROUP}", json=update)
    raise AssertionError(f"no way to post to {network}")


def deliver(client, network: str, case: dict):
    """The row's update through its real entrance; returns the response (None for polled comments)."""
    if case["expect"].get("via") == "poll":  # OK comments: what discussions.getComments returned
        body = case["update"]
        found = [comment_message(c, case["topic"], OK_GROUP) for c in body["comments"]]
        intake.accept([m for m in found if m is not None])
        db.session.commit()
        return None
    resp = post(client, network, case["update"])
    db.session.commit()
    return resp


@pytest.mark.parametrize("path", ROWS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_payload_row(path, client, networks):
    case = load(path)
    assert "expect" in case, f"{path.relative_to(ROOT)} has no \"expect\": say what must come of this payload"
    expect = case["expect"]
    assert set(expect) <= CHECKS, f"unknown checks {set(expect) - CHECKS} in {path.name}"
    assert expect.get("outcome") in OUTCOMES, f"{path.name}: outcome must be one of {sorted(OUTCOMES)}"
    network = path.parent.name
    for name in case.get("before", []):
        resp = deliver(client, network, load(path.parent / f"{name}.json"))
        assert resp is None or resp.status_code == 200, name
    seen = set(db.session.scalars(db.select(Message.id)))
    tickets_before = set(db.session.scalars(db.select(Ticket.id)))
    posts_before = set(db.session.scalars(db.select(Post.id)))

    resp = deliver(client, network, case)
    if resp is not None:
        assert resp.status_code == 200, resp.get_data(as_text=True)  # never refused: platforms retry and give up
        if network == "vk":
            assert resp.get_data(as_text=True) == "ok"
        if "body_contains" in expect:
            assert expect["body_contains"] in resp.get_data(as_text=True)

    db.session.expire_all()
    new = db.session.scalars(db.select(Message).where(Message.id.notin_(seen or {0})).order_by(Message.id)).all()
    new_tickets = db.session.scalars(db.select(Ticket).where(Ticket.id.notin_(tickets_before or {0}))).all()
    outcome = expect["outcome"]
    if outcome == "ignored":
        assert new == [] and new_tickets == []
        assert not set(db.session.scalars(db.select(Post.id))) - posts_before, "a post was stored"
        return
    if outcome == "post":  # the participant's own publication: a post (new, or the same row updated), no message
        assert new == [] and new_tickets == []
        rows = db.session.scalars(db.select(Post)).all()
        assert len(rows) == 1, [(p.external_id, p.text) for p in rows]
        check_post(rows[0], expect.get("post", {}))
        return
    assert len(new) == 1, [m.external_id for m in new]
    message = new[0]
    if outcome == "ticket":
        assert message.noise_reason is None and len(new_tickets) == 1 and message.ticket_id == new_tickets[0].id
        ticket = new_tickets[0]
        if "summary" in expect:
            assert ticket.summary == expect["summary"]
        assert ticket.summary.strip() and ticket.summary != "[фото]" or expect.get("attachments") == ["photo"]
        if "place" in expect:
            place = expect["place"]
            assert ticket.latitude == pytest.approx(place["latitude"])
            assert ticket.longitude == pytest.approx(place["longitude"])
            assert f"{place['longitude']:.6f},{place['latitude']:.6f}" in ticket.map_url
            if "text" in place:
                assert ticket.place_text == place["text"]
        else:
            assert ticket.latitude is None and ticket.map_url is None
    elif outcome == "noise":
        assert message.noise_reason and message.ticket_id is None and new_tickets == []
        if "noise_reason" in expect:
            assert message.noise_reason == expect["noise_reason"]
    elif outcome == "edit":
        assert message.edit_of_id is not None and new_tickets == []
        original = db.session.get(Message, message.edit_of_id)
        assert original.ticket_id is not None and message.ticket_id == original.ticket_id
        edits = db.session.scalars(db.select(TicketEvent).where(TicketEvent.ticket_id == original.ticket_id,
                                                                TicketEvent.kind == "message_edited")).all()
        assert [e.payload.get("message_id") for e in edits] == [message.id]
    elif outcome == "command":
        assert message.command == expect.get("command", message.command) and message.command
        assert message.ticket_id is None and new_tickets == []
    for part in expect.get("text_contains", []):
        assert part in message.text, message.text
    for part in expect.get("text_lacks", []):
        assert part not in message.text, message.text
    if "attachments" in expect:
        assert [a["kind"] for a in message.attachments] == expect["attachments"]
    if "attachment_note_contains" in expect:
        assert any(expect["attachment_note_contains"] in (a.get("note") or "") for a in message.attachments)
    if "attachment_url_contains" in expect:
        assert any(expect["attachment_url_contains"] in (a.get("url") or "") for a in message.attachments)
    if "kind" in expect:
        assert message.kind == expect["kind"]
    if "resident_phone" in expect:
        assert db.session.get(Resident, message.resident_id).phone == expect["resident_phone"]
    if "post_linked" in expect:
        assert message.post_id is not None
        check_post(db.session.get(Post, message.post_id), expect["post_linked"])


def check_post(post: Post, expect: dict) -> None:
    assert set(expect) <= POST_CHECKS, f"unknown post checks {set(expect) - POST_CHECKS}"
    for key in ("text", "permalink", "media_count", "views", "reactions", "comments", "reposts", "external_id"):
        if key in expect:
            assert getattr(post, key) == expect[key], (key, getattr(post, key))
    if "edited" in expect:
        assert (post.edited_at is not None) == expect["edited"]


def test_every_network_has_its_rows_and_every_row_its_expectation():
    for network, names in REQUIRED.items():
        have = {p.stem for p in (ROOT / network).glob("*.json")}
        assert names <= have, f"{network}: no rows for {sorted(names - have)}"
    for path in ROWS:
        assert "expect" in load(path) and "update" in load(path), path.name


STICKER_ROWS = {"telegram": ("text", "sticker"), "vk": ("message_new_text", "message_new_sticker"),
                "max": ("message_created_text", "message_created_sticker"), "ok": ("message_text", "message_sticker")}


@pytest.mark.parametrize("network", sorted(STICKER_ROWS))
def test_a_sticker_in_a_resolved_tickets_thread_does_not_reopen_it(network, client, networks):
    appeal, sticker = (load(ROOT / network / f"{name}.json") for name in STICKER_ROWS[network])
    deliver(client, network, appeal)
    ticket = db.session.scalar(db.select(Ticket))
    ticket.status = "resolved"
    db.session.commit()
    assert deliver(client, network, sticker).status_code == 200
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).status == "resolved"
    last = db.session.scalar(db.select(Message).order_by(Message.id.desc()))
    assert last.noise_reason and last.ticket_id is None and [a["kind"] for a in last.attachments] == ["sticker"]


def _message_object(network: str, update: dict) -> dict | None:
    """The part of a row's update that holds the resident's message."""
    if network == "telegram":
        return next((update[k] for k in ("message", "edited_message") if isinstance(update.get(k), dict)), None)
    if network == "vk":
        obj = update.get("object")
        return obj.get("message") if isinstance(obj, dict) and isinstance(obj.get("message"), dict) else obj
    if network == "max":
        message = update.get("message")
        return message.get("body") if isinstance(message, dict) else None
    return update.get("message") if isinstance(update.get("message"), dict) else None


TICKET_ROWS = [p for p in ROWS if load(p)["expect"].get("outcome") == "ticket" and not load(p).get("before")
               and load(p)["expect"].get("via") != "poll"]


@pytest.mark.parametrize("path", TICKET_ROWS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_message_missing_any_one_field_is_never_a_server_error(path, client, networks):
    """Sweep: each field of the message object left out in turn — stored (200) or refused with a reason (4xx)."""
    network, case = path.parent.name, load(path)
    fields = list(_message_object(network, case["update"]) or {})
    for field in fields:
        update = json.loads(json.dumps(case["update"]))
        del _message_object(network, update)[field]
        resp = post(client, network, update)
        db.session.rollback()
        assert resp.status_code < 500, (field, resp.get_data(as_text=True))


@pytest.mark.parametrize("path", TICKET_ROWS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_content_type_opens_on_the_ticket_page_with_its_files(path, client, networks):
    """Sweep: the ticket page of each row, and each of its attachments' links, as staff open them — never a 500
    (a place's map link was one: the route's fetched bytes shadowed the content module). 502: the platform's
    fake has no such file, said on a page of its own."""
    from flask import g

    from tests.factories import make_user

    network, case = path.parent.name, load(path)
    deliver(client, network, case)
    ticket = db.session.scalar(db.select(Ticket))
    moderator = make_user("moderator")
    db.session.commit()
    g.pop("_login_user", None)
    with client.session_transaction() as s:
        s["_user_id"], s["_fresh"] = moderator.get_id(), True
    page = client.get(f"/tickets/{ticket.number}")
    assert page.status_code == 200
    for message in ticket.messages:
        for index, _ in enumerate(message.attachments or []):
            resp = client.get(f"/tickets/{ticket.number}/files/{message.id}/{index}")
            assert resp.status_code in (200, 302, 404, 502), (index, resp.status_code)
