"""Jinja filters and globals: city-time dates, Russian plurals (from app.formatting), labels."""
from __future__ import annotations

from flask import Flask, current_app

from app import models
from app.channels.clean import redact_text, safe_link
from app.formatting import board_time, local_dt, plural_ru
from app.services import access, notifications, workflow
from app.services.sla import countdown


def register(app: Flask) -> None:
    app.jinja_env.filters["local_dt"] = local_dt
    app.jinja_env.globals["countdown"] = countdown.describe
    app.jinja_env.filters["plural_ru"] = plural_ru
    app.jinja_env.filters["board_time"] = board_time
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
