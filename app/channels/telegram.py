"""Telegram through the Bot API: private chats with the bot and comments under the participants' channel posts.

Incoming: Telegram POSTs one Update per request to the webhook (set with `secret_token`; it sends it back in
`X-Telegram-Bot-Api-Secret-Token`), or `flask telegram poll` fetches them with getUpdates. The update's kind
(its one key besides update_id) is looked at first: only `message`, `edited_message` and `callback_query` are
parsed, with python-telegram-bot's `Message.de_json` / `CallbackQuery.de_json` (no event loop needed), leniently —
a part the library rejects (a newer or older Bot API's field) is read from the payload instead of refusing the
message. `channel_post` / `edited_channel_post` (a participant's channel, the bot its admin) are the participant's
publications: returned as IncomingPosts (`channel_post()`), stored as posts, never appeals. Every other kind
(poll_answer, reactions, membership, kinds added later) is answered 200 and logged.
Content besides text becomes attachments (app/channels/content.py): files, location/venue (the ticket's place),
contact, poll; forwarded text is marked «Переслано: …»; see docs/channels.md.

- A private chat with the bot is a `direct` message.
- Comments under a channel post live in the channel's linked discussion supergroup: every post is copied there
  as an automatic forward (`is_automatic_forward`, `sender_chat` = the channel, `forward_origin` = the post), and a
  comment is an ordinary group message in that copy's thread (`message_thread_id` = the copy's id; a direct
  comment also has `reply_to_message` = the copy). Thread key `tg:<group id>:<thread id>`, so every comment of
  one resident under one post joins one ticket. The account is the channel (from the automatic forward) when
  the comment carries it, else the group; a reply to another comment carries only the group (Bot API: a
  replied-to message never contains its own reply_to_message). Such a reply is taken only inside a thread intake
  already knows (`known_thread_only`): the group's general chat has reply chains too, and they are not appeals.
- A button press (`callback_query`, e.g. «Проблема решена?» Да / Нет, 1-5) is a `callback` command: the
  presser is the author, the chat of the bot's message is where the answer goes, external id `cb:<query id>`.
  The webhook answers with `answerCallbackQuery` in its response body (Telegram allows one method call in a
  webhook's answer), so the button stops spinning; `flask telegram poll` calls answerCallbackQuery itself.
- The automatic forwards themselves, service messages and other update kinds (membership changes…) are not
  appeals: answered 200, nothing stored. A comment carries the post it answers (`IncomingMessage.post`, from the
  automatic forward: the channel, the post's id, text and date), so intake links it to the post.
- An edit is a message of its own (`<chat>:<message>:edit:<edit_date>`) pointing at the original (`edit_of`).

External ids are `<chat id>:<message id>`: Telegram numbers messages per chat, so that pair is unique, and a
re-delivered update (Telegram retries until it gets a 2xx) hits the unique key and is stored once.

Outgoing: `sendMessage` through python-telegram-bot (async) from sync code: one `asyncio.run()` and one fresh
`Bot` per call, closed in the same loop — a Bot reused across event loops fails on its second call with
"Event loop is closed". Telegram has no idempotency key for sendMessage: the outbox sends a long text part by
part (`split`), records each accepted part, and never re-sends a part whose fate a crash left unknown.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import re
import time
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

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
    secret_matches,
)

log = logging.getLogger(__name__)

NETWORK = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_API_URL = "https://api.telegram.org/bot"
# What we ask Telegram for (webhook, polling): residents' messages, button presses, and the posts of the
# participants' channels where the bot is an administrator (content accounting).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "channel_post", "edited_channel_post"]
CALLBACK_DATA_LIMIT = 64  # bytes of callback_data
MAX_TEXT = 4096  # sendMessage's limit, in characters
TELEGRAM_SERVICE_USER = 777000  # "Telegram": the author of automatic forwards into discussion groups

# Group events Telegram delivers as messages: nothing a resident wrote.
SERVICE_FIELDS = frozenset({
    "new_chat_members", "left_chat_member", "new_chat_title", "new_chat_photo", "delete_chat_photo",
    "group_chat_created", "supergroup_chat_created", "channel_chat_created", "message_auto_delete_timer_changed",
    "migrate_to_chat_id", "migrate_from_chat_id", "pinned_message", "forum_topic_created", "forum_topic_edited",
    "forum_topic_closed", "forum_topic_reopened", "general_forum_topic_hidden", "general_forum_topic_unhidden",
    "video_chat_scheduled", "video_chat_started", "video_chat_ended", "video_chat_participants_invited",
    "write_access_allowed", "proximity_alert_triggered", "boost_added", "chat_background_set", "users_shared",
    "chat_shared", "giveaway_created", "giveaway_completed",
})
FILE_LIMIT = 20 * 1024 * 1024  # the Bot API serves files up to 20 MB (getFile)
# The parts of an Update we take; every other kind (channel posts, poll answers, reactions, membership…) is
# answered 200 without being parsed, so a shape the client library does not know cannot refuse it.
HANDLED = ("message", "edited_message", "callback_query")
POSTS = ("channel_post", "edited_channel_post")  # a participant's channel published or edited a post
# Content of a channel post that counts as one piece of media (a post has at most one; an album is several posts).
MEDIA_FIELDS = ("photo", "video", "animation", "document", "audio", "voice", "video_note", "sticker", "poll",
                "paid_media", "location", "venue", "contact")
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@[A-Za-z0-9_]{3,64})?(?:\s+(.*))?$", re.DOTALL)
COMMANDS = ("start", "status", "help")


# --- configuration helpers -----------------------------------------------------------------------
def api_url(config: dict) -> str:
    """TELEGRAM_API_URL in python-telegram-bot's base_url form ("https://api.telegram.org/bot"); the token follows."""
    return str(config.get("TELEGRAM_API_URL") or DEFAULT_API_URL)


