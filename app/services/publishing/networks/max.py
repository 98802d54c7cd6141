"""Publishing to a MAX channel through the city's bot: the MAX Bot API over httpx (`Authorization: <token>`, base
MAX_API_URL), as app/services/accounts/platforms/max.py and app/channels/max.py talk to it. base.py's interface:

    check_rights(channel, config, pacing=PACING) -> Rights            # GET /chats/{chatId}/members/me
    send_part(channel, plan, k, photos, config, *, guid=None, uploaded=None, pacing=PACING) -> Sent
    edit(channel, parts, plan, config, pacing=PACING) -> None         # PUT /messages?message_id=
    delete(channel, parts, config, pacing=PACING) -> None             # DELETE /messages?message_id=

A part of the plan (limits._plan_max) is one `POST /messages?chat_id=<id>&disable_link_preview=<bool>` with
`{"text", "attachments": [{"type": "image", "payload": {"token"}}, …]}`; the first part carries the post's photos.
A photo is uploaded first (dev.max.ru POST /uploads): `POST /uploads?type=image` → `{"url"}`, then the file as
multipart (field `data`) to that URL → `{"photos": {<id>: {"token"}}}` (image; other types answer `{"token"}`).
One URL takes one file. The tokens go in `uploaded["max_tokens"]` (in photo order) as soon as each upload is done,
so a retry never uploads a photo twice; MAX keeps an uploaded file until it is removed from the chat it was sent
to, so the outbox may also seed this list from another MAX delivery of the same post. A message whose attachment
MAX has not processed yet is answered `attachment.not.ready` (HTTP 400): waited out (NOT_READY_WAITS, on the
pacing's sleeper) and tried again, then handed to the outbox as «unavailable».

The answer is `{"message": {"body": {"mid"}, "url"?}}`: Sent(external_id=mid, ids=[mid], permalink=url or None).
The outbox stores `parts` as one list per accepted part with the message's mid: [["mid.…"], ["mid.…"]].

Pace: 2 messages a second per chat (POST /messages; PUT /messages says the same) — a per-chat Pacer at that rate,
which at base.SAFETY keeps to one a second — and about 30 requests a second per bot (shared with the statistics
collection). 429 → Retry-After waited out up to base.MAX_WAIT (RETRIES times), a longer one goes to the outbox as
rate_limited.

Errors: PublishError with a Russian sentence naming the account. `uncertain=True` when POST /messages may have
reached MAX without our getting the answer (a read/write timeout, a dropped connection, a 5xx, an unreadable
answer); a refused connection or a connect timeout is not uncertain. Uploads, edits and deletions are never
uncertain (an upload is invisible, an edit or deletion can be repeated).

Edit: MAX edits bot messages in channels «независимо от срока давности» (dev.max.ru PUT /messages). Only the text is
changed (attachments are not sent, so the photos stay); a plan with another number of messages is refused. Delete:
dev.max.ru does not say how long a bot may delete its channel messages; we assume 48 hours (UNVERIFIED) and say so
when MAX refuses (`{"success": false, "message"}`).
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx

from app.services.accounts.platforms.base import MAX_WAIT, PACING, RETRIES, Pacer, Pacing, clip, timeout
from app.services.publishing.limits import Plan
from app.services.publishing.networks.base import Channel, PhotoFile, PublishError, Rights, Sent

log = logging.getLogger(__name__)

NAME = "MAX"
BOT_RATE = 30.0  # requests a second per bot (green-api.com MAX Bot API FAQ; PLATFORM-NOTES §1)
CHAT_RATE = 2.0  # messages a second per chat (dev.max.ru POST /messages, PUT /messages)
TOKENS = "max_tokens"
NOT_READY = "attachment.not.ready"
NOT_READY_WAITS = (1.0, 2.0, 3.0, 5.0)  # seconds between tries while MAX processes an uploaded photo
POST_PERMISSIONS = ("write", "post_edit_delete_message")
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # the request never left


class _NotReady(Exception):
    """MAX has not processed an attachment of the message yet (`attachment.not.ready`)."""


def _base(config: dict) -> str:
    return str(config.get("MAX_API_URL") or "https://platform-api.max.ru").rstrip("/")


def _token(config: dict) -> str:
    return str(config.get("MAX_BOT_TOKEN") or "")


def _where(channel: Channel) -> str:
    return f"канал MAX «{channel.name}»"


def _of(channel: Channel) -> str:
    return f"канала MAX «{channel.name}»"


def _in(channel: Channel) -> str:
    return f"канале MAX «{channel.name}»"


def _pacers(channel: Channel, config: dict, pacing: Pacing) -> tuple[Pacer, Pacer]:
    token = _token(config)
    return (pacing.for_token("max-chat", f"{token}|{channel.external_id}", CHAT_RATE),
            pacing.for_token("max", token, BOT_RATE))


def _retry_after(resp: httpx.Response) -> float:
    try:
        return max(float(resp.headers.get("Retry-After") or 1.0), 0.0)
    except ValueError:
        return 1.0


def _body(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _request(client: httpx.Client, method: str, url: str, channel: Channel, config: dict, *, sending: bool = False,
             what: str = "публикации в канал", auto: bool = True, **kwargs) -> dict:
    """One call → its JSON object, or PublishError (or _NotReady) as the module docstring says. `what`: the
    action in the prepositional case with its preposition («публикации в канал», «правке поста в канале»);
    `auto`: the outbox tries it again (a send, an upload), else the person does (an edit, a deletion, a check)."""
    where = _where(channel)
    at = f"{what} MAX «{channel.name}»"
    later = "повторим автоматически" if auto else "попробуйте ещё раз позже"
    headers = {"Authorization": _token(config)}
    try:
        resp = client.request(method, url, headers=headers, timeout=timeout(config), **kwargs)
    except httpx.HTTPError as exc:
        what_happened = "не ответил вовремя" if isinstance(exc, httpx.TimeoutException) else "недоступен"
        if sending and not isinstance(exc, _NOT_SENT):
            raise PublishError(f"MAX {what_happened} ({exc.__class__.__name__}) при {at}: неизвестно, "
                               "вышел ли пост — проверьте канал и, если поста нет, нажмите «отправить ещё раз».",
                               "unavailable", uncertain=True) from exc
        raise PublishError(f"MAX {what_happened} ({exc.__class__.__name__}) при {at}: запрос не дошёл — "
                           f"{later}.", "unavailable") from exc
    body = _body(resp)
    if resp.status_code == 200:
        if isinstance(body, dict):
            return body
        raise PublishError(f"MAX ответил не JSON при {at}" + (
            ": неизвестно, вышел ли пост — проверьте канал и, если поста нет, нажмите «отправить ещё раз»."
            if sending else f": {later}."), "garbage", uncertain=sending)
    data = body if isinstance(body, dict) else {}
    code, text = clip(data.get("code"), 60), clip(data.get("message"), 200)
    detail = f"HTTP {resp.status_code}" + (f", {code}" if code else "") + (f": {text}" if text else "")
    if resp.status_code == 400 and code == NOT_READY:
        raise _NotReady(detail)
    if resp.status_code == 429:
        seconds = _retry_after(resp)
        raise PublishError(f"MAX просит подождать {seconds:g} с при {at} ({detail}): {later}.", "rate_limited",
                           seconds)
    if resp.status_code == 401:
        raise PublishError(f"MAX не принял токен бота города при {at} ({detail}): администратору — проверьте "
                           "MAX_BOT_TOKEN.", "bad_token")
    if resp.status_code == 403:
        raise PublishError(f"Бот города не может публиковать в {where} ({detail}): добавьте бота в канал "
                           "администратором с правом писать сообщения.", "no_rights")
    if resp.status_code == 404:
        gone = PublishError(f"MAX не находит {where} или его сообщение ({detail}): проверьте, что канал существует и "
                            "бот в нём администратор.", "not_found")
        gone.status = 404  # DELETE: the message is gone already
        raise gone
    if resp.status_code >= 500:
        if sending:
            raise PublishError(f"MAX ответил ошибкой сервера при {at} ({detail}): неизвестно, вышел ли "
                               "пост — проверьте канал и, если поста нет, нажмите «отправить ещё раз».",
                               "unavailable", uncertain=True)
        raise PublishError(f"MAX ответил ошибкой сервера при {at} ({detail}): {later}.",
                           "unavailable")
    raise PublishError(f"MAX отказал при {at} ({detail}): проверьте текст и фото поста; если повторяется — "
                       "сообщите администратору.", "not_found")


def _paced(pacers: tuple[Pacer | None, Pacer], call) -> Any:
    """`call()` in the chat's and the bot's turn; a rate-limited answer is waited out (base.retrying's rule)."""
    chat, bot = pacers
    for attempt in range(RETRIES + 1):
        if chat is not None:
            chat.wait()
        bot.wait()
        try:
            return call()
        except PublishError as exc:
            if exc.kind != "rate_limited" or attempt == RETRIES or (exc.retry_after or 0) > MAX_WAIT:
                raise
            (chat or bot).push_back(exc.retry_after or 1.0)
    raise AssertionError("unreachable")


def _guarded(fn, channel: Channel, *, sending: bool):
    """Run `fn()`; anything but a PublishError (a bug, an odd answer) still becomes a sentence."""
    try:
        return fn()
    except PublishError:
        raise
    except Exception as exc:  # noqa: BLE001 — never an exception other than PublishError out of the module
        log.exception("unexpected error publishing to MAX %s", channel.external_id)
        raise PublishError(f"Неожиданная ошибка при публикации в {_where(channel)} ({exc.__class__.__name__})"
                           + (": неизвестно, вышел ли пост — проверьте канал." if sending else
                              ": попробуйте ещё раз позже; если повторяется — сообщите администратору."),
                           "garbage", uncertain=sending) from exc


# --- rights --------------------------------------------------------------------------------------------------
def check_rights(channel: Channel, config: dict, pacing: Pacing = PACING) -> Rights:
    """GET /chats/{chatId}/members/me: the bot is an admin (or owner) with «write» (or may write there) → may post
    text and photos. Not in the channel (403/404), not an admin, no «write», a bad token → Rights(False, False, why
    and what to do). A passing trouble raises PublishError: the answer is unknown."""
    where = _where(channel)
    if not _token(config):
        return Rights(False, False, f"Бот города для MAX не настроен (нет MAX_BOT_TOKEN), поэтому в {where} "
                                    "публиковать нельзя: администратору — задайте токен бота.")
    url = f"{_base(config)}/chats/{quote(str(channel.external_id), safe='-')}/members/me"
    bot_pacer = pacing.for_token("max", _token(config), BOT_RATE)

    def go() -> dict:
        with httpx.Client() as client:
            return _paced((None, bot_pacer), lambda: _request(client, "GET", url, channel, config,
                                                              what="проверке прав в канале", auto=False))

    try:
        member = _guarded(go, channel, sending=False)
    except PublishError as exc:
        if exc.kind in ("no_rights", "not_found"):
            return Rights(False, False, f"Бота города нет в канале MAX «{channel.name}» или MAX не пускает его туда: "
                                        "добавьте бота в канал администратором с правом писать сообщения.")
        if exc.final:
            return Rights(False, False, exc.message)
        raise
    name = clip(member.get("name") or member.get("first_name") or "", 80)
    bot = f"«{name}»" if name else "города"
    permissions = member.get("permissions")
    permissions = [str(p) for p in permissions] if isinstance(permissions, list) else None
    admin = bool(member.get("is_admin") or member.get("is_owner"))
    may_write = permissions is not None and any(p in POST_PERMISSIONS for p in permissions)
    if admin and (permissions is None or may_write):
        return Rights(True, True, f"Бот {bot} — администратор {_of(channel)} и может писать сообщения: можно "
                                  "публиковать текст и фото.")
    if admin:
        return Rights(False, False, f"Бот {bot} — администратор {_of(channel)}, но без права писать сообщения: "
                                    "в настройках администраторов канала дайте боту право публиковать сообщения.")
    if may_write:
        return Rights(True, True, f"Бот {bot} может писать в {where}: можно публиковать текст и фото.")
    return Rights(False, False, f"Бот {bot} есть в канале MAX «{channel.name}», но не администратор: сделайте бота "
                                "администратором канала с правом писать сообщения.")


# --- sending -------------------------------------------------------------------------------------------------
def _token_of(answer: dict) -> str | None:
    """The token in an upload's answer: {"photos": {<id>: {"token"}}} for an image, {"token"} otherwise."""
    photos = answer.get("photos")
    if isinstance(photos, dict):
        for item in photos.values():
            if isinstance(item, dict) and isinstance(item.get("token"), str) and item["token"]:
                return item["token"]
    token = answer.get("token")
    return token if isinstance(token, str) and token else None


def _upload(client: httpx.Client, photo: PhotoFile, channel: Channel, config: dict, bot: Pacer) -> str:
    where = _where(channel)
    slot = _paced((None, bot), lambda: _request(client, "POST", f"{_base(config)}/uploads", channel, config,
                                                what="загрузке фото для канала", params={"type": "image"}))
    url = slot.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PublishError(f"MAX не дал адрес для загрузки фото в {where}: повторим автоматически.", "garbage")
    try:
        data = photo.read()
    except OSError as exc:
        raise PublishError(f"Фото поста для {_of(channel)} не прочитать из хранилища ({exc.__class__.__name__}): "
                           "повторим автоматически; если повторяется — сообщите администратору.",
                           "unavailable") from exc
    answer = _request(client, "POST", url, channel, config, what="загрузке фото для канала",
                      files={"data": (photo.filename, data, photo.content_type)})
    token = _token_of(answer)
    if token is None:
        raise PublishError(f"MAX принял фото для {_of(channel)}, но не вернул его токен: повторим автоматически.",
                           "garbage")
    return token


def send_part(channel: Channel, plan: Plan, k: int, photos: list[PhotoFile], config: dict, *,
              guid: str | None = None, uploaded: dict | None = None, pacing: Pacing = PACING) -> Sent:
    """Post part k of the plan to the channel (see the module docstring). `guid` is ignored: MAX has no
    idempotency key. `uploaded["max_tokens"]` gets each photo's token as soon as it is uploaded."""
    where = _where(channel)
    if plan.refused or not 0 <= k < len(plan.parts):
        raise PublishError(f"Для {_of(channel)} нет такой части поста (№{k + 1}): опубликуйте пост заново.",
                           "wrong_network")
    part = plan.parts[k]
    if part.method != "POST /messages":
        raise PublishError(f"Часть поста для {_of(channel)} — не вызов MAX ({part.method}): опубликуйте пост заново.",
                           "wrong_network")
    pics = list(photos)[:part.photos]
    if len(pics) < part.photos:
        raise PublishError(f"У поста для {_of(channel)} не хватает фото ({len(pics)} из {part.photos}): добавьте "
                           "фото или опубликуйте пост заново.", "not_found")
    uploaded = uploaded if uploaded is not None else {}
    chat, bot = _pacers(channel, config, pacing)

    def go() -> Sent:
        with httpx.Client() as client:
            tokens = uploaded.get(TOKENS)
            tokens = [t for t in tokens if isinstance(t, str) and t] if isinstance(tokens, list) else []
            for photo in pics[len(tokens):]:
                tokens.append(_upload(client, photo, channel, config, bot))
                uploaded[TOKENS] = list(tokens)
            body: dict[str, Any] = {}
            if part.text:
                body["text"] = part.text
            if pics:
                body["attachments"] = [{"type": "image", "payload": {"token": t}} for t in tokens[:len(pics)]]
            params = {"chat_id": str(channel.external_id),
                      "disable_link_preview": "true" if (part.options or {}).get("disable_link_preview") else "false"}
            url = f"{_base(config)}/messages"
            for wait in (*NOT_READY_WAITS, None):
                try:
                    answer = _paced((chat, bot), lambda: _request(client, "POST", url, channel, config, sending=True,
                                                                  params=params, json=body))
                    break
                except _NotReady:
                    if wait is None:
                        raise PublishError(f"MAX всё ещё обрабатывает фото поста для {_of(channel)}: повторим "
                                           "автоматически.", "unavailable") from None
                    chat.sleep(wait)
            message = answer.get("message") if isinstance(answer.get("message"), dict) else {}
            mid = (message.get("body") or {}).get("mid") if isinstance(message.get("body"), dict) else None
            if not isinstance(mid, str) or not mid:
                raise PublishError(f"MAX принял публикацию в {where}, но не вернул номер сообщения: проверьте канал и, "
                                   "если поста нет, нажмите «отправить ещё раз».", "garbage", uncertain=True)
            url_out = message.get("url")
            return Sent(external_id=mid, permalink=url_out if isinstance(url_out, str) and url_out.startswith(
                ("https://", "http://")) else None, ids=[mid])

    return _guarded(go, channel, sending=True)


# --- edit and delete -----------------------------------------------------------------------------------------
def _mids(parts: Any) -> list[list[str]]:
    out = []
    for item in parts or []:
        values = item if isinstance(item, (list, tuple)) else [item]
        out.append([str(v) for v in values if isinstance(v, str) and v.strip()])
    return out


def _changed(answer: dict, channel: Channel, refused: str) -> None:
    if answer.get("success") is False:
        detail = clip(answer.get("message"), 200)
        raise PublishError(refused.format(where=_in(channel), detail=f" ({detail})" if detail else ""), "no_rights")


def edit(channel: Channel, parts: Any, plan: Plan, config: dict, pacing: Pacing = PACING) -> None:
    """PUT /messages?message_id= with the new text of each message (the photos stay). A plan of another number
    of messages cannot be applied by editing."""
    mids = _mids(parts)
    if plan.refused or len(mids) != len(plan.parts) or any(len(m) != 1 for m in mids):
        raise PublishError(f"Пост в {_in(channel)} нельзя изменить правкой: после изменений он состоит из другого "
                           "числа сообщений, чем опубликованный — удалите его и опубликуйте заново.", "no_rights")
    pacers = _pacers(channel, config, pacing)

    def go() -> None:
        with httpx.Client() as client:
            for (mid,), part in zip(mids, plan.parts, strict=True):
                answer = _paced(pacers, lambda mid=mid, text=part.text: _request(
                    client, "PUT", f"{_base(config)}/messages", channel, config, what="правке поста в канале",
                    auto=False, params={"message_id": mid}, json={"text": text}))
                _changed(answer, channel, "MAX не дал изменить сообщение в {where}{detail}: измените пост в канале "
                                          "вручную или удалите его и опубликуйте заново.")

    _guarded(go, channel, sending=False)


def delete(channel: Channel, parts: Any, config: dict, pacing: Pacing = PACING) -> None:
    """DELETE /messages?message_id= for each message of the copy; a message already gone (404) counts as deleted."""
    mids = [mid for group in _mids(parts) for mid in group]
    pacers = _pacers(channel, config, pacing)

    def go() -> None:
        with httpx.Client() as client:
            for mid in mids:
                try:
                    answer = _paced(pacers, lambda mid=mid: _request(
                        client, "DELETE", f"{_base(config)}/messages", channel, config, what="удалении поста в канале",
                        auto=False, params={"message_id": mid}))
                except PublishError as exc:
                    if getattr(exc, "status", None) == 404:
                        continue  # already deleted
                    raise
                _changed(answer, channel, "MAX не дал удалить сообщение в {where}{detail}: бот может удалять свои "
                                          "сообщения в канале только в течение 48 часов после публикации — удалите "
                                          "пост в канале вручную.")

    _guarded(go, channel, sending=False)
