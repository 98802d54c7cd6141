"""MAX (мессенджер MAX) through the Bot API: residents write to the city bot in a dialog, or in the
participants' group chats and channels the bot was added to.

Webhook: the bot subscribes with `POST /subscriptions {"url", "update_types", "secret"}`; MAX then sends
every update as a JSON POST with the header `X-Max-Bot-Api-Secret: <secret>`. We require that secret
(MAX_WEBHOOK_SECRET) and compare it in constant time; without a configured secret nothing is accepted.

Updates (shapes from the Bot API docs / maxapi 1.2.3, see /work/shared/STACK-NOTES.md §5):
- `message_created` `{update_type, timestamp, user_locale?, message: {sender, recipient: {chat_id, chat_type},
  timestamp, body: {mid, seq, text, attachments}, link?, url?}}`. A dialog (`chat_type` "dialog") is a
  `direct` message without an account (the resident wrote to the city bot; a deep link or the keywords route
  it); in a group chat it is a `comment` on that account (`account_ref` = the chat id, which is
  `Account.external_id` of the participant's MAX chat). Thread: `max:<chat_id>`. Posts in a channel
  (`chat_type` "channel") are the participant's own publications — residents cannot post there — and are
  returned as IncomingPosts (`channel_post()`: stored as posts, never appeals; `message_edited` there is an
  edit of the post). Messages from bots (`sender.is_bot`) or without a sender are not stored.
- `message_edited` (same message object, the new text) → an edit of `body.mid`, stored as
  `<mid>:edit:<update timestamp>` so a re-delivered edit is stored once and a later edit again.
- `message_callback` (an inline button, e.g. «Проблема решена?») → `command="callback"`,
  `command_arg` = the button's payload.
- `bot_started` (the resident pressed «Начать», or opened `max.ru/<bot>?start=<payload>`) → a `/start`:
  with a payload it is the deep-link code (`start_code`, e.g. `i12` from a participant's QR code); without
  one intake answers with the bot's help text.
- Every other update type (message_removed, bot_added, user_added, chat_title_changed…) is answered 200 and
  stores nothing.

Replies: `POST {MAX_API_URL}/messages?chat_id=<id>` with `Authorization: <token>` and JSON
`{"text", "link": {"type": "reply", "mid"}}` (answering the resident's message), buttons as an
`inline_keyboard` attachment. MAX takes text shorter than 4000 characters: a longer reply goes as several
messages (`split`), which the outbox sends and records one by one, so a retry never posts a part twice (MAX
has no idempotency key; a part whose fate a crash left unknown is «доставка не подтверждена»); only the first
quotes the resident's message. `fit()` (cut with a visible marker, TRUNCATED) stays as the last guard.
Errors: 429 (2 messages a second per chat) → retry after `Retry-After` (or 1 s); 401/403/404 (token revoked,
bot removed from the chat, resident blocked the bot, chat deleted) and 400 → permanent; 5xx, timeouts and
connection errors → retried with backoff by the outbox.

Comments under channel posts have no update type in the Bot API (`GET /messages/{mid}/comments` exists, but
only for polling by a channel admin bot) and are not handled here.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.channels import content, http
from app.channels.base import (
    PHONE_LIMIT,
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
from app.channels.telegram import split_text

log = logging.getLogger(__name__)

NETWORK = "max"
SECRET_HEADER = "X-Max-Bot-Api-Secret"
TEXT_LIMIT = 4000  # MAX: "text" must be shorter than 4000 characters
TRUNCATED = "\n\n[…] Ответ сокращён: в MAX сообщение не длиннее 4000 знаков."

ATTACHMENT_KINDS = {"image": "photo", "file": "document", "video": "video", "sticker": "sticker"}


# --- helpers ---------------------------------------------------------------------------------------


def _id(value: Any) -> int:
    """MAX ids are integers (chat ids of group chats are negative); JSON may carry them as strings."""
    if isinstance(value, bool):
        raise ValueError("id is a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"not an id: {value!r}")


def _dict(obj: Any, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, dict):
        raise ValueError(f"no {key} object")
    return value


def _utc_ms(ts: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ts) / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _name(user: dict) -> str:
    full = " ".join(str(user.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    return full or str(user.get("name") or user.get("username") or "").strip() or f"id{user.get('user_id')}"


def _vcard(vcf: Any) -> tuple[str | None, str | None]:
    """(name, phone) from a vCard's FN / N and first TEL lines."""
    name = phone = None
    for line in (vcf if isinstance(vcf, str) else "").replace("\r\n", "\n").split("\n"):
        key, _, value = line.partition(":")
        field = key.split(";", 1)[0].strip().upper()
        if field == "FN" and value.strip():
            name = value.strip()
        elif field == "N" and not name and value.strip(";"):
            parts = [p for p in value.split(";")[:2] if p.strip()]
            name = " ".join(reversed(parts)) or None
        elif field == "TEL" and not phone and value.strip():
            phone = value.strip()
    return name, phone