def file_url(config: dict) -> str:
    """The matching base_file_url: ".../bot" → ".../file/bot" (file downloads live under /file/bot<token>/)."""
    head, _, last = api_url(config).rstrip("/").rpartition("/")
    return f"{head}/file/{last}" if head else f"{api_url(config)}/file"


def bot_id(config: dict) -> str | None:
    """The bot's own user id: the part of the token before the colon ("123456789:AA…")."""
    token = str(config.get("TELEGRAM_BOT_TOKEN") or "")
    head = token.partition(":")[0]
    return head if head.isascii() and head.isdigit() else None


def _timeout(config: dict) -> float:
    return float(config.get("HTTP_TIMEOUT") or 10)


# --- links ---------------------------------------------------------------------------------------
def _short_id(chat_id: int) -> str:
    """t.me/c/ links use a supergroup's or channel's id without its -100 prefix."""
    s = str(abs(int(chat_id)))
    return s[3:] if s.startswith("100") and len(s) > 3 else s


def post_link(chat_id: int, username: str | None, post_id: int) -> str:
    return f"https://t.me/{username}/{post_id}" if username else f"https://t.me/c/{_short_id(chat_id)}/{post_id}"


# --- parsing helpers -----------------------------------------------------------------------------
def _command(text: str) -> tuple[str | None, str | None]:
    """`/status БЛГ-…`, `/start i12` (deep link t.me/<bot>?start=i12), `/help`; `/cmd@bot arg` too."""
    match = _COMMAND.match(text.strip())
    if not match or match.group(1).lower() not in COMMANDS:
        return None, None
    arg = (match.group(2) or "").strip()
    return match.group(1).lower(), arg or None


def _size_note(size: int | None) -> str | None:
    if size and size > FILE_LIMIT:
        return (f"больше {FILE_LIMIT // (1024 * 1024)} МБ: Telegram Bot API не отдаёт такие файлы, "
                "откройте сообщение в Telegram")
    return None


def _file(kind: str, obj, *, name: str | None = None, mime: str | None = None) -> Attachment:
    size = getattr(obj, "file_size", None)
    seconds = getattr(obj, "duration", None)
    if hasattr(seconds, "total_seconds"):  # PTB_TIMEDELTA: durations as timedelta
        seconds = int(seconds.total_seconds())
    return Attachment(kind=kind, file_id=obj.file_id, name=name or getattr(obj, "file_name", None),
                      mime=mime or getattr(obj, "mime_type", None), size=size, duration=seconds,
                      note=_size_note(size))


