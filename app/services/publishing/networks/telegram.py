"""Publishing to a Telegram channel through the city's bot (python-telegram-bot, base_url = TELEGRAM_API_URL, one
`asyncio.run` per call as app/services/accounts/platforms/telegram does). The interface is base.py's:

    check_rights(channel, config, pacing=PACING) -> Rights            # getChatMember(channel, the bot)
    send_part(channel, plan, k, photos, config, *, guid=None, uploaded=None, pacing=PACING) -> Sent
    edit(channel, parts, plan, config, pacing=PACING) -> None         # editMessageText / editMessageCaption
    delete(channel, parts, config, pacing=PACING) -> None             # deleteMessage for every message

Part k of the plan (limits._plan_telegram) is one call: `sendMessage` (text ≤ 4096, `link_preview_options` from
part.options), `sendPhoto` (one photo, the caption ≤ 1024) or `sendMediaGroup` (2–10 photos, the caption on the
first). The photos of a part are the post's first `part.photos` photos. `Sent.ids` are the message ids the call
created (an album: one per photo), `external_id` the first; the outbox stores them per part: `parts` = a list with
one list of message ids (str) per accepted part, in plan order — what edit() and delete() take.

Permalink: https://t.me/<username>/<id> when the channel has a public username (Telegram's answer or
channel.handle), else https://t.me/c/<id without -100>/<id> (opens for the channel's members only), else None.

`uploaded["telegram_file_ids"]`: after a photo call, Telegram's file_id of every photo sent (in order). A later call
with as many photos sends those ids instead of the bytes (a file_id is valid for the same bot in any chat, so the
outbox may seed one Telegram delivery's dict from another of the same post); a refused file_id falls back to the
bytes.

Pace (Bot FAQ, PLATFORM-NOTES §1): about one message a second per channel and 30 requests a second per bot. Each
call waits for the channel's window (a per-chat Pacer at 1/s, which an album of n photos holds for n seconds:
Telegram counts each photo as a message) and the bot's (shared with the statistics collection). A 429's
retry_after is waited out up to base.MAX_WAIT and RETRIES times; a longer one goes to the outbox as rate_limited.

Errors are PublishError with a Russian sentence naming the account and what to do. `uncertain=True` when a send
method's request may have reached Telegram without our getting the answer: a read/write timeout, a dropped
connection, a 5xx, an unreadable answer. A connection refused or a connect/pool timeout (the request never left) is
not uncertain. Edits and deletions are safe to repeat and are never uncertain.
"""
from __future__ import annotations

import logging
from typing import Any

import httpx

from app.channels.telegram import _retry_seconds, _run, _short_id, api_url, bot_id, file_url
from app.services.accounts.platforms.address import TG_USERNAME
from app.services.accounts.platforms.base import MAX_WAIT, PACING, RETRIES, Pacer, Pacing, timeout
from app.services.publishing.limits import Plan
from app.services.publishing.networks.base import Channel, PhotoFile, PublishError, Rights, Sent

log = logging.getLogger(__name__)

NAME = "Telegram"
BOT_RATE = 30.0  # requests a second per bot (Bot FAQ)
CHAT_RATE = 1.0  # messages a second per channel (Bot FAQ: «avoid sending more than one message per second»)
SEND_METHODS = ("sendMessage", "sendPhoto", "sendMediaGroup")
FILE_IDS = "telegram_file_ids"
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # the request never left


# --- helpers -------------------------------------------------------------------------------------------------
def _token(config: dict) -> str:
    return str(config.get("TELEGRAM_BOT_TOKEN") or "")


def _pacers(channel: Channel, config: dict, pacing: Pacing) -> tuple[Pacer, Pacer]:
    """(the channel's window, the bot's window)."""
    token = _token(config)
    return (pacing.for_token("telegram-chat", f"{token}|{channel.external_id or channel.handle}", CHAT_RATE),
            pacing.for_token("telegram", token, BOT_RATE))


def _chat_ref(channel: Channel) -> int | str:
    value = str(channel.external_id or "").strip()
    if value.isascii() and value.lstrip("-").isdigit():
        return int(value)
    return f"@{(channel.handle or value).lstrip('@')}"


def _bot_label(config: dict, username: str | None = None) -> str:
    """«@name» of the city's bot for sentences («добавьте бота @name …»), else «города»."""
    name = username or str(config.get("TELEGRAM_BOT_USERNAME") or "").lstrip("@")
    return f"@{name}" if name else "города"


