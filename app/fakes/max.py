"""A local fake of the MAX Bot API and builders of real-shaped MAX webhook updates.

`FakeMax` is a small HTTP/1.1 server on 127.0.0.1 answering what the app calls, the way
platform-api.max.ru does (JSON, token in the `Authorization` header):

- `POST /messages?chat_id=…` (or `?user_id=…`) `{"text", "link"?, "attachments"?}` → `{"message": {...}}`
  with a new `body.mid`; text of 4000 characters or more is refused with 400 as MAX does;
- `GET /me`, `GET|POST|DELETE /subscriptions`, `POST /answers?callback_id=…` for completeness;
- cross-posting (issue 13): `POST /uploads?type=image` → `{"url"}` on this server, the file POSTed there (multipart,
  one file per URL) → `{"photos": {<id>: {"token"}}}`; `POST /messages` with `{"type": "image", "payload":
  {"token"}}` attachments (`not_ready()`: «attachment.not.ready» first) and `disable_link_preview`; `PUT` and
  `DELETE /messages?message_id=` (`{"success": false, "message"}` for messages older than 48 hours, `backdate`);
  `GET /chats/{id}/members/me` with the bot's admin flag and permissions (`add_chat(bot_admin, bot_member,
  permissions)`). `received(chat)` is what a chat shows; `drop()` carries a call out and closes the connection
  without an answer; `fail(…, on="PUT /messages")` targets other calls.

Errors are MAX's `{"code", "message"}` with the HTTP status: a wrong token gets 401, and `fail()` makes the
next calls for a chat answer 429 (with `Retry-After`), 403, 404 or 5xx:

    with FakeMax(token="max-token") as fake:
        app.config.update(MAX_API_URL=fake.base_url, MAX_BOT_TOKEN="max-token")
        fake.fail(429, chat_id=123, retry_after=2)
        ...
        assert fake.messages[0]["link"] == {"type": "reply", "mid": "mid.…"}

The builders (`message_created`, `message_edited`, `message_callback`, `bot_started`, `message_removed`,
`bot_added`, plus `image`/`file` attachments) return what MAX POSTs to the webhook (Bot API update objects:
`update_type`, `timestamp` in ms, `message: {sender, recipient: {chat_id, chat_type}, timestamp,
body: {mid, seq, text, attachments}, link?}`). Post them with `headers(secret)`. A builder called twice gives
two different messages (a new `seq`/`mid`); to model MAX re-delivering an update, post the same dict again.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import time
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from app.fakes.figures import GARBAGE, Audience, Troubles, avatar_png
from app.fakes.server import LoopbackServer

SECRET_HEADER = "X-Max-Bot-Api-Secret"
BOT_USER_ID = 590_000_001
BOT_NAME = "Открытый муниципалитет"

ERRORS = {
    400: ("proto.payload", "Invalid request payload"),
    401: ("verify.token", "Invalid access_token"),
    403: ("chat.denied", "Bot is not a member of the chat or is blocked by the user"),
    404: ("chat.not.found", "Chat not found"),
    429: ("too.many.requests", "Too many requests: 2 messages per second per chat"),
    500: ("internal", "Internal server error"),
    503: ("service.unavailable", "Service temporarily unavailable"),
}

_seq = itertools.count(int(time.time()) % 100_000 * 1000)
DROPPED = -2  # handle()'s status for «carried out, then the connection dropped without an answer» (drop())
HUNG = -3  # …and for «carried out, then no answer until the client gives up» (drop(hang=True))
UPLOAD_TYPES = ("image", "video", "audio", "file")
NOT_READY = ("attachment.not.ready", "Key: errors.process.attachment.file.not.processed")


def _now_ms() -> int:
    return int(time.time() * 1000)


def make_mid(chat_id: int, seq: int) -> str:
    """MAX message ids look like `mid.` + 32 hex digits."""
    return f"mid.{chat_id & 0xFFFFFFFFFFFFFFFF:016x}{seq & 0xFFFFFFFFFFFFFFFF:016x}"


class FakeMax(LoopbackServer):
    """The MAX Bot API on 127.0.0.1:<port>. `base_url` is the value for MAX_API_URL."""

    name = "fake-max"
    path_prefix = ""

    def __init__(self, token: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 bot_user_id: int = BOT_USER_ID, bot_name: str = BOT_NAME):
        self.token = token  # when set, other Authorization values get 401
        self.bot_user_id, self.bot_name = bot_user_id, bot_name
        self.calls: list[dict] = []  # every request: {"method", "path", "params", "body"}
        self.sent: list[dict] = []  # every message posted: {"chat_id"|"user_id", "mid", "text", "link", …}
        self.answers: list[dict] = []  # POST /answers (callback answers)
        self.subscriptions: list[dict] = []
        self._rules: list[dict] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        # statistics (issue 12): chats GET /chats/{chatId|link} knows, figures that move, troubles
        self.chats: dict[int, dict] = {}
        self.audience = Audience("max")
        self.troubles = Troubles()
        # cross-posting (issue 13): uploads and what each channel shows
        self.uploaded: dict[str, bytes] = {}  # attachment token → the uploaded bytes
        self.upload_slots: dict[str, dict] = {}  # upload URL id → {"type", "used"}
        self.clock: Callable[[], float] = time.time  # the timestamps of messages (DELETE's refusal of old ones)
        self.delete_window = 48 * 3600  # seconds a message can still be deleted (see delete_message)
        self._drops: list[dict] = []
        self._released = threading.Event()  # wakes the calls drop(hang=True) holds (set by stop())
        self._not_ready = 0
        self._serve(host, port, self._handler())

    # --- controls --------------------------------------------------------------------------------
    def fail(self, status: int, chat_id: int | str | None = None, times: int | None = 1,
             retry_after: float | None = None, code: str | None = None, message: str | None = None,
             on: str = "POST /messages", skip: int = 0) -> None:
        """Answer HTTP `status` to the next `times` sends (None: always), only for `chat_id` when given:
        `fail(429, chat_id=123, retry_after=2)`, `fail(403, chat_id=123, times=None)`. `on`: the call that fails
        ("POST /messages", "PUT /messages", "DELETE /messages", "POST /uploads", "GET /members/me"); `skip`: let
        that many matching calls through first."""
        default_code, default_msg = ERRORS.get(status, ("error", "Error"))
        with self._lock:
            self._rules.append({"status": status, "chat_id": None if chat_id is None else str(chat_id),
                                "times": times, "retry_after": retry_after, "code": code or default_code,
                                "message": message or default_msg, "on": on, "skip": skip})

    def drop(self, chat_id: int | str | None = None, times: int | None = 1, on: str = "POST /messages",
             hang: bool = False) -> None:
        """The next `times` calls `on` (for `chat_id` when given) are carried out — the message is posted — and
        then the connection is closed without an answer: a crash between the platform's acceptance and ours.
        `hang`: no answer at all until the client times out (the connection is closed at stop())."""
        with self._lock:
            self._drops.append({"chat_id": None if chat_id is None else str(chat_id), "times": times, "on": on,
                                "hang": hang})

    def stop(self) -> None:
        self._released.set()
        super().stop()

    def not_ready(self, times: int = 1) -> None:
        """The next `times` messages with attachments are refused with `attachment.not.ready` (HTTP 400), as MAX
        answers while it still processes an uploaded file."""
        with self._lock:
            self._not_ready = times

    def received(self, chat_id: int | str, *, deleted: bool = False) -> list[dict]:
        """What chat `chat_id` shows, in order: {"mid", "text", "photos" (bytes each), "attachments",
        "disable_link_preview", "format", "timestamp", "edits", "deleted"}."""
        with self._lock:
            return [dict(m) for m in self.sent if str(m.get("chat_id")) == str(chat_id)
                    and (deleted or not m.get("deleted"))]

    def backdate(self, chat_id: int | str, hours: float = 49) -> None:
        """Make the chat's messages `hours` older (DELETE /messages refuses them after delete_window)."""
        with self._lock:
            for m in self.sent:
                if str(m.get("chat_id")) == str(chat_id):
                    m["timestamp"] -= int(hours * 3600 * 1000)

    def clear_failures(self) -> None:
        with self._lock:
            self._rules.clear()

    def add_chat(self, chat_id: int, title: str, link: str | None = None, *, type_: str = "channel",
                 members: int | None = None, bot_admin: bool = True, status: str = "active",
                 bot_member: bool = True, permissions: list[str] | None = None) -> None:
        """A chat GET /chats/{chatId} and /chats/{link} know. `members`: its participants now (growing from there).
        The bot there: a member (`bot_member`), an admin (`bot_admin`) with `permissions` (default: write and
        read_all_messages). Posting to a known channel needs the bot to be its admin with «write»."""
        chat = {"chat_id": int(chat_id), "type": type_, "status": status, "title": title,
                "icon": {"url": f"{self.origin}/avatar/{abs(int(chat_id))}.png"}, "last_event_time": _now_ms(),
                "owner_id": 590_000_777, "is_public": True, "description": f"Канал: {title}",
                "_bot_admin": bot_admin, "_bot_member": bot_member,
                "_permissions": permissions if permissions is not None else ["write", "read_all_messages"]}
        if link:
            chat["link"] = f"https://max.ru/{link}"
        with self._lock:
            self.chats[int(chat_id)] = chat
        if members is not None:
            self.audience.set(int(chat_id), members)

    def trouble(self, chat_id, how: str, times: int | None = None) -> None:
        """Make one chat fail (app/fakes/figures.TROUBLES) in GET /chats/…"""
        self.troubles.add(int(chat_id), how, times)

    def _chat(self, ref: str, member: bool) -> tuple[int, Any, dict]:
        ref = unquote(ref)
        if ref.lstrip("-").isdigit():
            chat = self.chats.get(int(ref))
        else:
            name = ref.lstrip("@").lower()
            chat = next((c for c in self.chats.values()
                         if str(c.get("link") or "").rstrip("/").rpartition("/")[2].lower() == name), None)
        how = self.troubles.take(chat["chat_id"]) if chat else None
        if chat is None or how in ("unknown", "deleted"):
            return _error(404)
        if how == "5xx":
            return _error(503)
        if how == "garbage":
            return 200, GARBAGE, {}
        if how == "429":
            return 429, {"code": "too.many.requests", "message": "Too many requests"}, {"Retry-After": "2"}
        if how in ("no_rights", "private"):
            return _error(403)
        if member:
            if not chat.get("_bot_member", True):
                return _error(403, "chat.denied", "Bot is not a member of the chat")
            return 200, {"user_id": self.bot_user_id, "first_name": self.bot_name, "name": self.bot_name,
                         "username": "city_bot", "is_bot": True, "last_activity_time": _now_ms(),
                         "is_admin": chat["_bot_admin"], "is_owner": False,
                         "permissions": list(chat["_permissions"]) if chat["_bot_admin"] else None,
                         "join_time": _now_ms()}, {}
        out = {k: v for k, v in chat.items() if not k.startswith("_")}
        out["participants_count"] = self.audience.followers(chat["chat_id"])
        return 200, out, {}

    @property
    def messages(self) -> list[dict]:
        return list(self.sent)

    def to_chat(self, chat_id: int | str) -> list[dict]:
        return [m for m in self.sent if str(m.get("chat_id")) == str(chat_id)]

    # --- the API ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
               body: Any) -> tuple[int, dict, dict]:
        """One request → (HTTP status, JSON body, extra headers), as MAX answers it; status DROPPED: no answer,
        the connection is closed (`drop()`)."""
        status, out, extra = self._handle(method, path, params, headers, body)
        rule = self._take_drop(method, path, params) if 200 <= status < 300 and path in ("/messages", "/uploads") \
            else None
        if rule is not None:
            return (HUNG if rule["hang"] else DROPPED), {}, {}
        return status, out, extra

    def _take_drop(self, method: str, path: str, params: dict) -> dict | None:
        target = str(params.get("chat_id") or params.get("message_id") or "")
        with self._lock:
            for rule in self._drops:
                if rule["on"] != f"{method} {path}" or rule["chat_id"] not in (None, target):
                    continue
                if rule["times"] is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._drops.remove(rule)
                return rule
        return None

    def _handle(self, method: str, path: str, params: dict[str, str], headers: dict[str, str],
                body: Any) -> tuple[int, dict, dict]:
        with self._lock:
            self.calls.append({"method": method, "path": path, "params": dict(params), "body": body,
                               "at": self.clock()})
            if method == "GET" and path.startswith("/avatar/"):
                return 200, avatar_png(f"max{path}"), {}
            token = headers.get("authorization")
            if not token or (self.token is not None and token != self.token):
                return _error(401)
            if method == "POST" and path == "/messages":
                return self._send(params, body)
            if path == "/messages" and method in ("PUT", "DELETE"):
                return self._change(method, params, body)
            if method == "POST" and path == "/uploads":
                return self._upload_url(params)
            if method == "GET" and path == "/me":
                return 200, {"user_id": self.bot_user_id, "first_name": self.bot_name, "name": self.bot_name,
                             "username": "city_bot", "is_bot": True, "last_activity_time": _now_ms()}, {}
            if path == "/subscriptions":
                return self._subscriptions(method, params, body)
            if method == "GET" and path.startswith("/chats/"):
                rest = path[len("/chats/"):]
                if rest.endswith("/members/me"):
                    rule = self._matching_rule(rest[:-len("/members/me")], "GET /members/me")
                    if rule is not None:
                        return self._rule_answer(rule)
                    return self._chat(rest[:-len("/members/me")], member=True)
                if "/" not in rest:
                    return self._chat(rest, member=False)
            if method == "POST" and path == "/answers":
                if not params.get("callback_id"):
                    return _error(400, message="callback_id is required")
                self.answers.append({"callback_id": params["callback_id"], **(body if isinstance(body, dict) else {})})
                return 200, {"success": True}, {}
            return _error(404, "not.found", f"Path {path} not found")

    def _send(self, params: dict, body: Any) -> tuple[int, dict, dict]:
        target = params.get("chat_id") or params.get("user_id")
        if not target or not target.lstrip("-").isdigit():
            return _error(400, message="chat_id or user_id is required")
        if not isinstance(body, dict):
            return _error(400, message="Request body must be a NewMessageBody object")
        text = body.get("text") or ""
        if not text and not body.get("attachments"):
            return _error(400, message="text: message is empty")
        if len(text) >= 4000:
            return _error(400, message="text: size must be less than 4000")
        link = body.get("link")
        if link is not None and (not isinstance(link, dict) or link.get("type") not in ("reply", "forward")
                                 or not link.get("mid")):
            return _error(400, message="link: invalid NewMessageLink")
        rule = self._matching_rule(target)
        if rule is not None:
            return self._rule_answer(rule)
        known = self.chats.get(int(params["chat_id"])) if params.get("chat_id") else None
        if known is not None and known["type"] == "channel" and (
                not known.get("_bot_member", True) or not known["_bot_admin"]
                or "write" not in (known.get("_permissions") or [])):
            return _error(403, "chat.denied", "You are not allowed to write to this chat")
        photos, failed = self._attached(body.get("attachments"))
        if failed:
            return failed
        seq = next(self._seq)
        chat_id = int(params["chat_id"]) if params.get("chat_id") else int(target) * 10 + 1
        mid = make_mid(chat_id, seq)
        record = {"mid": mid, "text": text, "link": link, "attachments": body.get("attachments") or [],
                  "body": body, "photos": photos, "format": body.get("format"),
                  "disable_link_preview": params.get("disable_link_preview"),
                  "timestamp": int(self.clock() * 1000), "edits": [], "deleted": False}
        record["chat_id" if params.get("chat_id") else "user_id"] = int(target)
        self.sent.append(record)
        message = {
            "sender": {"user_id": self.bot_user_id, "first_name": self.bot_name, "name": self.bot_name,
                       "username": "city_bot", "is_bot": True, "last_activity_time": _now_ms()},
            "recipient": {"chat_id": chat_id, "chat_type": "dialog" if chat_id > 0 else "chat"},
            "timestamp": _now_ms(),
            "body": {"mid": mid, "seq": seq, "text": text, "attachments": body.get("attachments") or None},
        }
        if link:
            message["link"] = {"type": link["type"], "chat_id": chat_id, "message": {"mid": link["mid"]}}
        if known is not None and known["type"] == "channel":
            message["recipient"]["chat_type"] = "channel"
            message["url"] = f"https://max.ru/c/{chat_id}/{mid}"
        return 200, {"message": message}, {}

    def _rule_answer(self, rule: dict) -> tuple[int, dict, dict]:
        extra = {"Retry-After": str(rule["retry_after"])} if rule["retry_after"] is not None else {}
        return rule["status"], {"code": rule["code"], "message": rule["message"]}, extra

    def _attached(self, attachments: Any) -> tuple[list[bytes], tuple[int, dict, dict] | None]:
        """The bytes of the uploaded images a message attaches (by token), or MAX's refusal."""
        photos: list[bytes] = []
        items = attachments if isinstance(attachments, list) else []
        images = [a for a in items if isinstance(a, dict) and a.get("type") == "image"]
        if images and self._not_ready > 0:
            self._not_ready -= 1
            return [], _error(400, *NOT_READY)
        for item in images:
            token = (item.get("payload") or {}).get("token") if isinstance(item.get("payload"), dict) else None
            if token not in self.uploaded:
                return [], _error(400, "attachment.not.found", "Attachment token is invalid or expired")
            photos.append(self.uploaded[token])
        return photos, None

    def _upload_url(self, params: dict) -> tuple[int, dict, dict]:
        kind = params.get("type")
        if kind not in UPLOAD_TYPES:
            return _error(400, message="type: must be one of image, video, audio, file")
        rule = self._matching_rule("", "POST /uploads")
        if rule is not None:
            return self._rule_answer(rule)
        slot = hashlib.sha1(f"{kind}:{len(self.upload_slots)}:{time.time()}".encode()).hexdigest()[:20]
        self.upload_slots[slot] = {"type": kind, "used": False}
        return 200, {"url": f"{self.origin}/upload/{slot}?sig={slot[::-1]}"}, {}

    def upload(self, slot: str, content_type: str, raw: bytes) -> tuple[int, Any, dict]:
        """A file POSTed (multipart, field «data») to an upload URL: `{"photos": {<hash>: {"token"}}}` for an
        image, `{"token"}` otherwise. One file per URL."""
        with self._lock:
            self.calls.append({"method": "POST", "path": f"/upload/{slot}", "params": {}, "body": len(raw),
                               "at": self.clock()})
            info = self.upload_slots.get(slot)
            if info is None or info["used"]:
                return _error(400, "upload.invalid", "Upload URL is invalid or already used")
            try:
                data = _multipart_file(content_type, raw)
            except ValueError:
                return _error(400, "upload.invalid", "Expected multipart/form-data with a file")
            info["used"] = True
            digest = hashlib.sha256(data).hexdigest()
            token = f"tok{len(self.uploaded) + 1:04d}{digest[:24]}"
            self.uploaded[token] = data
            if info["type"] == "image":
                return 200, {"photos": {digest[:40]: {"token": token}}}, {}
            return 200, {"token": token}, {}

    def _change(self, method: str, params: dict, body: Any) -> tuple[int, dict, dict]:
        """PUT /messages?message_id= (edit) and DELETE /messages?message_id= → {"success": true} or
        {"success": false, "message"}."""
        mid = params.get("message_id") or ""
        if not mid:
            return _error(400, message="message_id is required")
        rule = self._matching_rule(mid, f"{method} /messages")
        if rule is not None:
            return self._rule_answer(rule)
        record = next((m for m in self.sent if m["mid"] == mid and not m.get("deleted")), None)
        if record is None:
            return _error(404, "not.found", f"Message {mid} not found")
        if method == "DELETE":
            if self.clock() * 1000 - record.get("timestamp", 0) >= self.delete_window * 1000:
                return 200, {"success": False, "message": "Message can't be deleted: it is too old"}, {}
            record["deleted"] = True
            return 200, {"success": True}, {}
        if not isinstance(body, dict):
            return _error(400, message="Request body must be a NewMessageBody object")
        text = body.get("text")
        if text is not None and len(str(text)) >= 4000:
            return _error(400, message="text: size must be less than 4000")
        if "attachments" in body and body["attachments"] is not None:
            photos, failed = self._attached(body["attachments"])
            if failed:
                return failed
            record.update(attachments=body["attachments"], photos=photos)
        if text is not None:
            record["edits"].append(record["text"])
            record["text"] = str(text)
        return 200, {"success": True}, {}

    def _subscriptions(self, method: str, params: dict, body: Any) -> tuple[int, dict, dict]:
        if method == "GET":
            return 200, {"subscriptions": list(self.subscriptions)}, {}
        if method == "POST":
            if not isinstance(body, dict) or not str(body.get("url") or "").startswith(("http://", "https://")):
                return _error(400, message="url: must be a valid URL")
            self.subscriptions = [s for s in self.subscriptions if s["url"] != body["url"]]
            self.subscriptions.append({"url": body["url"], "time": _now_ms(),
                                       "update_types": body.get("update_types"), "version": "0.0.1"})
            return 200, {"success": True}, {}
        if method == "DELETE":
            self.subscriptions = [s for s in self.subscriptions if s["url"] != params.get("url")]
            return 200, {"success": True}, {}
        return _error(405, "method.not.allowed", "Method not allowed")

    def _matching_rule(self, target: str, on: str = "POST /messages") -> dict | None:
        for rule in self._rules:
            if rule.get("on", "POST /messages") != on or rule["chat_id"] not in (None, target):
                continue
            if rule.get("skip"):
                rule["skip"] -= 1
                continue
            if rule["times"] is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    self._rules.remove(rule)
            return rule
        return None

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                if method == "POST" and path.startswith("/upload/"):
                    self._answer(*fake.upload(path[len("/upload/"):], self.headers.get("Content-Type") or "", data))
                    return
                raw = data.decode("utf-8", "replace")
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._answer(*_error(400, message="Request body is not valid JSON"))
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._answer(*fake.handle(method, path, dict(parse_qsl(query, keep_blank_values=True)), headers,
                                          body))

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def do_DELETE(self):  # noqa: N802
                self._serve("DELETE")

            def do_PUT(self):  # noqa: N802
                self._serve("PUT")

            def _answer(self, status: int, body: Any, extra: dict) -> None:
                if status == HUNG:  # FakeMax.drop(hang=True): no answer until the client gives up
                    fake._released.wait(30)
                    status = DROPPED
                if status == DROPPED:  # FakeMax.drop: carried out; no answer ever comes
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8" if not isinstance(body, bytes)
                                 else "image/png" if body.startswith(b"\x89PNG") else "text/html")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet in tests
                pass

        return Handler