def _attachments(msg) -> list[Attachment]:
    """Everything a message carries besides its text, each with what staff need to open it."""
    out: list[Attachment] = []
    if msg.photo:  # the same picture in several sizes, smallest first: keep the largest
        best = max(msg.photo, key=lambda p: ((p.width or 0) * (p.height or 0), p.file_size or 0))
        out.append(_file("photo", best, mime="image/jpeg"))
    if msg.animation:  # a GIF/MP4 animation also comes as `document`: take it once
        out.append(_file("video", msg.animation))
    elif msg.document:
        out.append(_file("document", msg.document))
    if msg.video:
        out.append(_file("video", msg.video))
    if msg.video_note:
        out.append(_file("video", msg.video_note, name="видеосообщение", mime="video/mp4"))
    if msg.voice:
        out.append(_file("voice", msg.voice))
    if msg.audio:
        a = msg.audio
        title = " — ".join(p for p in (a.performer, a.title) if p) or None
        out.append(_file("audio", a, name=a.file_name or title))
    if msg.sticker:
        out.append(_file("sticker", msg.sticker, name=msg.sticker.emoji or None))
    if msg.venue is not None and msg.venue.location is not None:
        v = msg.venue
        place = content.location(v.location.latitude, v.location.longitude, title=v.title, address=v.address)
        out.extend([place] if place else [])
    elif msg.location is not None:
        place = content.location(msg.location.latitude, msg.location.longitude)
        out.extend([place] if place else [])
    if msg.contact is not None:
        c = msg.contact
        own = c.user_id is not None and msg.from_user is not None and c.user_id == msg.from_user.id
        card = content.contact(" ".join(p for p in (c.first_name, c.last_name) if p), c.phone_number, own=own,
                               ref=f"contact:{c.user_id}" if c.user_id else None)
        out.extend([card] if card else [])
    if msg.poll is not None:
        options = "; ".join(o.text for o in msg.poll.options or [] if o.text)
        out.append(Attachment(kind="poll", file_id=str(msg.poll.id), name=msg.poll.question or None,
                              text=options or None))
    return out


# Content kinds of a message we take as they are, without more to show than their kind (kept, not dropped).
OTHER_CONTENT = ("story", "game", "invoice", "giveaway", "giveaway_winners", "paid_media", "checklist")
# What a message needs to be one; everything else in it is optional and parsed only if it parses.
CORE_FIELDS = ("message_id", "date", "chat")
# How Bot API before 7.0 said "forwarded" (no forward_origin yet).
FORWARD_FIELDS_BEFORE_7 = ("forward_from", "forward_from_chat", "forward_sender_name", "forward_date")


def _lenient_message(data: dict):
    """The Message, leniently: a part the client library rejects (a field of a newer or older Bot API) is left
    out and named, instead of refusing the whole message. Raises when the message itself is broken."""
    from telegram import Message

    try:
        return Message.de_json(data, bot=None), ()
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    core = {k: data[k] for k in CORE_FIELDS if k in data}
    skipped = []
    for key in data:
        if key in CORE_FIELDS:
            continue
        try:
            Message.de_json({**core, key: data[key]}, bot=None)
        except (KeyError, TypeError, ValueError, AttributeError):
            skipped.append(key)
    msg = Message.de_json({k: v for k, v in data.items() if k not in skipped}, bot=None)
    log.info("Telegram message %s: parts parsed as they came (%s)", data.get("message_id"), ", ".join(skipped))
    return msg, tuple(skipped)


def _unparsed(data: dict, skipped: tuple[str, ...]) -> list[Attachment]:
    """Content the typed parse could not take (skipped) or does not know (OTHER_CONTENT), from the raw dict."""
    out = []
    for key in [*skipped, *(k for k in OTHER_CONTENT if k in data)]:
        value = data.get(key)
        if key == "poll" and isinstance(value, dict):
            options = "; ".join(str(o.get("text")) for o in value.get("options") or []
                                if isinstance(o, dict) and o.get("text"))
            question = value.get("question") if isinstance(value.get("question"), str) else None
            out.append(Attachment(kind="poll", file_id=str(value.get("id") or "poll"), name=question,
                                  text=options or None))
        elif key in OTHER_CONTENT or key in CONTENT_FIELDS:
            out.append(Attachment(kind="other", file_id=key, name=key))
    return out