def _where(channel: Channel) -> str:
    return f"канал Telegram «{channel.name}»"


def _of(channel: Channel) -> str:
    return f"канала Telegram «{channel.name}»"


def _in(channel: Channel) -> str:
    return f"канале Telegram «{channel.name}»"


def _permalink(channel: Channel, message_id: str, username: str | None = None) -> str | None:
    name = username or (channel.handle or "").lstrip("@")
    if name and TG_USERNAME.match(name):
        return f"https://t.me/{name}/{message_id}"
    ref = str(channel.external_id or "")
    if ref.startswith("-100") and ref.isascii() and ref[1:].isdigit():
        return f"https://t.me/c/{_short_id(int(ref))}/{message_id}"
    return None


def _bot(config: dict):
    from telegram import Bot
    from telegram.request import HTTPXRequest

    t = timeout(config)
    request = HTTPXRequest(connection_pool_size=1, connect_timeout=t, read_timeout=t, write_timeout=t,
                           pool_timeout=t, media_write_timeout=max(3 * t, 30.0))
    return Bot(_token(config) or "0:none", base_url=api_url(config), base_file_url=file_url(config),
               request=request, get_updates_request=request), request


def _cause(exc: BaseException) -> BaseException | None:
    seen = exc.__cause__ or exc.__context__
    while seen is not None and not isinstance(seen, httpx.HTTPError):
        seen = seen.__cause__ or seen.__context__
    return seen


def error_from(exc: BaseException, channel: Channel, config: dict, *, sending: bool = False) -> PublishError:
    """python-telegram-bot's exception → PublishError naming the account. `sending`: the call creates messages
    (a lost answer then leaves its fate unknown)."""
    from telegram.error import (
        BadRequest,
        ChatMigrated,
        Forbidden,
        InvalidToken,
        NetworkError,
        RetryAfter,
        TelegramError,
        TimedOut,
    )

    if isinstance(exc, PublishError):
        return exc
    where, bot = _where(channel), _bot_label(config)
    message = getattr(exc, "message", "") or str(exc)
    low = message.lower()
    # a send is retried by the outbox; an edit, a deletion or a check is tried again by the person
    later = "повторим автоматически" if sending else "попробуйте ещё раз позже"
    if isinstance(exc, RetryAfter):
        seconds = _retry_seconds(exc)
        return PublishError(f"Telegram просит подождать {seconds:g} с перед следующим запросом для {_of(channel)}: "
                            f"{later}.", "rate_limited", seconds)
    if isinstance(exc, InvalidToken):
        return PublishError(f"Telegram не принял токен бота города ({message}), поэтому в {where} ничего не "
                            "опубликовано: администратору — проверьте TELEGRAM_BOT_TOKEN.", "bad_token")
    if isinstance(exc, ChatMigrated):
        return PublishError(f"{where[0].upper()}{where[1:]} стал другим чатом (новый id {exc.new_chat_id}): "
                            "подключите аккаунт заново.", "not_found")
    if isinstance(exc, Forbidden):
        return PublishError(f"Бот {bot} не может публиковать в {where} ({message}): добавьте бота {bot} "
                            "администратором канала с правом публиковать сообщения.", "no_rights")
    if isinstance(exc, BadRequest):
        if "can't be deleted" in low or "message can not be deleted" in low:
            return PublishError(f"Telegram не дал удалить сообщение в {_in(channel)}: бот может удалять свои сообщения "
                                "в канале только в течение 48 часов после публикации — удалите пост в канале "
                                "вручную.", "no_rights")
        if "can't be edited" in low:
            return PublishError(f"Telegram не дал изменить сообщение в {_in(channel)} ({message}): измените пост в "
                                "канале вручную или удалите его и опубликуйте заново.", "no_rights")
        if "to edit not found" in low or "to delete not found" in low:
            return PublishError(f"Сообщения поста в {_in(channel)} больше нет (его удалили в канале): изменить его "
                                "нельзя — опубликуйте пост заново.", "not_found")
        if "chat not found" in low:
            return PublishError(f"Telegram не находит {where} ({message}): проверьте, что канал существует и бот "
                                f"{bot} — его администратор с правом публиковать сообщения.", "not_found")
        if "rights" in low or "admin" in low or "not enough" in low:
            return PublishError(f"У бота {bot} нет права публиковать в {where} ({message}): сделайте бота {bot} "
                                "администратором канала с правом публиковать сообщения.", "no_rights")
        return PublishError(f"Telegram отклонил публикацию в {where} ({message}): проверьте текст и фото поста; "
                            "если повторяется — сообщите администратору.", "not_found")
    if isinstance(exc, (TimedOut, NetworkError)):
        cause = _cause(exc)
        never_left = isinstance(cause, _NOT_SENT) or "pool timeout" in low
        uncertain = sending and not never_left
        what = "не ответил вовремя" if isinstance(exc, TimedOut) else f"недоступен ({message})"
        if uncertain:
            return PublishError(f"Telegram {what} при публикации в {where}: неизвестно, вышел ли пост — проверьте "
                                "канал и, если поста нет, нажмите «отправить ещё раз».", "unavailable",
                                uncertain=True)
        if sending:
            return PublishError(f"Telegram {what}, публикация в {where} не отправлена: повторим автоматически.",
                                "unavailable")
        return PublishError(f"Telegram {what}, запрос для {_of(channel)} не выполнен: {later}.", "unavailable")
    if isinstance(exc, TelegramError):
        kind = "garbage" if "invalid server response" in low else "unavailable"
        if sending:
            return PublishError(f"Telegram ответил непонятно при публикации в {where} ({message}): неизвестно, "
                                "вышел ли пост — проверьте канал и, если поста нет, нажмите «отправить ещё раз».",
                                kind, uncertain=True)
        return PublishError(f"Ошибка Telegram при работе с каналом «{channel.name}» ({message}): {later}.", kind)
    log.exception("unexpected error publishing to Telegram %s", channel.external_id)
    return PublishError(f"Неожиданная ошибка при работе с каналом Telegram «{channel.name}» ({exc.__class__.__name__})"
                        + (": неизвестно, вышел ли пост — проверьте канал." if sending else
                           f": {later}; если повторяется — сообщите администратору."),
                        "garbage", uncertain=sending)


