"""A local fake of the Одноклассники APIs the app uses, and builders of real-shaped OK webhook payloads.

`FakeOk` is a small HTTP/1.1 server on 127.0.0.1 answering like api.ok.ru:

- Bot API for groups (`access_token` in the query string, JSON bodies):
  `POST /graph/me/messages/<chat_id>` `{"recipient": {"chat_id"}, "message": {"text", "reply_to"?}}`
  → `{"chat_id", "message_id"}`; `POST /graph/me/subscribe` `{"url"}` → `{"success": true}`;
  `GET /graph/me/subscriptions`; `POST /graph/me/unsubscribe`.
- REST (`/fb.do`, form or query parameters, signed): `discussions.getComments` over the comments added with
  `add_comment()`, paged with `anchor`/`has_more`. The signature is checked when the fake knows the
  application's secret key (`rest_signature` of app.channels.ok is the algorithm).

- Publishing (issue 13, REST): `users.getCurrentUser`, `group.getUserGroupsByIds` (needs GROUP_CONTENT),
  `photosV2.getUploadUrl` (PHOTO_CONTENT) with an upload server at `/upload/photos` (multipart pic1…picN →
  `{"photos": {id: {"token"}}}`), `mediatopic.post` (GROUP_THEME; GROUP_CONTENT and a poster's role),
  `mediatopic.edit`, `mediatopic.deleteTopic`. `deny("GROUP_CONTENT"[, group_id])` takes a permission from the
  application, `add_admin(gid, token, status)` says who may post, `topics_of(gid)` what a group holds,
  `fail_method(m, error_code=…|status=429, retry_after=…)` and `drop_after(m)` (carried out, then no answer) inject
  faults. The REST methods accept the participants' group tokens (`tokens`) as well as `token`.

Errors are OK's `{"error_code", "error_msg", "error_data"}`. A wrong token gets error 102; `fail()` makes the
next sends to a chat answer an HTTP status (429 with `Retry-After`, 403, 5xx) and/or an `error_code`:

    with FakeOk(token="tkn1-group") as ok:
        app.config.update(OK_API_URL=ok.base_url, OK_ACCESS_TOKEN="tkn1-group")
        ok.fail(chat_id="chat:C3ecb9d02a600", status=429, retry_after=2)
        ...
        assert ok.messages[0]["reply_to"] == "mid:C3ecb9d02a600.15cea67d78d2059"

The builders (`message_created`, `message_callback`, `chat_system`, attachments `image`/`file`/`share`)
return what OK POSTs to the webhook; `hook_path(secret, group)` is the webhook address (with our secret,
since OK signs nothing). A builder called twice gives two messages (a new `mid`); to model OK re-sending,
post the same dict again.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import time
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from app.fakes.figures import GARBAGE, Audience, Troubles, avatar_png
from app.fakes.server import LoopbackServer

_seq = itertools.count(int(time.time()) % 100_000 * 1000)

ERROR_MESSAGES = {
    2: "SERVICE : Service temporary unavailable",
    8: "FLOOD_BLOCKED : Flood blocked",
    10: "PERMISSION_DENIED : User does not allow messages from the group",
    100: "PARAM : Invalid parameter",
    102: "PARAM_SESSION_EXPIRED : Session expired",
    104: "PARAM_SIGNATURE : Invalid signature",
    300: "NOT_FOUND : Chat not found",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def chat_id(n: int) -> str:
    """An OK chat id (`chat:C…`) for a number."""
    return f"chat:C{n:012x}"


def make_mid(chat: str, seq: int) -> str:
    return f"mid:{chat.split(':', 1)[-1]}.{seq:015x}"


class FakeOk(LoopbackServer):
    """api.ok.ru on 127.0.0.1:<port>. `base_url` is the value for OK_API_URL."""

    name = "fake-ok"
    path_prefix = ""

    def __init__(self, token: str | None = None, application_key: str | None = None,
                 application_secret_key: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.token = token  # when set, other access_tokens get error 102
        self.tokens: set[str] = set()  # more valid tokens: the participants' groups' own
        self.application_key, self.application_secret_key = application_key, application_secret_key
        self.calls: list[dict] = []  # every request: {"method", "path", "params", "body"}
        self.sent: list[dict] = []  # every message posted: {"chat_id", "message_id", "text", "reply_to", …}
        self.subscriptions: list[dict] = []
        self.comments: dict[str, list[dict]] = {}  # topic id → comments, oldest first
        self._rules: list[dict] = []
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        # statistics (issue 12): groups for url.getInfo / group.getInfo / group.getCounters
        self.groups: dict[str, dict] = {}  # group id → {"uid", "name", "shortname", "private", "pic_avatar"}
        self.audience = Audience("ok")
        self.troubles = Troubles()
        # publishing (issue 13)
        self.clock = time.time  # what `calls[…]["at"]` records (a test's injected clock, to check a pace on it)
        self.topics: list[dict] = []  # every topic posted: {"id", "gid", "text", "photos", "link", "deleted", …}
        self.uploads: list[dict] = []  # every file the upload server received
        self.app_permissions = {"VALUABLE_ACCESS", "GROUP_CONTENT", "PHOTO_CONTENT"}  # what the app was granted
        self.denied: set[tuple[str, str]] = set()  # (permission, group id) refused for one group only
        self.members: dict[str, dict[str, dict]] = {}  # group id → uid → {"status", "role"}
        self._slots: dict[str, list[str]] = {}  # upload key → photo ids awaiting their files
        self._photo_tokens: dict[str, str] = {}  # upload token → photo id
        self._method_rules: list[dict] = []
        self._drops: list[dict] = []
        self._serve(host, port, self._handler())

    # --- controls --------------------------------------------------------------------------------
    def fail(self, chat_id: str | None = None, status: int = 200, error_code: int | None = None,
             times: int | None = 1, retry_after: float | None = None, message: str | None = None) -> None:
        """Answer the next `times` sends (None: always), to `chat_id` only when given, with HTTP `status`
        and/or an OK `error_code`: `fail(chat, status=429, retry_after=2)`, `fail(chat, error_code=10)`."""
        if error_code is None and status == 200:
            raise ValueError("give a status or an error_code")
        with self._lock:
            self._rules.append({"chat_id": chat_id, "status": status, "error_code": error_code, "times": times,
                                "retry_after": retry_after, "message": message})

    def clear_failures(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def messages(self) -> list[dict]:
        return list(self.sent)

    def add_group(self, group_id, name: str, shortname: str | None = None, *, members: int | None = None,
                  themes: int | None = None, private: bool = False) -> None:
        """A group the REST methods know. `members` / `themes`: its figures now (they grow from there)."""
        gid = str(group_id)
        with self._lock:
            self.groups[gid] = {"uid": gid, "name": name, "shortname": shortname or "", "private": private,
                                "pic_avatar": f"{self.origin}/avatar/{gid}.png", "status": "ACTIVE"}
        if members is not None:
            self.audience.set(gid, members, themes)

    def trouble(self, group_id, how: str, times: int | None = None) -> None:
        """Make one group fail (app/fakes/figures.TROUBLES) in the REST methods that name it."""
        self.troubles.add(str(group_id), how, times)

    def _find_group(self, ref: str) -> tuple[dict | None, tuple | None]:
        group = self.groups.get(ref)
        how = self.troubles.take(ref) if group else None
        if group is None or how in ("unknown", "deleted"):
            return None, _error(300, "NOT_FOUND : Group not found")
        if how == "5xx":
            return None, (500, {"error": "Internal Server Error"}, {})
        if how == "garbage":
            return None, (200, GARBAGE, {})
        if how == "429":
            return None, (429, {"error": "Too Many Requests"}, {"Retry-After": "2"})
        if how == "no_rights":
            return None, _error(10, "PERMISSION_DENIED : Access to the group is denied")
        if how == "private":
            return {**group, "private": True}, None
        return group, None

    def _url_info(self, params: dict) -> tuple:
        path = [p for p in (params.get("url") or "").split("://", 1)[-1].split("/")[1:] if p]
        if len(path) >= 2 and path[0] == "profile":
            return 200, {"type": "USER", "objectId": int(path[1]) if path[1].isdigit() else 0}, {}
        if len(path) >= 2 and path[0] == "group":
            gid = path[1]
        else:
            gid = next((g for g, v in self.groups.items() if path and v["shortname"] == path[0]), None)
        if not gid or gid not in self.groups:
            return _error(300, "NOT_FOUND : Object not found by url")
        return 200, {"type": "GROUP", "objectId": int(gid)}, {}

    def _group_info(self, params: dict) -> tuple:
        out = []
        for gid in [g for g in (params.get("uids") or "").split(",") if g]:
            group, failed = self._find_group(gid)
            if failed is not None:
                status, body, _ = failed
                if status != 200 or isinstance(body, bytes) or body.get("error_code") == 10:
                    return failed
                continue  # an unknown group is left out, as OK does
            item = {k: v for k, v in group.items() if k != "status"}
            item["members_count"] = self.audience.followers(gid)
            out.append(item)
        return 200, out, {}

    def _counters(self, params: dict) -> tuple:
        gid = params.get("group_id") or ""
        group, failed = self._find_group(gid)
        if failed:
            return failed
        if group.get("private"):
            return _error(10, "PERMISSION_DENIED : Group is private")
        wanted = (params.get("counterTypes") or "members").split(",")
        counters = {}
        if "members" in wanted:
            counters["members"] = self.audience.followers(gid)
        if "themes" in wanted:
            counters["themes"] = self.audience.posts(gid)
        return 200, {"counters": counters}, {}

    def add_comment(self, topic_id: str | int, author_id: str | int, text: str, *,
                    author_name: str = "Ольга Кузнецова", comment_id: str | None = None,
                    date_ms: int | None = None, reply_to_comment_id: str | None = None,
                    attachments: list | None = None) -> dict:
        """A comment under the group's post `topic_id`, as discussions.getComments returns it."""
        stamp = date_ms if date_ms is not None else _now_ms()
        comment = {"id": comment_id or f"{next(_seq):x}".upper().rjust(16, "0"), "author_id": str(author_id),
                   "author_name": author_name, "text": text, "date_ms": stamp,
                   "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp / 1000)), "like_count": 0,
                   "liked_it": False}
        if reply_to_comment_id:
            comment["reply_to_comment_id"] = reply_to_comment_id
        if attachments:
            comment["attachments"] = attachments
        with self._lock:
            self.comments.setdefault(str(topic_id), []).append(comment)
        return comment

    # --- publishing (issue 13) -------------------------------------------------------------------
    def add_admin(self, group_id, token: str, status: str = "ADMIN", role: tuple[str, ...] = ()) -> None:
        """The owner of `token` is a member of the group with this status (ADMIN, MODERATOR, ACTIVE…) and roles.
        A group with no member registered lets every token post (as before issue 13)."""
        with self._lock:
            self.members.setdefault(str(group_id), {})[self.uid_of(token)] = {"status": status, "role": list(role)}

    def deny(self, permission: str, group_id=None) -> None:
        """The application lacks `permission` (GROUP_CONTENT, PHOTO_CONTENT, VALUABLE_ACCESS) — for every group, or
        only where `group_id` is concerned."""
        with self._lock:
            if group_id is None:
                self.app_permissions.discard(permission)
            else:
                self.denied.add((permission, str(group_id)))

    def fail_method(self, method: str, *, error_code: int | None = None, status: int = 200, times: int | None = 1,
                    retry_after: float | None = None, message: str | None = None) -> None:
        """Answer the next `times` REST calls of `method` with an `error_code` and/or an HTTP `status`
        (`fail_method("mediatopic.post", status=429, retry_after=2)`, `…, error_code=8` FLOOD_BLOCKED)."""
        with self._lock:
            self._method_rules.append({"method": method, "error_code": error_code, "status": status,
                                       "times": times, "retry_after": retry_after, "message": message})

    def drop_after(self, method: str, times: int = 1) -> None:
        """The next `times` REST calls of `method` are carried out, then the connection closes without an answer."""
        with self._lock:
            self._drops.append({"method": method, "times": times})

    def _take_drop(self, method: str | None) -> bool:
        with self._lock:
            for rule in self._drops:
                if rule["method"] == method:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._drops.remove(rule)
                    return True
        return False

    def topics_of(self, group_id) -> list[dict]:
        """The group's topics now (not deleted), oldest first: {"id", "gid", "text", "photos", "link", "media"}."""
        return [t for t in self.topics if t["gid"] == str(group_id) and not t["deleted"]]

    def api_requests(self, token: str | None = None) -> int:
        """REST requests received (uploads are not API calls), of `token` when given."""
        return sum(1 for c in self.calls if c["path"] == "/fb.do" and (token is None
                                                                          or c["params"].get("access_token") == token))

    @staticmethod
    def uid_of(token: str) -> str:
        return str(570_000_000_000 + int(hashlib.sha1(token.encode()).hexdigest()[:8], 16))

    def _allowed(self, permission: str, gid: str | None = None) -> bool:
        return permission in self.app_permissions and (permission, str(gid)) not in self.denied

    def _poster(self, gid: str, token: str) -> bool:
        members = self.members.get(gid)
        if not members:
            return True
        me = members.get(self.uid_of(token)) or {}
        return me.get("status") in ("ADMIN", "MODERATOR") or bool({"EDITOR", "MODERATOR"} & set(me.get("role") or []))

    def _method_rule(self, method: str) -> tuple | None:
        for rule in self._method_rules:
            if rule["method"] != method:
                continue
            if rule["times"] is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    self._method_rules.remove(rule)
            extra = {"Retry-After": str(rule["retry_after"])} if rule["retry_after"] is not None else {}
            if rule["error_code"] is not None:
                return rule["status"], {"error_code": rule["error_code"], "error_data": None, "error_msg":
                                        rule["message"] or ERROR_MESSAGES.get(rule["error_code"], "UNKNOWN")}, extra
            return rule["status"], {"error": rule["message"] or f"HTTP {rule['status']}"}, extra
        return None

    def _publishing(self, method: str, params: dict, token: str) -> tuple | None:
        handler = {"users.getCurrentUser": self._current_user, "group.getUserGroupsByIds": self._memberships,
                   "photosV2.getUploadUrl": self._upload_url, "mediatopic.post": self._topic_post,
                   "mediatopic.edit": self._topic_edit, "mediatopic.deleteTopic": self._topic_delete}.get(method)
        return handler(params, token) if handler else None

    def _current_user(self, params: dict, token: str) -> tuple:
        return 200, {"uid": self.uid_of(token), "first_name": "Ирина", "last_name": "Смирнова", "name":
                     "Ирина Смирнова"}, {}

    def _memberships(self, params: dict, token: str) -> tuple:
        gid = params.get("group_id") or ""
        if not self._allowed("GROUP_CONTENT", gid) or not self._allowed("VALUABLE_ACCESS", gid):
            return _error(10, "PERMISSION_DENIED : Application has no GROUP_CONTENT permission")
        if gid not in self.groups:
            return _error(300, "NOT_FOUND : Group not found")
        out = []
        members = self.members.get(gid)
        for uid in [u for u in (params.get("uids") or "").split(",") if u]:
            me = (members or {}).get(uid) or ({"status": "ADMIN", "role": []} if not members else None)
            if me is not None:
                out.append({"groupId": gid, "userId": uid, "status": me["status"], "role": me["role"]})
        return 200, {"memberships": out}, {}

    def _upload_url(self, params: dict, token: str) -> tuple:
        gid = params.get("gid") or ""
        if not self._allowed("PHOTO_CONTENT", gid):
            return _error(10, "PERMISSION_DENIED : Application has no PHOTO_CONTENT permission")
        if gid and gid not in self.groups:
            return _error(300, "NOT_FOUND : Group not found")
        count = int(params["count"]) if (params.get("count") or "1").isdigit() else 0
        if not 1 <= count <= 100:
            return _error(100, "PARAM : count is invalid")
        ids = [f"{hashlib.sha1(f'{gid}:{next(self._seq)}'.encode()).hexdigest()[:20]}" for _ in range(count)]
        key = hashlib.sha1(",".join(ids).encode()).hexdigest()[:12]
        self._slots[key] = ids
        return 200, {"photo_ids": ids, "upload_url": f"{self.origin}/upload/photos?key={key}",
                     "expires_ms": _now_ms() + 86_400_000, "ttl_ms": 86_400_000}, {}

    def upload(self, path: str, content_type: str, data: bytes) -> tuple:
        """The upload server: multipart pic1…picN → {"photos": {<photo_id>: {"token"}}}."""
        query = dict(parse_qsl(path.partition("?")[2]))
        with self._lock:
            ids = self._slots.pop(query.get("key") or "", None)
        if ids is None:
            return 400, {"error_code": 100, "error_msg": "PARAM : upload url is invalid or expired"}, {}
        message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + data)
        files = [p for p in message.walk() if (p.get_param("name", header="content-disposition") or "")
                 .startswith("pic")] if message.is_multipart() else []
        if len(files) != len(ids) or not all(p.get_payload(decode=True) for p in files):
            return 400, {"error_code": 100, "error_msg": f"PARAM : expected {len(ids)} files, got {len(files)}"}, {}
        photos = {}
        with self._lock:
            for pid, part in zip(ids, files, strict=True):
                token = hashlib.sha1(f"tok:{pid}".encode()).hexdigest()
                self._photo_tokens[token] = pid
                photos[pid] = {"token": token}
                self.uploads.append({"photo_id": pid, "filename": part.get_filename(), "content_type":
                                     part.get_content_type(), "size": len(part.get_payload(decode=True))})
        return 200, {"photos": photos}, {}

    def _attachment(self, params: dict) -> tuple[dict | None, tuple | None]:
        try:
            attachment = json.loads(params.get("attachment") or "")
        except ValueError:
            return None, _error(100, "PARAM : attachment is not valid JSON")
        media = attachment.get("media") if isinstance(attachment, dict) else None
        if not isinstance(media, list) or not media:
            return None, _error(100, "PARAM : attachment.media is required")
        out = {"text": "", "photos": [], "link": None, "media": media}
        for item in media:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text":
                out["text"] += str(item.get("text") or "")
            elif kind == "photo":
                for photo in item.get("list") or []:
                    pid = self._photo_tokens.get(str((photo or {}).get("id")))
                    if pid is None:
                        return None, _error(100, "PARAM : invalid photo token")
                    out["photos"].append(pid)
            elif kind == "link":
                out["link"] = item.get("url")
            else:
                return None, _error(100, f"PARAM : unsupported media type {kind}")
        return out, None

    def _topic_post(self, params: dict, token: str) -> tuple:
        gid = params.get("gid") or ""
        if params.get("type") not in ("GROUP_THEME", "GROUP_THEME_PROMO") or not gid:
            return _error(100, "PARAM : gid and type=GROUP_THEME are required")
        if not self._allowed("GROUP_CONTENT", gid):
            return _error(10, "PERMISSION_DENIED : Application has no GROUP_CONTENT permission")
        if gid not in self.groups:
            return _error(300, "NOT_FOUND : Group not found")
        if not self._poster(gid, token):
            return _error(10, "PERMISSION_DENIED : User is not allowed to post to the group")
        content, bad = self._attachment(params)
        if bad:
            return bad
        topic = {"id": str(155_000_000_000 + next(self._seq)), "gid": gid, "deleted": False, "edited": None,
                 "date_ms": _now_ms(), **content}
        self.topics.append(topic)
        return 200, topic["id"], {}

    def _find_topic(self, params: dict) -> dict | None:
        return next((t for t in self.topics if t["id"] == params.get("topic_id") and not t["deleted"]
                     and params.get("gid") in (None, t["gid"])), None)

    def _topic_edit(self, params: dict, token: str) -> tuple:
        topic = self._find_topic(params)
        if topic is None:
            return _error(300, "NOT_FOUND : Topic not found")
        if not self._allowed("GROUP_CONTENT", topic["gid"]) or not self._poster(topic["gid"], token):
            return _error(10, "PERMISSION_DENIED : Editing the topic is not allowed")
        content, bad = self._attachment(params)
        if bad:
            return bad
        topic.update(edited=_now_ms(), **content)
        return 200, {"success": True}, {}

    def _topic_delete(self, params: dict, token: str) -> tuple:
        topic = self._find_topic(params)
        if topic is None:
            return _error(300, "NOT_FOUND : Topic not found")
        if not self._allowed("GROUP_CONTENT", topic["gid"]) or not self._poster(topic["gid"], token):
            return _error(10, "PERMISSION_DENIED : Deleting the topic is not allowed")
        topic["deleted"] = True
        return 200, {"success": True}, {}

    # --- the API ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any, dict]:
        """One request → (HTTP status, JSON body, extra headers), as api.ok.ru answers it."""
        with self._lock:
            self.calls.append({"method": method, "path": path, "params": dict(params), "body": body,
                               "at": self.clock()})
            if method == "GET" and path.startswith("/avatar/"):
                return 200, avatar_png(f"ok{path}"), {}
            if path == "/fb.do" or path.startswith("/api/"):
                return self._rest(params)
            token = params.get("access_token")
            if not token or (self.token is not None and token != self.token and token not in self.tokens):
                return _error(102)
            if method == "POST" and (path == "/graph/me/messages" or path.startswith("/graph/me/messages/")):
                return self._send(unquote(path[len("/graph/me/messages/"):]) if path != "/graph/me/messages"
                                  else None, body)
            if method == "POST" and path == "/graph/me/subscribe":
                if not isinstance(body, dict) or not str(body.get("url") or "").startswith(("http://", "https://")):
                    return _error(100, "PARAM : url is required")
                if all(s["url"] != body["url"] for s in self.subscriptions):
                    self.subscriptions.append({"url": body["url"], "time": _now_ms()})
                return 200, {"success": True}, {}
            if method == "POST" and path == "/graph/me/unsubscribe":
                url = body.get("url") if isinstance(body, dict) else None
                self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
                return 200, {"success": True}, {}
            if method == "GET" and path == "/graph/me/subscriptions":
                return 200, {"subscriptions": list(self.subscriptions)}, {}
            return _error(3, f"METHOD : Method {path} not found", status=404)

    def _send(self, path_chat: str | None, body: Any) -> tuple[int, Any, dict]:
        if not isinstance(body, dict) or not isinstance(body.get("recipient"), dict) \
                or not isinstance(body.get("message"), dict):
            return _error(100, "PARAM : recipient and message are required")
        chat = body["recipient"].get("chat_id") or path_chat
        if not chat or (path_chat and chat != path_chat):
            return _error(100, "PARAM : recipient.chat_id does not match the chat in the path")
        message = body["message"]
        if not message.get("text") and not message.get("attachments") and not message.get("attachment"):
            return _error(100, "PARAM : message text or attachment is required")
        rule = self._matching_rule(chat)
        if rule is not None:
            extra = {"Retry-After": str(rule["retry_after"])} if rule["retry_after"] is not None else {}
            if rule["error_code"] is not None:
                answer = {"error_code": rule["error_code"], "error_data": None,
                          "error_msg": rule["message"] or ERROR_MESSAGES.get(rule["error_code"], "UNKNOWN")}
            else:
                answer = {"error": rule["message"] or f"HTTP {rule['status']}"}
            return rule["status"], answer, extra
        mid = make_mid(chat, next(self._seq))
        self.sent.append({"chat_id": chat, "message_id": mid, "text": message.get("text") or "",
                          "reply_to": message.get("reply_to"), "attachments": message.get("attachments") or [],
                          "body": body})
        return 200, {"chat_id": chat, "message_id": mid}, {}

    def _rest(self, params: dict[str, str]) -> tuple[int, Any, dict]:
        token = params.get("access_token")
        if not token or (self.token is not None and token != self.token and token not in self.tokens):
            return _error(102)
        if self.application_key is not None and params.get("application_key") != self.application_key:
            return _error(101, "PARAM_API_KEY : Application key is invalid")
        if self.application_secret_key is not None:
            from app.channels.ok import rest_signature

            if params.get("sig") != rest_signature(params, token, self.application_secret_key):
                return _error(104)
        failed = self._method_rule(params.get("method") or "")
        if failed is not None:
            return failed
        published = self._publishing(params.get("method") or "", params, token)
        if published is not None:
            return published
        stats = {"url.getInfo": self._url_info, "group.getInfo": self._group_info,
                 "group.getCounters": self._counters}.get(params.get("method") or "")
        if stats is not None:
            return stats(params)
        if params.get("method") != "discussions.getComments":
            return _error(3, f"METHOD : Method {params.get('method')} not supported by the fake")
        topic = params.get("discussionId")
        if not topic or params.get("discussionType") not in ("GROUP_TOPIC", "TOPIC"):
            return _error(100, "PARAM : discussionId and discussionType are required")
        comments = self.comments.get(topic, [])
        start = int(params["anchor"]) if (params.get("anchor") or "").isdigit() else 0
        count = max(1, min(int(params.get("count") or 20), 100))
        page = comments[start:start + count]
        return 200, {"discussionId": topic, "discussionType": params["discussionType"], "comments": page,
                     "anchor": str(start + len(page)), "has_more": start + len(page) < len(comments)}, {}

    def _matching_rule(self, chat: str) -> dict | None:
        for rule in self._rules:
            if rule["chat_id"] not in (None, chat):
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
                if method == "POST" and self.path.startswith("/upload/"):
                    self._answer(*fake.upload(self.path, self.headers.get("Content-Type") or "", data))
                    return
                raw = data.decode("utf-8", "replace")
                path, _, query = self.path.partition("?")
                params = dict(parse_qsl(query, keep_blank_values=True))
                body: Any = None
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        self._answer(*_error(100, "PARAM : request body is not valid JSON"))
                        return
                elif raw:
                    params.update(parse_qsl(raw, keep_blank_values=True))
                answer = fake.handle(method, path, params, body)
                if path == "/fb.do" and fake._take_drop(params.get("method")):  # accepted, then no answer
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self._answer(*answer)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def _answer(self, status: int, body: Any, extra: dict) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8" if not isinstance(body, bytes)
                                 else "image/png" if body.startswith(b"\x89PNG") else "text/html")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet in tests
                pass

        return Handler