def _multipart_file(content_type: str, raw: bytes) -> bytes:
    """The file part of a multipart/form-data upload (MAX's upload URL takes one file, field «data»)."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise ValueError("not multipart")
    message = message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw, policy=HTTP)
    if not message.is_multipart():
        raise ValueError("not multipart")
    for part in message.iter_parts():
        if part.get_filename() is not None:
            return part.get_payload(decode=True) or b""
    raise ValueError("no file part")


def _error(status: int, code: str | None = None, message: str | None = None) -> tuple[int, dict, dict]:
    default_code, default_msg = ERRORS.get(status, ("error", "Error"))
    return status, {"code": code or default_code, "message": message or default_msg}, {}


# --- webhook updates -------------------------------------------------------------------------------
def headers(secret: str) -> dict[str, str]:
    """The header MAX puts on every webhook request of a subscription made with `secret`."""
    return {SECRET_HEADER: secret}


def user(user_id: int, name: str = "Ольга Кузнецова", username: str | None = None, is_bot: bool = False) -> dict:
    """A MAX User object (`name` is split into first and last name)."""
    first, _, last = name.partition(" ")
    obj = {"user_id": user_id, "first_name": first, "name": name, "is_bot": is_bot,
           "last_activity_time": _now_ms()}
    if last:
        obj["last_name"] = last
    if username:
        obj["username"] = username
    return obj


def image(url: str = "https://i.oneme.ru/i?r=BTGBPUwtwgYUeoFhO7rESmr8", token: str | None = None,
          photo_id: int = 4_000_000_001) -> dict:
    """A photo attachment as MAX delivers it."""
    return {"type": "image", "payload": {"photo_id": photo_id, "token": token or f"img-{photo_id}", "url": url}}


def file(url: str = "https://fd.oneme.ru/getfile?sig=abc&id=77", filename: str = "акт.pdf", size: int = 48213,
         token: str | None = None) -> dict:
    """A document attachment as MAX delivers it."""
    return {"type": "file", "payload": {"url": url, "token": token or f"file-{size}"}, "filename": filename,
            "size": size}


def location(latitude: float, longitude: float) -> dict:
    """A place the resident shared."""
    return {"type": "location", "latitude": latitude, "longitude": longitude}


def contact(name: str, phone: str, user_id: int | None = None) -> dict:
    """A contact card (vCard; `max_info` when it is a MAX user)."""
    vcf = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{name}\r\nTEL;TYPE=cell:{phone}\r\nEND:VCARD"
    return {"type": "contact", "payload": {"vcf_info": vcf, "max_info": user(user_id, name) if user_id else None}}


def audio(url: str = "https://vd.oneme.ru/a?r=voice-fake", transcription: str | None = None) -> dict:
    """A voice message; MAX may add its own transcription."""
    item: dict[str, Any] = {"type": "audio", "payload": {"url": url, "token": "audio-" + url[-8:]}}
    if transcription:
        item["transcription"] = transcription
    return item


def sticker(code: str = "2fd04f94e") -> dict:
    return {"type": "sticker", "payload": {"url": f"https://i.oneme.ru/getSmile?smileId={code}&smileType=4",
                                           "code": code}, "width": 256, "height": 256}


def message(chat_id: int, user_id: int, text: str, *, chat_type: str = "dialog", mid: str | None = None,
            seq: int | None = None, name: str = "Ольга Кузнецова", timestamp: int | None = None,
            attachments: list | None = None, reply_to_mid: str | None = None, url: str | None = None,
            is_bot: bool = False) -> dict:
    """A MAX Message object written by `user_id` into chat `chat_id` (dialog | chat | channel)."""
    seq = seq if seq is not None else next(_seq)
    recipient: dict[str, Any] = {"chat_id": chat_id, "chat_type": chat_type}
    if chat_type == "dialog":
        recipient["user_id"] = BOT_USER_ID
    obj: dict[str, Any] = {
        "sender": user(user_id, name, is_bot=is_bot), "recipient": recipient,
        "timestamp": timestamp if timestamp is not None else _now_ms(),
        "body": {"mid": mid or make_mid(chat_id, seq), "seq": seq, "text": text, "attachments": attachments or []},
    }
    if reply_to_mid:
        obj["link"] = {"type": "reply", "sender": user(BOT_USER_ID, BOT_NAME, is_bot=True), "chat_id": chat_id,
                       "message": {"mid": reply_to_mid, "seq": 0, "text": ""}}
    if url:
        obj["url"] = url
    return obj


def message_created(chat_id: int, user_id: int, text: str, *, timestamp: int | None = None, **kw) -> dict:
    """A resident's new message (kw: chat_type, mid, seq, name, attachments, reply_to_mid, url, is_bot)."""
    msg = message(chat_id, user_id, text, timestamp=timestamp, **kw)
    return {"update_type": "message_created", "timestamp": msg["timestamp"], "message": msg, "user_locale": "ru"}


