"""Webhooks of the networks: check the platform's secret, store what came exactly once, answer at once.
Triage happens in the intake queue. CSRF does not apply here (the platform's secret does)."""
from __future__ import annotations

import json
import logging

from flask import Response, abort, current_app, request

from app.blueprints.webhooks import bp
from app.channels import get_adapter
from app.channels.base import BadPayload
from app.extensions import csrf, db
from app.services import intake

log = logging.getLogger(__name__)


def _adapter(network: str):
    try:
        adapter = get_adapter(network)
    except (KeyError, ImportError):
        abort(404)
    if not adapter.is_enabled(current_app.config):
        return None
    return adapter


@bp.post("/<network>")
@csrf.exempt
def hook(network: str):
    adapter = _adapter(network)
    if adapter is None:
        return Response("this network is not configured", 404, content_type="text/plain; charset=utf-8")
    body = request.get_data(cache=True, as_text=True)
    headers = dict(request.headers)
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        intake.reject(network, "not a JSON object", body, headers)
        db.session.commit()
        return Response("bad request: expected a JSON object", 400, content_type="text/plain; charset=utf-8")
    if not adapter.verify(headers, payload, current_app.config):
        return Response("forbidden", 403, content_type="text/plain; charset=utf-8")  # nothing stored
    try:
        parsed = adapter.parse(payload, current_app.config)
    except BadPayload as exc:
        log.warning("%s webhook: %s", network, exc.reason)
        intake.reject(network, exc.reason, body, headers)
        db.session.commit()
        return Response(f"bad request: {exc.reason}", exc.status, content_type="text/plain; charset=utf-8")
    intake.accept(parsed.messages)
    db.session.commit()
    return Response(parsed.body, parsed.status, content_type=parsed.content_type)
