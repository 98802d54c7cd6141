"""VK (ВКонтакте) through the Callback API: community messages, wall comments, topic and photo comments.

Every callback is a POST `{type, group_id, event_id, v, secret?, object}` (VKCOM/vk-api-schema,
callback/objects.json). `confirmation` is answered with the community's confirmation string; every other
event with exactly `ok` — anything else makes VK deliver the event again (and after several failures
switch the server off). VK says of `event_id` "if it passed twice or more — ignore it": our external ids
are built from the object's own ids, so a re-delivery hits the unique key and is stored once.

`wall_post_new` (the community published a post) is returned as an IncomingPost (`wall_post()`: stored as a
post with its views, likes, comments and reposts, never an appeal); a wall comment carries the post it answers.
The secret a callback is checked against is the community's own when it is a participant's community with one
(services/accounts/credentials gives the adapter that config).

Replies: `messages.send` to the resident's dialog, `wall.createComment` under a wall comment, both with
the community token. `random_id` / `guid` are derived from the reply's idempotency key, so a retry after
a timeout is not posted twice. Topic (`board.createComment`) and photo (`photos.createComment`) comments
accept user tokens only, so those are answered by a person (send() says so as a permanent failure).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any

import httpx

from app.channels import content, http
from app.channels.base import (
    Attachment,
    BadPayload,
    ChannelError,
    IncomingMessage,
    IncomingPost,
    OutgoingReply,
    ParsedRequest,
    SendResult,
    parse_command,
    secret_matches,
)

log = logging.getLogger(__name__)

API_VERSION = "5.199"
NETWORK = "vk"
MAX_TEXT = 4096  # characters of one message or comment

# VK error codes → (Russian reason, permanent?). Codes not listed are treated as temporary.
ERRORS: dict[int, tuple[str, bool]] = {
    1: ("неизвестная ошибка ВКонтакте", False),
    5: ("ключ доступа сообщества недействителен или отозван", True),
    7: ("у ключа сообщества нет прав на это действие", True),
    10: ("внутренняя ошибка сервера ВКонтакте", False),
    15: ("доступ запрещён", True),
    18: ("страница жителя удалена или заблокирована", True),
    27: ("метод недоступен с ключом сообщества", True),
    100: ("неверный параметр запроса", True),
    113: ("неверный идентификатор пользователя", True),
    212: ("нет доступа к комментариям записи", True),
    213: ("комментарии к записи закрыты", True),
    222: ("ссылки в комментариях запрещены", True),
    901: ("житель не разрешил сообществу присылать ему сообщения", True),
    902: ("житель запретил присылать ему сообщения настройками приватности", True),
    914: ("сообщение слишком длинное", True),
    917: ("у сообщества нет доступа к этой беседе", True),
    936: ("собеседник не найден", True),
    945: ("беседа отключена", True),
}
RATE_LIMITED = {6: 1.0, 9: 60.0, 29: 3600.0}  # too many per second | flood control | daily limit of the method


def _utc(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ts), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def random_id(key: str) -> int:
    """A deterministic positive 31-bit int for messages.send's random_id (same key → same id)."""
    return (int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF) or 1  # 0: no dedupe


CHAT_PEER_MIN = 2_000_000_000  # peer ids of multi-user chats (беседы) start here
NESTING_LIMIT = 5  # forwarded messages inside forwarded messages: read this deep


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _largest(sizes: Any) -> str | None:
    sizes = [s for s in sizes if isinstance(s, dict) and (s.get("url") or s.get("src"))] \
        if isinstance(sizes, list) else []
    best = max(sizes, key=lambda s: (s.get("width") or 0) * (s.get("height") or 0), default=None)
    return (best.get("url") or best.get("src")) if best else None