def message_edited(chat_id: int, user_id: int, text: str, *, mid: str, timestamp: int | None = None,
                   **kw) -> dict:
    """The resident edited message `mid`: the same message object with the new text; `timestamp` is the
    edit's time (it tells one edit from the next)."""
    edited_at = timestamp if timestamp is not None else _now_ms()
    msg = message(chat_id, user_id, text, mid=mid, timestamp=edited_at - 60_000, **kw)
    return {"update_type": "message_edited", "timestamp": edited_at, "message": msg}


def message_callback(chat_id: int, user_id: int, payload: str, *, callback_id: str | None = None,
                     mid: str | None = None, chat_type: str = "dialog", name: str = "Ольга Кузнецова",
                     timestamp: int | None = None, text: str = "Проблема решена?") -> dict:
    """The resident pressed an inline button with `payload` under the bot's message `mid`."""
    stamp = timestamp if timestamp is not None else _now_ms()
    seq = next(_seq)
    bot_msg = message(chat_id, BOT_USER_ID, text, chat_type=chat_type, mid=mid or make_mid(chat_id, seq), seq=seq,
                      name=BOT_NAME, is_bot=True, timestamp=stamp - 3_600_000)
    return {"update_type": "message_callback", "timestamp": stamp,
            "callback": {"timestamp": stamp, "callback_id": callback_id or f"cb.{chat_id & 0xFFFFFFFF:08x}{seq:08x}",
                         "payload": payload, "user": user(user_id, name)},
            "message": bot_msg, "user_locale": "ru"}