def _error(code: int, msg: str | None = None, status: int = 200) -> tuple[int, dict, dict]:
    """OK answers errors as HTTP 200 with an error object (like its REST API)."""
    return status, {"error_code": code, "error_msg": msg or ERROR_MESSAGES.get(code, "UNKNOWN"),
                    "error_data": None}, {}


# --- webhook payloads ------------------------------------------------------------------------------
def hook_path(secret: str, group: str | int | None = None) -> str:
    """The webhook address to subscribe (and to post to in tests): `/hooks/ok?secret=…&group=…`."""
    query = {"secret": secret}
    if group is not None:
        query["group"] = str(group)
    return f"/hooks/ok?{urlencode(query)}"


def image(url: str = "https://i.mycdn.me/i?r=AzEPZsRbOZEKgBhR0XGMT1Rk", image_id: str | None = None) -> dict:
    return {"type": "IMAGE", "payload": {"id": image_id or hashlib.sha1(url.encode()).hexdigest()[:16],
                                         "url": url}}


def file(name: str = "акт.pdf", url: str = "https://dl.mycdn.me/f/acts/77.pdf", file_id: str = "f77") -> dict:
    return {"type": "FILE", "payload": {"id": file_id, "name": name, "url": url}}


def share(url: str = "https://ok.ru/group/70000001234567/topic/155000000001") -> dict:
    return {"type": "SHARE", "payload": {"url": url}}