async def _call(pacers: tuple[Pacer | None, Pacer], make_call, channel: Channel, config: dict, *, sending: bool,
                weight: int = 1) -> Any:
    """`make_call()` in the channel's and the bot's turn; a 429 is waited out (see the module docstring).
    `weight`: how many messages the call makes (an album holds the channel's window that many seconds)."""
    chat, bot = pacers
    for attempt in range(RETRIES + 1):
        if chat is not None:
            await chat.await_turn()
        await bot.await_turn()
        try:
            result = await make_call()
        except Exception as exc:  # noqa: BLE001 — every error becomes a PublishError
            err = error_from(exc, channel, config, sending=sending)
            if err.kind != "rate_limited" or attempt == RETRIES or (err.retry_after or 0) > MAX_WAIT:
                raise err from exc
            (chat or bot).push_back(err.retry_after or 1.0)
            continue
        if weight > 1 and chat is not None:
            chat.push_back(weight / CHAT_RATE)  # as if each photo had taken its own second
        return result
    raise AssertionError("unreachable")


def _run_safely(coro, channel: Channel, config: dict, *, sending: bool) -> Any:
    try:
        return _run(coro)
    except PublishError:
        raise
    except Exception as exc:  # noqa: BLE001 — e.g. the event loop could not start: still a sentence
        raise error_from(exc, channel, config, sending=sending) from exc


# --- rights --------------------------------------------------------------------------------------------------
def check_rights(channel: Channel, config: dict, pacing: Pacing = PACING) -> Rights:
    """getChatMember(channel, the bot): an administrator (or creator) with can_post_messages may post text and
    photos. Not an admin, no right, an unknown channel, no access, a bad token → Rights(False, False, why and what
    to do). A passing trouble (429 beyond MAX_WAIT, network, garbage) raises PublishError: the answer is unknown."""
    me = bot_id(config)
    where = _where(channel)
    if not me:
        return Rights(False, False, f"Бот города для Telegram не настроен (нет TELEGRAM_BOT_TOKEN), поэтому в {where} "
                                    "публиковать нельзя: администратору — задайте токен бота.")
    pacers = (None, pacing.for_token("telegram", _token(config), BOT_RATE))

    async def go():
        bot, request = _bot(config)
        try:
            return await _call(pacers, lambda: bot.get_chat_member(_chat_ref(channel), int(me)), channel, config,
                               sending=False)
        finally:
            await request.shutdown()

    try:
        member = _run_safely(go(), channel, config, sending=False)
    except PublishError as exc:
        if exc.final:
            return Rights(False, False, exc.message)
        raise
    label = _bot_label(config, getattr(getattr(member, "user", None), "username", None))
    status = str(getattr(member, "status", "") or "")
    if status == "creator":
        return Rights(True, True, f"Бот {label} — владелец {_of(channel)}: можно публиковать текст и фото.")
    if status == "administrator":
        post = getattr(member, "can_post_messages", None)
        if post is False:
            return Rights(False, False, f"Бот {label} — администратор {_of(channel)}, но без права публиковать "
                                        f"сообщения: в настройках администраторов канала включите боту {label} "
                                        "право «Публикация сообщений».")
        return Rights(True, True, f"Бот {label} — администратор {_of(channel)} с правом публиковать сообщения: можно "
                                  "публиковать текст и фото.")
    return Rights(False, False, f"Бот {label} не администратор {_of(channel)}: добавьте бота {label} администратором "
                                "канала с правом публиковать сообщения.")


