"""A local fake of the VK API and builders of real-shaped Callback API payloads.

`FakeVk` is a small HTTP server on 127.0.0.1 answering `POST /method/messages.send` and
`POST /method/wall.createComment` the way api.vk.com does: HTTP 200 with `{"response": …}` or
`{"error": {"error_code", "error_msg", "request_params"}}`. It honours VK's de-duplication — the same
`random_id` to the same peer (or the same `guid` under the same post) returns the first message's id and
records nothing new — and can be told to answer errors (`fail(6, peer_id=…)`: too many requests).
`users.get` and `groups.getById` answer the names registered with `add_user(id, "Имя", "Фамилия")`
(`deactivated="deleted"|"banned"` for a closed page) and `add_group(id, "Название")`; an unregistered user id
answers as a deleted page does (`DELETED`), an unregistered community is left out.

    with FakeVk() as vk:
        app.config["VK_API_URL"] = vk.base_url
        ...
        assert vk.messages[0]["peer_id"] == "2000123"

Publishing (issue 13): `photos.getWallUploadServer` (error 27 with a community token, as VK answers), an upload
server at `/upload/wall/<gid>` (multipart field `photo` → `{server, photo, hash}`), `photos.saveWallPhoto`,
`wall.post` (the same `guid` on the same wall → the same post, nothing new), `wall.edit`, `wall.delete`,
`wall.getById`, and `execute` running VKScript with `var` statements, `+`, member access and API calls inside
object literals. Tokens are told apart as VK does: `add_token(t, group_id=…)` a community's (its permissions),
`add_token(t, kind="user", mask=…, admin_of=(gid, …))` a community admin's user token. `wall(gid)` is what a wall
holds now, `uploads` every file received, `api_requests(token)` the API requests a token made (an execute is one);
`drop_after("wall.post")` accepts the next such call and then closes the connection without an answer (the crash
case), `fail(6, method="wall.post")` answers an error instead.

The builders (`confirmation`, `message_new`, `wall_reply_new`, `wall_reply_edit`, `board_post_new`,
`photo_comment_new`) return what VK POSTs to the callback server (shapes from VKCOM/vk-api-schema,
callback/objects.json, API 5.199): `{type, group_id, event_id, v, secret?, object}`. The same arguments
give the same `event_id`, as a re-delivery by VK does.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl

from app.fakes.figures import GARBAGE, Audience, Troubles, avatar_png
from app.fakes.server import LoopbackServer

API_VERSION = "5.199"

ERROR_MESSAGES = {
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied",
    100: "One of the parameters specified was missing or invalid",
    13: "Runtime error occurred during code invocation: Too many API calls",
    18: "User was deleted or banned",
    30: "This profile is private",
    113: "Invalid user id",
    212: "Access to post comments denied",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
}


class FakeVk(LoopbackServer):
    """The VK API on 127.0.0.1:<port>. `base_url` is the value for VK_API_URL."""

    name = "fake-vk"
    path_prefix = "/method"

    def __init__(self, token: str | None = None, host: str = "127.0.0.1", port: int = 0):
        self.token = token  # when set, other access_tokens get error 5
        self.calls: list[dict] = []  # every request: {"method", "params"} (without the token)
        self.sent: list[dict] = []  # what was posted: {"method", "id", **params}
        self.users: dict[int, dict] = {}  # users.get: id → the user object VK returns
        self.groups: dict[int, dict] = {}  # groups.getById: positive id → the community object
        self._rules: list[dict] = []
        self._seen: dict[tuple, int] = {}
        self._ids = itertools.count(101)
        self._lock = threading.Lock()
        # statistics (issue 12): figures that move, per-account troubles, registered tokens, execute sizes
        self.audience = Audience("vk")
        self.troubles = Troubles()
        self.tokens: dict[str, dict] = {}  # token → {"kind", "group_id"?, "permissions"|"mask"}
        self.old_shape = False  # groups.getById answers a bare list, as API versions before 5.194 did
        self.executes: list[int] = []  # API calls inside each execute request
        self.limits: dict[str, float] = {}  # token → requests a second; beyond it error 6, as VK answers
        self.too_fast = 0  # error 6 answers given for exceeding `limits`
        self._recent: dict[str, deque] = {}
        # publishing (issue 13)
        self.clock = time.time  # what `calls[…]["at"]` records (a test's injected clock, to check a pace on it)
        self.posts: list[dict] = []  # every wall post made: {"id", "owner_id", "text", "attachments", "guid", …}
        self.uploads: list[dict] = []  # every file received by the upload server: {"gid", "filename", "size", …}
        self.photos: dict[str, dict] = {}  # "photo-<gid>_<id>" → the saved photo
        self._pending: dict[str, dict] = {}  # upload hash → what photos.saveWallPhoto may save (once)
        self._drops: list[dict] = []
        self._local = threading.local()
        self._photo_ids = itertools.count(457239100)
        self._post_ids = itertools.count(1001)
        self._serve(host, port, self._handler())

    # --- controls --------------------------------------------------------------------------------
    def fail(self, code: int, times: int | None = 1, method: str | None = None, msg: str | None = None,
             **match: Any) -> None:
        """Answer error `code` to the next `times` calls (None: always) whose params match, e.g.
        `fail(6, peer_id=2000123)` (too many requests per second) or `fail(212, post_id=45)`."""
        with self._lock:
            self._rules.append({"code": code, "times": times, "method": method, "msg": msg,
                                "match": {k: str(v) for k, v in match.items()}})

    def add_user(self, user_id: int, first_name: str, last_name: str = "", deactivated: str | None = None,
                 is_closed: bool = False) -> None:
        """Register a profile for users.get. A deactivated page keeps the names VK shows for it: «DELETED»
        for a deleted one, the real name for a banned one."""
        user: dict[str, Any] = {"id": int(user_id), "first_name": first_name, "last_name": last_name}
        if deactivated:
            user["deactivated"] = deactivated
        else:
            user.update(can_access_closed=not is_closed, is_closed=is_closed)
        with self._lock:
            self.users[int(user_id)] = user

    def add_group(self, group_id: int, name: str, *, screen_name: str | None = None, is_closed: int = 0,
                  deactivated: str | None = None, type_: str = "group", members: int | None = None,
                  posts: int | None = None, photo: str | None = None) -> None:
        """Register a community for groups.getById / wall.get (positive id, as VK numbers them). `members` /
        `posts`: its figures now (they grow from there); default: derived from the id."""
        gid = abs(int(group_id))
        group: dict[str, Any] = {"id": gid, "name": name, "screen_name": screen_name or f"club{gid}",
                                 "is_closed": is_closed, "type": type_,
                                 "photo_200": photo or f"{self.origin}/avatar/{gid}.png"}
        if deactivated:
            group["deactivated"] = deactivated
        with self._lock:
            self.groups[gid] = group
        if members is not None:
            self.audience.set(gid, members, posts)

    def add_token(self, token: str, kind: str = "community", *, group_id: int | None = None,
                  permissions: tuple[str, ...] = ("messages", "manage", "wall"), mask: int = 0,
                  rate: float | None = None, admin_of: tuple[int, ...] = (), admin_level: int = 3) -> None:
        """A token VK knows: a community's (`group_id`, its permissions) or a user's (`mask` of rights; `admin_of`:
        the communities that user administers, at `admin_level` 1 moderator / 2 editor / 3 administrator)."""
        bits = {"stories": 1, "photos": 4, "app_widget": 64, "messages": 4096, "docs": 131072, "manage": 262144,
                "wall": 8192, "stats": 1048576}
        with self._lock:
            self.tokens[token] = {"kind": kind, "group_id": group_id, "mask": mask,
                                  "admin_of": {abs(int(g)) for g in admin_of}, "admin_level": admin_level,
                                  "permissions": [{"setting": bits.get(p, 0), "name": p} for p in permissions]}
            if rate is not None:
                self.limits[token] = rate

    def trouble(self, group_id, how: str, times: int | None = None) -> None:
        """Make one community fail (app/fakes/figures.TROUBLES): "5xx" / "garbage" answer the whole request that
        names it with HTTP 500 / HTML; "429" is error 6; "private", "deleted", "unknown", "no_rights" as VK shows
        them in groups.getById and wall.get."""
        self.troubles.add(abs(int(group_id)), how, times)

    def calls_of(self, method: str) -> list[dict]:
        return [c for c in self.calls if c["method"] == method]

    def api_requests(self, token: str | None = None) -> int:
        """API requests received (an execute is one request however many calls it runs), of `token` when given."""
        return sum(1 for c in self.calls if token is None or c["token"] == token)

    def wall(self, group_id) -> list[dict]:
        """The posts on a community's wall now (not deleted), oldest first."""
        owner = -abs(int(group_id))
        return [p for p in self.posts if p["owner_id"] == owner and not p["deleted"]]

    def drop_after(self, method: str, times: int = 1) -> None:
        """The next `times` requests that call `method` (also inside an execute) are carried out and then the
        connection is closed without an answer: the platform accepted, the caller never heard."""
        with self._lock:
            self._drops.append({"method": method, "times": times})

    def _take_drop(self, methods: list[str]) -> bool:
        with self._lock:
            for rule in self._drops:
                if rule["method"] in methods:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._drops.remove(rule)
                    return True
        return False

    def clear_failures(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def messages(self) -> list[dict]:
        return [s for s in self.sent if s["method"] == "messages.send"]

    @property
    def comments(self) -> list[dict]:
        return [s for s in self.sent if s["method"] == "wall.createComment"]

    # --- the API ---------------------------------------------------------------------------------
    def handle(self, method: str, params: dict[str, str]) -> dict:
        """One API call → the JSON VK would answer (HTTP 200 in every case, as VK does)."""
        token = params.pop("access_token", None)
        with self._lock:
            self.calls.append({"method": method, "params": dict(params), "at": self.clock(), "token": token})
            if self.token is not None and token != self.token and token not in self.tokens:
                return _error(5, method, params)
            if not token:
                return _error(5, method, params, "User authorization failed: no access_token passed.")
            if self._too_fast(token):
                return _error(6, method, params)
            return self._call(method, params, token)

    def _too_fast(self, token: str) -> bool:
        rate = self.limits.get(token)
        if not rate:
            return False
        now = time.monotonic()
        recent = self._recent.setdefault(token, deque())
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= rate:
            self.too_fast += 1
            return True
        recent.append(now)
        return False

    def _call(self, method: str, params: dict, token: str) -> dict:
        methods = getattr(self._local, "methods", None)
        if methods is not None:
            methods.append(method)
        rule = self._matching_rule(method, params)
        if rule is not None:
            return _error(rule["code"], method, params, rule["msg"])
        if method == "execute":
            return self._execute(params, token)
        publishing = {"photos.getWallUploadServer": self._wall_upload_server, "photos.saveWallPhoto": self._save_photo,
                      "wall.post": self._wall_post, "wall.edit": self._wall_edit, "wall.delete": self._wall_delete,
                      "wall.getById": self._wall_get_by_id}.get(method)
        if publishing is not None:
            return publishing(method, params, token)
        if method == "wall.get":
            return self._wall_get(params)
        if method == "groups.getTokenPermissions":
            known = self.tokens.get(token)
            if not known or known["kind"] != "community":
                return _error(15, method, params, "Access denied: this method is available with group auth only")
            mask = sum(p["setting"] for p in known["permissions"])
            return {"response": {"mask": mask, "permissions": known["permissions"]}}
        if method == "account.getAppPermissions":
            known = self.tokens.get(token)
            if not known or known["kind"] != "user":
                return _error(27, method, params, "Group authorization failed: method is unavailable with "
                                                  "group auth.")
            return {"response": known["mask"]}
        if method == "messages.send":
            return self._messages_send(params)
        if method == "wall.createComment":
            return self._create_comment(params)
        if method == "users.get":
            return self._users_get(params)
        if method == "groups.getById":
            return self._groups_get_by_id(params, token)
        return _error(3, method, params)

    def _matching_rule(self, method: str, params: dict) -> dict | None:
        for rule in self._rules:
            if rule["method"] not in (None, method):
                continue
            if any(params.get(k) != v for k, v in rule["match"].items()):
                continue
            if rule["times"] is not None:
                rule["times"] -= 1
                if rule["times"] <= 0:
                    self._rules.remove(rule)
            return rule
        return None

    def _messages_send(self, params: dict) -> dict:
        peer = params.get("peer_id") or params.get("user_id")
        if not peer:
            return _error(100, "messages.send", params, "One of the parameters specified was missing or invalid: "
                                                        "you should specify peer_id, user_id, domain, chat_id")
        if "random_id" not in params:
            return _error(100, "messages.send", params, "One of the parameters specified was missing or invalid: "
                                                        "random_id is a required parameter")
        if not params.get("message") and not params.get("attachment"):
            return _error(100, "messages.send", params, "One of the parameters specified was missing or invalid: "
                                                        "message is empty or invalid")
        key = ("messages.send", peer, params["random_id"])
        if params["random_id"] != "0" and key in self._seen:
            return {"response": self._seen[key]}
        mid = next(self._ids)
        self._seen[key] = mid
        record = {"method": "messages.send", "id": mid, **params}
        if params.get("keyboard"):
            record["keyboard"] = json.loads(params["keyboard"])  # as the resident sees it: rows of buttons
        self.sent.append(record)
        return {"response": mid}

    def _create_comment(self, params: dict) -> dict:
        if not params.get("post_id"):
            return _error(100, "wall.createComment", params, "One of the parameters specified was missing or "
                                                             "invalid: post_id is undefined")
        key = ("wall.createComment", params.get("owner_id"), params["post_id"], params.get("guid"))
        if params.get("guid") and key in self._seen:
            return {"response": {"comment_id": self._seen[key], "parents_stack": []}}
        cid = next(self._ids)
        self._seen[key] = cid
        self.sent.append({"method": "wall.createComment", "id": cid, **params})
        parents = [int(params["reply_to_comment"])] if params.get("reply_to_comment", "").isdigit() else []
        return {"response": {"comment_id": cid, "parents_stack": parents}}

    def _users_get(self, params: dict) -> dict:
        ids = [i for i in (params.get("user_ids") or params.get("user_id") or "").split(",") if i.strip()]
        if len(ids) > 1000:
            return _error(100, "users.get", params, "One of the parameters specified was missing or invalid: "
                                                    "user_ids is too long (maximum 1000)")
        out = []
        for raw in ids:
            if not raw.strip().isdigit():
                return _error(113, "users.get", params, "Invalid user id")
            uid = int(raw)
            out.append(dict(self.users.get(uid) or {"id": uid, "first_name": "DELETED", "last_name": "",
                                                    "deactivated": "deleted"}))
        return {"response": out}

    def _group_id(self, ref: str) -> int | None:
        """A group id, "club123" / "public123" / "event123", or a registered screen name → the id."""
        ref = ref.strip().lstrip("-")
        if ref.isdigit():
            return int(ref)
        m = re.match(r"^(?:club|public|event)(\d+)$", ref)
        if m:
            return int(m.group(1))
        return next((gid for gid, g in self.groups.items() if g.get("screen_name") == ref), None)

    def _group(self, gid: int, fields: str) -> dict | None:
        group = self.groups.get(gid)
        how = self.troubles.peek(gid)
        if group is None or how == "unknown":
            return None
        group = dict(group)
        if how == "deleted":
            group = {"id": gid, "name": "DELETED", "screen_name": f"club{gid}", "type": "group",
                     "deactivated": "deleted", "is_closed": 0}
        elif how == "private":
            group["is_closed"] = 1
        if "members_count" in fields and not group.get("deactivated"):
            group["members_count"] = self.audience.followers(gid)
        if "photo_200" not in fields:
            group.pop("photo_200", None)
        return group

    def _groups_get_by_id(self, params: dict, token: str | None = None) -> dict:
        refs = [i.strip() for i in (params.get("group_ids") or params.get("group_id") or "").split(",") if i.strip()]
        if not refs and token in self.tokens and self.tokens[token].get("group_id"):
            refs = [str(self.tokens[token]["group_id"])]  # a community token: its own community
        if not refs or len(refs) > 500:
            return _error(100, "groups.getById", params, "One of the parameters specified was missing or invalid: "
                                                         "group_ids is undefined or too long (maximum 500)")
        fields = params.get("fields") or ""
        found = []
        known = self.tokens.get(token or "") or {}
        for ref in refs:
            gid = self._group_id(ref)
            group = self._group(gid, fields) if gid is not None else None
            if group is not None:
                if "is_admin" in fields and known.get("kind") == "user":
                    admin = gid in known.get("admin_of", ())
                    group["is_admin"] = int(admin)
                    if admin:
                        group["admin_level"] = known.get("admin_level", 3)
                found.append(group)
        if not found and len(refs) == 1:  # a single unknown id or a person's screen name
            return _error(100, "groups.getById", params, "Invalid group id")
        return {"response": found if self.old_shape else {"groups": found, "profiles": []}}

    def _wall_get(self, params: dict) -> dict:
        owner = params.get("owner_id") or ""
        if not owner.startswith("-") or not owner[1:].isdigit():
            return _error(100, "wall.get", params, "One of the parameters specified was missing or invalid: owner_id "
                                                   "is not a community")
        gid = int(owner[1:])
        how = self.troubles.peek(gid)
        if gid not in self.groups or how == "unknown":
            return _error(100, "wall.get", params, "One of the parameters specified was missing or invalid: "
                                                   "owner_id is incorrect")
        group = self.groups[gid]
        if how == "no_rights":
            return _error(7, "wall.get", params)
        if how in ("private", "deleted") or group.get("is_closed") or group.get("deactivated"):
            return _error(15, "wall.get", params, "Access denied: this wall available only for community members")
        count = max(1, min(int(params.get("count") or 20) if (params.get("count") or "").isdigit() else 20, 100))
        items = []
        for p in self.audience.recent(gid, count):
            items.append({"id": p["n"], "owner_id": -gid, "from_id": -gid, "date": p["date"], "post_type": "post",
                          "text": f"Новости: запись №{p['n']} сообщества «{group['name']}»",
                          "attachments": [] if p["n"] % 3 else [{"type": "photo", "photo": {"id": p["n"]}}],
                          "comments": {"count": p["comments"], "can_post": 1}, "likes": {"count": p["likes"]},
                          "reposts": {"count": p["reposts"]}, "views": {"count": p["views"]}})
        return {"response": {"count": self.audience.posts(gid), "items": items}}

    _CALL = re.compile(r"API\.([A-Za-z]+\.[A-Za-z]+)\((\{[^()]*\})?\)")

    def _execute(self, params: dict, token: str) -> dict:
        """VKScript of the form `return [API.m({json}), …];` — at most 25 calls, a failed call is `false` plus an
        entry in execute_errors (as VK answers)."""
        code = params.get("code") or ""
        if re.search(r"\bvar\s", code):
            return _VkScript(self, token, params).run(code)
        calls = self._CALL.findall(code)
        self.executes.append(len(calls))
        if not calls or not code.strip().startswith("return"):
            return _error(12, "execute", params, "Unable to compile code")
        if len(calls) > 25:
            return _error(13, "execute", params)
        results, errors = [], []
        for method, raw in calls:
            try:
                args = {k: str(v) for k, v in json.loads(raw or "{}").items()}
            except ValueError:
                return _error(12, "execute", params, "Unable to compile code")
            answer = self._call(method, args, token) if method != "execute" else _error(12, method, args)
            if "error" in answer:
                results.append(False)
                errors.append({"method": method, "error_code": answer["error"]["error_code"],
                               "error_msg": answer["error"]["error_msg"]})
            else:
                results.append(answer["response"])
        body: dict[str, Any] = {"response": results if len(results) > 1 or code.strip().startswith("return [")
                                else results[0]}
        if errors:
            body["execute_errors"] = errors
        return body

    # --- publishing (issue 13) -------------------------------------------------------------------
    def _wall_owner(self, method: str, params: dict) -> tuple[int | None, dict | None]:
        owner = str(params.get("owner_id") or "")
        if not owner.startswith("-") or not owner[1:].isdigit():
            return None, _error(100, method, params, "One of the parameters specified was missing or invalid: "
                                                     "owner_id is not a community")
        gid = int(owner[1:])
        if gid not in self.groups and self.groups:
            return None, _error(100, method, params, "One of the parameters specified was missing or invalid: "
                                                     "owner_id is incorrect")
        return gid, None

    def _may_post(self, method: str, params: dict, token: str, gid: int) -> dict | None:
        """None when `token` may write on the community's wall, else VK's error."""
        known = self.tokens.get(token)
        if known is None:  # the fake's own token (not registered): lenient, as before issue 13
            return None
        if known["kind"] == "community":
            names = {p["name"] for p in known["permissions"]}
            if known.get("group_id") not in (None, gid) or "wall" not in names:
                return _error(15, method, params, "Access denied: no access to call this method")
            return None
        if known["kind"] == "user":
            if not known["mask"] & 8192:
                return _error(15, method, params, "Access denied: no access to call this method")
            if gid not in known.get("admin_of", ()):
                return _error(214, method, params, "Access to adding post denied: you are not a community editor")
            return None
        return _error(27, method, params, "Group authorization failed: method is unavailable with service token.")

    def _wall_upload_server(self, method: str, params: dict, token: str) -> dict:
        known = self.tokens.get(token)
        if known is None or known["kind"] != "user":
            return _error(27, method, params, "Group authorization failed: method is unavailable with group auth.")
        gid = int(params["group_id"]) if str(params.get("group_id") or "").isdigit() else None
        if gid is None:
            return _error(100, method, params, "One of the parameters specified was missing or invalid: group_id")
        if not known["mask"] & 4:
            return _error(15, method, params, "Access denied: no access to call this method")
        if gid not in known.get("admin_of", ()):
            return _error(15, method, params, "Access denied: you are not a community editor")
        key = hashlib.sha1(f"{token}:{gid}".encode()).hexdigest()[:12]
        return {"response": {"album_id": -14, "upload_url": f"{self.origin}/upload/wall/{gid}/{key}",
                             "user_id": abs(hash(token)) % 10**8}}

    def upload(self, path: str, content_type: str, data: bytes) -> tuple[int, dict]:
        """The upload server: multipart field `photo` → {server, photo, hash} (HTTP 200, as VK's upload servers)."""
        m = re.match(r"^/upload/wall/(\d+)/", path)
        if not m:
            return 404, {"error": "not found"}
        message = BytesParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + data)
        part = next((p for p in message.walk() if p.get_param("name", header="content-disposition") == "photo"),
                    None) if message.is_multipart() else None
        payload = part.get_payload(decode=True) if part is not None else None
        if not payload:
            return 200, {"server": 851234, "photo": "[]", "hash": hashlib.md5(b"").hexdigest()}
        with self._lock:
            n = len(self.uploads) + 1
            photo = json.dumps([{"markers_restarted": True, "photo": f"{hashlib.sha1(payload).hexdigest()[:10]}:w",
                                 "sizes": [], "latitude": 0, "longitude": 0, "kid": f"k{n:06d}"}])
            digest = hashlib.md5(f"{n}:{photo}".encode()).hexdigest()
            self._pending[digest] = {"gid": int(m.group(1)), "photo": photo, "server": "851234"}
            self.uploads.append({"gid": int(m.group(1)), "filename": part.get_filename(), "size": len(payload),
                                 "content_type": part.get_content_type(), "hash": digest})
        return 200, {"server": 851234, "photo": photo, "hash": digest}

    def _save_photo(self, method: str, params: dict, token: str) -> dict:
        known = self.tokens.get(token)
        if known is None or known["kind"] != "user":
            return _error(27, method, params, "Group authorization failed: method is unavailable with group auth.")
        pending = self._pending.get(params.get("hash") or "")
        gid = int(params["group_id"]) if str(params.get("group_id") or "").isdigit() else None
        if pending is None or pending["gid"] != gid or pending["photo"] != params.get("photo") \
                or pending["server"] != str(params.get("server")):
            return _error(100, method, params, "One of the parameters specified was missing or invalid: photo or "
                                               "hash is invalid")
        del self._pending[params["hash"]]
        pid = next(self._photo_ids)
        photo = {"album_id": -14, "date": int(time.time()), "id": pid, "owner_id": -gid, "access_key": f"ak{pid:x}",
                 "sizes": [{"type": "x", "width": 604, "height": 453,
                            "url": f"{self.origin}/photos/{gid}/{pid}.jpg"}], "text": "", "has_tags": False}
        self.photos[f"photo-{gid}_{pid}"] = photo
        return {"response": [photo]}

    def _attachments(self, method: str, params: dict) -> tuple[list[str], dict | None]:
        items = [a.strip() for a in (params.get("attachments") or "").split(",") if a.strip()]
        links = [a for a in items if a.startswith(("http://", "https://"))]
        if len(links) > 1:
            return [], _error(100, method, params, "One of the parameters specified was missing or invalid: only one "
                                                   "link is allowed")
        if len(items) > 10:
            return [], _error(100, method, params, "One of the parameters specified was missing or invalid: too many "
                                                   "attachments")
        for item in items:
            if item not in links and item not in self.photos:
                return [], _error(100, method, params, f"One of the parameters specified was missing or invalid: "
                                                       f"attachment {item} is invalid")
        return items, None

    def _find_post(self, method: str, params: dict, gid: int) -> tuple[dict | None, dict | None]:
        pid = int(params["post_id"]) if str(params.get("post_id") or "").isdigit() else None
        post = next((p for p in self.posts if p["owner_id"] == -gid and p["id"] == pid and not p["deleted"]), None)
        if post is None:
            return None, _error(100, method, params, "One of the parameters specified was missing or invalid: "
                                                     "post_id is invalid")
        return post, None

    def _wall_post(self, method: str, params: dict, token: str) -> dict:
        gid, bad = self._wall_owner(method, params)
        if bad:
            return bad
        bad = self._may_post(method, params, token, gid)
        if bad:
            return bad
        items, bad = self._attachments(method, params)
        if bad:
            return bad
        if not params.get("message") and not items:
            return _error(100, method, params, "One of the parameters specified was missing or invalid: message is "
                                               "empty or invalid")
        guid = params.get("guid")
        if guid:
            same = next((p for p in self.posts if p["owner_id"] == -gid and p["guid"] == guid), None)
            if same is not None:
                return {"response": {"post_id": same["id"]}}
        known = self.tokens.get(token) or {}
        post = {"id": next(self._post_ids), "owner_id": -gid, "from_group": params.get("from_group"),
                "text": params.get("message") or "", "attachments": items, "guid": guid, "deleted": False,
                "token_kind": known.get("kind", "community"), "date": int(time.time()), "edited": None}
        self.posts.append(post)
        return {"response": {"post_id": post["id"]}}

    def _wall_edit(self, method: str, params: dict, token: str) -> dict:
        gid, bad = self._wall_owner(method, params)
        if bad:
            return bad
        bad = self._may_post(method, params, token, gid)
        if bad:
            return bad
        post, bad = self._find_post(method, params, gid)
        if bad:
            return bad
        items, bad = self._attachments(method, params)
        if bad:
            return bad
        post.update(text=params.get("message") or "", attachments=items, edited=int(time.time()))
        return {"response": {"post_id": post["id"]}}

    def _wall_delete(self, method: str, params: dict, token: str) -> dict:
        gid, bad = self._wall_owner(method, params)
        if bad:
            return bad
        bad = self._may_post(method, params, token, gid)
        if bad:
            return bad
        post, bad = self._find_post(method, params, gid)
        if bad:
            return bad
        post["deleted"] = True
        return {"response": 1}

    def _wall_get_by_id(self, method: str, params: dict, token: str) -> dict:
        items = []
        for ref in (params.get("posts") or "").split(","):
            m = re.match(r"^-(\d+)_(\d+)$", ref.strip())
            post = next((p for p in self.posts if m and p["owner_id"] == -int(m.group(1))
                         and p["id"] == int(m.group(2)) and not p["deleted"]), None)
            if post is not None:
                attachments = [{"type": "photo", "photo": self.photos[a]} for a in post["attachments"]
                               if a in self.photos]
                attachments += [{"type": "link", "link": {"url": a}} for a in post["attachments"]
                                if a.startswith(("http://", "https://"))]
                items.append(wall_post(-post["owner_id"], post["text"], post_id=post["id"], date=post["date"],
                                       attachments=attachments))
        return {"response": {"items": items}}

    def request_trouble(self, raw: str) -> str | None:
        """"5xx", "garbage" or "429" when a request names a community told to fail that way (taken once)."""
        for gid in {int(x) for x in re.findall(r"(?<![\d])(\d{3,})(?![\d])", raw)}:
            if self.troubles.peek(gid) in ("5xx", "garbage", "429"):
                return self.troubles.take(gid)
        return None

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming) — the communities' photos
                m = re.match(r"^/avatar/(\d+)\.png$", self.path.partition("?")[0])
                if m:
                    self._raw(200, avatar_png(f"vk{m.group(1)}"), "image/png")
                else:
                    self._answer(404, {"error": "not found"})

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if self.path.startswith("/upload/"):
                    self._answer(*fake.upload(self.path, self.headers.get("Content-Type") or "", data))
                    return
                raw = data.decode("utf-8", "replace")
                path, _, query = self.path.partition("?")
                params = dict(parse_qsl(query, keep_blank_values=True))
                params.update(parse_qsl(raw, keep_blank_values=True))
                if not path.startswith("/method/"):
                    self._answer(404, {"error": "not found"})
                    return
                how = fake.request_trouble(raw + "&" + query)
                if how == "5xx":
                    self._answer(500, {"error": "Internal Server Error"})
                    return
                if how == "garbage":
                    self._raw(200, GARBAGE, "text/html")
                    return
                if how == "429":
                    self._answer(200, _error(6, path[len("/method/"):], {}))
                    return
                fake._local.methods = []
                answer = fake.handle(path[len("/method/"):], params)
                if fake._take_drop(fake._local.methods):  # accepted, then the connection drops: no answer
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self._answer(200, answer)

            def _raw(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet in tests
                pass

        return Handler


class _VkScript:
    """Just enough VKScript for the fakes' `execute`: `var x = expr;` and `return expr;` statements; expressions of
    string / number / true / false / null literals, variables, object and array literals, `a.b` and `a[0]`, `+`
    (concatenation when either side is a string), unary minus and `API.section.method(expr)` calls (at most 25; a
    failed call is `false` plus an entry in execute_errors, as VK answers)."""

    _TOKEN = re.compile(r'\s*(?:(?P<str>")|(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)'
                        r'|(?P<op>[{}\[\](),:;.+=-]))')

    def __init__(self, fake: FakeVk, token: str, params: dict):
        self.fake, self.token, self.params = fake, token, params
        self.calls = 0
        self.errors: list[dict] = []
        self.vars: dict[str, Any] = {}

    class Fail(Exception):
        pass

    def run(self, code: str) -> dict:
        self.code, self.pos = code, 0
        try:
            result = self._program()
        except self.Fail as exc:
            self.fake.executes.append(self.calls)
            if "Too many" in str(exc):
                return _error(13, "execute", self.params)
            return _error(12, "execute", self.params, "Unable to compile code")
        self.fake.executes.append(self.calls)
        body: dict[str, Any] = {"response": result}
        if self.errors:
            body["execute_errors"] = self.errors
        return body

    # tokens
    def _peek(self) -> tuple[str, str] | None:
        m = self._TOKEN.match(self.code, self.pos)
        if not m:
            if self.code[self.pos:].strip():
                raise self.Fail("syntax")
            return None
        kind = m.lastgroup
        if kind == "str":
            return ("str", "\"")
        return (kind, m.group(kind))

    def _next(self) -> tuple[str, Any]:
        m = self._TOKEN.match(self.code, self.pos)
        if not m:
            raise self.Fail("syntax")
        kind = m.lastgroup
        if kind == "str":
            try:
                value, end = json.decoder.scanstring(self.code, m.end())
            except ValueError as exc:
                raise self.Fail("string") from exc
            self.pos = end
            return ("str", value)
        self.pos = m.end()
        value = m.group(kind)
        return (kind, float(value) if kind == "num" and "." in value else int(value) if kind == "num" else value)

    def _expect(self, op: str) -> None:
        if self._next() != ("op", op):
            raise self.Fail(f"expected {op}")

    # statements
    def _program(self) -> Any:
        while self._peek() is not None:
            kind, word = self._next()
            if (kind, word) == ("name", "var"):
                _, name = self._next()
                self._expect("=")
                self.vars[name] = self._expr()
            elif (kind, word) == ("name", "return"):
                return self._expr()
            else:
                raise self.Fail("statement")
            if self._peek() == ("op", ";"):
                self._next()
        return None

    # expressions
    def _expr(self) -> Any:
        value = self._unary()
        while self._peek() == ("op", "+"):
            self._next()
            right = self._unary()
            if isinstance(value, str) or isinstance(right, str):
                value = self._text(value) + self._text(right)
            else:
                value = (value or 0) + (right or 0)
        return value

    @staticmethod
    def _text(value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    def _unary(self) -> Any:
        if self._peek() == ("op", "-"):
            self._next()
            value = self._unary()
            return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        return self._postfix(self._primary())

    def _postfix(self, value: Any) -> Any:
        while True:
            peek = self._peek()
            if peek == ("op", "."):
                self._next()
                _, key = self._next()
                if key == "length" and isinstance(value, (list, str)):
                    value = len(value)
                else:
                    value = value.get(key) if isinstance(value, dict) else None
            elif peek == ("op", "["):
                self._next()
                index = self._expr()
                self._expect("]")
                if isinstance(value, list) and isinstance(index, int) and 0 <= index < len(value):
                    value = value[index]
                elif isinstance(value, dict):
                    value = value.get(str(index))
                else:
                    value = None
            else:
                return value

    def _primary(self) -> Any:
        kind, value = self._next()
        if kind in ("str", "num"):
            return value
        if kind == "name":
            if value in ("true", "false", "null"):
                return {"true": True, "false": False, "null": None}[value]
            if value == "API":
                return self._api()
            return self.vars.get(value)
        if (kind, value) == ("op", "("):
            inner = self._expr()
            self._expect(")")
            return inner
        if (kind, value) == ("op", "{"):
            obj: dict[str, Any] = {}
            while self._peek() != ("op", "}"):
                k_kind, key = self._next()
                if k_kind not in ("str", "name"):
                    raise self.Fail("key")
                self._expect(":")
                obj[key] = self._expr()
                if self._peek() == ("op", ","):
                    self._next()
            self._next()
            return obj
        if (kind, value) == ("op", "["):
            items = []
            while self._peek() != ("op", "]"):
                items.append(self._expr())
                if self._peek() == ("op", ","):
                    self._next()
            self._next()
            return items
        raise self.Fail("expression")

    def _api(self) -> Any:
        self._expect(".")
        _, section = self._next()
        self._expect(".")
        _, name = self._next()
        self._expect("(")
        args = {} if self._peek() == ("op", ")") else self._expr()
        self._expect(")")
        method = f"{section}.{name}"
        self.calls += 1
        if self.calls > 25:
            raise self.Fail("Too many API calls")
        if not isinstance(args, dict) or method == "execute":
            answer = _error(100, method, {})
        else:
            answer = self.fake._call(method, {k: self._text(v) for k, v in args.items() if v is not None}, self.token)
        if "error" in answer:
            self.errors.append({"method": method, "error_code": answer["error"]["error_code"],
                                "error_msg": answer["error"]["error_msg"]})
            return False
        return answer["response"]


def _error(code: int, method: str, params: dict, msg: str | None = None) -> dict:
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    request_params += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    return {"error": {"error_code": code, "error_msg": msg or ERROR_MESSAGES.get(code, "Unknown error occurred"),
                      "request_params": request_params}}


# --- Callback API payloads --------------------------------------------------------------------------
def callback(type_: str, obj: dict | None, group_id: int, secret: str | None = None,
             event_id: str | None = None) -> dict:
    """The envelope of every callback. `event_id` defaults to a hash of the content (stable on re-delivery)."""
    payload: dict[str, Any] = {"type": type_, "group_id": int(group_id)}
    if event_id is None:
        basis = json.dumps([type_, group_id, obj], sort_keys=True, ensure_ascii=False).encode()
        event_id = hashlib.sha1(basis).hexdigest()
    payload["event_id"] = event_id
    payload["v"] = API_VERSION
    if obj is not None:
        payload["object"] = obj
    if secret is not None:
        payload["secret"] = secret
    return payload


def confirmation(group_id: int, secret: str | None = None) -> dict:
    """What VK sends when the server address is saved in the community's settings."""
    return {"type": "confirmation", "group_id": int(group_id), **({"secret": secret} if secret else {})}


def photo(url: str = "https://sun9-1.userapi.com/impg/fake.jpg", owner_id: int = 1, photo_id: int = 457239017,
          width: int = 1280, height: int = 960) -> dict:
    """A photo attachment with VK's size ladder (the largest is `url`)."""
    small = url.replace(".jpg", "_s.jpg")
    return {"type": "photo", "photo": {
        "id": photo_id, "album_id": -3, "owner_id": owner_id, "date": 1767225600, "access_key": "a1b2c3d4e5",
        "sizes": [{"type": "s", "width": width // 17, "height": height // 17, "url": small},
                  {"type": "x", "width": width // 2, "height": height // 2, "url": small.replace("_s", "_x")},
                  {"type": "w", "width": width, "height": height, "url": url}]}}


def doc(title: str = "акт.pdf", url: str = "https://vk.com/doc1_2?hash=abc", owner_id: int = 1,
        doc_id: int = 671234, size: int = 48213) -> dict:
    """A document attachment."""
    return {"type": "doc", "doc": {"id": doc_id, "owner_id": owner_id, "title": title, "size": size,
                                   "ext": title.rpartition(".")[2], "url": url, "date": 1767225600, "type": 1}}


def audio_message(url: str = "https://psv4.userapi.com/s/v1/amsg/fake/voice.mp3", duration: int = 12,
                  owner_id: int = 1, message_id: int = 671234502) -> dict:
    """A voice message attachment (links to its mp3 and ogg)."""
    return {"type": "audio_message", "audio_message": {
        "duration": duration, "id": message_id, "owner_id": owner_id, "link_mp3": url,
        "link_ogg": url.rsplit(".", 1)[0] + ".ogg", "access_key": "3c2b1a0f9e", "waveform": [0, 9, 25, 12, 0]}}


def geo(latitude: float, longitude: float, title: str | None = None) -> dict:
    """A message's `geo` (a point the resident attached)."""
    place = {"country": "Россия", "city": "Белогорск", "title": title} if title else None
    return {"type": "point", "coordinates": {"latitude": latitude, "longitude": longitude},
            **({"place": place} if place else {})}


def forwarded(from_id: int, text: str, date: int | None = None) -> dict:
    """One of `fwd_messages`: a message the resident forwarded from someone else."""
    return {"date": date or int(time.time()) - 3600, "from_id": from_id, "text": text, "attachments": [],
            "conversation_message_id": 0, "peer_id": from_id, "id": 0, "fwd_messages": []}


def message_new(group_id: int, from_id: int, text: str, *, conversation_message_id: int = 1,
                message_id: int | None = None, peer_id: int | None = None, date: int | None = None,
                attachments: list | None = None, payload: str | None = None, ref: str | None = None,
                reply_message: dict | None = None, secret: str | None = None, event_id: str | None = None,
                geo: dict | None = None, fwd_messages: list | None = None) -> dict:
    """A resident wrote to the community (`object = {message, client_info}`, API ≥ 5.103)."""
    message = {"date": date or int(time.time()), "from_id": from_id, "id": message_id if message_id is not None
               else conversation_message_id, "out": 0, "version": 10000000 + conversation_message_id,
               "attachments": attachments or [], "conversation_message_id": conversation_message_id,
               "fwd_messages": [], "important": False, "is_hidden": False, "peer_id": peer_id or from_id,
               "random_id": 0, "text": text}
    if payload is not None:
        message["payload"] = payload
    if ref is not None:
        message["ref"] = ref
    if reply_message is not None:
        message["reply_message"] = reply_message
    if geo is not None:
        message["geo"] = geo
    if fwd_messages:
        message["fwd_messages"] = fwd_messages
    obj = {"message": message, "client_info": {
        "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback", "intent_subscribe",
                           "intent_unsubscribe"],
        "keyboard": True, "inline_keyboard": True, "carousel": True, "lang_id": 0}}
    return callback("message_new", obj, group_id, secret, event_id)


def message_edit(group_id: int, from_id: int, text: str, *, conversation_message_id: int = 1,
                 peer_id: int | None = None, date: int | None = None, update_time: int | None = None,
                 attachments: list | None = None, secret: str | None = None, event_id: str | None = None) -> dict:
    """The resident edited a dialog message: `object` is the message itself, with `update_time`."""
    now = int(time.time())
    message = {"date": date or now - 1, "update_time": update_time or now, "from_id": from_id,
               "id": conversation_message_id, "out": 0, "version": 10000000 + conversation_message_id,
               "attachments": attachments or [], "conversation_message_id": conversation_message_id,
               "fwd_messages": [], "important": False, "is_hidden": False, "peer_id": peer_id or from_id,
               "random_id": 0, "text": text}
    return callback("message_edit", message, group_id, secret, event_id)


def _wall_comment(group_id: int, from_id: int, text: str, post_id: int, comment_id: int, owner_id: int | None,
                  date: int | None, attachments: list | None, reply_to_comment: int | None) -> dict:
    owner = owner_id if owner_id is not None else -abs(group_id)
    obj = {"id": comment_id, "from_id": from_id, "date": date or int(time.time()), "text": text, "post_id": post_id,
           "owner_id": owner, "parents_stack": [reply_to_comment] if reply_to_comment else [],
           "thread": {"count": 0}, "post_owner_id": owner}
    if attachments:
        obj["attachments"] = attachments
    if reply_to_comment:
        obj["reply_to_comment"] = reply_to_comment
        obj["reply_to_user"] = owner
    return obj


def wall_reply_new(group_id: int, from_id: int, text: str, *, post_id: int = 1, comment_id: int = 10,
                   owner_id: int | None = None, date: int | None = None, attachments: list | None = None,
                   reply_to_comment: int | None = None, secret: str | None = None,
                   event_id: str | None = None) -> dict:
    """A comment under a post on the community's wall (a wall comment object plus `post_owner_id`)."""
    obj = _wall_comment(group_id, from_id, text, post_id, comment_id, owner_id, date, attachments, reply_to_comment)
    return callback("wall_reply_new", obj, group_id, secret, event_id)


def wall_reply_edit(group_id: int, from_id: int, text: str, *, post_id: int = 1, comment_id: int = 10,
                    owner_id: int | None = None, date: int | None = None, attachments: list | None = None,
                    reply_to_comment: int | None = None, secret: str | None = None,
                    event_id: str | None = None) -> dict:
    """The resident edited a wall comment: the same object as wall_reply_new with the new text."""
    obj = _wall_comment(group_id, from_id, text, post_id, comment_id, owner_id, date, attachments, reply_to_comment)
    return callback("wall_reply_edit", obj, group_id, secret, event_id)


def board_post_new(group_id: int, from_id: int, text: str, *, topic_id: int = 1, comment_id: int = 1,
                   date: int | None = None, attachments: list | None = None, secret: str | None = None,
                   event_id: str | None = None) -> dict:
    """A comment in one of the community's discussion topics (`topic_id`, `topic_owner_id` added)."""
    obj = {"id": comment_id, "from_id": from_id, "date": date or int(time.time()), "text": text,
           "topic_owner_id": -abs(group_id), "topic_id": topic_id}
    if attachments:
        obj["attachments"] = attachments
    return callback("board_post_new", obj, group_id, secret, event_id)


def photo_comment_new(group_id: int, from_id: int, text: str, *, photo_id: int = 457239017, comment_id: int = 1,
                      date: int | None = None, attachments: list | None = None, secret: str | None = None,
                      event_id: str | None = None) -> dict:
    """A comment under one of the community's photos (`photo_id`, `photo_owner_id` added)."""
    obj = {"id": comment_id, "from_id": from_id, "date": date or int(time.time()), "text": text,
           "photo_owner_id": -abs(group_id), "photo_id": photo_id}
    if attachments:
        obj["attachments"] = attachments
    return callback("photo_comment_new", obj, group_id, secret, event_id)


def wall_post(group_id: int, text: str, *, post_id: int = 1, date: int | None = None,
              attachments: list | None = None, views: int | None = 0, likes: int = 0, comments: int = 0,
              reposts: int = 0, post_type: str = "post", from_id: int | None = None,
              copy_history: list | None = None, edited: int | None = None) -> dict:
    """A wall post object as wall_post_new and wall.get give it (API 5.199): on the community's wall, on behalf
    of the community unless `from_id` says who wrote it."""
    owner = -abs(group_id)
    obj: dict[str, Any] = {
        "id": post_id, "owner_id": owner, "from_id": from_id if from_id is not None else owner,
        "created_by": 1001, "date": date or int(time.time()), "marked_as_ads": 0, "post_type": post_type,
        "text": text, "can_edit": 1, "can_delete": 1, "can_pin": 1, "attachments": attachments or [],
        "post_source": {"type": "vk"},
        "comments": {"count": comments, "can_post": 1, "groups_can_post": True},
        "likes": {"count": likes, "user_likes": 0, "can_like": 1, "can_publish": 1},
        "reposts": {"count": reposts, "user_reposted": 0},
        "is_favorite": False, "donut": {"is_donut": False}, "short_text_rate": 0.8, "hash": f"h{post_id:08x}"}
    if views is not None:
        obj["views"] = {"count": views}
    if copy_history:
        obj["copy_history"] = copy_history
    if edited:
        obj["edited"] = edited
    return obj


def wall_post_new(group_id: int, text: str, *, secret: str | None = None, event_id: str | None = None,
                  **kw) -> dict:
    """The community published a post on its wall (kw: post_id, date, attachments, views, likes, comments,
    reposts, post_type — "suggest" for a resident's proposed post —, from_id, copy_history, edited)."""
    return callback("wall_post_new", wall_post(group_id, text, **kw), group_id, secret, event_id)


def wall_repost(group_id: int, reposter_id: int, *, post_id: int = 1, repost_id: int = 55,
                secret: str | None = None) -> dict:
    """Someone reposted the community's post `post_id` to their own wall: the repost (their post)."""
    original = wall_post(group_id, "Пост сообщества", post_id=post_id)
    obj = {"id": repost_id, "owner_id": reposter_id, "from_id": reposter_id, "date": int(time.time()),
           "post_type": "post", "text": "", "copy_history": [original], "attachments": []}
    return callback("wall_repost", obj, group_id, secret)


def wall_reply_delete(group_id: int, user_id: int, *, post_id: int = 1, comment_id: int = 10,
                      deleter_id: int | None = None, secret: str | None = None) -> dict:
    """A wall comment was deleted (nothing for intake: answered "ok")."""
    obj = {"owner_id": -abs(group_id), "id": comment_id, "user_id": user_id, "deleter_id": deleter_id or user_id,
           "post_id": post_id}
    return callback("wall_reply_delete", obj, group_id, secret)


def press(group_id: int, sent: dict, label: str, from_id: int | None = None, *, conversation_message_id: int,
          secret: str | None = None) -> dict:
    """The resident pressed the inline text button `label` under a message the fake recorded in `sent`:
    VK sends the label as the resident's message with the button's payload."""
    rows = (sent.get("keyboard") or {}).get("buttons") or []
    action = next(b["action"] for row in rows for b in row if b["action"]["label"] == label)
    peer = int(sent["peer_id"])
    return message_new(group_id, from_id if from_id is not None else peer, label, peer_id=peer,
                       conversation_message_id=conversation_message_id, payload=action["payload"], secret=secret)
