"""One cleaning step for everything a platform or a caller sends, before and after an adapter parses it.

- `load_json()` reads a request body as JSON safely: a depth limit (platform payloads are ~10 levels deep),
  RecursionError caught, a clear reason when it is not JSON.
- `clean_payload()` runs on the decoded JSON before `adapter.parse()`: NUL and lone surrogates are removed from
  every string and key (PostgreSQL stores neither), non-finite numbers (1e400 → inf) become null, time fields
  that are no sane Unix time become 0 (read as «no date»: the received time is used), text-like fields that
  are not strings become strings (numbers) or "" (objects, lists).
- `clean_message()` runs on every IncomingMessage at intake (all networks, polling too): every string
  cleaned, a sent time out of range → None (the received time), links kept only when `safe_link()` allows
  them (permalink, attachment urls).
- `safe_link()` is the one rule for links taken from payloads, used at intake and again when a link is shown
  or followed: http/https only, no user info, a host of the network itself (or the configured API base URL's
  host, so the demo's fakes on 127.0.0.1 work).

Channels never touch the database; this module neither.
"""
from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from app.channels import content

log = logging.getLogger(__name__)

MAX_DEPTH = 64  # levels of nested objects/arrays accepted in a payload
REDACTED = "[скрыто]"

# Field names that carry text on every network we read; anything else there is coerced to a string.
TEXT_KEYS = frozenset({"text", "caption", "first_name", "last_name", "username", "name", "title", "file_name",
                       "filename", "mime_type", "url"})
# Unix times: seconds (Telegram, VK) or milliseconds (MAX, OK).
TIME_KEYS = frozenset({"date", "edit_date", "forward_date", "timestamp"})
MAX_TIME = 2 ** 53  # beyond this no platform's clock (ms since 1970 up to year ~285 000)

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


class NotJson(ValueError):
    """The body is not a JSON document we can take; `reason` says why (in English, for logs and the 4xx)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- strings and JSON ------------------------------------------------------------------------------------
def clean_str(value: str) -> str:
    """`value` without NUL characters and lone surrogates (neither can be stored or encoded as UTF-8)."""
    return _BAD_CHARS.sub("", value) if _BAD_CHARS.search(value) else value


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of a decoded JSON value (iterative: no recursion on hostile input); stops past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def load_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The decoded JSON of a request body, or NotJson. Deep nesting is refused, never a RecursionError."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise NotJson("not UTF-8") from None
    if not text.strip():
        raise NotJson("empty body")
    try:
        value = json.loads(text)
    except RecursionError:
        raise NotJson(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise NotJson(f"not JSON ({exc.__class__.__name__})") from None
    if depth(value, max_depth) > max_depth:
        raise NotJson(f"JSON nested deeper than {max_depth} levels")
    return value


def _clean_scalar(key: Any, value: Any) -> Any:
    if isinstance(value, str):
        value = clean_str(value)
    elif isinstance(value, float) and not math.isfinite(value):
        value = None
    if key in TEXT_KEYS and not isinstance(value, str) and value is not None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            value = ""  # an object, a list or a boolean where text belongs: nothing readable
    elif key in TIME_KEYS and value is not None:
        value = _unix_time(value)
    return value


def _unix_time(value: Any) -> int:
    """A sane non-negative integer Unix time, or 0 (read as «no date»)."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if not math.isfinite(value) or value < 0 or value > MAX_TIME:
        return 0
    return int(value)


def clean_payload(value: Any) -> Any:
    """A cleaned copy of a decoded JSON payload (see the module's docstring). Iterative: depth is no risk."""
    if not isinstance(value, (dict, list)):
        return _clean_scalar(None, value)
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(key, str):
                key = clean_str(key)
            typed = isinstance(source, dict) and (key in TEXT_KEYS or key in TIME_KEYS)  # never a container
            if isinstance(item, (dict, list)) and not typed:
                copy: Any = {} if isinstance(item, dict) else []
                stack.append((item, copy))
                item = copy
            else:
                item = _clean_scalar(key if isinstance(source, dict) else None, item)
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root


# --- links -----------------------------------------------------------------------------------------------
# The platforms' own hosts (and their subdomains): what their payloads may link to.
PLATFORM_HOSTS: dict[str, tuple[str, ...]] = {
    "telegram": ("t.me", "telegram.me", "telegram.org", "telegram.dog"),
    "vk": ("vk.com", "vk.ru", "vk.me", "vk.cc", "userapi.com", "vkuservideo.net", "vkuseraudio.net",
           "vkuservideo.com", "vk-cdn.net", "vkuser.net", "vkontakte.ru", "vkvideo.ru"),
    "ok": ("ok.ru", "odnoklassniki.ru", "mycdn.me", "okcdn.ru"),
    "max": ("max.ru", "oneme.ru", "okcdn.ru", "mycdn.me"),
}
API_URL_SETTINGS = {"telegram": "TELEGRAM_API_URL", "vk": "VK_API_URL", "ok": "OK_API_URL", "max": "MAX_API_URL"}
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def _config(config: dict | None) -> dict:
    if config is not None:
        return config
    from flask import current_app, has_app_context

    return current_app.config if has_app_context() else {}


def allowed_hosts(network: str, config: dict | None = None) -> tuple[str, ...] | None:
    """The hosts a link from `network` may point to; None: any http(s) host (the ingest API's callers)."""
    if network == "api":
        return None
    hosts = list(PLATFORM_HOSTS.get(network, ()))
    base = _config(config).get(API_URL_SETTINGS.get(network, ""))
    if base:
        host = urlsplit(str(base)).hostname
        if host:
            hosts.append(host.lower())
    return tuple(hosts)