# --- sending -------------------------------------------------------------------------------------------------
def _files(photos: list[PhotoFile], channel: Channel) -> list[tuple[bytes, str]]:
    """(bytes, file name) of each photo."""
    try:
        return [(p.read(), p.filename) for p in photos]
    except OSError as exc:
        raise PublishError(f"Фото поста для {_of(channel)} не прочитать из хранилища ({exc.__class__.__name__}): "
                           "повторим автоматически; если повторяется — сообщите администратору.",
                           "unavailable") from exc


def _largest_file_id(message) -> str | None:
    sizes = getattr(message, "photo", None) or ()
    return sizes[-1].file_id if sizes else None


def send_part(channel: Channel, plan: Plan, k: int, photos: list[PhotoFile], config: dict, *,
              guid: str | None = None, uploaded: dict | None = None, pacing: Pacing = PACING) -> Sent:
    """Make call k of the plan in the channel (see the module docstring). `guid` is ignored: Telegram has no
    idempotency key. `uploaded` gets Telegram's file ids after a photo call."""
    from telegram import InputMediaPhoto, LinkPreviewOptions
    from telegram.error import BadRequest

    if plan.refused or not 0 <= k < len(plan.parts):
        raise PublishError(f"Для {_of(channel)} нет такой части поста (№{k + 1}): пост нельзя отправить в "
                           "Telegram — проверьте его и опубликуйте заново.", "wrong_network")
    part = plan.parts[k]
    if part.method not in SEND_METHODS:
        raise PublishError(f"Часть поста для {_of(channel)} — не метод Telegram ({part.method}): пост нельзя "
                           "отправить — опубликуйте его заново.", "wrong_network")
    uploaded = uploaded if uploaded is not None else {}
    pics = list(photos)[:part.photos]
    if len(pics) < part.photos:
        raise PublishError(f"У поста для {_of(channel)} не хватает фото ({len(pics)} из {part.photos}): "
                           "добавьте фото или опубликуйте пост заново.", "not_found")
    chat_ref = _chat_ref(channel)
    pacers = _pacers(channel, config, pacing)
    known = uploaded.get(FILE_IDS)
    reuse = isinstance(known, list) and len(known) == len(pics) and all(isinstance(f, str) and f for f in known)

    def media(by_id: bool) -> list[tuple[Any, str | None]]:
        return [(file_id, None) for file_id in known] if by_id else _files(pics, channel)

    async def go():
        bot, request = _bot(config)
        try:
            if part.method == "sendMessage":
                options = (part.options or {}).get("link_preview_options") or {}
                preview = LinkPreviewOptions(is_disabled=bool(options.get("is_disabled")))
                message = await _call(pacers, lambda: bot.send_message(chat_ref, part.text,
                                                                       link_preview_options=preview),
                                      channel, config, sending=True)
                return [message]

            async def photos_call(by_id: bool):
                items = media(by_id)
                if part.method == "sendPhoto":
                    (photo, name), = items
                    message = await _call(pacers, lambda: bot.send_photo(chat_ref, photo, caption=part.text or None,
                                                                         filename=name),
                                          channel, config, sending=True)
                    return [message]
                album = [InputMediaPhoto(photo, caption=part.text if i == 0 and part.text else None, filename=name)
                         for i, (photo, name) in enumerate(items)]
                return list(await _call(pacers, lambda: bot.send_media_group(chat_ref, album), channel, config,
                                        sending=True, weight=len(album)))

            if reuse:
                try:
                    return await photos_call(True)
                except PublishError as exc:
                    cause = exc.__cause__
                    if not (isinstance(cause, BadRequest) and "file" in cause.message.lower()):
                        raise
                    uploaded.pop(FILE_IDS, None)  # Telegram no longer knows the ids: send the bytes
            return await photos_call(False)
        finally:
            await request.shutdown()

    messages = _run_safely(go(), channel, config, sending=True)
    ids = [str(m.message_id) for m in messages if getattr(m, "message_id", None) is not None]
    if not ids:
        raise PublishError(f"Telegram принял публикацию в {_where(channel)}, но не вернул номер сообщения: "
                           "проверьте канал и, если поста нет, нажмите «отправить ещё раз».", "garbage",
                           uncertain=True)
    if part.photos:
        file_ids = [_largest_file_id(m) for m in messages]
        if all(file_ids):
            uploaded[FILE_IDS] = file_ids
    username = getattr(getattr(messages[0], "chat", None), "username", None)
    return Sent(external_id=ids[0], permalink=_permalink(channel, ids[0], username), ids=ids)


