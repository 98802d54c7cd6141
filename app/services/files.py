"""Residents' files served to staff: never as a page of the site.

The type is the one recorded at intake, checked against the file's first bytes; only raster images and audio or
video are shown in the browser (staff look at photos and play voice messages), everything else downloads as an
attachment under its original name (RFC 6266 / 5987: Cyrillic names intact). The upstream Content-Type is never
passed on: a Telegram «document» that is HTML or an SVG with a script would otherwise run on the staff site."""
from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from flask import Response
from werkzeug.security import safe_join

from app.channels import content, get_adapter
from app.channels.clean import safe_link
from app.extensions import db
from app.models import Message, Ticket
from app.security import FILE_CSP
from app.services.errors import NotFound
from app.services.replies import family_ids

# What the first bytes say. Order matters (RIFF is both WebP and WAV).
INLINE_IMAGES = ("image/jpeg", "image/png", "image/webp", "image/gif")
EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif",
    "application/pdf": "pdf", "audio/ogg": "ogg", "audio/mpeg": "mp3", "audio/wav": "wav", "audio/mp4": "m4a",
    "video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov", "application/zip": "zip",
    "application/octet-stream": "bin",
}
KIND_NAMES = {"photo": "фото", "video": "видео", "audio": "аудио", "document": "файл", "sticker": "стикер"}


def sniff(content: bytes) -> str | None:
    """The media type the content's magic bytes show, for the types we let staff open; None when unknown."""
    head = content[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return None


def _family(mime: str | None) -> str:
    return (mime or "").split("/", 1)[0].lower()


def decide(content: bytes, recorded: str | None) -> tuple[str, bool]:
    """(Content-Type, inline?) for a file whose intake recorded `recorded` as its type.

    Inline only when the bytes are a raster image, audio or video and agree with the recorded family (a photo
    recorded as image/*, a voice message as audio/*): then the sniffed type is sent. Everything else is an
    attachment: the recorded type when the bytes confirm it (a PDF), else application/octet-stream."""
    actual = sniff(content)
    recorded = (recorded or "").split(";", 1)[0].strip().lower() or None
    if actual and (actual in INLINE_IMAGES or _family(actual) in ("audio", "video")):
        if recorded is None or _family(recorded) == _family(actual) or (
                _family(recorded) in ("audio", "video") and _family(actual) in ("audio", "video")):
            return actual, True
    if actual and recorded == actual:
        return actual, False
    if actual == "application/pdf":
        return actual, False
    return "application/octet-stream", False


_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


def clean_name(name: str | None) -> str:
    """A file name safe for a header and a disk: no path, control characters or quotes; at most 150 characters."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" ._")
    return name[:150]


def file_name(item: dict, content_type: str, fallback: str) -> str:
    """The original name; a photo or voice message without one gets «<fallback>-фото.jpg» (never «0»)."""
    name = clean_name(item.get("name"))
    ext = EXTENSIONS.get(content_type)
    if not name:
        name = f"{fallback}-{KIND_NAMES.get(item.get('kind'), 'файл')}"
    if ext and "." not in name:
        name = f"{name}.{ext}"
    return name


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266 with an RFC 5987 `filename*` for the real (e.g. Cyrillic) name and an ASCII `filename` fallback."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _UNSAFE.sub("_", ascii_name).strip(" ._") or "file"
    if "." in name and "." not in ascii_name:
        ascii_name += "." + name.rsplit(".", 1)[-1].encode("ascii", "ignore").decode("ascii")
    header = f'{kind}; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


# Residents' files are personal data, like the staff pages (no-store): no copy in the browser's cache that a next
# user of the computer could open from the history after the logout.
FILE_CACHE = "private, no-store"


def serve(content: bytes, item: dict, fallback_name: str, cache: str = FILE_CACHE) -> Response:
    """A resident's file as a response: checked type, inline or attachment, its name, nosniff, a sandboxing CSP."""
    content_type, inline = decide(content, item.get("mime"))
    name = file_name(item, content_type, fallback_name)
    resp = Response(content, content_type=content_type)
    resp.headers["Content-Disposition"] = content_disposition("inline" if inline else "attachment", name)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = FILE_CSP
    resp.headers["Cache-Control"] = cache
    return resp


# --- which file, for whom ---------------------------------------------------------------------------
@dataclass
class Found:
    """A resident's file: its bytes (`content`), or a link to the network's own host (`url`)."""

    item: dict
    fallback_name: str
    content: bytes | None = None
    url: str | None = None


def attachment(ticket: Ticket, message_id: int, index: int, config) -> Found:
    """The `index`-th file of a message of `ticket` (or of a ticket merged into it, at any depth: the files its
    timeline shows) — the caller has checked the user may see `ticket`. A place is our own map link built from its
    coordinates; copies kept at intake and web-form photos come from our storage (UPLOAD_DIR); other networks'
    files through the adapter's `fetch_file` (ChannelError when the network fails), else by link to the
    network's own hosts. NotFound for anything else."""
    message = db.session.get(Message, message_id)
    if message is None or message.ticket_id is None or index >= len(message.attachments or []):
        raise NotFound("Файл не найден")
    if message.ticket_id != ticket.id and message.ticket_id not in family_ids(ticket):
        raise NotFound("Файл не найден")
    item = message.attachments[index]
    found = Found(item=item, fallback_name=f"{ticket.number}-{message_id}-{index + 1}")
    if item.get("kind") == "location":
        point = content.coordinates(item.get("latitude"), item.get("longitude"))
        if point is None:
            raise NotFound("Файл не найден")
        found.url = content.map_url(*point)
        return found
    stored = item.get("stored")  # a copy kept at intake (the platform's link expires)
    if stored or message.network == "web":
        path = safe_join(config["UPLOAD_DIR"], str(stored or item.get("file_id") or ""))
        if path is None or not os.path.isfile(path):
            raise NotFound("Файл не найден")
        with open(path, "rb") as fh:
            found.content = fh.read()
        return found
    adapter = get_adapter(message.network)
    if hasattr(adapter, "fetch_file") and adapter.is_enabled(config):
        found.content, _upstream_type = adapter.fetch_file(item, config)  # the upstream type is not trusted
        return found
    found.url = safe_link(item.get("url"), message.network)  # only the network's own hosts, http(s)
    if not found.url:
        raise NotFound("Файл не найден")
    return found