CONTENT_FIELDS = frozenset({"text", "photo", "document", "video", "video_note", "voice", "audio", "sticker",
                            "animation", "location", "venue", "contact", "poll", "dice", *OTHER_CONTENT})


def _author(msg) -> tuple[str, str] | None:
    """(id, display name) of who wrote the message; None when it is not a resident: bots, Telegram itself, and
    messages sent on behalf of a chat — the group's anonymous admins and channels, typically the participant
    answering in its own comments as the channel."""
    if msg.sender_chat is not None:
        return None
    user = msg.from_user
    if user is None or user.is_bot or user.id == TELEGRAM_SERVICE_USER:
        return None
    return str(user.id), user.full_name


class TelegramAdapter:
    network = NETWORK

    # --- incoming --------------------------------------------------------------------------------
    def is_enabled(self, config: dict) -> bool:
        return bool(config.get("TELEGRAM_BOT_TOKEN"))

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        """The secret_token given to setWebhook comes back in a header. Without a configured secret, refuse."""
        return secret_matches(header(headers, SECRET_HEADER), config.get("TELEGRAM_WEBHOOK_SECRET"))

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        from telegram import CallbackQuery

        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int) \
                or isinstance(payload.get("update_id"), bool):
            raise BadPayload("Telegram: not an Update (no integer update_id)")
        # The update's kind first: it is the one key besides update_id. Only the parts we handle are parsed.
        post_kind = next((k for k in POSTS if k in payload), None)
        if post_kind is not None:
            post = channel_post(payload[post_kind], edited=post_kind == "edited_channel_post")
            return ParsedRequest(posts=[post] if post else [])
        kind = next((k for k in HANDLED if k in payload), None)
        if kind is None:
            other = ", ".join(sorted(k for k in payload if k != "update_id")) or "empty"
            log.info("Telegram update %s not handled (%s): answered 200", payload["update_id"], other)
            return ParsedRequest()
        data = payload[kind]
        if not isinstance(data, dict):
            raise BadPayload(f"Telegram: {kind} is not an object")
        try:
            if kind == "callback_query":
                query = CallbackQuery.de_json(data, bot=None)
                message = self._callback(query, payload)
                return ParsedRequest(messages=[message] if message else [], body=json.dumps(
                    {"method": "answerCallbackQuery", "callback_query_id": query.id}),
                    content_type="application/json")
            msg, skipped = _lenient_message(data)
            message = self._message(msg, data, payload, config, edited=kind == "edited_message", skipped=skipped)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadPayload(f"Telegram: malformed {kind} ({exc.__class__.__name__}: {exc})") from exc
        return ParsedRequest(messages=[message] if message else [])

    def _message(self, msg, data: dict, update: dict, config: dict, edited: bool = False,
                 skipped: tuple[str, ...] = ()) -> IncomingMessage | None:
        if not isinstance(data, dict) or SERVICE_FIELDS.intersection(data):
            return None
        if msg.is_automatic_forward:  # a channel post copied into its discussion group: the post, not a comment
            return None
        if edited and msg.location is not None:
            # A live location moving (an edit every few seconds while shared; a location is never edited
            # otherwise): the place was taken from the first point, its moves are not the resident's words.
            return None
        author = _author(msg)
        if author is None:
            return None
        chat = msg.chat
        if chat.type == "private":
            fields = self._direct(msg, config)
        elif chat.type == "supergroup":
            fields = self._comment(msg)
        else:
            return None  # basic groups and channels: nothing addressed to a participant
        if fields is None:
            return None
        text = msg.text or msg.caption or ""
        if not text and msg.sticker is not None:
            text = msg.sticker.emoji or ""  # a sticker says what its emoji says (and is noise like it)
        if not text and msg.dice is not None:
            text = msg.dice.emoji or ""  # a thrown die: an emoji, not an appeal
        forwarded = msg.forward_origin is not None or any(k in data for k in FORWARD_FIELDS_BEFORE_7)
        if forwarded and text:  # the resident forwarded someone's message
            text = content.forwarded(text)
        quote = msg.quote.text if msg.external_reply is not None and msg.quote is not None else None
        if quote:  # a reply quoting a message of another chat (a neighbour's, a channel's): part of the appeal
            text = content.join_text(text, content.forwarded(quote))
        attachments = _attachments(msg) + _unparsed(data, skipped)
        if not text and not attachments:
            return None
        external_id = f"{chat.id}:{msg.message_id}"
        incoming = IncomingMessage(network=NETWORK, external_id=external_id, author_id=author[0],
                                   author_name=author[1], text=text, attachments=attachments, sent_at=msg.date,
                                   raw=update, **fields)
        own = next((a for a in attachments if a.kind == "contact" and a.own and a.phone), None)
        if own is not None:  # the resident shared their own contact: their phone for the ticket
            incoming.contact = {"phone": own.phone[:PHONE_LIMIT]}
        if edited:
            edit_date = msg.edit_date or msg.date
            incoming.external_id = f"{external_id}:edit:{int(edit_date.timestamp())}"
            incoming.edit_of = external_id
            incoming.sent_at = edit_date
        elif msg.text or msg.caption:  # «/status <number>» typed as a photo's caption is the command too
            incoming.command, incoming.command_arg = _command(msg.text or msg.caption)
            if incoming.command == "start" and incoming.command_arg:
                incoming.start_code, incoming.command, incoming.command_arg = incoming.command_arg, None, None
        return incoming

    @staticmethod
    def _callback(query, update: dict) -> IncomingMessage | None:
        """A button press under one of the bot's messages → command "callback" with the button's data."""
        user = query.from_user
        if user is None or user.is_bot or not query.id:
            return None
        msg = query.message  # the bot's message with the button (may be inaccessible: then only chat and id)
        address: dict[str, Any] = {"callback_query_id": query.id}
        thread_key = f"tg:dm:{user.id}"
        if msg is not None and msg.chat is not None:
            address["chat_id"] = msg.chat.id
            if msg.message_id:
                address["message_id"] = msg.message_id
            thread = getattr(msg, "message_thread_id", None)
            if thread:
                address["message_thread_id"] = thread
            thread_key = f"tg:dm:{msg.chat.id}" if msg.chat.type == "private" else f"tg:{msg.chat.id}:{thread or 0}"
        else:
            address["chat_id"] = user.id  # an inline-mode message: answer in the private chat
        data = query.data or ""
        return IncomingMessage(network=NETWORK, external_id=f"cb:{query.id}", kind="direct", author_id=str(user.id),
                               author_name=user.full_name, text=data, thread_key=thread_key,
                               reply_address=address, raw=update, command="callback", command_arg=data or None)

    @staticmethod
    def _direct(msg, config: dict) -> dict:
        chat_id = msg.chat.id
        reply_to = msg.reply_to_message
        return {
            "kind": "direct",
            "account_ref": bot_id(config),  # an Account for the bot itself, if the administration registered one
            "thread_key": f"tg:dm:{chat_id}",
            "reply_to": f"{chat_id}:{reply_to.message_id}" if reply_to is not None else None,
            "reply_address": {"chat_id": chat_id, "message_id": msg.message_id},
        }

    @staticmethod
    def _comment(msg) -> dict | None:
        """A comment in a channel post's thread of the discussion group; None for other group messages."""
        group = msg.chat
        parent = msg.reply_to_message
        via_forward = parent is not None and bool(parent.is_automatic_forward)
        thread_id = msg.message_thread_id or (parent.message_id if via_forward else None)
        if thread_id is None or (parent is None and not msg.is_topic_message):
            return None  # the group's general chat, not under a post
        channel, post_id, post = None, None, None
        if via_forward:
            origin = parent.forward_origin
            channel = parent.sender_chat or getattr(origin, "chat", None)
            post_id = getattr(origin, "message_id", None)
        if channel is not None and post_id:
            permalink = f"{post_link(channel.id, channel.username, post_id)}?comment={msg.message_id}"
            # The copy the comment answers carries the post itself: its text, date and media.
            post = IncomingPost(network=NETWORK, external_id=str(post_id), account_ref=str(channel.id),
                                account_handle=channel.username or None,
                                published_at=getattr(origin, "date", None) or parent.date,
                                text=parent.text or parent.caption or "",
                                permalink=post_link(channel.id, channel.username, post_id),
                                media_count=_media_count(parent))
        else:
            permalink = f"{post_link(group.id, group.username, msg.message_id)}?thread={thread_id}"
        return {
            "post": post,
            "kind": "comment",
            # Under a post only when it answers the post's copy; a reply to another message may be a reply
            # chain of the group's general chat: taken only inside a thread intake already knows.
            "known_thread_only": not via_forward and not msg.is_topic_message,
            "account_ref": str(channel.id) if channel is not None else str(group.id),
            "thread_key": f"tg:{group.id}:{thread_id}",
            "reply_to": f"{group.id}:{parent.message_id}" if parent is not None and not via_forward else None,
            "permalink": permalink,
            "reply_address": {"chat_id": group.id, "message_id": msg.message_id, "message_thread_id": thread_id},
        }

    # --- outgoing --------------------------------------------------------------------------------
    def fetch_file(self, attachment: dict, config: dict) -> tuple[bytes, str]:
        if isinstance(attachment.get("size"), int) and attachment["size"] > FILE_LIMIT:
            raise ChannelError(f"Telegram: файл {_size_note(attachment['size'])}", permanent=True)
        if attachment.get("kind") in ("location", "contact", "poll"):
            raise ChannelError("Telegram: это не файл", permanent=True)
        return fetch_file(attachment["file_id"], config)

    @staticmethod
    def split(text: str) -> list[str]:
        """The messages a long text goes as (sendMessage takes 4096 characters): the outbox sends them one by one."""
        return split_text(text)

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        address = reply.address or {}
        if not address.get("chat_id"):
            raise ChannelError("Telegram: нет адреса ответа (chat_id)", permanent=True)
        if int(address["chat_id"]) < 0 and not address.get("message_thread_id"):
            # Groups are answered only inside a comment thread of ours, never in the general chat.
            raise ChannelError("Telegram: в общий чат группы не отвечаем, только в ветке комментариев",
                               permanent=True)
        # Sent as plain text — no parse_mode — so Telegram shows it exactly as written and nothing in it
        # (ticket numbers, "*", "_", "<", links) needs escaping for Markdown or HTML.
        parts = split_text(reply.text)
        if not parts:
            raise ChannelError("Telegram: пустой текст ответа", permanent=True)
        return SendResult(external_id=str(_run(self._send(parts, address, config, reply.buttons,
                                                          quote=reply.part == 0))))

    @staticmethod
    async def _send(parts: list[str], address: dict, config: dict, buttons: list | None = None,
                    quote: bool = True) -> int:
        from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
        from telegram.error import BadRequest
        from telegram.request import HTTPXRequest

        timeout = _timeout(config)
        request = HTTPXRequest(connection_pool_size=1, connect_timeout=timeout, read_timeout=timeout,
                               write_timeout=timeout, pool_timeout=timeout)
        bot = Bot(str(config["TELEGRAM_BOT_TOKEN"]), base_url=api_url(config), base_file_url=file_url(config),
                  request=request, get_updates_request=request)
        thread = address.get("message_thread_id")
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data[:CALLBACK_DATA_LIMIT])
                                        for label, data in row] for row in buttons]) if buttons else None
        first_id = None
        try:
            for i, part in enumerate(parts):
                reply_to = ReplyParameters(int(address["message_id"]), allow_sending_without_reply=True) \
                    if i == 0 and quote and address.get("message_id") else None
                keyboard = markup if i == len(parts) - 1 else None  # the buttons go under the last part
                try:
                    sent = await bot.send_message(address["chat_id"], part, reply_parameters=reply_to,
                                                  message_thread_id=thread, reply_markup=keyboard)
                except BadRequest as exc:
                    if thread is None or "thread not found" not in exc.message.lower():
                        raise
                    thread = None  # not a forum: the reply to the comment keeps it in the post's thread anyway
                    sent = await bot.send_message(address["chat_id"], part, reply_parameters=reply_to,
                                                  reply_markup=keyboard)
                first_id = first_id if first_id is not None else sent.message_id
        except Exception as exc:
            raise _channel_error(exc) from exc
        finally:
            await bot.shutdown()
            # Bot.shutdown() only closes what Bot.initialize() opened (that costs a getMe per call, and we
            # never call it): close the HTTP client ourselves, in this loop.
            await request.shutdown()
        return first_id