# --- edit and delete -----------------------------------------------------------------------------------------
def _ids(parts: Any) -> list[list[str]]:
    """The outbox's `parts` (a list of message-id lists, one per part; a bare id counts as a part of one)."""
    out = []
    for item in parts or []:
        values = item if isinstance(item, (list, tuple)) else [item]
        out.append([str(v) for v in values if str(v).strip().isascii() and str(v).strip().isdigit()])
    return out


def _expected(part) -> int:
    return part.photos if part.method == "sendMediaGroup" else 1


def edit(channel: Channel, parts: Any, plan: Plan, config: dict, pacing: Pacing = PACING) -> None:
    """Give the published copy the text of the new plan: editMessageText for each text message,
    editMessageCaption for the photo or the album's first photo. Telegram lets a bot edit its channel posts at
    any time; a plan of another shape (more or fewer messages, other photos) cannot be applied by editing."""
    from telegram import LinkPreviewOptions

    ids = _ids(parts)
    if plan.refused or len(ids) != len(plan.parts) or any(
            len(got) != _expected(part) for got, part in zip(ids, plan.parts, strict=True)):
        raise PublishError(f"Пост в {_in(channel)} нельзя изменить правкой: после изменений он состоит из других "
                           "сообщений или фото, чем опубликованный — удалите его и опубликуйте заново.", "no_rights")
    chat_ref = _chat_ref(channel)
    pacers = _pacers(channel, config, pacing)

    async def one(call) -> None:
        try:
            await _call(pacers, call, channel, config, sending=False)
        except PublishError as exc:
            cause = exc.__cause__
            if cause is not None and "not modified" in (getattr(cause, "message", "") or "").lower():
                return  # already this text
            raise

    async def go():
        bot, request = _bot(config)
        try:
            for got, part in zip(ids, plan.parts, strict=True):
                message_id = int(got[0])
                if part.method == "sendMessage":
                    options = (part.options or {}).get("link_preview_options") or {}
                    preview = LinkPreviewOptions(is_disabled=bool(options.get("is_disabled")))
                    await one(lambda text=part.text, mid=message_id, preview=preview: bot.edit_message_text(
                        text, chat_id=chat_ref, message_id=mid, link_preview_options=preview))
                elif part.text or len(plan.parts) == 1:  # an empty caption of a split post stays empty
                    await one(lambda text=part.text, mid=message_id: bot.edit_message_caption(
                        chat_id=chat_ref, message_id=mid, caption=text))
        finally:
            await request.shutdown()

    _run_safely(go(), channel, config, sending=False)


def delete(channel: Channel, parts: Any, config: dict, pacing: Pacing = PACING) -> None:
    """deleteMessage for every message of the copy. A message already gone counts as deleted; Telegram refuses
    messages older than 48 hours (PublishError no_rights saying so)."""
    chat_ref = _chat_ref(channel)
    pacers = _pacers(channel, config, pacing)
    ids = [int(i) for got in _ids(parts) for i in got]

    async def go():
        bot, request = _bot(config)
        try:
            for message_id in ids:
                try:
                    await _call(pacers, lambda mid=message_id: bot.delete_message(chat_ref, mid), channel, config,
                                sending=False)
                except PublishError as exc:
                    cause = exc.__cause__
                    if cause is not None and "to delete not found" in (getattr(cause, "message", "") or "").lower():
                        continue  # already deleted
                    raise
        finally:
            await request.shutdown()

    _run_safely(go(), channel, config, sending=False)
