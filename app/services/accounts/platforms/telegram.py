"""Telegram through the city's bot (python-telegram-bot with base_url = TELEGRAM_API_URL, one `asyncio.run` per
batch, as app/channels/telegram does): `getChat` by @username (resolve), `getChatMemberCount` (subscribers),
`getChatMember` of the bot itself (check). The Bot API gives no post total and no views: the account's `posts`
are the posts the bot has seen since the account was connected (posts_source "seen"). About 30 requests a second
per bot (Bot FAQ); RetryAfter is waited out.
"""
from __future__ import annotations

import asyncio
from typing import Any

from app.channels.telegram import _retry_seconds, _run, api_url, bot_id, file_url
from app.services.accounts.platforms.address import TG_USERNAME
from app.services.accounts.platforms.base import (
    MAX_WAIT,
    PACING,
    RETRIES,
    Figures,
    Pacing,
    PlatformError,
    Resolved,
    Target,
    as_count,
    clip,
    timeout,
)

NAME = "Telegram"
RATE = 30.0  # requests a second per bot
CONCURRENCY = 8
OK_TYPES = ("channel", "supergroup")


def error_from(exc: Exception, what: str = "") -> PlatformError:
    from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut

    where = f" «{what}»" if what else ""
    if isinstance(exc, PlatformError):
        return exc
    if isinstance(exc, RetryAfter):
        return PlatformError(f"Telegram просит подождать ({exc.message}).", "rate_limited", _retry_seconds(exc))
    if isinstance(exc, InvalidToken):
        return PlatformError(f"Telegram: токен бота недействителен ({exc.message}): проверьте TELEGRAM_BOT_TOKEN.",
                             "bad_token")
    if isinstance(exc, BadRequest) and "not found" in exc.message.lower():
        return PlatformError(f"Telegram: канала{where} нет или бот его не видит ({exc.message}). Проверьте адрес; "
                             "для закрытого канала добавьте бота администратором.", "not_found")
    if isinstance(exc, Forbidden) or (isinstance(exc, BadRequest) and "admin" in exc.message.lower()):
        return PlatformError(f"Telegram: у бота нет доступа к каналу{where} ({exc.message}): добавьте бота "
                             "администратором канала.", "no_rights")
    if isinstance(exc, BadRequest):
        return PlatformError(f"Telegram отклонил запрос ({exc.message}).", "not_found")
    if isinstance(exc, TimedOut):
        return PlatformError("Telegram не ответил вовремя: повторим при следующем сборе.", "unavailable")
    if isinstance(exc, NetworkError):
        return PlatformError(f"Telegram недоступен ({exc.message}): повторим при следующем сборе.", "unavailable")
    if isinstance(exc, TelegramError):
        kind = "garbage" if "invalid server response" in exc.message.lower() else "unavailable"
        return PlatformError(f"Ошибка Telegram ({exc.message}): повторим при следующем сборе.", kind)
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return PlatformError(f"Telegram ответил неожиданным JSON ({exc.__class__.__name__}).", "garbage")
    raise exc


def _bot(config: dict, pool: int = 1):
    from telegram import Bot
    from telegram.request import HTTPXRequest

    t = timeout(config)
    request = HTTPXRequest(connection_pool_size=pool, connect_timeout=t, read_timeout=t, write_timeout=t,
                           pool_timeout=t)
    return Bot(str(config.get("TELEGRAM_BOT_TOKEN") or "0:none"), base_url=api_url(config),
               base_file_url=file_url(config), request=request, get_updates_request=request), request


async def _paced(pacer, make_call) -> Any:
    for attempt in range(RETRIES + 1):
        await pacer.await_turn()
        try:
            return await make_call()
        except Exception as exc:  # noqa: BLE001 — mapped below; what is not a platform error is raised again
            err = error_from(exc)
            if err.kind != "rate_limited" or attempt == RETRIES or (err.retry_after or 0) > MAX_WAIT:
                raise err from exc
            pacer.push_back(err.retry_after or 1.0)
    raise AssertionError("unreachable")


def _chat_id(value: str) -> int | str:
    try:
        return int(value)
    except (TypeError, ValueError):
        return f"@{str(value).lstrip('@')}"


def _check_type(chat, handle: str) -> None:
    if chat.type not in OK_TYPES:
        what = "личный чат" if chat.type == "private" else "обычная группа"
        raise PlatformError(f"«@{handle}» в Telegram — {what}, а не канал: укажите адрес канала участника.",
                            "wrong_network")


