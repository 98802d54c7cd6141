"""The ingest API: other systems hand residents' messages over as JSON (contract: docs/openapi.json).

Bearer token (one of INGEST_API_TOKENS) instead of CSRF; the caller's `external_id` makes retries
idempotent (201 the first time, 200 {"duplicate": true} after). Every error is JSON with a Russian
`error` and, for invalid fields, `details` {field: message}; a malformed body is kept for the admin
(IntakeRejection, without the Authorization header).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from app.channels import get_adapter
from app.channels.base import BadPayload
from app.channels.clean import MAX_DEPTH, NotJson, load_json
from app.channels.web import InvalidBody
from app.extensions import csrf, db
from app.models import Message
from app.services import intake, refusals

bp = Blueprint("api", __package__, url_prefix="/api/v1")


log = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # 1 MB: text up to 10 000 characters and links to attachments
OPENAPI = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def _error(status: int, error: str, details: dict | None = None, headers: dict | None = None) -> Response:
    resp = jsonify({"error": error, "details": details or {}})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _reject(reason: str, body: str) -> None:
    """Keep what we could not take for the admin; never the caller's token."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    try:
        intake.reject("api", reason, body.replace("\x00", "\\0"), headers)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not keep a rejected API request")


@bp.post("/messages")
@csrf.exempt
def messages():
    adapter = get_adapter("api")
    config = current_app.config
    if not adapter.is_enabled(config) or not adapter.verify(dict(request.headers), None, config):
        refusals.count("api", request.remote_addr, "missing or unknown bearer token")
        return _error(401, "Нужен заголовок Authorization: Bearer <токен> с действующим токеном",
                      headers={"WWW-Authenticate": 'Bearer realm="ingest"'})
    if (request.content_length or 0) > MAX_BODY:
        return _error(413, "Тело запроса больше 1 МБ", {"max_bytes": MAX_BODY})
    request.max_content_length = MAX_BODY  # a body without Content-Length is cut off at the same size
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _error(413, "Тело запроса больше 1 МБ", {"max_bytes": MAX_BODY})
    try:
        body = raw.decode("utf-8")
        payload = load_json(body)
        json.dumps(payload, ensure_ascii=False).encode("utf-8")  # lone surrogates ("\ud800") cannot be stored
    except NotJson as exc:
        _reject(exc.reason, raw.decode("utf-8", "replace"))
        if "nested" in exc.reason:
            return _error(400, f"Тело запроса вложено глубже {MAX_DEPTH} уровней")
        return _error(400, "Тело запроса — не JSON в кодировке UTF-8")
    except (UnicodeError, ValueError):
        _reject("not JSON", raw.decode("utf-8", "replace"))
        return _error(400, "Тело запроса — не JSON в кодировке UTF-8")
    try:
        parsed = adapter.parse(payload, config)
    except InvalidBody as exc:
        _reject(exc.reason, body)
        return _error(422, "Некорректные поля сообщения", exc.details)
    except BadPayload as exc:
        _reject(exc.reason, body)
        return _error(400, "Ожидается JSON-объект с полями сообщения")
    message = parsed.messages[0]
    try:
        new_ids = intake.accept([message])
        db.session.commit()
        if new_ids:
            return jsonify({"message_id": new_ids[0], "duplicate": False}), 201
        existing = db.session.scalar(select(Message.id).where(Message.network == "api",
                                                              Message.external_id == message.external_id))
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("API intake failed")
        return _error(503, "Сервис временно недоступен, повторите запрос позже", headers={"Retry-After": "30"})
    return jsonify({"message_id": existing, "duplicate": True}), 200


@bp.get("/openapi.json")
def openapi():
    """The one source of the API contract, docs/openapi.json, as it is."""
    try:
        return Response(OPENAPI.read_bytes(), 200, content_type="application/json; charset=utf-8")
    except OSError:
        return _error(404, "Описание API не найдено")
