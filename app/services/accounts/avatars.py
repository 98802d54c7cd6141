"""An account's avatar, served by the app itself (public pages keep their strict CSP: no third-party images).

Fetched only from the platform's own hosts (app/channels/clean.safe_link: the network's hosts and its API's), or
through the Bot API for Telegram ("tg-file:<file_id>"); kept only when its first bytes show a raster image
(services/files.sniff); written under UPLOAD_DIR/avatars/<account id>.<ext>.
"""
from __future__ import annotations

import logging
import os
import tempfile

import httpx

from app.channels import telegram as tg_channel
from app.channels.base import ChannelError
from app.channels.clean import safe_link
from app.services.files import EXTENSIONS, INLINE_IMAGES, sniff

log = logging.getLogger(__name__)
MAX_BYTES = 2 * 1024 * 1024
FOLDER = "avatars"


def fetch(network: str, url: str | None, config: dict, client: httpx.Client | None = None) -> tuple[bytes, str] | None:
    """(content, media type) of an avatar, or None (not from the platform's hosts, too big, not an image, away).
    `client`: a shared httpx.Client (many avatars: one connection pool, one TLS context)."""
    if not url:
        return None
    own = client is None
    client = client or httpx.Client()
    try:
        if url.startswith("tg-file:"):  # getFile, then the file under base_file_url (the token stays here)
            info = tg_channel.call(config, "getFile", {"file_id": url[len("tg-file:"):]}, client=client)
            path = (info or {}).get("file_path") if isinstance(info, dict) else None
            if not path:
                return None
            url = f"{tg_channel.file_url(config)}{config.get('TELEGRAM_BOT_TOKEN') or ''}/{path}"
        elif not safe_link(url, network, config):
            return None
        chunks, size = [], 0
        with client.stream("GET", url, timeout=float(config.get("HTTP_TIMEOUT") or 10),
                           follow_redirects=False) as resp:
            if resp.status_code != 200:
                return None
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    return None
                chunks.append(chunk)
        content = b"".join(chunks)
    except (httpx.HTTPError, ChannelError, OSError) as exc:
        log.info("avatar of a %s account not fetched: %s", network, exc)
        return None
    finally:
        if own:
            client.close()
    kind = sniff(content)
    return (content, kind) if kind in INLINE_IMAGES else None


def save(account_id: int, content: bytes, kind: str, upload_dir: str) -> str:
    """Write the avatar; returns its path relative to UPLOAD_DIR (the same name each time: replaced in place)."""
    folder = os.path.join(upload_dir, FOLDER)
    os.makedirs(folder, exist_ok=True)
    name = f"{int(account_id)}.{EXTENSIONS[kind]}"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".avatar-")
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    os.replace(tmp, os.path.join(folder, name))
    for ext in {EXTENSIONS[k] for k in INLINE_IMAGES} - {EXTENSIONS[kind]}:  # an earlier avatar of another type
        old = os.path.join(folder, f"{int(account_id)}.{ext}")
        if os.path.exists(old):
            os.remove(old)
    return f"{FOLDER}/{name}"
