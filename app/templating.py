"""Jinja filters and globals: city-time dates, Russian plurals, labels."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import get_locale

from app import models
from app.channels.clean import redact_text, safe_link
from app.services import access, notifications, workflow


def local_dt(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["CITY_TZ"])).strftime(fmt)


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """Russian plural of three (translated) forms; other languages use one / many."""
    n = abs(int(n))
    if str(get_locale() or "ru").split("_")[0] != "ru":
        return one if n == 1 else many
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def register(app: Flask) -> None:
    from app.services import countdown  # it uses plural_ru from here

    app.jinja_env.filters["local_dt"] = local_dt
    app.jinja_env.globals["countdown"] = countdown.describe
    app.jinja_env.filters["plural_ru"] = plural_ru
    app.jinja_env.filters["safe_link"] = safe_link  # links from payloads: http(s) to the network's hosts only
    app.jinja_env.filters["redact"] = redact_text  # secrets out of kept request bodies (rows older than the fix)

    @app.context_processor
    def inject():
        return {
            "STATUS_LABELS": models.STATUS_LABELS,
            "NETWORK_LABELS": models.NETWORK_LABELS,
            "REJECT_REASONS": models.REJECT_REASONS,
            "PRIORITY_LABELS": models.PRIORITY_LABELS,
            "REGIME_LABELS": models.REGIME_LABELS,
            "MESSAGE_KINDS": models.MESSAGE_KINDS,
            "ACTION_LABELS": workflow.ACTION_LABELS,
            "access": access,
            "unread_notifications": notifications.unread_count,
            "city_name": current_app.config["CITY_NAME"],
            "now": models.utcnow(),
        }