def _attachments(items: Any, depth: int = 0) -> list[Attachment]:
    """VK attachments → ours, each with what staff need to open it (VK's own file links, or the object's page)."""
    out: list[Attachment] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            continue
        kind = item["type"]
        obj = item.get(kind) if isinstance(item.get(kind), dict) else {}
        owner, oid = obj.get("owner_id", obj.get("to_id", obj.get("from_id", ""))), obj.get("id", "")
        ref = f"{kind}{owner}_{oid}"
        if kind == "photo":
            url = _largest(obj.get("sizes")) or (obj.get("orig_photo") or {}).get("url")
            out.append(Attachment(kind="photo", file_id=ref, url=url))
        elif kind == "graffiti":
            out.append(Attachment(kind="photo", file_id=ref, url=obj.get("url") or None, name="граффити"))
        elif kind == "doc":
            out.append(Attachment(kind="document", file_id=ref, name=obj.get("title"), url=obj.get("url"),
                                  size=_int(obj.get("size"))))
        elif kind == "audio_message":
            out.append(Attachment(kind="voice", file_id=ref, url=obj.get("link_mp3") or obj.get("link_ogg"),
                                  mime="audio/mpeg" if obj.get("link_mp3") else "audio/ogg",
                                  duration=_int(obj.get("duration")), text=obj.get("transcript") or None))
        elif kind == "audio":
            title = " — ".join(str(obj[k]) for k in ("artist", "title") if obj.get(k)) or None
            out.append(Attachment(kind="audio", file_id=ref, name=title, url=obj.get("url") or None,
                                  duration=_int(obj.get("duration"))))
        elif kind == "video":
            out.append(Attachment(kind="video", file_id=ref, name=obj.get("title") or None,
                                  url=f"https://vk.com/video{owner}_{oid}" if owner != "" and oid != "" else None,
                                  duration=_int(obj.get("duration"))))
        elif kind == "sticker":
            sid = obj.get("sticker_id", "")
            out.append(Attachment(kind="sticker", file_id=f"sticker{sid}", url=_largest(obj.get("images")) or None))
        elif kind == "link":
            out.append(Attachment(kind="link", file_id=f"link:{obj.get('url') or ''}"[:200],
                                  url=obj.get("url") or None, name=obj.get("title") or None,
                                  text=obj.get("description") or obj.get("caption") or None))
        elif kind == "wall_reply":  # a wall comment shared into the dialog
            post = obj.get("post_id", "")
            out.append(Attachment(kind="repost", file_id=ref, text=obj.get("text") or None,
                                  url=f"https://vk.com/wall{owner}_{post}?reply={oid}" if owner != "" else None))
        elif kind == "wall":
            # A repost: the post's own page, its text, and its photos and files as attachments of their own.
            post = f"wall{owner}_{oid}"
            out.append(Attachment(kind="repost", file_id=post, url=f"https://vk.com/{post}" if owner != "" else None,
                                  text=obj.get("text") or None))
            if depth < NESTING_LIMIT:
                out.extend(_attachments(obj.get("attachments"), depth + 1))
                for copied in obj.get("copy_history") or []:  # a repost of a repost
                    if isinstance(copied, dict):
                        out.extend(_attachments([{"type": "wall", "wall": copied}], depth + 1))
        elif kind == "poll":
            answers = "; ".join(str(a.get("text")) for a in obj.get("answers") or [] if isinstance(a, dict))
            out.append(Attachment(kind="poll", file_id=ref, name=obj.get("question") or None, text=answers or None))
        elif kind:
            out.append(Attachment(kind="other", file_id=ref, name=kind))
    return out


def _geo(geo: Any) -> list[Attachment]:
    """A message's `geo`: {type: "point", coordinates: {latitude, longitude}, place?: {title, city, country}}."""
    if not isinstance(geo, dict) or not isinstance(geo.get("coordinates"), dict):
        return []
    place = geo.get("place") if isinstance(geo.get("place"), dict) else {}
    point = content.location(geo["coordinates"].get("latitude"), geo["coordinates"].get("longitude"),
                             title=place.get("title"), address=place.get("address"))
    return [point] if point else []


