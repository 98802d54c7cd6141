"""One shape for every network: what comes in (IncomingMessage), what goes out (OutgoingReply),
and the adapter interface each network module implements. Channels never touch the database."""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

PHONE_LIMIT = 40  # Resident.phone: a shared contact's phone becomes the resident's only within it


@dataclass
class Attachment:
    """One piece of content besides the text. Kinds (app/channels/content.py names each for staff):
    photo | document | video | voice | audio | sticker | location | contact | link | repost | poll | other."""

    kind: str
    file_id: str  # the platform's id (fetched on demand), or a stored file name for the web form
    name: str | None = None  # file name, venue title, contact's name, link or repost title
    mime: str | None = None
    size: int | None = None
    url: str | None = None  # where staff open it (a file link, a map, a post, a shared page)
    duration: int | None = None  # seconds: voice, audio, video
    latitude: float | None = None  # location
    longitude: float | None = None
    address: str | None = None  # location: the venue's address
    phone: str | None = None  # contact
    own: bool | None = None  # contact: the sender shared their own contact
    text: str | None = None  # repost / shared link: its text; audio: the platform's transcription
    note: str | None = None  # what staff should know («больше 20 МБ: …»)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class IncomingPost:
    """A publication of a participant's account as a network reports it (Telegram `channel_post`, VK
    `wall_post_new`, a MAX channel message), or the post a resident's comment answers, as far as the comment
    tells (then often only its id and link). Stored by services/accounts/posts, one row per (account, post id);
    never an appeal."""

    network: str
    external_id: str  # the platform's post id within the account (Telegram message id, VK post id, MAX mid, OK topic)
    account_ref: str | None = None  # Account.external_id (channel chat id, VK group id, MAX chat id, OK group id)
    account_handle: str | None = None  # the account's public name (Telegram @username), when the id is not known
    published_at: datetime | None = None
    edited_at: datetime | None = None  # set for an edit of the post
    text: str | None = None  # None: not told (a comment names its post without its text)
    permalink: str | None = None
    media_count: int | None = None
    views: int | None = None  # metrics where the payload carries them (VK); None: not told
    reactions: int | None = None
    comments: int | None = None
    reposts: int | None = None
    # One item of an album (Telegram sends each photo of a media group as a message of its own, with consecutive
    # ids): its message id. The album is one post (`external_id` "album:<media_group_id>"), its link the first
    # item's, its media count first…last item.
    album_item: int | None = None


@dataclass
class IncomingMessage:
    """A resident's message or comment as every network looks to the rest of the system."""

    network: str
    external_id: str  # unique within the network (the dedupe key)
    kind: str  # direct | comment | form | api
    author_id: str  # the resident's id in that network
    author_name: str = ""
    text: str = ""
    account_ref: str | None = None  # our account it reached (Account.external_id in that network)
    thread_key: str | None = None  # conversation / post thread: same resident + same thread → same ticket
    reply_to: str | None = None  # external id of the message this one answers
    permalink: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    sent_at: datetime | None = None
    reply_address: dict[str, Any] = field(default_factory=dict)  # what send() needs to answer this message
    raw: dict[str, Any] = field(default_factory=dict)
    edit_of: str | None = None  # set when this is an edit of an earlier message (its external id)
    start_code: str | None = None  # deep link payload (Telegram /start <code>, QR codes)
    command: str | None = None  # "status" for /status <number>
    command_arg: str | None = None
    contact: dict[str, Any] = field(default_factory=dict)  # web form / API: name, phone, email, address
    # A group message that is an appeal only inside a comment thread of ours that intake already knows
    # (Telegram: a reply inside a discussion group may be the group's general chat, not a post's comments).
    known_thread_only: bool = False
    # A group chat message that is an appeal only when the chat is one of our accounts (MAX: a participant's chat
    # registered in the app); in any other group the bot is a guest, takes nothing and posts nothing.
    account_required: bool = False
    # A comment under a participant's publication: the post it answers (intake links Message.post_id to it).
    post: IncomingPost | None = None


@dataclass
class OutgoingReply:
    network: str
    text: str
    address: dict[str, Any]  # IncomingMessage.reply_address of the message being answered
    idempotency_key: str  # stable per Reply row: platforms that dedupe (VK random_id/guid) get it
    # Buttons under the message, rows of (label, payload), where the network supports them.
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)
    # Which part of a long text this is (0: the first). The outbox splits a text with the adapter's optional
    # `split(text)` and sends the parts one by one; only the first part quotes the resident's message.
    part: int = 0
    # Files sent with the message, (file name, bytes, mime) — e-mail only, built by the outbox at delivery.
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)


@dataclass
class SendResult:
    external_id: str


@dataclass
class ParsedRequest:
    """What a webhook request turned into: residents' messages to store, the participants' own publications
    (stored as posts, never as appeals), and the exact answer the platform expects."""

    messages: list[IncomingMessage] = field(default_factory=list)
    posts: list[IncomingPost] = field(default_factory=list)
    body: str = "ok"
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"


class ChannelError(Exception):
    """Sending failed. `retry_after` (seconds) when the platform asked to slow down; `permanent` when
    retrying cannot help (blocked by the user, chat gone)."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class BadPayload(Exception):
    """The request is not something this network sends us (malformed or unknown). Answer 4xx, log it."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ChannelAdapter(Protocol):
    network: str

    def is_enabled(self, config: dict) -> bool:
        """The network's token is configured."""

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        """The request really comes from the platform (its secret)."""

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        """Platform payload → IncomingMessages and IncomingPosts (+ the answer the platform expects).
        Raises BadPayload."""

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        """Deliver a reply; return the platform's message id. Raises ChannelError."""

    # Optional: fetch_file(attachment: dict, config) -> (bytes, mime) for files kept by id on the platform
    # (Telegram); networks that give URLs (VK, MAX, OK) don't need it.
    # Optional: split(text) -> list[str], the messages a long text is sent as (Telegram); default one.


# --- small helpers every adapter needs ----------------------------------------------------------------
def header(headers: dict[str, str] | None, name: str) -> str | None:
    """A request header by name, case-insensitively."""
    lowered = name.lower()
    return next((v for k, v in (headers or {}).items() if k.lower() == lowered), None)


def secret_matches(given: Any, expected: Any) -> bool:
    """Constant-time check of a platform secret; an unset expected secret matches nothing."""
    if not expected or not isinstance(given, str) or not given:
        return False
    # A secret read from a body (VK) is checked before the body is cleaned: a lone surrogate must not raise
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), str(expected).encode("utf-8", "surrogatepass"))


def parse_command(text: str, commands: tuple[str, ...] = ("status", "start")) -> tuple[str | None, str | None]:
    """`/status БЛГ-…`, `/start <code>` typed in a chat (also `/status@city_bot …` in group chats)."""
    head, _, arg = (text or "").strip().partition(" ")
    name = head.split("@", 1)[0].lower()
    if name.startswith("/") and name[1:] in commands:
        return name[1:], arg.strip() or None
    return None, None