def _attachments(items: Any, sender_id: int | None = None) -> list[Attachment]:
    """MAX attachments → ours: files keep MAX's link (`payload.url`), places their map, contacts their card."""
    out: list[Attachment] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            continue
        kind = item["type"]
        if kind == "inline_keyboard":  # buttons, not content
            continue
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        ref = payload.get("token") or payload.get("photo_id") or payload.get("id") or payload.get("url") \
            or payload.get("code") or kind
        size = item.get("size") if isinstance(item.get("size"), int) else None
        seconds = item.get("duration") if isinstance(item.get("duration"), int) else None
        url = payload.get("url") if isinstance(payload.get("url"), str) and payload.get("url") else None
        if kind == "location":
            place = content.location(item.get("latitude"), item.get("longitude"))
            out.extend([place] if place else [])
        elif kind == "contact":
            info = payload.get("max_info") if isinstance(payload.get("max_info"), dict) else {}
            name, phone = _vcard(payload.get("vcf_info"))
            if info and not name:
                name = _name(info)
            own = sender_id is not None and info.get("user_id") == sender_id
            card = content.contact(name, phone, own=own,
                                   ref=f"contact:{info['user_id']}" if info.get("user_id") else None)
            out.extend([card] if card else [])
        elif kind == "share":
            out.append(Attachment(kind="link", file_id=str(ref)[:200], url=url, name=item.get("title") or None,
                                  text=item.get("description") or None))
        elif kind == "audio":  # a voice message; MAX may add its own transcription
            text = item.get("transcription")
            out.append(Attachment(kind="voice", file_id=str(ref), url=url, size=size, duration=seconds,
                                  text=text.strip() if isinstance(text, str) and text.strip() else None))
        elif kind in ATTACHMENT_KINDS:
            out.append(Attachment(kind=ATTACHMENT_KINDS[kind], file_id=str(ref), url=url,
                                  name=item.get("filename") or None, size=size, duration=seconds))
        else:
            out.append(Attachment(kind="other", file_id=str(ref), name=kind, url=url))
    return out


def fit(text: str, limit: int = TEXT_LIMIT) -> str:
    """The text as MAX accepts it (shorter than `limit`): cut at a word boundary with TRUNCATED appended."""
    if len(text) < limit:
        return text
    room = limit - 1 - len(TRUNCATED)
    cut = text[:room]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space > room - 200:
        cut = cut[:space]
    return cut.rstrip() + TRUNCATED


def _retry_after(resp: httpx.Response, default: float = 1.0) -> float:
    value = (resp.headers.get("Retry-After") or "").strip()
    if not value:
        return default
    try:
        return max(float(value), default)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        return max((when - datetime.now(timezone.utc)).total_seconds(), default)
    except (TypeError, ValueError, IndexError):
        return default


