"""A participant's deep links: the addresses its QR codes carry, and the code that comes back through them.

Every participant (Institution) has a `feedback_code`, made at insert (models/org.new_feedback_code). It travels in
- Telegram: `https://t.me/<TELEGRAM_BOT_USERNAME>?start=<code>` → the bot gets `/start <code>`;
- VK: `https://vk.me/<group>?ref=<code>` → `message_new` carries `ref` (and `ref_source`);
- MAX: `https://max.ru/<MAX_BOT_NAME>?start=<code>` → `bot_started` carries `payload` (dev.max.ru «Диплинки»:
  payload up to 128 characters);
- the web form: `<PUBLIC_BASE_URL>/appeal?p=<code>` → a hidden field, checked again when the form is sent.
The channels turn the first three into a `/start <code>` command; intake's triage resolves the code here
(`participant_by_code`) and routes the resident's appeal to the participant when it receives appeals
(`routable`). A bot without its name or token configured offers no link (no QR code is printed for it).
"""
from __future__ import annotations

import re
from urllib.parse import urlencode

from flask import current_app, has_request_context, request, url_for
from sqlalchemy import select

from app.channels.max import MaxAdapter
from app.channels.telegram import TelegramAdapter
from app.channels.vk import VkAdapter
from app.extensions import db
from app.models import Institution
from app.services import tickets

# What a code may look like before we ask the database (t.me ?start= allows 1-64 of A-Za-z0-9_-).
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# Codes printed before feedback codes existed: `i<institution id>` (still accepted).
_LEGACY = re.compile(r"^i(\d{1,9})$")
BOTS = ("telegram", "vk", "max")
FORM_PATH = "/appeal"  # public.appeal, for links made outside a request
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def participant_by_code(code: str | None) -> Institution | None:
    """The active participant whose code this is (case-insensitive), or None for anything else."""
    code = (code or "").strip().lower()
    if not _CODE.match(code):
        return None
    found = db.session.scalar(select(Institution).where(Institution.feedback_code == code,
                                                        Institution.is_active.is_(True)))
    if found is None and (legacy := _LEGACY.match(code)):
        found = db.session.get(Institution, int(legacy.group(1)))
        found = found if found is not None and found.is_active else None
    return found


def routable(institution: Institution | None) -> Institution | None:
    """The participant, if appeals that came through its code go to it (active and receiving appeals)."""
    return tickets.receiving(institution)


def _name(value) -> str | None:
    value = str(value or "").strip().lstrip("@")
    return value if _NAME.match(value) else None


def bot_link(network: str, code: str, config: dict | None = None) -> str | None:
    """The link that opens the city's feedback bot in `network` with the participant's code; None when that bot
    is not configured (its public name and its token)."""
    config = config if config is not None else current_app.config
    if network == "telegram":
        bot = _name(config.get("TELEGRAM_BOT_USERNAME"))
        return f"https://t.me/{bot}?start={code}" if bot and TelegramAdapter().is_enabled(config) else None
    if network == "vk":
        group = _name(config.get("VK_GROUP_ID"))
        if not group or not VkAdapter().is_enabled(config):
            return None
        return f"https://vk.me/{'club' + group if group.isascii() and group.isdigit() else group}?ref={code}"
    if network == "max":
        bot = _name(config.get("MAX_BOT_NAME"))
        return f"https://max.ru/{bot}?start={code}" if bot and MaxAdapter().is_enabled(config) else None
    return None


def form_link(code: str, config: dict | None = None) -> str:
    """The web form with the participant's code: on PUBLIC_BASE_URL when set, else on the host asked."""
    config = config if config is not None else current_app.config
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if not has_request_context():  # a job or the shell: no host to ask about
        return f"{base}{FORM_PATH}?{urlencode({'p': code})}"
    path = url_for("public.appeal", p=code)
    return f"{base}{path}" if base else f"{request.host_url.rstrip('/')}{path}"
