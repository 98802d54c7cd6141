"""Residents' files whose platform links expire (VK, MAX, OK give signed CDN links that stop working after
hours or days) are fetched once after intake and kept in UPLOAD_DIR, so staff can open them later through
the app like the web form's photos. Telegram needs nothing: its file ids do not expire and are fetched on
demand (up to the Bot API's 20 MB).

Only the platforms' own file hosts are fetched (https, redirects checked hop by hop), at most
ATTACHMENT_STORE_MAX_BYTES each; a larger file keeps its link and says so. Failures keep the link too.
"""
from __future__ import annotations

import logging
import mimetypes
import os
from urllib.parse import urljoin, urlsplit

import httpx
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Message

log = logging.getLogger(__name__)

STORE_KINDS = frozenset({"photo", "document", "voice", "audio"})  # files
# Videos are files only where the platform links the file itself (MAX); VK and OK link a player page.
VIDEO_FILES = frozenset({"video"})
VIDEO_FILE_NETWORKS = frozenset({"max"})
# The file hosts of each platform (a leading dot: any subdomain).
HOSTS = {
    "vk": (".userapi.com", "vk.com", ".vk.com", ".vkuser.net", ".vk-cdn.net", ".vkuseraudio.net"),
    "max": (".oneme.ru", ".max.ru"),
    "ok": (".mycdn.me", "ok.ru", ".ok.ru", ".okcdn.ru"),
}
MAX_REDIRECTS = 3
SAFE_INLINE = ("image/", "audio/", "video/")  # served inline; anything else as a download


class TooLarge(Exception):
    pass


def _limit(config) -> int:
    return int(config.get("ATTACHMENT_STORE_MAX_BYTES") or 20 * 1024 * 1024)


def allowed(network: str, url: str, config) -> bool:
    """Whether `url` is one of the platform's own file hosts (or a prefix a test/deployment allows)."""
    if not isinstance(url, str):
        return False
    if any(url.startswith(prefix) for prefix in config.get("ATTACHMENT_FETCH_PREFIXES") or ()):
        return True
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        return False
    return any(host.endswith(h) if h.startswith(".") else host == h for h in HOSTS.get(network, ()))


def needs_storing(network: str, item: dict) -> bool:
    kinds = STORE_KINDS | VIDEO_FILES if network in VIDEO_FILE_NETWORKS else STORE_KINDS
    return (network in HOSTS and item.get("kind") in kinds and bool(item.get("url"))
            and not item.get("stored") and not item.get("note"))


def download(network: str, url: str, config) -> tuple[bytes, str]:
    """The file's bytes and type; raises TooLarge past the limit, httpx.HTTPError / ValueError otherwise."""
    limit = _limit(config)
    timeout = float(config.get("HTTP_TIMEOUT") or 10)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if not allowed(network, url, config):
                raise ValueError("not the platform's file host")
            with client.stream("GET", url) as resp:
                if resp.is_redirect:
                    url = urljoin(url, resp.headers.get("location", ""))
                    continue
                resp.raise_for_status()
                declared = resp.headers.get("content-length")
                if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
                    raise TooLarge()
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge()
                    chunks.append(chunk)
                mime = resp.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
                return b"".join(chunks), mime
    raise ValueError("too many redirects")


def _extension(item: dict, mime: str) -> str:
    name = item.get("name") or ""
    ext = os.path.splitext(name)[1].lower()
    if ext and len(ext) <= 8 and ext[1:].isalnum():
        return ext
    return mimetypes.guess_extension(mime or "") or ".bin"


def store_files(message_ids: list[int]) -> int:
    """Fetch and keep the expiring files of these messages; returns how many were stored. Caller commits."""
    config = current_app.config
    if not config.get("ATTACHMENT_STORE", True):
        return 0
    stored = 0
    limit_mb = _limit(config) // (1024 * 1024)
    for m in db.session.scalars(select(Message).where(Message.id.in_(message_ids))):
        items = [dict(a) for a in m.attachments or []]
        changed = False
        for index, item in enumerate(items):
            if not needs_storing(m.network, item):
                continue
            try:
                data, mime = download(m.network, item["url"], config)
            except TooLarge:
                item["note"] = f"больше {limit_mb} МБ: копия не сохранена, файл открывается по ссылке сети"
                changed = True
                continue
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("message %s file %s not stored: %s", m.id, index, exc)
                continue
            rel = f"messages/{m.network}/{m.id}-{index}{_extension(item, mime)}"
            path = os.path.join(config["UPLOAD_DIR"], rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
            item.update(stored=rel, size=len(data))
            if mime and mime != "application/octet-stream":
                item["mime"] = mime  # what the platform served, over what the payload guessed
            changed = True
            stored += 1
        if changed:
            m.attachments = items
    return stored


def ids_to_store(pairs: list[tuple[int, str, list[dict]]]) -> list[int]:
    """Of (message id, network, attachments), the ids with files to fetch."""
    return [mid for mid, network, items in pairs if any(needs_storing(network, a) for a in items)]


def serve_kwargs(item: dict) -> dict:
    """How to send a stored file: media inline with its type, anything else as a download."""
    mime = str(item.get("mime") or "application/octet-stream")
    inline = mime.startswith(SAFE_INLINE) and "svg" not in mime
    return {"mimetype": mime if inline else "application/octet-stream", "as_attachment": not inline,
            "download_name": item.get("name") or os.path.basename(item["stored"])}
