"""Одноклассники (OK): messages to a participant's group through the Bot API for groups, and comments under
the group's posts (topics) through the REST API, which has no webhook for them.

Group messages (apiok.ru «Bot API для групп», graph.user.subscribe / graph.user.messages):
- The group's admin issues a group token (Настройки → Сообщения → «Работа с API»): OK_ACCESS_TOKEN. The app
  subscribes with `POST {OK_API_URL}/graph/me/subscribe?access_token=…` `{"url": <webhook>}`.
- OK POSTs every chat event as JSON: `{webhookType: MESSAGE_CREATED | MESSAGE_CALLBACK | CHAT_SYSTEM,
  sender: {user_id: "user:…", name}, recipient: {chat_id: "chat:…"}, message: {mid: "mid:…", seq, text,
  attachments?, reply_to?}, timestamp (ms)}` (older documentation examples carry no `webhookType`; such a
  payload with sender/recipient/message is a MESSAGE_CREATED). Messages written by the group itself are
  not sent back. OK wants HTTP 200 within 5 s, re-sends otherwise, and drops a webhook silent for 8 hours.
- OK signs nothing and has no secret field or header. The webhook must therefore be subscribed with a secret
  of ours in its address: `https://<host>/hooks/ok?secret=<OK_WEBHOOK_SECRET>&group=<group id>`. `verify()`
  compares it in constant time; it reads it from the header X-Ok-Webhook-Secret when a proxy or the view
  provides it (nginx: `proxy_set_header X-Ok-Webhook-Secret $arg_secret;`), otherwise from the query string
  of the request being handled (Flask's `request.args`: the webhook view passes only headers and the JSON).
  `group` (or config OK_GROUP_ID) names the participant's group: `account_ref`, i.e. Account.external_id.
  OK also documents its source networks (217.20.145.192/28, 217.20.151.160/28, 217.20.153.48/28), which a
  proxy can enforce in addition.
- Each resident's conversation with the group is its own chat: a `direct` message, thread `ok:<chat_id>`.
  Ids keep OK's prefixes (`chat:`, `mid:`) except the resident's, which is the bare number so that the same
  person is the same Resident in messages and in REST comments.
- MESSAGE_CALLBACK (an inline CALLBACK button) → `command="callback"`, `command_arg` = the button payload.
  CHAT_SYSTEM and anything else → 200, nothing stored. OK has no edit event for group messages.
- Replies: `POST {OK_API_URL}/graph/me/messages/<chat_id>?access_token=…`
  `{"recipient": {"chat_id"}, "message": {"text", "reply_to": <mid>}}` → `{"chat_id", "message_id"}`.
  HTTP 429 → retry after Retry-After; `error_code` bodies are mapped below (flood control → retry, token and
  permission errors → permanent); 5xx and network errors → retried.

Posts: the group Bot API's webhook has no event for the group's own publications (topics), so OK posts are known
from collection and from the comments polled under them (a comment carries its topic as IncomingMessage.post).

Comments under group posts: the Bot API covers chats only, and OK offers no webhook or callback for
comments. `poll_comments()` reads them with the REST method `discussions.getComments` (signed with
OK_APPLICATION_KEY / OK_APPLICATION_SECRET_KEY and a token allowed to read the group) and turns each into an
IncomingMessage for `intake.accept()`; its unique external id makes re-polling harmless. OK has no
documented method for a group to answer a comment, so replies to comments fail permanently with
«ответьте вручную» and the link to the post, which the ticket page shows.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import quote

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
    header,
    parse_command,
    secret_matches,
)

log = logging.getLogger(__name__)

NETWORK = "ok"
SECRET_PARAM = "secret"
GROUP_PARAM = "group"
SECRET_HEADER = "X-Ok-Webhook-Secret"

ATTACHMENT_KINDS = {"IMAGE": "photo", "FILE": "document", "VIDEO": "video", "AUDIO": "audio", "STICKER": "sticker"}

# OK API error codes → (Russian reason, permanent?). Codes not listed are treated as temporary.
ERRORS: dict[int, tuple[str, bool]] = {
    1: ("неизвестная ошибка Одноклассников", False),
    2: ("сервис Одноклассников временно недоступен", False),
    3: ("метод API не найден", True),
    4: ("неверный запрос", True),
    7: ("действие заблокировано", True),
    9: ("запросы с этого адреса заблокированы", True),
    10: ("нет прав на это действие: житель запретил сообщения от группы или бот отключён", True),
    100: ("неверный параметр запроса", True),
    102: ("ключ доступа группы истёк", True),
    103: ("ключ доступа группы недействителен", True),
    104: ("неверная подпись запроса", True),
    300: ("чат или запись не найдены", True),
}
RATE_LIMITED = {8: 1.0, 11: 60.0}  # FLOOD_BLOCKED | LIMIT_REACHED


# --- helpers ---------------------------------------------------------------------------------------


def _query(name: str) -> str | None:
    """A query parameter of the request being handled (the webhook view runs in a request context)."""
    from flask import has_request_context, request

    return request.args.get(name) if has_request_context() else None


def _group_ref(config: dict) -> str | None:
    group = str(_query(GROUP_PARAM) or config.get("OK_GROUP_ID") or "").strip()
    return group or None


def _utc_ms(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ts) / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _str(obj: dict, key: str) -> str:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"no {key}")
    return value.strip()


def _dict(obj: Any, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, dict):
        raise ValueError(f"no {key} object")
    return value


def user_number(user_id: str) -> str:
    """`user:123456789012` → `123456789012` (REST returns bare uids; one person, one Resident)."""
    return user_id.split(":", 1)[1] if user_id.lower().startswith("user:") else user_id


def _attachments(items: Any) -> list[Attachment]:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            continue
        kind = item["type"].upper()
        if kind == "INLINE_KEYBOARD":
            continue
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        ref = payload.get("id") or payload.get("token") or payload.get("url") or kind.lower()
        url = payload.get("url") or None
        if kind in ATTACHMENT_KINDS:
            out.append(Attachment(kind=ATTACHMENT_KINDS[kind], file_id=str(ref), url=url,
                                  name=payload.get("name") or None))
        elif kind == "SHARE":  # a shared link
            out.append(Attachment(kind="link", file_id=str(ref)[:200], url=url,
                                  name=payload.get("title") or payload.get("name") or None,
                                  text=payload.get("description") or None))
        elif kind == "LOCATION":  # not in OK's published examples; taken when it comes like MAX's
            source = payload if "latitude" in payload else item
            place = content.location(source.get("latitude"), source.get("longitude"))
            out.extend([place] if place else [])
        elif kind == "CONTACT":
            card = content.contact(payload.get("name"), payload.get("phone"))
            out.extend([card] if card else [])
        else:  # MUSIC, PRESENT…
            out.append(Attachment(kind="other", file_id=str(ref), name=kind.lower(), url=url))
    return out




def _error(code: Any, msg: Any, status: int | None = None) -> ChannelError:
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = 0
    where = f"HTTP {status}, " if status and status != 200 else ""
    detail = f"({where}ошибка {code}: {msg or ''})".replace(": )", ")")
    if code in RATE_LIMITED:
        return ChannelError(f"Одноклассники просят подождать {detail}", retry_after=RATE_LIMITED[code])
    reason, permanent = ERRORS.get(code, ("ошибка Одноклассников", False))
    return ChannelError(f"Одноклассники: {reason} {detail}", permanent=permanent)


def _retry_after(resp: httpx.Response, default: float = 1.0) -> float:
    try:
        return max(float(resp.headers.get("Retry-After") or default), default)
    except ValueError:
        return default


class OkAdapter:
    network = NETWORK

    # --- incoming --------------------------------------------------------------------------------
    def is_enabled(self, config: dict) -> bool:
        return bool(config.get("OK_ACCESS_TOKEN"))

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        """Our secret from the webhook address (`?secret=`), or from X-Ok-Webhook-Secret set by a proxy."""
        secret = config.get("OK_WEBHOOK_SECRET")
        if not secret:
            return False  # OK signs nothing: without our secret anyone could post events
        return secret_matches(header(headers, SECRET_HEADER) or _query(SECRET_PARAM), secret)

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        if not isinstance(payload, dict):
            raise BadPayload("OK: not a JSON object")
        kind = payload.get("webhookType")
        if kind is None and all(isinstance(payload.get(k), dict) for k in ("sender", "recipient", "message")):
            kind = "MESSAGE_CREATED"  # the documentation's examples carry no webhookType
        if not isinstance(kind, str) or not kind:
            raise BadPayload("OK: no webhookType")
        parser = {"MESSAGE_CREATED": self._message_created, "MESSAGE_CALLBACK": self._callback}.get(kind)
        if parser is None:
            log.info("OK webhook %s not handled: answered 200", kind)
            return ParsedRequest()  # CHAT_SYSTEM (chat opened, title changed, member joined…): 200, nothing
        try:
            message = parser(payload, _group_ref(config))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadPayload(f"OK: malformed {kind} ({exc.__class__.__name__}: {exc})") from exc
        return ParsedRequest(messages=[message] if message else [])

    def _message_created(self, payload: dict, group: str | None) -> IncomingMessage:
        sender, recipient, msg = _dict(payload, "sender"), _dict(payload, "recipient"), _dict(payload, "message")
        user_id, chat_id, mid = user_number(_str(sender, "user_id")), _str(recipient, "chat_id"), _str(msg, "mid")
        text = msg.get("text") or ""
        if not isinstance(text, str):
            raise ValueError("message.text is not a string")
        items = msg.get("attachments")
        if items is None and isinstance(msg.get("attachment"), dict):
            items = [msg["attachment"]]
        command, arg = parse_command(text)
        reply_to = msg.get("reply_to") if isinstance(msg.get("reply_to"), str) and msg.get("reply_to") else None
        return IncomingMessage(
            network=NETWORK, external_id=mid, kind="direct", author_id=user_id,
            author_name=str(sender.get("name") or "").strip(), text=text, account_ref=group,
            thread_key=f"ok:{chat_id}", reply_to=reply_to, attachments=_attachments(items),
            sent_at=_utc_ms(payload.get("timestamp")), reply_address={"chat_id": chat_id, "mid": mid}, raw=payload,
            start_code=arg if command == "start" and arg else None,
            command=command if command and not (command == "start" and arg) else None,
            command_arg=arg if command == "status" else None)

    def _callback(self, payload: dict, group: str | None) -> IncomingMessage:
        callback_id = payload.get("callbackId") or payload.get("callback_id")
        if not isinstance(callback_id, str) or not callback_id:
            raise ValueError("no callbackId")
        sender, recipient = _dict(payload, "sender"), _dict(payload, "recipient")
        user_id, chat_id = user_number(_str(sender, "user_id")), _str(recipient, "chat_id")
        data = payload.get("payload")
        data = data if isinstance(data, str) else (json.dumps(data, ensure_ascii=False) if data is not None else "")
        address = {"chat_id": chat_id, "callback_id": callback_id}
        msg = payload.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("mid"), str):
            address["mid"] = msg["mid"]
        return IncomingMessage(
            network=NETWORK, external_id=f"callback:{callback_id}", kind="direct", author_id=user_id,
            author_name=str(sender.get("name") or "").strip(), text=data, account_ref=group,
            thread_key=f"ok:{chat_id}", sent_at=_utc_ms(payload.get("timestamp")), reply_address=address,
            raw=payload, command="callback", command_arg=data or None)

    # --- outgoing --------------------------------------------------------------------------------
    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        address = reply.address or {}
        if address.get("type") == "comment":
            link = address.get("permalink") or ""
            raise ChannelError("Одноклассники не дают группе отвечать на комментарии через API. "
                               f"Ответьте жителю вручную под записью{': ' + link if link else ''}.", permanent=True)
        chat_id = address.get("chat_id")
        if not isinstance(chat_id, str) or not chat_id:
            raise ChannelError("Одноклассники: неизвестный адрес ответа (нет chat_id)", permanent=True)
        message: dict[str, Any] = {"text": reply.text}
        if address.get("mid"):
            message["reply_to"] = address["mid"]
        if reply.buttons:
            rows = [[{"type": "CALLBACK", "text": label, "intent": "DEFAULT", "payload": data} for label, data in row]
                    for row in reply.buttons]
            message["attachments"] = [{"type": "INLINE_KEYBOARD", "payload": {"keyboard": {"buttons": rows}}}]
        base = str(config.get("OK_API_URL") or "https://api.ok.ru").rstrip("/")
        try:
            resp = http.post(f"{base}/graph/me/messages/{quote(chat_id, safe=':')}",
                              params={"access_token": str(config.get("OK_ACCESS_TOKEN") or "")},
                              json={"recipient": {"chat_id": chat_id}, "message": message},
                              headers={"Content-Type": "application/json;charset=utf-8"},
                              timeout=float(config.get("HTTP_TIMEOUT") or 10))
        except httpx.HTTPError as exc:
            raise ChannelError(f"Одноклассники недоступны: {exc.__class__.__name__}: {exc}") from exc
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 429:
            raise ChannelError(f"Одноклассники просят подождать (HTTP 429{_detail(body)})",
                               retry_after=_retry_after(resp))
        if isinstance(body, dict) and body.get("error_code") is not None:
            raise _error(body.get("error_code"), body.get("error_msg"), resp.status_code)
        if resp.status_code >= 500:
            raise ChannelError(f"Одноклассники ответили HTTP {resp.status_code}")
        if 400 <= resp.status_code < 500:
            raise ChannelError(f"Одноклассники отклонили сообщение (HTTP {resp.status_code}{_detail(body)})",
                               permanent=True)
        if not isinstance(body, dict):
            raise ChannelError(f"Одноклассники ответили не JSON (HTTP {resp.status_code})")
        if body.get("success") is False:
            raise ChannelError(f"Одноклассники не приняли сообщение{_detail(body)}")
        return SendResult(external_id=str(body.get("message_id") or body.get("mid") or ""))


def _detail(body: Any) -> str:
    if isinstance(body, dict) and (body.get("error_msg") or body.get("error")):
        return f": {body.get('error_msg') or body.get('error')}"
    return ""


# --- comments under group posts: REST polling -----------------------------------------------------
def rest_signature(params: dict[str, Any], access_token: str, application_secret_key: str) -> str:
    """OK REST `sig`: md5 of the sorted `key=value` pairs (without access_token/sig) followed by
    md5(access_token + application_secret_key), lower-case hex."""
    secret = hashlib.md5(f"{access_token}{application_secret_key}".encode()).hexdigest()
    base = "".join(f"{k}={params[k]}" for k in sorted(params) if k not in ("sig", "access_token", "session_key"))
    return hashlib.md5(f"{base}{secret}".encode()).hexdigest()


def rest_call(method: str, params: dict[str, Any], config: dict) -> Any:
    """Call an OK REST method through `{OK_API_URL}/fb.do`, signed. Raises ChannelError."""
    token = str(config.get("OK_REST_ACCESS_TOKEN") or config.get("OK_ACCESS_TOKEN") or "")
    query = {k: str(v) for k, v in params.items() if v is not None}
    query.update(method=method, format="json", application_key=str(config.get("OK_APPLICATION_KEY") or ""))
    query["sig"] = rest_signature(query, token, str(config.get("OK_APPLICATION_SECRET_KEY") or ""))
    query["access_token"] = token
    base = str(config.get("OK_API_URL") or "https://api.ok.ru").rstrip("/")
    try:
        resp = http.post(f"{base}/fb.do", data=query, timeout=float(config.get("HTTP_TIMEOUT") or 10))
    except httpx.HTTPError as exc:
        raise ChannelError(f"Одноклассники недоступны: {exc.__class__.__name__}: {exc}") from exc
    if resp.status_code == 429 or resp.status_code >= 500:
        raise ChannelError(f"Одноклассники ответили HTTP {resp.status_code}",
                           retry_after=_retry_after(resp) if resp.status_code == 429 else None)
    try:
        body = resp.json()
    except ValueError as exc:
        raise ChannelError(f"Одноклассники ответили не JSON (HTTP {resp.status_code})") from exc
    if isinstance(body, dict) and body.get("error_code") is not None:
        raise _error(body.get("error_code"), body.get("error_msg"), resp.status_code)
    return body


def _comment_time(comment: dict) -> datetime | None:
    """`date_ms` when present; else `date` ("YYYY-MM-DD HH:MM:SS", no zone given: read as UTC)."""
    if comment.get("date_ms") is not None:
        return _utc_ms(comment["date_ms"])
    try:
        return datetime.strptime(str(comment.get("date")), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def comment_message(comment: dict, topic_id: str, group_id: str | None) -> IncomingMessage | None:
    """One comment from discussions.getComments → an IncomingMessage (None: the group's own comment)."""
    cid, author = _str(comment, "id"), _str(comment, "author_id")
    if group_id and author == str(group_id):
        return None  # written by the group (an admin's answer)
    text = comment.get("text") or ""
    if not isinstance(text, str):
        raise ValueError("comment text is not a string")
    parent = comment.get("reply_to_comment_id") or comment.get("reply_to_id")
    permalink = f"https://ok.ru/group/{group_id}/topic/{topic_id}" if group_id else None
    return IncomingMessage(
        network=NETWORK, external_id=f"comment:{topic_id}:{cid}", kind="comment", author_id=author,
        author_name=str(comment.get("author_name") or "").strip(), text=text, account_ref=group_id,
        thread_key=f"ok:topic:{topic_id}", reply_to=f"comment:{topic_id}:{parent}" if parent else None,
        permalink=permalink, attachments=_attachments(comment.get("attachments")), sent_at=_comment_time(comment),
        reply_address={"type": "comment", "topic_id": topic_id, "comment_id": cid, "group_id": group_id,
                       "permalink": permalink},
        raw={"discussionId": topic_id, "discussionType": "GROUP_TOPIC", "comment": comment},
        # The group's post (topic) the comment is under: OK's webhook has no post events, so the post is known
        # from its comments (and from collection); its text comes with collection.
        post=IncomingPost(network=NETWORK, external_id=topic_id, account_ref=group_id, permalink=permalink)
        if group_id else None)


def poll_comments(config: dict, topic_ids: Iterable[str | int], group_id: str | int | None = None,
                  count: int = 100, max_pages: int = 20) -> list[IncomingMessage]:
    """Fetch the comments under the group's posts `topic_ids` and return them as IncomingMessages.

    OK has no push for comments, so a periodic job calls this for the group's recent topics and passes the
    result to `intake.accept()` (a comment seen before is skipped by its unique external id, so polling the
    same topic again is safe). `group_id` (default: config OK_GROUP_ID) is the Account.external_id of the
    group; comments written by the group itself are left out. Raises ChannelError when OK refuses
    (rate limit → `retry_after`, bad signature or token → `permanent`). Edited comments are not detected:
    polling sees only their current text, under the same id.
    """
    group = str(group_id if group_id is not None else (config.get("OK_GROUP_ID") or "")).strip() or None
    out: list[IncomingMessage] = []
    for topic in topic_ids:
        topic = str(topic)
        anchor = None
        for _ in range(max_pages):
            body = rest_call("discussions.getComments", {"discussionId": topic, "discussionType": "GROUP_TOPIC",
                                                         "count": count, "anchor": anchor, "direction": "FORWARD"},
                             config)
            comments = body.get("comments") if isinstance(body, dict) else None
            for comment in comments if isinstance(comments, list) else []:
                if not isinstance(comment, dict):
                    continue
                try:
                    message = comment_message(comment, topic, group)
                except ValueError:
                    continue  # a comment without id/author (deleted): nothing to answer
                if message is not None:
                    out.append(message)
            anchor = body.get("anchor") if isinstance(body, dict) else None
            if not (isinstance(body, dict) and body.get("has_more") and anchor):
                break
    return out
