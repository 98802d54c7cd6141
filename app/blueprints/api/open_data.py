"""The open JSON API for the city site's widgets (contract: docs/openapi.json): participants, their accounts'
current figures and daily history. GET only, no login, no cookies; CORS only for EMBED_ALLOWED_ORIGINS
(the origin is echoed back, `Vary: Origin`). No personal data: the SM-specialist's name and contacts, tokens and
collection errors are never in the answer.
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, jsonify, request

from app.blueprints.api.routes import _error, bp
from app.models import ACCOUNT_NETWORKS
from app.security import embed_origins
from app.services import directory

OPEN_ENDPOINTS = {"api.participants", "api.participant", "api.account_snapshots"}


@bp.after_request
def cors(response):
    """Access-Control-Allow-Origin for the allowed origins only, on the open endpoints only."""
    if request.endpoint not in OPEN_ENDPOINTS:
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin", "")
    if origin and origin.rstrip("/") in embed_origins(current_app):
        response.headers["Access-Control-Allow-Origin"] = origin.rstrip("/")
        response.headers["Access-Control-Allow-Methods"] = "GET"
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers.setdefault("Cache-Control", "public, max-age=60")
    return response


def _filter(name: str, allowed: set[str]) -> tuple[str, str | None]:
    value = str(request.args.get(name, "") or "").strip()
    if value and value not in allowed:
        return value, f"Неизвестное значение параметра {name}: допустимы {', '.join(sorted(allowed))}"
    return value, None


@bp.get("/participants")
def participants():
    direction, problem = _filter("direction", directory.direction_codes())
    if problem:
        return _error(400, problem)
    network, problem = _filter("network", set(ACCOUNT_NETWORKS))
    if problem:
        return _error(400, problem)
    out = []
    for p in directory.participants():
        if direction and p.direction_code != direction:
            continue
        if network:
            p.accounts = [a for a in p.accounts if a.network == network]
            if not p.accounts:
                continue
        out.append(directory.api_participant(p))
    return jsonify({"participants": out, "count": len(out)})


@bp.get("/participants/<slug>")
def participant(slug: str):
    found = directory.participant(slug)
    if found is None:
        return _error(404, "Участник не найден")
    return jsonify(directory.api_participant(found))


class _BadDate(ValueError):
    pass


def _day(name: str, default: date) -> date:
    """An ISO date (2026-01-31) from the query string; `default` when absent; _BadDate otherwise."""
    raw = str(request.args.get(name, "") or "").strip()
    if not raw:
        return default
    if len(raw) != 10:
        raise _BadDate(name)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _BadDate(name) from None


@bp.get("/accounts/<int:account_id>/snapshots")
def account_snapshots(account_id: int):
    account = directory.active_account(account_id)
    if account is None or account.network == "other":
        return _error(404, "Аккаунт не найден")
    today = directory.city_today()
    try:
        end = _day("to", today)
        # `to` near 0001-01-01: a year back from it would be before the calendar's start (OverflowError → 500).
        default_start = max(date.min + timedelta(days=directory.SNAPSHOTS_DEFAULT_DAYS), end) \
            - timedelta(days=directory.SNAPSHOTS_DEFAULT_DAYS - 1)
        start = _day("from", min(default_start, end))
    except _BadDate as exc:
        return _error(400, f"Параметр {exc.args[0]} — дата в формате ГГГГ-ММ-ДД, например 2026-01-31")
    if start > end:
        return _error(400, "Дата from позже даты to")
    if (end - start).days + 1 > directory.SNAPSHOTS_MAX_DAYS:
        return _error(400, f"Период не длиннее {directory.SNAPSHOTS_MAX_DAYS} дней: запросите историю частями",
                      {"max_days": directory.SNAPSHOTS_MAX_DAYS})
    return jsonify({"account_id": account.id, "network": account.network,
                    "url": directory.public_link(account.url, account.network),
                    "from": start.isoformat(), "to": end.isoformat(),
                    "snapshots": directory.snapshots(account.id, start, end)})