def safe_link(url: Any, network: str, config: dict | None = None, *, log_refusal: bool = True) -> str | None:
    """`url` when it is an http(s) link to a host of `network` (or a subdomain), else None (logged)."""
    if not isinstance(url, str) or not url:
        return None
    ok = False
    if not _UNSAFE_URL_CHARS.search(url):
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
            parts.port  # noqa: B018 — raises ValueError on a junk port
        except ValueError:
            parts, host = None, ""
        web = parts is not None and parts.scheme.lower() in ("http", "https") \
            and url[len(parts.scheme):].startswith("://")
        if web and host and "@" not in parts.netloc:
            hosts = allowed_hosts(network, config)
            ok = hosts is None or any(host == h or host.endswith("." + h) for h in hosts)
    if not ok:
        if log_refusal:
            log.warning("%s: link dropped, not an http(s) link to the network's own hosts: %r", network, url[:200])
        return None
    return url


# --- messages --------------------------------------------------------------------------------------------
def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean_str(value)
    if isinstance(value, (dict, list)):
        return clean_payload(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sane_time(when: datetime | None, now: datetime | None = None) -> datetime | None:
    """`when` as an aware UTC time when it is plausible (2000 … an hour from now), else None."""
    if not isinstance(when, datetime):
        return None
    try:
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        when = when.astimezone(timezone.utc)
        now = now or datetime.now(timezone.utc)
        return when if EARLIEST <= when <= now + timedelta(hours=1) else None
    except (OverflowError, ValueError):
        return None


def clean_message(message, config: dict | None = None):
    """Clean an IncomingMessage in place (strings, nested dicts, time, links) and return it."""
    for f in fields(message):
        name = f.name
        value = getattr(message, name)
        if name == "attachments":
            continue
        if name == "sent_at":
            setattr(message, name, sane_time(value))
        else:
            setattr(message, name, _clean_value(value))
    if isinstance(message.raw, dict) and "secret" in message.raw:  # VK's callback secret: never stored
        message.raw = {k: v for k, v in message.raw.items() if k != "secret"}
    for attachment in message.attachments or []:
        if not is_dataclass(attachment):
            continue
        for f in fields(attachment):
            setattr(attachment, f.name, _clean_value(getattr(attachment, f.name)))
        if attachment.url is None:
            continue
        point = content.coordinates(attachment.latitude, attachment.longitude)
        if attachment.kind == "location" and point:
            attachment.url = content.map_url(*point)  # our own map link, built from the coordinates
            continue
        url = safe_link(attachment.url, message.network, config)
        if url is None and attachment.kind in ("link", "repost"):
            shown = clean_str(attachment.url)[:500]  # the resident's words: shown as text, never followed
            if not attachment.name:
                attachment.name = shown
            elif shown not in (attachment.text or ""):  # a titled link keeps its address too
                attachment.text = content.join_text(shown, attachment.text)
        attachment.url = url
    if message.permalink is not None:
        message.permalink = safe_link(message.permalink, message.network, config)
    if is_dataclass(getattr(message, "post", None)):
        clean_post(message.post, config)
    return message


def clean_post(post, config: dict | None = None):
    """Clean an IncomingPost in place (strings, times, its link by the same rule as messages') and return it."""
    for f in fields(post):
        value = getattr(post, f.name)
        if f.name in ("published_at", "edited_at"):
            setattr(post, f.name, sane_time(value))
        elif isinstance(value, str):
            setattr(post, f.name, clean_str(value))
        elif isinstance(value, bool) or (value is not None and not isinstance(value, (int, str))):
            setattr(post, f.name, None)  # counts are whole numbers; anything else is "not told"
    if post.permalink is not None:
        post.permalink = safe_link(post.permalink, post.network, config)
    return post


# --- secrets ---------------------------------------------------------------------------------------------
SECRET_HEADERS = frozenset({"x-telegram-bot-api-secret-token", "x-max-bot-api-secret", "x-ok-webhook-secret",
                            "authorization", "cookie", "x-fake-secret"})
SECRET_SETTINGS = ("TELEGRAM_WEBHOOK_SECRET", "MAX_WEBHOOK_SECRET", "OK_WEBHOOK_SECRET", "VK_SECRET",
                   "TELEGRAM_BOT_TOKEN", "VK_ACCESS_TOKEN", "MAX_BOT_TOKEN", "OK_ACCESS_TOKEN")
_BODY_SECRET = re.compile(r'("(?:secret|access_token)"\s*:\s*)"(?:[^"\\]|\\.)*"')
_QUERY_SECRET = re.compile(r"([?&](?:secret|access_token)=)[^&#\s]*")


def _known_secrets(config: dict | None) -> list[str]:
    config = _config(config)
    values = [str(config.get(k) or "") for k in SECRET_SETTINGS]
    values += [t.strip() for t in str(config.get("INGEST_API_TOKENS") or "").split(",")]
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact_text(text: str, config: dict | None = None) -> str:
    """A body with VK's `secret` (and any access_token) field and every configured secret value hidden."""
    text = _BODY_SECRET.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text or "")
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    for value in _known_secrets(config):
        text = text.replace(value, REDACTED)
    return text


def redact_headers(headers: dict | None, config: dict | None = None) -> dict:
    """Request headers as kept for the admin: secret headers (and cookies) hidden, other values redacted."""
    out = {}
    for key, value in (headers or {}).items():
        key = clean_str(str(key))
        out[key] = REDACTED if key.lower() in SECRET_HEADERS else redact_text(clean_str(str(value)), config)
    return out
