"""A local fake of the Telegram Bot API and builders of real-shaped updates.

`FakeTelegram` is a small HTTP/1.1 server on 127.0.0.1 answering `/bot<token>/<method>` the way
api.telegram.org does — `{"ok": true, "result": …}` or `{"ok": false, "error_code", "description",
"parameters"?}` with the same HTTP status — for getMe, sendMessage, getUpdates, setWebhook, deleteWebhook,
getWebhookInfo and getFile (files added with `add_file` are served under `/file/bot<token>/<path>`). Bodies are
read as JSON, as form fields (python-telegram-bot posts forms, nested objects JSON-encoded in a field) or as
multipart/form-data (uploads; `attach://<name>` refers to a file part).

Cross-posting (issue 13): to a channel added with `add_channel` the fake answers sendMessage, sendPhoto,
sendMediaGroup (2–10 photos), editMessageText, editMessageCaption and deleteMessage as Telegram does — message ids
counted per channel, text ≤ 4096 and caption ≤ 1024 UTF-16 units («message is too long», «message caption is too
long»), «message is not modified», «message can't be deleted» after 48 hours (`backdate`), 403 when the bot is not
an admin there, «need administrator rights» without can_post_messages (`add_channel(can_post=False)`).
`received(chat)` is what the channel shows (one record per message, photos as bytes); `drop(method)` carries a
call out and then closes the connection without an answer; `fail`/`rate_limit` inject errors and 429s.

    with FakeTelegram(token="123456789:test-token") as tg:
        app.config["TELEGRAM_API_URL"] = tg.base_url          # "http://127.0.0.1:<port>/bot"
        tg.push(updates.private_message(555, "Нет воды"))       # what getUpdates will return
        tg.rate_limit(555, retry_after=7)                       # next sendMessage to 555: 429
        tg.block(556)                                           # every sendMessage to 556: 403
        ...
        assert tg.sent[0]["chat_id"] == 555 and "БЛГ" in tg.sent[0]["text"]

The builders below (`private_message`, `photo_message`, `start`, `status`, `channel_post`,
`automatic_forward`, `comment`, `edited`, `callback_query`, `my_chat_member`) return what Telegram POSTs to
a webhook / returns from getUpdates: an Update dict (Bot API 7+ field names: `forward_origin`,
`reply_parameters`). User ids are positive; channel and supergroup ids are -100…; `date` is Unix time.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import socket
import sys
import threading
import time
from email import message_from_bytes
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from app.fakes.figures import GARBAGE, Audience, Troubles, avatar_png
from app.fakes.server import POLL_INTERVAL

DEFAULT_TOKEN = "123456789:fake-token"
BOT_USERNAME = "open_municipality_bot"
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Fields python-telegram-bot sends JSON-encoded inside a form body.
_JSON_FIELDS = {"reply_parameters", "reply_markup", "allowed_updates", "entities", "link_preview_options",
                "caption_entities", "media"}
_INT_FIELDS = {"message_thread_id", "offset", "limit", "timeout", "message_id", "user_id"}
# Bot API limits the fake enforces on channel posts (core.telegram.org/bots/api), counted in UTF-16 code units
TEXT_LIMIT, CAPTION_LIMIT, ALBUM_MIN, ALBUM_MAX = 4096, 1024, 2, 10
DELETE_WINDOW = 48 * 3600  # deleteMessage: "a message can only be deleted if it was sent less than 48 hours ago"
DROPPED = -2  # handle()'s status for «accepted, then the connection dropped without an answer»
HUNG = -3  # …and for «accepted, then no answer until the client gives up» (drop(hang=True))


def _chat_id(value: Any) -> int | str:
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)  # "@channelusername"


class FakeTelegram:
    """The Bot API on 127.0.0.1:<port>. `base_url` is the value for TELEGRAM_API_URL."""

    def __init__(self, token: str | None = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0,
                 max_poll_wait: float = 1.0):
        self.token = token  # when set, other tokens get 401 Unauthorized
        self.max_poll_wait = max_poll_wait  # a long poll waits at most this long here, whatever its timeout
        self.calls: list[dict] = []  # every request: {"method", "params", "at"}
        self.sent: list[dict] = []  # sendMessage calls that succeeded: {"message_id", "chat_id", "text", …}
        self.answered: list[dict] = []  # answerCallbackQuery calls: {"callback_query_id", "text"?, …}
        self.webhook: dict[str, Any] = {}  # what setWebhook stored: url, secret_token, allowed_updates…
        self.files: dict[str, bytes] = {}  # file_path → content, served under /file/bot<token>/
        self.file_types: dict[str, str] = {}  # file_path → the Content-Type it is served with
        self._file_paths: dict[str, str] = {}  # file_id → file_path
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1001)
        # cross-posting (issue 13): what each channel received, in order — one record per message (an album is
        # one record per photo, with its media_group_id): {"message_id", "chat_id", "method", "text", "caption",
        # "photo" (bytes), "file_id", "media_group_id", "link_preview_options", "date", "edits", "deleted"}
        self.posts: list[dict] = []
        self.uploads: dict[str, bytes] = {}  # file_id → the bytes uploaded with it (sendPhoto by file_id reuses)
        self.clock: Callable[[], float] = time.time  # the date of posts (deleteMessage's 48 hours)
        self._chat_message_ids: dict[Any, itertools.count] = {}
        self._media_groups = itertools.count(13_000_000_000_000_000)
        self._drops: list[dict] = []
        self._released = threading.Event()  # wakes the calls drop(hang=True) holds (set by stop())
        self._rules: list[dict] = []
        self._pattern: list[bool] = []  # rate_limit_pattern: the next sendMessage calls, True → 429
        self._pattern_retry = 5
        self._cond = threading.Condition()
        self._connections: set[socket.socket] = set()
        # statistics (issue 12): channels for getChat / getChatMemberCount, figures that move, troubles
        self.chats: dict[int, dict] = {}  # chat id → {"id", "type", "title", "username"?, "bot_status"}
        self.audience = Audience("telegram")
        self.troubles = Troubles()
        self._server = _Server((host, port), self._handler())
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/bot"

    @property
    def bot_id(self) -> int:
        head = (self.token or DEFAULT_TOKEN).partition(":")[0]
        return int(head) if head.isdigit() else 123456789

    def start(self) -> FakeTelegram:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_INTERVAL,),
                                            name="fake-telegram", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections: afterwards Telegram is simply unreachable."""
        self._released.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        with self._cond:
            connections, self._connections = list(self._connections), set()
            self._cond.notify_all()  # wake long polls
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- controls --------------------------------------------------------------------------------
    def push(self, *updates: dict) -> list[int]:
        """Queue updates for getUpdates (an update without update_id gets the next one). Returns their ids."""
        ids = []
        with self._cond:
            for update in updates:
                update = dict(update)
                if not isinstance(update.get("update_id"), int):
                    update["update_id"] = next(self._update_ids)
                ids.append(update["update_id"])
                self._updates.append(update)
            self._cond.notify_all()
        return ids

    @property
    def pending_updates(self) -> list[dict]:
        """Updates not yet confirmed by a getUpdates with a higher offset."""
        with self._cond:
            return list(self._updates)

    def fail(self, code: int, description: str, *, chat_id: Any = None, method: str = "sendMessage",
             times: int | None = 1, parameters: dict | None = None, skip: int = 0) -> None:
        """Answer `code` to the next `times` calls (None: always) of `method`, only for `chat_id` when given;
        `skip`: let that many matching calls through first (e.g. skip=1: the 2nd call fails)."""
        with self._cond:
            self._rules.append({"code": code, "description": description, "method": method, "times": times,
                                "chat_id": None if chat_id is None else _chat_id(chat_id),
                                "parameters": parameters, "skip": skip})

    def rate_limit(self, chat_id: Any = None, retry_after: int = 5, times: int | None = 1, skip: int = 0) -> None:
        """HTTP 429 with parameters.retry_after, as Telegram answers flood control (after `skip` calls pass)."""
        self.fail(429, f"Too Many Requests: retry after {retry_after}", chat_id=chat_id, times=times,
                  parameters={"retry_after": retry_after}, skip=skip)

    def rate_limit_pattern(self, pattern, retry_after: int = 5) -> None:
        """The next sendMessage calls (any chat) follow `pattern`, one bool per call: True → 429 retry_after."""
        with self._cond:
            self._pattern = list(pattern)
            self._pattern_retry = retry_after

    def block(self, chat_id: Any) -> None:
        """The resident blocked the bot: every sendMessage to them is 403."""
        self.fail(403, "Forbidden: bot was blocked by the user", chat_id=chat_id, times=None)

    def clear_failures(self) -> None:
        with self._cond:
            self._rules.clear()

    def add_file(self, file_id: str, content: bytes, file_path: str | None = None,
                 content_type: str = "application/octet-stream") -> str:
        """Make getFile know `file_id` and serve `content` at base_file_url + token + "/" + file_path, with this
        Content-Type (the upstream type the app must not trust)."""
        path = file_path or self._file_path(file_id)
        with self._cond:
            self._file_paths[file_id] = path
            self.files[path] = content
            self.file_types[path] = content_type
        return path

    def add_channel(self, chat_id: int, title: str, username: str | None = None, *, type_: str = "channel",
                    members: int | None = None, photo: bool = True, bot_status: str = "administrator",
                    can_post: bool = True) -> None:
        """A chat getChat / getChatMemberCount know (a channel by default; type_="private" for a person).
        `members`: its subscribers now (they grow from there); default: derived from the id. `bot_status`: what
        getChatMember says of our bot there; `can_post`: an administrator bot's can_post_messages (a channel
        where the bot is an admin without the right to post). Posting to a known channel checks both."""
        chat: dict[str, Any] = {"id": int(chat_id), "type": type_, "title": title, "bot_status": bot_status,
                                "can_post": can_post}
        if username:
            chat["username"] = username
        if photo:
            chat["photo"] = {"small_file_id": f"AQADAgAD{abs(int(chat_id))}s", "small_file_unique_id": f"s{chat_id}",
                             "big_file_id": f"AQADAgAD{abs(int(chat_id))}b", "big_file_unique_id": f"b{chat_id}"}
        with self._cond:
            self.chats[int(chat_id)] = chat
        if photo:
            self.add_file(chat["photo"]["big_file_id"], avatar_png(f"tg{chat_id}"),
                          f"profile_photos/file_{abs(int(chat_id))}.jpg", "image/jpeg")
        if members is not None:
            self.audience.set(int(chat_id), members)

    def trouble(self, chat_id, how: str, times: int | None = None) -> None:
        """Make one channel fail (app/fakes/figures.TROUBLES) in getChat / getChatMemberCount / getChatMember."""
        self.troubles.add(int(chat_id), how, times)

    def messages_to(self, chat_id: Any) -> list[dict]:
        return [m for m in self.sent if m["chat_id"] == _chat_id(chat_id)]

    def drop(self, method: str = "sendMessage", chat_id: Any = None, times: int | None = 1,
             hang: bool = False) -> None:
        """The next `times` calls of `method` (for `chat_id` when given) are carried out — the post is made — and
        then the connection is closed without an answer: a crash between the platform's acceptance and ours.
        `hang`: no answer at all until the client times out (the connection is closed at stop())."""
        with self._cond:
            self._drops.append({"method": method, "chat_id": None if chat_id is None else _chat_id(chat_id),
                                "times": times, "hang": hang})

    def received(self, chat_id: Any, *, deleted: bool = False) -> list[dict]:
        """What the channel `chat_id` (id or "@username") shows, in order: one record per message (see
        `posts`); deleted messages only with deleted=True."""
        chat = self._known_chat(_chat_id(chat_id))
        key = chat["id"] if chat else _chat_id(chat_id)
        with self._cond:
            return [dict(p) for p in self.posts if p["chat_id"] == key and (deleted or not p["deleted"])]

    def backdate(self, chat_id: Any, hours: float = 49, message_id: int | None = None) -> None:
        """Make the channel's posts (or one) `hours` older: deleteMessage refuses them after 48 hours."""
        chat = self._known_chat(_chat_id(chat_id))
        key = chat["id"] if chat else _chat_id(chat_id)
        with self._cond:
            for post in self.posts:
                if post["chat_id"] == key and message_id in (None, post["message_id"]):
                    post["date"] -= int(hours * 3600)

    # --- the API ---------------------------------------------------------------------------------
    def handle(self, token: str, method: str, params: dict[str, Any],
               files: dict[str, bytes] | None = None) -> tuple[int, dict]:
        """One Bot API call → (HTTP status, JSON body) as api.telegram.org answers. `files`: the multipart file
        parts by field name (sendPhoto / sendMediaGroup uploads). Status DROPPED: answer nothing, drop the
        connection (`drop()`)."""
        params = _normalise(params)
        status, body = self._handle(token, method, params, files or {})
        rule = self._take_drop(method, params) if status == 200 else None
        if rule is not None:
            return (HUNG if rule["hang"] else DROPPED), {}
        return status, body

    def _take_drop(self, method: str, params: dict) -> dict | None:
        with self._cond:
            for rule in self._drops:
                if rule["method"].lower() != method.lower():
                    continue
                if rule["chat_id"] is not None and params.get("chat_id") != rule["chat_id"]:
                    continue
                if rule["times"] is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._drops.remove(rule)
                return rule
        return None

    def _handle(self, token: str, method: str, params: dict[str, Any], files: dict[str, bytes]) -> tuple[int, dict]:
        with self._cond:
            self.calls.append({"method": method, "params": params, "at": self.clock()})
            if self.token is not None and token != self.token:
                return _error(401, "Unauthorized")
            rule = self._matching_rule(method, params)
            if rule is not None:
                return _error(rule["code"], rule["description"], rule["parameters"])
            if method.lower() == "sendmessage" and self._pattern and self._pattern.pop(0):
                return _error(429, f"Too Many Requests: retry after {self._pattern_retry}",
                              {"retry_after": self._pattern_retry})
        handler = {
            "getme": self._get_me, "sendmessage": self._send_message, "getupdates": self._get_updates,
            "setwebhook": self._set_webhook, "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info, "getfile": self._get_file, "close": self._ok_true,
            "answercallbackquery": self._answer_callback_query,
            "logout": self._ok_true, "getchat": self._get_chat, "getchatmembercount": self._member_count,
            "getchatmember": self._chat_member,
        }.get(method.lower())
        publishing = {"sendphoto": self._send_photo, "sendmediagroup": self._send_media_group,
                      "editmessagetext": self._edit_text, "editmessagecaption": self._edit_caption,
                      "deletemessage": self._delete_message}.get(method.lower())
        if publishing is not None:
            return publishing(params, files)
        if handler is None:
            return _error(404, "Not Found")
        return handler(params)

    def _matching_rule(self, method: str, params: dict) -> dict | None:
        for rule in self._rules:
            if rule["method"].lower() != method.lower():
                continue
            if rule["chat_id"] is not None and params.get("chat_id") != rule["chat_id"]:
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

    def _find_chat(self, params: dict) -> tuple[dict | None, tuple[int, dict] | None]:
        ref = params.get("chat_id")
        with self._cond:
            if isinstance(ref, str):
                chat = next((c for c in self.chats.values()
                             if c.get("username", "").lower() == ref.lstrip("@").lower()), None)
            else:
                chat = self.chats.get(ref)
        how = self.troubles.take(chat["id"]) if chat else None
        if chat is None or how in ("unknown", "deleted"):
            return None, _error(400, "Bad Request: chat not found")
        if how == "429":
            return None, _error(429, "Too Many Requests: retry after 3", {"retry_after": 3})
        if how == "5xx":
            return None, _error(502, "Bad Gateway")
        if how == "garbage":
            return None, (-1, {})  # the handler answers an HTML page
        if how in ("no_rights", "private"):
            return None, _error(403, "Forbidden: bot is not a member of the channel chat")
        return chat, None

    def _get_chat(self, params: dict) -> tuple[int, dict]:
        chat, failed = self._find_chat(params)
        if failed:
            return failed
        info = {k: v for k, v in chat.items() if k != "bot_status"}
        info.update(accent_color_id=chat["id"] % 7, max_reaction_count=11,
                    accepted_gift_types={"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                                         "premium_subscription": False, "gifts_from_channels": False})
        if chat["type"] == "channel":
            info["description"] = f"Официальный канал: {chat['title']}"
        return _ok(info)

    def _member_count(self, params: dict) -> tuple[int, dict]:
        chat, failed = self._find_chat(params)
        if failed:
            return failed
        if chat["type"] == "private":
            return _error(400, "Bad Request: there are no administrators in the private chat")
        return _ok(self.audience.followers(chat["id"]))

    def _chat_member(self, params: dict) -> tuple[int, dict]:
        chat, failed = self._find_chat(params)
        if failed:
            return failed
        status = chat.get("bot_status") or "left"
        member: dict[str, Any] = {"user": self._bot_user(), "status": status}
        if status == "administrator":
            member.update(can_be_edited=False, is_anonymous=False, can_manage_chat=True, can_delete_messages=True,
                          can_manage_video_chats=True, can_restrict_members=True, can_promote_members=False,
                          can_change_info=True, can_invite_users=True, can_post_stories=False,
                          can_edit_stories=False, can_delete_stories=False,
                          can_post_messages=bool(chat.get("can_post", True)),
                          can_edit_messages=bool(chat.get("can_post", True)))
        return _ok(member)

    def _bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Открытый муниципалитет", "username": BOT_USERNAME}

    def _get_me(self, params: dict) -> tuple[int, dict]:
        return _ok({**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": True,
                    "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False})

    def _ok_true(self, params: dict) -> tuple[int, dict]:
        return _ok(True)

    def _send_message(self, params: dict) -> tuple[int, dict]:
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        channel = self._known_chat(chat_id)
        if channel is not None and channel["type"] == "channel":
            return self._post_text(channel, params)
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        reply = params.get("reply_parameters")
        if isinstance(reply, str):
            return _error(400, "Bad Request: can't parse reply parameters JSON object")
        if reply is None and params.get("reply_to_message_id") is not None:  # the pre-7.0 form
            reply = {"message_id": int(params["reply_to_message_id"])}
        now = int(time.time())
        with self._cond:
            message_id = next(self._message_ids)
            record = {"message_id": message_id, "chat_id": chat_id, "text": text, "reply_parameters": reply,
                      "message_thread_id": params.get("message_thread_id"), "parse_mode": params.get("parse_mode"),
                      "reply_markup": params.get("reply_markup"), "date": now}
            self.sent.append(record)
        chat = {"id": chat_id, "type": "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"}
        if chat["type"] == "private":
            chat["first_name"] = "Житель"
        else:
            chat["title"] = "Обсуждение"
        result = {"message_id": message_id, "from": self._bot_user(), "chat": chat, "date": now, "text": text}
        if record["message_thread_id"] is not None:
            result["message_thread_id"] = record["message_thread_id"]
        return _ok(result)

    # --- cross-posting (issue 13): channel posts ----------------------------------------------------------
    def _known_chat(self, ref: Any) -> dict | None:
        with self._cond:
            if isinstance(ref, str):
                return next((c for c in self.chats.values()
                             if c.get("username", "").lower() == ref.lstrip("@").lower()), None)
            return self.chats.get(ref)

    def _channel(self, params: dict) -> tuple[dict | None, tuple[int, dict] | None]:
        """The channel a publishing method targets, with the bot's right to post there checked."""
        ref = params.get("chat_id")
        if ref in (None, ""):
            return None, _error(400, "Bad Request: chat_id is empty")
        chat = self._known_chat(ref)
        if chat is None:
            return None, _error(400, "Bad Request: chat not found")
        if chat.get("bot_status") not in ("administrator", "creator"):
            return None, _error(403, "Forbidden: bot is not a member of the channel chat")
        if not chat.get("can_post", True):
            return None, _error(400, "Bad Request: need administrator rights in the channel chat")
        return chat, None

    def _message_json(self, record: dict) -> dict:
        chat = self._known_chat(record["chat_id"]) or {"id": record["chat_id"], "title": "Канал"}
        chat_json = channel_chat(chat["id"], chat.get("title") or "Канал", chat.get("username"))
        out: dict[str, Any] = {"message_id": record["message_id"], "sender_chat": chat_json, "chat": chat_json,
                               "date": record["date"]}
        if record.get("edit_date"):
            out["edit_date"] = record["edit_date"]
        if record["media_group_id"]:
            out["media_group_id"] = record["media_group_id"]
        if record["file_id"]:
            out["photo"] = photo_sizes(record["file_id"], file_size=len(record["photo"] or b""))
            if record["caption"]:
                out["caption"] = record["caption"]
        else:
            out["text"] = record["text"]
            if record["link_preview_options"]:
                out["link_preview_options"] = record["link_preview_options"]
        return out

    def _record(self, chat: dict, method: str, *, text: str = "", caption: str = "", photo: bytes | None = None,
                file_id: str | None = None, media_group_id: str | None = None,
                link_preview_options: dict | None = None) -> dict:
        """One message of the channel (call with self._cond held)."""
        counter = self._chat_message_ids.setdefault(chat["id"], itertools.count(2))  # 1: «channel created»
        record = {"message_id": next(counter), "chat_id": chat["id"], "method": method, "text": text,
                  "caption": caption, "photo": photo, "file_id": file_id, "media_group_id": media_group_id,
                  "link_preview_options": link_preview_options, "date": int(self.clock()), "edits": [],
                  "deleted": False}
        self.posts.append(record)
        return record

    def _post_text(self, chat: dict, params: dict) -> tuple[int, dict]:
        chat, failed = self._channel(params)
        if failed:
            return failed
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if _utf16(text.strip()) > TEXT_LIMIT:
            return _error(400, "Bad Request: message is too long")
        preview = params.get("link_preview_options")
        if isinstance(preview, str):
            return _error(400, "Bad Request: can't parse link preview options JSON object")
        with self._cond:
            record = self._record(chat, "sendMessage", text=text.strip(), link_preview_options=preview)
            self.sent.append({"message_id": record["message_id"], "chat_id": params["chat_id"], "text": record["text"],
                              "reply_parameters": None, "message_thread_id": None,
                              "parse_mode": params.get("parse_mode"), "reply_markup": params.get("reply_markup"),
                              "date": record["date"]})
            return _ok(self._message_json(record))

    def _photo_bytes(self, value: Any, files: dict[str, bytes], field: str) -> tuple[bytes | None, str | None]:
        """(bytes, file_id when sent by file_id) of a photo parameter, or (None, the error description)."""
        if isinstance(value, str) and value.startswith("attach://"):
            data = files.get(value[len("attach://"):])
            return (data, None) if data else (None, "Bad Request: invalid file attachment")
        if value in (None, "") and files.get(field):
            return files[field], None
        if isinstance(value, str) and value in self.uploads:
            return self.uploads[value], value
        return None, "Bad Request: wrong file identifier/HTTP URL specified"

    def _new_file_id(self, data: bytes) -> str:
        file_id = f"AgACAgIAAxkDAAI{len(self.uploads) + 1:06d}{hashlib.sha1(data).hexdigest()[:8]}"
        self.uploads[file_id] = data
        return file_id

    def _send_photo(self, params: dict, files: dict[str, bytes]) -> tuple[int, dict]:
        chat, failed = self._channel(params)
        if failed:
            return failed
        caption = str(params.get("caption") or "").strip()
        if _utf16(caption) > CAPTION_LIMIT:
            return _error(400, "Bad Request: message caption is too long")
        data, problem = self._photo_bytes(params.get("photo"), files, "photo")
        if data is None:
            return _error(400, problem or "Bad Request: there is no photo in the request")
        with self._cond:
            file_id = problem or self._new_file_id(data)
            record = self._record(chat, "sendPhoto", caption=caption, photo=data, file_id=file_id)
            return _ok(self._message_json(record))

    def _send_media_group(self, params: dict, files: dict[str, bytes]) -> tuple[int, dict]:
        chat, failed = self._channel(params)
        if failed:
            return failed
        media = params.get("media")
        if not isinstance(media, list):
            return _error(400, "Bad Request: can't parse media JSON object")
        if len(media) < ALBUM_MIN or len(media) > ALBUM_MAX:
            return _error(400, "Bad Request: wrong number of media items: must be 2-10")
        items = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") != "photo":
                return _error(400, "Bad Request: unsupported media type in the album")
            caption = str(item.get("caption") or "").strip()
            if _utf16(caption) > CAPTION_LIMIT:
                return _error(400, "Bad Request: message caption is too long")
            data, problem = self._photo_bytes(item.get("media"), files, "")
            if data is None:
                return _error(400, problem or "Bad Request: invalid file attachment")
            items.append((caption, data, problem))
        with self._cond:
            group = str(next(self._media_groups))
            records = [self._record(chat, "sendMediaGroup", caption=caption, photo=data,
                                    file_id=known or self._new_file_id(data), media_group_id=group)
                       for caption, data, known in items]
            return _ok([self._message_json(r) for r in records])

    def _posted(self, params: dict) -> tuple[dict | None, tuple[int, dict] | None]:
        chat, failed = self._channel(params)
        if failed:
            return None, failed
        with self._cond:
            record = next((p for p in self.posts if p["chat_id"] == chat["id"] and not p["deleted"]
                           and p["message_id"] == params.get("message_id")), None)
        return record, None

    def _edit_text(self, params: dict, files: dict[str, bytes]) -> tuple[int, dict]:
        record, failed = self._posted(params)
        if failed:
            return failed
        if record is None:
            return _error(400, "Bad Request: message to edit not found")
        if record["file_id"]:
            return _error(400, "Bad Request: there is no text in the message to edit")
        text = str(params.get("text") or "").strip()
        if not text:
            return _error(400, "Bad Request: message text is empty")
        if _utf16(text) > TEXT_LIMIT:
            return _error(400, "Bad Request: message is too long")
        preview = params.get("link_preview_options")
        with self._cond:
            if text == record["text"] and preview == record["link_preview_options"]:
                return _error(400, "Bad Request: message is not modified: specified new message content and reply "
                                   "markup are exactly the same as a current content and reply markup of the message")
            record["edits"].append(record["text"])
            record.update(text=text, link_preview_options=preview, edit_date=int(self.clock()))
            return _ok(self._message_json(record))

    def _edit_caption(self, params: dict, files: dict[str, bytes]) -> tuple[int, dict]:
        record, failed = self._posted(params)
        if failed:
            return failed
        if record is None:
            return _error(400, "Bad Request: message to edit not found")
        if not record["file_id"]:
            return _error(400, "Bad Request: there is no caption in the message to edit")
        caption = str(params.get("caption") or "").strip()
        if _utf16(caption) > CAPTION_LIMIT:
            return _error(400, "Bad Request: message caption is too long")
        with self._cond:
            if caption == record["caption"]:
                return _error(400, "Bad Request: message is not modified: specified new message content and reply "
                                   "markup are exactly the same as a current content and reply markup of the message")
            record["edits"].append(record["caption"])
            record.update(caption=caption, edit_date=int(self.clock()))
            return _ok(self._message_json(record))

    def _delete_message(self, params: dict, files: dict[str, bytes]) -> tuple[int, dict]:
        record, failed = self._posted(params)
        if failed:
            return failed
        if record is None:
            return _error(400, "Bad Request: message to delete not found")
        with self._cond:
            if self.clock() - record["date"] >= DELETE_WINDOW:
                return _error(400, "Bad Request: message can't be deleted")
            record["deleted"] = True
        return _ok(True)

    def _answer_callback_query(self, params: dict) -> tuple[int, dict]:
        if not params.get("callback_query_id"):
            return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        with self._cond:
            self.answered.append(dict(params))
        return _ok(True)

    def _get_updates(self, params: dict) -> tuple[int, dict]:
        if self.webhook.get("url"):
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        wait = min(float(params.get("timeout") or 0), self.max_poll_wait)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + wait
        with self._cond:
            if isinstance(offset, int) and offset > 0:  # confirms (forgets) every update before it
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                ready = self._updates
                if isinstance(offset, int) and offset < 0:
                    ready = ready[offset:]
                if allowed:
                    ready = [u for u in ready if not set(u) - {"update_id"} or set(u) & set(allowed)]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0:
                    return _ok([dict(u) for u in ready[:limit]])
                self._cond.wait(remaining)

    def _set_webhook(self, params: dict) -> tuple[int, dict]:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        if url and not re.match(r"^https?://", url):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._cond:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            self.webhook = {k: v for k, v in params.items() if v is not None} if url else {}
        return 200, {"ok": True, "result": True,
                     "description": "Webhook was set" if url else "Webhook is already deleted"}

    def _delete_webhook(self, params: dict) -> tuple[int, dict]:
        with self._cond:
            was = bool(self.webhook.get("url"))
            self.webhook = {}
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return 200, {"ok": True, "result": True,
                     "description": "Webhook was deleted" if was else "Webhook is already deleted"}

    def _get_webhook_info(self, params: dict) -> tuple[int, dict]:
        with self._cond:
            info = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return _ok(info)

    @staticmethod
    def _file_path(file_id: str) -> str:
        return f"documents/file_{hashlib.sha1(file_id.encode()).hexdigest()[:10]}"

    def _get_file(self, params: dict) -> tuple[int, dict]:
        file_id = params.get("file_id")
        if not file_id:
            return _error(400, "Bad Request: invalid file_id")
        with self._cond:
            path = self._file_paths.get(file_id) or self._file_path(file_id)
            size = len(self.files[path]) if path in self.files else None
        result = {"file_id": file_id, "file_unique_id": hashlib.sha1(file_id.encode()).hexdigest()[:16],
                  "file_path": path}
        if size is not None:
            result["file_size"] = size
        return _ok(result)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real API: connection bugs show up in tests

            def setup(self):
                super().setup()
                with fake._cond:
                    fake._connections.add(self.connection)

            def finish(self):
                try:
                    super().finish()
                finally:
                    with fake._cond:
                        fake._connections.discard(self.connection)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._dispatch(b"")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._dispatch(self.rfile.read(length) if length else b"")

            def _dispatch(self, body: bytes) -> None:
                path, _, query = self.path.partition("?")
                file_match = re.match(r"^/file/bot([^/]+)/(.+)$", path)
                if file_match:
                    content = fake.files.get(unquote(file_match.group(2)))
                    ok_token = fake.token is None or file_match.group(1) == fake.token
                    if content is None or not ok_token:
                        self._answer(*_error(404, "Not Found"))
                    else:
                        self._raw(200, content, fake.file_types.get(unquote(file_match.group(2)),
                                                                    "application/octet-stream"))
                    return
                match = re.match(r"^/bot([^/]+)/([A-Za-z]+)/?$", path)
                if not match:
                    self._answer(*_error(404, "Not Found"))
                    return
                params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
                ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
                files: dict[str, bytes] = {}
                try:
                    if ctype == "multipart/form-data" and body:
                        fields, files = _multipart(self.headers.get("Content-Type") or "", body)
                        params.update(fields)
                    elif ctype == "application/json" and body:
                        data = json.loads(body)
                        if not isinstance(data, dict):
                            raise ValueError("not an object")
                        params.update(data)
                    elif body:
                        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                except (ValueError, UnicodeDecodeError):
                    self._answer(*_error(400, "Bad Request: can't parse request body"))
                    return
                self._answer(*fake.handle(unquote(match.group(1)), match.group(2), params, files))

            def _answer(self, status: int, body: dict) -> None:
                if status == HUNG:  # FakeTelegram.drop(hang=True): no answer until the client gives up
                    fake._released.wait(30)
                    status = DROPPED
                if status == DROPPED:  # FakeTelegram.drop: the call was carried out; no answer ever comes
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if status == -1:  # a garbled answer (FakeTelegram.trouble "garbage")
                    self._raw(200, GARBAGE, "text/html")
                    return
                self._raw(status, json.dumps(body, ensure_ascii=False).encode(), "application/json")

            def _raw(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet in tests
                pass

        return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # the client went away, or stop() dropped the connection: nothing to report
        super().handle_error(request, client_address)


def _normalise(params: dict[str, Any]) -> dict[str, Any]:
    """Form fields are strings: decode the JSON-encoded objects and the ids the way Telegram reads them."""
    out = dict(params)
    for key in _JSON_FIELDS & set(out):
        if isinstance(out[key], str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                pass  # left a string: the method answers 400
    for key in _INT_FIELDS & set(out):
        try:
            out[key] = int(out[key])
        except (TypeError, ValueError):
            pass
    if "chat_id" in out:
        out["chat_id"] = _chat_id(out["chat_id"])
    for key in ("drop_pending_updates", "allow_sending_without_reply"):
        if isinstance(out.get(key), str):
            out[key] = out[key].lower() in ("true", "1")
    return out


def _utf16(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """A multipart/form-data body (python-telegram-bot's uploads) → (text fields, file parts by field name)."""
    message = message_from_bytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body,
                                 policy=HTTP)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def _ok(result: Any) -> tuple[int, dict]:
    return 200, {"ok": True, "result": result}


def _error(code: int, description: str, parameters: dict | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


# --- update builders ---------------------------------------------------------------------------------
_ids = itertools.count(int(time.time()) % 100_000 * 1000)


def next_update_id() -> int:
    """A fresh update_id (process-wide counter). Pass `update_id=` to a builder to repeat a delivery."""
    return next(_ids)


def user(user_id: int, first_name: str = "Ольга", last_name: str | None = "Кузнецова",
         username: str | None = None) -> dict:
    """A Telegram user (the resident)."""
    out: dict[str, Any] = {"id": int(user_id), "is_bot": False, "first_name": first_name}
    if last_name:
        out["last_name"] = last_name
    if username:
        out["username"] = username
    out["language_code"] = "ru"
    return out


def private_chat(u: dict) -> dict:
    chat = {"id": u["id"], "type": "private", "first_name": u["first_name"]}
    for key in ("last_name", "username"):
        if u.get(key):
            chat[key] = u[key]
    return chat


def channel_chat(channel_id: int, title: str = "Администрация г. Белогорск", username: str | None = None) -> dict:
    chat: dict[str, Any] = {"id": int(channel_id), "title": title, "type": "channel"}
    if username:
        chat["username"] = username
    return chat


def group_chat(group_id: int, title: str = "Администрация г. Белогорск — обсуждение",
               username: str | None = None) -> dict:
    chat: dict[str, Any] = {"id": int(group_id), "title": title, "type": "supergroup"}
    if username:
        chat["username"] = username
    return chat


def _text_fields(text: str | None, caption: bool = False) -> dict:
    """`text` (or `caption`) with the bot_command entity Telegram adds for a leading /command."""
    if text is None or text == "":
        return {}
    key = "caption" if caption else "text"
    out: dict[str, Any] = {key: text}
    match = re.match(r"^/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if match:
        out[f"{key}_entities" if caption else "entities"] = [
            {"offset": 0, "length": len(match.group(0)), "type": "bot_command"}]
    return out


def photo_sizes(file_id: str = "AgACAgIAAxkBAAIBQmZ", width: int = 1280, height: int = 960,
                file_size: int = 187_413) -> list[dict]:
    """A photo as Telegram sends it: the same picture in sizes, smallest first; the last one is `file_id`."""
    small, medium = (width * 90 // max(width, height), height * 90 // max(width, height)), (width // 4, height // 4)
    return [
        {"file_id": f"{file_id}-s", "file_unique_id": f"{file_id[-6:]}s", "file_size": 1_517,
         "width": small[0], "height": small[1]},
        {"file_id": f"{file_id}-m", "file_unique_id": f"{file_id[-6:]}m", "file_size": 19_062,
         "width": medium[0], "height": medium[1]},
        {"file_id": file_id, "file_unique_id": f"{file_id[-6:]}x", "file_size": file_size,
         "width": width, "height": height},
    ]


def document(file_id: str = "BQACAgIAAxkBAAIBRGZ", file_name: str = "акт.pdf", mime_type: str = "application/pdf",
             file_size: int = 48_213) -> dict:
    return {"file_id": file_id, "file_unique_id": f"{file_id[-6:]}d", "file_name": file_name,
            "mime_type": mime_type, "file_size": file_size}


def voice(file_id: str = "AwACAgIAAxkBAAIBRmZ", duration: int = 7, file_size: int = 21_504) -> dict:
    return {"file_id": file_id, "file_unique_id": f"{file_id[-6:]}v", "duration": duration,
            "mime_type": "audio/ogg", "file_size": file_size}


def video(file_id: str = "BAACAgIAAxkBAAIBSGZ", file_name: str = "video.mp4", duration: int = 12,
          file_size: int = 2_310_144) -> dict:
    return {"file_id": file_id, "file_unique_id": f"{file_id[-6:]}V", "width": 1280, "height": 720,
            "duration": duration, "file_name": file_name, "mime_type": "video/mp4", "file_size": file_size}


def location(latitude: float, longitude: float) -> dict:
    """`extra` for a shared point."""
    return {"location": {"latitude": latitude, "longitude": longitude}}


def venue(latitude: float, longitude: float, title: str, address: str) -> dict:
    """`extra` for a venue (Telegram sends its location twice: in `location` and in `venue.location`)."""
    point = {"latitude": latitude, "longitude": longitude}
    return {"location": point, "venue": {"location": point, "title": title, "address": address}}


def contact(phone_number: str, first_name: str, last_name: str | None = None, user_id: int | None = None) -> dict:
    """`extra` for a shared contact card (`user_id` when it is a Telegram user's)."""
    card: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
    if last_name:
        card["last_name"] = last_name
    if user_id is not None:
        card["user_id"] = user_id
    return {"contact": card}


def _update(kind: str, message: dict, update_id: int | None) -> dict:
    return {"update_id": update_id if update_id is not None else next_update_id(), kind: message}


def private_message(user_id: int, text: str | None, *, message_id: int = 1, first_name: str = "Ольга",
                    last_name: str | None = "Кузнецова", username: str | None = None, date: int | None = None,
                    photo: list[dict] | None = None, document: dict | None = None, voice: dict | None = None,
                    video: dict | None = None, reply_to_message: dict | None = None,
                    update_id: int | None = None, extra: dict | None = None) -> dict:
    """A resident wrote to the bot in a private chat. With a photo/document/voice/video, `text` is the caption.
    `extra`: other content fields as Telegram names them (`location(…)`, `venue(…)`, `contact(…)`, sticker…)."""
    u = user(user_id, first_name, last_name, username)
    media = {k: v for k, v in (("photo", photo), ("document", document), ("voice", voice), ("video", video)) if v}
    media.update(extra or {})
    message: dict[str, Any] = {"message_id": message_id, "from": u, "chat": private_chat(u),
                               "date": date or int(time.time())}
    if reply_to_message is not None:
        message["reply_to_message"] = _without_reply(reply_to_message)
    message.update(media)
    message.update(_text_fields(text, caption=bool(media)))
    return _update("message", message, update_id)


def photo_message(user_id: int, caption: str | None = None, *, file_id: str = "AgACAgIAAxkBAAIBQmZ",
                  **kwargs) -> dict:
    """A photo sent to the bot, with or without a caption; the largest size has `file_id`."""
    return private_message(user_id, caption, photo=photo_sizes(file_id), **kwargs)


def start(user_id: int, code: str | None = None, **kwargs) -> dict:
    """`/start <code>`: what t.me/<bot>?start=<code> (the participants' QR codes) sends; `/start` alone without."""
    return private_message(user_id, f"/start {code}" if code else "/start", **kwargs)


def status(user_id: int, number: str, **kwargs) -> dict:
    """`/status <ticket number>`."""
    return private_message(user_id, f"/status {number}", **kwargs)


def _channel_message(channel_id: int, text: str | None, post_id: int, title: str, username: str | None,
                     date: int | None, photo: list[dict] | None, media_group_id: str | None,
                     author_signature: str | None) -> dict:
    chat = channel_chat(channel_id, title, username)
    message: dict[str, Any] = {"message_id": post_id, "sender_chat": chat, "chat": chat,
                               "date": date or int(time.time())}
    if author_signature:
        message["author_signature"] = author_signature
    if media_group_id:
        message["media_group_id"] = media_group_id
    if photo:
        message["photo"] = photo
    message.update(_text_fields(text, caption=bool(photo)))
    return message


def channel_post(channel_id: int, text: str | None, *, post_id: int = 15, title: str = "Администрация г. Белогорск",
                 username: str | None = None, date: int | None = None, photo: list[dict] | None = None,
                 media_group_id: str | None = None, author_signature: str | None = None,
                 update_id: int | None = None) -> dict:
    """The participant published a post in its channel (delivered to bots that are channel admins). With a photo
    `text` is its caption; each photo of an album is a post of its own with the album's `media_group_id`
    (consecutive message ids; the caption usually on the first)."""
    message = _channel_message(channel_id, text, post_id, title, username, date, photo, media_group_id,
                               author_signature)
    return _update("channel_post", message, update_id)


def edited_channel_post(channel_id: int, text: str | None, *, post_id: int = 15,
                        title: str = "Администрация г. Белогорск", username: str | None = None,
                        date: int | None = None, edit_date: int | None = None, photo: list[dict] | None = None,
                        media_group_id: str | None = None, update_id: int | None = None) -> dict:
    """The participant edited post `post_id` of its channel: the post with its new text and `edit_date`."""
    date = date or int(time.time()) - 60
    message = _channel_message(channel_id, text, post_id, title, username, date, photo, media_group_id, None)
    message["edit_date"] = edit_date or max(int(time.time()), date + 1)
    return _update("edited_channel_post", message, update_id)


def auto_forward_message(group_id: int, channel_id: int, *, post_id: int = 15, forward_id: int = 70,
                         text: str = "Отключение воды 12 марта на ул. Кирова", channel_title: str | None = None,
                         channel_username: str | None = None, group_username: str | None = None,
                         date: int | None = None) -> dict:
    """The copy of channel post `post_id` that Telegram puts in the linked discussion group as message
    `forward_id` (whose thread holds the post's comments)."""
    channel = channel_chat(channel_id, channel_title or "Администрация г. Белогорск", channel_username)
    date = date or int(time.time())
    return {"message_id": forward_id,
            "from": {"id": 777000, "is_bot": False, "first_name": "Telegram"},
            "sender_chat": channel, "chat": group_chat(group_id, username=group_username), "date": date,
            "forward_origin": {"type": "channel", "chat": channel, "message_id": post_id, "date": date},
            "is_automatic_forward": True, **_text_fields(text)}


def automatic_forward(group_id: int, channel_id: int, *, update_id: int | None = None, **kwargs) -> dict:
    """The update the bot gets when a channel post is copied into the discussion group (not an appeal)."""
    return _update("message", auto_forward_message(group_id, channel_id, **kwargs), update_id)


def comment(group_id: int, channel_id: int, user_id: int, text: str | None, *, message_id: int = 71,
            post_id: int = 15, forward_id: int = 70, reply_to: dict | None = None, first_name: str = "Ольга",
            last_name: str | None = "Кузнецова", username: str | None = None,
            channel_username: str | None = None, group_username: str | None = None, date: int | None = None,
            photo: list[dict] | None = None, update_id: int | None = None) -> dict:
    """A resident's comment under channel post `post_id`: a message in the discussion group, in the thread of
    the post's automatic forward `forward_id`. By default it answers the post itself (reply_to_message = the
    automatic forward); pass `reply_to=` a previous comment (its update or message) to answer that instead."""
    u = user(user_id, first_name, last_name, username)
    if reply_to is None:
        parent = auto_forward_message(group_id, channel_id, post_id=post_id, forward_id=forward_id,
                                      channel_username=channel_username, group_username=group_username, date=date)
    else:
        parent = reply_to.get("message") or reply_to.get("edited_message") or reply_to
    message: dict[str, Any] = {"message_id": message_id, "from": u,
                               "chat": group_chat(group_id, username=group_username),
                               "date": date or int(time.time()), "message_thread_id": forward_id,
                               "reply_to_message": _without_reply(parent)}
    if photo:
        message["photo"] = photo
    message.update(_text_fields(text, caption=bool(photo)))
    return _update("message", message, update_id)


def edited(update: dict, text: str, *, edit_date: int | None = None, update_id: int | None = None) -> dict:
    """The resident edited the message of `update` (a builder's result): `edited_message` with the new text."""
    message = dict(update.get("message") or update["edited_message"])
    message.pop("text", None)
    message.pop("caption", None)
    message.pop("entities", None)
    message.pop("caption_entities", None)
    message.update(_text_fields(text, caption=any(k in message for k in ("photo", "document", "voice", "video"))))
    message["edit_date"] = edit_date or max(int(time.time()), int(message["date"]) + 1)
    return _update("edited_message", message, update_id)


_query_ids = itertools.count(1)


def callback_query(user_id: int, data: str = "noop", *, update_id: int | None = None, query_id: str | None = None,
                   chat: dict | None = None, message_id: int = 1001, message_thread_id: int | None = None,
                   first_name: str = "Ольга", text: str = "Проблема решена?") -> dict:
    """A button press under the bot's message `message_id` (in the presser's private chat unless `chat`,
    e.g. `group_chat(...)`, is given); `data` is the button's callback_data."""
    u = user(user_id, first_name)
    message: dict[str, Any] = {"message_id": message_id, "from": {"id": 123456789, "is_bot": True,
                                                                   "first_name": "Открытый муниципалитет",
                                                                   "username": BOT_USERNAME},
                               "chat": chat or private_chat(u), "date": int(time.time()), "text": text}
    if message_thread_id is not None:
        message["message_thread_id"] = message_thread_id
        message["is_topic_message"] = False
    return {"update_id": update_id if update_id is not None else next_update_id(),
            "callback_query": {"id": query_id or f"{user_id}{int(time.time())}{next(_query_ids)}", "from": u,
                               "chat_instance": "-4012345678", "data": data, "message": message}}


def press(sent: dict, label: str, user_id: int | None = None, **kwargs) -> dict:
    """Press the button labelled `label` under a message the fake recorded in `sent` (by the resident, i.e.
    the chat's owner, unless `user_id` says who)."""
    rows = ((sent.get("reply_markup") or {}).get("inline_keyboard")) or []
    data = next(b["callback_data"] for row in rows for b in row if b["text"] == label)
    chat_id = sent["chat_id"]
    chat = None if isinstance(chat_id, int) and chat_id > 0 else group_chat(chat_id)
    return callback_query(user_id if user_id is not None else chat_id, data, chat=chat,
                          message_id=sent["message_id"], message_thread_id=sent.get("message_thread_id"), **kwargs)


def my_chat_member(user_id: int, status: str = "kicked", *, update_id: int | None = None) -> dict:
    """The resident blocked (`kicked`) or unblocked (`member`) the bot."""
    u = user(user_id)
    bot = {"id": 123456789, "is_bot": True, "first_name": "Открытый муниципалитет", "username": BOT_USERNAME}
    now = int(time.time())
    return {"update_id": update_id if update_id is not None else next_update_id(),
            "my_chat_member": {"chat": private_chat(u), "from": u, "date": now,
                               "old_chat_member": {"user": bot, "status": "member"},
                               "new_chat_member": {"user": bot, "status": status,
                                                   **({"until_date": 0} if status == "kicked" else {})}}}


def _without_reply(message: dict) -> dict:
    """Telegram never nests replies: a replied-to message comes without its own reply_to_message."""
    message = dict(message.get("message") or message) if "update_id" in message else dict(message)
    message.pop("reply_to_message", None)
    return message
