"""Webhooks of the networks: check the platform's secret, store what came exactly once, answer at once.
Triage happens in the intake queue. CSRF does not apply here (the platform's secret does).

Order of work, so that nobody without the secret can make us store anything:
1. only the platforms' webhooks exist here (the web form lives at /appeal, the API at /api/v1): else 404;
2. the body is bounded (WEBHOOK_MAX_BODY, 413);
3. a secret carried in a header (Telegram, MAX) or the address (OK) is checked before the body is parsed;
   VK's secret is in the JSON body, so a VK body that is not JSON is unauthenticated; a participant's VK
   community is checked against its own secret (services/accounts/credentials). Unauthenticated
   requests are only counted (services.refusals: a number on /admin and a log line with the address);
4. JSON is read with a depth limit; an authenticated body that is not JSON, or that the adapter refuses,
   is kept for /admin/rejections (secrets redacted) and answered 4xx; nothing raises a 500;
5. the payload is cleaned (channels.clean) and parsed; messages (residents') and posts (the participants'
   own publications, services/accounts/posts) are stored in one transaction and answered 200.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from app.channels import get_adapter
from app.channels.base import BadPayload
from app.channels.clean import NotJson, clean_payload, load_json
from app.extensions import csrf, db
from app.services import batchmemo, intake, refusals
from app.services.accounts import credentials
from app.services.accounts import posts as account_posts

bp = Blueprint("webhooks", __package__, url_prefix="/hooks")


log = logging.getLogger(__name__)
DEFAULT_MAX_BODY = 1024 * 1024  # 1 MB: a platform update is a few KB


def _adapter(network: str):
    try:
        adapter = get_adapter(network)
    except (KeyError, ImportError):
        abort(404)
    if not getattr(adapter, "webhook", True):
        abort(404)  # our own channels (web form, API) have their own routes and their own checks
    if not adapter.is_enabled(current_app.config):
        return None
    return adapter


def _text(body: str, status: int) -> Response:
    return Response(body, status, content_type="text/plain; charset=utf-8")


def _refused(network: str, why: str, status: int = 403, answer: str = "forbidden") -> Response:
    refusals.count(network, request.remote_addr, why)
    return _text(answer, status)


def _reject(network: str, reason: str, raw: bytes, headers: dict) -> None:
    """Keep an authenticated request we could not take (its body, secrets redacted) for the admin."""
    try:
        intake.reject(network, reason, raw.decode("utf-8", "replace"), headers)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("%s webhook: could not keep a rejected request", network)


@bp.post("/<network>")
@csrf.exempt
def hook(network: str):
    with batchmemo.scope():  # what the secret's check read (our VK community's account) is not read again to store
        return _hook(network)


def _hook(network: str):
    adapter = _adapter(network)
    if adapter is None:
        return _text("this network is not configured", 404)
    config = current_app.config
    limit = int(config.get("WEBHOOK_MAX_BODY") or DEFAULT_MAX_BODY)
    if (request.content_length or 0) > limit:
        return _text(f"request body larger than {limit} bytes", 413)
    request.max_content_length = limit  # a body without Content-Length is cut off at the same size
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _text(f"request body larger than {limit} bytes", 413)
    headers = dict(request.headers)
    secret_in_body = bool(getattr(adapter, "secret_in_body", False))
    if not secret_in_body and not adapter.verify(headers, None, config):
        return _refused(network, "wrong or missing secret")  # nothing parsed, nothing stored

    try:
        payload = load_json(raw)
        if not isinstance(payload, dict):
            raise NotJson("expected a JSON object")
    except NotJson as exc:
        if secret_in_body:  # no readable body, so no secret: unauthenticated
            return _refused(network, exc.reason, 400, f"bad request: {exc.reason}")
        log.warning("%s webhook: %s", network, exc.reason)
        _reject(network, exc.reason, raw, headers)
        return _text(f"bad request: {exc.reason}", 400)
    if secret_in_body:
        # VK: a participant's community is checked against its own secret (and confirmed with its own code)
        config = credentials.webhook_config(network, payload, config)
        if not adapter.verify(headers, payload, config):
            return _refused(network, "wrong or missing secret")

    payload = clean_payload(payload)
    try:
        parsed = adapter.parse(payload, config)
    except BadPayload as exc:
        log.warning("%s webhook: %s", network, exc.reason)
        if exc.status < 500:  # 5xx: our configuration is missing, not a bad delivery
            _reject(network, exc.reason, raw, headers)
        return _text(f"bad request: {exc.reason}", exc.status)
    except Exception as exc:  # noqa: BLE001 — a payload no parser foresaw: kept for the admin, never a 500
        log.exception("%s webhook: the adapter failed on a payload", network)
        reason = f"unreadable payload ({exc.__class__.__name__})"
        _reject(network, reason, raw, headers)
        return _text(f"bad request: {reason}", 400)
    try:
        intake.accept(parsed.messages)
        account_posts.store(parsed.posts)  # the participants' own publications: posts, never appeals
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.exception("%s webhook: could not store the messages", network)
        try:  # keep the delivery for the admin and tell the platform it arrived: a re-delivery fails the same way
            intake.reject(network, f"could not store ({exc.__class__.__name__})", raw.decode("utf-8", "replace"),
                          headers)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            return _text("temporarily unavailable", 503)
    return Response(parsed.body, parsed.status, content_type=parsed.content_type)