def bot_started(chat_id: int, user_id: int, payload: str | None = None, *, name: str = "Ольга Кузнецова",
                timestamp: int | None = None) -> dict:
    """The resident pressed «Начать» in the dialog (`payload`: the `?start=` of a deep link, e.g. "i12")."""
    obj = {"update_type": "bot_started", "timestamp": timestamp if timestamp is not None else _now_ms(),
           "chat_id": chat_id, "user": user(user_id, name), "user_locale": "ru"}
    if payload is not None:
        obj["payload"] = payload
    return obj


def channel_message(chat_id: int, text: str, *, mid: str | None = None, seq: int | None = None,
                    timestamp: int | None = None, attachments: list | None = None, url: str | None = None,
                    author_id: int = 590001, author_name: str = "Администратор Канала") -> dict:
    """A post in a channel (`chat_type` "channel"): written by one of its admins, shown on behalf of the channel;
    `url` is the post's public link (https://max.ru/c/<chat id>/<mid>)."""
    seq = seq if seq is not None else next(_seq)
    mid = mid or make_mid(chat_id, seq)
    obj: dict[str, Any] = {
        "sender": user(author_id, author_name), "recipient": {"chat_id": chat_id, "chat_type": "channel"},
        "timestamp": timestamp if timestamp is not None else _now_ms(),
        "body": {"mid": mid, "seq": seq, "text": text, "attachments": attachments or []},
        "url": url or f"https://max.ru/c/{chat_id}/{mid}", "stat": {"views": 0}}
    return obj