def _quoted(msg: dict, group_id: Any, depth: int = 0) -> tuple[list[str], list[Attachment]]:
    """Forwarded messages and the quoted message (a resident's reply to someone's message): their text,
    marked as forwarded, and their attachments. Our own messages quoted back are left out."""
    texts: list[str] = []
    files: list[Attachment] = []
    if depth >= NESTING_LIMIT:
        return texts, files
    inner = [m for m in msg.get("fwd_messages") or [] if isinstance(m, dict)]
    quoted = msg.get("reply_message")
    if isinstance(quoted, dict) and not VkAdapter._is_ours(quoted, group_id):
        inner.insert(0, quoted)
    for m in inner:
        text = m.get("text") if isinstance(m.get("text"), str) else ""
        if text.strip():
            texts.append(content.forwarded(text))
        files.extend(_attachments(m.get("attachments")) + _geo(m.get("geo")))
        deeper_texts, deeper_files = _quoted({"fwd_messages": m.get("fwd_messages")}, group_id, depth + 1)
        texts.extend(deeper_texts)
        files.extend(deeper_files)
    return texts, files


class VkAdapter:
    network = NETWORK
    secret_in_body = True  # the webhook cannot check VK's secret before it has read the JSON body

    # --- incoming --------------------------------------------------------------------------------
    def is_enabled(self, config: dict) -> bool:
        return bool(config.get("VK_ACCESS_TOKEN"))

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        """VK puts the secret in the body (not a header); the group must be ours."""
        if not isinstance(payload, dict):
            return False
        group = config.get("VK_GROUP_ID")
        if group and str(payload.get("group_id")) != str(group).strip():
            return False
        if payload.get("type") == "confirmation":
            return True
        secret = config.get("VK_SECRET")
        if not secret:
            return False  # without a configured secret anyone could post events
        return secret_matches(payload.get("secret"), secret)

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str) or not payload["type"]:
            raise BadPayload("VK: no event type")
        kind = payload["type"]
        if kind == "confirmation":
            code = config.get("VK_CONFIRMATION")
            if not code:
                raise BadPayload("VK: confirmation requested but VK_CONFIRMATION is not configured", status=503)
            return ParsedRequest(body=str(code))
        group_id = payload.get("group_id")
        if kind == "wall_post_new":  # the community published a post: content accounting, never an appeal
            post = payload.get("object")
            if not isinstance(post, dict):
                raise BadPayload("VK: event wall_post_new has no object")
            try:
                found = wall_post(post, group_id)
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise BadPayload(f"VK: malformed wall_post_new object ({exc.__class__.__name__}: {exc})") from exc
            return ParsedRequest(posts=[found] if found else [])
        parser = {
            "message_new": self._message_new,
            "message_edit": self._message_edit,
            "wall_reply_new": self._wall_comment,
            "wall_reply_edit": self._wall_edit,
            "board_post_new": self._board_comment,
            "photo_comment_new": self._photo_comment,
        }.get(kind)
        if parser is None:  # other events (deletes, restores, our own replies, joins…): "ok", nothing stored
            log.info("VK event %s not handled: answered ok", kind)
            return ParsedRequest()
        obj = payload.get("object")  # looked at only for events we handle: another's shape is not our concern
        if not isinstance(obj, dict):
            raise BadPayload(f"VK: event {kind} has no object")
        try:
            message = parser(obj, group_id, payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadPayload(f"VK: malformed {kind} object ({exc.__class__.__name__}: {exc})") from exc
        return ParsedRequest(messages=[message] if message else [])

    def _base(self, obj: dict, group_id: Any, payload: dict, **fields) -> IncomingMessage:
        from_id = int(obj["from_id"])
        text = obj.get("text") or ""
        if not isinstance(text, str):
            raise ValueError("text is not a string")
        # Callbacks carry no names: the resident is stored unnamed and named by users.get after intake
        # (jobs/intake.vk_names); until then, and for deleted pages, the id form «id<N>» is shown.
        return IncomingMessage(network=NETWORK, author_id=str(from_id), author_name="", text=text,
                               account_ref=str(group_id) if group_id is not None else None,
                               attachments=_attachments(obj.get("attachments")), sent_at=_utc(obj.get("date")),
                               raw=payload, **fields)

    @staticmethod
    def _is_ours(obj: dict, group_id: Any) -> bool:
        """A comment the community itself wrote (our own acknowledgement, an admin's answer)."""
        try:
            return group_id is not None and int(obj.get("from_id", 0)) == -abs(int(group_id))
        except (TypeError, ValueError):
            return False

    def _message_new(self, obj: dict, group_id: Any, payload: dict) -> IncomingMessage | None:
        msg = obj.get("message")
        if not isinstance(msg, dict):
            raise ValueError("no message")
        if msg.get("out"):
            return None
        try:
            peer = int(msg["peer_id"])
        except (KeyError, TypeError, ValueError, OverflowError):  # unreadable (1e400 → null): a dialog's peer
            peer = int(msg["from_id"])                             # is its resident
        if peer >= CHAT_PEER_MIN:  # a multi-user chat (беседа): its talk is not an appeal, and nothing is posted
            log.info("VK: message in multi-user chat %s not taken", peer)
            return None
        local_id = msg.get("conversation_message_id") or msg.get("id")
        if not local_id:
            raise ValueError("no message id")
        reply_to = None
        quoted = msg.get("reply_message")
        if isinstance(quoted, dict) and (quoted.get("conversation_message_id") or quoted.get("id")):
            reply_to = f"msg:{peer}:{quoted.get('conversation_message_id') or quoted.get('id')}"
        command, arg = parse_command(msg.get("text") or "")
        start_code = None
        if msg.get("ref"):  # vk.me/<group>?ref=<code>: the participants' QR codes
            start_code = str(msg["ref"])
        elif _button_command(msg.get("payload")) == "start":  # the «Начать» button
            command = command or "start"
        elif _button_command(msg.get("payload")) == BUTTON_COMMAND:  # «Проблема решена?» Да / Нет, 1-5
            command, arg = "callback", _button_arg(msg.get("payload"))
        address = {"type": "message", "peer_id": peer}
        if msg.get("id"):
            address["message_id"] = int(msg["id"])
        message = self._base(msg, group_id, payload, external_id=f"msg:{peer}:{local_id}", kind="direct",
                             thread_key=f"vk:dm:{peer}", reply_to=reply_to, reply_address=address,
                             command=command if not start_code else None,
                             command_arg=arg if not start_code else None, start_code=start_code)
        texts, files = _quoted(msg, group_id)
        message.text = content.join_text(message.text, *texts)
        message.attachments = _geo(msg.get("geo")) + message.attachments + files
        return message

    def _message_edit(self, obj: dict, group_id: Any, payload: dict) -> IncomingMessage | None:
        """A resident edited a dialog message: `object` is the message itself (with `update_time`). Stored as an
        edit of `msg:<peer>:<id>`; the same edit delivered again gives the same id."""
        msg = obj.get("message") if isinstance(obj.get("message"), dict) else obj
        message = self._message_new({"message": msg}, group_id, payload)
        if message is None:
            return None
        original = message.external_id
        mark = msg.get("update_time") if isinstance(msg.get("update_time"), int) else _edit_mark(msg)
        message.edit_of, message.external_id = original, f"{original}:edit:{mark}"
        message.command = message.command_arg = message.start_code = None  # an edit is never a command
        message.sent_at = _utc(msg.get("update_time")) or message.sent_at
        return message

    def _wall_comment(self, obj: dict, group_id: Any, payload: dict, edit: bool = False) -> IncomingMessage | None:
        if self._is_ours(obj, group_id):
            return None
        owner, post, cid = int(obj.get("post_owner_id") or obj["owner_id"]), int(obj["post_id"]), int(obj["id"])
        ext = f"wall:{owner}_{post}_{cid}"
        permalink = f"https://vk.com/wall{owner}_{post}?reply={cid}"
        thread = obj.get("parents_stack") or []
        if thread:
            permalink += f"&thread={int(thread[0])}"
        reply_to = f"wall:{owner}_{post}_{int(obj['reply_to_comment'])}" if obj.get("reply_to_comment") else None
        message = self._base(obj, group_id, payload, external_id=ext, kind="comment",
                             thread_key=f"vk:wall:{owner}_{post}", reply_to=reply_to, permalink=permalink,
                             reply_address={"type": "wall", "owner_id": owner, "post_id": post, "comment_id": cid})
        if owner < 0:  # a post of a community's wall: the comment names it by id only (no text, no date)
            message.post = IncomingPost(network=NETWORK, external_id=str(post), account_ref=str(-owner),
                                        permalink=f"https://vk.com/wall{owner}_{post}")
        if edit:
            message.edit_of = ext
            message.external_id = f"{ext}:edit:{_edit_mark(obj)}"
        return message

    def _wall_edit(self, obj: dict, group_id: Any, payload: dict) -> IncomingMessage | None:
        return self._wall_comment(obj, group_id, payload, edit=True)

    def _board_comment(self, obj: dict, group_id: Any, payload: dict) -> IncomingMessage | None:
        if self._is_ours(obj, group_id):
            return None
        owner, topic, cid = int(obj["topic_owner_id"]), int(obj["topic_id"]), int(obj["id"])
        return self._base(obj, group_id, payload, external_id=f"board:{owner}_{topic}_{cid}", kind="comment",
                          thread_key=f"vk:board:{owner}_{topic}",
                          permalink=f"https://vk.com/topic{owner}_{topic}?post={cid}",
                          reply_address={"type": "board", "owner_id": owner, "topic_id": topic, "comment_id": cid})

    def _photo_comment(self, obj: dict, group_id: Any, payload: dict) -> IncomingMessage | None:
        if self._is_ours(obj, group_id):
            return None
        owner, photo, cid = int(obj["photo_owner_id"]), int(obj["photo_id"]), int(obj["id"])
        return self._base(obj, group_id, payload, external_id=f"photo:{owner}_{photo}_{cid}", kind="comment",
                          thread_key=f"vk:photo:{owner}_{photo}",
                          permalink=f"https://vk.com/photo{owner}_{photo}",
                          reply_address={"type": "photo", "owner_id": owner, "photo_id": photo, "comment_id": cid})

    # --- outgoing --------------------------------------------------------------------------------
    @staticmethod
    def split(text: str) -> list[str]:
        """A long reply as several messages (messages.send refuses more than 4096 characters, error 914): the
        outbox sends them one by one, each with its own random_id / guid."""
        from app.channels.telegram import split_text

        return split_text(text, MAX_TEXT)

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        # VK shows message and comment text as typed: no Markdown/HTML is parsed, so replies are plain text.
        address = reply.address or {}
        kind = address.get("type")
        if kind == "message":
            if int(address["peer_id"]) >= CHAT_PEER_MIN:
                raise ChannelError("ВКонтакте: в беседу не отвечаем, только в личные сообщения", permanent=True)
            params = {"peer_id": address["peer_id"], "random_id": random_id(reply.idempotency_key),
                      "message": reply.text}
            if reply.buttons:
                params["keyboard"] = keyboard(reply.buttons)
            if address.get("message_id") and reply.part == 0:
                params["reply_to"] = address["message_id"]
            result = self._call("messages.send", params, config)
            if isinstance(result, list) and result and isinstance(result[0], dict):  # the peer_ids form
                result = result[0].get("message_id") or result[0].get("conversation_message_id")
            return SendResult(external_id=str(result))
        if kind == "wall":
            owner = int(address["owner_id"])
            group = abs(owner) if owner < 0 else abs(int(config.get("VK_GROUP_ID") or 0))
            params = {"owner_id": owner, "post_id": address["post_id"], "message": reply.text,
                      "reply_to_comment": address.get("comment_id"), "guid": reply.idempotency_key}
            if group:
                params["from_group"] = group
            result = self._call("wall.createComment", params, config)
            cid = result.get("comment_id") if isinstance(result, dict) else result
            return SendResult(external_id=str(cid))
        if kind in ("board", "photo"):
            where = "в обсуждении" if kind == "board" else "под фотографией"
            raise ChannelError(f"ВКонтакте не позволяет сообществу отвечать {where} через API: "
                               "board.createComment и photos.createComment принимают только ключ пользователя. "
                               "Ответьте жителю вручную по ссылке на комментарий.", permanent=True)
        raise ChannelError("ВКонтакте: неизвестный адрес ответа (нет peer_id или записи)", permanent=True)

    # --- names -----------------------------------------------------------------------------------
    def names(self, ids: list[int], config: dict) -> dict[int, str | None]:
        """Names of VK authors: users (positive ids, `users.get`) and communities (negative ids,
        `groups.getById`), at most 1,000 users / 500 communities per call. Returns id → «Имя Фамилия», or None for a
        deleted or blocked page and an id VK does not return (shown as «id<N>»). Raises ChannelError."""
        out: dict[int, str | None] = {i: None for i in ids}
        users = sorted({i for i in ids if i > 0})
        groups = sorted({-i for i in ids if i < 0})
        for start in range(0, len(users), NAMES_BATCH):
            chunk = users[start:start + NAMES_BATCH]
            found = self._call("users.get", {"user_ids": ",".join(map(str, chunk))}, config)
            for user in found if isinstance(found, list) else []:
                if isinstance(user, dict) and user.get("id") in out and not user.get("deactivated"):
                    out[user["id"]] = _person_name(user.get("first_name"), user.get("last_name"))
        for start in range(0, len(groups), GROUPS_BATCH):
            chunk = groups[start:start + GROUPS_BATCH]
            found = self._call("groups.getById", {"group_ids": ",".join(map(str, chunk))}, config)
            found = found.get("groups") if isinstance(found, dict) else found  # 5.194+: {"groups", "profiles"}
            for group in found if isinstance(found, list) else []:
                if isinstance(group, dict) and isinstance(group.get("id"), int) and -group["id"] in out \
                        and not group.get("deactivated"):
                    out[-group["id"]] = _person_name(group.get("name"), None)
        return out

    @staticmethod
    def _call(method: str, params: dict, config: dict) -> Any:
        url = f"{str(config.get('VK_API_URL') or 'https://api.vk.com/method').rstrip('/')}/{method}"
        data = {k: str(v) for k, v in params.items() if v is not None}
        data.update(access_token=config.get("VK_ACCESS_TOKEN") or "", v=API_VERSION)
        try:
            resp = http.post(url, data=data, timeout=float(config.get("HTTP_TIMEOUT") or 10))
        except httpx.HTTPError as exc:
            raise ChannelError(f"ВКонтакте недоступен: {exc.__class__.__name__}: {exc}") from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise ChannelError(f"ВКонтакте ответил HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError as exc:
            raise ChannelError(f"ВКонтакте ответил не JSON (HTTP {resp.status_code})") from exc
        if not isinstance(body, dict):
            raise ChannelError("ВКонтакте ответил неожиданным JSON")
        if "error" in body:
            raise _error(body["error"])
        if "response" not in body:
            raise ChannelError("ВКонтакте ответил без поля response")
        return body["response"]


# wall_post_new's `post_type`: only "post" is published. "suggest" is a post a resident proposed (not on the
# wall until an admin publishes it, which brings wall_post_new again as "post"), "postponed" is scheduled.
PUBLISHED = {"post", "reply", "copy", None}


def _count(obj: Any) -> int | None:
    """VK's `{"count": N}` metric; None when the payload does not carry it."""
    value = obj.get("count") if isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def wall_post(obj: dict, group_id: Any) -> IncomingPost | None:
    """wall_post_new's object (a wall post: id, owner_id, from_id, date, text, attachments, post_type, views,
    likes, comments, reposts, copy_history) → the community's publication. A repost made by the community is
    its post (its own text, and the reposted post's text when it adds none). Suggested and scheduled posts are
    not published yet: None. `wall_repost` (someone reposted the community's post to their own wall) is not
    a post of the community and is not taken."""
    post_type = obj.get("post_type") if isinstance(obj.get("post_type"), str) else None
    if post_type not in PUBLISHED:
        log.info("VK: wall post of type %s not taken (not published)", post_type)
        return None
    post_id = int(obj["id"])
    owner = int(obj.get("owner_id") or -abs(int(group_id)))
    if owner >= 0:
        return None  # a post on a person's wall: not a community's publication
    author = obj.get("from_id")
    if isinstance(author, int) and author != owner:
        log.info("VK: wall post %s_%s written by %s, not by the community: not taken", owner, post_id, author)
        return None  # a resident's post on an open wall is not the participant's publication
    text = obj.get("text") or ""
    if not isinstance(text, str):
        raise ValueError("text is not a string")
    media = [a for a in obj.get("attachments") or [] if isinstance(a, dict)]
    for copied in obj.get("copy_history") or []:
        if isinstance(copied, dict):
            media += [a for a in copied.get("attachments") or [] if isinstance(a, dict)]
            if not text.strip() and isinstance(copied.get("text"), str):
                text = copied["text"]
    edited = _utc(obj.get("edited")) if obj.get("edited") else None
    return IncomingPost(
        network=NETWORK, external_id=str(post_id), account_ref=str(-owner), published_at=_utc(obj.get("date")),
        edited_at=edited, text=text, permalink=f"https://vk.com/wall{owner}_{post_id}",
        media_count=sum(1 for a in media if a.get("type") not in ("link", None)),
        views=_count(obj.get("views")), reactions=_count(obj.get("likes")), comments=_count(obj.get("comments")),
        reposts=_count(obj.get("reposts")))


NAMES_BATCH = 1000  # users.get: user_ids "maximum 1000"
GROUPS_BATCH = 500  # groups.getById: group_ids "maximum 500"
DELETED_NAMES = {"DELETED"}  # VK's placeholder name of a deleted page (also flagged `deactivated`)


def _person_name(first: Any, last: Any) -> str | None:
    parts = [p.strip() for p in (first, last) if isinstance(p, str) and p.strip()]
    name = " ".join(parts)[:200]
    return name if name and not (set(parts) & DELETED_NAMES) else None


def _error(err: Any) -> ChannelError:
    err = err if isinstance(err, dict) else {}
    try:
        code = int(err.get("error_code"))
    except (TypeError, ValueError):
        code = 0
    msg = str(err.get("error_msg") or "")
    if code in RATE_LIMITED:
        return ChannelError(f"ВКонтакте просит подождать (ошибка {code}: {msg})", retry_after=RATE_LIMITED[code])
    reason, permanent = ERRORS.get(code, ("ошибка ВКонтакте", False))
    return ChannelError(f"ВКонтакте: {reason} (ошибка {code}: {msg})", permanent=permanent)


def _edit_mark(obj: dict) -> str:
    """Edits of one comment differ by their text; the same edit delivered again gives the same id."""
    basis = json.dumps([obj.get("text") or "", obj.get("attachments") or []], sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(basis.encode()).hexdigest()[:12]


BUTTON_COMMAND = "verdict"  # our inline buttons: payload {"command": "verdict", "arg": "<button payload>"}
LABEL_LIMIT = 40  # VK: a button label is at most 40 characters


def keyboard(rows: list[list[tuple[str, str]]]) -> str:
    """An inline keyboard of text buttons for messages.send: pressing one sends its label as the resident's
    message, with our payload attached (message_new `payload`)."""
    buttons = [[{"action": {"type": "text", "label": label[:LABEL_LIMIT],
                            "payload": json.dumps({"command": BUTTON_COMMAND, "arg": data}, ensure_ascii=False)},
                 "color": "secondary"} for label, data in row] for row in rows]
    return json.dumps({"inline": True, "buttons": buttons}, ensure_ascii=False)


def _button_arg(payload: Any) -> str | None:
    try:
        data = json.loads(payload)
    except (TypeError, ValueError):
        return None
    arg = data.get("arg") if isinstance(data, dict) else None
    return arg[:200] if isinstance(arg, str) else None


def _button_command(payload: Any) -> str | None:
    """Keyboard buttons send a JSON string payload; «Начать» sends {"command": "start"}."""
    if not isinstance(payload, str):
        return None
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    return data.get("command") if isinstance(data, dict) and isinstance(data.get("command"), str) else None