def resolve(handle: str, config: dict, pacing: Pacing = PACING) -> Resolved:
    pacer = pacing.for_token("telegram", str(config.get("TELEGRAM_BOT_TOKEN") or ""), RATE)

    async def go():
        bot, request = _bot(config)
        try:
            chat = await _paced(pacer, lambda: bot.get_chat(f"@{handle}"))
            _check_type(chat, handle)
            count = await _paced(pacer, lambda: bot.get_chat_member_count(chat.id))
            return chat, count
        finally:
            await request.shutdown()

    try:
        chat, count = _run(go())
    except PlatformError as exc:
        if exc.kind == "not_found":
            raise PlatformError(f"Канала @{handle} в Telegram нет: проверьте адрес (канал должен быть публичным или "
                                "бот — его администратором).", "not_found") from exc
        raise
    username = clip(chat.username or handle, 120)
    return Resolved(network="telegram", external_id=str(chat.id), handle=username, url=f"https://t.me/{username}",
                    title=clip(chat.title or username, 300),
                    followers=as_count(count) if isinstance(count, int) else None,
                    avatar_url=None)  # the photo is a file of the Bot API: fetched by the collection (avatars)


def check_token(external_id: str, config: dict, pacing: Pacing = PACING) -> str:
    """Telegram uses the city's bot: say whether it is an administrator of the channel."""
    pacer = pacing.for_token("telegram", str(config.get("TELEGRAM_BOT_TOKEN") or ""), RATE)
    me = bot_id(config)
    if not me:
        raise PlatformError("Не задан TELEGRAM_BOT_TOKEN: бот города не настроен.", "bad_token")

    async def go():
        bot, request = _bot(config)
        try:
            return await _paced(pacer, lambda: bot.get_chat_member(_chat_id(external_id), int(me)))
        finally:
            await request.shutdown()

    member = _run(go())
    if member.status in ("administrator", "creator"):
        post = getattr(member, "can_post_messages", None)
        return "Бот города — администратор канала" + (" и может публиковать записи." if post else
                                                     " (без права публиковать записи).")
    return "Бот города не администратор канала: он видит только число подписчиков, новые записи не попадут в учёт."


def collect_many(targets: list[Target], config: dict, pacing: Pacing = PACING,
                 avatars: set[int] | None = None) -> dict[int, Figures | PlatformError]:
    """getChatMemberCount of every channel, CONCURRENCY at a time, paced per bot; getChat too for the accounts in
    `avatars` (their photo's file id goes in Figures.avatar_url as "tg-file:<id>")."""
    if not targets:
        return {}
    pacer = pacing.for_token("telegram", str(config.get("TELEGRAM_BOT_TOKEN") or ""), RATE)
    avatars = avatars or set()

    async def go():
        bot, request = _bot(config, pool=CONCURRENCY)
        gate = asyncio.Semaphore(CONCURRENCY)
        out: dict[int, Figures | PlatformError] = {}

        async def count_of(t: Target):
            """By the channel's id; a public channel the bot has not joined may answer only to its @username."""
            chat_id = _chat_id(t.external_id or t.handle)
            try:
                return chat_id, await _paced(pacer, lambda: bot.get_chat_member_count(chat_id))
            except PlatformError as exc:
                if exc.kind != "not_found" or not TG_USERNAME.match(t.handle or "") or isinstance(chat_id, str):
                    raise
                by_name = f"@{t.handle}"
                return by_name, await _paced(pacer, lambda: bot.get_chat_member_count(by_name))

        async def one(t: Target):
            async with gate:
                try:
                    chat_id, count = await count_of(t)
                    if as_count(count) is None or not isinstance(count, int):
                        raise PlatformError("Telegram ответил на getChatMemberCount не числом.", "garbage")
                    fig = Figures(followers=count)
                    if t.account_id in avatars:
                        chat = await _paced(pacer, lambda: bot.get_chat(chat_id))
                        if chat.photo is not None:
                            fig.avatar_url = f"tg-file:{chat.photo.big_file_id}"
                        fig.title = clip(chat.title, 300) or None
                    out[t.account_id] = fig
                except PlatformError as exc:
                    out[t.account_id] = exc
                except Exception as exc:  # noqa: BLE001 — one channel's odd answer marks only that channel
                    out[t.account_id] = PlatformError(f"Telegram ответил неожиданно ({exc.__class__.__name__}): "
                                                      "повторим при следующем сборе.", "garbage")

        try:
            await asyncio.gather(*(one(t) for t in targets))
        finally:
            await request.shutdown()
        return out

    return _run(go())