def _sender(user_id: int | str, name: str) -> dict:
    uid = str(user_id)
    return {"user_id": uid if uid.startswith("user:") else f"user:{uid}", "name": name}


def message_created(chat: str, user_id: int | str, text: str, *, mid: str | None = None, name: str = "Ольга Кузнецова",
                    timestamp: int | None = None, attachments: list | None = None, reply_to: str | None = None,
                    webhook_type: bool = True) -> dict:
    """A resident's message in their chat with the group (`chat` is `chat:C…`). `webhook_type=False` gives
    the shape of the documentation's examples, which carry no `webhookType`."""
    seq = next(_seq)
    msg: dict[str, Any] = {"text": text, "seq": 98_211_000_000_000_000 + seq, "mid": mid or make_mid(chat, seq)}
    if attachments:
        msg["attachments"] = attachments
    if reply_to:
        msg["reply_to"] = reply_to
    payload: dict[str, Any] = {"sender": _sender(user_id, name), "recipient": {"chat_id": chat}, "message": msg,
                               "timestamp": timestamp if timestamp is not None else _now_ms()}
    if webhook_type:
        payload = {"webhookType": "MESSAGE_CREATED", **payload}
    return payload


def message_callback(chat: str, user_id: int | str, payload: str, *, callback_id: str | None = None,
                     mid: str | None = None, name: str = "Ольга Кузнецова", timestamp: int | None = None) -> dict:
    """The resident pressed a CALLBACK button carrying `payload` under the group's message `mid`."""
    seq = next(_seq)
    return {"webhookType": "MESSAGE_CALLBACK", "callbackId": callback_id or f"cb{seq:x}",
            "payload": payload, "sender": _sender(user_id, name), "recipient": {"chat_id": chat},
            "message": {"mid": mid or make_mid(chat, seq)},
            "timestamp": timestamp if timestamp is not None else _now_ms()}


def chat_system(chat: str, user_id: int | str, *, name: str = "Ольга Кузнецова", text: str = "Чат открыт",
                timestamp: int | None = None) -> dict:
    """A system message in the chat (chat opened, title changed…): nothing for intake."""
    seq = next(_seq)
    return {"webhookType": "CHAT_SYSTEM", "sender": _sender(user_id, name), "recipient": {"chat_id": chat},
            "message": {"text": text, "seq": seq, "mid": make_mid(chat, seq)},
            "timestamp": timestamp if timestamp is not None else _now_ms()}


def press(sent: dict, label: str, user_id: int | str, **kw) -> dict:
    """The resident pressed the CALLBACK button `label` under a message the fake recorded in `sent`."""
    rows = next((a["payload"]["keyboard"]["buttons"] for a in sent.get("attachments") or []
                 if a.get("type") == "INLINE_KEYBOARD"), [])
    data = next(b["payload"] for row in rows for b in row if b["text"] == label)
    return message_callback(sent["chat_id"], user_id, data, mid=sent["message_id"], **kw)