# --- the participants' channel posts --------------------------------------------------------------
def _media_count(msg) -> int:
    """Pieces of media of a typed Message (the automatic forward a comment answers)."""
    return sum(1 for name in MEDIA_FIELDS if getattr(msg, name, None))


def _int_field(data: dict, key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stamp(value: Any):
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc) if value is not None else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def channel_post(data: Any, edited: bool = False) -> IncomingPost | None:
    """A `channel_post` / `edited_channel_post` (a Message in a channel) → the participant's publication.

    Read from the payload itself (a post is not parsed with the client library: no shape of a newer Bot API
    can refuse it). Telegram's Bot API gives no views or reactions for posts. Each item of an album comes as a
    post of its own with the album's `media_group_id`: they make one post. Service messages (a pinned post, a
    changed title) are not publications. Raises BadPayload for what is not a channel message."""
    if not isinstance(data, dict) or not isinstance(data.get("chat"), dict):
        raise BadPayload("Telegram: a channel post without its chat")
    chat = data["chat"]
    chat_id, message_id = _int_field(chat, "id"), _int_field(data, "message_id")
    if chat_id is None or message_id is None:
        raise BadPayload("Telegram: a channel post without a chat id or message id")
    if SERVICE_FIELDS.intersection(data):
        return None
    username = chat.get("username") if isinstance(chat.get("username"), str) and chat.get("username") else None
    text = data.get("text") if isinstance(data.get("text"), str) else data.get("caption")
    text = text if isinstance(text, str) else ""
    media = sum(1 for name in MEDIA_FIELDS if data.get(name))
    group = data.get("media_group_id")
    album = isinstance(group, (str, int)) and not isinstance(group, bool) and str(group) != ""
    published = _stamp(data.get("date"))
    return IncomingPost(
        network=NETWORK, external_id=f"album:{group}" if album else str(message_id), account_ref=str(chat_id),
        account_handle=username, published_at=published,
        edited_at=(_stamp(data.get("edit_date")) or published) if edited else None,
        # An album item without a caption says nothing of the album's text (the captioned item does).
        text=None if album and not text else text,
        permalink=post_link(chat_id, username, message_id), media_count=media,
        album_item=message_id if album else None)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """A long reply as several messages of at most `limit` characters, cut at paragraph, line or word ends."""
    text = (text or "").strip()
    parts = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit), text.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return parts + ([text] if text else [])


