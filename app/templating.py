"""Jinja filters and globals: city-time dates, Russian plurals (from app.formatting), labels."""
from __future__ import annotations

import flask_babel
from flask import Flask, current_app

from app import models, shell
from app.blueprints.board import present as board_present
from app.blueprints.queue.rows import queue_rows
from app.blueprints.workspace.rows import workspace_rows
from app.channels.clean import redact_text, safe_link
from app.formatting import Labels, board_time, fmt_value, local_dt, plural_ru, translate
from app.kept_fields import kept_field, kept_hidden, kept_input
from app.security import embed_requested
from app.services import access, control, notifications, openstats, qr, workflow
from app.services.sla import countdown
from app.urls import ticket_url

# the label dicts as the templates see them: translated through formatting.translate (same text, cheaper in rows)
LABELS = {name: Labels(labels) for name, labels in {
    "STATUS_LABELS": models.STATUS_LABELS, "NETWORK_LABELS": models.NETWORK_LABELS,
    "REJECT_REASONS": models.REJECT_REASONS, "PRIORITY_LABELS": models.PRIORITY_LABELS,
    "REGIME_LABELS": models.REGIME_LABELS, "MESSAGE_KINDS": models.MESSAGE_KINDS,
    "ACTION_LABELS": workflow.ACTION_LABELS}.items()}


def register(app: Flask) -> None:
    """Every filter and global the templates use, in one place (blueprints register none of their own)."""
    # {{ _("…") }} as Flask-Babel installs it, with the catalogue lookup memoised per request (formatting.translate)
    t = flask_babel.get_translations
    app.jinja_env.install_gettext_callables(
        gettext=translate, ngettext=lambda s, p, n: t().ungettext(s, p, n), newstyle=True,
        pgettext=lambda c, s: t().upgettext(c, s), npgettext=lambda c, s, p, n: t().unpgettext(c, s, p, n))
    app.jinja_env.filters["local_dt"] = local_dt
    app.jinja_env.globals["countdown"] = countdown.describe
    app.jinja_env.filters["plural_ru"] = plural_ru
    app.jinja_env.filters["board_time"] = board_time
    app.jinja_env.filters["safe_link"] = safe_link  # links from payloads: http(s) to the network's hosts only
    app.jinja_env.filters["redact"] = redact_text  # secrets out of kept request bodies (rows older than the fix)

    app.jinja_env.globals.update({
        "page_shell": shell.page_shell,  # base.html's fixed URLs and top bar links, built once per rights and language
        "ticket_url": ticket_url,  # url_for('tickets.detail', number=…), cheaper in a list's rows
        "queue_rows": queue_rows,  # the queue's row renderer (queue/_rows.html)
        "workspace_rows": workspace_rows,  # /my's row renderer (workspace/_rows.html)
        # the ticket panel's form fields, rendered once per form class, field, data and language (app/kept_fields.py)
        "kept_field": kept_field, "kept_input": kept_input, "kept_hidden": kept_hidden,
        # the head's board
        "fmt_value": fmt_value, "figure_change": board_present.change, "BOARD_FIGURES": board_present.FIGURES,
        "board_charts": board_present.board_charts, "board_url": board_present.board_url,
        # control orders: functions, not values — the issue form and the order blocks may be on any page
        "CONTROL_STATES": models.CONTROL_STATES, "CONTROL_ACTIONS": control.ACTIONS,
        "control_institutions": control.institution_choices, "control_is_late": control.is_late,
        "control_stamp": control.stamp, "control_actions_for": control.allowed_actions,
        "control_due": control.describe_due, "CONTROL_STEP_LABELS": control.STEP_LABELS,
        "can_issue_orders": access.can_issue_orders, "can_see_orders": access.can_see_orders,
        # a participant's QR codes (templates/qr/_codes.html, included by the participant's page)
        "qr_codes": qr.codes,
        # a participant's public page: how it answers residents (None: not published)
        "participant_feedback": openstats.participant_feedback,
    })

    @app.context_processor
    def inject():
        return {
            **LABELS,
            "access": access,
            "unread_notifications": notifications.unread_count,
            "city_name": current_app.config["CITY_NAME"],
            "now": models.utcnow(),
            "embed": embed_requested(),  # ?embed=1 on a public page: no header (base.html)
        }
