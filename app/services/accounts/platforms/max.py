"""MAX through the city's bot (`Authorization: <token>`): `GET /chats/{chatLink}` (resolve by the public link
or @name), `GET /chats/{chatId}` (`participants_count`), `GET /me` (check). Errors are `{"code", "message"}` with
the HTTP status. No post total and no views in the Bot API: posts_source "seen". About 30 requests a second.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx

from app.services.accounts.platforms.base import (
    PACING,
    Figures,
    Pacing,
    PlatformError,
    Resolved,
    Target,
    as_count,
    as_int,
    clip,
    json_body,
    retry_after_header,
    retrying,
    timeout,
    transport_error,
)

NAME = "MAX"
RATE = 30.0
CONCURRENCY = 4
OK_TYPES = ("channel", "chat")


def _base(config: dict) -> str:
    return str(config.get("MAX_API_URL") or "https://platform-api.max.ru").rstrip("/")


def get(path: str, config: dict, *, client: httpx.Client | None = None) -> Any:
    headers = {"Authorization": str(config.get("MAX_BOT_TOKEN") or "")}
    try:
        resp = (client.get if client is not None else httpx.get)(f"{_base(config)}{path}", headers=headers,
                                                                  timeout=timeout(config))
    except httpx.HTTPError as exc:
        raise transport_error(exc, NAME) from exc
    if resp.status_code >= 500:
        raise PlatformError(f"MAX ответил ошибкой сервера HTTP {resp.status_code}: повторим при следующем сборе.",
                            "unavailable")
    body = json_body(resp, NAME)
    if resp.status_code == 200:
        if not isinstance(body, dict):
            raise PlatformError("MAX ответил неожиданным JSON: повторим при следующем сборе.", "garbage")
        return body
    body = body if isinstance(body, dict) else {}
    detail = f"HTTP {resp.status_code}, {clip(body.get('code'), 60)}: {clip(body.get('message'), 200)}"
    if resp.status_code == 429:
        raise PlatformError(f"MAX просит подождать ({detail}).", "rate_limited", retry_after_header(resp))
    if resp.status_code == 401:
        raise PlatformError(f"MAX: токен бота недействителен ({detail}): проверьте MAX_BOT_TOKEN.", "bad_token")
    if resp.status_code == 403:
        raise PlatformError(f"MAX: у бота нет доступа к каналу ({detail}): добавьте бота администратором канала.",
                            "no_rights")
    if resp.status_code == 404:
        raise PlatformError(f"MAX: канал не найден ({detail}): проверьте адрес.", "not_found")
    raise PlatformError(f"MAX отклонил запрос ({detail}).", "unavailable")


def _check(chat: dict, what: str) -> None:
    if chat.get("type") not in OK_TYPES:
        raise PlatformError(f"«{what}» в MAX — личный диалог, а не канал: укажите адрес канала участника.",
                            "wrong_network")
    if chat.get("status") not in (None, "active"):
        raise PlatformError(f"Канал MAX «{what}» удалён или закрыт (статус {clip(chat.get('status'), 20)}).",
                            "not_found")


def _icon(chat: dict) -> str | None:
    icon = chat.get("icon")
    url = icon.get("url") if isinstance(icon, dict) else None
    return url if isinstance(url, str) else None


def resolve(handle: str, config: dict, pacing: Pacing = PACING) -> Resolved:
    pacer = pacing.for_token("max", str(config.get("MAX_BOT_TOKEN") or ""), RATE)
    chat = retrying(lambda: get(f"/chats/{quote(handle, safe='@')}", config), pacer)
    _check(chat, handle)
    cid = as_int(abs(chat["chat_id"])) if isinstance(chat.get("chat_id"), int) else None
    if cid is None:
        raise PlatformError("MAX ответил без chat_id: повторим позже.", "garbage")
    link = clip(str(chat.get("link") or "").rstrip("/").rpartition("/")[2] or handle, 120)
    return Resolved(network="max", external_id=str(chat["chat_id"]), handle=link, url=f"https://max.ru/{link}",
                    title=clip(chat.get("title") or link, 300), followers=as_count(chat.get("participants_count")),
                    avatar_url=_icon(chat))


def check_token(external_id: str, config: dict, pacing: Pacing = PACING) -> str:
    """MAX uses the city's bot: the bot answers, and it is a member of the channel."""
    pacer = pacing.for_token("max", str(config.get("MAX_BOT_TOKEN") or ""), RATE)
    me = retrying(lambda: get("/me", config), pacer)
    member = retrying(lambda: get(f"/chats/{quote(str(external_id))}/members/me", config), pacer)
    name = clip(me.get("name") or me.get("first_name") or "бот", 80)
    if member.get("is_admin"):
        return f"Бот города «{name}» — администратор канала MAX."
    return f"Бот города «{name}» в канале MAX, но не администратор: новые записи не попадут в учёт."


def _one(t: Target, config: dict, pacing: Pacing, client: httpx.Client) -> Figures:
    pacer = pacing.for_token("max", str(config.get("MAX_BOT_TOKEN") or ""), RATE)
    try:
        chat = retrying(lambda: get(f"/chats/{quote(str(t.external_id or t.handle), safe='@-')}", config,
                                    client=client), pacer)
    except PlatformError as exc:  # a public channel the bot is not in may answer only to its link
        if exc.kind not in ("not_found", "no_rights") or not t.handle or not t.external_id:
            raise
        chat = retrying(lambda: get(f"/chats/{quote(t.handle, safe='@')}", config, client=client), pacer)
    _check(chat, t.handle or t.external_id)
    count = as_count(chat.get("participants_count"))
    if count is None:
        raise PlatformError("MAX ответил без participants_count: повторим при следующем сборе.", "garbage")
    return Figures(followers=count, avatar_url=_icon(chat), title=clip(chat.get("title"), 300) or None)


def collect_many(targets: list[Target], config: dict, pacing: Pacing = PACING,
                 avatars: set[int] | None = None) -> dict[int, Figures | PlatformError]:
    out: dict[int, Figures | PlatformError] = {}
    if not targets:
        return out
    with httpx.Client() as client, ThreadPoolExecutor(CONCURRENCY) as pool:
        futures = {t.account_id: pool.submit(_one, t, config, pacing, client) for t in targets}
        for account_id, future in futures.items():
            try:
                out[account_id] = future.result()
            except PlatformError as exc:
                out[account_id] = exc
            except (ValueError, TypeError, AttributeError, KeyError) as exc:
                out[account_id] = PlatformError(f"MAX ответил неожиданным JSON ({exc.__class__.__name__}).",
                                                "garbage")
    return out