def _run(coro):
    """asyncio.run() from sync code; from a thread that already runs a loop, in a worker thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _retry_seconds(exc) -> float:
    from telegram.warnings import PTBDeprecationWarning

    with warnings.catch_warnings():  # int vs timedelta (PTB_TIMEDELTA): accept both, without the warning
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _channel_error(exc: Exception) -> ChannelError:
    """python-telegram-bot's errors → ChannelError: what retrying can fix, and what it cannot."""
    from telegram.error import (
        BadRequest,
        ChatMigrated,
        Forbidden,
        InvalidToken,
        NetworkError,
        RetryAfter,
        TelegramError,
        TimedOut,
    )

    if isinstance(exc, ChannelError):
        return exc
    if isinstance(exc, RetryAfter):
        seconds = _retry_seconds(exc)
        return ChannelError(f"Telegram просит подождать {seconds:g} с ({exc.message})", retry_after=seconds)
    if isinstance(exc, Forbidden):
        why = "житель заблокировал бота" if "blocked" in exc.message else "бот не может писать в этот чат"
        return ChannelError(f"Telegram: {why} ({exc.message})", permanent=True)
    if isinstance(exc, ChatMigrated):
        return ChannelError(f"Telegram: группа стала супергруппой, новый id {exc.new_chat_id}", permanent=True)
    if isinstance(exc, BadRequest):
        return ChannelError(f"Telegram отклонил сообщение ({exc.message})", permanent=True)
    if isinstance(exc, InvalidToken):
        return ChannelError(f"Telegram: токен бота недействителен ({exc.message})", permanent=True)
    if isinstance(exc, TimedOut):
        return ChannelError(f"Telegram не ответил вовремя ({exc.message})")
    if isinstance(exc, NetworkError):
        return ChannelError(f"Telegram недоступен ({exc.message})")
    if isinstance(exc, TelegramError):
        return ChannelError(f"Ошибка Telegram ({exc.message})")
    raise exc