def _error_text(resp: httpx.Response) -> str:
    """MAX errors are `{"code": "chat.denied", "message": "…"}`."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("code", "message") if body.get(k)]
        return ": ".join(parts) or json.dumps(body, ensure_ascii=False)[:200]
    return str(body)[:200]


def _chat_type(payload: dict) -> str | None:
    msg = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    recipient = msg.get("recipient") if isinstance(msg.get("recipient"), dict) else {}
    return recipient.get("chat_type") if isinstance(recipient.get("chat_type"), str) else None


def channel_post(payload: dict, edited: bool = False) -> IncomingPost | None:
    """A message in a channel (`recipient.chat_type` "channel") is the participant's publication: residents
    cannot write there. Its id is `body.mid`, its link the message's `url` (kept only when it is MAX's own,
    by intake's link rule), its media the body's attachments (buttons are not media). MAX gives no views."""
    msg = _dict(payload, "message")
    recipient, body = _dict(msg, "recipient"), _dict(msg, "body")
    mid = body.get("mid")
    if not isinstance(mid, str) or not mid:
        raise ValueError("no body.mid")
    chat_id = _id(recipient["chat_id"])
    text = body.get("text") or ""
    if not isinstance(text, str):
        raise ValueError("body.text is not a string")
    items = body.get("attachments") if isinstance(body.get("attachments"), list) else []
    media = sum(1 for a in items if isinstance(a, dict) and a.get("type") not in ("inline_keyboard", None))
    url = msg.get("url") if isinstance(msg.get("url"), str) and msg.get("url") else None
    published = _utc_ms(msg.get("timestamp") or payload.get("timestamp"))
    return IncomingPost(network=NETWORK, external_id=mid, account_ref=str(chat_id), published_at=published,
                        edited_at=_utc_ms(payload.get("timestamp")) or published if edited else None,
                        text=text, permalink=url, media_count=media)


PERMANENT = {
    400: "MAX отклонил сообщение",
    401: "ключ бота MAX недействителен или отозван",
    403: "бот не может писать в этот чат: бот удалён из чата или житель заблокировал бота",
    404: "чат не найден: он удалён, или бот удалён из него",
}


class MaxAdapter:
    network = NETWORK

    # --- incoming --------------------------------------------------------------------------------
    def is_enabled(self, config: dict) -> bool:
        return bool(config.get("MAX_BOT_TOKEN"))

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        """MAX sends the subscription's secret in X-Max-Bot-Api-Secret; no secret configured → refuse all."""
        return secret_matches(header(headers, SECRET_HEADER), config.get("MAX_WEBHOOK_SECRET"))

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        if not isinstance(payload, dict) or not isinstance(payload.get("update_type"), str) \
                or not payload["update_type"]:
            raise BadPayload("MAX: no update_type")
        kind = payload["update_type"]
        parser = {
            "message_created": self._message_created,
            "message_edited": self._message_edited,
            "message_callback": self._message_callback,
            "bot_started": self._bot_started,
        }.get(kind)
        if parser is None:  # removals, bot added to a chat, users added, title changes…: 200, nothing stored
            log.info("MAX update %s not handled: answered 200", kind)
            return ParsedRequest()
        try:
            if kind in ("message_created", "message_edited") and _chat_type(payload) == "channel":
                post = channel_post(payload, edited=kind == "message_edited")
                return ParsedRequest(posts=[post] if post else [])
            message = parser(payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadPayload(f"MAX: malformed {kind} ({exc.__class__.__name__}: {exc})") from exc
        return ParsedRequest(messages=[message] if message else [])

    def _from_message(self, payload: dict) -> tuple[IncomingMessage | None, str]:
        msg = _dict(payload, "message")
        recipient, body = _dict(msg, "recipient"), _dict(msg, "body")
        mid = body.get("mid")
        if not isinstance(mid, str) or not mid:
            raise ValueError("no body.mid")
        chat_id, chat_type = _id(recipient["chat_id"]), recipient.get("chat_type") or "dialog"
        text = body.get("text") or ""
        if not isinstance(text, str):
            raise ValueError("body.text is not a string")
        if chat_type == "channel" or msg.get("sender") is None:
            return None, mid  # a channel post (on behalf of the channel or by its admin): the participant's own
        sender = _dict(msg, "sender")
        user_id = _id(sender["user_id"])
        if sender.get("is_bot"):
            return None, mid  # our own or another bot's message: not an appeal
        dialog = chat_type == "dialog"
        reply_to = None
        attachments = _attachments(body.get("attachments"), user_id)
        link = msg.get("link")
        if isinstance(link, dict) and isinstance(link.get("message"), dict):
            linked = link["message"]
            if link.get("type") == "reply":
                reply_to = linked.get("mid") or None
            link_sender = link.get("sender") if isinstance(link.get("sender"), dict) else {}
            if not link_sender.get("is_bot"):  # forwarded or quoted: part of the appeal (our own words are not)
                quoted = linked.get("text") if isinstance(linked.get("text"), str) else ""
                text = content.join_text(text, content.forwarded(quoted))
                attachments += _attachments(linked.get("attachments"), None)
        if not text.strip():  # a voice message: MAX's own transcription is its text
            text = next((a.text for a in attachments if a.kind == "voice" and a.text), "")
        url = msg.get("url")
        message = IncomingMessage(
            network=NETWORK, external_id=mid, kind="direct" if dialog else "comment", author_id=str(user_id),
            author_name=_name(sender), text=text, account_ref=None if dialog else str(chat_id),
            thread_key=f"max:{chat_id}", reply_to=reply_to, permalink=url if isinstance(url, str) and url else None,
            attachments=attachments,
            sent_at=_utc_ms(msg.get("timestamp") or payload.get("timestamp")),
            reply_address={"chat_id": chat_id, "mid": mid}, raw=payload, account_required=not dialog)
        own = next((a for a in attachments if a.kind == "contact" and a.own and a.phone), None)
        if own is not None:
            message.contact = {"phone": own.phone[:PHONE_LIMIT]}
        return message, mid

    def _message_created(self, payload: dict) -> IncomingMessage | None:
        message, _ = self._from_message(payload)
        if message is not None:
            command, arg = parse_command(message.text)
            if command == "start" and arg:
                message.start_code = arg
            elif command:
                message.command, message.command_arg = command, arg
        return message

    def _message_edited(self, payload: dict) -> IncomingMessage | None:
        message, mid = self._from_message(payload)
        if message is None:
            return None
        try:
            mark = str(int(payload["timestamp"]))
        except (KeyError, TypeError, ValueError):  # no update time: the same edit gives the same id
            basis = json.dumps([message.text, [a.as_dict() for a in message.attachments]], ensure_ascii=False)
            mark = hashlib.sha1(basis.encode()).hexdigest()[:12]
        message.edit_of = mid
        message.external_id = f"{mid}:edit:{mark}"
        message.sent_at = _utc_ms(payload.get("timestamp")) or message.sent_at
        return message

    def _message_callback(self, payload: dict) -> IncomingMessage:
        callback = _dict(payload, "callback")
        callback_id = callback.get("callback_id")
        if not isinstance(callback_id, str) or not callback_id:
            raise ValueError("no callback.callback_id")
        user = _dict(callback, "user")
        user_id = _id(user["user_id"])
        data = callback.get("payload")
        data = data if isinstance(data, str) else (json.dumps(data, ensure_ascii=False) if data is not None else "")
        address: dict[str, Any] = {"callback_id": callback_id}
        chat_id, account_ref = None, None
        msg = payload.get("message")  # the bot's message that carried the button
        if isinstance(msg, dict) and isinstance(msg.get("recipient"), dict):
            chat_id = _id(msg["recipient"]["chat_id"])
            if (msg["recipient"].get("chat_type") or "dialog") != "dialog":
                account_ref = str(chat_id)
            address["chat_id"] = chat_id
            if isinstance(msg.get("body"), dict) and msg["body"].get("mid"):
                address["mid"] = msg["body"]["mid"]
        else:
            address["user_id"] = user_id
        return IncomingMessage(
            network=NETWORK, external_id=f"callback:{callback_id}", kind="direct", author_id=str(user_id),
            author_name=_name(user), text=data, account_ref=account_ref,
            thread_key=f"max:{chat_id}" if chat_id is not None else f"max:user:{user_id}",
            sent_at=_utc_ms(callback.get("timestamp") or payload.get("timestamp")), reply_address=address,
            raw=payload, command="callback", command_arg=data or None)

    def _bot_started(self, payload: dict) -> IncomingMessage:
        chat_id = _id(payload["chat_id"])
        user = _dict(payload, "user")
        user_id = _id(user["user_id"])
        code = payload.get("payload")
        code = code.strip() if isinstance(code, str) and code.strip() else None
        stamp = payload.get("timestamp")
        if stamp is None:
            raise ValueError("no timestamp")
        return IncomingMessage(
            network=NETWORK, external_id=f"bot_started:{chat_id}:{int(stamp)}", kind="direct",
            author_id=str(user_id), author_name=_name(user), text=f"/start {code}" if code else "/start",
            thread_key=f"max:{chat_id}", sent_at=_utc_ms(stamp), reply_address={"chat_id": chat_id},
            raw=payload, start_code=code, command=None if code else "start")

    # --- outgoing --------------------------------------------------------------------------------
    @staticmethod
    def split(text: str) -> list[str]:
        """A long reply as several messages shorter than 4000 characters: the outbox sends them one by one."""
        return split_text(text, TEXT_LIMIT - 1)

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        address = reply.address or {}
        if address.get("chat_id") is not None:
            params = {"chat_id": str(address["chat_id"])}
        elif address.get("user_id") is not None:
            params = {"user_id": str(address["user_id"])}
        else:
            raise ChannelError("MAX: неизвестный адрес ответа (нет chat_id)", permanent=True)
        body: dict[str, Any] = {"text": fit(reply.text)}
        if address.get("mid") and reply.part == 0:  # the first part quotes the resident's message
            body["link"] = {"type": "reply", "mid": address["mid"]}
        if reply.buttons:
            rows = [[{"type": "callback", "text": label[:64], "payload": data} for label, data in row]
                    for row in reply.buttons]
            body["attachments"] = [{"type": "inline_keyboard", "payload": {"buttons": rows}}]
        url = f"{str(config.get('MAX_API_URL') or 'https://platform-api.max.ru').rstrip('/')}/messages"
        try:
            resp = http.post(url, params=params, json=body,
                              headers={"Authorization": str(config.get("MAX_BOT_TOKEN") or "")},
                              timeout=float(config.get("HTTP_TIMEOUT") or 10))
        except httpx.HTTPError as exc:
            raise ChannelError(f"MAX недоступен: {exc.__class__.__name__}: {exc}") from exc
        if resp.status_code == 429:
            raise ChannelError(f"MAX просит подождать (HTTP 429: {_error_text(resp)})",
                               retry_after=_retry_after(resp))
        if resp.status_code in PERMANENT:
            raise ChannelError(f"MAX: {PERMANENT[resp.status_code]} (HTTP {resp.status_code}: {_error_text(resp)})",
                               permanent=True)
        if resp.status_code >= 300:
            raise ChannelError(f"MAX ответил HTTP {resp.status_code}: {_error_text(resp)}")
        try:
            mid = resp.json()["message"]["body"]["mid"]
        except (ValueError, KeyError, TypeError):
            mid = ""  # MAX took the message (2xx): retrying would post it twice
        return SendResult(external_id=str(mid))