def channel_post(chat_id: int, text: str, *, timestamp: int | None = None, **kw) -> dict:
    """The participant published a post in its MAX channel (the bot is an administrator of it)."""
    msg = channel_message(chat_id, text, timestamp=timestamp, **kw)
    return {"update_type": "message_created", "timestamp": msg["timestamp"], "message": msg, "user_locale": "ru"}


def edited_channel_post(chat_id: int, text: str, *, mid: str, timestamp: int | None = None, **kw) -> dict:
    """The participant edited its channel post `mid`; `timestamp` is the edit's time."""
    edited_at = timestamp if timestamp is not None else _now_ms()
    msg = channel_message(chat_id, text, mid=mid, timestamp=edited_at - 60_000, **kw)
    return {"update_type": "message_edited", "timestamp": edited_at, "message": msg}


def message_removed(chat_id: int, user_id: int, mid: str, *, timestamp: int | None = None) -> dict:
    return {"update_type": "message_removed", "timestamp": timestamp if timestamp is not None else _now_ms(),
            "message_id": mid, "chat_id": chat_id, "user_id": user_id}


def bot_added(chat_id: int, user_id: int, *, is_channel: bool = False, timestamp: int | None = None) -> dict:
    return {"update_type": "bot_added", "timestamp": timestamp if timestamp is not None else _now_ms(),
            "chat_id": chat_id, "user": user(user_id, "Администратор Чата"), "is_channel": is_channel}


def press(sent: dict, label: str, user_id: int, **kw) -> dict:
    """The resident pressed the inline button `label` under a message the fake recorded in `sent`."""
    rows = next((a["payload"]["buttons"] for a in sent.get("attachments") or [] if a.get("type") == "inline_keyboard"),
                [])
    data = next(b["payload"] for row in rows for b in row if b["text"] == label)
    chat_id = sent.get("chat_id") if sent.get("chat_id") is not None else sent["user_id"]
    return message_callback(int(chat_id), user_id, data, mid=sent["mid"], **kw)