# --- plain Bot API calls (polling, webhook setup) --------------------------------------------------
def call(config: dict, method: str, params: dict | None = None, *, client: httpx.Client | None = None,
         timeout: float | None = None) -> Any:
    """One Bot API method with a JSON body; returns `result` or raises ChannelError."""
    url = f"{api_url(config)}{config.get('TELEGRAM_BOT_TOKEN') or ''}/{method}"
    timeout = timeout if timeout is not None else _timeout(config)
    try:
        if client is not None:
            resp = client.post(url, json=params or {}, timeout=timeout)
        else:
            resp = http.post(url, json=params or {}, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ChannelError(f"Telegram не ответил вовремя ({exc.__class__.__name__})") from exc
    except httpx.HTTPError as exc:
        raise ChannelError(f"Telegram недоступен ({exc.__class__.__name__}: {exc})") from exc
    try:
        body = resp.json()
    except ValueError as exc:
        raise ChannelError(f"Telegram ответил не JSON (HTTP {resp.status_code})") from exc
    if isinstance(body, dict) and body.get("ok") is True:
        return body.get("result")
    body = body if isinstance(body, dict) else {}
    code = body.get("error_code") or resp.status_code
    text = str(body.get("description") or f"HTTP {resp.status_code}")
    retry_after = (body.get("parameters") or {}).get("retry_after")
    if retry_after is not None:
        raise ChannelError(f"Telegram просит подождать {retry_after} с ({text})", retry_after=float(retry_after))
    if code in (401, 404):
        raise ChannelError(f"Telegram: токен бота недействителен ({text})", permanent=True)
    if code == 409:
        raise ChannelError(f"Telegram: {text}", permanent=True)
    raise ChannelError(f"Telegram: {text}", permanent=400 <= int(code) < 500)


def poll(config: dict, handle: Callable[[list[dict]], None], stop_after: int | None = None, *,
         offset: int | None = None, timeout: int = 25, until_idle: bool = False,
         on_error: Callable[[ChannelError, float], None] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> int | None:
    """Long polling: getUpdates from `offset` in a loop, `handle(updates)` for every non-empty batch.

    An update counts as confirmed at Telegram once getUpdates is called with a higher offset, so a batch is
    confirmed by the request after `handle` returns: if `handle` raises, the batch comes again. Stops after
    `stop_after` requests (None: until interrupted) or, with `until_idle`, at the first empty answer.
    Temporary errors are waited out (`on_error(error, seconds)` is told) unless `stop_after` is set;
    a permanent one (bad token, a webhook is set) is raised. Returns the next offset.
    """
    requests = failures = 0
    with httpx.Client() as client:
        while stop_after is None or requests < stop_after:
            requests += 1
            params: dict[str, Any] = {"timeout": timeout, "allowed_updates": ALLOWED_UPDATES}
            if offset is not None:
                params["offset"] = offset
            try:
                updates = call(config, "getUpdates", params, client=client, timeout=timeout + _timeout(config))
            except ChannelError as exc:
                if exc.permanent or stop_after is not None:
                    raise
                failures += 1
                wait = exc.retry_after or min(60.0, 2.0 ** failures)
                if on_error is not None:
                    on_error(exc, wait)
                sleep(wait)
                continue
            failures = 0
            updates = [u for u in updates or [] if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
            if not updates:
                if until_idle:
                    break
                continue
            handle(updates)
            offset = max(u["update_id"] for u in updates) + 1
    return offset


def fetch_file(file_id: str, config: dict, max_bytes: int = FILE_LIMIT) -> tuple[bytes, str]:
    """Download a resident's file on demand (getFile, then the file URL). The token stays on the server:
    staff get the bytes through our app, never a link containing it."""
    info = call(config, "getFile", {"file_id": file_id})
    path = (info or {}).get("file_path")
    if not path:
        raise ChannelError("Telegram не отдал файл (нет file_path)", permanent=True)
    url = f"{file_url(config)}{config.get('TELEGRAM_BOT_TOKEN') or ''}/{path}"
    try:
        resp = httpx.get(url, timeout=_timeout(config))
    except httpx.HTTPError as exc:
        raise ChannelError(f"Telegram недоступен ({exc.__class__.__name__})") from exc
    if resp.status_code != 200 or len(resp.content) > max_bytes:
        raise ChannelError(f"Telegram: файл недоступен (HTTP {resp.status_code})", permanent=True)
    return resp.content, resp.headers.get("content-type", "application/octet-stream")
